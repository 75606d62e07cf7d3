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

/// A `message_reply` object as VK sends it for a message from the community to `peer`.
fn community_message(id: i64, peer: i64, random_id: i64, text: &str) -> Value {
    json!({"date": 1_700_000_500 + id, "from_id": -4242, "id": id, "out": 1, "peer_id": peer,
        "text": text, "conversation_message_id": id, "fwd_messages": [], "important": false,
        "is_hidden": false, "attachments": [], "random_id": random_id})
}

async fn vk_post(app: &TestApp, account: i64, event: &Value) -> StatusCode {
    hook(
        app,
        &format!("/hooks/vk/{account}"),
        &serde_json::to_vec(event).unwrap(),
        &[],
    )
    .await
    .0
}

#[actix_web::test]
async fn r48_a_reply_typed_in_vk_shows_as_sent_from_vk_and_ours_coming_back_are_not_doubled() {
    let app = crate::helpers::spawn_app().await;
    let fake = FakeChannel::start().await;
    let account = vk_account(&app, &fake, "callback").await;
    vk_post(
        &app,
        account,
        &vk_event(
            "n1",
            "message_new",
            private_message(1, 77, "Сколько стоит?"),
        ),
    )
    .await;
    let dialog = app.count("SELECT max(id) FROM dialogs");
    let answer = app
        .admin()
        .await
        .post(
            &format!("/api/v1/dialogs/{dialog}/messages"),
            json!({"text": "Сейчас уточню"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let sent = fake.wait_calls("messages.send", 1, WAIT).await;
    let our_random: i64 = sent[0].body["random_id"].as_str().unwrap().parse().unwrap();
    eventually(
        &app,
        "SELECT delivery FROM messages WHERE direction = 'out'",
        "sent",
    )
    .await;
    let our_id: i64 = crate::channels::text_of(
        &app,
        "SELECT channel_message_id FROM messages WHERE direction = 'out'",
    )
    .unwrap()
    .parse()
    .unwrap();

    // VK reports our own send back: under its id, and (had it come before our send's
    // answer was recorded) under an id we do not know yet with our random_id.
    for (event, id) in [("r1", our_id), ("r2", our_id + 1000)] {
        let echo = community_message(id, 77, our_random, "Сейчас уточню");
        assert_eq!(
            vk_post(&app, account, &vk_event(event, "message_reply", echo)).await,
            StatusCode::OK
        );
    }
    let outbound = "SELECT count(*) FROM messages WHERE direction = 'out'";
    assert_eq!(app.count(outbound), 1, "our reply is not doubled");

    // A community administrator answers in VK itself: the operators see it.
    let typed = community_message(our_id + 1, 77, 987_654_321, "Цена 500 ₽ — ответил в VK");
    vk_post(
        &app,
        account,
        &vk_event("r3", "message_reply", typed.clone()),
    )
    .await;
    vk_post(&app, account, &vk_event("r3-again", "message_reply", typed)).await;
    assert_eq!(app.count(outbound), 2, "stored once");
    let feed = app
        .admin()
        .await
        .get(&format!("/api/v1/dialogs/{dialog}/messages"))
        .await;
    let last = feed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|m| m["direction"] == "out")
        .unwrap()
        .clone();
    assert_eq!(last["text"], "Цена 500 ₽ — ответил в VK");
    assert_eq!(last["extras"]["typed_on"], "vk", "{last}");
    assert_eq!(last["delivery"], "sent");
    assert!(last["author"].is_null(), "no operator wrote it");
    assert_eq!(
        crate::channels::text_of(
            &app,
            &format!("SELECT last_message_preview FROM dialogs WHERE id = {dialog}")
        )
        .as_deref(),
        Some("Цена 500 ₽ — ответил в VK"),
        "the list follows"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM events WHERE kind = 'message' AND dialog_id = {dialog} \
             AND payload->>'direction' = 'out' AND payload->>'preview' = 'Цена 500 ₽ — ответил в VK'"
        )),
        1,
        "open dialogs learn of it live"
    );

    // To someone who never wrote to the community: there is no dialog to show it in.
    vk_post(
        &app,
        account,
        &vk_event(
            "r4",
            "message_reply",
            community_message(our_id + 2, 88, 5, "Рассылка"),
        ),
    )
    .await;
    assert_eq!(app.count(outbound), 2);
    assert_eq!(app.count("SELECT count(*) FROM dialogs"), 1);
}

#[actix_web::test]
async fn r48_forwarded_messages_keep_who_wrote_them_first_on_telegram_and_vk() {
    let app = crate::helpers::spawn_app().await;
    let fake = FakeChannel::start().await;
    let telegram = crate::channels::telegram_account(&app, &fake, "webhook").await;
    let forwarded = json!({"update_id": 900, "message": {"message_id": 31, "date": 1_700_000_900,
        "chat": {"id": 501, "type": "private", "first_name": "Олег"},
        "from": {"id": 501, "is_bot": false, "first_name": "Олег"},
        "forward_origin": {"type": "user", "date": 1_699_990_000,
            "sender_user": {"id": 777, "is_bot": false, "first_name": "Мария", "last_name": "Сидорова"}},
        "text": "Счёт № 42 на 15 000 ₽"}});
    let status =
        crate::channels::telegram_hook(&app, telegram, &forwarded, crate::channels::TG_SECRET)
            .await;
    assert_eq!(status, StatusCode::OK);
    let channel_post = json!({"update_id": 901, "message": {"message_id": 32, "date": 1_700_000_901,
        "chat": {"id": 501, "type": "private", "first_name": "Олег"},
        "from": {"id": 501, "is_bot": false, "first_name": "Олег"},
        "forward_origin": {"type": "channel", "date": 1_699_990_100, "message_id": 7,
            "chat": {"id": -100_555, "type": "channel", "title": "Новости магазина"}},
        "text": "Скидки до пятницы"}});
    crate::channels::telegram_hook(&app, telegram, &channel_post, crate::channels::TG_SECRET).await;
    let (_, messages) = crate::channels::only_dialog(&app, telegram).await;
    let said: Vec<&Value> = messages.iter().filter(|m| m["direction"] == "in").collect();
    assert_eq!(said[0]["text"], "Счёт № 42 на 15 000 ₽");
    assert_eq!(
        said[0]["extras"]["forwarded"],
        json!([{"from": "Мария Сидорова"}])
    );
    assert_eq!(
        said[1]["extras"]["forwarded"],
        json!([{"from": "Новости магазина"}])
    );

    let vk = vk_account(&app, &fake, "callback").await;
    let mut message = private_message(5, 78, "Посмотрите, что мне прислали");
    message["message"]["fwd_messages"] = json!([
        {"date": 1_699_000_000, "from_id": 333, "text": "Ваш заказ готов", "attachments": [],
         "conversation_message_id": 12, "peer_id": 333, "id": 0},
        {"date": 1_699_000_100, "from_id": -4242, "text": "",
         "attachments": [{"type": "sticker", "sticker": {"sticker_id": 9, "product_id": 1,
            "images": [{"url": "https://vk.com/s/9.png", "width": 128, "height": 128}]}}]}
    ]);
    vk_post(&app, vk, &vk_event("f1", "message_new", message)).await;
    let (_, messages) = crate::channels::only_dialog(&app, vk).await;
    let item = messages.iter().find(|m| m["direction"] == "in").unwrap();
    assert_eq!(item["text"], "Посмотрите, что мне прислали");
    let forwarded = item["extras"]["forwarded"].as_array().unwrap();
    assert_eq!(forwarded.len(), 2, "{item}");
    assert_eq!(
        forwarded[0],
        json!({"from": "id333", "text": "Ваш заказ готов"})
    );
    // A forwarded sticker without words: what it is, as the list would say it.
    assert_eq!(forwarded[1], json!({"from": "club4242", "text": "🖼"}));
}
