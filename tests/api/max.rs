//! R39: MAX bots as a channel, against a fake that speaks the Bot API as
//! `max-messenger/api-schema` documents it (`fakes.rs`, under `/max`): inbound by webhook
//! (the secret in `X-Max-Bot-Api-Secret`) and by long polling (`GET /updates` and its
//! marker), outbound through `POST /uploads` and `POST /messages`, edits and deletions
//! both ways, blocked people, the platform's rate limit, and a private certificate
//! authority trusted with `--extra-ca-file`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::channels::{
    WAIT, delivery_query, eventually, hook, only_dialog, reply, reply_with, text_of, upload,
};
use crate::fakes::{Answer, FakeChannel};
use crate::helpers::{TestApp, spawn_app};

const SECRET: &str = "max-secret_1";

async fn max_account(app: &TestApp, fake: &FakeChannel, mode: &str) -> i64 {
    app.create_account(
        "max",
        json!({"credentials": {"token": "max-token", "mode": mode, "webhook_secret": SECRET,
               "api_url": format!("{}/max", fake.url)}}),
    )
    .await
}

/// A person's message to the bot in their dialog, as MAX sends it.
fn created(user: i64, mid: &str, text: &str, attachments: Value) -> Value {
    json!({
        "update_type": "message_created",
        "timestamp": 1_780_000_000_000_i64,
        "user_locale": "ru",
        "message": {
            "sender": {"user_id": user, "first_name": "Мария", "last_name": "Соколова",
                       "username": "maria_s", "is_bot": false, "last_activity_time": 1_780_000_000_000_i64},
            "recipient": {"chat_id": 7000 + user, "chat_type": "dialog", "user_id": 9000},
            "timestamp": 1_780_000_000_000_i64,
            "body": {"mid": mid, "seq": 1, "text": text, "attachments": attachments}
        }
    })
}

async fn max_hook(app: &TestApp, account: i64, update: &Value, secret: &str) -> StatusCode {
    let body = serde_json::to_vec(update).unwrap();
    hook(
        app,
        &format!("/hooks/max/{account}"),
        &body,
        &[("X-Max-Bot-Api-Secret", secret.into())],
    )
    .await
    .0
}

/// A webhook MAX account on `fake` and the dialog that user `user`'s message `mid` opened.
async fn max_dialog(
    app: &TestApp,
    fake: &FakeChannel,
    user: i64,
    mid: &str,
    text: &str,
) -> (i64, i64) {
    let account = max_account(app, fake, "webhook").await;
    max_hook(app, account, &created(user, mid, text, json!(null)), SECRET).await;
    let (dialog, _) = only_dialog(app, account).await;
    (account, dialog)
}

#[actix_web::test]
async fn r39_max_webhook_text_picture_and_file_land_once_and_a_forged_secret_stores_nothing() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let account = max_account(&app, &fake, "webhook").await;
    let text = created(501, "mid.in1", "Здравствуйте! Есть доставка?", json!(null));

    // A forged or missing secret: 403, nothing stored.
    assert_eq!(
        max_hook(&app, account, &text, "wrong-secret").await,
        StatusCode::FORBIDDEN
    );
    let (status, _) = hook(
        &app,
        &format!("/hooks/max/{account}"),
        &serde_json::to_vec(&text).unwrap(),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) FROM messages"), 0);

    // The same update delivered twice (MAX retries when unsure): stored once.
    for _ in 0..2 {
        assert_eq!(max_hook(&app, account, &text, SECRET).await, StatusCode::OK);
    }
    let picture = created(
        501,
        "mid.in2",
        "",
        json!([{"type": "image", "payload": {"photo_id": 77, "token": "t77",
                "url": format!("{}/media/max-photo-77", fake.url)}}]),
    );
    let document = created(
        501,
        "mid.in3",
        "Реквизиты во вложении",
        json!([{"type": "file", "payload": {"url": format!("{}/media/max-file-1", fake.url), "token": "f1"},
                "filename": "реквизиты.pdf", "size": 70}]),
    );
    for update in [&picture, &document, &picture] {
        assert_eq!(
            max_hook(&app, account, update, SECRET).await,
            StatusCode::OK
        );
    }
    let (dialog, messages) = only_dialog(&app, account).await;
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[0]["text"], "Здравствуйте! Есть доставка?");
    let photo = &messages[1]["attachments"][0];
    assert_eq!(photo["kind"], "image");
    let file = &messages[2]["attachments"][0];
    assert_eq!(file["file_name"], "реквизиты.pdf");
    // The person is named as MAX names them; the picture is fetched and served.
    let admin = app.admin().await;
    let detail = admin.get(&format!("/api/v1/dialogs/{dialog}")).await;
    assert_eq!(
        detail.body["interlocutor"]["name"], "Мария Соколова",
        "{}",
        detail.text
    );
    let served = admin
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/attachments/{}", photo["id"]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(
        fake.calls("/media/max-photo-77").len(),
        1,
        "the picture was fetched from MAX's link once"
    );
}

#[actix_web::test]
async fn r39_max_replies_with_text_picture_and_file_through_uploads_and_edits_and_deletes_both_ways()
 {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let (account, dialog) = max_dialog(&app, &fake, 502, "mid.q", "Пришлите счёт").await;
    let admin = app.admin().await;

    // Text, a picture and a document: the document alone (MAX's rule), the picture with
    // the text, each file uploaded in the `data` field first.
    let ours = reply_with(
        &app,
        dialog,
        json!({"text": "Счёт и схема проезда", "attachments": [
            upload("схема.png", "image/png"), upload("счёт.pdf", "application/pdf")]}),
    )
    .await;
    eventually(&app, &delivery_query(ours), "sent").await;
    let uploads: Vec<String> = fake
        .calls("/max/uploads")
        .iter()
        .map(|c| c.query.clone())
        .collect();
    assert_eq!(uploads, ["type=image", "type=file"]);
    let uploaded = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/max-upload/"))
        .count();
    assert_eq!(uploaded, 2, "each file went to its upload address");
    let sends = fake.calls("/max/messages");
    assert_eq!(sends.len(), 2, "{sends:?}");
    assert!(sends.iter().all(|s| s.query == "user_id=502"), "{sends:?}");
    assert_eq!(sends[0].body["attachments"][0]["type"], "file");
    assert!(sends[0].body["attachments"][0]["payload"]["token"].is_string());
    assert!(sends[0].body.get("text").is_none());
    assert_eq!(sends[1].body["text"], "Счёт и схема проезда");
    assert_eq!(sends[1].body["attachments"][0]["type"], "image");
    assert!(sends[1].body["attachments"][0]["payload"]["photos"].is_object());
    let mid = text_of(
        &app,
        &format!("SELECT channel_message_id FROM messages WHERE id = {ours}"),
    )
    .unwrap();
    assert!(mid.starts_with("mid.out"), "{mid}");

    // A text over MAX's 4000 characters goes out in parts, in order.
    let long = format!("{}\n{}", "а".repeat(3000), "б".repeat(1000));
    let second = reply(&app, dialog, &long).await;
    eventually(&app, &delivery_query(second), "sent").await;
    let sends = fake.calls("/max/messages");
    let parts: Vec<String> = sends[2..]
        .iter()
        .map(|s| s.body["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(parts, ["а".repeat(3000), "б".repeat(1000)]);

    // The operator edits and deletes the reply: MAX is asked by the message's mid.
    let path = format!("/api/v1/dialogs/{dialog}/messages/{ours}");
    let edited = admin
        .patch(&path, json!({"text": "Счёт и схема (исправлено)"}))
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    let edit = fake
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PUT")
        .expect("MAX was asked to edit");
    assert_eq!(edit.path, "/max/messages");
    assert_eq!(edit.query, format!("message_id={mid}"));
    assert_eq!(
        edit.body,
        json!({"text": "Счёт и схема (исправлено)"}),
        "the files stay"
    );
    assert_eq!(admin.delete(&path).await.status, StatusCode::OK);
    let delete = fake
        .requests()
        .into_iter()
        .rfind(|r| r.method == "DELETE")
        .expect("MAX was asked to delete");
    assert_eq!(delete.query, format!("message_id={mid}"));

    // The person edits and deletes theirs.
    let edit = json!({"update_type": "message_edited", "timestamp": 1_780_000_100_000_i64,
        "message": {"sender": {"user_id": 502, "first_name": "Мария", "is_bot": false},
                    "recipient": {"chat_id": 7502, "chat_type": "dialog", "user_id": 9000},
                    "timestamp": 1_780_000_000_000_i64,
                    "body": {"mid": "mid.q", "seq": 1, "text": "Пришлите счёт, пожалуйста"}}});
    assert_eq!(max_hook(&app, account, &edit, SECRET).await, StatusCode::OK);
    assert_eq!(
        text_of(
            &app,
            "SELECT text FROM messages WHERE channel_message_id = 'mid.q'"
        )
        .as_deref(),
        Some("Пришлите счёт, пожалуйста")
    );
    assert_eq!(
        app.count("SELECT count(*) FROM message_edits WHERE old_text = 'Пришлите счёт'"),
        1
    );
    let removed = json!({"update_type": "message_removed", "timestamp": 1_780_000_200_000_i64,
        "message_id": "mid.q", "chat_id": 7502, "user_id": 502});
    assert_eq!(
        max_hook(&app, account, &removed, SECRET).await,
        StatusCode::OK
    );
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE channel_message_id = 'mid.q' AND deleted_at IS NOT NULL"),
        1
    );
}

#[actix_web::test]
async fn r39_max_waits_out_its_rate_limit_and_a_person_who_stopped_the_bot_fails_the_send() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let (account, dialog) = max_dialog(&app, &fake, 503, "mid.r", "Алло").await;

    // 429 with Retry-After: 1, then a 500: sent once, a second or more later.
    fake.schedule(&[Answer::RateLimited(1), Answer::ServerError]);
    let started = Instant::now();
    let message = reply(&app, dialog, "Перезвоним через час").await;
    eventually(&app, &delivery_query(message), "sent").await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the Retry-After was not waited"
    );
    assert_eq!(fake.delivered().len(), 1);
    let attempts = fake.calls("/max/messages");
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts[1].at.duration_since(attempts[0].at) >= Duration::from_millis(900),
        "the retry came before Retry-After"
    );

    // The person stops the bot: the next reply fails at once with the reason, and the
    // interlocutor is blocked until they start it again.
    let stopped = json!({"update_type": "bot_stopped", "timestamp": 1_780_000_300_000_i64,
        "chat_id": 7503, "user": {"user_id": 503, "first_name": "Мария", "is_bot": false}});
    assert_eq!(
        max_hook(&app, account, &stopped, SECRET).await,
        StatusCode::OK
    );
    assert_eq!(
        app.count("SELECT count(*) FROM interlocutors WHERE external_id = '503' AND blocked_at IS NOT NULL"),
        1
    );
    let started_again = json!({"update_type": "bot_started", "timestamp": 1_780_000_400_000_i64,
        "chat_id": 7503, "user": {"user_id": 503, "first_name": "Мария", "is_bot": false}});
    assert_eq!(
        max_hook(&app, account, &started_again, SECRET).await,
        StatusCode::OK
    );
    assert_eq!(
        app.count("SELECT count(*) FROM interlocutors WHERE external_id = '503' AND blocked_at IS NOT NULL"),
        0
    );
    fake.schedule(&[Answer::Blocked]);
    let refused = reply(&app, dialog, "Вы здесь?").await;
    eventually(&app, &delivery_query(refused), "failed").await;
    let error = text_of(
        &app,
        &format!("SELECT delivery_error FROM messages WHERE id = {refused}"),
    )
    .unwrap_or_default();
    assert!(error.contains("chat.denied"), "{error}");
    assert_eq!(
        app.count("SELECT count(*) FROM interlocutors WHERE external_id = '503' AND blocked_at IS NOT NULL"),
        1
    );
}

#[actix_web::test]
async fn r39_max_long_polling_saves_the_marker_after_commit_and_replays_without_duplicates() {
    let mut app = spawn_app().await;
    let fake = FakeChannel::start().await;
    // Served twice whatever the marker says, like a poller killed between the commit
    // and saving the marker.
    fake.ignore_offset(2);
    fake.push_update(created(601, "mid.p1", "первое", json!(null)));
    fake.push_update(created(601, "mid.p2", "второе", json!(null)));
    let account = max_account(&app, &fake, "polling").await;
    eventually(
        &app,
        "SELECT count(*) FROM messages WHERE direction = 'in'",
        "2",
    )
    .await;
    eventually(
        &app,
        &format!("SELECT poll_state->>'marker' FROM channel_accounts WHERE id = {account}"),
        "2",
    )
    .await;
    // A subscription would stop long polling: the old one was removed.
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path == "/max/subscriptions"),
        "the subscription was not removed"
    );
    let polls = fake.calls("/max/updates");
    assert!(
        polls
            .iter()
            .all(|p| p.query.contains("types=message_created"))
    );
    assert!(
        polls.iter().any(|p| p.query.contains("marker=2")),
        "{polls:?}"
    );

    // After a restart the poller goes on from the saved marker: nothing twice.
    app.restart().await;
    fake.push_update(created(601, "mid.p3", "третье", json!(null)));
    eventually(
        &app,
        "SELECT count(*) FROM messages WHERE direction = 'in'",
        "3",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE direction = 'in'"),
        3
    );
}

#[actix_web::test]
async fn r39_max_with_two_server_processes_only_one_polls() {
    let app = spawn_app().await;
    let _peer = app.spawn_peer().await;
    let fake = FakeChannel::start().await;
    max_account(&app, &fake, "polling").await;
    fake.wait_calls("/max/updates", 3, WAIT).await;
    fake.push_update(created(701, "mid.t1", "в очереди", json!(null)));
    eventually(&app, "SELECT count(*) FROM messages", "1").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (most, overlapping) = fake.poll_concurrency();
    assert_eq!((most, overlapping), (1, 0), "two pollers ran at once");
    assert_eq!(app.count("SELECT count(*) FROM messages"), 1);
}

#[actix_web::test]
async fn r39_saving_a_max_account_with_a_public_url_subscribes_its_webhook_with_the_secret() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let account = app
        .create_account(
            "max",
            json!({"credentials": {"token": "max-token", "mode": "webhook", "webhook_secret": SECRET,
                   "public_url": "https://dialogi.example.ru", "api_url": format!("{}/max", fake.url)}}),
        )
        .await;
    let subscribed = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == "/max/subscriptions");
    let subscribed = match subscribed {
        Some(call) => call,
        None => {
            fake.wait_calls("/max/subscriptions", 1, WAIT).await;
            fake.requests()
                .into_iter()
                .find(|r| r.method == "POST" && r.path == "/max/subscriptions")
                .expect("MAX was asked to subscribe")
        }
    };
    assert_eq!(
        subscribed.body["url"],
        format!("https://dialogi.example.ru/hooks/max/{account}")
    );
    assert_eq!(subscribed.body["secret"], SECRET);
    assert!(
        subscribed.body["update_types"]
            .as_array()
            .unwrap()
            .contains(&json!("bot_stopped"))
    );
    // The connection check names the bot; a wrong secret shape is refused when saved.
    let admin = app.admin().await;
    let checked = admin
        .post(&format!("/api/v1/accounts/{account}/check"), json!({}))
        .await;
    assert_eq!(checked.body["ok"], true, "{}", checked.text);
    assert!(
        checked.body["description"]
            .as_str()
            .unwrap()
            .contains("@shop_bot")
    );
    let bad = admin
        .post(
            "/api/v1/accounts",
            json!({"kind": "max", "name": "MAX", "credentials": {"token": "t", "webhook_secret": "a b"}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
}

/// A MAX API on `https://localhost` whose certificate is issued by a certificate
/// authority of the test's own (as MAX's newer host is by the Russian Ministry of Digital
/// Development's root, which the usual roots lack): the authority's PEM file, and the
/// API's port. It answers every request with the bot's `GET /me`.
async fn tls_max_under_a_private_root(dir: &std::path::Path) -> (std::path::PathBuf, u16) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;

    let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.distinguished_name
        .push(DnType::CommonName, "Test Trusted Root CA");
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let root_key = KeyPair::generate().unwrap();
    let root_cert = root.self_signed(&root_key).unwrap();
    let issuer = Issuer::new(root, root_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let ca_file = dir.join("extra-ca.pem");
    std::fs::write(&ca_file, root_cert.pem()).unwrap();

    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    actix_web::rt::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            actix_web::rt::spawn(async move {
                // A client that does not trust the root ends the handshake: nothing to do.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let body = json!({"user_id": 9100, "first_name": "Банк", "username": "secure_bot",
                                  "is_bot": true})
                .to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (ca_file, port)
}

#[actix_web::test]
async fn r39_an_extra_ca_file_lets_the_channel_reach_an_api_under_a_private_root() {
    let dir = std::env::temp_dir().join(format!("dialogi-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca_file, port) = tls_max_under_a_private_root(&dir).await;
    let credentials = json!({"credentials": {"token": "max-token", "mode": "webhook",
        "api_url": format!("https://localhost:{port}")}});
    let check = async |app: &TestApp| {
        let account = app.create_account("max", credentials.clone()).await;
        app.admin()
            .await
            .post(&format!("/api/v1/accounts/{account}/check"), json!({}))
            .await
    };

    // The usual roots do not know the private one: the connection is refused.
    let usual = spawn_app().await;
    let refused = check(&usual).await;
    assert_eq!(refused.body["ok"], false, "{}", refused.text);

    // With the authority's file the same API is reached and names its bot.
    let trusting = crate::helpers::spawn_app_with(|config| {
        config.extra_ca_file = Some(ca_file.clone());
    })
    .await;
    let reached = check(&trusting).await;
    assert_eq!(reached.body["ok"], true, "{}", reached.text);
    assert!(
        reached.body["description"]
            .as_str()
            .unwrap()
            .contains("@secure_bot"),
        "{}",
        reached.text
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn r39_max_replies_are_paced_two_a_second_per_chat_in_order() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let (_, dialog) = max_dialog(&app, &fake, 504, "mid.p", "Жду ответа").await;
    let mut ids = Vec::new();
    for text in ["раз", "два", "три", "четыре"] {
        ids.push(reply(&app, dialog, text).await);
    }
    let calls = fake.wait_calls("/max/messages", 4, WAIT).await;
    assert_eq!(calls.len(), 4);
    // MAX takes two messages a second per chat: half a second apart, in order.
    for pair in calls.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(490), "only {gap:?} apart");
    }
    let texts: Vec<&str> = calls
        .iter()
        .map(|c| c.body["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["раз", "два", "три", "четыре"]);
    for id in ids {
        eventually(&app, &delivery_query(id), "sent").await;
    }
}
