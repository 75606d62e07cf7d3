//! The event hub: one pump per process reads committed events from the `events` table in
//! id order and fans them out to this process's subscribers (SSE streams).
//!
//! Why read the table rather than pass events in memory: it is the one path that serves
//! every writer alike — this process's actors and every other process on the database.
//! Writers `NOTIFY dialogi_events` in the transaction that appends (delivered at commit);
//! the pump LISTENs on its own connection, and on a notification (or once a second, in
//! case one was lost across a reconnect) reads `WHERE id > last ORDER BY id`. Event ids
//! are in commit order (see `db::events`), so this never skips one.
//!
//! Fan-out is a `tokio::sync::broadcast` ring: a subscriber that falls behind gets
//! `Lagged` and is cut off (it reconnects and replays from the table); it never slows the
//! pump, the writers or the other subscribers. Each event travels as one shared
//! [`Published`], which keeps its SSE event once the first stream has made it, so ten
//! thousand streams serialize an event's JSON once, not ten thousand times (actix-web-lab's
//! responder then only frames that text for each stream).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web_lab::sse;
use diesel::{Connection, PgConnection, RunQueryDsl};
use tokio::sync::broadcast;

use super::presence::{self, Presence};
use crate::db::events::{self, StoredEvent};

/// How often the pump looks for notifications.
const POLL: Duration = Duration::from_millis(2);
/// How often it reads the table even without a notification.
const SWEEP: Duration = Duration::from_secs(1);
/// How often presence claims are lapsed (R46).
const EXPIRE_EVERY: Duration = Duration::from_secs(1);
const RECONNECT: Duration = Duration::from_secs(1);
const BATCH: i64 = 1000;
/// How often the pump applies the events' retention.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// A committed event as the hub hands it to every subscriber.
#[derive(Debug)]
pub struct Published {
    pub event: StoredEvent,
    /// When this process received it: how long a stream has left it waiting.
    pub at: std::time::Instant,
    frames: [OnceLock<sse::Event>; 2],
}

/// Who a frame is for: operators and dashboards get different frames of one event.
#[derive(Debug, Clone, Copy)]
pub enum Audience {
    Operators = 0,
    Dashboards = 1,
}

impl Published {
    pub fn new(event: StoredEvent) -> Self {
        Self {
            event,
            at: std::time::Instant::now(),
            frames: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// The event as `audience` gets it (name, id, its payload serialized): made by the
    /// first subscriber that asks, shared after; a clone shares the serialized text.
    pub fn frame(
        &self,
        audience: Audience,
        make: impl FnOnce(&StoredEvent) -> sse::Event,
    ) -> sse::Event {
        self.frames[audience as usize]
            .get_or_init(|| make(&self.event))
            .clone()
    }
}

impl std::ops::Deref for Published {
    type Target = StoredEvent;

    fn deref(&self) -> &StoredEvent {
        &self.event
    }
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    tx: broadcast::Sender<Arc<Published>>,
    /// The newest event id published.
    latest: AtomicI64,
    /// When the pump last finished reading the table, in milliseconds after `born`.
    read_at: AtomicU64,
    born: Instant,
    stop: AtomicBool,
    /// R46: the presence signals the pump hears beside the events.
    presence: Arc<Presence>,
}

/// Completes a batch of events before it is published (the payloads the operators'
/// streams carry: a dialog's list row, a message as the feed shows it), on the pump's
/// connection. A failure publishes the events as they are.
pub type Enricher = Arc<
    dyn Fn(&mut PgConnection, &mut [StoredEvent]) -> Result<(), crate::db::DbError> + Send + Sync,
>;

impl Hub {
    /// Starts the pump on a thread of its own, with its own connection to `database_url`.
    /// `capacity` is how many events a subscriber may fall behind before it is cut off.
    pub fn start(database_url: String, capacity: usize, retention: Duration) -> Hub {
        Self::start_with(database_url, capacity, retention, None)
    }

    /// As [`Hub::start`], with each batch completed by `enrich` before it is published.
    pub fn start_with(
        database_url: String,
        capacity: usize,
        retention: Duration,
        enrich: Option<Enricher>,
    ) -> Hub {
        let (tx, _) = broadcast::channel(capacity.max(16));
        let inner = Arc::new(Inner {
            tx,
            latest: AtomicI64::new(-1),
            read_at: AtomicU64::new(0),
            born: Instant::now(),
            stop: AtomicBool::new(false),
            presence: Arc::default(),
        });
        let pump = Arc::clone(&inner);
        let spawned = std::thread::Builder::new()
            .name("event-pump".into())
            .spawn(move || run_pump(&pump, &database_url, retention, enrich.as_ref()));
        if let Err(error) = spawned {
            tracing::error!(error = %error, "cannot start the event pump; no live events");
        }
        Hub { inner }
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.inner.tx.subscribe()
    }

    /// How many subscribers are connected.
    pub fn subscribers(&self) -> usize {
        self.inner.tx.receiver_count()
    }

    /// The newest event id published (-1 before the pump's first read).
    pub fn latest_id(&self) -> i64 {
        self.inner.latest.load(Ordering::Acquire)
    }

    /// Whether the pump has read the table within `age`: what this process remembers
    /// because no event said otherwise may be trusted only while this holds.
    pub fn read_within(&self, age: Duration) -> bool {
        let read_at = self.inner.read_at.load(Ordering::Acquire);
        read_at > 0 && Duration::from_millis(read_at) + age >= self.inner.born.elapsed()
    }

    /// Everyone's presence as this process hears it (R46).
    pub fn presence(&self) -> &Arc<Presence> {
        &self.inner.presence
    }

    /// Stops the pump (the server is stopping).
    pub fn shutdown(&self) {
        self.inner.stop.store(true, Ordering::Release);
    }
}

fn run_pump(inner: &Inner, database_url: &str, retention: Duration, enrich: Option<&Enricher>) {
    let mut last: Option<i64> = None;
    while !inner.stop.load(Ordering::Acquire) {
        let mut conn = match PgConnection::establish(database_url) {
            Ok(conn) => conn,
            Err(error) => {
                tracing::warn!(error = %error, "event pump cannot connect; retrying");
                std::thread::sleep(RECONNECT);
                continue;
            }
        };
        let listened = diesel::sql_query(format!("LISTEN {}", events::CHANNEL))
            .execute(&mut conn)
            .and_then(|_| {
                diesel::sql_query(format!("LISTEN {}", presence::CHANNEL)).execute(&mut conn)
            });
        if let Err(error) = listened {
            tracing::warn!(error = %error, "event pump cannot LISTEN; retrying");
            std::thread::sleep(RECONNECT);
            continue;
        }
        // Start from the newest event: subscribers replay older ones from the table.
        let from = match last {
            Some(id) => id,
            None => match events::latest_id(&mut conn) {
                Ok(id) => id,
                Err(error) => {
                    tracing::warn!(error = %error, "event pump cannot read the events table");
                    std::thread::sleep(RECONNECT);
                    continue;
                }
            },
        };
        last = Some(from);
        inner.latest.store(from, Ordering::Release);
        if let Err(error) = pump_connected(inner, &mut conn, &mut last, retention, enrich) {
            tracing::warn!(error = %error, "event pump lost its connection; reconnecting");
            std::thread::sleep(RECONNECT);
        }
    }
}

fn pump_connected(
    inner: &Inner,
    conn: &mut PgConnection,
    last: &mut Option<i64>,
    retention: Duration,
    enrich: Option<&Enricher>,
) -> Result<(), crate::db::DbError> {
    let mut pruned: Option<Instant> = None;
    let mut swept = Instant::now();
    let mut expired = Instant::now();
    // Read once at once: events may have committed while we were connecting.
    let mut due = true;
    while !inner.stop.load(Ordering::Acquire) {
        for notification in conn.notifications_iter() {
            let notification = notification?;
            if notification.channel == presence::CHANNEL {
                inner.presence.receive(&notification.payload);
            } else {
                due = true;
            }
        }
        if expired.elapsed() >= EXPIRE_EVERY {
            expired = Instant::now();
            inner.presence.expire(expired);
        }
        if swept.elapsed() >= SWEEP {
            due = true;
        }
        if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned = Some(Instant::now());
            let before = chrono::Utc::now()
                - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(7));
            let removed = events::prune(conn, before)?;
            if removed > 0 {
                tracing::info!(events.removed = removed, "events past retention removed");
            }
            let forgotten = crate::db::idempotency::prune(conn)?;
            if forgotten > 0 {
                tracing::info!(
                    idempotency_keys.removed = forgotten,
                    "day-old idempotent answers removed"
                );
            }
        }
        if !due {
            std::thread::sleep(POLL);
            continue;
        }
        due = false;
        swept = Instant::now();
        let began = u64::try_from(inner.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        loop {
            let after = last.unwrap_or(0);
            let mut batch = events::after(conn, after, BATCH)?;
            let full = batch.len() as i64 == BATCH;
            if let Some(enrich) = enrich
                && let Err(error) = enrich(conn, &mut batch)
            {
                tracing::warn!(error = %error, "events published without their payloads");
            }
            for event in batch {
                *last = Some(event.id);
                inner.latest.store(event.id, Ordering::Release);
                // No subscribers is not an error.
                let _ = inner.tx.send(Arc::new(Published::new(event)));
            }
            if !full {
                break;
            }
        }
        // Every event committed before this read began is published now.
        inner.read_at.store(began.max(1), Ordering::Release);
    }
    Ok(())
}
