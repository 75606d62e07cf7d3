//! `AccountActor`: one per channel account. Inbound messages of the account pass through
//! it in queues per interlocutor: one interlocutor's messages go one at a time, in
//! arrival order, and different interlocutors' messages proceed side by side (`AT_ONCE`
//! per account, taking turns), so a flooding interlocutor holds one place and delays no
//! one else's queue. For each it drops a message it already stored (the channel's own id), resolves
//! the interlocutor to a client or prospect (R5), finds the one active dialog or opens a
//! new one (R19) with the account's responsible (R6), lead flag (R3) and the client's
//! active interest (R7), and hands the message to the dialog's actor.
//!
//! Each actor remembers, per interlocutor, the active dialog their last message went to
//! (`Recall`). The next message from them goes straight to that dialog's actor with no
//! read at all: the dialog's actor refuses it if the dialog closed meanwhile (then the
//! dialog is looked up again), and the messages' unique key refuses a message stored
//! before. A memory holds while the interlocutor's last inbound time needs no update
//! (45–60 s) and no processing rule or block changed since, in this process or, through
//! the `rules` and `blocks` events, in another (`Registry::forget_recalled`).
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
/// Each waits for its commit, and the group commit puts every waiting one in the next
/// batch: the places bound how many share a flush. At 16 an account's rate stopped at
/// 16 / commit latency (about 1,900 msg/s here, with cores idle); at 64 it passed 3,400.
/// A fresh interlocutor's first message reads the database on the pool, whose size
/// bounds those reads, not this.
const AT_ONCE: usize = 64;

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
    /// Who wrote it, in a group conversation (the sender is then the conversation).
    pub author: Option<Sender>,
    /// A place, a card, a sticker, a poll, the quoted message (R48).
    /// Boxed: most messages have none, and an update should stay small.
    pub extras: Box<crate::domain::content::Extras>,
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
    recall: Arc<Mutex<Recall>>,
}

/// What an account remembers of its interlocutors' last messages.
#[derive(Default)]
struct Recall(HashMap<String, Remembered>);

#[derive(Debug, Clone, Copy)]
struct Remembered {
    dialog_id: i64,
    has_rules: bool,
    /// Until when the interlocutor's last inbound time needs no update.
    fresh_until: DateTime<Utc>,
    /// `Registry::recall_generation` when this was read.
    generation: u64,
}

/// How many interlocutors an account remembers before it starts afresh.
const RECALL_AT_MOST: usize = 100_000;

impl Recall {
    fn get(&self, who: &str, generation: u64, now: DateTime<Utc>) -> Option<Remembered> {
        self.0
            .get(who)
            .filter(|r| r.generation == generation && now < r.fresh_until)
            .copied()
    }

    fn remember(&mut self, who: &str, target: &Target, noted: DateTime<Utc>, generation: u64) {
        let (dialog_id, has_rules) = match target {
            Target::Dialog { id, has_rules, .. } => (*id, *has_rules),
            Target::Opened {
                dialog, has_rules, ..
            } => (dialog.row.id, *has_rules),
            Target::Duplicate => return,
        };
        if self.0.len() >= RECALL_AT_MOST {
            self.0.clear();
        }
        let fresh_until = noted + clients::last_inbound_holds(noted);
        self.0.insert(
            who.to_owned(),
            Remembered {
                dialog_id,
                has_rules,
                fresh_until,
                generation,
            },
        );
    }

    fn forget(&mut self, who: &str) {
        self.0.remove(who);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
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
            recall: Arc::default(),
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
        let recall = Arc::clone(&self.recall);
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
                let delivered = deliver(account_id, &pool, &registry, &recall, inbound).await;
                let _ = reply.send(delivered);
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
    recall: &Mutex<Recall>,
    inbound: Inbound,
) -> Result<InboundOutcome, EngineError> {
    let who = inbound.sender.external_id.as_str();
    // A dialog may close between finding it and appending: then open the next one.
    for attempt in 0..3 {
        // Read before the lookup: a change during it voids what the lookup finds.
        let generation = registry.recall_generation();
        let recalled = (attempt == 0)
            .then(|| lock(recall).get(who, generation, Utc::now()))
            .flatten();
        let target = match recalled {
            Some(r) => Target::Dialog {
                id: r.dialog_id,
                known: true,
                has_rules: r.has_rules,
            },
            None => {
                let message = inbound.clone();
                let (target, noted) = db::run(pool, move |conn| {
                    Ok(find_target(conn, account_id, &message))
                })
                .await??;
                lock(recall).remember(who, &target, noted, generation);
                target
            }
        };
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
            content: Some(NewContent::Inbound {
                text: inbound.text.clone(),
                channel_message_id: inbound.channel_message_id.clone(),
                channel_sent_at: inbound.sent_at,
                attachments: inbound.attachments.clone(),
                sender: inbound.author.as_ref().map(|author| {
                    serde_json::json!({"external_id": author.external_id, "name": author.display_name})
                }),
                extras: inbound.extras.clone(),
            }),
            ..DialogCommand::new(system(), Command::Inbound)
        };
        let answer = match addr.send(command).timeout(ASK_TIMEOUT).await {
            // The dialog's actor stopped (closed or idle) with this message in its
            // mailbox: look the dialog up again.
            Err(actix::MailboxError::Closed) => {
                registry.forget_dead_dialog(dialog_id, &addr);
                lock(recall).forget(who);
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
            // Another process stored the same channel message first (or, when the
            // dialog was remembered, this one did before).
            Err(EngineError::Db(error)) if is_duplicate_message(&error) => {
                return Ok(InboundOutcome::Duplicate);
            }
            // The dialog closed meanwhile, or what was remembered no longer holds: look
            // the dialog up again.
            Err(EngineError::Rejected(Rejection::Closed)) => lock(recall).forget(who),
            Err(_) if recalled.is_some() => lock(recall).forget(who),
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
/// Also returns the interlocutor's last inbound time as stored.
fn find_target(
    conn: &mut PgConnection,
    account_id: i64,
    inbound: &Inbound,
) -> Result<(Target, DateTime<Utc>), EngineError> {
    let sender = &inbound.sender;
    let context = dialogs::inbound_context(
        conn,
        account_id,
        &sender.external_id,
        &inbound.channel_message_id,
    )?;
    let now = Utc::now();
    if context.duplicate {
        return Ok((Target::Duplicate, now));
    }
    let has_rules = context.has_rules;
    let mut settings = None;
    let mut noted = now;
    let (interlocutor, known) = match context.interlocutor {
        Some(found) => {
            noted = clients::note_inbound(conn, &found, now)?;
            if let Some(active) = context.active {
                let target = Target::Dialog {
                    id: active.id,
                    known: true,
                    has_rules,
                };
                return Ok((target, noted));
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
    let opening = Instant::now();
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
            let target = Target::Opened {
                dialog: Box::new(Loaded {
                    row: opened,
                    require_close_reason: account.require_close_reason,
                    read_at: opening,
                }),
                known,
                has_rules,
            };
            Ok((target, noted))
        }
        // Another process opened it a moment ago (the partial unique index decided).
        None => {
            let active = dialogs::find_active(conn, account_id, interlocutor.id)?
                .ok_or(EngineError::Db(DbError::VersionConflict))?;
            let target = Target::Dialog {
                id: active.id,
                known,
                has_rules,
            };
            Ok((target, noted))
        }
    }
}

fn account_settings(
    conn: &mut PgConnection,
    account_id: i64,
) -> Result<accounts::AccountRow, EngineError> {
    accounts::find(conn, account_id)?.ok_or(EngineError::NotFound)
}
