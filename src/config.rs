//! Configuration: every setting is a command-line flag with an environment variable and a
//! default that runs. `main` parses it once and passes it down; there are no globals.
//! Tests build a `Config` directly (`Config::default()` plus changes).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::telemetry::LogFormat;

pub const DEFAULT_WIDGET_REQUESTS_PER_MINUTE: u32 = 300;
const DEFAULT_MAX_VISITOR_STREAMS: usize = 10_000;
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_PUSH_CONTACT: &str = "mailto:postmaster@localhost";
pub const DEFAULT_DATA_DIR: &str = "./data";
pub const DEFAULT_DB_POOL_SIZE: u32 = 16;
pub const DEFAULT_SESSION_TTL_HOURS: u32 = 168;
pub const DEFAULT_LOGIN_ATTEMPTS_PER_IP: u32 = 30;
pub const DEFAULT_LOGIN_ATTEMPTS_PER_LOGIN: u32 = 10;
pub const DEFAULT_MAX_STREAMS: usize = 5000;
pub const DEFAULT_MAX_STREAMS_PER_USER: usize = 20;
pub const DEFAULT_MAX_STREAMS_PER_TOKEN: usize = 10;
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_BODY_MIN_BYTES_PER_SEC: u64 = 1024;
pub const DEFAULT_MONITOR_INTERVAL_SECS: u64 = 5;
pub const DEFAULT_STREAM_RECHECK_SECS: u64 = 30;
pub const DEFAULT_STREAM_QUEUE: usize = 512;
pub const DEFAULT_EVENT_RETENTION_HOURS: u64 = 168;
pub const DEFAULT_DEMO_ACTIVITY: &str = "20-60";

/// A string that must never be printed: its `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl FromStr for SecretString {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// The server's settings. Flags win over environment variables, which win over defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address and port to serve HTTP on
    #[arg(long, env = "DIALOGI_LISTEN", default_value = DEFAULT_LISTEN, global = true)]
    pub listen: String,

    /// Folder for Dialogi's data: the embedded PostgreSQL cluster, media files, logs
    #[arg(long, env = "DIALOGI_DATA_DIR", default_value = DEFAULT_DATA_DIR, global = true)]
    pub data_dir: PathBuf,

    /// PostgreSQL to use instead of the embedded one, e.g. postgres://user:pass@host/db
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<SecretString>,

    /// Database connections in the pool
    #[arg(long, env = "DIALOGI_DB_POOL_SIZE", default_value_t = DEFAULT_DB_POOL_SIZE, global = true)]
    pub db_pool_size: u32,

    /// HTTP worker threads (default: one per CPU core)
    #[arg(long, env = "DIALOGI_WORKERS", global = true)]
    pub workers: Option<usize>,

    /// Log format
    #[arg(long, env = "DIALOGI_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Mark the session cookie Secure (set this when a TLS proxy serves Dialogi; requests
    /// that arrive over HTTPS get it anyway)
    #[arg(long, env = "DIALOGI_SECURE_COOKIES", global = true)]
    pub secure_cookies: bool,

    /// Hours a browser session lasts after login
    #[arg(long, env = "DIALOGI_SESSION_TTL_HOURS", default_value_t = DEFAULT_SESSION_TTL_HOURS, global = true)]
    pub session_ttl_hours: u32,

    /// Login attempts allowed per minute from one IP address
    #[arg(long, env = "DIALOGI_LOGIN_ATTEMPTS_PER_IP", default_value_t = DEFAULT_LOGIN_ATTEMPTS_PER_IP, global = true)]
    pub login_attempts_per_ip: u32,

    /// Login attempts allowed per minute for one login name
    #[arg(long, env = "DIALOGI_LOGIN_ATTEMPTS_PER_LOGIN", default_value_t = DEFAULT_LOGIN_ATTEMPTS_PER_LOGIN, global = true)]
    pub login_attempts_per_login: u32,

    /// Password for the `admin` user created on first start (default: a random one, printed once)
    #[arg(
        long,
        env = "DIALOGI_ADMIN_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub admin_password: Option<SecretString>,

    /// Open Server-Sent Events streams allowed at once; more get a fast 503 (keep it well
    /// below the process's file limit)
    #[arg(long, env = "DIALOGI_MAX_STREAMS", default_value_t = DEFAULT_MAX_STREAMS, global = true)]
    pub max_streams: usize,

    /// Open event streams allowed to one user at once (all their sessions and tokens),
    /// under `--max-streams`; more get 429
    #[arg(long, env = "DIALOGI_MAX_STREAMS_PER_USER", default_value_t = DEFAULT_MAX_STREAMS_PER_USER, global = true)]
    pub max_streams_per_user: usize,

    /// Open event streams allowed to one session or API token at once; more get 429
    #[arg(long, env = "DIALOGI_MAX_STREAMS_PER_TOKEN", default_value_t = DEFAULT_MAX_STREAMS_PER_TOKEN, global = true)]
    pub max_streams_per_token: usize,

    /// Web push services (R45) allowed besides the browsers' own (Google's, Mozilla's,
    /// Microsoft's, Apple's), e.g. a self-hosted one; these may be plain http
    #[arg(
        long = "push-host",
        env = "DIALOGI_PUSH_HOSTS",
        value_delimiter = ',',
        global = true
    )]
    pub push_hosts: Vec<String>,

    /// Who the push services may contact about this server's pushes (VAPID's `sub`: a
    /// `mailto:` address or an https URL); set it to the administrator's address
    #[arg(long, env = "DIALOGI_PUSH_CONTACT", default_value = DEFAULT_PUSH_CONTACT, global = true)]
    pub push_contact: String,

    /// Requests one address may make to the website chat's public routes in a minute;
    /// more get 429 (raise it for many visitors behind one address)
    #[arg(long, env = "DIALOGI_WIDGET_REQUESTS_PER_MINUTE", default_value_t = DEFAULT_WIDGET_REQUESTS_PER_MINUTE, global = true)]
    pub widget_requests_per_minute: u32,

    /// Open website visitors' streams allowed at once (apart from the operators'); more
    /// get 503
    #[arg(long, env = "DIALOGI_MAX_VISITOR_STREAMS", default_value_t = DEFAULT_MAX_VISITOR_STREAMS, global = true)]
    pub max_visitor_streams: usize,

    /// PEM file of extra certificate authorities the channels' connections trust besides
    /// the usual roots (MAX's newer host is under the Russian Ministry of Digital
    /// Development's root, which the usual roots lack)
    #[arg(long, env = "DIALOGI_EXTRA_CA_FILE", global = true)]
    pub extra_ca_file: Option<std::path::PathBuf>,

    /// Seconds a request body may take to arrive in full; a slower one gets 408 and its
    /// connection is closed
    #[arg(long, env = "DIALOGI_BODY_TIMEOUT_SECS", default_value_t = DEFAULT_BODY_TIMEOUT_SECS, global = true)]
    pub body_timeout_secs: u64,

    /// The slowest a request body may arrive, in bytes per second, measured after its
    /// first 5 seconds; a slower one gets 408 and its connection is closed
    #[arg(long, env = "DIALOGI_BODY_MIN_BYTES_PER_SEC", default_value_t = DEFAULT_BODY_MIN_BYTES_PER_SEC, global = true)]
    pub body_min_bytes_per_sec: u64,

    /// Seconds between the figures of the monitoring stream
    #[arg(long, env = "DIALOGI_MONITOR_INTERVAL_SECS", default_value_t = DEFAULT_MONITOR_INTERVAL_SECS, global = true)]
    pub monitor_interval_secs: u64,

    /// Seconds between re-checks of an open stream's session and rights
    #[arg(long, env = "DIALOGI_STREAM_RECHECK_SECS", default_value_t = DEFAULT_STREAM_RECHECK_SECS, global = true)]
    pub stream_recheck_secs: u64,

    /// Events a stream may fall behind for 5 s before its client counts as too slow and
    /// is cut off (it reconnects and replays)
    #[arg(long, env = "DIALOGI_STREAM_QUEUE", default_value_t = DEFAULT_STREAM_QUEUE, global = true)]
    pub stream_queue: usize,

    /// Hours events are kept for streams to resume from; older ones are removed and a
    /// stream asked to resume before them gets `resync`
    #[arg(long, env = "DIALOGI_EVENT_RETENTION_HOURS", default_value_t = DEFAULT_EVENT_RETENTION_HOURS, global = true)]
    pub event_retention_hours: u64,

    /// Kernel send buffer of each HTTP connection, in bytes (default: the system's, which
    /// grows up to megabytes). Smaller bounds the memory a stalled stream client holds and
    /// lets it be detected and cut off sooner
    #[arg(long, env = "DIALOGI_SOCKET_SEND_BUFFER", global = true)]
    pub socket_send_buffer: Option<usize>,

    /// Fill an empty database with a demo company on first start
    #[arg(long, env = "DIALOGI_DEMO", global = true)]
    pub demo: bool,

    /// How lively the demo's simulated clients are: seconds between new messages as
    /// MIN-MAX, or `off` (no new messages and no answers; delivery reports still come)
    #[arg(long, env = "DIALOGI_DEMO_ACTIVITY", default_value = DEFAULT_DEMO_ACTIVITY, global = true)]
    pub demo_activity: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            database_url: None,
            db_pool_size: DEFAULT_DB_POOL_SIZE,
            workers: None,
            log_format: LogFormat::Text,
            secure_cookies: false,
            session_ttl_hours: DEFAULT_SESSION_TTL_HOURS,
            login_attempts_per_ip: DEFAULT_LOGIN_ATTEMPTS_PER_IP,
            login_attempts_per_login: DEFAULT_LOGIN_ATTEMPTS_PER_LOGIN,
            admin_password: None,
            max_streams: DEFAULT_MAX_STREAMS,
            max_streams_per_user: DEFAULT_MAX_STREAMS_PER_USER,
            max_streams_per_token: DEFAULT_MAX_STREAMS_PER_TOKEN,
            push_hosts: Vec::new(),
            push_contact: DEFAULT_PUSH_CONTACT.to_owned(),
            extra_ca_file: None,
            widget_requests_per_minute: DEFAULT_WIDGET_REQUESTS_PER_MINUTE,
            max_visitor_streams: DEFAULT_MAX_VISITOR_STREAMS,
            body_timeout_secs: DEFAULT_BODY_TIMEOUT_SECS,
            body_min_bytes_per_sec: DEFAULT_BODY_MIN_BYTES_PER_SEC,
            monitor_interval_secs: DEFAULT_MONITOR_INTERVAL_SECS,
            stream_recheck_secs: DEFAULT_STREAM_RECHECK_SECS,
            stream_queue: DEFAULT_STREAM_QUEUE,
            event_retention_hours: DEFAULT_EVENT_RETENTION_HOURS,
            socket_send_buffer: None,
            demo: false,
            demo_activity: DEFAULT_DEMO_ACTIVITY.to_owned(),
        }
    }
}

impl Config {
    pub fn monitor_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.monitor_interval_secs.max(1))
    }

    pub fn body_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.body_timeout_secs.max(1))
    }

    pub fn stream_recheck(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.stream_recheck_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_the_config_never_print() {
        let config = Config {
            database_url: Some(SecretString::new("postgres://u:hunter2@db/x")),
            admin_password: Some(SecretString::new("hunter2")),
            ..Config::default()
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }
}
