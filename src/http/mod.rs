//! The HTTP surface: every route in one place (`routes`), the shared state, body limits
//! and the error answers for unreadable requests, security headers and request metrics.
//!
//! Handlers are thin: parse the request into domain values, check who may do it, call a
//! `db` query function (reads) or an actor (changes, later), convert rows to `dto` types.
//! Never SQL here, never business rules. Imports `db`, `domain`, `security`, `error`.

pub mod accounts;
pub mod assets;
pub mod attachments;
pub mod auth;
pub mod bodies;
pub mod client_panel;
pub mod clients;
pub mod crm;
pub mod dialog_actions;
pub mod dialogs;
pub mod dto;
pub mod events;
pub mod health;
pub mod idempotency;
pub mod known;
pub mod message_changes;
pub mod notes;
pub mod personal_data;
pub mod presence;
pub mod push;
pub mod quick_replies;
pub mod reports;
pub mod rules;
pub mod settings;
pub mod tasks;
pub mod tokens;
pub mod users;
pub mod webhooks;
pub mod widget;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use metrics_exporter_prometheus::PrometheusHandle;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::actors::{Engine, Hub, UnreadKeeper};
use crate::channels::Channels;
use crate::config::Config;
use crate::db::DbPool;
use crate::error::ApiError;

/// JSON bodies larger than this are refused with 413.
pub const MAX_JSON_BYTES: usize = 256 * 1024;
/// The bytes of bodies larger than `MAX_JSON_BYTES` (replies with files) held at once:
/// one largest reply and some room; beyond it such requests get 429 and retry.
const LARGE_BODIES_BYTES: usize = 96 * 1024 * 1024;

/// What every handler may reach: built once, shared by all workers.
pub struct AppState {
    pub pool: DbPool,
    pub config: Arc<Config>,
    pub login_limiter: auth::LoginLimiter,
    pub metrics: PrometheusHandle,
    pub engine: Engine,
    pub hub: Hub,
    pub channels: Channels,
    pub streams: Arc<events::StreamCount>,
    pub counters_cache: events::CountersCache,
    /// The section counters, kept from the event log.
    pub unread: UnreadKeeper,
    pub recheck_cache: events::RecheckCache,
    /// Credentials and rights remembered from the database (see `known`).
    pub known: Arc<known::Known>,
    /// The bytes of large request bodies held at once (`bodies::read_limited`).
    pub body_budget: bodies::BodyBudget,
    /// The website widget's secret and rate limits (R40).
    pub widget: widget::WidgetState,
}

/// How often recorded request durations are drained into the histograms.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

impl AppState {
    pub fn new(
        config: Arc<Config>,
        pool: DbPool,
        metrics: PrometheusHandle,
        engine: Engine,
        hub: Hub,
        channels: Channels,
        arbiter: &actix::ArbiterHandle,
    ) -> Self {
        // Both follow the events on the actors' arbiter.
        let unread = UnreadKeeper::start(pool.clone(), &hub, arbiter);
        let known = known::Known::start(&hub, arbiter);
        // Request durations pile up in the recorder until they are drained into the
        // histograms: without this, memory grows with every request nobody scrapes.
        let upkeep = metrics.clone();
        arbiter.spawn(async move {
            let mut every = tokio::time::interval(METRICS_UPKEEP);
            loop {
                every.tick().await;
                upkeep.run_upkeep();
            }
        });
        let widget = widget::WidgetState::new(
            config.widget_requests_per_minute,
            config.max_visitor_streams,
        );
        Self {
            login_limiter: auth::LoginLimiter::new(
                config.login_attempts_per_ip,
                config.login_attempts_per_login,
            ),
            pool,
            config,
            metrics,
            engine,
            hub,
            channels,
            streams: Arc::default(),
            counters_cache: events::CountersCache::default(),
            unread,
            recheck_cache: events::RecheckCache::default(),
            known,
            body_budget: bodies::BodyBudget::new(LARGE_BODIES_BYTES),
            widget,
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Dialogi",
        description = "Operator inbox for Telegram, VK, Viber and WhatsApp conversations. \
                       Browsers use the session cookie plus X-CSRF-Token; CRMs and \
                       dashboards send `Authorization: Bearer <API token>`. Unsafe \
                       requests may carry `Idempotency-Key` (1-200 visible ASCII \
                       characters): a retry with the same key returns the first answer \
                       (`Idempotent-Replayed: true`) and does nothing twice, for a day; \
                       the same key with another request is 422 `idempotency_key_reused`, \
                       and a retry while the first runs is 409 `idempotency_key_in_use`."
    ),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("session" = []))
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
    }
}

/// Adds the error answers that every operation may give by the API's conventions
/// (`API.md`, "Errors") to each operation of the generated document whose own annotation
/// does not name them, so the document lists every status a client can get: 401 and 403
/// for `/api/v1` (no or bad credentials, a token or user without the right), 503 while the
/// database is unreachable, 409 for a change the state forbids, 404 for an id that does not exist or is not visible, 400 and
/// 422 for a query or body that cannot be read or is not acceptable, 413 and 415 for a
/// body that is too large or not JSON. Each answers `ErrorBody`.
pub fn document_conventions(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{Operation, ParameterIn};
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in api.paths.paths.iter_mut() {
        let api_v1 = path.starts_with("/api/v1/");
        let has_id = path.contains('{');
        let operations: [(bool, &mut Option<Operation>); 5] = [
            (false, &mut item.get),
            (true, &mut item.put),
            (true, &mut item.post),
            (true, &mut item.delete),
            (true, &mut item.patch),
        ];
        for (changes, operation) in operations {
            let Some(operation) = operation else {
                continue;
            };
            let has_body = operation.request_body.is_some();
            let has_query = operation.parameters.iter().flatten().any(|p| match p {
                RefOr::T(p) => matches!(p.parameter_in, ParameterIn::Query),
                RefOr::Ref(_) => false,
            });
            // Every unsafe request of a caller may carry a key; signing in has no caller yet.
            let keyed =
                api_v1 && changes && operation.operation_id.as_deref() != Some("create_session");
            if keyed {
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .push(RefOr::T(idempotency_key()));
            }
            let mut wanted: Vec<(&str, &str)> = Vec::new();
            if api_v1 {
                wanted.push((
                    "401",
                    "no credentials, or credentials that are wrong, expired or revoked",
                ));
                wanted.push(("403", "the caller may not do this"));
                wanted.push(("503", "the database is not reachable right now"));
                if changes {
                    wanted.push((
                        "409",
                        "the state forbids it, or a record with these values exists",
                    ));
                }
            }
            if has_id {
                wanted.push(("404", "it does not exist, or the caller may not see it"));
            }
            if has_body || has_query {
                wanted.push((
                    "400",
                    "the request cannot be read (malformed JSON or query)",
                ));
                wanted.push(("422", "a value is not acceptable"));
            }
            if keyed {
                wanted.push(("400", "the Idempotency-Key is malformed"));
                wanted.push(("422", "the Idempotency-Key was used for another request"));
            }
            if has_body {
                wanted.push(("413", "the body is larger than this route takes"));
                wanted.push(("415", "the body is not JSON"));
            }
            for (status, description) in wanted {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error(description));
            }
        }
    }
    api
}

/// The optional `Idempotency-Key` header of an unsafe request (`http::idempotency`).
fn idempotency_key() -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Required, Type};
    ParameterBuilder::new()
        .name(idempotency::HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry safe: the same key with the same request within a day \
             returns the first answer (`Idempotent-Replayed: true`) and does nothing \
             twice; with another request it is 422 `idempotency_key_reused`, and while \
             the first still runs 409 `idempotency_key_in_use` with `Retry-After`.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(200))
                .pattern(Some("^[!-~]+$")),
        ))
        .build()
}

/// Every route of the API. Operations routes sit at the root, the rest under `/api/v1`.
pub fn routes(cfg: &mut ServiceConfig<'_>) {
    use utoipa_actix_web::scope;
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(
            scope("/hooks")
                .app_data(webhooks::body_limit())
                .service(webhooks::telegram)
                .service(webhooks::vk)
                .service(webhooks::viber)
                .service(webhooks::viber_media)
                .service(webhooks::whatsapp_verify)
                .service(webhooks::whatsapp)
                .service(webhooks::max),
        )
        .service(
            scope("/api/v1")
                // Inside the credential check, which it needs: the first wrap is inner.
                .wrap(actix_web::middleware::from_fn(idempotency::keyed))
                .wrap(actix_web::middleware::from_fn(require_credentials))
                .service(auth::create_session)
                .service(auth::delete_session)
                .service(auth::get_me)
                .service(auth::set_my_status)
                .service(presence::claim)
                .service(presence::snapshot)
                .service(push::push_key)
                .service(push::subscribe)
                .service(push::unsubscribe)
                // One scope per collection: a request is matched against its own
                // collection's routes only (each route with an id is a regex to try).
                .service(
                    scope("/dialogs")
                        // `/counters` before `/{id}`, so it is not taken for an id.
                        .service(dialogs::counters)
                        .service(dialogs::list_dialogs)
                        .service(dialogs::get_dialog)
                        .service(dialogs::list_messages)
                        .service(dialog_actions::rename)
                        .service(dialog_actions::reply)
                        .service(dialog_actions::read)
                        .service(dialog_actions::accept)
                        .service(dialog_actions::close)
                        .service(dialog_actions::redirect)
                        .service(dialog_actions::accept_lead)
                        .service(dialog_actions::link_interest)
                        .service(dialog_actions::create_task)
                        .service(dialog_actions::site_link)
                        .service(dialog_actions::redirect_targets)
                        .service(message_changes::edit_message)
                        .service(message_changes::delete_message)
                        .service(message_changes::react)
                        .service(message_changes::retry_message)
                        .service(personal_data::record_consent)
                        .service(notes::add_note)
                        .service(notes::viewers)
                        .service(client_panel::client_panel),
                )
                .service(events::operator_events)
                .service(events::monitor_events)
                .service(tasks::my_work)
                .service(
                    scope("/tasks")
                        .service(tasks::list_tasks)
                        .service(tasks::update_task),
                )
                .service(attachments::download_attachment)
                .service(
                    scope("/clients")
                        .service(crm::list_clients)
                        .service(crm::create_client)
                        .service(crm::get_client)
                        .service(crm::update_client)
                        .service(crm::merge_client)
                        .service(crm::list_contacts)
                        .service(crm::create_contact)
                        .service(clients::client_dialogs)
                        .service(clients::client_messages)
                        .service(clients::client_attachments)
                        .service(clients::client_dialog_messages)
                        .service(personal_data::export_client)
                        .service(personal_data::erase_client)
                        .service(personal_data::client_consents),
                )
                .service(
                    scope("/quick-replies")
                        // `/export` and `/import` before `/{id}`.
                        .service(quick_replies::export)
                        .service(quick_replies::import)
                        .service(quick_replies::list)
                        .service(quick_replies::create)
                        .service(quick_replies::update)
                        .service(quick_replies::remove)
                        .service(quick_replies::used)
                        .service(quick_replies::add_file)
                        .service(quick_replies::download_file)
                        .service(quick_replies::remove_file),
                )
                .service(
                    scope("/interests")
                        .service(crm::list_interests)
                        .service(crm::create_interest)
                        .service(crm::get_interest)
                        .service(crm::update_interest),
                )
                .service(
                    scope("/users")
                        .service(users::list_users)
                        .service(users::create_user)
                        .service(users::get_user)
                        .service(users::update_user),
                )
                .service(users::list_roles)
                .service(users::create_role)
                .service(users::list_departments)
                .service(users::create_department)
                .service(
                    scope("/tokens")
                        .service(tokens::list_tokens)
                        .service(tokens::create_token)
                        .service(tokens::revoke_token),
                )
                .service(accounts::channel_kinds)
                .service(settings::get_settings)
                .service(settings::put_settings)
                .service(
                    scope("/accounts")
                        .service(accounts::list_accounts)
                        .service(accounts::create_account)
                        .service(accounts::get_account)
                        .service(accounts::update_account)
                        .service(accounts::delete_account)
                        .service(accounts::get_grants)
                        .service(accounts::put_grants)
                        .service(accounts::check_account)
                        .service(accounts::fetch_account)
                        .service(accounts::failed_updates)
                        .service(accounts::widget_snippet)
                        .service(personal_data::get_retention)
                        .service(personal_data::put_retention)
                        .service(personal_data::run_retention),
                )
                .service(
                    scope("/rules")
                        .service(rules::list_rules)
                        .service(rules::create_rule)
                        .service(rules::get_rule)
                        .service(rules::update_rule)
                        .service(rules::delete_rule),
                )
                .service(
                    scope("/close-reasons")
                        .service(reports::list_close_reasons)
                        .service(reports::create_close_reason)
                        .service(reports::update_close_reason),
                )
                .service(reports::close_reason_report)
                .service(personal_data::access_log),
        );
}

/// Reads a JSON body of up to `limit` bytes (routes that take more than the default,
/// like a reply with files); the same 413/415/400 answers as the JSON extractor.
pub async fn json_body<T: serde::de::DeserializeOwned>(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    let is_json = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType(
            "send the body as application/json".into(),
        ));
    }
    let body = bodies::read_limited(request, &mut payload, limit).await?;
    serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("the body is not valid JSON for this route: {e}"),
        )
    })
}

/// Body and parameter extractors that answer unreadable input with a JSON 4xx.
pub fn extractor_configs(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(MAX_JSON_BYTES)
            .error_handler(|error, _req| json_error(error).into()),
    )
    .app_data(
        web::PathConfig::default().error_handler(|error: PathError, _req| {
            tracing::debug!(error = %error, "unreadable path parameter");
            ApiError::NotFound("resource").into()
        }),
    )
    .app_data(
        web::QueryConfig::default().error_handler(|error: QueryPayloadError, _req| {
            ApiError::bad_request(
                "invalid_query",
                format!("the query string is not valid: {error}"),
            )
            .into()
        }),
    );
}

fn json_error(error: JsonPayloadError) -> ApiError {
    match error {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => {
            ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes"))
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json".into(),
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::Invalid {
            code: "invalid_input",
            field: None,
            message: format!("the body does not fit this request: {e}"),
        },
        JsonPayloadError::Deserialize(e) => {
            ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
        }
        other => ApiError::bad_request(
            "unreadable_body",
            format!("the body cannot be read: {other}"),
        ),
    }
}

/// The answer for paths that match no route.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    tracing::debug!(path = %req.path(), "no route");
    ApiError::NotFound("route").error_response()
}

/// Counts requests and their latency by method, route pattern and status.
/// Requests to `/api/v1` are authenticated before anything else (a body is not even
/// read): without a credential, or with an expired session, a disabled user's or an
/// unknown token, 401; an unsafe method without the session's CSRF header or the token's
/// `write` scope, 403 — so a caller who may not act learns nothing about a route's input.
/// Whether they may act on the record is the handler's decision (after its input).
pub async fn require_credentials(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let signing_in =
        req.method() == actix_web::http::Method::POST && req.path() == "/api/v1/session";
    let has_credential = req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION)
        || req.cookie(auth::SESSION_COOKIE).is_some();
    // The event streams read no input and check their cap before the credential, so a
    // full server answers 503 without a database round trip.
    let stream = matches!(req.path(), "/api/v1/events" | "/api/v1/monitor/events");
    if signing_in || (stream && has_credential) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let checked = if has_credential {
        auth::authenticate_early(req.request()).await
    } else {
        Err(ApiError::Unauthorized(
            "sign in, or send an API token".into(),
        ))
    };
    match checked {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err(error) => {
            let response = actix_web::ResponseError::error_response(&error);
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = req.method().to_string();
    let response = next.call(req).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}
