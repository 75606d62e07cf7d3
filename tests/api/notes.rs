//! R42: internal notes and @mentions. A note is a message of the dialog only staff see:
//! never sent to the channel, allowed to whoever may view the dialog; a mention tells the
//! colleague at once and lists the dialog in their "Моя работа" until they open it.

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
