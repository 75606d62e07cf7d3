//! The test harness: one private PostgreSQL cluster per test run (or `DATABASE_URL`), a
//! template database migrated once, a fresh database per test copied from it, and the app
//! served on 127.0.0.1:0. Helpers read like the HTTP surface they drive.
//!
//! Clean-up: the cluster is tied to a keeper thread (it gets SIGINT if the test process
//! dies) and is stopped and deleted at exit; folders left by a crashed earlier run are
//! removed when the next run starts. Each test's database is dropped when its `TestApp`
//! is dropped.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use dialogi::actors::{Engine, Hub, Inbound, InboundOutcome};
use dialogi::config::{Config, SecretString};
use dialogi::db::clients::Sender;
use dialogi::db::embedded::{self, EmbeddedOptions, EmbeddedPostgres, quote_ident};
use dialogi::db::{self, users};
use dialogi::domain::people::Password;
use dialogi::security;
use dialogi::startup::Application;

pub const ADMIN_LOGIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

struct Cluster {
    /// A URL of the server with `{db}` where the database name goes.
    url_pattern: String,
    template: String,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);
/// What the exit hook cleans up: the postmaster's pid and the run's folder, or the
/// template database on an external server.
static AT_EXIT: OnceLock<ExitCleanup> = OnceLock::new();

enum ExitCleanup {
    Embedded { pid: i32, dir: PathBuf },
    External { admin_url: String, template: String },
}

fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        let pid = std::process::id();
        let (url_pattern, cleanup) = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let pattern = with_database(&url, "{db}");
                let template = format!("dialogi_test_template_{pid}");
                (
                    pattern.clone(),
                    ExitCleanup::External {
                        admin_url: url,
                        template,
                    },
                )
            }
            _ => start_private_cluster(),
        };
        let template = match &cleanup {
            ExitCleanup::External { template, .. } => template.clone(),
            ExitCleanup::Embedded { .. } => "dialogi_test_template".to_owned(),
        };
        let _ = AT_EXIT.set(cleanup);
        register_exit_hook();

        let admin_url = url_pattern.replace("{db}", "postgres");
        let mut admin = PgConnection::establish(&admin_url)
            .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL: {e}"));
        diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS {}",
            quote_ident(&template)
        ))
        .execute(&mut admin)
        .expect("drop an old template");
        diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(&template)))
            .execute(&mut admin)
            .expect("create the template database");
        let mut conn = PgConnection::establish(&url_pattern.replace("{db}", &template))
            .expect("connect to the template database");
        db::run_migrations(&mut conn).expect("migrate the template database");
        Cluster {
            url_pattern,
            template,
        }
    })
}

/// Starts this run's PostgreSQL under `<tmp>/dialogi-tests/<pid>`, after removing what
/// crashed earlier runs left behind.
fn start_private_cluster() -> (String, ExitCleanup) {
    let base = std::env::temp_dir().join("dialogi-tests");
    remove_stale_runs(&base);
    let dir = base.join(std::process::id().to_string());
    let (tx, rx) = std::sync::mpsc::channel();
    let options = EmbeddedOptions {
        unsafe_fast: true,
        settings: vec![("max_connections".into(), "400".into())],
        ..EmbeddedOptions::new(&dir)
    };
    // The keeper thread spawns the postmaster and lives until the process exits: the
    // postmaster's parent-death signal is tied to the thread that spawned it.
    std::thread::Builder::new()
        .name("test-postgres".into())
        .spawn(move || match EmbeddedPostgres::start(&options) {
            Ok(cluster) => {
                let _ = tx.send(Ok((cluster.url("{db}"), cluster.pid().unwrap_or(0))));
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
            }
        })
        .expect("spawn the PostgreSQL keeper thread");
    match rx.recv() {
        Ok(Ok((url, pid))) => (
            url.replace("%7Bdb%7D", "{db}"),
            ExitCleanup::Embedded {
                pid: pid as i32,
                dir,
            },
        ),
        Ok(Err(e)) => panic!(
            "the tests need PostgreSQL: {e}\n(or set DATABASE_URL to a server where this user may create databases)"
        ),
        Err(_) => panic!("the PostgreSQL keeper thread died"),
    }
}

fn remove_stale_runs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let pgdata = entry.path().join("postgres");
        if let Some(postmaster) = embedded::postmaster_pid(&pgdata) {
            let _ = nix::sys::signal::kill(postmaster, nix::sys::signal::Signal::SIGQUIT);
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

#[allow(unsafe_code)]
fn register_exit_hook() {
    extern "C" fn at_exit() {
        match AT_EXIT.get() {
            Some(ExitCleanup::Embedded { pid, dir }) => {
                use nix::sys::wait::{WaitPidFlag, waitpid};
                let pid = nix::unistd::Pid::from_raw(*pid);
                if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT).is_ok() {
                    for _ in 0..500 {
                        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                            Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                                std::thread::sleep(Duration::from_millis(10))
                            }
                            _ => break,
                        }
                    }
                }
                let _ = std::fs::remove_dir_all(dir);
            }
            Some(ExitCleanup::External {
                admin_url,
                template,
            }) => {
                if let Ok(mut conn) = PgConnection::establish(admin_url) {
                    let _ = diesel::sql_query(format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        quote_ident(template)
                    ))
                    .execute(&mut conn);
                }
            }
            None => {}
        }
    }
    // SAFETY: `at_exit` is a plain function that only reads a OnceLock that is set for
    // the rest of the process; registering it has no other effect.
    unsafe {
        libc::atexit(at_exit);
    }
}

/// Puts `database` in place of the database name of a libpq URL.
pub fn with_database(url: &str, database: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let (authority_and_path, query) = match rest.find('?') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let authority = authority_and_path
        .split_once('/')
        .map_or(authority_and_path, |(a, _)| a);
    format!("{}{authority}/{database}{query}", &url[..scheme_end + 3])
}

/// A fresh database copied from the migrated template; dropped with the guard.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub fn create() -> Self {
        let cluster = cluster();
        let name = format!(
            "dialogi_test_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::establish(&cluster.url_pattern.replace("{db}", "postgres"))
            .expect("connect to the test server");
        diesel::sql_query(format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_ident(&name),
            quote_ident(&cluster.template)
        ))
        .execute(&mut admin)
        .expect("copy the template database");
        let url = cluster.url_pattern.replace("{db}", &name);
        Self { name, url }
    }

    /// An empty database with no migrations applied.
    pub fn create_empty() -> Self {
        let cluster = cluster();
        let name = format!(
            "dialogi_test_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::establish(&cluster.url_pattern.replace("{db}", "postgres"))
            .expect("connect to the test server");
        diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(&name)))
            .execute(&mut admin)
            .expect("create a database");
        let url = cluster.url_pattern.replace("{db}", &name);
        Self { name, url }
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(cluster) = CLUSTER.get() else {
            return;
        };
        if let Ok(mut admin) =
            PgConnection::establish(&cluster.url_pattern.replace("{db}", "postgres"))
        {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&self.name)
            ))
            .execute(&mut admin);
        }
    }
}

/// The app under test, serving on its own database.
pub struct TestApp {
    pub address: String,
    pub engine: Engine,
    pub hub: Hub,
    pub admin_id: i64,
    handle: actix_web::dev::ServerHandle,
    config: Config,
    // Dropped after the server is told to stop (fields drop in declaration order).
    pub db: TestDatabase,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command at once; the database is dropped (with FORCE) right after.
        drop(self.handle.stop(false));
        self.hub.shutdown();
        let _ = std::fs::remove_dir_all(data_dir_of(&self.db));
    }
}

/// The data folder (downloaded media) of a test's app, beside its database.
pub fn data_dir_of(db: &TestDatabase) -> PathBuf {
    std::env::temp_dir()
        .join("dialogi-tests")
        .join(std::process::id().to_string())
        .join(format!("data-{}", db.name))
}

/// Starts the app with the default test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app after `customise` has changed the test configuration.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Config)) -> TestApp {
    let db = tokio::task::spawn_blocking(TestDatabase::create)
        .await
        .expect("create the test database");
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        database_url: Some(SecretString::new(db.url.clone())),
        db_pool_size: 4,
        workers: Some(1),
        data_dir: data_dir_of(&db),
        ..Config::default()
    };
    customise(&mut config);
    let kept = config.clone();
    let url = db.url.clone();
    let admin_id = tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&url).expect("connect");
        insert_user(&mut conn, ADMIN_LOGIN, ADMIN_PASSWORD, true)
    })
    .await
    .expect("create the admin");
    let pool = db::build_pool(&db.url, config.db_pool_size);
    let app = Application::build(config, pool).expect("build the app");
    let port = app.port();
    let handle = app.handle();
    let engine = app.engine();
    let hub = app.hub();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        engine,
        hub,
        admin_id,
        handle,
        config: kept,
        db,
    }
}

impl TestApp {
    /// Stops the server (its open streams end) and starts it again on the same port and
    /// database, as a restart of the process would.
    pub async fn restart(&mut self) {
        self.handle.stop(true).await;
        self.hub.shutdown();
        let mut config = self.config.clone();
        config.listen = self.address.trim_start_matches("http://").to_owned();
        let pool = db::build_pool(&self.db.url, config.db_pool_size);
        // The old listener may take a moment to release the port.
        let mut tries = 0;
        let app = loop {
            match Application::build(config.clone(), pool.clone()) {
                Ok(app) => break app,
                Err(error) if tries < 50 => {
                    tries += 1;
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("restart the app: {error}"),
            }
        };
        self.handle = app.handle();
        self.engine = app.engine();
        self.hub = app.hub();
        actix_web::rt::spawn(app.run_until_stopped());
    }
}

/// A second server process on the same database: its own HTTP server, pool, registry
/// and actors. Only the database is shared, as between two real processes.
pub struct Peer {
    pub address: String,
    pub engine: Engine,
    hub: Hub,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        self.hub.shutdown();
    }
}

impl Peer {
    /// A client of the peer that shares `client`'s session (cookie and CSRF token).
    pub fn client(&self, login: &Client) -> Client {
        Client {
            address: self.address.clone(),
            http: login.http.clone(),
            csrf: login.csrf.clone(),
            bearer: login.bearer.clone(),
        }
    }
}

impl TestApp {
    pub async fn spawn_peer(&self) -> Peer {
        let config = Config {
            listen: "127.0.0.1:0".into(),
            database_url: Some(SecretString::new(self.db.url.clone())),
            db_pool_size: 4,
            workers: Some(1),
            data_dir: data_dir_of(&self.db),
            login_attempts_per_ip: 1000,
            ..Config::default()
        };
        let pool = db::build_pool(&self.db.url, config.db_pool_size);
        let app = Application::build(config, pool).expect("build the peer");
        let peer = Peer {
            address: format!("http://127.0.0.1:{}", app.port()),
            engine: app.engine(),
            hub: app.hub(),
            handle: app.handle(),
        };
        actix_web::rt::spawn(app.run_until_stopped());
        peer
    }
}

/// Argon2 hashes are slow in test builds: hash each distinct password once per run.
fn hash_for(password: &str) -> String {
    static HASHES: OnceLock<std::sync::Mutex<std::collections::HashMap<String, String>>> =
        OnceLock::new();
    let cache = HASHES.get_or_init(Default::default);
    if let Some(hash) = cache.lock().expect("hash cache").get(password) {
        return hash.clone();
    }
    let hash = security::hash_password(&Password::parse(password).expect("a valid password"))
        .expect("hash");
    cache
        .lock()
        .expect("hash cache")
        .insert(password.to_owned(), hash.clone());
    hash
}

pub fn insert_user(conn: &mut PgConnection, login: &str, password: &str, is_admin: bool) -> i64 {
    let hash = hash_for(password);
    users::insert(
        conn,
        &users::NewUserRow {
            login,
            display_name: login,
            password_hash: &hash,
            department_id: None,
            is_admin,
            locale: "ru",
        },
        &[],
    )
    .expect("insert a user")
    .id
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("read the body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    /// The `error` code of a JSON error body.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A client that calls the app: anonymous, signed in with a cookie, or with a token.
#[derive(Clone)]
pub struct Client {
    pub address: String,
    http: reqwest::Client,
    csrf: Option<String>,
    bearer: Option<String>,
}

impl TestApp {
    pub fn anonymous(&self) -> Client {
        Client {
            address: self.address.clone(),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .expect("client"),
            csrf: None,
            bearer: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Client {
        Client {
            bearer: Some(token.to_owned()),
            ..self.anonymous()
        }
    }

    /// Signs in and returns a client that carries the cookie and the CSRF token.
    pub async fn login(&self, login: &str, password: &str) -> Client {
        let mut client = self.anonymous();
        let answer = client
            .post(
                "/api/v1/session",
                json!({"login": login, "password": password}),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "login failed: {}",
            answer.text
        );
        client.csrf = answer.body["csrf_token"].as_str().map(str::to_owned);
        client
    }

    pub async fn admin(&self) -> Client {
        self.login(ADMIN_LOGIN, ADMIN_PASSWORD).await
    }

    /// Creates a user through the database (fast) and returns its id.
    pub async fn add_user(&self, login: &str, password: &str, is_admin: bool) -> i64 {
        let url = self.db.url.clone();
        let (login, password) = (login.to_owned(), password.to_owned());
        tokio::task::spawn_blocking(move || {
            let mut conn = PgConnection::establish(&url).expect("connect");
            insert_user(&mut conn, &login, &password, is_admin)
        })
        .await
        .expect("add a user")
    }

    /// Creates an API token through the API as the admin and returns its secret.
    pub async fn token_for(&self, user_id: i64, scopes: &[&str]) -> String {
        let admin = self.admin().await;
        let answer = admin
            .post(
                "/api/v1/tokens",
                json!({"name": "test", "scopes": scopes, "user_id": user_id}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        answer.body["token_secret"]
            .as_str()
            .expect("token secret")
            .to_owned()
    }

    /// Runs a statement on the app's database; returns the rows it touched.
    pub fn execute(&self, sql: &str) -> usize {
        let mut conn = self.db.connect();
        diesel::sql_query(sql)
            .execute(&mut conn)
            .expect("the statement runs")
    }

    /// Runs SQL on the app's database and returns its text column `t`, row by row.
    pub fn texts(&self, sql: &str) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Text {
            #[diesel(sql_type = diesel::sql_types::Text)]
            t: String,
        }
        let mut conn = self.db.connect();
        diesel::sql_query(sql)
            .load::<Text>(&mut conn)
            .expect("text query")
            .into_iter()
            .map(|row| row.t)
            .collect()
    }

    /// Runs SQL on the app's database and returns the first column of the first row.
    pub fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.db.connect();
        diesel::sql_query(format!("SELECT ({sql})::bigint AS n"))
            .get_result::<Count>(&mut conn)
            .expect("count query")
            .n
    }
}

static NEXT_CHANNEL_MESSAGE: AtomicU32 = AtomicU32::new(1);

impl TestApp {
    /// Connects a channel account through the API as the admin; `settings` are merged
    /// into a valid request for `kind`.
    pub async fn create_account(&self, kind: &str, settings: Value) -> i64 {
        let credentials = match kind {
            "telegram" => json!({"token": "123:test", "mode": "webhook"}),
            "vk" => {
                json!({"group_id": 4242, "access_token": "t", "secret": "s", "confirmation": "c"})
            }
            "viber" => json!({"auth_token": "t"}),
            "max" => json!({"token": "max-token", "mode": "webhook"}),
            _ => {
                json!({"phone_number_id": "1", "access_token": "t", "app_secret": "s", "verify_token": "v"})
            }
        };
        let mut body =
            json!({"kind": kind, "name": format!("{kind} account"), "credentials": credentials});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), settings.as_object()) {
            body.extend(extra.clone());
        }
        let answer = self.admin().await.post("/api/v1/accounts", body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        answer.body["id"].as_i64().expect("an account id")
    }

    /// Replaces an account's grants as the admin.
    pub async fn grant(&self, account_id: i64, grants: Value) {
        let answer = self
            .admin()
            .await
            .put(&format!("/api/v1/accounts/{account_id}/grants"), grants)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }

    /// An inbound message from `sender` (an external id) through the account's actor,
    /// the path a channel uses; each call has a new channel message id.
    pub async fn inbound(&self, account_id: i64, sender: &str, text: &str) -> InboundOutcome {
        let id = NEXT_CHANNEL_MESSAGE.fetch_add(1, Ordering::Relaxed);
        self.inbound_with_id(account_id, sender, text, &format!("test:{id}"))
            .await
    }

    pub async fn inbound_with_id(
        &self,
        account_id: i64,
        sender: &str,
        text: &str,
        channel_message_id: &str,
    ) -> InboundOutcome {
        self.engine
            .inbound(
                account_id,
                Inbound {
                    sender: Sender {
                        external_id: sender.to_owned(),
                        display_name: format!("Клиент {sender}"),
                        username: None,
                    },
                    channel_message_id: channel_message_id.to_owned(),
                    text: text.to_owned(),
                    sent_at: None,
                    attachments: Vec::new(),
                    author: None,
                    extras: Default::default(),
                },
            )
            .await
            .expect("the inbound message is stored")
    }

    /// The dialog an inbound message landed in.
    pub async fn dialog_of(&self, account_id: i64, sender: &str, text: &str) -> i64 {
        match self.inbound(account_id, sender, text).await {
            InboundOutcome::Stored { dialog_id, .. } => dialog_id,
            InboundOutcome::Duplicate => panic!("a fresh message was taken for a duplicate"),
        }
    }
}

impl Client {
    pub fn set_csrf(&mut self, csrf: Option<String>) {
        self.csrf = csrf;
    }

    pub fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.address));
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        if method != Method::GET
            && let Some(csrf) = &self.csrf
        {
            request = request.header("X-CSRF-Token", csrf);
        }
        request
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        Answer::read(request.send().await.expect("send the request")).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(self.request(Method::POST, path).json(&body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(self.request(Method::PATCH, path).json(&body))
            .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(self.request(Method::PUT, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(self.request(Method::DELETE, path)).await
    }

    pub async fn delete_with(&self, path: &str, body: Value) -> Answer {
        self.send(self.request(Method::DELETE, path).json(&body))
            .await
    }
}

/// A Server-Sent Events stream read with a real SSE parser.
pub struct EventStream {
    events: std::pin::Pin<
        Box<
            dyn futures_util::Stream<
                    Item = Result<
                        eventsource_stream::Event,
                        eventsource_stream::EventStreamError<reqwest::Error>,
                    >,
                >,
        >,
    >,
}

impl EventStream {
    /// The stream of a response already opened (a request with headers of its own).
    pub fn of(response: reqwest::Response) -> EventStream {
        use eventsource_stream::Eventsource;
        EventStream {
            events: Box::pin(response.bytes_stream().eventsource()),
        }
    }

    /// The next event, or None when the stream ended or nothing came within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<eventsource_stream::Event> {
        use futures_util::StreamExt;
        match tokio::time::timeout(wait, self.events.next()).await {
            Ok(Some(Ok(event))) => Some(event),
            _ => None,
        }
    }

    /// Whether the server ends the stream within `wait` (events before the end are skipped).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(tokio::time::Instant::now()) {
            match tokio::time::timeout(left, self.events.next()).await {
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
        false
    }

    /// Events until one named `name` satisfies `done` (that one included), or `wait` passes.
    pub async fn until(
        &mut self,
        wait: Duration,
        mut done: impl FnMut(&eventsource_stream::Event) -> bool,
    ) -> Vec<eventsource_stream::Event> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(tokio::time::Instant::now()) {
            match self.next(left).await {
                Some(event) => {
                    let stop = done(&event);
                    seen.push(event);
                    if stop {
                        break;
                    }
                }
                None => break,
            }
        }
        seen
    }
}

impl Client {
    /// Opens an SSE stream; the status, and the stream when it is 200.
    pub async fn events(
        &self,
        path: &str,
        last_event_id: Option<&str>,
    ) -> (StatusCode, Option<EventStream>) {
        use eventsource_stream::Eventsource;
        let mut request = self.request(Method::GET, path);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("open the stream");
        let status = response.status();
        if status != StatusCode::OK {
            return (status, None);
        }
        let events = Box::pin(response.bytes_stream().eventsource());
        (status, Some(EventStream { events }))
    }
}

/// A free port on 127.0.0.1, for a server process a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Signs in at a server started as its own process: a client keeping the session cookie,
/// and the session's CSRF token.
pub async fn sign_in_at(base: &str, login: &str, password: &str) -> (reqwest::Client, String) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let answer = http
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(answer.status(), StatusCode::OK, "signing in as {login}");
    let body: Value = answer.json().await.expect("a JSON answer");
    let csrf = body["csrf_token"]
        .as_str()
        .expect("a CSRF token")
        .to_owned();
    (http, csrf)
}
