//! Operations: liveness, readiness, Prometheus metrics and the OpenAPI document.

use actix_web::{HttpRequest, HttpResponse, get, web};

use super::AppState;
use super::dto::HealthResponse;
use crate::db;
use crate::error::ApiError;

/// The process is up (it does not look at the database).
#[utoipa::path(tag = "operations", responses((status = 200, body = HealthResponse)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<HealthResponse> {
    web::Json(HealthResponse {
        status: "ok",
        reason: None,
    })
}

/// Ready to serve: the database answers and every migration is applied.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, body = HealthResponse), (status = 503, body = HealthResponse))
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let check = db::run(&state.pool, db::migrations_complete).await;
    match check {
        Ok(true) => HttpResponse::Ok().json(HealthResponse {
            status: "ready",
            reason: None,
        }),
        Ok(false) => HttpResponse::ServiceUnavailable().json(HealthResponse {
            status: "unavailable",
            reason: Some("migrations are pending".into()),
        }),
        Err(error) => {
            tracing::warn!(error = %error, "not ready");
            HttpResponse::ServiceUnavailable().json(HealthResponse {
                status: "unavailable",
                reason: Some("the database is not reachable".into()),
            })
        }
    }
}

/// Prometheus metrics, in the text exposition format. Open to clients on this machine;
/// others need an API token with the `monitor` scope.
#[utoipa::path(tag = "operations", responses((status = 200, content_type = "text/plain"), (status = 401)))]
#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let local = req.peer_addr().is_some_and(|addr| addr.ip().is_loopback());
    if !local {
        use actix_web::FromRequest;
        super::auth::MonitorCaller::extract(&req).await?;
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render()))
}
