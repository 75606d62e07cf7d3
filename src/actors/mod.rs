//! The only place that uses actix actors: the registry, one `AccountActor` per channel
//! account and one `DialogActor` per active dialog. Every change to a dialog goes through
//! its actor, which decides with `domain::dialog` and commits with `db::dialogs` before it
//! takes the next command; the database's guards keep several processes correct too.
//!
//! Callers (`http`, later `channels`) use [`Engine`]: it sends with a timeout (`send`, never
//! an unbounded `do_send`), so a stuck actor becomes a clear error, not a pile-up.
//! The event hub (`Hub`) lives here too: it fans committed events out to subscribers.
//! So does `UnreadKeeper`, which keeps the section counters by following the hub.
//! Imports `db` and `domain`; never `http`.

mod account;
mod commits;
mod dialog;
mod hub;
pub mod presence;
mod registry;
mod rules;
mod unread;

use std::time::Duration;

use actix::{Actor, Addr, ArbiterHandle, MailboxError};

pub use self::account::{AccountActor, Inbound, InboundOutcome};
pub use self::dialog::{DialogActor, DialogCommand, MarkRead, Outcome};
pub use self::hub::{Audience, Hub, Published};
pub use self::registry::Registry;
pub use self::unread::UnreadKeeper;
use crate::db::{DbError, DbPool};
use crate::domain::dialog::Rejection;

/// How long a caller waits for an actor's answer.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the dialog does not exist")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the dialog engine did not answer in time")]
    Timeout,
    #[error("the dialog engine is shutting down")]
    Stopped,
}

impl EngineError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        EngineError::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<MailboxError> for EngineError {
    fn from(error: MailboxError) -> Self {
        match error {
            MailboxError::Timeout => EngineError::Timeout,
            MailboxError::Closed => EngineError::Stopped,
        }
    }
}

/// The handle the rest of the program uses to reach the actors.
#[derive(Clone)]
pub struct Engine {
    registry: Registry,
}

impl Engine {
    /// Starts the engine; its actors run on `arbiter`, apart from the HTTP workers.
    pub fn new(pool: DbPool, arbiter: ArbiterHandle) -> Self {
        Self {
            registry: Registry::new(pool, arbiter),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Hands an inbound channel message to its account's actor.
    pub async fn inbound(
        &self,
        account_id: i64,
        inbound: Inbound,
    ) -> Result<InboundOutcome, EngineError> {
        let addr: Addr<AccountActor> = self.registry.account(account_id);
        addr.send(inbound).timeout(ASK_TIMEOUT).await?
    }

    /// Sends a command to a dialog's actor.
    pub async fn command(
        &self,
        dialog_id: i64,
        command: DialogCommand,
    ) -> Result<Outcome, EngineError> {
        self.ask_dialog(dialog_id, command).await
    }

    /// Moves a user's read mark through the dialog's actor.
    pub async fn mark_read(&self, dialog_id: i64, read: MarkRead) -> Result<i64, EngineError> {
        self.ask_dialog(dialog_id, read).await
    }

    /// Asks a dialog's actor. An actor stops when its dialog closes or it idles, and the
    /// messages still in its mailbox are then dropped: those are asked again of a fresh
    /// actor, which decides them against the database.
    async fn ask_dialog<M, T>(&self, dialog_id: i64, message: M) -> Result<T, EngineError>
    where
        M: actix::Message<Result = Result<T, EngineError>> + Clone + Send + 'static,
        T: Send + 'static,
        DialogActor: actix::Handler<M>,
    {
        for _ in 0..3 {
            let addr: Addr<DialogActor> = self.registry.dialog(dialog_id);
            match addr.send(message.clone()).timeout(ASK_TIMEOUT).await {
                Err(MailboxError::Closed) => self.registry.forget_dead_dialog(dialog_id, &addr),
                Err(error) => return Err(error.into()),
                Ok(answer) => return answer,
            }
        }
        Err(EngineError::Stopped)
    }
}

/// Starts an actor on the engine's arbiter.
fn start_on<A, F>(arbiter: &ArbiterHandle, make: F) -> Addr<A>
where
    A: Actor<Context = actix::Context<A>>,
    F: FnOnce(&mut actix::Context<A>) -> A + Send + 'static,
{
    A::start_in_arbiter(arbiter, make)
}
