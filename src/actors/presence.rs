//! R46's transport: presence signals cross processes as PostgreSQL notifications on
//! [`CHANNEL`] — ephemeral, never a row of the `events` table. Every process's event pump
//! LISTENs to it beside the events' channel and hands each signal to this process's
//! [`Presence`], which applies it to its [`Board`] and fans what changed out to the
//! operators' streams through a broadcast ring of its own. A change is one shared
//! [`Notice`] whose SSE frame is made once, so a stream pays a visibility check and a
//! clone per change: O(1) per change per interested stream. Claims lapse on the pump's
//! clock (`expire`, once a second), in every process alike.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use actix_web_lab::sse;
use tokio::sync::broadcast;

use crate::domain::presence::{Board, Change, OperatorPresence, Signal, Viewer};

/// The notification channel presence signals travel on.
pub use crate::db::presence::CHANNEL;
/// How many changes a stream may fall behind; presence is best effort, a lagging stream
/// just skips ahead.
const CAPACITY: usize = 4096;

/// A change as every stream gets it.
#[derive(Debug)]
pub struct Notice {
    pub change: Change,
    frame: OnceLock<sse::Event>,
}

impl Notice {
    /// The change's SSE frame: made by the first stream that asks, shared after.
    pub fn frame(&self, make: impl FnOnce(&Change) -> sse::Event) -> sse::Event {
        self.frame.get_or_init(|| make(&self.change)).clone()
    }
}

/// This process's view of everyone's presence.
#[derive(Debug)]
pub struct Presence {
    board: Mutex<Board>,
    tx: broadcast::Sender<Arc<Notice>>,
}

impl Default for Presence {
    fn default() -> Self {
        Self {
            board: Mutex::new(Board::default()),
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Presence {
    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A signal as the notification carried it (JSON of [`Signal`]); a payload that is
    /// not one is ignored.
    pub fn receive(&self, payload: &str) {
        let signal: Signal = match serde_json::from_str(payload) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(error = %error, "a presence notification that is not a signal; ignored");
                return;
            }
        };
        let change = self.board().apply(&signal, Instant::now());
        if let Some(change) = change {
            self.publish(change);
        }
    }

    /// Lapses what is due.
    pub fn expire(&self, now: Instant) {
        let changes = self.board().expire(now);
        for change in changes {
            self.publish(change);
        }
    }

    fn publish(&self, change: Change) {
        // No subscribers is not an error.
        let _ = self.tx.send(Arc::new(Notice {
            change,
            frame: OnceLock::new(),
        }));
    }

    /// A receiver of every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Notice>> {
        self.tx.subscribe()
    }

    /// Who is in the dialogs of the accounts `visible` admits.
    pub fn viewers(&self, visible: impl Fn(i64) -> bool) -> Vec<Viewer> {
        self.board().viewers(visible)
    }

    /// Every operator heard lately, with their availability.
    pub fn operators(&self) -> Vec<OperatorPresence> {
        self.board().operators(Instant::now())
    }
}
