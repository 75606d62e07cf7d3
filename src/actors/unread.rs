//! The section counters kept from the event log (R14): one task follows the hub and
//! folds every `dialog` and `read` event into a `domain::unread::Tally`; asking for a
//! user's counters is then a lookup instead of a count over every active dialog.
//!
//! Consistency: the tracked dialogs are read in one snapshot together with the newest
//! event it includes, and only later events are applied, so none is lost or counted
//! twice. A user's read marks are read once, when their counters are first asked for;
//! their `read` events that arrive meanwhile are held and folded in after. A caller
//! names the newest event its answer must include (`at_least`) and waits until the task
//! has applied it. If the task falls behind the hub it reads everything afresh; a caller
//! who cannot be answered within `WAIT` gets `None` and counts in the database instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix::ArbiterHandle;
use tokio::sync::{broadcast, watch};

use super::{Hub, Published};
use crate::db::{self, DbPool, dialog_list};
use crate::domain::dialog::DialogStatus;
use crate::domain::unread::{SectionCounts, Tally};

/// How long a caller waits for the task to reach the event it names.
const WAIT: Duration = Duration::from_secs(2);
/// A user's counters stop being kept when nobody asked for them this long.
const IDLE: Duration = Duration::from_secs(600);
/// How often idle users are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The counters keeper; cheap to clone.
#[derive(Clone)]
pub struct UnreadKeeper {
    shared: Arc<Shared>,
}

struct Shared {
    pool: DbPool,
    state: Mutex<State>,
    /// The newest event applied; -1 while the tracked dialogs are being read.
    applied: watch::Sender<i64>,
    /// One user's marks are read at a time, so `State::loading` holds one user.
    loads: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    tally: Tally,
    /// Counts the readings of the tracked dialogs: marks read across one are dropped.
    epoch: u64,
    /// The user whose marks are being read, and their `read` events meanwhile.
    loading: Option<(i64, Vec<(i64, i64)>)>,
    /// When each kept user last asked.
    asked: HashMap<i64, Instant>,
}

impl UnreadKeeper {
    /// Starts following `hub` on `arbiter`.
    pub fn start(pool: DbPool, hub: &Hub, arbiter: &ArbiterHandle) -> Self {
        let keeper = UnreadKeeper {
            shared: Arc::new(Shared {
                pool,
                state: Mutex::default(),
                applied: watch::Sender::new(-1),
                loads: tokio::sync::Mutex::new(()),
            }),
        };
        let shared = Arc::clone(&keeper.shared);
        let events = hub.subscribe();
        arbiter.spawn(async move { follow(shared, events).await });
        keeper
    }

    /// A user's counters over `visible` accounts, including every event up to
    /// `at_least`; `None` when they cannot be had in time (count them in the database).
    pub async fn counters(
        &self,
        user_id: i64,
        visible: &[i64],
        at_least: i64,
    ) -> Option<SectionCounts> {
        let shared = &self.shared;
        let mut applied = shared.applied.subscribe();
        let reached = applied.wait_for(|&id| id >= at_least.max(0));
        tokio::time::timeout(WAIT, reached).await.ok()?.ok()?;
        if let Some(counts) = shared.lock().ask(user_id, visible) {
            return Some(counts);
        }
        let _turn = tokio::time::timeout(WAIT, shared.loads.lock()).await.ok()?;
        let epoch = {
            let mut state = shared.lock();
            if let Some(counts) = state.ask(user_id, visible) {
                return Some(counts);
            }
            state.loading = Some((user_id, Vec::new()));
            state.epoch
        };
        let marks = db::run(&shared.pool, move |conn| {
            dialog_list::read_marks(conn, user_id)
        })
        .await;
        let mut state = shared.lock();
        let held = state
            .loading
            .take()
            .map(|(_, held)| held)
            .unwrap_or_default();
        let marks = match marks {
            Ok(marks) if state.epoch == epoch => marks,
            Ok(_) => return None,
            Err(error) => {
                tracing::warn!(error = %error, "cannot read the read marks for the counters");
                return None;
            }
        };
        state
            .tally
            .add_reader(user_id, marks.into_iter().chain(held));
        state.ask(user_id, visible)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn ask(&mut self, user_id: i64, visible: &[i64]) -> Option<SectionCounts> {
        let counts = self.tally.counts(user_id, visible)?;
        self.asked.insert(user_id, Instant::now());
        Some(counts)
    }

    fn apply(&mut self, event: &Published) {
        let payload = &event.payload;
        match (event.kind.as_str(), event.dialog_id) {
            ("dialog", Some(dialog_id)) => {
                let (Some(account_id), Some(status)) = (
                    event.account_id,
                    payload["status"].as_str().and_then(DialogStatus::parse),
                ) else {
                    return;
                };
                let last_inbound = payload["last_inbound_message_id"].as_i64();
                let responsible = payload["responsible_user_id"].as_i64();
                self.tally
                    .set_dialog(dialog_id, account_id, status, responsible, last_inbound);
            }
            ("read", Some(dialog_id)) => {
                let (Some(user_id), Some(up_to)) =
                    (event.user_id, payload["last_read_message_id"].as_i64())
                else {
                    return;
                };
                self.tally.mark_read(user_id, dialog_id, up_to);
                if let Some((loading, held)) = &mut self.loading
                    && *loading == user_id
                {
                    held.push((dialog_id, up_to));
                }
            }
            _ => {}
        }
    }

    /// Stops keeping the counters of users who have not asked for a while.
    fn sweep(&mut self) {
        let tally = &mut self.tally;
        self.asked.retain(|&user_id, at| {
            let keep = at.elapsed() < IDLE;
            if !keep {
                tally.remove_reader(user_id);
            }
            keep
        });
    }
}

/// Reads the tracked dialogs, then applies every later event; reads afresh when it fell
/// behind the hub or the database failed.
async fn follow(shared: Arc<Shared>, mut events: broadcast::Receiver<Arc<Published>>) {
    loop {
        shared.applied.send_replace(-1);
        let through = match db::run(&shared.pool, dialog_list::tracked_dialogs).await {
            Ok((through, tracked)) => {
                let mut state = shared.lock();
                state.tally = Tally::new(tracked);
                state.asked.clear();
                state.epoch += 1;
                through
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot read the dialogs for the counters; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        shared.applied.send_replace(through);
        let mut swept = Instant::now();
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "the counters fell behind the events; reading afresh"
                    );
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let mut newest = None;
            let mut behind = false;
            {
                let mut state = shared.lock();
                // Whatever else is already waiting goes in under the same lock.
                let mut next = Some(event);
                while let Some(event) = next {
                    if event.id > through {
                        state.apply(&event);
                        newest = Some(event.id);
                    }
                    next = match events.try_recv() {
                        Ok(event) => Some(event),
                        Err(broadcast::error::TryRecvError::Lagged(_)) => {
                            behind = true;
                            None
                        }
                        Err(_) => None,
                    };
                }
                if swept.elapsed() > SWEEP_EVERY {
                    state.sweep();
                    swept = Instant::now();
                }
            }
            if behind {
                tracing::warn!("the counters fell behind the events; reading afresh");
                break;
            }
            if let Some(id) = newest {
                shared.applied.send_replace(id);
            }
        }
    }
}
