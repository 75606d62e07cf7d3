//! `AccountActor`: one per channel account. Inbound messages of the account pass through
//! it in queues per interlocutor: one interlocutor's messages go one at a time, in
//! arrival order, and different interlocutors' messages proceed side by side (`AT_ONCE`
//! per account, taking turns), so a flooding interlocutor holds one place and delays no
//! one else's queue. For each it drops a message it already stored (the channel's own id), resolves
//! the interlocutor to a client or prospect (R5), finds the one active dialog or opens a
//! new one (R19) with the account's responsible (R6), lead flag (R3) and the client's
//! active interest (R7), and hands the message to the dialog's actor.
//!
//! Channels (a later issue) call it through `Engine::inbound` with an `Inbound` built from
//! the channel's wire format; tests call it the same way.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use diesel::PgConnection;

use super::dialog::{DialogCommand, Loaded};
use super::registry::Registry;
use super::{ASK_TIMEOUT, EngineError};
use crate::db::clients::{self, Sender};
use crate::db::dialogs::{self, NewAttachment, NewContent, NewDialogRow};
use crate::db::{self, DbError, DbPool, accounts};
use crate::domain::UserId;
use crate::domain::access::Rights;
use crate::domain::dialog::{Actor as Who, Command, Rejection};

const IDLE_AFTER: Duration = Duration::from_secs(900);
const IDLE_CHECK: Duration = Duration::from_secs(60);
const MAILBOX: usize = 1024;
/// Messages delivered at the same time, per account (each of another interlocutor).
const AT_ONCE: usize = 16;

type Job = (
    Inbound,
    tokio::sync::oneshot::Sender<Result<InboundOutcome, EngineError>>,
);

/// A message from a channel, already verified and parsed by the channel module.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub sender: Sender,
    /// The channel's id of the message, unique within the account.
    pub channel_message_id: String,
    pub text: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub attachments: Vec<NewAttachment>,
}

impl Message for Inbound {
    type Result = Result<InboundOutcome, EngineError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundOutcome {
    Stored {
        dialog_id: i64,
        message_id: i64,
        opened_dialog: bool,
    },
    /// The account had stored this message already; nothing was written.
    Duplicate,
}

pub struct AccountActor {
    id: i64,
    generation: u64,
    pool: DbPool,
    registry: Registry,
    last_used: Instant,
    /// The interlocutors with messages in delivery: theirs queue behind them. The one
    /// worker of an interlocutor removes their entry when their queue is empty.
    queues: Arc<Mutex<HashMap<String, VecDeque<Job>>>>,
    places: Arc<tokio::sync::Semaphore>,
}

impl AccountActor {
    pub fn new(id: i64, generation: u64, pool: DbPool, registry: Registry) -> Self {
        Self {
            id,
            generation,
            pool,
            registry,
            last_used: Instant::now(),
            queues: Arc::default(),
            places: Arc::new(tokio::sync::Semaphore::new(AT_ONCE)),
        }
    }

    /// Queues a message behind its interlocutor's earlier ones, starting their worker
    /// when they have none: so their messages keep their order and only one of them can
    /// open their dialog.
    fn queue(&self, job: Job) {
        let who = job.0.sender.external_id.clone();
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(queue) = queues.get_mut(&who) {
            queue.push_back(job);
            return;
        }
        queues.insert(who.clone(), VecDeque::from([job]));
        drop(queues);
        let (account_id, pool, registry) = (self.id, self.pool.clone(), self.registry.clone());
        let (queues, places) = (Arc::clone(&self.queues), Arc::clone(&self.places));
        actix::spawn(async move {
            loop {
                let next = {
                    let mut queues = queues.lock().unwrap_or_else(|p| p.into_inner());
                    match queues.get_mut(&who).and_then(VecDeque::pop_front) {
                        Some(job) => job,
                        None => {
                            queues.remove(&who);
                            return;
                        }
                    }
                };
                let (inbound, reply) = next;
                // A place per message, not per interlocutor: a busy one takes turns.
                let _place = places.acquire().await;
                let _ = reply.send(deliver(account_id, &pool, &registry, inbound).await);
            }
        });
    }
}

impl Actor for AccountActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Bursts from a channel queue here in arrival order instead of waiting outside.
        ctx.set_mailbox_capacity(MAILBOX);
        ctx.run_interval(IDLE_CHECK, |actor, ctx| {
            if actor.last_used.elapsed() >= IDLE_AFTER {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.registry.forget_account(self.id, self.generation);
    }
}

/// The system acting for inbound messages and rules: it sees everything and is nobody.
pub(super) fn system() -> Who {
    Who {
        user: UserId(0),
        roles: Vec::new(),
        rights: Rights::ALL,
    }
}

enum Target {
    Duplicate,
    Dialog {
        id: i64,
        /// The person wrote to this account before (rules' "client known", R8).
        known: bool,
        /// Some processing rule may apply (R8).
        has_rules: bool,
    },
    /// A dialog opened for this message: its actor starts with the row in hand.
    Opened {
        dialog: Box<Loaded>,
        known: bool,
        has_rules: bool,
    },
}

impl Handler<Inbound> for AccountActor {
    type Result = ResponseFuture<Result<InboundOutcome, EngineError>>;

    fn handle(&mut self, inbound: Inbound, _ctx: &mut Self::Context) -> Self::Result {
        self.last_used = Instant::now();
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue((inbound, reply));
        Box::pin(async move { answer.await.unwrap_or(Err(EngineError::Stopped)) })
    }
}

async fn deliver(
    account_id: i64,
    pool: &DbPool,
    registry: &Registry,
    inbound: Inbound,
) -> Result<InboundOutcome, EngineError> {
    // A dialog may close between finding it and appending: then open the next one.
    for _ in 0..3 {
        let message = inbound.clone();
        let target = db::run(pool, move |conn| {
            Ok(find_target(conn, account_id, &message))
        })
        .await??;
        let (addr, dialog_id, opened, known, has_rules) = match target {
            Target::Duplicate => return Ok(InboundOutcome::Duplicate),
            Target::Dialog {
                id,
                known,
                has_rules,
            } => (registry.dialog(id), id, false, known, has_rules),
            Target::Opened {
                dialog,
                known,
                has_rules,
            } => {
                let id = dialog.row.id;
                (registry.dialog_loaded(*dialog), id, true, known, has_rules)
            }
        };
        let command = DialogCommand {
            actor: system(),
            command: Command::Inbound,
            content: Some(NewContent::Inbound {
                text: inbound.text.clone(),
                channel_message_id: inbound.channel_message_id.clone(),
                channel_sent_at: inbound.sent_at,
                attachments: inbound.attachments.clone(),
            }),
            close_reason_id: None,
            comment: None,
            new_interest: None,
        };
        let answer = match addr.send(command).timeout(ASK_TIMEOUT).await {
            // The dialog's actor stopped (closed or idle) with this message in its
            // mailbox: look the dialog up again.
            Err(actix::MailboxError::Closed) => {
                registry.forget_dead_dialog(dialog_id, &addr);
                continue;
            }
            other => other?,
        };
        match answer {
            Ok(outcome) => {
                // The message is committed: whatever the rules do now, it stays.
                if has_rules {
                    super::rules::run(pool, registry, account_id, dialog_id, &inbound, known).await;
                }
                return Ok(InboundOutcome::Stored {
                    dialog_id,
                    message_id: outcome.message_ids.last().copied().unwrap_or_default(),
                    opened_dialog: opened,
                });
            }
            Err(EngineError::Rejected(Rejection::Closed)) => continue,
            // Another process stored the same channel message first.
            Err(EngineError::Db(error)) if is_duplicate_message(&error) => {
                return Ok(InboundOutcome::Duplicate);
            }
            Err(error) => return Err(error),
        }
    }
    Err(EngineError::Db(DbError::VersionConflict))
}

fn is_duplicate_message(error: &DbError) -> bool {
    error
        .constraint()
        .is_some_and(|(_, name)| name == "messages_channel_message_key")
}

/// Dedup, interlocutor, dialog: everything before the message is appended. A known
/// interlocutor with an active dialog costs one read; the account's settings are read
/// only to create an interlocutor or open a dialog.
fn find_target(
    conn: &mut PgConnection,
    account_id: i64,
    inbound: &Inbound,
) -> Result<Target, EngineError> {
    let sender = &inbound.sender;
    let context = dialogs::inbound_context(
        conn,
        account_id,
        &sender.external_id,
        &inbound.channel_message_id,
    )?;
    if context.duplicate {
        return Ok(Target::Duplicate);
    }
    let now = Utc::now();
    let has_rules = context.has_rules;
    let mut settings = None;
    let (interlocutor, known) = match context.interlocutor {
        Some(found) => {
            clients::note_inbound(conn, &found, now)?;
            if let Some(active) = context.active {
                return Ok(Target::Dialog {
                    id: active.id,
                    known: true,
                    has_rules,
                });
            }
            (found, true)
        }
        None => {
            let account = settings.insert(account_settings(conn, account_id)?);
            match clients::create_interlocutor(
                conn,
                account_id,
                sender,
                account.create_clients,
                now,
            ) {
                Ok(created) => (created, false),
                // Another process created them a moment ago: new to this account all the same.
                Err(DbError::VersionConflict) => (
                    clients::find_interlocutor(conn, account_id, &sender.external_id)?
                        .ok_or(EngineError::Db(DbError::VersionConflict))?,
                    false,
                ),
                Err(error) => return Err(error.into()),
            }
        }
    };
    let account = match settings {
        Some(account) => account,
        None => account_settings(conn, account_id)?,
    };
    // No active dialog was found above; one another process opens meanwhile makes the
    // insert below a no-op, and that dialog is used instead.
    // R7: the client's active interest; with several, the newest (and the dialog says so).
    let active = match (account.auto_link_interests, interlocutor.client_id) {
        (true, Some(client)) => clients::active_interests(conn, client)?,
        _ => Vec::new(),
    };
    let interest_id = active.first().map(|i| i.id);
    let new = NewDialogRow {
        account_id,
        interlocutor_id: interlocutor.id,
        client_id: interlocutor.client_id,
        responsible_user_id: account.responsible_user_id,
        responsible_role_id: account.responsible_role_id,
        is_lead: account.lead_source,
        interest_id,
        created_at: now,
        last_message_at: Some(now),
    };
    match dialogs::open(conn, &new)? {
        Some(opened) => {
            if let Some(interest) = active.first() {
                dialogs::add_system_line(
                    conn,
                    &opened,
                    "interest_linked",
                    serde_json::json!({
                        "interest_id": interest.id,
                        "title": interest.title,
                        "automatic": true,
                        "active_interests": active.len(),
                    }),
                )?;
            }
            Ok(Target::Opened {
                dialog: Box::new(Loaded {
                    row: opened,
                    require_close_reason: account.require_close_reason,
                }),
                known,
                has_rules,
            })
        }
        // Another process opened it a moment ago (the partial unique index decided).
        None => {
            let active = dialogs::find_active(conn, account_id, interlocutor.id)?
                .ok_or(EngineError::Db(DbError::VersionConflict))?;
            Ok(Target::Dialog {
                id: active.id,
                known,
                has_rules,
            })
        }
    }
}

fn account_settings(
    conn: &mut PgConnection,
    account_id: i64,
) -> Result<accounts::AccountRow, EngineError> {
    accounts::find(conn, account_id)?.ok_or(EngineError::NotFound)
}
