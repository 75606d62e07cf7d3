//! The embedded PostgreSQL and the `dialogi` command as a newcomer runs it: first start
//! creates the cluster, a second start reuses it, and stopping leaves nothing running.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use dialogi::db::embedded::{self, EmbeddedOptions, EmbeddedPostgres};

fn scratch_dir(name: &str) -> tempdir::Dir {
    tempdir::Dir::new(name)
}

/// A folder under the system's temp dir, removed when dropped.
mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(name: &str) -> Self {
            let path = std::env::temp_dir()
                .join("dialogi-tests")
                .join(format!("{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("create a scratch folder");
            Self(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| !stat.contains(") Z "))
            .unwrap_or(false)
}

#[test]
fn the_embedded_cluster_starts_stops_cleanly_and_is_reused_with_its_data() {
    let dir = scratch_dir("cluster");
    let options = EmbeddedOptions {
        unsafe_fast: true,
        ..EmbeddedOptions::new(dir.path())
    };
    let mut first = EmbeddedPostgres::start(&options).expect("first start");
    let pid = first.pid().expect("a running postmaster");
    let mut conn = PgConnection::establish(&first.url(embedded::DATABASE)).expect("connect");
    conn.batch_execute("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')")
        .expect("write something");
    drop(conn);
    first.stop();
    assert!(!process_alive(pid), "the postmaster stopped");
    assert!(
        !dir.path().join("postgres/postmaster.pid").exists(),
        "a clean shutdown removes postmaster.pid"
    );

    let second = EmbeddedPostgres::start(&options).expect("second start");
    let mut conn = PgConnection::establish(&second.url(embedded::DATABASE)).expect("connect again");
    conn.batch_execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM kept WHERE note = 'still here') THEN RAISE EXCEPTION 'lost'; END IF; END $$")
        .expect("the data survived the restart");
    let pid = second.pid().expect("running");
    drop(conn);
    drop(second);
    assert!(!process_alive(pid), "dropping the handle stops PostgreSQL");
}

#[test]
fn a_second_cluster_on_the_same_folder_is_refused_while_the_first_runs() {
    let dir = scratch_dir("twice");
    let options = EmbeddedOptions {
        unsafe_fast: true,
        ..EmbeddedOptions::new(dir.path())
    };
    let _first = EmbeddedPostgres::start(&options).expect("first start");
    let second = EmbeddedPostgres::start(&options);
    assert!(
        matches!(second, Err(embedded::EmbeddedError::AlreadyRunning(_))),
        "{second:?}"
    );
}

fn start_server(data_dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dialogi"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env("DIALOGI_ADMIN_PASSWORD", "first-admin-password")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dialogi")
}

async fn wait_ready(port: u16, server: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::new();
    loop {
        if let Ok(response) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            && response.status().is_success()
        {
            return;
        }
        if let Ok(Some(status)) = server.try_wait() {
            panic!("dialogi exited before it was ready: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "dialogi was not ready within a minute"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn stop_with(server: &mut Child, signal: Signal) -> String {
    kill(Pid::from_raw(server.id() as i32), signal).expect("signal dialogi");
    let output = std::mem::replace(server, Command::new("true").spawn().expect("placeholder"));
    let output = output.wait_with_output().expect("dialogi exits");
    assert!(
        output.status.success(),
        "dialogi exited with {}",
        output.status
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[actix_web::test]
async fn the_server_runs_on_its_own_postgres_reuses_it_and_leaves_nothing_behind() {
    let dir = scratch_dir("serve");
    let data = dir.path().join("data");
    let port = crate::helpers::free_port();

    let mut server = start_server(&data, port);
    wait_ready(port, &mut server).await;
    let login = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/session"))
        .json(&serde_json::json!({"login": "admin", "password": "first-admin-password"}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), reqwest::StatusCode::OK);
    let postmaster = embedded::postmaster_pid(&data.join("postgres")).expect("postgres runs");
    let printed = stop_with(&mut server, Signal::SIGINT);
    assert!(printed.contains("sign in as `admin`"), "{printed}");
    assert!(kill(postmaster, None).is_err() || !process_alive(postmaster.as_raw() as u32));
    assert!(!embedded::postmaster_alive(&data.join("postgres")));

    let mut again = start_server(&data, port);
    wait_ready(port, &mut again).await;
    // Same data: the admin from the first start still signs in, and no new one is made.
    let login = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/session"))
        .json(&serde_json::json!({"login": "admin", "password": "first-admin-password"}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), reqwest::StatusCode::OK);
    let printed = stop_with(&mut again, Signal::SIGTERM);
    assert!(!printed.contains("First start"), "{printed}");
    assert!(!embedded::postmaster_alive(&data.join("postgres")));
}
