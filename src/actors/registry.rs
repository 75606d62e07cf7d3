//! Maps account and dialog ids to running actors, starting them on demand. An actor that
//! stops (idle, or its dialog closed) removes itself — only itself: each start gets a
//! generation number, so a late stop of an old instance never removes its successor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use actix::{Addr, ArbiterHandle};

use super::account::AccountActor;
use super::commits::Commits;
use super::dialog::{DialogActor, Loaded};
use super::start_on;
use crate::db::DbPool;

#[derive(Clone)]
pub struct Registry {
    inner: Arc<Mutex<Actors>>,
    pool: DbPool,
    arbiter: ArbiterHandle,
    commits: Commits,
    /// Moves whenever what account actors remember of their interlocutors may be stale
    /// (a rule or a block changed): everything remembered before is read again.
    recall_generation: Arc<AtomicU64>,
}

/// Running actors by id, each with the generation it was started with.
type Running<A> = HashMap<i64, (u64, Addr<A>)>;

#[derive(Default)]
struct Actors {
    accounts: Running<AccountActor>,
    dialogs: Running<DialogActor>,
    next_generation: u64,
}

impl Registry {
    pub fn new(pool: DbPool, arbiter: ArbiterHandle) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Actors::default())),
            commits: Commits::start(pool.clone(), &arbiter),
            pool,
            arbiter,
            recall_generation: Arc::default(),
        }
    }

    /// Voids what every account actor remembers of its interlocutors' last messages:
    /// a processing rule or an interlocutor's block changed (in this process at once, in
    /// the others through the `rules` event).
    pub fn forget_recalled(&self) {
        self.recall_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The generation what is remembered now belongs to.
    pub(super) fn recall_generation(&self) -> u64 {
        self.recall_generation.load(Ordering::Acquire)
    }

    /// Where dialog actors commit their changes (group commit).
    pub fn commits(&self) -> &Commits {
        &self.commits
    }

    fn lock(&self) -> MutexGuard<'_, Actors> {
        // A panic while holding the lock leaves plain maps behind; they stay usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The actor of a dialog, started if it is not running.
    pub fn dialog(&self, id: i64) -> Addr<DialogActor> {
        self.running_or_start(id, |actors| &mut actors.dialogs, DialogActor::new)
    }

    /// The actor of a dialog whose row is in hand (just opened), started with it if it is
    /// not running, so its first command needs no read.
    pub(super) fn dialog_loaded(&self, loaded: Loaded) -> Addr<DialogActor> {
        self.running_or_start(
            loaded.row.id,
            |actors| &mut actors.dialogs,
            move |_, generation, pool, registry| {
                DialogActor::with_loaded(loaded, generation, pool, registry)
            },
        )
    }

    /// The actor of a channel account, started if it is not running.
    pub fn account(&self, id: i64) -> Addr<AccountActor> {
        self.running_or_start(id, |actors| &mut actors.accounts, AccountActor::new)
    }

    /// The running actor in `map` for `id`, or a new one with the next generation.
    fn running_or_start<A>(
        &self,
        id: i64,
        map: fn(&mut Actors) -> &mut Running<A>,
        make: impl FnOnce(i64, u64, DbPool, Registry) -> A + Send + 'static,
    ) -> Addr<A>
    where
        A: actix::Actor<Context = actix::Context<A>>,
    {
        let mut actors = self.lock();
        if let Some((_, addr)) = map(&mut actors).get(&id)
            && addr.connected()
        {
            return addr.clone();
        }
        actors.next_generation += 1;
        let generation = actors.next_generation;
        let (registry, pool) = (self.clone(), self.pool.clone());
        let addr = start_on(&self.arbiter, move |_| make(id, generation, pool, registry));
        map(&mut actors).insert(id, (generation, addr.clone()));
        addr
    }

    /// Called by a stopping dialog actor.
    pub fn forget_dialog(&self, id: i64, generation: u64) {
        let mut actors = self.lock();
        if actors
            .dialogs
            .get(&id)
            .is_some_and(|(g, _)| *g == generation)
        {
            actors.dialogs.remove(&id);
        }
    }

    /// Forgets `dead` (an actor whose mailbox closed) unless a successor already took its
    /// place, so the next `dialog(id)` starts a fresh one.
    pub fn forget_dead_dialog(&self, id: i64, dead: &Addr<DialogActor>) {
        let mut actors = self.lock();
        if actors
            .dialogs
            .get(&id)
            .is_some_and(|(_, addr)| addr == dead)
        {
            actors.dialogs.remove(&id);
        }
    }

    /// Called by a stopping account actor.
    pub fn forget_account(&self, id: i64, generation: u64) {
        let mut actors = self.lock();
        if actors
            .accounts
            .get(&id)
            .is_some_and(|(g, _)| *g == generation)
        {
            actors.accounts.remove(&id);
        }
    }

    /// How many dialog and account actors are registered (for metrics and tests).
    pub fn counts(&self) -> (usize, usize) {
        let actors = self.lock();
        (actors.dialogs.len(), actors.accounts.len())
    }
}
