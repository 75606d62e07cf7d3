//! Two server processes on one database stay correct for the same races: the database's
//! guards (version-checked updates, the one-active-dialog index, the message dedup key)
//! decide, not only the actors of one process.

use dialogi::actors::{Inbound, InboundOutcome};
use dialogi::db::clients::Sender;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app_with;

const PASSWORD: &str = "operator-password";

#[actix_web::test]
async fn accepts_racing_through_two_processes_have_one_winner() {
    let app = spawn_app_with(|c| c.login_attempts_per_ip = 1000).await;
    let peer = app.spawn_peer().await;
    let account = app.create_account("telegram", json!({})).await;
    let dialog = app.dialog_of(account, "1", "Кто первый?").await;
    let mut grants = Vec::new();
    for i in 0..20 {
        let id = app.add_user(&format!("op{i}"), PASSWORD, false).await;
        grants.push(json!({"user_id": id, "send": true}));
    }
    app.grant(account, Value::Array(grants)).await;
    let mut clients = Vec::new();
    for i in 0..20 {
        let login = app.login(&format!("op{i}"), PASSWORD).await;
        // Half of the operators reach the other process.
        clients.push(if i % 2 == 0 {
            peer.client(&login)
        } else {
            login
        });
    }
    let path = format!("/api/v1/dialogs/{dialog}/accept");
    let answers =
        futures_util::future::join_all(clients.iter().map(|c| c.post(&path, json!({})))).await;
    let ok = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    let conflict = answers
        .iter()
        .filter(|a| a.status == StatusCode::CONFLICT)
        .count();
    assert_eq!(
        (ok, conflict),
        (1, 19),
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE system_kind = 'accepted'"),
        1
    );
}

#[actix_web::test]
async fn inbound_bursts_through_two_processes_open_one_dialog_and_store_each_message_once() {
    let app = spawn_app_with(|_| {}).await;
    let peer = app.spawn_peer().await;
    let account = app.create_account("telegram", json!({})).await;
    let inbound = |i: usize| Inbound {
        sender: Sender {
            external_id: "42".into(),
            display_name: "Ольга".into(),
            username: None,
        },
        // Every message is delivered twice, once to each process.
        channel_message_id: format!("tg:42:{}", i / 2),
        text: format!("сообщение {}", i / 2),
        sent_at: None,
        attachments: Vec::new(),
    };
    let sends = (0..40).map(|i| {
        let engine = if i % 2 == 0 {
            &app.engine
        } else {
            &peer.engine
        };
        let message = inbound(i);
        async move { engine.inbound(account, message).await }
    });
    let outcomes = futures_util::future::join_all(sends).await;
    let stored = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(InboundOutcome::Stored { .. })))
        .count();
    let duplicates = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(InboundOutcome::Duplicate)))
        .count();
    assert_eq!((stored, duplicates), (20, 20), "{outcomes:?}");
    assert_eq!(app.count("SELECT count(*) FROM dialogs"), 1);
    assert_eq!(app.count("SELECT count(*) FROM interlocutors"), 1);
    assert_eq!(app.count("SELECT count(*) FROM clients"), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE direction = 'in'"),
        20
    );
}
