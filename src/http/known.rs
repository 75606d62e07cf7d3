//! What this process remembers of who calls and what they may see, so that a request
//! needs no database trip to learn either.
//!
//! Two shelves: a credential's digest → its caller (user, admin flag, scopes, expiry), and
//! a user → their rights on every account. Everything is forgotten at once:
//! - in this process, by the handler that revokes a credential or changes rights, before
//!   it answers;
//! - in every process, when its event pump reads the `access` or `credentials` event that
//!   such a change commits (milliseconds), or when this process fell behind the events;
//! - while the pump has not read the table for [`TRUST`], nothing is taken from memory.
//!
//! A read that began before a forgetting is not kept (the generation moved on), so a
//! revocation can never be undone by a slow request. Nothing is kept longer than
//! [`KEEP`], which also bounds how stale a token's `last_used_at` can be. Unknown or
//! refused credentials are never kept.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix::ArbiterHandle;
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use super::auth::Caller;
use crate::actors::{Hub, Published};
use crate::db::accounts::AccessMap;

/// How long a credential or a user's rights are kept after they were read.
pub const KEEP: Duration = Duration::from_secs(60);
/// Memory is trusted only while the event pump has read the table this recently.
pub const TRUST: Duration = Duration::from_secs(3);
/// Each shelf holds at most this many entries; when full, it is emptied.
const MAX_KEPT: usize = 50_000;

/// A credential as it was found live: its caller and when it expires.
#[derive(Debug, Clone)]
pub struct Identity {
    pub caller: Caller,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Taken before a database read; the result may be kept only with the same generation.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(Option<u64>);

pub struct Known {
    hub: Hub,
    memory: Mutex<Memory>,
    /// Set when the events stopped reaching this memory: nothing is trusted after.
    deaf: AtomicBool,
    /// The id of the newest event this memory has followed: everything an event up to it
    /// made it forget is forgotten.
    seen: AtomicI64,
}

#[derive(Default)]
struct Memory {
    generation: u64,
    callers: Shelf<Vec<u8>, Identity>,
    rights: Shelf<i64, Arc<AccessMap>>,
}

impl Memory {
    /// Puts a read's result away, unless everything was forgotten since it began.
    fn keep_if(&mut self, ticket: Ticket, put: impl FnOnce(&mut Memory, Instant)) {
        if ticket.0 == Some(self.generation) {
            put(self, Instant::now() + KEEP);
        }
    }

    fn forget_all(&mut self) {
        self.generation += 1;
        self.callers.entries.clear();
        self.rights.entries.clear();
    }
}

struct Shelf<K, V> {
    entries: HashMap<K, (V, Instant)>,
}

impl<K, V> Default for Shelf<K, V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq, V: Clone> Shelf<K, V> {
    fn get<Q>(&self, key: &Q, now: Instant) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(value, _)| value.clone())
    }

    fn keep(&mut self, key: K, value: V, until: Instant) {
        if self.entries.len() >= MAX_KEPT {
            self.entries
                .retain(|_, (_, kept_until)| *kept_until > until - KEEP);
            if self.entries.len() >= MAX_KEPT {
                self.entries.clear();
            }
        }
        self.entries.insert(key, (value, until));
    }
}

impl Known {
    /// Starts following `hub` on `arbiter`: a change of rights or credentials in any
    /// process makes this one forget everything it remembers.
    pub fn start(hub: &Hub, arbiter: &ArbiterHandle) -> Arc<Self> {
        let known = Arc::new(Self {
            hub: hub.clone(),
            memory: Mutex::default(),
            deaf: AtomicBool::new(false),
            seen: AtomicI64::new(0),
        });
        arbiter.spawn(Arc::clone(&known).follow(hub.subscribe()));
        known
    }

    async fn follow(self: Arc<Self>, mut events: broadcast::Receiver<Arc<Published>>) {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if matches!(event.kind.as_str(), "access" | "credentials") {
                        self.forget_all();
                    }
                    self.seen.store(event.id, Ordering::Release);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.forget_all(),
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
        self.deaf.store(true, Ordering::Release);
        self.forget_all();
    }

    /// Forgets every credential and every user's rights.
    pub fn forget_all(&self) {
        self.lock().forget_all();
    }

    /// Taken before reading what may be kept.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.trusted().then(|| self.lock().generation))
    }

    /// The live credential with this digest, when remembered and not expired.
    pub fn caller(&self, digest: &[u8]) -> Option<Identity> {
        if !self.trusted() {
            return None;
        }
        let found = self.lock().callers.get(digest, Instant::now())?;
        found
            .expires_at
            .is_none_or(|at| at > Utc::now())
            .then_some(found)
    }

    pub fn keep_caller(&self, ticket: Ticket, digest: Vec<u8>, identity: Identity) {
        self.keep(ticket, |memory, until| {
            memory.callers.keep(digest, identity, until);
        });
    }

    /// A user's rights, when remembered.
    pub fn rights(&self, user_id: i64) -> Option<Arc<AccessMap>> {
        if !self.trusted() {
            return None;
        }
        self.lock().rights.get(&user_id, Instant::now())
    }

    /// A user's rights, when remembered and this memory has followed the events up to
    /// `event_id` (so it forgot whatever that event changed): a stream that has just read
    /// an `access` event asks with its id.
    pub fn rights_since(&self, user_id: i64, event_id: i64) -> Option<Arc<AccessMap>> {
        if self.seen.load(Ordering::Acquire) < event_id {
            return None;
        }
        self.rights(user_id)
    }

    pub fn keep_rights(&self, ticket: Ticket, user_id: i64, rights: Arc<AccessMap>) {
        self.keep(ticket, |memory, until| {
            memory.rights.keep(user_id, rights, until);
        });
    }

    fn keep(&self, ticket: Ticket, put: impl FnOnce(&mut Memory, Instant)) {
        self.lock().keep_if(ticket, put);
    }

    fn trusted(&self) -> bool {
        !self.deaf.load(Ordering::Acquire) && self.hub.read_within(TRUST)
    }

    fn lock(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rights() -> Arc<AccessMap> {
        Arc::new(AccessMap::default())
    }

    #[test]
    fn a_read_that_began_before_everything_was_forgotten_is_not_kept() {
        let mut memory = Memory::default();
        let ticket = Ticket(Some(memory.generation));
        memory.forget_all();
        memory.keep_if(ticket, |m, until| m.rights.keep(7, rights(), until));
        assert!(memory.rights.get(&7, Instant::now()).is_none());

        let ticket = Ticket(Some(memory.generation));
        memory.keep_if(ticket, |m, until| m.rights.keep(7, rights(), until));
        assert!(memory.rights.get(&7, Instant::now()).is_some());
        memory.forget_all();
        assert!(memory.rights.get(&7, Instant::now()).is_none());
    }

    #[test]
    fn nothing_is_kept_without_a_ticket_or_past_its_time() {
        let mut memory = Memory::default();
        memory.keep_if(Ticket(None), |m, until| m.rights.keep(1, rights(), until));
        assert!(memory.rights.entries.is_empty());

        let ticket = Ticket(Some(memory.generation));
        memory.keep_if(ticket, |m, until| m.rights.keep(1, rights(), until));
        assert!(memory.rights.get(&1, Instant::now()).is_some());
        assert!(memory.rights.get(&1, Instant::now() + KEEP).is_none());
    }

    #[test]
    fn a_full_shelf_drops_what_expired_and_else_starts_over() {
        let mut shelf: Shelf<usize, u8> = Shelf::default();
        let now = Instant::now();
        for key in 0..MAX_KEPT {
            shelf.keep(key, 0, now + KEEP);
        }
        shelf.keep(MAX_KEPT, 1, now + KEEP);
        assert_eq!(shelf.entries.len(), 1);
        assert_eq!(shelf.get(&MAX_KEPT, now), Some(1));
    }
}
