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
        author: None,
        extras: Default::default(),
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

/// Asks until the answer has `expected` status, for at most a few seconds (another
/// process hears of a change when its event pump reads it, within milliseconds), then
/// asks once more: the answer must stay.
async fn settles<F, Fut>(ask: F, expected: StatusCode)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = crate::helpers::Answer>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let answer = ask().await;
        if answer.status == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {} ({}), expected {expected}",
            answer.status,
            answer.text
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(ask().await.status, expected);
}

#[actix_web::test]
async fn a_credential_revoked_or_a_right_withdrawn_through_one_process_stops_working_in_the_other()
{
    let app = spawn_app_with(|c| c.login_attempts_per_ip = 1000).await;
    let peer = app.spawn_peer().await;
    let account = app.create_account("telegram", json!({})).await;
    let dialog = app.dialog_of(account, "1", "Здравствуйте").await;
    let ivan = app.add_user("ivan", PASSWORD, false).await;
    app.grant(account, json!([{"user_id": ivan, "send": true}]))
        .await;
    let token = app.with_token(&app.token_for(ivan, &["read", "write"]).await);
    let second_token = app.with_token(&app.token_for(ivan, &["read"]).await);
    let session = app.login("ivan", PASSWORD).await;
    let (token_there, second_there, session_there) = (
        peer.client(&token),
        peer.client(&second_token),
        peer.client(&session),
    );
    // The other process remembers each credential and ivan's rights after one use.
    let path = format!("/api/v1/dialogs/{dialog}");
    for client in [&token_there, &second_there, &session_there] {
        assert_eq!(client.get(&path).await.status, StatusCode::OK);
    }

    app.grant(account, json!([])).await;
    settles(|| token_there.get(&path), StatusCode::NOT_FOUND).await;
    assert_eq!(
        token_there
            .post(&format!("{path}/accept"), json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        session.delete("/api/v1/session").await.status,
        StatusCode::NO_CONTENT
    );
    settles(|| session_there.get("/api/v1/me"), StatusCode::UNAUTHORIZED).await;

    let admin = app.admin().await;
    let tokens = admin.get("/api/v1/tokens").await;
    let revoked = tokens.body.as_array().expect("a token list")[0]["id"]
        .as_i64()
        .expect("a token id");
    assert_eq!(
        admin
            .delete(&format!("/api/v1/tokens/{revoked}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let (revoked_there, still_there) = if tokens.body[0]["scopes"] == json!(["read"]) {
        (&second_there, &token_there)
    } else {
        (&token_there, &second_there)
    };
    settles(|| revoked_there.get("/api/v1/me"), StatusCode::UNAUTHORIZED).await;
    assert_eq!(still_there.get("/api/v1/me").await.status, StatusCode::OK);

    let disabled = admin
        .patch(&format!("/api/v1/users/{ivan}"), json!({"disabled": true}))
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
    settles(|| still_there.get("/api/v1/me"), StatusCode::UNAUTHORIZED).await;
}

#[actix_web::test]
async fn a_refusal_in_one_process_is_decided_on_the_dialog_as_another_process_left_it() {
    let app = spawn_app_with(|c| c.login_attempts_per_ip = 1000).await;
    let peer = app.spawn_peer().await;
    let account = app.create_account("telegram", json!({})).await;
    let dialog = app.dialog_of(account, "1", "Вопрос").await;
    let anna_id = app.add_user("anna", PASSWORD, false).await;
    let boris_id = app.add_user("boris", PASSWORD, false).await;
    app.grant(
        account,
        json!([{"user_id": anna_id, "send": true}, {"user_id": boris_id, "send": true}]),
    )
    .await;
    let anna = app.login("anna", PASSWORD).await;
    let boris = app.login("boris", PASSWORD).await;
    // This process's actor keeps the dialog as anna's.
    let path = format!("/api/v1/dialogs/{dialog}");
    let accepted = anna.post(&format!("{path}/accept"), json!({})).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    // The other process gives it to boris.
    let redirected = peer
        .client(&anna)
        .post(&format!("{path}/redirect"), json!({"user_id": boris_id}))
        .await;
    assert_eq!(redirected.status, StatusCode::OK, "{}", redirected.text);
    // Here, boris's accept is decided on the dialog as it stands now, not as kept.
    let taken = boris.post(&format!("{path}/accept"), json!({})).await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.text);
    assert_eq!(taken.body["status"], "accepted");
}

#[actix_web::test]
async fn a_block_recorded_by_one_process_is_lifted_by_the_persons_next_message_through_another() {
    let app = spawn_app_with(|_| {}).await;
    let fake = crate::fakes::FakeChannel::start().await;
    let account = crate::channels::telegram_account(&app, &fake, "webhook").await;
    let peer = app.spawn_peer().await;
    let through_peer = |update: Value| {
        let url = format!("{}/hooks/telegram/{account}", peer.address);
        async move {
            reqwest::Client::new()
                .post(url)
                .header(
                    "X-Telegram-Bot-Api-Secret-Token",
                    crate::channels::TG_SECRET,
                )
                .json(&update)
                .send()
                .await
                .expect("the peer answers")
                .status()
        }
    };
    let blocked = "SELECT count(*) FROM interlocutors WHERE blocked_at IS NOT NULL";

    // Ivan writes through the peer, whose account actor then remembers him.
    let first = through_peer(crate::channels::tg_text(1, 809, 1, "Привет")).await;
    assert_eq!(first, StatusCode::OK);
    // He blocks the bot; Telegram tells this process.
    let kicked = json!({"update_id": 2, "my_chat_member": {
        "chat": {"id": 809, "type": "private", "first_name": "Иван"},
        "from": {"id": 809, "is_bot": false, "first_name": "Иван"}, "date": 1_700_000_002,
        "old_chat_member": {"user": {"id": 1, "is_bot": true, "first_name": "Bot"}, "status": "member"},
        "new_chat_member": {"user": {"id": 1, "is_bot": true, "first_name": "Bot"}, "status": "kicked", "until_date": 0}}});
    let status =
        crate::channels::telegram_hook(&app, account, &kicked, crate::channels::TG_SECRET).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.count(blocked), 1);
    // He unblocks and writes again, through the peer: the block is lifted with that
    // message, not a minute later (replies would fail as blocked until then).
    // (The peer's event pump reads the block's event within milliseconds.)
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let again = through_peer(crate::channels::tg_text(3, 809, 2, "Снова тут")).await;
    assert_eq!(again, StatusCode::OK);
    assert_eq!(app.count(blocked), 0);
}
