//! Logging: `tracing` with a human format by default or JSON lines (`--log-format json`),
//! filtered by `RUST_LOG` (default `info`). Also the one way to run blocking work without
//! losing the caller's span.
//!
//! Field names follow docs/LOGGING.md: dotted identifiers (`user.id`, `dialog.id`), units
//! in names (`duration_ms`); secrets are never logged.

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global subscriber. Call once, at the start of `main`.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // A subscriber installed earlier (tests) wins; that is not an error.
    drop(result);
}

/// `tokio::task::spawn_blocking` that runs `job` inside the caller's current span.
pub fn spawn_blocking_with_span<F, R>(job: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(job))
}
