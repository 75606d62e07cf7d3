//! Group commit for the dialog actors. Each actor decides its command alone and hands the
//! change here; a few writers each take everything that is waiting (up to `BATCH`) and
//! commit it in one transaction (`db::dialogs::commit_batch`). Every commit takes its turn
//! on the events log's lock and waits for its flush to disk; batched, many changes share
//! one turn and one flush, so the rate of commits is no longer the rate of changes.
//!
//! Nothing waits to fill a batch: a change that finds a writer free is committed at once,
//! alone. Batches form only while the writers are busy, which is exactly when waiting
//! changes would otherwise queue for the lock one by one. Durability is unchanged: an
//! actor hears "committed" only after its batch's COMMIT returned.

use std::sync::Arc;

use actix::ArbiterHandle;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::db::dialogs::{self, Change, Committed};
use crate::db::{DbError, DbPool};

/// Writers committing batches side by side: while one holds the events lock through its
/// flush, the next writes its rows.
const WRITERS: usize = 3;
/// The most changes in one transaction.
const BATCH: usize = 64;
/// Changes waiting for a writer; each dialog actor has at most one in flight.
const QUEUE: usize = 4096;

type Job = (Change, oneshot::Sender<Result<Committed, DbError>>);

/// The handle dialog actors commit through.
#[derive(Clone)]
pub struct Commits {
    queue: mpsc::Sender<Job>,
}

impl Commits {
    /// Starts the writers on `arbiter`.
    pub fn start(pool: DbPool, arbiter: &ArbiterHandle) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..WRITERS {
            arbiter.spawn(writer(pool.clone(), Arc::clone(&waiting)));
        }
        Self { queue }
    }

    /// Commits one change, possibly together with other dialogs' changes; the result is
    /// this change's own, as `db::dialogs::commit` would give it.
    pub async fn commit(&self, change: Change) -> Result<Committed, DbError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((change, reply))
            .await
            .map_err(|_| DbError::Cancelled)?;
        answer.await.map_err(|_| DbError::Cancelled)?
    }
}

async fn writer(pool: DbPool, waiting: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let batch = {
            let mut waiting = waiting.lock().await;
            let Some(first) = waiting.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match waiting.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        let (changes, replies): (Vec<Change>, Vec<_>) = batch.into_iter().unzip();
        let results =
            crate::db::run(&pool, move |conn| Ok(dialogs::commit_batch(conn, &changes))).await;
        match results {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            // No connection (the database is down) or the job was lost: every change of
            // the batch gets the same answer; none was written.
            Err(error) => {
                let unreachable = matches!(error, DbError::Pool(_));
                let reason = error.to_string();
                for reply in replies {
                    let _ = reply.send(Err(if unreachable {
                        DbError::Unreachable(reason.clone())
                    } else {
                        DbError::Cancelled
                    }));
                }
            }
        }
    }
}
