//! The operator's daily tools (issue #26). R41: quick replies, each scope used and changed
//! by its own people, sorted by use, imported and exported as CSV. R42: internal notes and
//! @mentions — a note is a message of the dialog only staff see: never sent to the
//! channel, allowed to whoever may view the dialog; a mention tells the colleague at once
//! and lists the dialog in their "Моя работа" until they open it. R46: presence — who
//! views and who types in a dialog reaches the colleagues who may see it at once, never as
//! a stored event; operators are online, away or offline. R43: the client panel beside a
//! dialog, in one answer.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::channels::telegram_account;
use crate::fakes::FakeChannel;
use crate::helpers::spawn_app;

const PASSWORD: &str = "operator-password-1";
const WAIT: Duration = Duration::from_secs(15);

#[actix_web::test]
async fn r42_a_note_never_reaches_the_channel_and_a_mention_reaches_the_colleague_until_he_opens_the_dialog()
 {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let account = telegram_account(&app, &fake, "webhook").await;
    let anna_id = app.add_user("anna", PASSWORD, false).await;
    let boris_id = app.add_user("boris", PASSWORD, false).await;
    app.add_user("gleb", PASSWORD, false).await;
    app.grant(
        account,
        json!([{"user_id": anna_id, "view": true, "send": true}, {"user_id": boris_id, "view": true}]),
    )
    .await;
    let dialog = app.dialog_of(account, "501", "Можно скидку?").await;
    let anna = app.login("anna", PASSWORD).await;
    let boris = app.login("boris", PASSWORD).await;
    let gleb = app.login("gleb", PASSWORD).await;
    let (_, stream) = boris.events("/api/v1/events", None).await;
    let mut boris_stream = stream.unwrap();
    boris_stream.next(WAIT).await;
    let (_, stream) = anna.events("/api/v1/events", None).await;
    let mut anna_stream = stream.unwrap();
    anna_stream.next(WAIT).await;

    let path = format!("/api/v1/dialogs/{dialog}/notes");
    let note = anna
        .post(
            &path,
            json!({"text": "@boris посмотри, клиент просит скидку"}),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.text);
    assert_eq!(note.body["direction"], "note");
    assert_eq!(note.body["author"]["user_id"], anna_id);

    // Boris is told at once; Anna, who wrote it, is not.
    let told = boris_stream.until(WAIT, |e| e.event == "mention").await;
    let last = told.last().unwrap();
    assert_eq!(last.event, "mention", "{told:?}");
    let mention: serde_json::Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(mention["dialog_id"], dialog);
    assert_eq!(mention["by"], anna_id);
    let seen_by_anna = anna_stream
        .until(Duration::from_secs(2), |e| e.event == "mention")
        .await;
    assert!(seen_by_anna.iter().all(|e| e.event != "mention"));

    // Listed in Boris's work until he opens the dialog.
    let work = boris.get("/api/v1/my-work").await.body;
    assert_eq!(work["mentions"][0]["dialog_id"], dialog);
    assert_eq!(work["mentions"][0]["author_name"], "anna");
    boris
        .get(&format!("/api/v1/dialogs/{dialog}/messages"))
        .await;
    assert_eq!(
        boris.get("/api/v1/my-work").await.body["mentions"],
        json!([])
    );

    // A viewer may write a note too; a stranger may not, nor may anyone mention him.
    let by_viewer = boris
        .post(&path, json!({"text": "Согласую с руководителем"}))
        .await;
    assert_eq!(by_viewer.status, StatusCode::CREATED, "{}", by_viewer.text);
    assert_eq!(
        gleb.post(&path, json!({"text": "я тоже"})).await.status,
        StatusCode::NOT_FOUND
    );
    for refused in [
        json!({"text": "@gleb глянь"}),
        json!({"text": "@nobody"}),
        json!({"text": "  "}),
        json!({"text": "a\u{0}b"}),
    ] {
        let answer = anna.post(&path, refused.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{refused}: {}",
            answer.text
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE direction = 'note'"),
        2
    );

    // Never sent, and the list still shows the client's last message.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        fake.calls("/sendMessage").is_empty(),
        "{:?}",
        fake.requests()
    );
    assert_eq!(app.count("SELECT count(*) FROM outbox"), 0);
    let row = anna.get(&format!("/api/v1/dialogs/{dialog}")).await.body;
    assert_eq!(row["last_message_preview"], "Можно скидку?");
    let feed = anna
        .get(&format!("/api/v1/dialogs/{dialog}/messages"))
        .await
        .body;
    let directions: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["direction"].as_str().unwrap())
        .collect();
    assert_eq!(directions, vec!["in", "note", "note"]);
    // The colleagues a note may mention: those who may view the dialog.
    let viewers = anna
        .get(&format!("/api/v1/dialogs/{dialog}/viewers"))
        .await
        .body;
    let logins: Vec<&str> = viewers
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["login"].as_str().unwrap())
        .collect();
    assert!(
        logins.contains(&"boris") && logins.contains(&"anna") && !logins.contains(&"gleb"),
        "{logins:?}"
    );
}

/// A tiny PNG (the signature and an IHDR chunk) — a picture by its bytes.
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

#[actix_web::test]
async fn r41_a_quick_reply_carries_files_its_users_fetch_and_its_editors_change() {
    use base64::Engine as _;
    let app = spawn_app().await;
    let account = app.create_account("telegram", json!({})).await;
    let anna_id = app.add_user("anna", PASSWORD, false).await;
    let boris_id = app.add_user("boris", PASSWORD, false).await;
    app.add_user("gleb", PASSWORD, false).await;
    app.grant(
        account,
        json!([{"user_id": anna_id, "view": true, "send": true, "admin": true},
        {"user_id": boris_id, "view": true, "send": true}]),
    )
    .await;
    let anna = app.login("anna", PASSWORD).await;
    let boris = app.login("boris", PASSWORD).await;
    let gleb = app.login("gleb", PASSWORD).await;
    let created = anna
        .post(
            "/api/v1/quick-replies",
            json!({"scope": "account", "account_id": account, "name": "Схема проезда",
                   "text": "{client.name}, вот схема проезда"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["files"], json!([]));
    let id = created.body["id"].as_i64().unwrap();
    let files = format!("/api/v1/quick-replies/{id}/files");
    let encoded = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let upload = |name: &str, mime: &str, bytes: &[u8]| json!({"file_name": name, "mime_type": mime, "content_base64": encoded(bytes)});

    // Boris uses the template but may not change it; gleb does not even see it.
    assert_eq!(
        boris
            .post(&files, upload("a.png", "image/png", PNG))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        gleb.post(&files, upload("a.png", "image/png", PNG))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Bad files are refused and nothing is stored.
    for bad in [
        json!({"file_name": "a.png", "mime_type": "image/png", "content_base64": "not base64!"}),
        json!({"file_name": "", "mime_type": "image/png", "content_base64": encoded(PNG)}),
        json!({"file_name": "a.png", "mime_type": "image/png", "content_base64": ""}),
    ] {
        assert_eq!(
            anna.post(&files, bad.clone()).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM quick_reply_files"), 0);

    // A picture and a 2 MB price list (larger than an ordinary JSON body), the latter with
    // an Idempotency-Key: its retry stores nothing twice.
    let map = anna
        .post(&files, upload("схема.png", "image/png", PNG))
        .await;
    assert_eq!(map.status, StatusCode::CREATED, "{}", map.text);
    assert_eq!(map.body["file_name"], "схема.png");
    assert_eq!(map.body["size_bytes"], PNG.len());
    let price: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let keyed = || {
        anna.request(reqwest::Method::POST, &files)
            .header("Idempotency-Key", "price-list-1")
            .json(&upload("прайс.pdf", "application/pdf", &price))
    };
    let first = anna.send(keyed()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let again = anna.send(keyed()).await;
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(app.count("SELECT count(*) FROM quick_reply_files"), 2);

    // Whoever may use the template sees its files in the list and fetches them.
    let listed = boris
        .get(&format!("/api/v1/quick-replies?account_id={account}"))
        .await
        .body;
    let mine = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == id)
        .expect("the template listed");
    let names: Vec<&str> = mine["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["схема.png", "прайс.pdf"]);
    let price_id = first.body["id"].as_i64().unwrap();
    let fetched = boris
        .request(reqwest::Method::GET, &format!("{files}/{price_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(
        fetched.headers()["content-type"],
        "application/octet-stream",
        "a document is a sandboxed download"
    );
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), price.as_slice());
    let map_id = map.body["id"].as_i64().unwrap();
    let picture = boris
        .request(reqwest::Method::GET, &format!("{files}/{map_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(picture.headers()["content-type"], "image/png");
    assert_eq!(
        gleb.get(&format!("{files}/{map_id}")).await.status,
        StatusCode::NOT_FOUND
    );

    // At most five files.
    for n in 0..3 {
        let added = anna
            .post(&files, upload(&format!("{n}.png"), "image/png", PNG))
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    }
    let sixth = anna.post(&files, upload("6.png", "image/png", PNG)).await;
    assert_eq!(
        sixth.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        sixth.text
    );

    // Removing a file, and the template with the rest, leaves nothing in the data folder.
    let media = crate::helpers::data_dir_of(&app.db).join("media");
    let on_disk = app.texts("SELECT storage_path AS t FROM quick_reply_files");
    assert_eq!(on_disk.len(), 5);
    assert!(on_disk.iter().all(|name| media.join(name).exists()));
    assert_eq!(
        boris.delete(&format!("{files}/{map_id}")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        anna.delete(&format!("{files}/{map_id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        anna.get(&format!("{files}/{map_id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        anna.delete(&format!("/api/v1/quick-replies/{id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.count("SELECT count(*) FROM quick_reply_files"), 0);
    assert!(on_disk.iter().all(|name| !media.join(name).exists()));
}

#[actix_web::test]
async fn r41_quick_replies_are_used_and_changed_by_their_own_people_sorted_by_use_and_round_trip_as_csv()
 {
    let app = spawn_app().await;
    let account = app.create_account("telegram", json!({})).await;
    let other = app
        .create_account(
            "vk",
            json!({"credentials": {"group_id": 1, "access_token": "t"}}),
        )
        .await;
    let anna_id = app.add_user("anna", PASSWORD, false).await;
    let boris_id = app.add_user("boris", PASSWORD, false).await;
    app.grant(
        account,
        json!([{"user_id": anna_id, "view": true, "send": true, "admin": true},
        {"user_id": boris_id, "view": true, "send": true}]),
    )
    .await;
    let admin = app.admin().await;
    let anna = app.login("anna", PASSWORD).await;
    let boris = app.login("boris", PASSWORD).await;

    let create = |scope: Option<&str>, account: Option<i64>, name: &str| {
        let mut body =
            json!({"name": name, "text": format!("{name}, {{client.name}}! — {{operator.name}}")});
        if let Some(scope) = scope {
            body["scope"] = json!(scope);
        }
        if let Some(account) = account {
            body["account_id"] = json!(account);
        }
        body
    };
    let mine = anna
        .post("/api/v1/quick-replies", create(None, None, "Привет"))
        .await;
    assert_eq!(mine.status, StatusCode::CREATED, "{}", mine.text);
    assert_eq!(mine.body["scope"], "personal");
    assert_eq!(mine.body["may_edit"], true);
    let ours = anna
        .post(
            "/api/v1/quick-replies",
            create(Some("account"), Some(account), "Доставка"),
        )
        .await;
    assert_eq!(ours.status, StatusCode::CREATED, "{}", ours.text);
    // Boris may use the account's template but not make one, nor a global one.
    assert_eq!(
        boris
            .post(
                "/api/v1/quick-replies",
                create(Some("account"), Some(account), "Моё")
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        anna.post(
            "/api/v1/quick-replies",
            create(Some("global"), None, "Всем")
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        anna.post(
            "/api/v1/quick-replies",
            create(Some("account"), Some(other), "Чужой")
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    for bad in [
        json!({"name": "", "text": "x"}),
        json!({"name": "x", "text": " "}),
        json!({"name": "x", "text": "a\u{0}"}),
        json!({"name": "x", "text": "y", "scope": "team"}),
        json!({"name": "x", "text": "y", "scope": "account"}),
    ] {
        assert_eq!(
            anna.post("/api/v1/quick-replies", bad.clone()).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    let global = admin
        .post(
            "/api/v1/quick-replies",
            create(Some("global"), None, "Спасибо"),
        )
        .await;
    assert_eq!(global.status, StatusCode::CREATED, "{}", global.text);

    // What each sees: anna her own, the account's, the global; boris no personal of anna's.
    let names = |answer: &serde_json::Value| -> Vec<String> {
        answer
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let boris_list = boris.get("/api/v1/quick-replies").await.body;
    assert!(
        !names(&boris_list).contains(&"Привет".to_owned()),
        "{boris_list}"
    );
    assert!(
        boris_list
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["may_edit"] == false)
    );
    // Sorted by use: the global one used twice comes first.
    let global_id = global.body["id"].as_i64().unwrap();
    for _ in 0..2 {
        assert_eq!(
            anna.post(&format!("/api/v1/quick-replies/{global_id}/use"), json!({}))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
    }
    let listed = anna.get("/api/v1/quick-replies").await.body;
    assert_eq!(names(&listed)[0], "Спасибо");
    assert_eq!(names(&listed).len(), 3);
    assert_eq!(listed[0]["uses"], 2);
    // Changing and deleting: only who may edit; a personal one is not even visible to others.
    let mine_id = mine.body["id"].as_i64().unwrap();
    let ours_id = ours.body["id"].as_i64().unwrap();
    assert_eq!(
        boris
            .patch(
                &format!("/api/v1/quick-replies/{mine_id}"),
                json!({"name": "Моё"})
            )
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        boris
            .patch(
                &format!("/api/v1/quick-replies/{ours_id}"),
                json!({"name": "Моё"})
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let renamed = anna
        .patch(
            &format!("/api/v1/quick-replies/{ours_id}"),
            json!({"name": "Доставка завтра"}),
        )
        .await;
    assert_eq!(renamed.body["name"], "Доставка завтра");
    assert_eq!(
        boris
            .delete(&format!("/api/v1/quick-replies/{global_id}"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // CSV: what is exported imports back, as a personal set of boris's.
    let csv = anna
        .request(reqwest::Method::GET, "/api/v1/quick-replies/export")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("name,text,scope,account_id"), "{csv}");
    assert!(csv.contains("Доставка завтра"));
    let imported = boris
        .post("/api/v1/quick-replies/import", json!({"csv": csv}))
        .await;
    assert_eq!(imported.status, StatusCode::CREATED, "{}", imported.text);
    assert_eq!(imported.body["created"], 3);
    let boris_own = app.count(&format!(
        "SELECT count(*) FROM quick_replies WHERE owner_user_id = {boris_id}"
    ));
    assert_eq!(boris_own, 3);
    // A bad row refuses the whole file, saying which line.
    let refused = boris
        .post(
            "/api/v1/quick-replies/import",
            json!({"csv": "name,text\nХорошо,Текст\n,пусто"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text.contains("line 3"), "{}", refused.text);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM quick_replies WHERE owner_user_id = {boris_id}"
        )),
        3
    );
    assert_eq!(
        boris
            .post("/api/v1/quick-replies/import", json!({"csv": "title\nx"}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[actix_web::test]
async fn r46_who_views_and_types_reaches_colleagues_live_and_is_never_stored() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let account = telegram_account(&app, &fake, "webhook").await;
    let anna_id = app.add_user("anna", PASSWORD, false).await;
    let boris_id = app.add_user("boris", PASSWORD, false).await;
    app.add_user("gleb", PASSWORD, false).await;
    app.grant(
        account,
        json!([{"user_id": anna_id, "view": true, "send": true}, {"user_id": boris_id, "view": true}]),
    )
    .await;
    let dialog = app.dialog_of(account, "502", "Где мой заказ?").await;
    // Anna works through another process on the same database: presence crosses it.
    let peer = app.spawn_peer().await;
    let anna = peer.client(&app.login("anna", PASSWORD).await);
    let boris = app.login("boris", PASSWORD).await;
    let gleb = app.login("gleb", PASSWORD).await;
    let (_, stream) = boris.events("/api/v1/events", None).await;
    let mut boris_stream = stream.unwrap();
    boris_stream.next(WAIT).await;
    let (_, stream) = gleb.events("/api/v1/events", None).await;
    let mut gleb_stream = stream.unwrap();
    gleb_stream.next(WAIT).await;
    let events_before = app.count("SELECT count(*) FROM events");

    let presence = |claim: &str| json!({"dialog_id": dialog, "claim": claim});
    let frame = |event: &eventsource_stream::Event| -> serde_json::Value {
        serde_json::from_str(&event.data).unwrap()
    };
    for (claim, activity) in [
        ("viewing", json!("viewing")),
        ("typing", json!("typing")),
        ("left", json!(null)),
    ] {
        let said = anna.post("/api/v1/presence", presence(claim)).await;
        assert_eq!(
            said.status,
            StatusCode::NO_CONTENT,
            "{claim}: {}",
            said.text
        );
        let told = boris_stream.until(WAIT, |e| e.event == "presence").await;
        let last = told.last().unwrap();
        assert_eq!(last.event, "presence", "{claim}: {told:?}");
        let change = frame(last);
        assert_eq!(change["dialog_id"], dialog);
        assert_eq!(change["user_id"], anna_id);
        assert_eq!(change["display_name"], "anna");
        assert_eq!(change["activity"], activity, "{claim}");
        if claim == "typing" {
            let now = boris.get("/api/v1/presence").await.body;
            assert_eq!(
                now["viewers"],
                json!([{"dialog_id": dialog, "user_id": anna_id, "display_name": "anna", "activity": "typing"}])
            );
        }
    }
    // A repeated claim tells nobody anything new.
    anna.post("/api/v1/presence", presence("viewing")).await;
    boris_stream.until(WAIT, |e| e.event == "presence").await;
    anna.post("/api/v1/presence", presence("viewing")).await;
    let repeated = boris_stream
        .until(Duration::from_secs(2), |e| e.event == "presence")
        .await;
    assert!(
        repeated.iter().all(|e| e.event != "presence"),
        "{repeated:?}"
    );

    // Gleb may not see the account: he is told nothing, sees nobody, and may not claim.
    let for_gleb = gleb_stream
        .until(Duration::from_secs(1), |e| e.event == "presence")
        .await;
    assert!(
        for_gleb.iter().all(|e| e.event != "presence"),
        "{for_gleb:?}"
    );
    assert_eq!(
        gleb.get("/api/v1/presence").await.body["viewers"],
        json!([])
    );
    assert_eq!(
        gleb.post("/api/v1/presence", presence("viewing"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    for refused in [
        json!({"dialog_id": dialog, "claim": "dancing"}),
        json!({"claim": "typing"}),
        json!({"claim": "here", "extra": 1}),
    ] {
        let answer = anna.post("/api/v1/presence", refused.clone()).await;
        assert!(
            answer.status.is_client_error(),
            "{refused}: {}",
            answer.status
        );
    }

    // Operators: online while heard from, away as set by hand, offline when never heard.
    assert_eq!(
        gleb.post("/api/v1/presence", json!({"claim": "here"}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    boris
        .put("/api/v1/me/status", json!({"status": "away"}))
        .await;
    let operators = |body: serde_json::Value| -> Vec<(String, String)> {
        body["operators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["display_name"].as_str().unwrap().to_owned(),
                    o["availability"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen = operators(anna.get("/api/v1/presence").await.body);
        if seen.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen,
        [
            ("anna".to_owned(), "online".to_owned()),
            ("boris".to_owned(), "away".to_owned()),
            ("gleb".to_owned(), "online".to_owned())
        ]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events"),
        events_before,
        "presence is never an event"
    );
}

#[actix_web::test]
async fn r43_the_client_panel_holds_the_client_interests_dialogs_tasks_and_notes_in_one_answer() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let account = telegram_account(&app, &fake, "webhook").await;
    let anna_id = app.add_user("anna", PASSWORD, false).await;
    let boris_id = app.add_user("boris", PASSWORD, false).await;
    app.add_user("gleb", PASSWORD, false).await;
    app.grant(
        account,
        json!([{"user_id": anna_id, "view": true, "send": true}, {"user_id": boris_id, "view": true}]),
    )
    .await;
    let dialog = app.dialog_of(account, "503", "Нужен счёт на кофе").await;
    let client = app.count(&format!(
        "SELECT client_id FROM dialogs WHERE id = {dialog}"
    ));
    let anna = app.login("anna", PASSWORD).await;
    let boris = app.login("boris", PASSWORD).await;
    let gleb = app.login("gleb", PASSWORD).await;
    let interest = anna
        .post(
            "/api/v1/interests",
            json!({"client_id": client, "title": "Кофе в офис"}),
        )
        .await;
    assert_eq!(interest.status, StatusCode::CREATED, "{}", interest.text);
    let tasks = format!("/api/v1/dialogs/{dialog}/tasks");
    for task in [
        json!({"kind": "assignment", "title": "Выставить счёт", "assignee_ids": [boris_id]}),
        json!({"kind": "personal", "title": "Напомнить себе", "assignee_ids": [anna_id]}),
    ] {
        let made = anna.post(&tasks, task).await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    }
    let note = anna
        .post(
            &format!("/api/v1/dialogs/{dialog}/notes"),
            json!({"text": "Клиент просил счёт до пятницы"}),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.text);

    let path = format!("/api/v1/dialogs/{dialog}/panel");
    let reads = format!(
        "SELECT count(*) FROM data_access WHERE what = 'client' AND client_id = {client} AND user_id = {anna_id}"
    );
    let read_before = app.count(&reads);
    let panel = anna.get(&path).await;
    assert_eq!(panel.status, StatusCode::OK, "{}", panel.text);
    let panel = panel.body;
    assert_eq!(panel["dialog_id"], dialog);
    assert_eq!(panel["client"]["id"], client);
    assert_eq!(panel["interests"][0]["title"], "Кофе в офис");
    assert_eq!(panel["dialogs"][0]["id"], dialog);
    let titles = |panel: &serde_json::Value| -> Vec<String> {
        panel["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut seen = titles(&panel);
    seen.sort();
    assert_eq!(seen, ["Выставить счёт", "Напомнить себе"]);
    assert_eq!(panel["notes"][0]["text"], "Клиент просил счёт до пятницы");
    assert_eq!(panel["notes"][0]["direction"], "note");

    // Boris may view the dialog: he sees the assignment, not Anna's personal task.
    let for_boris = boris.get(&path).await;
    assert_eq!(for_boris.status, StatusCode::OK);
    assert_eq!(titles(&for_boris.body), ["Выставить счёт"]);
    // Gleb may not view the dialog.
    assert_eq!(gleb.get(&path).await.status, StatusCode::NOT_FOUND);
    // The reading is logged like the client's card (R47).
    assert_eq!(app.count(&reads), read_before + 1);
}

/// One push as the fake service saw it: path, `Authorization`, `TTL`, body length.
type Push = (String, String, String, usize);

/// A push service on loopback: records each push (path, `Authorization`, `TTL`, body
/// length) and answers 201, or 410 on `/gone` (a subscription it forgot).
struct FakePush {
    url: String,
    pushes: std::sync::Arc<std::sync::Mutex<Vec<Push>>>,
}

impl FakePush {
    async fn start() -> FakePush {
        use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
        let pushes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = std::sync::Arc::clone(&pushes);
        let server = HttpServer::new(move || {
            let kept = std::sync::Arc::clone(&kept);
            App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                let kept = std::sync::Arc::clone(&kept);
                async move {
                    let header = |name: &str| {
                        request
                            .headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let path = request.path().to_owned();
                    kept.lock().unwrap().push((
                        path.clone(),
                        header("authorization"),
                        header("ttl"),
                        body.len(),
                    ));
                    if path == "/gone" {
                        HttpResponse::Gone().finish()
                    } else {
                        HttpResponse::Created().finish()
                    }
                }
            }))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("the fake push service binds");
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        FakePush {
            url: format!("http://127.0.0.1:{port}"),
            pushes,
        }
    }

    async fn pushed_to(&self, path: &str) -> Vec<Push> {
        for _ in 0..150 {
            let found: Vec<_> = self
                .pushes
                .lock()
                .unwrap()
                .iter()
                .filter(|p| p.0 == path)
                .cloned()
                .collect();
            if !found.is_empty() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Vec::new()
    }
}

#[actix_web::test]
async fn r45_a_mention_is_pushed_to_the_colleague_s_browser_signed_with_the_server_s_vapid_key() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let push = FakePush::start().await;
    let app = crate::helpers::spawn_app_with(|c| c.push_hosts = vec!["127.0.0.1".into()]).await;
    let channel = FakeChannel::start().await;
    let account = telegram_account(&app, &channel, "webhook").await;
    let anna_id = app.add_user("anna", PASSWORD, false).await;
    let boris_id = app.add_user("boris", PASSWORD, false).await;
    app.grant(
        account,
        json!([{"user_id": anna_id, "view": true, "send": true}, {"user_id": boris_id, "view": true}]),
    )
    .await;
    let dialog = app.dialog_of(account, "504", "Где накладная?").await;
    let anna = app.login("anna", PASSWORD).await;
    let boris = app.login("boris", PASSWORD).await;

    let key = boris.get("/api/v1/push/key").await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.text);
    let key = key.body["public_key"].as_str().unwrap().to_owned();
    assert_eq!(
        b64.decode(&key).unwrap().len(),
        65,
        "an uncompressed P-256 point"
    );
    let endpoint = format!("{}/push/boris-1", push.url);
    let subscribed = boris
        .put("/api/v1/push/subscription", json!({"endpoint": endpoint}))
        .await;
    assert_eq!(
        subscribed.status,
        StatusCode::NO_CONTENT,
        "{}",
        subscribed.text
    );
    // Only push services: not an address of the user's choosing, not plain http elsewhere.
    for refused in [
        "http://10.0.0.1/push",
        "https://evil.example/push",
        "http://fcm.googleapis.com/fcm/send/x",
        "not a url",
    ] {
        let answer = boris
            .put("/api/v1/push/subscription", json!({"endpoint": refused}))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM push_subscriptions"),
        1,
        "nothing refused was kept"
    );

    // Anna mentions Boris: his browser's push service is called, signed, with no payload.
    let note = anna
        .post(
            &format!("/api/v1/dialogs/{dialog}/notes"),
            json!({"text": "@boris посмотри накладную"}),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.text);
    let pushed = push.pushed_to("/push/boris-1").await;
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    let (_, authorization, ttl, body) = &pushed[0];
    assert_eq!(*body, 0, "no content passes the push service");
    assert!(ttl.parse::<u64>().is_ok_and(|t| t > 0), "TTL: {ttl}");
    let (token, sent_key) = authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .unwrap_or_else(|| panic!("a VAPID authorization: {authorization}"));
    assert_eq!(sent_key, key);
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT: {token}");
    let header: serde_json::Value = serde_json::from_slice(&b64.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(
        claims["aud"],
        push.url.as_str(),
        "the push service's origin"
    );
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().unwrap();
    assert!(
        exp > now && exp <= now + 24 * 3600,
        "exp within a day: {exp}"
    );
    assert!(
        claims["sub"]
            .as_str()
            .is_some_and(|s| s.starts_with("mailto:") || s.starts_with("https:"))
    );
    // ring verifies the ES256 signature against the key the server published.
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        b64.decode(&key).unwrap(),
    );
    public
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &b64.decode(parts[2]).unwrap(),
        )
        .expect("the JWT is signed with the server's VAPID key");

    // A subscription the push service forgot (410) is forgotten here too.
    boris
        .put(
            "/api/v1/push/subscription",
            json!({"endpoint": format!("{}/gone", push.url)}),
        )
        .await;
    anna.post(
        &format!("/api/v1/dialogs/{dialog}/notes"),
        json!({"text": "@boris и ещё одно"}),
    )
    .await;
    assert_eq!(push.pushed_to("/gone").await.len(), 1);
    let mut left = 1;
    for _ in 0..50 {
        left = app.count("SELECT count(*) FROM push_subscriptions WHERE endpoint LIKE '%/gone'");
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "the gone subscription is forgotten");
    // Boris takes his browser off; a stranger's endpoint cannot be taken off by him twice.
    let off = json!({"endpoint": endpoint});
    assert_eq!(
        boris
            .delete_with("/api/v1/push/subscription", off.clone())
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        boris
            .delete_with("/api/v1/push/subscription", off)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
