//! The embedded PostgreSQL: a private cluster under the data folder, started from the
//! PostgreSQL server binaries installed on the machine, reached through a Unix socket in
//! that folder, and stopped with the server.
//!
//! Owns: finding `initdb`/`postgres`, `initdb` on first start, running the postmaster as a
//! child process, waiting until it accepts connections, and a clean (fast) shutdown.
//! Called by `main` (serve, migrate, demo, user and token commands) and by the test
//! harness. Must not import `http`, `actors` or `domain`.
//!
//! Why a child process and not `pg_ctl start`: a child can be tied to our lifetime. The
//! postmaster gets its own process group (so the terminal's Ctrl-C reaches only us, and we
//! stop it after the HTTP server has drained) and a parent-death signal (so a `SIGKILL`ed
//! server never leaves a postmaster behind). PostgreSQL refuses to run as root; when we are
//! root the cluster runs as the `postgres` system user instead.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User, getuid};

/// The database role the cluster is created with (a superuser of the private cluster).
pub const SUPERUSER: &str = "dialogi";
/// The database that holds Dialogi's data in the embedded cluster.
pub const DATABASE: &str = "dialogi";
/// The user PostgreSQL runs as when Dialogi runs as root.
const UNPRIVILEGED_USER: &str = "postgres";
/// The socket's file is `.s.PGSQL.<port>`; nothing listens on TCP.
const PORT: u16 = 5432;
/// Unix socket paths are limited to 107 bytes on Linux.
const MAX_SOCKET_PATH: usize = 107;
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries (initdb, postgres) were not found on PATH or under \
         /usr/lib/postgresql/*/bin. Install PostgreSQL (e.g. `apt-get install postgresql`) \
         or set DATABASE_URL to use an existing server"
    )]
    BinariesNotFound,
    #[error("running as root, but the unprivileged user `{0}` to run PostgreSQL as does not exist")]
    NoUnprivilegedUser(String),
    #[error("the data folder {path} cannot be prepared: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the socket path {0} is longer than 107 bytes; choose a shorter --data-dir or set DATABASE_URL"
    )]
    SocketPathTooLong(PathBuf),
    #[error(
        "PostgreSQL is already running on {0} (a postmaster.pid with a live process); stop it first"
    )]
    AlreadyRunning(PathBuf),
    #[error("initdb failed ({status}): {output}")]
    Initdb { status: String, output: String },
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("PostgreSQL exited during start-up ({status}); the end of its log {log}:\n{tail}")]
    Exited {
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("PostgreSQL did not accept connections within {0:?}; see its log {1}")]
    StartTimeout(Duration, PathBuf),
    #[error("cannot connect to the embedded PostgreSQL: {0}")]
    Connect(diesel::ConnectionError),
    #[error("cannot create the database `{0}`: {1}")]
    CreateDatabase(String, diesel::result::Error),
    #[error("cannot look up the user to run PostgreSQL as: {0}")]
    UserLookup(nix::Error),
}

/// How to start the cluster. `Default` is what `dialogi` uses; the test harness trades
/// durability for speed.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// The data folder; the cluster lives in `<root>/postgres`, its socket in `<root>/run`.
    pub root: PathBuf,
    /// Turn off fsync and friends (tests only: a crash may corrupt the cluster).
    pub unsafe_fast: bool,
    /// Extra `-c name=value` settings for the postmaster.
    pub settings: Vec<(String, String)>,
}

impl EmbeddedOptions {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            unsafe_fast: false,
            settings: Vec::new(),
        }
    }
}

/// A running private PostgreSQL cluster. Dropping it stops the postmaster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    child: Option<Child>,
    pgdata: PathBuf,
    socket_dir: PathBuf,
}

impl EmbeddedPostgres {
    /// Starts the cluster under `options.root`, creating it with `initdb` the first time,
    /// and makes sure the `dialogi` database exists. Blocks until PostgreSQL accepts
    /// connections. Call it from a thread that lives as long as the cluster should: the
    /// postmaster receives `SIGINT` when that thread ends.
    pub fn start(options: &EmbeddedOptions) -> Result<Self, EmbeddedError> {
        let bin_dir = find_bin_dir().ok_or(EmbeddedError::BinariesNotFound)?;
        let owner = cluster_owner()?;
        let root = prepare_dir(&options.root, None, 0o755)?;
        let pgdata = prepare_dir(&root.join("postgres"), owner.as_ref(), 0o700)?;
        let socket_dir = prepare_dir(&root.join("run"), owner.as_ref(), 0o700)?;
        let socket_file = socket_dir.join(format!(".s.PGSQL.{PORT}"));
        if socket_file.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(EmbeddedError::SocketPathTooLong(socket_file));
        }
        if postmaster_alive(&pgdata) {
            return Err(EmbeddedError::AlreadyRunning(pgdata));
        }
        if !pgdata.join("PG_VERSION").exists() {
            initdb(&bin_dir, &pgdata, owner.as_ref(), options.unsafe_fast)?;
        }

        let log_path = root.join("postgres.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| EmbeddedError::DataDir {
                path: log_path.clone(),
                source,
            })?;
        let log_err = log.try_clone().map_err(|source| EmbeddedError::DataDir {
            path: log_path.clone(),
            source,
        })?;

        let program = bin_dir.join("postgres");
        let mut command = Command::new(&program);
        command
            .arg("-D")
            .arg(&pgdata)
            .arg("-k")
            .arg(&socket_dir)
            .args(["-c", "listen_addresses=", "-p", &PORT.to_string()])
            .args(["-c", "unix_socket_permissions=0700"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        if options.unsafe_fast {
            for setting in [
                "fsync=off",
                "synchronous_commit=off",
                "full_page_writes=off",
            ] {
                command.args(["-c", setting]);
            }
        }
        for (name, value) in &options.settings {
            command.args(["-c", &format!("{name}={value}")]);
        }
        run_as(&mut command, owner.as_ref());
        die_with_parent(&mut command);
        let child = command.spawn().map_err(|source| EmbeddedError::Spawn {
            program: program.clone(),
            source,
        })?;
        let mut cluster = Self {
            child: Some(child),
            pgdata,
            socket_dir,
        };
        cluster.wait_until_ready(&log_path)?;
        cluster.ensure_database(DATABASE)?;
        Ok(cluster)
    }

    /// A libpq URL for `database` over the cluster's Unix socket.
    pub fn url(&self, database: &str) -> String {
        socket_url(&self.socket_dir, database)
    }

    /// The postmaster's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The cluster's data directory (`PGDATA`).
    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }

    /// Creates `database` if it does not exist yet.
    pub fn ensure_database(&self, database: &str) -> Result<(), EmbeddedError> {
        let mut conn =
            PgConnection::establish(&self.url("postgres")).map_err(EmbeddedError::Connect)?;
        let exists: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "EXISTS (SELECT 1 FROM pg_database WHERE datname = {})",
            quote_literal(database)
        )))
        .get_result(&mut conn)
        .map_err(|e| EmbeddedError::CreateDatabase(database.to_owned(), e))?;
        if !exists {
            diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(database)))
                .execute(&mut conn)
                .map_err(|e| EmbeddedError::CreateDatabase(database.to_owned(), e))?;
        }
        Ok(())
    }

    /// Fast shutdown: PostgreSQL ends the sessions, writes a checkpoint and exits. Falls
    /// back to an immediate shutdown when that takes longer than 30 seconds.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = Pid::from_raw(child.id() as i32);
        if kill(pid, Signal::SIGINT).is_err() {
            let _ = child.wait();
            return;
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() >= deadline => {
                    tracing::warn!(
                        pid = pid.as_raw(),
                        "PostgreSQL did not stop in time, sending SIGQUIT"
                    );
                    let _ = kill(pid, Signal::SIGQUIT);
                    let _ = child.wait();
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn wait_until_ready(&mut self, log_path: &Path) -> Result<(), EmbeddedError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = self.url("postgres");
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(EmbeddedError::Exited {
                    status: status.to_string(),
                    log: log_path.to_owned(),
                    tail: tail_of(log_path, 20),
                });
            }
            if PgConnection::establish(&url).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(EmbeddedError::StartTimeout(
                    START_TIMEOUT,
                    log_path.to_owned(),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A libpq URL for `database` on a server listening on a Unix socket in `socket_dir`.
pub fn socket_url(socket_dir: &Path, database: &str) -> String {
    format!(
        "postgres://{SUPERUSER}@/{}?host={}&port={PORT}",
        percent_encode(database),
        percent_encode(&socket_dir.to_string_lossy())
    )
}

/// Whether `pgdata/postmaster.pid` names a process that is still alive.
pub fn postmaster_alive(pgdata: &Path) -> bool {
    postmaster_pid(pgdata).is_some_and(|pid| kill(pid, None).is_ok())
}

/// The process id recorded in `pgdata/postmaster.pid`, if any.
pub fn postmaster_pid(pgdata: &Path) -> Option<Pid> {
    let text = fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    (pid > 0).then(|| Pid::from_raw(pid))
}

/// The directory with `initdb` and `postgres`: `PATH` first, then the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_both(&dir) {
                // Resolve symlinks (Debian links /usr/local/bin to the versioned folder) so
                // that postgres finds its share/ and lib/ folders.
                let resolved = fs::canonicalize(dir.join("postgres"))
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf));
                return Some(resolved.unwrap_or(dir));
            }
        }
    }
    let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_both(&bin).then_some((version, bin))
        })
        .collect();
    versioned.sort();
    versioned.pop().map(|(_, bin)| bin)
}

/// The user to run PostgreSQL as: `None` for ourselves, the `postgres` user when we are root.
fn cluster_owner() -> Result<Option<User>, EmbeddedError> {
    if !getuid().is_root() {
        return Ok(None);
    }
    match User::from_name(UNPRIVILEGED_USER).map_err(EmbeddedError::UserLookup)? {
        Some(user) => Ok(Some(user)),
        None => Err(EmbeddedError::NoUnprivilegedUser(
            UNPRIVILEGED_USER.to_owned(),
        )),
    }
}

/// Creates `dir` if needed, hands it to `owner`, sets `mode`, and returns its absolute path.
fn prepare_dir(dir: &Path, owner: Option<&User>, mode: u32) -> Result<PathBuf, EmbeddedError> {
    let io = |source| EmbeddedError::DataDir {
        path: dir.to_owned(),
        source,
    };
    fs::create_dir_all(dir).map_err(io)?;
    if let Some(user) = owner {
        chown(dir, Some(user.uid.as_raw()), Some(user.gid.as_raw())).map_err(io)?;
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(io)?;
    fs::canonicalize(dir).map_err(io)
}

fn initdb(
    bin_dir: &Path,
    pgdata: &Path,
    owner: Option<&User>,
    unsafe_fast: bool,
) -> Result<(), EmbeddedError> {
    let program = bin_dir.join("initdb");
    let mut command = Command::new(&program);
    command
        .arg("-D")
        .arg(pgdata)
        .args(["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8"])
        // A UTF-8 ctype makes lower()/ILIKE fold Cyrillic as well as Latin (R15).
        .args(["--locale=C.UTF-8"])
        .stdin(Stdio::null());
    if unsafe_fast {
        command.arg("--no-sync");
    }
    run_as(&mut command, owner);
    let output = command
        .output()
        .map_err(|source| EmbeddedError::Spawn { program, source })?;
    if output.status.success() {
        return Ok(());
    }
    Err(EmbeddedError::Initdb {
        status: output.status.to_string(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}

fn run_as(command: &mut Command, owner: Option<&User>) {
    if let Some(user) = owner {
        command
            .uid(user.uid.as_raw())
            .gid(user.gid.as_raw())
            .env("HOME", &user.dir)
            .env("USER", &user.name);
        // Root's working directory may be closed to the unprivileged user.
        command.current_dir("/");
    }
}

/// Asks the kernel to send the postmaster `SIGINT` (fast shutdown) when the thread that
/// spawned it ends, so that a killed server never leaves PostgreSQL running.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl, which
    // is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn tail_of(path: &Path, lines: usize) -> String {
    let Ok(file) = fs::File::open(path) else {
        return String::new();
    };
    let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'/' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Quotes an SQL identifier (a database name) for statements that take no bind parameters.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal for statements that take no bind parameters.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_urls_escape_the_path_and_name_the_port() {
        let url = socket_url(Path::new("/tmp/a b/run"), "dialogi");
        assert_eq!(
            url,
            "postgres://dialogi@/dialogi?host=/tmp/a%20b/run&port=5432"
        );
    }

    #[test]
    fn sql_quoting_doubles_the_quote_characters() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
