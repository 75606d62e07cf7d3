//! `DialogActor`: one per active dialog. It takes one command at a time (an atomic
//! response: the mailbox waits until the command is committed), decides it with the pure
//! state machine, and commits it with a version-guarded update, its messages and its
//! events in one transaction, on the blocking pool. When another process changed the
//! dialog meanwhile, the guard fails, the actor reloads and decides again.
//!
//! It keeps the dialog's row between commands and stops itself when idle or closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use diesel::PgConnection;

use super::EngineError;
use super::commits::Commits;
use super::registry::Registry;
use crate::db::accounts::AccessMap;
use crate::db::dialogs::{self, Change, DialogRow, NewContent, NewInterest};
use crate::db::{self, DbError, DbPool, accounts, clients};
use crate::domain::dialog::{self as machine, Actor as Who, Command, Target};

/// An idle dialog actor stops after this long; the next command starts a new one.
const IDLE_AFTER: Duration = Duration::from_secs(300);
const IDLE_CHECK: Duration = Duration::from_secs(30);
/// Version conflicts (another process) are retried this many times.
const ATTEMPTS: usize = 3;

/// A command on a dialog by a user (or by the system for inbound messages).
#[derive(Debug, Clone)]
pub struct DialogCommand {
    pub actor: Who,
    /// A user's rights on every account: when given, the actor's rights come from here
    /// for the dialog's account, and a dialog they may not see is `NotFound`, before
    /// anything else is decided or read.
    pub viewer: Option<Arc<AccessMap>>,
    pub command: Command,
    /// The inbound message or the reply that comes with the command.
    pub content: Option<NewContent>,
    pub close_reason_id: Option<i64>,
    pub comment: Option<String>,
    /// The interest "accept lead" creates.
    pub new_interest: Option<NewInterest>,
    /// When it was asked: it may be refused on a row read no earlier than this.
    pub asked_at: Instant,
}

impl DialogCommand {
    /// `command` by `actor`, with nothing else.
    pub fn new(actor: Who, command: Command) -> Self {
        Self {
            actor,
            viewer: None,
            command,
            content: None,
            close_reason_id: None,
            comment: None,
            new_interest: None,
            asked_at: Instant::now(),
        }
    }

    /// `command` by the user whose rights are `viewer`: their rights on the dialog's
    /// account are taken once its row is at hand.
    pub fn by_viewer(viewer: Arc<AccessMap>, command: Command) -> Self {
        Self {
            viewer: Some(Arc::clone(&viewer)),
            ..Self::new(viewer.actor_on(crate::domain::AccountId(0)), command)
        }
    }
}

impl Message for DialogCommand {
    type Result = Result<Outcome, EngineError>;
}

/// The dialog after a command, and the messages the command wrote.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub dialog: DialogRow,
    pub message_ids: Vec<i64>,
    /// False when the command changed nothing (e.g. accepting your own dialog).
    pub changed: bool,
}

/// Move a user's read mark up to a message of this dialog (the newest when `None`).
#[derive(Debug, Clone)]
pub struct MarkRead {
    pub user_id: i64,
    pub up_to: Option<i64>,
}

impl Message for MarkRead {
    type Result = Result<i64, EngineError>;
}

/// A dialog's row as its actor keeps it between commands.
#[derive(Debug, Clone)]
pub(super) struct Loaded {
    pub row: DialogRow,
    /// Its account's rule that closing needs a reason.
    pub require_close_reason: bool,
    /// When the read (or the commit) that gave this row began: the row is the dialog as
    /// it stood at some moment after this.
    pub read_at: Instant,
}

pub struct DialogActor {
    id: i64,
    generation: u64,
    pool: DbPool,
    registry: Registry,
    loaded: Option<Loaded>,
    last_used: Instant,
}

impl DialogActor {
    pub fn new(id: i64, generation: u64, pool: DbPool, registry: Registry) -> Self {
        Self {
            id,
            generation,
            pool,
            registry,
            loaded: None,
            last_used: Instant::now(),
        }
    }

    /// An actor for a dialog whose row the caller has just read or written.
    pub(super) fn with_loaded(
        loaded: Loaded,
        generation: u64,
        pool: DbPool,
        registry: Registry,
    ) -> Self {
        let id = loaded.row.id;
        Self {
            loaded: Some(loaded),
            ..Self::new(id, generation, pool, registry)
        }
    }
}

impl Actor for DialogActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(IDLE_CHECK, |actor, ctx| {
            if actor.last_used.elapsed() >= IDLE_AFTER {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.registry.forget_dialog(self.id, self.generation);
    }
}

impl Handler<DialogCommand> for DialogActor {
    type Result = AtomicResponse<Self, Result<Outcome, EngineError>>;

    fn handle(&mut self, command: DialogCommand, _ctx: &mut Self::Context) -> Self::Result {
        self.last_used = Instant::now();
        let (id, pool, loaded) = (self.id, self.pool.clone(), self.loaded.clone());
        let commits = self.registry.commits().clone();
        AtomicResponse::new(Box::pin(
            async move { execute(&pool, &commits, id, loaded, command).await }
                .into_actor(self)
                .map(|(result, kept), actor, ctx| {
                    // No actor stays behind for a dialog this command closed, or for
                    // one that does not exist (nothing read). One the caller may not
                    // see stays live, and so does one that refuses the rest of a
                    // race on its closed row.
                    let gone = match (&result, &kept) {
                        (Ok(outcome), _) => outcome.dialog.status == "closed",
                        (Err(EngineError::NotFound), None) => true,
                        _ => false,
                    };
                    actor.loaded = kept;
                    if gone {
                        ctx.stop();
                    }
                    result
                }),
        ))
    }
}

impl Handler<MarkRead> for DialogActor {
    type Result = AtomicResponse<Self, Result<i64, EngineError>>;

    fn handle(&mut self, read: MarkRead, _ctx: &mut Self::Context) -> Self::Result {
        self.last_used = Instant::now();
        let (id, pool) = (self.id, self.pool.clone());
        AtomicResponse::new(Box::pin(
            async move {
                db::run(&pool, move |conn| {
                    let Some(dialog) = dialogs::find(conn, id)? else {
                        return Ok(Err(EngineError::NotFound));
                    };
                    let up_to = match read.up_to {
                        Some(message) if dialogs::has_message(conn, id, message)? => message,
                        Some(_) => {
                            return Ok(Err(EngineError::invalid(
                                "up_to_message_id",
                                "up_to_message_id: not a message of this dialog",
                            )));
                        }
                        None => match dialog.last_inbound_message_id {
                            Some(last) => last,
                            None => return Ok(Ok(0)),
                        },
                    };
                    Ok(Ok(dialogs::mark_read(
                        conn,
                        &dialog,
                        read.user_id,
                        up_to,
                        Utc::now(),
                    )?))
                })
                .await
                .map_err(EngineError::from)
                .and_then(|result| result)
            }
            .into_actor(self),
        ))
    }
}

async fn load(pool: &DbPool, id: i64) -> Result<Loaded, EngineError> {
    db::run(pool, move |conn| Ok(load_row(conn, id))).await?
}

fn load_row(conn: &mut PgConnection, id: i64) -> Result<Loaded, EngineError> {
    let read_at = Instant::now();
    let (row, require_close_reason) =
        dialogs::find_with_close_rule(conn, id)?.ok_or(EngineError::NotFound)?;
    Ok(Loaded {
        row,
        require_close_reason,
        read_at,
    })
}

/// Decides one command against the dialog (the cached row when there is one: deciding
/// needs no database) and commits it through the group commit.
///
/// A refusal must hold for the dialog as it stood at some moment after the command was
/// asked: a row read (or committed) since is good for that, an older one is read again
/// first. So twenty operators accepting one dialog at once cost one read and one commit;
/// the nineteen refusals are decided on the winner's committed row, which the actor
/// keeps from one refusal to the next.
///
/// Returns the outcome and the row to keep for the next command: none when an error may
/// have left it stale (a failed read or commit).
async fn execute(
    pool: &DbPool,
    commits: &Commits,
    id: i64,
    cached: Option<Loaded>,
    command: DialogCommand,
) -> (Result<Outcome, EngineError>, Option<Loaded>) {
    let mut kept = None;
    let result = decide(pool, commits, id, cached, command, &mut kept).await;
    (result, kept)
}

async fn decide(
    pool: &DbPool,
    commits: &Commits,
    id: i64,
    cached: Option<Loaded>,
    mut command: DialogCommand,
    kept: &mut Option<Loaded>,
) -> Result<Outcome, EngineError> {
    let mut current = match cached {
        Some(loaded) => loaded,
        None => load(pool, id).await?,
    };
    if let Some(viewer) = command.viewer.take() {
        let account = crate::domain::AccountId(current.row.account_id);
        if !viewer.rights(account).view {
            *kept = Some(current);
            return Err(EngineError::NotFound);
        }
        command.actor = viewer.actor_on(account);
    }
    let mut fresh = current.read_at >= command.asked_at;
    for _ in 0..ATTEMPTS {
        if refers_to_records(&command) {
            let (row, command) = (current.row.clone(), command.clone());
            // What the command names is checked apart from the row: the row stays good.
            let checked = db::run(pool, move |conn| Ok(validate(conn, &row, &command))).await?;
            if let Err(invalid) = checked {
                *kept = Some(current);
                return Err(invalid);
            }
        }
        let state = current.row.state(current.require_close_reason);
        let events = match machine::decide(&state, &command.command, &command.actor) {
            Ok(events) => events,
            // A refusal based on a cached row is checked against the database once.
            Err(_) if !fresh => {
                current = load(pool, id).await?;
                fresh = true;
                continue;
            }
            Err(rejection) => {
                *kept = Some(current);
                return Err(rejection.into());
            }
        };
        if events.is_empty() {
            let outcome = Outcome {
                dialog: current.row.clone(),
                message_ids: Vec::new(),
                changed: false,
            };
            *kept = Some(current);
            return Ok(outcome);
        }
        let after = events
            .iter()
            .cloned()
            .fold(state, |s, e| machine::apply(s, &e));
        let change = Change {
            dialog_id: id,
            account_id: current.row.account_id,
            expected_version: current.row.version,
            actor: (command.actor.user.0 > 0).then_some(command.actor.user.0),
            events,
            after,
            content: command.content.clone(),
            close_reason_id: command.close_reason_id,
            comment: command.comment.clone(),
            new_interest: command.new_interest.clone(),
            now: Utc::now(),
        };
        let committing = Instant::now();
        match commits.commit(change).await {
            Ok(committed) => {
                current.row = committed.dialog.clone();
                current.read_at = committing;
                *kept = Some(current);
                return Ok(Outcome {
                    dialog: committed.dialog,
                    message_ids: committed.message_ids,
                    changed: true,
                });
            }
            Err(DbError::VersionConflict) => {
                current = load(pool, id).await?;
                fresh = true;
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(DbError::VersionConflict.into())
}

/// Whether the command names records (a close reason, a user, a role, an interest) that
/// must be checked against the database before it is decided.
fn refers_to_records(command: &DialogCommand) -> bool {
    command.close_reason_id.is_some()
        || matches!(
            command.command,
            Command::Redirect { .. } | Command::Assign { .. } | Command::LinkInterest { .. }
        )
}

/// Checks what the command refers to, against the database.
fn validate(
    conn: &mut PgConnection,
    dialog: &DialogRow,
    command: &DialogCommand,
) -> Result<(), EngineError> {
    if let Some(reason) = command.close_reason_id {
        match clients::find_close_reason(conn, reason)? {
            Some(found) if !found.archived => {}
            _ => {
                return Err(EngineError::invalid(
                    "reason_id",
                    "reason_id: no such close reason",
                ));
            }
        }
    }
    match &command.command {
        Command::Redirect {
            to: Target::User(user),
        }
        | Command::Assign {
            to: Target::User(user),
        } => {
            let rights = accounts::access_of(conn, user.0)?
                .rights(crate::domain::AccountId(dialog.account_id));
            if !rights.send {
                return Err(EngineError::invalid(
                    "user_id",
                    "user_id: no such user, or they may not answer on this account",
                ));
            }
        }
        Command::Redirect {
            to: Target::Role(role),
        }
        | Command::Assign {
            to: Target::Role(role),
        } if crate::db::org::count_roles(conn, &[role.0])? != 1 => {
            return Err(EngineError::invalid("role_id", "role_id: no such role"));
        }
        Command::LinkInterest { interest } => {
            let belongs = clients::find_interest(conn, interest.0)?
                .is_some_and(|found| Some(found.client_id) == dialog.client_id);
            if !belongs {
                return Err(EngineError::invalid(
                    "interest_id",
                    "interest_id: no such interest of this dialog's client",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}
