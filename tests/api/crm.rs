//! The CRM side through the API: clients and prospects (R5), contact persons, merging,
//! interests (R7, R22, R23), tasks and "my work" (R6, R27, R28), automatic rules (R8)
//! and the close-reason analysis (R35).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::channels::{
    TG_SECRET, WAIT, eventually, hook, only_dialog, telegram_account, telegram_hook, text_of,
    tg_text, vk_account, vk_event, vk_message,
};
use crate::fakes::FakeChannel;
use crate::helpers::{TestApp, spawn_app_with};

const PASSWORD: &str = "operator-password-1";

async fn app() -> TestApp {
    spawn_app_with(|config| {
        config.login_attempts_per_ip = 1000;
        config.login_attempts_per_login = 1000;
    })
    .await
}

async fn telegram_with(app: &TestApp, fake: &FakeChannel, settings: Value) -> i64 {
    let mut body = json!({"credentials": {"token": "123:test", "mode": "webhook", "webhook_secret": TG_SECRET, "api_url": fake.url}});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), settings.as_object()) {
        body.extend(extra.clone());
    }
    app.create_account("telegram", body).await
}

fn system_lines(items: &[Value], kind: &str) -> Vec<Value> {
    items
        .iter()
        .filter(|m| m["system_kind"] == kind)
        .cloned()
        .collect()
}

// ---------------------------------------------------------------- Clients

#[actix_web::test]
async fn r5_an_unknown_telegram_interlocutor_becomes_a_client_or_a_prospect_by_the_account_setting()
{
    let app = app().await;
    let fake = FakeChannel::start().await;
    let clients = telegram_with(&app, &fake, json!({"create_clients": true})).await;
    let prospects = telegram_with(&app, &fake, json!({"create_clients": false})).await;
    telegram_hook(
        &app,
        clients,
        &tg_text(1, 501, 1, "Здравствуйте"),
        TG_SECRET,
    )
    .await;
    telegram_hook(
        &app,
        prospects,
        &tg_text(1, 502, 1, "Добрый день"),
        TG_SECRET,
    )
    .await;

    let admin = app.admin().await;
    let listed = admin.get("/api/v1/clients?kind=prospect").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let prospect = items[0]["id"].as_i64().unwrap();
    assert_eq!(items[0]["name"], "Иван Петров");
    assert_eq!(
        admin.get("/api/v1/clients?kind=client").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Promote the prospect.
    let promoted = admin
        .patch(
            &format!("/api/v1/clients/{prospect}"),
            json!({"kind": "client"}),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text);
    assert_eq!(promoted.body["kind"], "client");
    assert_eq!(
        app.count("SELECT count(*) FROM clients WHERE kind = 'prospect'"),
        0
    );
}

#[actix_web::test]
async fn r5_clients_and_contact_persons_are_managed_and_bad_input_changes_nothing() {
    let app = app().await;
    let anna = app.add_user("anna", PASSWORD, false).await;
    let operator = app.login("anna", PASSWORD).await;
    let created = operator
        .post("/api/v1/clients", json!({"name": " ООО «Ромашка» ", "kind": "prospect", "phone": "+7 999 000-00-00", "email": "info@romashka.ru"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["name"], "ООО «Ромашка»");
    let client = created.body["id"].as_i64().unwrap();

    for bad in [
        json!({"name": ""}),
        json!({"name": "x", "kind": "vip"}),
        json!({"name": "x", "email": "not-an-address"}),
        json!({"name": "x", "colour": "red"}),
    ] {
        let refused = operator.post("/api/v1/clients", bad.clone()).await;
        assert!(refused.status.is_client_error(), "{bad}: {}", refused.text);
    }
    assert_eq!(app.count("SELECT count(*) FROM clients"), 1);

    let contact = operator
        .post(
            &format!("/api/v1/clients/{client}/contacts"),
            json!({"name": "Мария Иванова", "position": "закупки", "email": "maria@romashka.ru"}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.text);
    assert_eq!(
        operator
            .post("/api/v1/clients/999999/contacts", json!({"name": "X"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let cleared = operator
        .patch(
            &format!("/api/v1/clients/{client}"),
            json!({"phone": null, "notes": "оптовик"}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert_eq!(cleared.body["phone"], Value::Null);
    assert_eq!(cleared.body["email"], "info@romashka.ru");

    let card = operator.get(&format!("/api/v1/clients/{client}")).await;
    assert_eq!(card.status, StatusCode::OK);
    assert_eq!(card.body["contacts"][0]["name"], "Мария Иванова");
    assert_eq!(card.body["client"]["notes"], "оптовик");
    assert_eq!(card.body["dialogs"], 0);

    let found = operator.get("/api/v1/clients?q=ромаш").await;
    assert_eq!(found.body["items"].as_array().unwrap().len(), 1);
    let wildcard = operator.get("/api/v1/clients?q=%25").await;
    assert_eq!(
        wildcard.body["items"].as_array().unwrap().len(),
        0,
        "a % is a character, not a wildcard"
    );
    assert_eq!(
        operator.get("/api/v1/clients?limit=0").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let _ = anna;
}

#[actix_web::test]
async fn r5_merging_two_clients_moves_everything_and_keeps_every_message() {
    let app = app().await;
    let fake = FakeChannel::start().await;
    let telegram = telegram_account(&app, &fake, "webhook").await;
    let vk = vk_account(&app, &fake, "callback").await;
    for (i, text) in ["Хочу заказать", "Доставка в Казань?"].iter().enumerate()
    {
        telegram_hook(
            &app,
            telegram,
            &tg_text(i as i64 + 1, 700, i as i64 + 1, text),
            TG_SECRET,
        )
        .await;
    }
    for (i, text) in ["Это снова я, Иван", "Заказ 1234"].iter().enumerate() {
        let event = vk_event(
            &format!("m{i}"),
            "message_new",
            vk_message(i as i64 + 1, 55, text, json!([])),
        );
        hook(
            &app,
            &format!("/hooks/vk/{vk}"),
            &serde_json::to_vec(&event).unwrap(),
            &[],
        )
        .await;
    }
    let into = app.count(&format!(
        "SELECT client_id FROM dialogs WHERE account_id = {telegram}"
    ));
    let from = app.count(&format!(
        "SELECT client_id FROM dialogs WHERE account_id = {vk}"
    ));
    assert_ne!(into, from);
    let admin = app.admin().await;
    let interest = admin
        .post(
            "/api/v1/interests",
            json!({"client_id": from, "title": "Поставка в Казань"}),
        )
        .await;
    assert_eq!(interest.status, StatusCode::CREATED, "{}", interest.text);
    let messages_before = app.count("SELECT count(*) FROM messages");

    app.add_user("anna", PASSWORD, false).await;
    let operator = app.login("anna", PASSWORD).await;
    let refused = operator
        .post(
            &format!("/api/v1/clients/{into}/merge"),
            json!({"from_client_id": from}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        admin
            .post(
                &format!("/api/v1/clients/{into}/merge"),
                json!({"from_client_id": into})
            )
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let merged = admin
        .post(
            &format!("/api/v1/clients/{into}/merge"),
            json!({"from_client_id": from}),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.text);
    assert_eq!(merged.body["moved_dialogs"], 1);
    assert_eq!(merged.body["moved_interlocutors"], 1);
    assert_eq!(merged.body["moved_interests"], 1);

    assert_eq!(
        app.count("SELECT count(*) FROM messages"),
        messages_before,
        "no message is lost"
    );
    let dialogs = admin.get(&format!("/api/v1/clients/{into}/dialogs")).await;
    assert_eq!(dialogs.body.as_array().unwrap().len(), 2);
    let search = admin
        .get(&format!("/api/v1/clients/{into}/messages?q=заказ"))
        .await;
    assert_eq!(search.body.as_array().unwrap().len(), 2, "{}", search.text);
    let card = admin.get(&format!("/api/v1/clients/{into}")).await;
    assert_eq!(card.body["interests"][0]["title"], "Поставка в Казань");
    assert_eq!(card.body["dialogs"], 2);
    let old = admin.get(&format!("/api/v1/clients/{from}")).await;
    assert_eq!(old.body["client"]["merged_into_id"], into);
    assert_eq!(app.count(&format!("SELECT count(*) FROM client_merges WHERE from_client_id = {from} AND into_client_id = {into}")), 1);
    let again = admin
        .post(
            &format!("/api/v1/clients/{into}/merge"),
            json!({"from_client_id": from}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    // The next message from the merged person lands in the merged client's dialog.
    let event = vk_event(
        "m9",
        "message_new",
        vk_message(9, 55, "ещё вопрос", json!([])),
    );
    hook(
        &app,
        &format!("/hooks/vk/{vk}"),
        &serde_json::to_vec(&event).unwrap(),
        &[],
    )
    .await;
    assert_eq!(
        app.count("SELECT count(DISTINCT client_id) FROM dialogs"),
        1
    );
}

// ---------------------------------------------------------------- Interests

#[actix_web::test]
async fn r7_r22_r23_interests_link_automatically_to_the_newest_and_the_dialog_says_so() {
    let app = app().await;
    let fake = FakeChannel::start().await;
    let account = telegram_with(&app, &fake, json!({"auto_link_interests": true})).await;
    telegram_hook(
        &app,
        account,
        &tg_text(1, 42, 1, "Первый вопрос"),
        TG_SECRET,
    )
    .await;
    let (first, _) = only_dialog(&app, account).await;
    let client = app.count(&format!("SELECT client_id FROM dialogs WHERE id = {first}"));
    let admin = app.admin().await;
    let older = admin.post("/api/v1/interests", json!({"client_id": client, "title": "Кухня", "amount_minor": 15000000, "currency": "RUB"})).await;
    assert_eq!(older.status, StatusCode::CREATED, "{}", older.text);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let newer = admin
        .post(
            "/api/v1/interests",
            json!({"client_id": client, "title": "Шкаф"}),
        )
        .await;
    let newer_id = newer.body["id"].as_i64().unwrap();
    for bad in [
        json!({"client_id": client, "title": ""}),
        json!({"client_id": client, "title": "x", "currency": "rub"}),
        json!({"client_id": client, "title": "x", "amount_minor": -1}),
    ] {
        assert_eq!(
            admin.post("/api/v1/interests", bad).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    assert_eq!(
        admin
            .post(
                "/api/v1/interests",
                json!({"client_id": 999999, "title": "x"})
            )
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    admin
        .post(&format!("/api/v1/dialogs/{first}/close"), json!({}))
        .await;
    telegram_hook(&app, account, &tg_text(2, 42, 2, "Снова я"), TG_SECRET).await;
    let second = app.count("SELECT max(id) FROM dialogs");
    assert_ne!(second, first);
    assert_eq!(
        app.count(&format!(
            "SELECT interest_id FROM dialogs WHERE id = {second}"
        )),
        newer_id
    );
    let feed = admin
        .get(&format!("/api/v1/dialogs/{second}/messages"))
        .await;
    let linked = system_lines(feed.body["items"].as_array().unwrap(), "interest_linked");
    assert_eq!(linked.len(), 1, "{}", feed.text);
    assert_eq!(linked[0]["system_data"]["active_interests"], 2);
    assert_eq!(linked[0]["system_data"]["automatic"], true);

    let detail = admin.get(&format!("/api/v1/interests/{newer_id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(detail.body["dialogs"][0]["id"], second);
    // Someone with no right on the account sees the interest and its dialogs — the
    // client's conversations, readable by every user as from the client's card (R10) —
    // and can do nothing in them.
    app.add_user("gleb", PASSWORD, false).await;
    let gleb = app.login("gleb", PASSWORD).await;
    let seen = gleb.get(&format!("/api/v1/interests/{newer_id}")).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.text);
    assert_eq!(seen.body["dialogs"][0]["id"], second);
    assert_eq!(
        gleb.get(&format!("/api/v1/dialogs/{second}")).await.status,
        StatusCode::NOT_FOUND
    );
    let won = admin
        .patch(
            &format!("/api/v1/interests/{newer_id}"),
            json!({"status": "won"}),
        )
        .await;
    assert_eq!(won.body["status"], "won");
    assert!(won.body["closed_at"].is_string());
    assert_eq!(
        admin
            .patch(
                &format!("/api/v1/interests/{newer_id}"),
                json!({"status": "maybe"})
            )
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let active = admin
        .get(&format!(
            "/api/v1/interests?client_id={client}&status=active"
        ))
        .await;
    assert_eq!(active.body.as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------- Tasks

#[actix_web::test]
async fn r6_r27_r28_tasks_and_my_work_update_live() {
    let app = app().await;
    let anna = app.add_user("anna", PASSWORD, false).await;
    let boris = app.add_user("boris", PASSWORD, false).await;
    app.add_user("vera", PASSWORD, false).await;
    let account = app
        .create_account("telegram", json!({"responsible": {"user_id": anna}}))
        .await;
    app.grant(account, json!([{"user_id": anna, "view": true, "send": true}, {"user_id": boris, "view": true, "send": true}])).await;
    let dialog = app.dialog_of(account, "1", "Перезвоните мне").await;

    let anna_client = app.login("anna", PASSWORD).await;
    let boris_client = app.login("boris", PASSWORD).await;
    let (_, stream) = boris_client.events("/api/v1/events", None).await;
    let mut stream = stream.unwrap();
    let task = anna_client
        .post(&format!("/api/v1/dialogs/{dialog}/tasks"), json!({"kind": "assignment", "title": "Перезвонить клиенту", "assignee_ids": [boris], "due_at": "2030-01-01T10:00:00Z"}))
        .await;
    assert_eq!(task.status, StatusCode::CREATED, "{}", task.text);
    let task_id = task.body["id"].as_i64().unwrap();
    let seen = stream.until(WAIT, |e| e.event == "task").await;
    assert_eq!(seen.last().unwrap().event, "task");

    let mine = boris_client.get("/api/v1/tasks").await;
    assert_eq!(mine.body[0]["id"], task_id);
    assert!(
        anna_client
            .get("/api/v1/tasks")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        anna_client.get("/api/v1/tasks?mine=false").await.body[0]["id"],
        task_id
    );

    // R6: the account's responsible sees its dialogs in "my work".
    let work = anna_client.get("/api/v1/my-work").await;
    assert_eq!(work.status, StatusCode::OK, "{}", work.text);
    assert_eq!(work.body["dialogs"][0]["id"], dialog);
    assert_eq!(
        boris_client.get("/api/v1/my-work").await.body["tasks"][0]["id"],
        task_id
    );

    let vera = app.login("vera", PASSWORD).await;
    assert_eq!(
        vera.patch(
            &format!("/api/v1/tasks/{task_id}"),
            json!({"status": "done"})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        boris_client
            .patch(
                &format!("/api/v1/tasks/{task_id}"),
                json!({"status": "finished"})
            )
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let done = boris_client
        .patch(
            &format!("/api/v1/tasks/{task_id}"),
            json!({"status": "done"}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.body["status"], "done");
    assert!(
        boris_client
            .get("/api/v1/tasks")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        boris_client.get("/api/v1/tasks?status=done").await.body[0]["id"],
        task_id
    );
}

// ---------------------------------------------------------------- Rules

#[actix_web::test]
async fn r8_an_auto_reply_rule_answers_through_the_channel_and_is_recorded() {
    let app = app().await;
    let fake = FakeChannel::start().await;
    let account = telegram_account(&app, &fake, "webhook").await;
    let admin = app.admin().await;
    let rule = admin
        .post("/api/v1/rules", json!({
            "account_id": account, "name": "Цены ночью",
            "conditions": [{"type": "text_contains", "value": "цена"}, {"type": "client_known", "known": false}],
            "actions": [{"type": "auto_reply", "text": "{client}, прайс пришлём утром. {account}"}, {"type": "mark_lead"}]
        }))
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{}", rule.text);

    telegram_hook(
        &app,
        account,
        &tg_text(1, 900, 1, "Какая ЦЕНА на диван?"),
        TG_SECRET,
    )
    .await;
    let sent = fake.wait_calls("/sendmessage", 1, WAIT).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["chat_id"], 900);
    assert_eq!(
        sent[0].body["text"],
        "Иван Петров, прайс пришлём утром. telegram account"
    );
    let (dialog, items) = only_dialog(&app, account).await;
    let lines = system_lines(&items, "rule");
    assert_eq!(lines.len(), 1, "{items:?}");
    assert_eq!(lines[0]["system_data"]["name"], "Цены ночью");
    assert!(
        lines[0]["system_data"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["ok"] == true),
        "{}",
        lines[0]
    );
    assert_eq!(
        app.count(&format!(
            "SELECT is_lead::int FROM dialogs WHERE id = {dialog}"
        )),
        1
    );
    // The auto-reply did not take the dialog: it still waits in New.
    assert_eq!(
        text_of(
            &app,
            &format!("SELECT status FROM dialogs WHERE id = {dialog}")
        )
        .as_deref(),
        Some("new")
    );
    let auto = items.iter().find(|m| m["direction"] == "out").unwrap();
    assert_eq!(auto["author"], Value::Null);

    // The person is known now: the rule does not answer again.
    telegram_hook(
        &app,
        account,
        &tg_text(2, 900, 2, "А цена доставки?"),
        TG_SECRET,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.calls("/sendmessage").len(), 1);
}

#[actix_web::test]
async fn r8_rules_assign_redirect_close_in_order_and_a_faulty_rule_loses_nothing() {
    let app = app().await;
    let fake = FakeChannel::start().await;
    let account = telegram_account(&app, &fake, "webhook").await;
    let admin = app.admin().await;
    let role = admin
        .post("/api/v1/roles", json!({"name": "Логистика"}))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let spam = app.count("SELECT id FROM close_reasons ORDER BY id LIMIT 1");
    let create = |body: Value| {
        let admin = admin.clone();
        async move { admin.post("/api/v1/rules", body).await }
    };
    let faulty =
        create(json!({"name": "Сломанное", "position": 1, "actions": [{"type": "mark_lead"}]}))
            .await;
    assert_eq!(faulty.status, StatusCode::CREATED, "{}", faulty.text);
    // A rule broken behind the API's back (an older version wrote it, or by hand).
    let mut conn = app.db.connect();
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "UPDATE rules SET conditions = '[{{\"type\": \"moon_phase\"}}]' WHERE id = {}",
            faulty.body["id"]
        )),
        &mut conn,
    )
    .unwrap();
    let logistics = create(
        json!({"account_id": account, "name": "Доставка", "position": 2, "stop_processing": true,
        "conditions": [{"type": "text_matches", "pattern": "доставк[аи]"}],
        "actions": [{"type": "assign", "role_id": role}]}),
    )
    .await;
    assert_eq!(logistics.status, StatusCode::CREATED, "{}", logistics.text);
    let closer = create(json!({"name": "Спам", "position": 3,
        "conditions": [{"type": "text_contains", "value": "казино"}],
        "actions": [{"type": "close", "reason_id": spam}]}))
    .await;
    assert_eq!(closer.status, StatusCode::CREATED, "{}", closer.text);

    telegram_hook(
        &app,
        account,
        &tg_text(1, 1, 1, "Когда доставка? казино"),
        TG_SECRET,
    )
    .await;
    let (dialog, items) = only_dialog(&app, account).await;
    assert!(
        items.iter().any(|m| m["direction"] == "in"),
        "the message is stored"
    );
    let lines = system_lines(&items, "rule");
    assert_eq!(lines.len(), 2, "{items:?}");
    assert!(
        lines[0]["system_data"]["error"]
            .as_str()
            .unwrap()
            .contains("moon_phase"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1]["system_data"]["name"], "Доставка");
    assert_eq!(
        app.count(&format!(
            "SELECT responsible_role_id FROM dialogs WHERE id = {dialog}"
        )),
        role
    );
    // stop_processing: the spam rule never ran.
    assert_eq!(
        text_of(
            &app,
            &format!("SELECT status FROM dialogs WHERE id = {dialog}")
        )
        .as_deref(),
        Some("new")
    );

    telegram_hook(&app, account, &tg_text(2, 2, 1, "лучшее КАЗИНО"), TG_SECRET).await;
    eventually(
        &app,
        "SELECT count(*) FROM dialogs WHERE status = 'closed'",
        "1",
    )
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM dialogs WHERE status = 'closed' AND close_reason_id = {spam}"
        )),
        1
    );
}

#[actix_web::test]
async fn r8_rules_are_checked_before_they_are_saved_and_only_administrators_manage_them() {
    let app = app().await;
    let account = app.create_account("vk", json!({})).await;
    let anna = app.add_user("anna", PASSWORD, false).await;
    let boris = app.add_user("boris", PASSWORD, false).await;
    app.grant(account, json!([{"user_id": anna, "view": true, "send": true, "admin": true}, {"user_id": boris, "view": true, "send": true}])).await;
    let admin = app.admin().await;
    for bad in [
        json!({"name": "x", "conditions": [{"type": "text_matches", "pattern": "("}], "actions": [{"type": "mark_lead"}]}),
        json!({"name": "x", "conditions": [{"type": "time_of_day", "from": "25:00", "to": "09:00"}], "actions": [{"type": "mark_lead"}]}),
        json!({"name": "x", "actions": []}),
        json!({"name": "x", "actions": [{"type": "assign", "user_id": 999999}]}),
        json!({"name": "x", "actions": [{"type": "teleport"}]}),
        json!({"name": "", "actions": [{"type": "mark_lead"}]}),
    ] {
        let refused = admin.post("/api/v1/rules", bad.clone()).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            refused.text
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM rules"), 0);

    let account_admin = app.login("anna", PASSWORD).await;
    let operator = app.login("boris", PASSWORD).await;
    let rule = json!({"account_id": account, "name": "Лиды", "actions": [{"type": "mark_lead"}]});
    assert_eq!(
        operator.post("/api/v1/rules", rule.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        account_admin
            .post(
                "/api/v1/rules",
                json!({"name": "Глобальное", "actions": [{"type": "mark_lead"}]})
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let created = account_admin.post("/api/v1/rules", rule).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(
        account_admin
            .get("/api/v1/rules")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        operator
            .get("/api/v1/rules")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        operator.get(&format!("/api/v1/rules/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let disabled = account_admin
        .patch(&format!("/api/v1/rules/{id}"), json!({"enabled": false}))
        .await;
    assert_eq!(disabled.body["enabled"], false);
    assert_eq!(
        account_admin
            .delete(&format!("/api/v1/rules/{id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.count("SELECT count(*) FROM rules"), 0);
}

// ---------------------------------------------------------------- Report

/// (account, who closed: 0 anna / 1 boris, reason)
type Closing = (i64, usize, Option<i64>);

#[actix_web::test]
async fn r35_the_report_equals_an_independent_count_by_reason_account_user_and_period() {
    let app = app().await;
    let first = app
        .create_account("telegram", json!({"lead_source": true}))
        .await;
    let second = app.create_account("vk", json!({"lead_source": true})).await;
    let anna = app.add_user("anna", PASSWORD, false).await;
    let boris = app.add_user("boris", PASSWORD, false).await;
    for account in [first, second] {
        app.grant(account, json!([{"user_id": anna, "view": true, "send": true}, {"user_id": boris, "view": true, "send": true}])).await;
    }
    let admin = app.admin().await;
    let expensive = admin
        .post("/api/v1/close-reasons", json!({"name": "Дорого"}))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let elsewhere = admin
        .post("/api/v1/close-reasons", json!({"name": "Купил у других"}))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let clients = [
        app.login("anna", PASSWORD).await,
        app.login("boris", PASSWORD).await,
    ];
    // (account, closer, reason)
    let plan = [
        (first, 0, Some(expensive)),
        (first, 0, Some(expensive)),
        (first, 1, Some(elsewhere)),
        (second, 1, Some(expensive)),
        (second, 0, None),
        (second, 1, Some(elsewhere)),
        (second, 1, Some(elsewhere)),
    ];
    for (i, (account, closer, reason)) in plan.iter().enumerate() {
        let dialog = app
            .dialog_of(*account, &format!("p{i}"), "Сколько стоит?")
            .await;
        let body = match reason {
            Some(reason) => json!({"reason_id": reason}),
            None => json!({}),
        };
        let closed = clients[*closer]
            .post(&format!("/api/v1/dialogs/{dialog}/close"), body)
            .await;
        assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    }
    let count = |f: &dyn Fn(&Closing) -> bool| plan.iter().filter(|p| f(p)).count() as i64;

    let report = admin.get("/api/v1/reports/close-reasons?period=day").await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text);
    assert_eq!(report.body["total"], plan.len() as i64);
    for row in report.body["rows"].as_array().unwrap() {
        let reason = row["reason_id"].as_i64();
        assert_eq!(row["count"], count(&|p| p.2 == reason), "{row}");
    }
    for group in report.body["by_account"].as_array().unwrap() {
        let account = group["id"].as_i64().unwrap();
        assert_eq!(group["count"], count(&|p| p.0 == account));
        for row in group["reasons"].as_array().unwrap() {
            let reason = row["reason_id"].as_i64();
            assert_eq!(row["count"], count(&|p| p.0 == account && p.2 == reason));
        }
    }
    for group in report.body["by_user"].as_array().unwrap() {
        let closer = if group["id"] == anna { 0 } else { 1 };
        assert_eq!(group["count"], count(&|p| p.1 == closer), "{group}");
    }
    let periods = report.body["by_period"].as_array().unwrap();
    assert_eq!(periods.len(), 1);
    assert_eq!(periods[0]["count"], plan.len() as i64);
    let shares: f64 = report.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["share"].as_f64().unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 1e-9);

    let by_boris = admin
        .get(&format!(
            "/api/v1/reports/close-reasons?user_id={boris}&account_id={second}"
        ))
        .await;
    assert_eq!(
        by_boris.body["total"],
        count(&|p| p.1 == 1 && p.0 == second)
    );

    let csv = admin.get("/api/v1/reports/close-reasons?format=csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines[0], "dimension,id,name,reason_id,reason,count,share");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("total,,\"\",") && l.contains("\"Купил у других\",3,")),
        "{}",
        csv.text
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("account,{first},")) && l.contains("\"Дорого\",2,")),
        "{}",
        csv.text
    );
    assert_eq!(
        admin
            .get("/api/v1/reports/close-reasons?format=xml")
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        admin
            .get("/api/v1/reports/close-reasons?period=year")
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[actix_web::test]
async fn api_an_idempotency_key_replays_the_first_answer_and_does_nothing_twice() {
    let mut app = app().await;
    let anna = app.add_user("anna", PASSWORD, false).await;
    let boris = app.add_user("boris", PASSWORD, false).await;
    let crm = app.with_token(&app.token_for(anna, &["read", "write"]).await);
    let other_crm = app.with_token(&app.token_for(boris, &["read", "write"]).await);
    let clients = || app.count("SELECT count(*) FROM clients");
    let create = |client: &crate::helpers::Client, key: &str, name: &str| {
        client
            .request(reqwest::Method::POST, "/api/v1/clients")
            .header("Idempotency-Key", key.to_owned())
            .json(&json!({"name": name}))
    };

    // A retry with the same key returns the first answer and creates nothing more.
    let first = crm.send(create(&crm, "order-1", "ООО «Ромашка»")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert!(first.header("Idempotent-Replayed").is_none());
    let retry = crm.send(create(&crm, "order-1", "ООО «Ромашка»")).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.text);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(clients(), 1);

    // The same key for another request is refused, and changes nothing.
    let reused = crm.send(create(&crm, "order-1", "ООО «Лютик»")).await;
    assert_eq!(
        reused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reused.text
    );
    assert_eq!(reused.error(), "idempotency_key_reused");
    assert_eq!(clients(), 1);

    // Keys belong to their user: another one's "order-1" is a request of its own.
    let others = other_crm
        .send(create(&other_crm, "order-1", "ООО «Ромашка»"))
        .await;
    assert_eq!(others.status, StatusCode::CREATED, "{}", others.text);
    assert_ne!(others.body["id"], first.body["id"]);
    assert_eq!(clients(), 2);

    // Refusals are kept too: a bad request retried is the same refusal, not a new try.
    let bad = crm.send(create(&crm, "order-2", "")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    let bad_again = crm.send(create(&crm, "order-2", "")).await;
    assert_eq!(bad_again.status, bad.status);
    assert_eq!(bad_again.body, bad.body);
    assert_eq!(bad_again.header("Idempotent-Replayed"), Some("true"));

    // A key that is not 1-200 visible ASCII characters is a bad request.
    for key in ["", "with space", &"k".repeat(201)] {
        let refused = crm.send(create(&crm, key, "ООО «Астра»")).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{key:?}: {}",
            refused.text
        );
        assert_eq!(refused.error(), "bad_idempotency_key");
    }
    assert_eq!(clients(), 2);

    // Ten retries at once: one runs, the others wait their turn or replay it.
    let together = futures_util::future::join_all(
        (0..10).map(|_| crm.send(create(&crm, "order-3", "ООО «Астра»"))),
    )
    .await;
    let created: Vec<_> = together
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .collect();
    assert!(
        together
            .iter()
            .all(|a| a.status == StatusCode::CREATED || a.error() == "idempotency_key_in_use"),
        "{:?}",
        together.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert!(!created.is_empty());
    assert!(
        created
            .iter()
            .all(|a| a.body["id"] == created[0].body["id"])
    );
    assert!(
        together
            .iter()
            .filter(|a| a.status == StatusCode::CONFLICT)
            .all(|a| a.header("Retry-After") == Some("1"))
    );
    assert_eq!(clients(), 3);

    // Requests without a key are untouched.
    let plain = crm
        .post("/api/v1/clients", json!({"name": "ООО «Астра»"}))
        .await;
    assert_eq!(plain.status, StatusCode::CREATED, "{}", plain.text);
    assert_eq!(clients(), 4);

    // After a day a key may be used afresh, for any request.
    let mut conn = app.db.connect();
    let mut a_day_ago = |key: &str| {
        diesel::RunQueryDsl::execute(
            diesel::sql_query(
                "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1",
            )
            .bind::<diesel::sql_types::Text, _>(key),
            &mut conn,
        )
        .unwrap();
    };
    a_day_ago("order-1");
    let reused_later = crm.send(create(&crm, "order-1", "ООО «Лютик»")).await;
    assert_eq!(
        reused_later.status,
        StatusCode::CREATED,
        "{}",
        reused_later.text
    );
    assert!(reused_later.header("Idempotent-Replayed").is_none());
    assert_eq!(clients(), 5);

    // Day-old answers are removed with the events' retention (at start, then every ten
    // minutes); the others stay.
    a_day_ago("order-2");
    app.restart().await;
    let kept = "SELECT count(*) FROM idempotency_keys WHERE key = 'order-2'";
    for _ in 0..50 {
        if app.count(kept) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.count(kept), 0);
    assert_eq!(
        app.count("SELECT count(*) FROM idempotency_keys WHERE key = 'order-3'"),
        1
    );
}
