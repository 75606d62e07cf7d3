//! Builds the HTTP server on a given address (port 0 in tests) and exposes the port it
//! bound. `main` and the test harness both start the application through here.

use std::net::TcpListener;
use std::sync::{Arc, OnceLock};

use actix::Arbiter;
use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::actors::{Engine, Hub};
use crate::channels::Channels;
use crate::config::Config;
use crate::db::DbPool;
use crate::http::{self, ApiDoc, AppState};

/// Headers on every answer: a strict Content-Security-Policy (no inline scripts), no
/// sniffing, no framing, no referrer, and no caching of API answers.
const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
];

/// How many events a subscriber may fall behind before it is cut off (and replays).
const HUB_CAPACITY: usize = 4096;

/// A running (not yet awaited) server and the port it listens on.
pub struct Application {
    port: u16,
    server: Server,
    engine: Engine,
    hub: Hub,
    channels: Channels,
    arbiter: Arbiter,
    channels_arbiter: Arbiter,
    /// The demo's simulated messengers, when the database holds demo accounts.
    demo: Option<crate::demo::Demo>,
}

impl Application {
    /// Binds `config.listen` and prepares the server; it serves once awaited.
    pub fn build(config: Config, pool: DbPool) -> std::io::Result<Self> {
        let listener = TcpListener::bind(&config.listen)?;
        // std listens with a backlog of 128. A burst of connects (thousands of streams
        // reconnecting at once) overflows it, and each handshake dropped there costs its
        // client a retransmission a second later: take the largest the system allows.
        nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::MAXALLOWABLE)
            .map_err(std::io::Error::from)?;
        if let Some(bytes) = config.socket_send_buffer {
            // Accepted connections inherit the listening socket's buffer sizes.
            nix::sys::socket::setsockopt(&listener, nix::sys::socket::sockopt::SndBuf, &bytes)
                .map_err(std::io::Error::from)?;
        }
        let port = listener.local_addr()?.port();
        let workers = config.workers;
        let activity =
            crate::demo::clients::Activity::parse(&config.demo_activity).map_err(|error| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("--demo-activity {error}"),
                )
            })?;
        // Before any channel connects: the certificate authorities it trusts besides the
        // usual roots (R39).
        if let Some(path) = &config.extra_ca_file {
            let count = crate::channels::trust_extra_authorities(path).map_err(|error| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("--extra-ca-file {}: {error}", path.display()),
                )
            })?;
            tracing::info!(file = %path.display(), authorities = count, "extra certificate authorities trusted");
        }
        // Before the channels start: the demo accounts are pointed at the simulator.
        let mut demo = crate::demo::Demo::start(&pool)?;
        if let Some(demo) = &mut demo {
            let host = match listener.local_addr()?.ip() {
                ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            };
            demo.bring_to_life(&pool, format!("http://{host}:{port}"), activity);
        }
        // The actors run on an arbiter (thread) of their own, apart from the HTTP workers.
        let arbiter = Arbiter::new();
        let engine = Engine::new(pool.clone(), arbiter.handle());
        let database_url = config
            .database_url
            .as_ref()
            .map(|url| url.expose().to_owned())
            .ok_or_else(|| std::io::Error::other("the event hub needs the database URL"))?;
        let retention = std::time::Duration::from_secs(config.event_retention_hours.max(1) * 3600);
        let hub = Hub::start_with(
            database_url.clone(),
            HUB_CAPACITY,
            retention,
            Some(std::sync::Arc::new(http::events::enrich)),
        );
        let (channels, channels_arbiter) = Channels::start(
            pool.clone(),
            engine.clone(),
            &hub,
            database_url,
            config.data_dir.clone(),
        );
        // R47: every account's retention, daily.
        arbiter.spawn(crate::services::personal_data::run_daily(
            pool.clone(),
            channels.media_dir().to_path_buf(),
        ));
        // R45: web push to the users an event is for, signed with the server's VAPID key.
        let (push_pool, push_hub, push_hosts, push_contact) = (
            pool.clone(),
            hub.clone(),
            config.push_hosts.clone(),
            config.push_contact.clone(),
        );
        arbiter.spawn(async move {
            match crate::db::run(&push_pool, crate::channels::push::Vapid::load).await {
                Ok(vapid) => {
                    crate::channels::push::run(push_pool, push_hub, vapid, push_hosts, push_contact)
                        .await
                }
                Err(error) => tracing::error!(error = %error, "no web push: no VAPID key"),
            }
        });
        let state = web::Data::new(AppState::new(
            Arc::new(config),
            pool,
            metrics_handle(),
            engine.clone(),
            hub.clone(),
            channels.clone(),
            &arbiter.handle(),
        ));
        let mut server = HttpServer::new(move || {
            let (app, api) = App::new()
                .into_utoipa_app()
                .openapi(ApiDoc::openapi())
                .configure(http::routes)
                .split_for_parts();
            let spec = web::Data::new(http::document_conventions(api));
            let headers = SECURITY_HEADERS
                .iter()
                .fold(DefaultHeaders::new(), |h, (name, value)| {
                    h.add((*name, *value))
                });
            app.app_data(state.clone())
                .app_data(spec)
                .configure(http::extractor_configs)
                .route("/api/openapi.json", web::get().to(openapi_json))
                .service(http::assets::monitor_page)
                .service(http::assets::workstation_page)
                .service(http::assets::web_asset)
                .service(http::assets::manifest)
                .service(http::assets::service_worker)
                .route("/widget.js", web::get().to(http::widget::script))
                .route("/demo/site", web::get().to(http::widget::demo_site))
                .configure(http::widget::routes)
                .default_service(web::to(http::not_found))
                .wrap(from_fn(http::bodies::paced))
                .wrap(headers)
                .wrap(from_fn(http::record_metrics))
                .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
        })
        // Small writes (an SSE event, a short answer) go out at once instead of waiting
        // for the client's delayed acknowledgement (up to 40 ms).
        .tcp_nodelay(true)
        .listen(listener)?
        .shutdown_timeout(10);
        if let Some(workers) = workers {
            server = server.workers(workers.max(1));
        }
        Ok(Self {
            port,
            server: server.run(),
            engine,
            hub,
            channels,
            arbiter,
            channels_arbiter,
            demo,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully from elsewhere.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The dialog engine, for in-process callers (channels, tests).
    pub fn engine(&self) -> Engine {
        self.engine.clone()
    }

    /// The channels service, for in-process callers (tests).
    pub fn channels(&self) -> Channels {
        self.channels.clone()
    }

    /// The event hub, for in-process callers (tests).
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    /// Serves until SIGINT/SIGTERM (or a stop through `handle`), then drains connections
    /// and stops the actors and the event pump.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some(demo) = self.demo {
            demo.stop().await;
        }
        self.hub.shutdown();
        self.channels_arbiter.stop();
        self.arbiter.stop();
        result
    }
}

async fn openapi_json(spec: web::Data<utoipa::openapi::OpenApi>) -> HttpResponse {
    HttpResponse::Ok().json(spec.get_ref())
}

/// The Prometheus recorder is process-wide in the `metrics` crate: install it once.
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder installed first (a host program) keeps working; ours then
            // renders only what is recorded through it.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
