//! The `dialogi` command: serve (the default), migrate, demo data, backup and restore,
//! users and API tokens.
//!
//! Every command finds its database the same way: `DATABASE_URL` when set, otherwise the
//! embedded PostgreSQL under the data folder, started for the command and stopped after it.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Parser, Subcommand};
use diesel::PgConnection;

use dialogi::config::Config;
use dialogi::db::embedded::{self, EmbeddedOptions, EmbeddedPostgres};
use dialogi::db::{self, users};
use dialogi::domain::people::{DisplayName, Login, Password, parse_scopes};
use dialogi::startup::Application;
use dialogi::{backup, demo, security, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "dialogi",
    version,
    about = "Dialogi: an operator inbox for Telegram, VK, Viber and WhatsApp conversations",
    long_about = "Dialogi serves the operator workstation, the REST API and Server-Sent Events.\n\n\
                  With no command it serves HTTP. Without DATABASE_URL it runs its own PostgreSQL \
                  under the data folder (the PostgreSQL server binaries must be installed)."
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP: the workstation, the REST API and SSE (the default)
    Serve,
    /// Apply the database migrations that have not run yet, then exit
    Migrate,
    /// Fill an empty database with a demo company (departments, operators, four channel
    /// accounts, clients and a few hundred dialogs)
    Demo,
    /// Write one archive with everything of this installation: a consistent dump of the
    /// database (the server may keep running) and the media files
    Backup {
        /// The archive to write (must not exist yet)
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Restore an archive written by `dialogi backup` into an empty database and data
    /// folder, then apply any newer migrations
    Restore {
        /// The archive to read
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Replace what the database and the media folder hold (it is deleted)
        #[arg(long)]
        force: bool,
    },
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from standard input when it is not a terminal
    /// (e.g. `echo "$PW" | dialogi user create ...`); otherwise a random one is printed.
    Create {
        /// Login name (Latin letters, digits, . _ @ -)
        login: String,
        /// Name shown to colleagues (default: the login)
        #[arg(long)]
        name: Option<String>,
        /// Make the user an administrator
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token acting as a user; prints the secret once
    Create {
        /// The login of the user the token acts as
        #[arg(long)]
        user: String,
        /// A name to recognise the token by
        #[arg(long, default_value = "cli")]
        name: String,
        /// Comma-separated scopes: read, write, admin, monitor
        #[arg(long, value_delimiter = ',', default_value = "read,write")]
        scopes: Vec<String>,
        /// Days until the token expires (default: never)
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.config.log_format);
    // The embedded cluster is started on this (main) thread, which lives until the end:
    // PostgreSQL is tied to it and stops if the process dies.
    // A command other than serving or restoring may use the cluster of a server that is
    // running on the same data folder (a backup while it serves, a new user).
    let shared = !matches!(
        cli.command,
        None | Some(Command::Serve | Command::Restore { .. })
    );
    let database = Database::open(&cli.config, shared)?;
    let result = run(cli, &database);
    database.close();
    result
}

fn run(cli: Cli, database: &Database) -> anyhow::Result<()> {
    let url = database.url.clone();
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config, &url),
        Command::Migrate => {
            let applied = migrate(&url)?;
            println!("Migrations applied: {applied}. The database is up to date.");
            Ok(())
        }
        Command::Backup { to } => {
            let summary = backup::backup(&url, &config.data_dir, &to)?;
            println!(
                "Backup written to {}: the database ({}), {} media files ({}).",
                to.display(),
                megabytes(summary.database_bytes),
                summary.media_files,
                megabytes(summary.media_bytes),
            );
            Ok(())
        }
        Command::Restore { from, force } => restore(&url, &config, &from, force),
        Command::Demo => {
            migrate(&url)?;
            let mut conn = connect(&url)?;
            if let Some(password) = ensure_admin(&mut conn, &config)? {
                println!("Created the administrator `admin` with the password {password}");
            }
            let summary = demo::fill(&mut conn)?;
            println!("{summary}");
            Ok(())
        }
        Command::User(UserCommand::Create { login, name, admin }) => {
            migrate(&url)?;
            let password = match read_stdin_secret()? {
                Some(password) => password,
                None => security::new_password()?,
            };
            let display = name.unwrap_or_else(|| login.clone());
            let mut conn = connect(&url)?;
            let user = create_user(&mut conn, &login, &display, &password, admin)?;
            println!(
                "Created user `{}` (id {}){}.\nPassword: {password}",
                user.login,
                user.id,
                if admin { ", an administrator" } else { "" }
            );
            Ok(())
        }
        Command::Token(TokenCommand::Create {
            user,
            name,
            scopes,
            expires_in_days,
        }) => {
            migrate(&url)?;
            let scopes = parse_scopes(&scopes)?;
            let name = DisplayName::parse("name", &name)?;
            let mut conn = connect(&url)?;
            let owner = users::find_by_login(&mut conn, &user)?
                .with_context(|| format!("no user with the login `{user}`"))?;
            let expires_at =
                expires_in_days.map(|days| Utc::now() + chrono::Duration::days(i64::from(days)));
            let secret = security::new_token()?;
            let (row, secret) = dialogi::services::tokens::issue(
                &mut conn,
                &owner,
                name.as_str(),
                &scopes,
                expires_at,
                None,
                &secret,
            )?;
            println!(
                "Created API token {} for `{}` with scopes {}.\nSend it as `Authorization: Bearer <token>`; it is shown only now:\n{secret}",
                row.id,
                owner.login,
                row.scopes.join(",")
            );
            Ok(())
        }
    }
}

fn serve(mut config: Config, url: &str) -> anyhow::Result<()> {
    migrate(url)?;
    config.database_url = Some(dialogi::config::SecretString::new(url));
    let mut conn = connect(url)?;
    let first_admin = ensure_admin(&mut conn, &config)?;
    if config.demo && demo::is_empty(&mut conn)? {
        // Printed, not logged: it holds the demo operators' password.
        println!("{}", demo::fill(&mut conn)?);
    }
    drop(conn);

    let pool = db::build_pool(url, config.db_pool_size);
    let listen = config.listen.clone();
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(config, pool)
            .with_context(|| format!("cannot listen on {listen}"))?;
        let address = format!("http://{}:{}", host_of(&listen), app.port());
        println!("Dialogi is serving on {address} (Ctrl-C stops it).");
        match first_admin {
            Some(password) => println!(
                "First start: sign in as `admin` with the password {password}\n\
                 (shown once; change it after signing in, or set DIALOGI_ADMIN_PASSWORD)."
            ),
            None => println!("Sign in with your login; `dialogi user create NAME` adds a user."),
        }
        app.run_until_stopped()
            .await
            .context("the HTTP server failed")
    })?;
    tracing::info!("HTTP server stopped");
    Ok(())
}

/// On a database without users, creates `admin` and returns the password to show.
fn ensure_admin(conn: &mut PgConnection, config: &Config) -> anyhow::Result<Option<String>> {
    if users::count(conn)? > 0 {
        return Ok(None);
    }
    let password = match &config.admin_password {
        Some(password) => password.expose().to_owned(),
        None => security::new_password()?,
    };
    create_user(conn, "admin", "Administrator", &password, true)?;
    tracing::info!("created the first administrator `admin`");
    Ok(Some(password))
}

fn create_user(
    conn: &mut PgConnection,
    login: &str,
    display_name: &str,
    password: &str,
    is_admin: bool,
) -> anyhow::Result<users::UserRow> {
    let login = Login::parse(login)?;
    let display_name = DisplayName::parse("name", display_name)?;
    let password = Password::parse(password)?;
    if users::find_by_login(conn, login.as_str())?.is_some() {
        bail!("a user with the login `{}` exists already", login.as_str());
    }
    let hash = security::hash_password(&password)?;
    Ok(users::insert(
        conn,
        &users::NewUserRow {
            login: login.as_str(),
            display_name: display_name.as_str(),
            password_hash: &hash,
            department_id: None,
            is_admin,
            locale: "ru",
        },
        &[],
    )?)
}

fn read_stdin_secret() -> anyhow::Result<Option<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    Ok((!line.is_empty()).then_some(line))
}

fn connect(url: &str) -> anyhow::Result<PgConnection> {
    use diesel::Connection;
    PgConnection::establish(url).context("cannot connect to PostgreSQL")
}

fn migrate(url: &str) -> anyhow::Result<usize> {
    let mut conn = connect(url)?;
    let applied = db::run_migrations(&mut conn)?;
    if applied > 0 {
        tracing::info!(migrations.applied = applied, "database migrated");
    }
    Ok(applied)
}

/// `dialogi restore`: refuses a database or media folder that holds anything unless
/// `--force`, restores, then migrates (an archive from an older version comes up to date).
fn restore(url: &str, config: &Config, from: &Path, force: bool) -> anyhow::Result<()> {
    let manifest = backup::read_manifest(from)?;
    let in_use = backup::database_in_use(url)? || backup::media_in_use(&config.data_dir)?;
    if in_use {
        if !force {
            bail!(
                "the database or the media folder ({}) already holds data; restore into an \
                 empty installation, or add --force to replace what is there",
                config.data_dir.join("media").display()
            );
        }
        backup::wipe(url, &config.data_dir)?;
    }
    let summary = backup::restore(url, &config.data_dir, from)?;
    let applied = migrate(url)?;
    println!(
        "Restored the backup of {} (Dialogi {}): the database ({}), {} media files ({}); \
         {applied} newer migrations applied.",
        manifest.created_at.format("%Y-%m-%d %H:%M UTC"),
        manifest.dialogi_version,
        megabytes(summary.database_bytes),
        summary.media_files,
        megabytes(summary.media_bytes),
    );
    Ok(())
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

fn host_of(listen: &str) -> &str {
    listen.rsplit_once(':').map_or(listen, |(host, _)| host)
}

/// The database a command works on: external (`DATABASE_URL`) or embedded.
struct Database {
    url: String,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// `shared`: when the embedded cluster is already running (a server serves on this
    /// data folder), connect to it rather than refuse.
    fn open(config: &Config, shared: bool) -> anyhow::Result<Self> {
        if let Some(url) = &config.database_url {
            return Ok(Self {
                url: url.expose().to_owned(),
                embedded: None,
            });
        }
        if shared && embedded::postmaster_alive(&config.data_dir.join("postgres")) {
            let root = std::fs::canonicalize(&config.data_dir)
                .with_context(|| format!("cannot read {}", config.data_dir.display()))?;
            return Ok(Self {
                url: embedded::socket_url(&root.join("run"), embedded::DATABASE),
                embedded: None,
            });
        }
        let cluster = EmbeddedPostgres::start(&EmbeddedOptions::new(&config.data_dir))?;
        tracing::info!(
            pgdata = %cluster.pgdata().display(),
            "embedded PostgreSQL is running"
        );
        Ok(Self {
            url: cluster.url(embedded::DATABASE),
            embedded: Some(cluster),
        })
    }

    fn close(self) {
        if let Some(mut cluster) = self.embedded {
            cluster.stop();
            tracing::info!("embedded PostgreSQL stopped");
        }
    }
}
