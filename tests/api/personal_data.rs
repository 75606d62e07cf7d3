//! R47, the personal-data kit (152-FZ): retention per account removes exactly what it
//! previewed; one client's data is exported whole and erased so that no API, replayed
//! event, search or file route returns it; the access log lists the reads; consents from
//! the channel and from an operator.

use std::io::Read;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::channels::{VK_SECRET, hook, vk_account, vk_event, vk_message};
use crate::fakes::FakeChannel;
use crate::helpers::{TestApp, data_dir_of, spawn_app};

const PASSWORD: &str = "operator-password-1";
const WAIT: Duration = Duration::from_secs(15);
const PEER: i64 = 326_596_496;

/// A VK account that files every new interlocutor as a prospect, and one conversation:
/// a text with `marker`, a photo (stored), and an operator's reply.
async fn client_with_a_conversation(
    app: &TestApp,
    fake: &FakeChannel,
    marker: &str,
) -> (i64, i64, i64) {
    let account = vk_account(app, fake, "callback").await;
    let admin = app.admin().await;
    let changed = admin
        .patch(
            &format!("/api/v1/accounts/{account}"),
            json!({"create_clients": true}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    let path = format!("/hooks/vk/{account}");
    let text = vk_event(
        "p1",
        "message_new",
        vk_message(1, PEER, &format!("Мой паспорт {marker}"), json!([])),
    );
    hook(app, &path, &serde_json::to_vec(&text).unwrap(), &[]).await;
    let photo = vk_event(
        "p2",
        "message_new",
        vk_message(
            2,
            PEER,
            "",
            json!([{"type": "photo", "photo": {"id": 457, "owner_id": 1, "sizes": [
                {"type": "r", "url": format!("{}/media/big.jpg", fake.url), "width": 510, "height": 1106}]}}]),
        ),
    );
    hook(app, &path, &serde_json::to_vec(&photo).unwrap(), &[]).await;
    let dialog = app.count("SELECT max(id) FROM dialogs");
    let client = app.count(&format!(
        "SELECT client_id FROM dialogs WHERE id = {dialog}"
    ));
    assert!(client > 0, "the interlocutor was filed as a prospect");
    let renamed = admin
        .patch(
            &format!("/api/v1/clients/{client}"),
            json!({"name": format!("Иван {marker}"), "phone": "+79161234567", "email": "ivan@example.ru"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    let contact = admin
        .post(
            &format!("/api/v1/clients/{client}/contacts"),
            json!({"name": format!("Мария {marker}"), "phone": "+79160000000"}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{:?}", contact.body);
    admin
        .post(&format!("/api/v1/dialogs/{dialog}/accept"), json!({}))
        .await;
    let replied = admin
        .post(
            &format!("/api/v1/dialogs/{dialog}/messages"),
            json!({"text": format!("Ответ для {marker}")}),
        )
        .await;
    assert!(replied.status.is_success(), "{:?}", replied.body);
    let attachment = app.count(
        "SELECT a.id FROM attachments a JOIN messages m ON m.id = a.message_id \
         ORDER BY a.id LIMIT 1",
    );
    // Stored on disk before anything is exported or erased.
    let file = admin
        .get(&format!("/api/v1/attachments/{attachment}"))
        .await;
    assert_eq!(file.status, StatusCode::OK);
    (account, client, dialog)
}

fn unpack(bytes: &[u8]) -> (Value, Vec<(String, Vec<u8>)>) {
    let mut archive = tar::Archive::new(bytes);
    let mut document = Value::Null;
    let mut files = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        if path == "client.json" {
            document = serde_json::from_slice(&content).unwrap();
        } else {
            files.push((path, content));
        }
    }
    (document, files)
}

#[actix_web::test]
async fn r47_an_export_holds_everything_the_api_shows_about_the_client_and_its_files() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let (_, client, dialog) = client_with_a_conversation(&app, &fake, "Экспорт-7").await;
    let admin = app.admin().await;

    let response = admin
        .send(admin.request(
            reqwest::Method::GET,
            &format!("/api/v1/clients/{client}/export"),
        ))
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("application/x-tar"));
    let raw = admin
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/clients/{client}/export"),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (document, files) = unpack(&raw);

    // The card as the API shows it.
    let card = admin.get(&format!("/api/v1/clients/{client}")).await.body;
    for field in ["name", "phone", "email", "kind"] {
        assert_eq!(document["client"][field], card["client"][field], "{field}");
    }
    let contacts: Vec<&Value> = document["contact_persons"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(contacts.len(), card["contacts"].as_array().unwrap().len());
    assert_eq!(contacts[0]["name"], card["contacts"][0]["name"]);
    // Every message of every dialog, as the API shows it.
    let dialogs = document["dialogs"].as_array().unwrap();
    assert_eq!(dialogs.len(), 1);
    assert_eq!(dialogs[0]["id"], dialog);
    let shown = admin
        .get(&format!("/api/v1/dialogs/{dialog}/messages?limit=200"))
        .await
        .body;
    let exported = dialogs[0]["messages"].as_array().unwrap();
    for message in shown["items"].as_array().unwrap() {
        let found = exported
            .iter()
            .find(|m| m["id"] == message["id"])
            .unwrap_or_else(|| panic!("message {} is exported", message["id"]));
        assert_eq!(found["text"], message["text"]);
        assert_eq!(found["direction"], message["direction"]);
        assert_eq!(
            found["attachments"].as_array().unwrap().len(),
            message["attachments"].as_array().unwrap().len()
        );
    }
    let interlocutors = document["interlocutors"].as_array().unwrap();
    assert_eq!(interlocutors[0]["external_id"], PEER.to_string());
    assert_eq!(interlocutors[0]["account"]["kind"], "vk");
    // The photo's bytes, as the file route serves them.
    let photo = exported
        .iter()
        .flat_map(|m| m["attachments"].as_array().unwrap())
        .next()
        .unwrap();
    let served = admin
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/attachments/{}", photo["id"]),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (name, bytes) = &files[0];
    assert_eq!(Some(name.as_str()), photo["file"].as_str());
    assert_eq!(bytes.as_slice(), served.as_ref());
    assert_eq!(document["missing_files"], json!([]));

    // The administrator's alone, audited, and logged as a read.
    let anna_id = app.add_user("anna", PASSWORD, false).await;
    let anna = app.login("anna", PASSWORD).await;
    let refused = anna.get(&format!("/api/v1/clients/{client}/export")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        admin.get("/api/v1/clients/999999/export").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'client_exported'"),
        2
    );
    assert_eq!(
        app.count("SELECT count(*) FROM data_access WHERE what = 'export'"),
        2
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM data_access WHERE user_id = {anna_id}"
        )),
        0
    );
}

#[actix_web::test]
async fn r47_after_erasure_no_api_replayed_event_search_or_file_route_returns_the_clients_data() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let marker = "Стереть-9431";
    let (account, client, dialog) = client_with_a_conversation(&app, &fake, marker).await;
    let admin = app.admin().await;
    let attachments: Vec<i64> = {
        let n = app.count("SELECT count(*) FROM attachments");
        assert!(n >= 1);
        vec![app.count("SELECT min(id) FROM attachments")]
    };
    let stored = app.count("SELECT count(*) FROM attachments WHERE storage_path IS NOT NULL");
    assert!(stored >= 1);
    let media = data_dir_of(&app.db).join("media");
    let files_before = std::fs::read_dir(&media).unwrap().count();
    assert!(files_before >= 1);

    // Refused without a reason, and to anyone but the program's administrator.
    let anna_id = app.add_user("anna", PASSWORD, false).await;
    app.grant(
        account,
        json!([{"user_id": anna_id, "view": true, "send": true}]),
    )
    .await;
    let anna = app.login("anna", PASSWORD).await;
    let path = format!("/api/v1/clients/{client}/erase");
    assert_eq!(
        anna.post(&path, json!({"reason": "просьба"})).await.status,
        StatusCode::FORBIDDEN
    );
    for bad in ["  ", "\u{0}á", "строка\u{202e}"] {
        assert_eq!(
            admin.post(&path, json!({"reason": bad})).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad:?}"
        );
    }
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM messages WHERE text LIKE '%{marker}%'"
        )),
        2
    );

    let erased = admin
        .post(&path, json!({"reason": "заявление клиента от 6 декабря"}))
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{:?}", erased.body);
    assert_eq!(erased.body["dialogs"], 1);
    assert!(erased.body["messages"].as_i64().unwrap() >= 3);
    assert_eq!(erased.body["files"], 1);

    // Nothing of it through the API, whoever asks.
    for (who, client_api) in [("admin", &admin), ("anna", &anna)] {
        for path in [
            format!("/api/v1/clients/{client}"),
            format!("/api/v1/clients/{client}/contacts"),
            format!("/api/v1/clients/{client}/dialogs"),
            format!("/api/v1/dialogs/{dialog}"),
            format!("/api/v1/dialogs/{dialog}/messages?limit=200"),
            format!("/api/v1/clients/{client}/dialogs/{dialog}/messages"),
            format!("/api/v1/clients/{client}/attachments"),
            "/api/v1/dialogs?closed=true".to_owned(),
            format!("/api/v1/dialogs?closed=true&q={marker}"),
            "/api/v1/dialogs?closed=true&q=Иван".to_owned(),
            "/api/v1/clients?q=Иван".to_owned(),
            "/api/v1/clients?q=79161234567".to_owned(),
            format!("/api/v1/clients/{client}/messages?q=паспорт"),
            "/api/v1/my-work".to_owned(),
        ] {
            let answer = client_api.get(&path).await;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "{who} {path}: {:?}",
                answer.body
            );
            let text = answer.body.to_string();
            for secret in [marker, "79161234567", "ivan@example.ru", "паспорт", "Мария"]
            {
                assert!(
                    !text.contains(secret),
                    "{who} {path} still shows {secret}: {text}"
                );
            }
        }
    }
    let card = admin.get(&format!("/api/v1/clients/{client}")).await.body;
    assert_eq!(card["client"]["name"], "Клиент удалён");
    assert_eq!(card["client"]["phone"], Value::Null);
    // The file route: gone, and gone from the disk.
    for id in attachments {
        let file = admin.get(&format!("/api/v1/attachments/{id}")).await;
        assert_eq!(file.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(std::fs::read_dir(&media).unwrap().count(), files_before - 1);
    // A stream replayed from the start says nothing of it either.
    let (_, stream) = admin.events("/api/v1/events", Some("1")).await;
    let replayed = stream.unwrap().until(WAIT, |e| e.event == "counters").await;
    assert!(replayed.iter().any(|e| e.event == "message"));
    for event in &replayed {
        for secret in [marker, "паспорт", "Иван"] {
            assert!(
                !event.data.contains(secret),
                "{}: {}",
                event.event,
                event.data
            );
        }
    }
    // No row anywhere holds it (the audit log keeps only the reason).
    let rows_with_marker = app.count(&format!(
        "SELECT (SELECT count(*) FROM messages WHERE text LIKE '%{marker}%') \
          + (SELECT count(*) FROM message_edits WHERE old_text LIKE '%{marker}%') \
          + (SELECT count(*) FROM dialogs WHERE title LIKE '%{marker}%' OR last_message_preview LIKE '%{marker}%') \
          + (SELECT count(*) FROM events WHERE payload::text LIKE '%{marker}%') \
          + (SELECT count(*) FROM clients WHERE name LIKE '%{marker}%') \
          + (SELECT count(*) FROM contact_persons WHERE name LIKE '%{marker}%') \
          + (SELECT count(*) FROM idempotency_keys WHERE response_body::text LIKE '%{marker}%') \
          + (SELECT count(*) FROM interlocutors WHERE external_id = '{PEER}')"
    ));
    assert_eq!(rows_with_marker, 0);
    // The statistics stay: the dialog, its messages' count and directions.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM messages WHERE dialog_id = {dialog} AND direction = 'in'"
        )),
        2
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'client_erased' AND details->>'reason' LIKE 'заявление%'"),
        1
    );
    // The same person writing again is a new interlocutor: nothing links back.
    let again = vk_event(
        "p9",
        "message_new",
        vk_message(9, PEER, "Снова я", json!([])),
    );
    hook(
        &app,
        &format!("/hooks/vk/{account}"),
        &serde_json::to_vec(&again).unwrap(),
        &[],
    )
    .await;
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM interlocutors WHERE external_id = '{PEER}' AND client_id = {client}")),
        0
    );
}

#[actix_web::test]
async fn r47_retention_removes_exactly_what_its_preview_counted_and_keeps_the_statistics() {
    let app = spawn_app().await;
    let account = app.create_account("telegram", json!({})).await;
    let old = app.dialog_of(account, "1", "старое сообщение").await;
    app.inbound(account, "1", "ещё одно старое").await;
    let recent = app.dialog_of(account, "2", "недавнее").await;
    let open = app.dialog_of(account, "3", "открытый давно").await;
    // One file on the old dialog, stored on disk.
    let media = data_dir_of(&app.db).join("media");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::write(media.join("retention-test-file"), b"old bytes").unwrap();
    app.execute(&format!(
        "INSERT INTO attachments (message_id, kind, file_name, size_bytes, storage_path) \
           SELECT min(id), 'file', 'договор.pdf', 9, 'retention-test-file' FROM messages \
           WHERE dialog_id = {old}"
    ));
    app.execute(&format!(
        "UPDATE dialogs SET status = 'closed', version = version + 1, closed_at = CASE \
           WHEN id = {old} THEN now() - interval '7 months' ELSE now() - interval '1 month' END \
           WHERE id IN ({old}, {recent})"
    ));
    app.execute(&format!(
        "UPDATE messages SET created_at = now() - interval '2 years' WHERE dialog_id = {open}"
    ));
    let admin = app.admin().await;
    let path = format!("/api/v1/accounts/{account}/retention");

    // Previewed before it is switched on.
    let preview = admin.get(&format!("{path}?months=6")).await;
    assert_eq!(preview.status, StatusCode::OK, "{:?}", preview.body);
    assert_eq!(preview.body["months"], Value::Null);
    assert_eq!(
        preview.body["preview"],
        json!({"dialogs": 1, "messages": 2, "files": 1, "bytes": 9})
    );
    let narrower = admin.get(&format!("{path}?months=2")).await.body;
    assert_eq!(
        narrower["preview"]["dialogs"], 1,
        "closed a month ago: kept"
    );
    let longer = admin.get(&format!("{path}?months=12")).await.body;
    assert_eq!(longer["preview"]["dialogs"], 0);
    for months in [json!(0), json!(121)] {
        let refused = admin.put(&path, json!({"months": months})).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(
        admin.post(&format!("{path}/run"), json!({})).await.status,
        StatusCode::CONFLICT,
        "nothing runs before it is switched on"
    );
    app.add_user("anna", PASSWORD, true).await;
    app.add_user("oleg", PASSWORD, false).await;
    let oleg = app.login("oleg", PASSWORD).await;
    assert_eq!(oleg.get(&path).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        oleg.put(&path, json!({"months": 6})).await.status,
        StatusCode::FORBIDDEN
    );

    let set = admin.put(&path, json!({"months": 6})).await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(set.body["months"], 6);
    let previewed = set.body["preview"].clone();
    let ran = admin.post(&format!("{path}/run"), json!({})).await;
    assert_eq!(ran.status, StatusCode::OK, "{:?}", ran.body);
    assert_eq!(ran.body, previewed);

    // Exactly those: the old dialog's texts and file; the others untouched.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM messages WHERE dialog_id = {old} AND text = '' AND redacted_at IS NOT NULL"
        )),
        2
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM messages WHERE dialog_id IN ({recent}, {open}) AND redacted_at IS NULL AND text <> ''"
        )),
        2
    );
    assert_eq!(app.count("SELECT count(*) FROM attachments"), 0);
    assert!(!media.join("retention-test-file").exists());
    let shown = admin
        .get(&format!("/api/v1/dialogs/{old}/messages"))
        .await
        .body;
    let inbound: Vec<&Value> = shown["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "in")
        .collect();
    assert_eq!(inbound.len(), 2, "the messages stay for the statistics");
    assert!(
        inbound
            .iter()
            .all(|m| m["text"] == "" && m["redacted_at"].is_string())
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM dialogs WHERE id = {old} AND status = 'closed'"
        )),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action IN ('retention_changed', 'retention_applied')"),
        2
    );
    // A second run finds nothing more.
    let again = admin.post(&format!("{path}/run"), json!({})).await.body;
    assert_eq!(
        again,
        json!({"dialogs": 0, "messages": 0, "files": 0, "bytes": 0})
    );
    // Switched off, it keeps everything.
    let off = admin.put(&path, json!({"months": null})).await.body;
    assert_eq!(off["months"], Value::Null);
    assert_eq!(
        admin.get("/api/v1/accounts/999999/retention").await.status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn r47_the_access_log_lists_who_read_which_clients_card_and_dialog() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let (account, client, dialog) = client_with_a_conversation(&app, &fake, "Журнал").await;
    let anna_id = app.add_user("anna", PASSWORD, false).await;
    let boris_id = app.add_user("boris", PASSWORD, false).await;
    app.grant(account, json!([{"user_id": anna_id, "view": true}]))
        .await;
    let anna = app.login("anna", PASSWORD).await;
    let boris = app.login("boris", PASSWORD).await;
    app.execute("DELETE FROM data_access");

    assert_eq!(
        anna.get(&format!("/api/v1/clients/{client}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        anna.get(&format!("/api/v1/dialogs/{dialog}")).await.status,
        StatusCode::OK
    );
    anna.get(&format!("/api/v1/dialogs/{dialog}/messages"))
        .await;
    // Boris has no rights on the account: the card's read-only way (R10).
    boris
        .get(&format!(
            "/api/v1/clients/{client}/dialogs/{dialog}/messages"
        ))
        .await;
    // A dialog Boris may not see is not read, and not logged.
    assert_eq!(
        boris.get(&format!("/api/v1/dialogs/{dialog}")).await.status,
        StatusCode::NOT_FOUND
    );

    let admin = app.admin().await;
    let by_client = admin
        .get(&format!("/api/v1/data-access?client_id={client}"))
        .await;
    assert_eq!(by_client.status, StatusCode::OK, "{:?}", by_client.body);
    let entries: Vec<(i64, String, Option<i64>)> = by_client.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["client_id"], client);
            (
                e["user_id"].as_i64().unwrap(),
                e["what"].as_str().unwrap().to_owned(),
                e["dialog_id"].as_i64(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            (boris_id, "dialog".into(), Some(dialog)),
            (anna_id, "dialog".into(), Some(dialog)),
            (anna_id, "dialog".into(), Some(dialog)),
            (anna_id, "client".into(), None),
        ]
    );
    let by_user = admin
        .get(&format!("/api/v1/data-access?user_id={boris_id}"))
        .await
        .body;
    assert_eq!(by_user["items"].as_array().unwrap().len(), 1);
    assert_eq!(by_user["items"][0]["user_name"], "boris");
    let page = admin.get("/api/v1/data-access?limit=2").await.body;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_i64().unwrap();
    let next = admin
        .get(&format!("/api/v1/data-access?limit=2&before={cursor}"))
        .await
        .body;
    assert!(next["items"][0]["id"].as_i64().unwrap() < cursor);
    assert_eq!(
        anna.get("/api/v1/data-access").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin.get("/api/v1/data-access?limit=0").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[actix_web::test]
async fn r47_consents_come_from_the_channel_and_from_an_operator_who_may_answer() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let (account, client, dialog) = client_with_a_conversation(&app, &fake, "Согласие").await;
    let path = format!("/hooks/vk/{account}");
    for (id, kind) in [("c1", "message_deny"), ("c2", "message_allow")] {
        let event = json!({"type": kind, "object": {"user_id": PEER, "key": "k"}, "group_id": 4242,
            "event_id": id, "v": "5.199", "secret": VK_SECRET});
        let (status, _) = hook(&app, &path, &serde_json::to_vec(&event).unwrap(), &[]).await;
        assert_eq!(status, StatusCode::OK);
    }
    let vera_id = app.add_user("vera", PASSWORD, false).await;
    let anna_id = app.add_user("anna", PASSWORD, false).await;
    app.grant(
        account,
        json!([{"user_id": vera_id, "view": true}, {"user_id": anna_id, "view": true, "send": true}]),
    )
    .await;
    let vera = app.login("vera", PASSWORD).await;
    let anna = app.login("anna", PASSWORD).await;
    let consent = format!("/api/v1/dialogs/{dialog}/consent");
    assert_eq!(
        vera.post(&consent, json!({"given": true})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        anna.post(&consent, json!({"given": "yes"}))
            .await
            .status
            .as_u16()
            / 100,
        4
    );
    let recorded = anna
        .post(
            &consent,
            json!({"given": true, "note": "по телефону 6 декабря"}),
        )
        .await;
    assert_eq!(recorded.status, StatusCode::CREATED, "{:?}", recorded.body);
    assert_eq!(recorded.body["source"], "operator");
    assert_eq!(recorded.body["recorded_by"], anna_id);

    let listed = vera
        .get(&format!("/api/v1/clients/{client}/consents"))
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    let seen: Vec<(bool, String)> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["given"].as_bool().unwrap(),
                c["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (true, "operator".into()),
            (true, "channel".into()),
            (false, "channel".into()),
        ]
    );
    assert_eq!(
        vera.get("/api/v1/clients/999999/consents").await.status,
        StatusCode::NOT_FOUND
    );
    // The export carries them.
    let admin = app.admin().await;
    let raw = admin
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/clients/{client}/export"),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (document, _) = unpack(&raw);
    assert_eq!(
        document["interlocutors"][0]["consents"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[actix_web::test]
async fn r47_no_outbound_connection_goes_to_a_host_the_administrator_did_not_configure() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let account = vk_account(&app, &fake, "callback").await;
    let admin = app.admin().await;
    assert_eq!(
        admin.get("/api/v1/settings").await.body["outbound_hosts"],
        Value::Null,
        "by default each platform's own hosts"
    );
    for bad in [
        json!(["http://evil.example"]),
        json!(["*"]),
        json!("all"),
        json!([""]),
    ] {
        let refused = admin
            .put("/api/v1/settings", json!({"outbound_hosts": bad}))
            .await;
        assert_eq!(
            refused.status.as_u16() / 100,
            4,
            "{bad}: {:?}",
            refused.body
        );
    }
    assert_eq!(
        admin.get("/api/v1/settings").await.body["outbound_hosts"],
        Value::Null
    );

    let photo = |id: i64, url: String| {
        vk_event(
            &format!("o{id}"),
            "message_new",
            vk_message(
                id,
                PEER,
                "",
                json!([{"type": "photo", "photo": {"id": id, "owner_id": 1, "sizes": [
                    {"type": "r", "url": url, "width": 510, "height": 1106}]}}]),
            ),
        )
    };
    let path = format!("/hooks/vk/{account}");
    let last_attachment = |app: &TestApp| app.count("SELECT max(id) FROM attachments");
    // A host that is not VK's: never contacted.
    hook(
        &app,
        &path,
        &serde_json::to_vec(&photo(1, "https://files.example.net/a.jpg".into())).unwrap(),
        &[],
    )
    .await;
    let answer = admin
        .get(&format!("/api/v1/attachments/{}", last_attachment(&app)))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("files.example.net is not among the allowed outbound hosts"),
        "{:?}",
        answer.body
    );

    // The administrator's list replaces the platform's hosts; the account's API host
    // (configured by the administrator too) stays reachable.
    let set = admin
        .put(
            "/api/v1/settings",
            json!({"outbound_hosts": ["Files.Example.NET", "*.example.org", "files.example.net"]}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(
        set.body["outbound_hosts"],
        json!(["files.example.net", "*.example.org"])
    );
    assert_eq!(
        set.body["integration_enabled"], true,
        "the other settings stay"
    );
    hook(
        &app,
        &path,
        &serde_json::to_vec(&photo(2, "https://sun9-1.userapi.com/b.jpg".into())).unwrap(),
        &[],
    )
    .await;
    let answer = admin
        .get(&format!("/api/v1/attachments/{}", last_attachment(&app)))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("sun9-1.userapi.com is not among")
    );
    hook(
        &app,
        &path,
        &serde_json::to_vec(&photo(3, format!("{}/media/big.jpg", fake.url))).unwrap(),
        &[],
    )
    .await;
    let answer = admin
        .get(&format!("/api/v1/attachments/{}", last_attachment(&app)))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'settings_changed'"),
        1
    );

    let reset = admin
        .put("/api/v1/settings", json!({"outbound_hosts": null}))
        .await;
    assert_eq!(reset.body["outbound_hosts"], Value::Null);
    let anna = {
        app.add_user("anna", PASSWORD, false).await;
        app.login("anna", PASSWORD).await
    };
    assert_eq!(
        anna.put("/api/v1/settings", json!({"outbound_hosts": []}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}
