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

/// The span `TracingLogger` opens for each HTTP request: tracing-actix-web's own, but only
/// when the filter lets it be recorded. Building it is not free even when nothing records
/// it: it matches the path against every route a second time (routing has not run yet),
/// formats the client's address, draws a random request id and formats every error answer.
/// With `RUST_LOG=warn` (say) a request skips all of that.
pub struct RequestSpan;

impl tracing_actix_web::RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        // The target of the span tracing-actix-web builds.
        let recorded = tracing::enabled!(
            kind: tracing::metadata::Kind::SPAN,
            target: "tracing_actix_web::root_span_builder",
            tracing::Level::INFO
        );
        if !recorded {
            return tracing::Span::none();
        }
        tracing_actix_web::DefaultRootSpanBuilder::on_request_start(request)
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        if !span.is_disabled() {
            tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
        }
    }
}
