//! Issue #24, R48: VK group conversations. VK sends their messages with `"id": 0` and a
//! `conversation_message_id` per conversation; each is stored exactly once, in one dialog
//! per conversation (named after its title), with the member who wrote it — by callback
//! and by long poll — and a re-delivery stores nothing new.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::channels::{WAIT, eventually, hook, vk_account, vk_event};
use crate::fakes::FakeChannel;
use crate::helpers::TestApp;

const CONVERSATIONS: i64 = 2_000_000_000;

/// A message in group conversation `chat` (peer 2000000000 + chat), number `number` in
/// it, written by `from`: as VK sends it, with `id: 0`.
fn conversation_message(chat: i64, number: i64, from: i64, text: &str) -> Value {
    json!({"message": {"date": 1_700_000_000 + number, "from_id": from, "id": 0, "out": 0,
        "peer_id": CONVERSATIONS + chat, "text": text, "conversation_message_id": number,
        "fwd_messages": [], "important": false, "is_hidden": false, "attachments": [],
        "random_id": 0},
        "client_info": {"keyboard": true, "inline_keyboard": true, "lang_id": 0}})
}

fn private_message(id: i64, from: i64, text: &str) -> Value {
    json!({"message": {"date": 1_700_000_000 + id, "from_id": from, "id": id, "out": 0,
        "peer_id": from, "text": text, "conversation_message_id": id, "fwd_messages": [],
        "important": false, "is_hidden": false, "attachments": [], "random_id": 0},
        "client_info": {"keyboard": true, "lang_id": 0}})
}

/// 50 conversation messages (5 conversations, 10 each, members 100+) interleaved with
/// 10 private ones, as `message_new` events with ids prefixed by `round`.
fn traffic(round: &str) -> Vec<Value> {
    let mut events = Vec::new();
    for number in 1..=10 {
        for chat in 1..=5 {
            let from = 100 + (number + chat) % 3;
            let text = format!("беседа {chat}, сообщение {number}");
            events.push(vk_event(
                &format!("{round}-c{chat}-{number}"),
                "message_new",
                conversation_message(chat, number, from, &text),
            ));
        }
        events.push(vk_event(
            &format!("{round}-p{number}"),
            "message_new",
            private_message(500 + number, 7000 + number, &format!("личное {number}")),
        ));
    }
    events
}

/// Each conversation dialog: its title and its inbound messages' (text, author id).
async fn conversation_dialogs(app: &TestApp, account: i64) -> Vec<(String, Vec<(String, String)>)> {
    let admin = app.admin().await;
    let list = admin
        .get(&format!(
            "/api/v1/dialogs?section=all&account_id={account}&limit=200"
        ))
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let mut found = Vec::new();
    for dialog in list.body["items"].as_array().unwrap() {
        let id = dialog["id"].as_i64().unwrap();
        let detail = admin.get(&format!("/api/v1/dialogs/{id}")).await;
        let name = detail.body["interlocutor"]["name"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if !name.starts_with("Беседа") {
            continue;
        }
        let messages = admin
            .get(&format!("/api/v1/dialogs/{id}/messages?limit=200"))
            .await;
        let lines = messages.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["direction"] == "in")
            .map(|m| {
                (
                    m["text"].as_str().unwrap().to_owned(),
                    m["sender"]["external_id"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        found.push((name, lines));
    }
    found.sort();
    found
}

fn assert_every_conversation_message_once(found: &[(String, Vec<(String, String)>)]) {
    assert_eq!(found.len(), 5, "{found:?}");
    for (chat, (title, lines)) in (1..=5).zip(found) {
        assert_eq!(title, &format!("Беседа {chat}"));
        assert_eq!(lines.len(), 10, "{title}: {lines:?}");
        for number in 1..=10 {
            let text = format!("беседа {chat}, сообщение {number}");
            let author = (100 + (number + chat) % 3).to_string();
            assert_eq!(
                lines
                    .iter()
                    .filter(|(t, a)| *t == text && *a == author)
                    .count(),
                1,
                "{title}: {text} by {author} in {lines:?}"
            );
        }
    }
}

#[actix_web::test]
async fn r48_vk_conversation_messages_are_each_stored_once_with_their_author_by_callback() {
    let app = crate::helpers::spawn_app().await;
    let fake = FakeChannel::start().await;
    let account = vk_account(&app, &fake, "callback").await;
    let path = format!("/hooks/vk/{account}");
    for event in traffic("first") {
        let (status, body) = hook(&app, &path, &serde_json::to_vec(&event).unwrap(), &[]).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    }
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE direction = 'in'"),
        60
    );
    assert_every_conversation_message_once(&conversation_dialogs(&app, account).await);

    // VK delivers all of it again, as new events: nothing new is stored.
    for event in traffic("again") {
        let (status, _) = hook(&app, &path, &serde_json::to_vec(&event).unwrap(), &[]).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE direction = 'in'"),
        60
    );
    assert_eq!(app.count("SELECT count(*) FROM dialogs"), 15);

    // A reply goes to the conversation's peer.
    let dialog = app.count(&format!(
        "SELECT d.id FROM dialogs d JOIN interlocutors i ON i.id = d.interlocutor_id \
         WHERE i.external_id = '{}'",
        CONVERSATIONS + 3
    ));
    let answer = app
        .admin()
        .await
        .post(
            &format!("/api/v1/dialogs/{dialog}/messages"),
            json!({"text": "Ответ в беседу"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let sent = fake.wait_calls("messages.send", 1, WAIT).await;
    assert_eq!(sent[0].body["peer_id"], (CONVERSATIONS + 3).to_string());
}

#[actix_web::test]
async fn r48_vk_conversation_messages_are_each_stored_once_with_their_author_by_long_poll() {
    let app = crate::helpers::spawn_app().await;
    let fake = FakeChannel::start().await;
    for event in traffic("first").into_iter().chain(traffic("again")) {
        fake.push_update(event);
    }
    let account = vk_account(&app, &fake, "longpoll").await;
    eventually(
        &app,
        "SELECT count(*) FROM messages WHERE direction = 'in'",
        "60",
    )
    .await;
    // Every event was polled (the second round too) and none stored twice.
    let deadline = std::time::Instant::now() + WAIT;
    while app.count(&format!(
        "SELECT coalesce((poll_state->>'ts')::bigint, 0) FROM channel_accounts WHERE id = {account}"
    )) < 121
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the long poll did not reach the end"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE direction = 'in'"),
        60
    );
    assert_every_conversation_message_once(&conversation_dialogs(&app, account).await);
}

#[actix_web::test]
async fn r48_vk_random_ids_differ_between_installations() {
    // Two installations (a reinstall, a restored backup) each send their first reply: VK
    // must not take the second for a repeat of the first.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let app = crate::helpers::spawn_app().await;
        let fake = FakeChannel::start().await;
        let account = vk_account(&app, &fake, "callback").await;
        let event = vk_event(
            "first",
            "message_new",
            private_message(1, 77, "Здравствуйте"),
        );
        hook(
            &app,
            &format!("/hooks/vk/{account}"),
            &serde_json::to_vec(&event).unwrap(),
            &[],
        )
        .await;
        let dialog = app.count("SELECT max(id) FROM dialogs");
        let answer = app
            .admin()
            .await
            .post(
                &format!("/api/v1/dialogs/{dialog}/messages"),
                json!({"text": "Добрый день"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let sent = fake.wait_calls("messages.send", 1, WAIT).await;
        ids.push(sent[0].body["random_id"].as_str().unwrap().to_owned());
        assert_eq!(
            app.count("SELECT id FROM outbox"),
            1,
            "both are the first outbox row"
        );
    }
    assert_ne!(ids[0], ids[1], "the same random_id from two installations");
}
