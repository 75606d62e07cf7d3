//! Running the automatic processing rules (R8) on an inbound message, in the account's
//! actor, after the message is committed. Each matching rule's actions go to the
//! dialog's actor as commands of the system; each rule that ran leaves a system line
//! saying what it did and what failed. A faulty rule is logged and recorded — the message
//! is already stored and stays.

use actix::MailboxError;
use serde_json::{Value, json};

use super::account::{Inbound, system};
use super::dialog::DialogCommand;
use super::registry::Registry;
use super::{ASK_TIMEOUT, EngineError};
use crate::db::dialogs::NewContent;
use crate::db::{self, DbPool, accounts, clients, dialogs, rules};
use crate::domain::dialog::{Command, Target};
use crate::domain::rules::{self as rule, Action, Condition, Facts};
use crate::domain::{InterestId, RoleId, UserId};

pub async fn run(
    pool: &DbPool,
    registry: &Registry,
    account_id: i64,
    dialog_id: i64,
    inbound: &Inbound,
    client_known: bool,
) {
    let loaded = db::run(pool, move |conn| {
        let list = rules::for_account(conn, account_id)?;
        if list.is_empty() {
            return Ok(None);
        }
        let account = accounts::find(conn, account_id)?;
        Ok(account.map(|a| (list, a.kind, a.name)))
    })
    .await;
    let (list, kind, account_name) = match loaded {
        Ok(Some(found)) => found,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(account = account_id, error = %error, "rules not loaded; the message is stored without them");
            return;
        }
    };
    let facts = Facts {
        account_id,
        channel: &kind,
        text: &inbound.text,
        client_known,
        now: chrono::Utc::now(),
    };
    for row in list {
        let parsed = serde_json::from_value::<Vec<Condition>>(row.conditions.clone())
            .map_err(|e| e.to_string())
            .and_then(|conditions| rule::matches(&conditions, &facts).map_err(|e| e.to_string()))
            .and_then(|matched| {
                let actions = serde_json::from_value::<Vec<Action>>(row.actions.clone())
                    .map_err(|e| e.to_string())?;
                Ok((matched, actions))
            });
        let (matched, actions) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => {
                tracing::warn!(rule = row.id, error = %error, "a rule cannot run");
                note(
                    pool,
                    dialog_id,
                    json!({"rule_id": row.id, "name": row.name, "error": error}),
                )
                .await;
                continue;
            }
        };
        if !matched {
            continue;
        }
        let mut results = Vec::with_capacity(actions.len());
        for action in &actions {
            let result = perform(pool, registry, dialog_id, action, inbound, &account_name).await;
            if let Err(error) = &result {
                tracing::info!(rule = row.id, dialog = dialog_id, error = %error, "a rule's action was refused");
            }
            results.push(json!({
                "action": action_name(action),
                "ok": result.is_ok(),
                "error": result.err(),
            }));
        }
        note(
            pool,
            dialog_id,
            json!({"rule_id": row.id, "name": row.name, "actions": results}),
        )
        .await;
        if row.stop_processing {
            break;
        }
    }
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Assign { .. } => "assign",
        Action::Redirect { .. } => "redirect",
        Action::AutoReply { .. } => "auto_reply",
        Action::Close { .. } => "close",
        Action::LinkInterest => "link_interest",
        Action::MarkLead => "mark_lead",
    }
}

/// Writes the `rule` system line.
async fn note(pool: &DbPool, dialog_id: i64, data: Value) {
    let written = db::run(pool, move |conn| {
        let Some(dialog) = dialogs::find(conn, dialog_id)? else {
            return Ok(());
        };
        dialogs::add_system_line(conn, &dialog, "rule", data).map(|_| ())
    })
    .await;
    if let Err(error) = written {
        tracing::warn!(dialog = dialog_id, error = %error, "the rule's system line was not written");
    }
}

fn target(user_id: Option<i64>, role_id: Option<i64>) -> Result<Target, String> {
    match (user_id, role_id) {
        (Some(user), None) => Ok(Target::User(UserId(user))),
        (None, Some(role)) => Ok(Target::Role(RoleId(role))),
        _ => Err("a user_id or a role_id".into()),
    }
}

async fn perform(
    pool: &DbPool,
    registry: &Registry,
    dialog_id: i64,
    action: &Action,
    inbound: &Inbound,
    account_name: &str,
) -> Result<(), String> {
    let mut command = DialogCommand::new(system(), Command::MarkLead);
    match action {
        Action::Assign { user_id, role_id } => {
            command.command = Command::Assign {
                to: target(*user_id, *role_id)?,
            };
        }
        Action::Redirect { user_id, role_id } => {
            command.command = Command::Redirect {
                to: target(*user_id, *role_id)?,
            };
        }
        Action::AutoReply { text } => {
            let dialog = db::run(pool, move |conn| dialogs::find(conn, dialog_id))
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the dialog is gone")?;
            let title = dialog
                .title
                .clone()
                .unwrap_or_else(|| format!("№{}", dialog.number));
            let text = rule::fill(text, &inbound.sender.display_name, account_name, &title);
            command.command = Command::AutoReply;
            command.content = Some(NewContent::Reply {
                text,
                attachments: Vec::new(),
            });
        }
        Action::Close { reason_id } => {
            command.command = Command::Close {
                reason_given: reason_id.is_some(),
            };
            command.close_reason_id = *reason_id;
        }
        Action::LinkInterest => {
            let interest = db::run(pool, move |conn| {
                let Some(dialog) = dialogs::find(conn, dialog_id)? else {
                    return Ok(None);
                };
                match dialog.client_id {
                    Some(client) => Ok(clients::active_interests(conn, client)?
                        .first()
                        .map(|i| i.id)),
                    None => Ok(None),
                }
            })
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the client has no active interest")?;
            command.command = Command::LinkInterest {
                interest: InterestId(interest),
            };
        }
        Action::MarkLead => {}
    }
    ask(registry, dialog_id, command)
        .await
        .map_err(|e| e.to_string())
}

/// Sends a command to the dialog's actor, once more if the actor had just stopped.
async fn ask(
    registry: &Registry,
    dialog_id: i64,
    command: DialogCommand,
) -> Result<(), EngineError> {
    for _ in 0..3 {
        let addr = registry.dialog(dialog_id);
        match addr.send(command.clone()).timeout(ASK_TIMEOUT).await {
            Err(MailboxError::Closed) => registry.forget_dead_dialog(dialog_id, &addr),
            Err(error) => return Err(error.into()),
            Ok(answer) => return answer.map(|_| ()),
        }
    }
    Err(EngineError::Stopped)
}
