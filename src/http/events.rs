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

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, get, web};
use actix_web_lab::sse;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;
use utoipa::IntoParams;

use super::AppState;
use super::accounts::access;
use super::auth::{Caller, Credential, MonitorCaller};
use super::dto::Counters;
use crate::actors::presence::Notice;
use crate::actors::{Audience, Published};
use crate::db::events::{self, StoredEvent};
use crate::db::{self, monitor, tokens};
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

/// Open streams of this process, against the configured caps: all of them, and each
/// user's and each credential's (so one credential cannot take every stream).
#[derive(Debug, Default)]
pub struct StreamCount {
    all: AtomicUsize,
    /// Open streams per user id and per credential (token) id.
    held: std::sync::Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    per_user: std::collections::HashMap<i64, usize>,
    per_token: std::collections::HashMap<i64, usize>,
}

impl StreamCount {
    pub fn open(&self) -> usize {
        self.all.load(Ordering::Relaxed)
    }
}

/// Holds one stream's place under the caps; gives it back when the stream ends.
struct StreamPermit {
    count: Arc<StreamCount>,
    /// The user and credential it counts against, once the caller is known.
    holder: Option<(i64, i64)>,
}

impl StreamPermit {
    fn acquire(count: &Arc<StreamCount>, cap: usize) -> Option<Self> {
        let previous = count.all.fetch_add(1, Ordering::AcqRel);
        if previous >= cap {
            count.all.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        metrics::gauge!("sse_streams").set((previous + 1) as f64);
        Some(Self {
            count: Arc::clone(count),
            holder: None,
        })
    }

    /// Counts the stream against its user's and its credential's caps; refused (429,
    /// saying which cap) when either is reached.
    fn hold_for(
        &mut self,
        caller: &Caller,
        config: &crate::config::Config,
    ) -> Result<(), ApiError> {
        let (user, token) = (caller.user_id.0, token_id_of(caller));
        let mut held = self.count.held.lock().unwrap_or_else(|p| p.into_inner());
        let by_user = held.per_user.get(&user).copied().unwrap_or(0);
        let by_token = held.per_token.get(&token).copied().unwrap_or(0);
        if by_token >= config.max_streams_per_token {
            return Err(ApiError::TooManyStreams {
                code: "too_many_streams_for_token",
                message: format!(
                    "this session or API token has {by_token} event streams open, as many as one may (--max-streams-per-token); close one first"
                ),
            });
        }
        if by_user >= config.max_streams_per_user {
            return Err(ApiError::TooManyStreams {
                code: "too_many_streams_for_user",
                message: format!(
                    "this user has {by_user} event streams open, as many as one user may (--max-streams-per-user); close one first"
                ),
            });
        }
        *held.per_user.entry(user).or_default() += 1;
        *held.per_token.entry(token).or_default() += 1;
        self.holder = Some((user, token));
        Ok(())
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        if let Some((user, token)) = self.holder {
            let mut held = self.count.held.lock().unwrap_or_else(|p| p.into_inner());
            let held = &mut *held;
            for (map, key) in [(&mut held.per_user, user), (&mut held.per_token, token)] {
                if let std::collections::hash_map::Entry::Occupied(mut entry) = map.entry(key) {
                    *entry.get_mut() -= 1;
                    if *entry.get() == 0 {
                        entry.remove();
                    }
                }
            }
        }
        let now = self.count.all.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!("sse_streams").set(now as f64);
    }
}

/// The id of the session or API token a caller came with.
fn token_id_of(caller: &Caller) -> i64 {
    match &caller.credential {
        Credential::Session { token_id, .. } | Credential::ApiToken { token_id, .. } => *token_id,
    }
}

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

/// What the operator's stream needs to decide what to send.
struct Viewer {
    user_id: i64,
    token_id: i64,
    visible: HashSet<i64>,
}

impl Viewer {
    /// Whether this user may see the event. What they see does not depend on who they
    /// are ([`operator_frame`]), so one frame serves every stream.
    fn sees(&self, event: &StoredEvent) -> bool {
        match event.kind.as_str() {
            "message" | "dialog" | "delivery" => {
                event.account_id.is_some_and(|a| self.visible.contains(&a))
            }
            "read" | "task" | "mention" => event.user_id == Some(self.user_id),
            _ => false,
        }
    }

    /// Whether this user is told of a presence change: someone else, in a dialog of an
    /// account they may see.
    fn sees_presence(&self, change: &Change) -> bool {
        change.user_id != self.user_id && self.visible.contains(&change.account_id)
    }

    /// Re-reads the session's liveness and the user's rights; false when the stream must
    /// end (session revoked or expired, user disabled, database unreachable).
    async fn refresh(&mut self, state: &AppState, forced: bool) -> bool {
        let (token_id, user_id) = (self.token_id, self.user_id);
        // The periodic re-check of one credential's streams (tabs, devices) is shared.
        if !forced && let Some(visible) = state.recheck_cache.recent(token_id) {
            return match visible {
                Some(visible) => {
                    self.visible = visible.into_iter().collect();
                    true
                }
                None => false,
            };
        }
        let checked = db::run(&state.pool, move |conn| {
            if !tokens::is_live(conn, token_id, Utc::now())? {
                return Ok(None);
            }
            Ok(Some(db::accounts::access_of(conn, user_id)?))
        })
        .await;
        let visible = match checked {
            Ok(Some(access)) => Some(access.visible()),
            Ok(None) => None,
            // The database is away: end the stream, the client reconnects and replays.
            Err(_) => return false,
        };
        state.recheck_cache.store(token_id, visible.clone());
        match visible {
            Some(visible) => {
                self.visible = visible.into_iter().collect();
                true
            }
            None => false,
        }
    }

    /// Re-reads only what this user may see, after the `access` event `event_id` (an
    /// account's grants changed; the credential did not). The user's streams share one
    /// read through `http::known`, so a grant change costs a query per user, not per
    /// stream. False when the database is away (the stream ends, the client reconnects).
    async fn refresh_rights(&mut self, state: &AppState, event_id: i64) -> bool {
        let user_id = self.user_id;
        let rights = match state.known.rights_since(user_id, event_id) {
            Some(rights) => rights,
            None => {
                let ticket = state.known.ticket();
                let read = db::run(&state.pool, move |conn| {
                    db::accounts::access_of(conn, user_id)
                })
                .await;
                let Ok(rights) = read else {
                    return false;
                };
                let rights = Arc::new(rights);
                state
                    .known
                    .keep_rights(ticket, user_id, Arc::clone(&rights));
                rights
            }
        };
        let visible = rights.visible();
        state.recheck_cache.revise(self.token_id, &visible);
        self.visible = visible.into_iter().collect();
        true
    }

    /// Whether the event may move this user's counters.
    fn moves_counters(&self, event: &StoredEvent) -> bool {
        match event.kind.as_str() {
            "message" => {
                event.payload["direction"] == "in"
                    && self.visible.contains(&event.account_id.unwrap_or(0))
            }
            "dialog" => self.visible.contains(&event.account_id.unwrap_or(0)),
            "read" => event.user_id == Some(self.user_id),
            _ => false,
        }
    }
}

/// The periodic re-checks of each credential made in the last few seconds: what its user
/// may see, or `None` when the credential is no longer live. An `access` event forces a
/// fresh read, so a change is never served from here.
#[derive(Debug, Default)]
pub struct RecheckCache(std::sync::Mutex<std::collections::HashMap<i64, Rechecked>>);

/// When a credential was re-checked, and what its user may see (`None`: not live).
type Rechecked = (std::time::Instant, Option<Vec<i64>>);

/// How long one credential's re-check serves its other streams.
const RECHECK_SHARED: Duration = Duration::from_secs(5);

impl RecheckCache {
    fn recent(&self, token_id: i64) -> Option<Option<Vec<i64>>> {
        let cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&token_id)
            .filter(|(at, _)| at.elapsed() < RECHECK_SHARED)
            .map(|(_, visible)| visible.clone())
    }

    /// Replaces what a live credential's recent re-check found its user may see (rights
    /// re-read after a grant change), so the re-check does not bring back the old rights.
    fn revise(&self, token_id: i64, visible: &[i64]) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, Some(kept))) = cache.get_mut(&token_id) {
            *kept = visible.to_vec();
        }
    }

    fn store(&self, token_id: i64, visible: Option<Vec<i64>>) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < RECHECK_SHARED);
        }
        cache.insert(token_id, (std::time::Instant::now(), visible));
    }
}

/// Counters computed recently for each user, shared by that user's streams (several
/// tabs, several devices): (newest event id they include, when, the counters).
#[derive(Debug, Default)]
pub struct CountersCache(
    std::sync::Mutex<std::collections::HashMap<i64, (i64, std::time::Instant, Counters)>>,
);

/// What the cache holds for a user's stream at `cursor`.
enum Cached {
    /// Counted this second and including the stream's events.
    Current(Counters),
    /// Counted (or being counted) this second, before some of the stream's events: use
    /// it and ask again next second. So a user's counters are counted at most once a
    /// second, however many streams and events they have.
    Recent(Counters),
    /// Count now (this stream's turn; the others wait for it).
    Due,
}

impl CountersCache {
    fn lookup(&self, user_id: i64, cursor: i64) -> Cached {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get_mut(&user_id) {
            Some((seen, at, value)) if at.elapsed() < COUNTERS_EVERY => {
                if *seen >= cursor {
                    Cached::Current(*value)
                } else {
                    Cached::Recent(*value)
                }
            }
            Some((seen, at, _)) => {
                // Claim the count: the others use the old value meanwhile.
                *seen = -1;
                *at = std::time::Instant::now();
                Cached::Due
            }
            _ => Cached::Due,
        }
    }

    fn store(&self, user_id: i64, cursor: i64, value: Counters) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (_, at, _)| at.elapsed() < COUNTERS_EVERY);
        }
        cache.insert(user_id, (cursor, std::time::Instant::now(), value));
    }
}

/// The user's counters for a stream at event `cursor`, and whether they include it (when
/// not, the stream asks again next second): from the cache when another of their streams
/// counted this second, else from the database.
async fn counters_of(
    state: &AppState,
    user_id: i64,
    visible: Vec<i64>,
    cursor: i64,
) -> Result<(Counters, bool), ApiError> {
    match state.counters_cache.lookup(user_id, cursor) {
        Cached::Current(value) => Ok((value, true)),
        Cached::Recent(value) => Ok((value, false)),
        Cached::Due => Ok((count_now(state, user_id, visible, cursor).await?, true)),
    }
}

/// Counts the user's counters in the database and leaves them for their other streams.
async fn count_now(
    state: &AppState,
    user_id: i64,
    visible: Vec<i64>,
    cursor: i64,
) -> Result<Counters, ApiError> {
    // Read the cursor the hub has reached before counting, so the value includes it.
    let reached = state.hub.latest_id().max(cursor);
    let counters = super::dialogs::counters_of(state, user_id, visible, reached).await?;
    state.counters_cache.store(user_id, reached, counters);
    Ok(counters)
}

/// A `counters` frame when the value changed (labelled with the stream's place:
/// resuming from it loses nothing).
fn counters_frame(counters: &mut Counters, now: Counters, cursor: i64) -> Option<sse::Event> {
    (now != *counters).then(|| {
        *counters = now;
        frame(Some(cursor), "counters", &now)
    })
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

/// Queues a frame for the client; false when the client is gone or does not read. A
/// client that leaves its queue full for `SLOW_AFTER` is cut off (it reconnects and
/// replays) rather than have events held for it. The usual case — room in the queue —
/// costs no timer.
async fn deliver(tx: &mpsc::Sender<sse::Event>, event: sse::Event) -> bool {
    match tx.try_send(event) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Closed(_)) => false,
        Err(mpsc::error::TrySendError::Full(event)) => matches!(
            tokio::time::timeout(SLOW_AFTER, tx.send(event)).await,
            Ok(Ok(()))
        ),
    }
}

/// One operator's live stream, polled as the response body itself: no task and no queue
/// of its own. The hub's broadcast is the queue, and the client's reading paces the
/// polls: an event is taken only when the connection can take it, and whatever waited
/// meanwhile is taken with it (up to `BATCH_EVENTS`), so the writer fills one buffer.
struct Follow {
    state: web::Data<AppState>,
    viewer: Viewer,
    live: broadcast::Receiver<Arc<Published>>,
    /// R46: who views and types where (ephemeral, never replayed).
    presence: broadcast::Receiver<Arc<Notice>>,
    /// Events taken and not yet handed to the responder: first the replay and the
    /// counters, then each batch taken from the hub.
    pending: VecDeque<sse::Event>,
    cursor: i64,
    /// The counters last sent.
    counters: Counters,
    /// Something that may move the counters arrived since they were last sent.
    dirty: bool,
    /// Counters being counted beside the stream, so events never wait for that query.
    counting: Option<oneshot::Receiver<Result<Counters, ApiError>>>,
    /// One timer for the counters' next turn and the access re-check (the keep-alive is
    /// the responder's).
    timer: Pin<Box<tokio::time::Sleep>>,
    counters_at: Instant,
    recheck_at: Instant,
    /// A client this many events behind for `SLOW_AFTER` is cut off.
    slow_behind: usize,
    _permit: StreamPermit,
}

/// What woke a stream.
enum Woke {
    Event(Result<Arc<Published>, broadcast::error::RecvError>),
    Presence(Result<Arc<Notice>, broadcast::error::RecvError>),
    Timer,
    Counted(Result<Result<Counters, ApiError>, oneshot::error::RecvError>),
}

impl Follow {
    /// The next event for the client; `None` ends the stream (the client left or fell
    /// behind, lost access, or the hub stopped: it reconnects and replays).
    async fn next_event(&mut self) -> Option<sse::Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let mut wake = self.recheck_at;
            if self.dirty && self.counting.is_none() {
                wake = wake.min(self.counters_at);
            }
            // Re-arm only for an earlier wake or once the timer has fired: re-arming per
            // event would cost every stream a trip to the timer wheel per event. A timer
            // that fires early finds nothing due and is re-armed then.
            let deadline = self.timer.deadline();
            if wake < deadline || deadline <= Instant::now() {
                self.timer.as_mut().reset(wake);
            }
            let woke = tokio::select! {
                received = self.live.recv() => Woke::Event(received),
                notice = self.presence.recv() => Woke::Presence(notice),
                () = self.timer.as_mut() => Woke::Timer,
                result = async {
                    match self.counting.as_mut() {
                        Some(rx) => rx.await,
                        None => std::future::pending().await,
                    }
                }, if self.counting.is_some() => Woke::Counted(result),
            };
            match woke {
                Woke::Event(received) => self.events(received.ok()?).await?,
                Woke::Presence(Ok(notice)) => {
                    if self.viewer.sees_presence(&notice.change) {
                        self.pending.push_back(notice.frame(presence_frame));
                    }
                }
                // Presence is best effort: a stream that fell behind skips ahead.
                Woke::Presence(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Woke::Presence(Err(broadcast::error::RecvError::Closed)) => return None,
                Woke::Timer => self.timers().await?,
                Woke::Counted(result) => {
                    self.counting = None;
                    if let Ok(Ok(now)) = result {
                        self.pending
                            .extend(counters_frame(&mut self.counters, now, self.cursor));
                    }
                }
            }
        }
    }

    /// Takes this event and whatever else is already waiting into `pending` (nothing
    /// when none of it is for this user); `None` ends the stream.
    async fn events(&mut self, first: Arc<Published>) -> Option<()> {
        // Behind by a queue's worth of events for `SLOW_AFTER`: too slow, cut off.
        if self.live.len() >= self.slow_behind && first.at.elapsed() >= SLOW_AFTER {
            return None;
        }
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(event) = next.take() {
            taken += 1;
            if event.id > self.cursor {
                self.cursor = event.id;
                if matches!(event.kind.as_str(), "access" | "credentials") {
                    // Rights or credentials changed: re-read what this stream depends
                    // on before the next event.
                    let this_user = event.user_id == Some(self.viewer.user_id);
                    let refreshed = if this_user {
                        // This user changed (disabled, roles) or lost a credential:
                        // their own streams check theirs is still live.
                        Box::pin(self.viewer.refresh(&self.state, true)).await
                    } else if event.kind == "access" && event.user_id.is_none() {
                        // An account's grants: everyone's rights, shared per user.
                        Box::pin(self.viewer.refresh_rights(&self.state, event.id)).await
                    } else {
                        // Another user's change.
                        true
                    };
                    if !refreshed {
                        return None;
                    }
                    self.dirty = true;
                } else {
                    self.dirty |= self.viewer.moves_counters(&event);
                    if self.viewer.sees(&event) {
                        self.pending
                            .push_back(event.frame(Audience::Operators, operator_frame));
                    }
                }
            }
            if taken < BATCH_EVENTS {
                next = match self.live.try_recv() {
                    Ok(event) => Some(event),
                    Err(broadcast::error::TryRecvError::Empty) => None,
                    Err(_) => return None,
                };
            }
        }
        Some(())
    }

    /// Whatever the timer found due: the access re-check, the counters.
    async fn timers(&mut self) -> Option<()> {
        let now = Instant::now();
        if now >= self.recheck_at {
            self.recheck_at = now + self.state.config.stream_recheck();
            // Boxed: a rare await should not grow every stream's resting state.
            if !Box::pin(self.viewer.refresh(&self.state, false)).await {
                return None;
            }
            self.dirty = true;
            return Some(());
        }
        if self.dirty && self.counting.is_none() && now >= self.counters_at {
            self.counters_at = now + COUNTERS_EVERY;
            self.dirty = false;
            match self
                .state
                .counters_cache
                .lookup(self.viewer.user_id, self.cursor)
            {
                Cached::Current(value) => {
                    self.pending
                        .extend(counters_frame(&mut self.counters, value, self.cursor))
                }
                Cached::Recent(value) => {
                    self.dirty = true;
                    self.pending
                        .extend(counters_frame(&mut self.counters, value, self.cursor));
                }
                Cached::Due => {
                    let visible = self.viewer.visible.iter().copied().collect();
                    let (state, user_id, cursor) =
                        (self.state.clone(), self.viewer.user_id, self.cursor);
                    let (tx, rx) = oneshot::channel();
                    self.counting = Some(rx);
                    actix_web::rt::spawn(async move {
                        let _ = tx.send(count_now(&state, user_id, visible, cursor).await);
                    });
                }
            }
        }
        Some(())
    }
}

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
async fn follow_monitor(
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
