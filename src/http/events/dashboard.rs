//! The dashboards' stream (`GET /api/v1/monitor/events`).

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, web};
use actix_web_lab::sse;
use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::*;
use crate::actors::{Audience, Published};
use crate::db::{self, monitor};
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::accounts::access;
use crate::http::auth::MonitorCaller;

/// The dashboards' stream: aggregate `figures` every few seconds and `status` events when
/// a dialog's status changes (token scope `monitor`).
#[utoipa::path(
    tag = "events",
    responses(
        (status = 200, description = "text/event-stream", content_type = "text/event-stream"),
        (status = 403, description = "the token lacks the monitor scope", body = crate::error::ErrorBody),
    )
)]
#[get("/monitor/events")]
pub async fn monitor_events(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut permit = StreamPermit::acquire(&state.streams, state.config.max_streams)
        .ok_or_else(too_many_streams)?;
    let caller = MonitorCaller::from_request(&req, &mut Payload::None).await?;
    permit.hold_for(&caller.0, &state.config)?;
    let live = state.hub.subscribe();
    let access = access(&state, &caller.0).await?;
    let viewer = Viewer {
        user_id: caller.0.user_id.0,
        token_id: token_id_of(&caller.0),
        visible: access.visible().into_iter().collect(),
    };
    let (tx, rx) = mpsc::channel(state.config.stream_queue.max(1));
    actix_web::rt::spawn(follow_monitor(state.clone(), viewer, live, tx));
    Ok(sse_response(&req, queued_events(rx, permit)))
}

/// A dashboard's stream. Like an operator's, it depends on its credential and its user's
/// rights: an `access` or `credentials` event re-reads them at once (a revoked token or
/// a disabled user ends the stream; a lost grant takes the account out of the figures),
/// and they are re-checked every `--stream-recheck-secs` besides.
pub(super) async fn follow_monitor(
    state: web::Data<AppState>,
    mut viewer: Viewer,
    mut live: broadcast::Receiver<Arc<Published>>,
    tx: mpsc::Sender<sse::Event>,
) {
    let mut figures_tick = tokio::time::interval(state.config.monitor_interval());
    let mut recheck = tokio::time::interval(state.config.stream_recheck());
    recheck.reset();
    loop {
        let event = tokio::select! {
            // The client left: stop at once rather than at the next figures.
            () = tx.closed() => return,
            received = live.recv() => match received {
                Ok(event) if matches!(event.kind.as_str(), "access" | "credentials") => {
                    let still = if event.user_id == Some(viewer.user_id) {
                        viewer.refresh(&state, true).await
                    } else if event.kind == "access" && event.user_id.is_none() {
                        viewer.refresh_rights(&state, event.id).await
                    } else {
                        true
                    };
                    if !still {
                        return;
                    }
                    continue;
                }
                Ok(event) if event.kind == "dialog" && event.account_id.is_some_and(|a| viewer.visible.contains(&a)) => {
                    event.frame(Audience::Dashboards, |event| frame(Some(event.id), "status", &json!({
                        "dialog_id": event.dialog_id,
                        "account_id": event.account_id,
                        "status": event.payload["status"],
                        "responsible_user_id": event.payload["responsible_user_id"],
                    })))
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = recheck.tick() => {
                if !viewer.refresh(&state, false).await {
                    return;
                }
                continue;
            }
            _ = figures_tick.tick() => {
                let mut accounts: Vec<i64> = viewer.visible.iter().copied().collect();
                accounts.sort_unstable();
                let figures = db::run(&state.pool, move |conn| monitor::figures(conn, &accounts, Utc::now())).await;
                match figures {
                    Ok(figures) => {
                        let mut data = serde_json::to_value(&figures).unwrap_or(Value::Null);
                        data["sse_subscribers"] = json!(state.hub.subscribers());
                        data["at"] = json!(Utc::now());
                        frame(None, "figures", &data)
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "monitor figures failed");
                        continue;
                    }
                }
            }
        };
        if !deliver(&tx, event).await {
            return;
        }
    }
}
