//! Server-Sent Events (R37): `GET /api/v1/events` for operators and
//! `GET /api/v1/monitor/events` for dashboards.
//!
//! An operator's stream: subscribe to the hub first, then replay from the `events` table
//! after `Last-Event-ID` (header) or `?last_event_id=`, then go live, skipping what the
//! replay already sent — no gap, no duplicate. Only what the user may see is sent. An
//! account's `access` event makes the stream re-read its user's rights (shared per user
//! through `http::known`); the user's own `access` or `credentials` event makes it check
//! its credential too (a sign-out, a revoked token or a disabled user ends the stream);
//! and both are re-checked every 30 s (`--stream-recheck-secs`) besides. Counters are recomputed at most
//! once a second, when something that moves them arrived. The stream is the response
//! body itself (`Follow`), polled as the connection can take bytes: no task or queue per
//! stream. A subscriber that cannot keep up (`--stream-queue` events behind for 5 s, or
//! behind the hub's whole buffer) is cut off; it reconnects and replays. Streams beyond the
//! configured cap get a fast 503.
//!
//! Here: the route, its replay and the frames; `operator` is the live stream (who
//! watches, and the body that follows the hub), `dashboard` the monitor's stream,
//! `caches` what streams share (re-checks, counters), `permits` the caps.

mod caches;
mod dashboard;
mod operator;
mod permits;

use self::caches::*;
pub use self::caches::{CountersCache, RecheckCache};
pub use self::dashboard::*;
use self::operator::*;
pub use self::permits::StreamCount;
use self::permits::*;

use std::collections::VecDeque;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, get, web};
use actix_web_lab::sse;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use utoipa::IntoParams;

use super::AppState;
use super::accounts::access;
use super::auth::Caller;
use crate::db;
use crate::db::events::{self, StoredEvent};
use crate::domain::presence::Change;
use crate::error::ApiError;

const KEEP_ALIVE: Duration = Duration::from_secs(15);
const COUNTERS_EVERY: Duration = Duration::from_secs(1);
/// A reconnecting client is told to wait this long.
const RETRY_MS: u64 = 3000;
/// How long a client may stay too far behind (a full queue, `--stream-queue` events) before it counts as too slow.
const SLOW_AFTER: Duration = Duration::from_secs(5);
/// At most this many waiting events are taken from the hub at one wake.
const BATCH_EVENTS: usize = 64;
/// The most events a reconnect replays; further behind, the client must reload (`resync`).
const MAX_REPLAY: i64 = 10_000;

/// One SSE event; actix-web-lab's responder writes it out (`id:`, `event:`, `data:`).
/// `data` is one line of JSON (serde_json never writes a raw newline).
pub fn frame(id: Option<i64>, event: &'static str, data: &impl serde::Serialize) -> sse::Event {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
    let data = sse::Data::new(data).event(event);
    match id {
        Some(id) => data.id(id.to_string()),
        None => data,
    }
    .into()
}

/// An event's frame on the operators' stream.
fn operator_frame(event: &StoredEvent) -> sse::Event {
    let name = match event.kind.as_str() {
        "read" => "read",
        "message" => "message",
        "delivery" => "delivery",
        "task" => "task",
        "mention" => "mention",
        _ => "dialog",
    };
    frame(Some(event.id), name, &event.payload)
}

/// A presence change's frame (R46): no id, it is not replayed.
fn presence_frame(change: &Change) -> sse::Event {
    frame(None, "presence", change)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Resume after this event id (the `Last-Event-ID` header wins when both are given).
    pub last_event_id: Option<String>,
}

fn last_event_id(req: &HttpRequest, query: &EventsQuery) -> Result<Option<i64>, ApiError> {
    let raw = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.last_event_id.clone());
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|id| *id >= 0)
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_last_event_id",
                    "Last-Event-ID: an event id this server sent",
                )
            }),
    }
}

/// The event stream as actix-web-lab's `sse` responder serves it: `retry:` first, a
/// `: keep-alive` comment when nothing was sent for `KEEP_ALIVE`, and the SSE headers.
fn sse_response<S>(req: &HttpRequest, events: S) -> HttpResponse
where
    S: futures_util::Stream<Item = sse::Event> + 'static,
{
    sse::Sse::from_infallible_stream(events)
        .with_retry_duration(Duration::from_millis(RETRY_MS))
        .with_keep_alive(KEEP_ALIVE)
        .customize()
        // Tells a buffering proxy in front (nginx) to pass each event on at once.
        .insert_header(("x-accel-buffering", "no"))
        .respond_to(req)
        .map_into_boxed_body()
}

/// The dashboards' stream: events fed through a queue by a task of its own; the permit
/// is held as long as the response.
fn queued_events(
    rx: mpsc::Receiver<sse::Event>,
    permit: StreamPermit,
) -> impl futures_util::Stream<Item = sse::Event> {
    futures_util::stream::unfold((rx, permit), |(mut rx, permit)| async move {
        rx.recv().await.map(|event| (event, (rx, permit)))
    })
}

fn too_many_streams() -> ApiError {
    ApiError::Unavailable("too many open event streams on this server; retry shortly".into())
}

/// Completes events with what the workstation shows of them, so a client updates in place
/// without asking again: a `dialog` event gets `row`, the dialog as `GET /dialogs` lists
/// it (without anyone's read mark: `unread` there says whether it has an inbound message,
/// each client compares `last_inbound_message_id` with its own `read_up_to`); a `message`
/// event gets `message`, as `GET /dialogs/{id}/messages` returns it. Several events of one
/// dialog in a batch carry its newest row. The hub runs this once per batch it publishes
/// (so a frame is still encoded once for every stream), and a replay runs it too.
pub fn enrich(
    conn: &mut diesel::PgConnection,
    events: &mut [StoredEvent],
) -> Result<(), db::DbError> {
    use std::collections::HashMap;
    let mut dialog_ids: Vec<i64> = events
        .iter()
        .filter(|e| e.kind == "dialog")
        .filter_map(|e| e.dialog_id)
        .collect();
    dialog_ids.sort_unstable();
    dialog_ids.dedup();
    let message_ids: Vec<i64> = events
        .iter()
        .filter(|e| e.kind == "message")
        .filter_map(|e| e.payload["message_id"].as_i64())
        .collect();
    if dialog_ids.is_empty() && message_ids.is_empty() {
        return Ok(());
    }
    let rows: HashMap<i64, Value> = db::dialog_list::rows_of(conn, &dialog_ids)?
        .iter()
        .map(|(row, count)| {
            let item = super::dialogs::item_of(row, *count);
            (
                row.dialog.id,
                serde_json::to_value(item).unwrap_or(Value::Null),
            )
        })
        .collect();
    let messages: HashMap<i64, Value> = db::messages::feed_items(conn, &message_ids)?
        .into_iter()
        .map(|feed| {
            let item = super::dialogs::message_item(feed);
            (item.id, serde_json::to_value(item).unwrap_or(Value::Null))
        })
        .collect();
    for event in events.iter_mut() {
        match event.kind.as_str() {
            "dialog" => {
                if let Some(row) = event.dialog_id.and_then(|id| rows.get(&id)) {
                    event.payload["row"] = row.clone();
                }
            }
            "message" => {
                let id = event.payload["message_id"].as_i64();
                if let Some(message) = id.and_then(|id| messages.get(&id)) {
                    event.payload["message"] = message.clone();
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The operator's event stream, resumable with `Last-Event-ID`. Each event carries what a
/// client needs to update in place, with no request of its own:
/// - `dialog`: `dialog_id`, `status`, `responsible_user_id`, `responsible_role_id`,
///   `title`, `interest_id`, `last_message_at`, `last_message_preview`,
///   `last_inbound_message_id`, `version`, and `row` — the dialog exactly as
///   `GET /dialogs` lists it (DialogItem) but without anyone's read mark (`read_up_to`
///   null; compare `last_inbound_message_id` with your own);
/// - `message`: `dialog_id`, `message_id`, `direction`, `system_kind`, `preview`, and
///   `message` — the message as `GET /dialogs/{id}/messages` returns it (MessageItem);
/// - `delivery`: `dialog_id`, `message_id`, `delivery` (`sent`, `delivered`, `read`,
///   `failed`), `error`;
/// - `read` (the caller's own marks, from any of their tabs): `dialog_id`,
///   `last_read_message_id`, `unread`;
/// - `counters`: `new`, `in_work`, `all` (dialogs with unread messages per section);
/// - `task`: a task of the caller changed;
/// - `resync`: the stream cannot resume from the given id: read everything again.
#[utoipa::path(
    tag = "events",
    params(EventsQuery),
    responses(
        (status = 200, description = "text/event-stream", content_type = "text/event-stream"),
        (status = 401, body = crate::error::ErrorBody),
        (status = 429, description = "the caller has as many streams open as a user or a credential may", body = crate::error::ErrorBody),
        (status = 503, description = "too many open streams", body = crate::error::ErrorBody),
    )
)]
#[get("/events")]
pub async fn operator_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    // The cap first: beyond it the answer must be fast, without a database round trip.
    let mut permit = StreamPermit::acquire(&state.streams, state.config.max_streams)
        .ok_or_else(too_many_streams)?;
    let caller = Caller::from_request(&req, &mut Payload::None).await?;
    permit.hold_for(&caller, &state.config)?;
    let last = last_event_id(&req, &query)?;
    // Subscribe before reading the backlog, so nothing falls between the two.
    let live = state.hub.subscribe();
    let presence = state.hub.presence().subscribe();
    let access = access(&state, &caller).await?;
    let viewer = Viewer {
        user_id: caller.user_id.0,
        token_id: token_id_of(&caller),
        visible: access.visible().into_iter().collect(),
    };
    let (backlog, newest, pruned) = match last {
        Some(after) => {
            db::run(&state.pool, move |conn| {
                let mut backlog = events::after(conn, after, MAX_REPLAY + 1)?;
                if backlog.len() as i64 <= MAX_REPLAY {
                    enrich(conn, &mut backlog)?;
                }
                Ok((
                    backlog,
                    events::latest_id(conn)?,
                    events::pruned_through(conn)?,
                ))
            })
            .await?
        }
        None => (Vec::new(), 0, 0),
    };
    let mut cursor = last.unwrap_or_else(|| state.hub.latest_id().max(0));
    // Too far behind, older than what retention kept, or an id this database never gave.
    let cannot_resume = last
        .is_some_and(|after| backlog.len() as i64 > MAX_REPLAY || after < pruned || after > newest);
    if cannot_resume {
        drop(permit);
        let resync = frame(
            None,
            "resync",
            &json!({"reason": "the stream cannot resume from that id; reload"}),
        );
        return Ok(sse_response(&req, futures_util::stream::iter([resync])));
    }
    let mut pending = VecDeque::with_capacity(backlog.len() + 1);
    for event in &backlog {
        cursor = event.id;
        if viewer.sees(event) {
            pending.push_back(operator_frame(event));
        }
    }
    let (counters, complete) = counters_of(
        &state,
        viewer.user_id,
        viewer.visible.iter().copied().collect(),
        cursor,
    )
    .await?;
    pending.push_back(frame(Some(cursor), "counters", &counters));
    let now = Instant::now();
    let follow = Follow {
        slow_behind: state.config.stream_queue.max(1),
        recheck_at: now + state.config.stream_recheck(),
        state: state.clone(),
        viewer,
        live,
        presence,
        pending,
        cursor,
        counters,
        dirty: !complete,
        counting: None,
        timer: Box::pin(tokio::time::sleep_until(
            now + state.config.stream_recheck(),
        )),
        counters_at: now,
        _permit: permit,
    };
    Ok(sse_response(
        &req,
        futures_util::stream::unfold(follow, |mut follow| async move {
            let event = follow.next_event().await?;
            Some((event, follow))
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn frames_carry_id_event_and_one_line_of_data() {
        let events = futures_util::stream::iter([
            frame(Some(7), "message", &json!({"text": "две\nстроки"})),
            frame(None, "resync", &json!({})),
        ]);
        let body = sse::Sse::from_infallible_stream(events);
        let bytes = actix_web::body::to_bytes(body).await.unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            "id: 7\nevent: message\ndata: {\"text\":\"две\\nстроки\"}\n\n\
             event: resync\ndata: {}\n\n"
        );
    }
}
