//! The operator's stream once it is live: who watches (`Viewer`: rights, counters) and
//! the body that follows the hub (`Follow`).

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;

use actix_web::web;
use actix_web_lab::sse;
use chrono::Utc;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use super::*;
use crate::actors::presence::Notice;
use crate::actors::{Audience, Published};
use crate::db::events::StoredEvent;
use crate::db::{self, tokens};
use crate::domain::presence::Change;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::dto::Counters;

/// What the operator's stream needs to decide what to send.
pub(super) struct Viewer {
    pub(super) user_id: i64,
    pub(super) token_id: i64,
    pub(super) visible: HashSet<i64>,
}

impl Viewer {
    /// Whether this user may see the event. What they see does not depend on who they
    /// are ([`operator_frame`]), so one frame serves every stream.
    pub(super) fn sees(&self, event: &StoredEvent) -> bool {
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
    pub(super) fn sees_presence(&self, change: &Change) -> bool {
        change.user_id != self.user_id && self.visible.contains(&change.account_id)
    }

    /// Re-reads the session's liveness and the user's rights; false when the stream must
    /// end (session revoked or expired, user disabled, database unreachable).
    pub(super) async fn refresh(&mut self, state: &AppState, forced: bool) -> bool {
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
    pub(super) async fn refresh_rights(&mut self, state: &AppState, event_id: i64) -> bool {
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
    pub(super) fn moves_counters(&self, event: &StoredEvent) -> bool {
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

/// Queues a frame for the client; false when the client is gone or does not read. A
/// client that leaves its queue full for `SLOW_AFTER` is cut off (it reconnects and
/// replays) rather than have events held for it. The usual case — room in the queue —
/// costs no timer.
pub(super) async fn deliver(tx: &mpsc::Sender<sse::Event>, event: sse::Event) -> bool {
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
pub(super) struct Follow {
    pub(super) state: web::Data<AppState>,
    pub(super) viewer: Viewer,
    pub(super) live: broadcast::Receiver<Arc<Published>>,
    /// R46: who views and types where (ephemeral, never replayed).
    pub(super) presence: broadcast::Receiver<Arc<Notice>>,
    /// Events taken and not yet handed to the responder: first the replay and the
    /// counters, then each batch taken from the hub.
    pub(super) pending: VecDeque<sse::Event>,
    pub(super) cursor: i64,
    /// The counters last sent.
    pub(super) counters: Counters,
    /// Something that may move the counters arrived since they were last sent.
    pub(super) dirty: bool,
    /// Counters being counted beside the stream, so events never wait for that query.
    pub(super) counting: Option<oneshot::Receiver<Result<Counters, ApiError>>>,
    /// One timer for the counters' next turn and the access re-check (the keep-alive is
    /// the responder's).
    pub(super) timer: Pin<Box<tokio::time::Sleep>>,
    pub(super) counters_at: Instant,
    pub(super) recheck_at: Instant,
    /// A client this many events behind for `SLOW_AFTER` is cut off.
    pub(super) slow_behind: usize,
    pub(super) _permit: StreamPermit,
}

/// What woke a stream.
pub(super) enum Woke {
    Event(Result<Arc<Published>, broadcast::error::RecvError>),
    Presence(Result<Arc<Notice>, broadcast::error::RecvError>),
    Timer,
    Counted(Result<Result<Counters, ApiError>, oneshot::error::RecvError>),
}

impl Follow {
    /// The next event for the client; `None` ends the stream (the client left or fell
    /// behind, lost access, or the hub stopped: it reconnects and replays).
    pub(super) async fn next_event(&mut self) -> Option<sse::Event> {
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
    pub(super) async fn events(&mut self, first: Arc<Published>) -> Option<()> {
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
    pub(super) async fn timers(&mut self) -> Option<()> {
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
