//! The dialog engine through HTTP, requirement by requirement (R3–R35), with inbound
//! messages entering through the account actor as a channel's would.

use dialogi::actors::{Inbound, InboundOutcome};
use dialogi::db::clients::Sender;
use dialogi::db::dialogs::NewAttachment;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const PASSWORD: &str = "operator-password";

/// An app with one Telegram account and operators: anna and boris may send, vera may only
/// view.
async fn company(settings: Value) -> (TestApp, i64, [i64; 3]) {
    let app = spawn_app().await;
    let account = app.create_account("telegram", settings).await;
    let anna = app.add_user("anna", PASSWORD, false).await;
    let boris = app.add_user("boris", PASSWORD, false).await;
    let vera = app.add_user("vera", PASSWORD, false).await;
    app.grant(
        account,
        json!([
            {"user_id": anna, "view": true, "send": true},
            {"user_id": boris, "view": true, "send": true},
            {"user_id": vera, "view": true},
        ]),
    )
    .await;
    (app, account, [anna, boris, vera])
}

fn ids(answer: &Value) -> Vec<i64> {
    answer["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["id"].as_i64()).collect())
        .unwrap_or_default()
}

#[actix_web::test]
async fn r19_messages_from_one_interlocutor_share_one_active_dialog_until_it_closes() {
    let (app, account, _) = company(json!({})).await;
    let first = app.dialog_of(account, "100", "Здравствуйте").await;
    let second = app.dialog_of(account, "100", "Вы тут?").await;
    assert_eq!(first, second);
    let other = app.dialog_of(account, "200", "Hello").await;
    assert_ne!(first, other);

    let admin = app.admin().await;
    let closed = admin
        .post(&format!("/api/v1/dialogs/{first}/close"), json!({}))
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    assert_eq!(closed.body["status"], "closed");
    let next = app.dialog_of(account, "100", "Ещё вопрос").await;
    assert_ne!(next, first, "a message after closing opens a new dialog");
    // The same person on another account has a dialog of their own there.
    let vk = app.create_account("vk", json!({})).await;
    assert_ne!(app.dialog_of(vk, "100", "Привет из ВК").await, next);
}

#[actix_web::test]
async fn a_channel_message_delivered_twice_is_stored_once() {
    let (app, account, _) = company(json!({})).await;
    let first = app
        .inbound_with_id(account, "100", "Один раз", "tg:100:1")
        .await;
    assert!(matches!(
        first,
        InboundOutcome::Stored {
            opened_dialog: true,
            ..
        }
    ));
    let again = app
        .inbound_with_id(account, "100", "Один раз", "tg:100:1")
        .await;
    assert_eq!(again, InboundOutcome::Duplicate);
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE direction = 'in'"),
        1
    );
}

#[actix_web::test]
async fn r5_an_unknown_interlocutor_becomes_a_client_or_a_prospect_by_the_account_setting() {
    let app = spawn_app().await;
    let clients = app
        .create_account("telegram", json!({"create_clients": true}))
        .await;
    let prospects = app
        .create_account("viber", json!({"create_clients": false}))
        .await;
    let a = app.dialog_of(clients, "1", "Привет").await;
    let b = app.dialog_of(prospects, "2", "Привет").await;
    let admin = app.admin().await;
    let a = admin.get(&format!("/api/v1/dialogs/{a}")).await;
    let b = admin.get(&format!("/api/v1/dialogs/{b}")).await;
    assert_eq!(a.body["client"]["kind"], "client");
    assert_eq!(b.body["client"]["kind"], "prospect");
    assert_eq!(a.body["client"]["name"], "Клиент 1");
    // A known interlocutor keeps their client.
    app.dialog_of(clients, "1", "Снова я").await;
    assert_eq!(app.count("SELECT count(*) FROM clients"), 2);
}

#[actix_web::test]
async fn r3_r6_new_dialogs_are_leads_of_lead_sources_and_get_the_accounts_responsible() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let role = admin
        .post("/api/v1/roles", json!({"name": "Продажи"}))
        .await
        .body["id"]
        .clone();
    let account = app
        .create_account(
            "telegram",
            json!({"lead_source": true, "responsible": {"role_id": role}}),
        )
        .await;
    let dialog = app.dialog_of(account, "1", "Хочу купить").await;
    let view = admin.get(&format!("/api/v1/dialogs/{dialog}")).await;
    assert_eq!(view.body["is_lead"], true);
    assert_eq!(view.body["responsible"]["role_id"], role);
    assert_eq!(view.body["status"], "new");
    assert_eq!(
        view.body["title"],
        format!("Диалог №{}", view.body["number"])
    );
}

#[actix_web::test]
async fn r20_r21_r24_accepting_and_replying_make_the_dialog_one_users() {
    let (app, account, _) = company(json!({})).await;
    let dialog = app.dialog_of(account, "1", "Нужна помощь").await;
    let anna = app.login("anna", PASSWORD).await;
    let boris = app.login("boris", PASSWORD).await;

    let accepted = anna
        .post(&format!("/api/v1/dialogs/{dialog}/accept"), json!({}))
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    assert_eq!(accepted.body["status"], "accepted");
    assert_eq!(accepted.body["responsible"]["user_name"], "anna");
    assert_eq!(accepted.body["actions"]["reply"], true);
    // Accepting again is harmless; someone else cannot take it or write in it.
    assert_eq!(
        anna.post(&format!("/api/v1/dialogs/{dialog}/accept"), json!({}))
            .await
            .status,
        StatusCode::OK
    );
    let taken = boris
        .post(&format!("/api/v1/dialogs/{dialog}/accept"), json!({}))
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.error(), "dialog_taken");
    let write = boris
        .post(
            &format!("/api/v1/dialogs/{dialog}/messages"),
            json!({"text": "Я отвечу"}),
        )
        .await;
    assert_eq!(write.status, StatusCode::CONFLICT);
    let seen = boris.get(&format!("/api/v1/dialogs/{dialog}")).await;
    assert_eq!(seen.body["actions"]["reply"], false);

    let reply = anna
        .post(
            &format!("/api/v1/dialogs/{dialog}/messages"),
            json!({"text": "Здравствуйте! Чем помочь?"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["message"]["direction"], "out");
    assert_eq!(reply.body["message"]["delivery"], "pending");
    assert_eq!(reply.body["message"]["author"]["name"], "anna");
    assert_eq!(
        // The sender may already be trying it: one row, whatever its state.
        app.count("SELECT count(*) FROM outbox"),
        1
    );

    let feed = anna
        .get(&format!("/api/v1/dialogs/{dialog}/messages"))
        .await;
    let kinds: Vec<String> = feed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}:{}",
                m["direction"].as_str().unwrap(),
                m["system_kind"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(kinds, vec!["in:", "system:accepted", "out:"]);
    let accepted_line = &feed.body["items"][1];
    assert_eq!(
        accepted_line["author"]["name"], "anna",
        "R21: the chat says who accepted"
    );
    assert!(accepted_line["created_at"].is_string(), "and when");
}

#[actix_web::test]
async fn r21_a_reply_to_a_new_dialog_accepts_it_for_the_writer() {
    let (app, account, [anna, ..]) = company(json!({})).await;
    let dialog = app.dialog_of(account, "1", "Есть кто?").await;
    let client = app.login("anna", PASSWORD).await;
    let reply = client
        .post(
            &format!("/api/v1/dialogs/{dialog}/messages"),
            json!({"text": "Да!"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["dialog"]["status"], "accepted");
    assert_eq!(reply.body["dialog"]["responsible"]["user_id"], anna);
}

#[actix_web::test]
async fn r9_r10_without_send_a_user_reads_but_cannot_answer_and_without_rights_sees_nothing() {
    let (app, account, _) = company(json!({})).await;
    let dialog = app.dialog_of(account, "1", "Вопрос").await;
    let hidden_account = app.create_account("vk", json!({})).await;
    let hidden = app.dialog_of(hidden_account, "9", "Секрет").await;
    let vera = app.login("vera", PASSWORD).await;

    assert_eq!(
        vera.get(&format!("/api/v1/dialogs/{dialog}")).await.status,
        StatusCode::OK
    );
    let write = vera
        .post(
            &format!("/api/v1/dialogs/{dialog}/messages"),
            json!({"text": "Ответ"}),
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert_eq!(
        vera.post(&format!("/api/v1/dialogs/{dialog}/accept"), json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    for path in [
        format!("/api/v1/dialogs/{hidden}"),
        format!("/api/v1/dialogs/{hidden}/messages"),
        format!("/api/v1/accounts/{hidden_account}"),
    ] {
        assert_eq!(
            vera.get(&path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let accept_hidden = vera
        .post(&format!("/api/v1/dialogs/{hidden}/accept"), json!({}))
        .await;
    assert_eq!(accept_hidden.status, StatusCode::NOT_FOUND);
    let list = vera.get("/api/v1/dialogs").await;
    assert_eq!(ids(&list.body), vec![dialog]);
    let search = vera.get("/api/v1/dialogs?q=Секрет").await;
    assert!(ids(&search.body).is_empty());
    assert_eq!(
        vera.get("/api/v1/accounts")
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // "Everyone may view" opens the account to every user, read-only.
    let admin = app.admin().await;
    admin
        .patch(
            &format!("/api/v1/accounts/{hidden_account}"),
            json!({"everyone_may_view": true}),
        )
        .await;
    assert_eq!(
        vera.get(&format!("/api/v1/dialogs/{hidden}")).await.status,
        StatusCode::OK
    );
    let write = vera
        .post(
            &format!("/api/v1/dialogs/{hidden}/messages"),
            json!({"text": "Ответ"}),
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn r4_r25_closing_needs_a_reason_where_the_account_requires_one_and_closed_takes_nothing() {
    let (app, account, _) = company(json!({"require_close_reason": true})).await;
    let dialog = app.dialog_of(account, "1", "Спасибо, всё").await;
    let anna = app.login("anna", PASSWORD).await;
    let without = anna
        .post(&format!("/api/v1/dialogs/{dialog}/close"), json!({}))
        .await;
    assert_eq!(without.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(without.error(), "reason_required");
    let reasons = anna.get("/api/v1/close-reasons").await;
    let reason = reasons.body[0]["id"].as_i64().unwrap();
    assert_eq!(reasons.body[0]["name"], "Нет ответа");
    let bad = anna
        .post(
            &format!("/api/v1/dialogs/{dialog}/close"),
            json!({"reason_id": 99999}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let closed = anna
        .post(
            &format!("/api/v1/dialogs/{dialog}/close"),
            json!({"reason_id": reason, "comment": "Клиент ушёл"}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    assert_eq!(closed.body["close_reason_id"], reason);
    assert_eq!(closed.body["close_comment"], "Клиент ушёл");
    for (path, body) in [
        ("messages", json!({"text": "Ещё слово"})),
        ("accept", json!({})),
        ("close", json!({"reason_id": reason})),
    ] {
        let answer = anna
            .post(&format!("/api/v1/dialogs/{dialog}/{path}"), body)
            .await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{path}");
        assert_eq!(answer.error(), "dialog_closed");
    }
}

#[actix_web::test]
async fn r26_redirecting_returns_the_dialog_to_a_user_who_then_takes_it() {
    let (app, account, [_, boris, vera]) = company(json!({})).await;
    let dialog = app.dialog_of(account, "1", "Вопрос по доставке").await;
    let anna = app.login("anna", PASSWORD).await;
    anna.post(&format!("/api/v1/dialogs/{dialog}/accept"), json!({}))
        .await;
    // Only someone who may answer on the account can be given the dialog.
    let to_viewer = anna
        .post(
            &format!("/api/v1/dialogs/{dialog}/redirect"),
            json!({"user_id": vera}),
        )
        .await;
    assert_eq!(to_viewer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let redirected = anna
        .post(
            &format!("/api/v1/dialogs/{dialog}/redirect"),
            json!({"user_id": boris, "comment": "Это к Борису"}),
        )
        .await;
    assert_eq!(redirected.status, StatusCode::OK, "{}", redirected.text);
    assert_eq!(redirected.body["status"], "returned");
    assert_eq!(redirected.body["responsible"]["user_id"], boris);
    let in_new = anna.get("/api/v1/dialogs?section=new").await;
    assert_eq!(
        ids(&in_new.body),
        vec![dialog],
        "R18: a returned dialog waits in New"
    );
    let retake = anna
        .post(&format!("/api/v1/dialogs/{dialog}/accept"), json!({}))
        .await;
    assert_eq!(retake.status, StatusCode::CONFLICT);
    assert_eq!(retake.error(), "dialog_redirected");
    let boris = app.login("boris", PASSWORD).await;
    let taken = boris
        .post(&format!("/api/v1/dialogs/{dialog}/accept"), json!({}))
        .await;
    assert_eq!(taken.body["status"], "accepted");
    assert_eq!(
        taken.body["responsible"]["user_id"],
        app.count("SELECT id FROM users WHERE login = 'boris'")
    );
}

#[actix_web::test]
async fn r33_dialogs_are_numbered_and_can_be_renamed_and_named_back() {
    let (app, account, _) = company(json!({})).await;
    let first = app.dialog_of(account, "1", "a").await;
    let second = app.dialog_of(account, "2", "b").await;
    let anna = app.login("anna", PASSWORD).await;
    let one = anna.get(&format!("/api/v1/dialogs/{first}")).await;
    let two = anna.get(&format!("/api/v1/dialogs/{second}")).await;
    assert_eq!(
        two.body["number"].as_i64(),
        one.body["number"].as_i64().map(|n| n + 1)
    );
    let renamed = anna
        .patch(
            &format!("/api/v1/dialogs/{first}"),
            json!({"title": " Оптовый заказ "}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.body["title"], "Оптовый заказ");
    assert_eq!(renamed.body["custom_title"], true);
    let blank = anna
        .patch(&format!("/api/v1/dialogs/{first}"), json!({"title": "  "}))
        .await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    let back = anna
        .patch(&format!("/api/v1/dialogs/{first}"), json!({"title": null}))
        .await;
    assert_eq!(
        back.body["title"],
        format!("Диалог №{}", one.body["number"])
    );
}

#[actix_web::test]
async fn r13_sections_list_new_in_work_and_all_with_closed_only_on_request() {
    let (app, account, _) = company(json!({})).await;
    let fresh = app.dialog_of(account, "1", "новый").await;
    let taken = app.dialog_of(account, "2", "в работе").await;
    let finished = app.dialog_of(account, "3", "закрыт").await;
    let anna = app.login("anna", PASSWORD).await;
    anna.post(&format!("/api/v1/dialogs/{taken}/accept"), json!({}))
        .await;
    anna.post(&format!("/api/v1/dialogs/{finished}/close"), json!({}))
        .await;

    let mut all = ids(&anna.get("/api/v1/dialogs?section=all").await.body);
    all.sort_unstable();
    assert_eq!(all, vec![fresh, taken]);
    assert_eq!(
        ids(&anna.get("/api/v1/dialogs?section=new").await.body),
        vec![fresh]
    );
    assert_eq!(
        ids(&anna.get("/api/v1/dialogs?section=in_work").await.body),
        vec![taken]
    );
    let mut with_closed = ids(&anna
        .get("/api/v1/dialogs?section=all&closed=true")
        .await
        .body);
    with_closed.sort_unstable();
    assert_eq!(with_closed, vec![fresh, taken, finished]);
    let bad = anna.get("/api/v1/dialogs?section=archive").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn r13_r14_in_work_is_my_own_with_its_counter_and_every_operators_on_request() {
    let (app, account, _) = company(json!({})).await;
    let mine = app.dialog_of(account, "1", "Анна, вопрос").await;
    let theirs = app.dialog_of(account, "2", "Борис, вопрос").await;
    let waiting = app.dialog_of(account, "3", "Кто-нибудь?").await;
    let anna = app.login("anna", PASSWORD).await;
    let boris = app.login("boris", PASSWORD).await;
    anna.post(&format!("/api/v1/dialogs/{mine}/accept"), json!({}))
        .await;
    boris
        .post(&format!("/api/v1/dialogs/{theirs}/accept"), json!({}))
        .await;

    // Once accepted a dialog is its taker's: "In work" lists one's own, and counts them.
    assert_eq!(
        ids(&anna.get("/api/v1/dialogs?section=in_work").await.body),
        vec![mine]
    );
    assert_eq!(
        ids(&boris.get("/api/v1/dialogs?section=in_work").await.body),
        vec![theirs]
    );
    assert_eq!(
        anna.get("/api/v1/dialogs/counters").await.body,
        json!({"new": 1, "in_work": 1, "all": 3})
    );
    // A supervisor's view: every operator's accepted dialogs (still only what one may see),
    // each naming its responsible.
    let everyone = anna
        .get("/api/v1/dialogs?section=in_work&all_operators=true")
        .await;
    let mut all = ids(&everyone.body);
    all.sort_unstable();
    assert_eq!(all, vec![mine, theirs]);
    let names: Vec<&str> = everyone.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["responsible"]["user_name"].as_str().unwrap_or_default())
        .collect();
    assert!(
        names.contains(&"boris") && names.contains(&"anna"),
        "{names:?}"
    );
    // Counted in the database too (a process that keeps no counters yet agrees).
    let peer = app.spawn_peer().await;
    assert_eq!(
        peer.client(&boris)
            .get("/api/v1/dialogs/counters")
            .await
            .body,
        json!({"new": 1, "in_work": 1, "all": 3})
    );
    // Redirected to anna: it moves from boris's "In work" to hers.
    let anna_id = app.count("SELECT id FROM users WHERE login = 'anna'");
    let redirected = boris
        .post(
            &format!("/api/v1/dialogs/{theirs}/redirect"),
            json!({"user_id": anna_id}),
        )
        .await;
    assert_eq!(redirected.status, StatusCode::OK, "{}", redirected.text);
    anna.post(&format!("/api/v1/dialogs/{theirs}/accept"), json!({}))
        .await;
    let mut now_mine = ids(&anna.get("/api/v1/dialogs?section=in_work").await.body);
    now_mine.sort_unstable();
    assert_eq!(now_mine, vec![mine, theirs]);
    assert!(ids(&boris.get("/api/v1/dialogs?section=in_work").await.body).is_empty());
    assert_eq!(
        boris.get("/api/v1/dialogs/counters").await.body,
        json!({"new": 1, "in_work": 0, "all": 3})
    );
    let _ = waiting;
}

#[actix_web::test]
async fn r14_r17_counters_and_bold_items_follow_unread_messages_over_every_visible_account() {
    let (app, account, [anna_id, ..]) = company(json!({})).await;
    let vk = app.create_account("vk", json!({})).await;
    app.grant(
        vk,
        json!([{"user_id": anna_id, "view": true, "send": true}]),
    )
    .await;
    let a = app.dialog_of(account, "1", "Первый").await;
    let b = app.dialog_of(vk, "2", "Второй").await;
    let anna = app.login("anna", PASSWORD).await;
    let counters = anna.get("/api/v1/dialogs/counters").await;
    assert_eq!(counters.body, json!({"new": 2, "in_work": 0, "all": 2}));

    anna.post(&format!("/api/v1/dialogs/{b}/accept"), json!({}))
        .await;
    let filtered = anna
        .get(&format!("/api/v1/dialogs?account_id={account}"))
        .await;
    assert_eq!(ids(&filtered.body), vec![a]);
    assert_eq!(filtered.body["items"][0]["unread"], true);
    assert_eq!(filtered.body["items"][0]["last_message_preview"], "Первый");
    assert_eq!(
        filtered.body["items"][0]["interlocutor"]["name"],
        "Клиент 1"
    );
    assert_eq!(filtered.body["items"][0]["account"]["kind"], "telegram");
    // The counters still count every account the user sees, whatever the filter.
    assert_eq!(
        anna.get("/api/v1/dialogs/counters").await.body,
        json!({"new": 1, "in_work": 1, "all": 2})
    );

    let read = anna
        .post(&format!("/api/v1/dialogs/{a}/read"), json!({}))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    let item = anna.get(&format!("/api/v1/dialogs/{a}")).await;
    assert_eq!(item.body["unread"], false, "reading removes the bold");
    assert_eq!(
        anna.get("/api/v1/dialogs/counters").await.body,
        json!({"new": 0, "in_work": 1, "all": 1})
    );
    // A new message makes it unread again; others' read marks are their own.
    app.dialog_of(account, "1", "Ещё вопрос").await;
    assert_eq!(
        anna.get(&format!("/api/v1/dialogs/{a}")).await.body["unread"],
        true
    );
    let boris = app.login("boris", PASSWORD).await;
    assert_eq!(boris.get("/api/v1/dialogs/counters").await.body["new"], 1);
    let foreign = anna
        .post(
            &format!("/api/v1/dialogs/{a}/read"),
            json!({"up_to_message_id": 999999}),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn r14_counters_kept_by_one_process_follow_every_change_made_through_another() {
    let (app, account, _) = company(json!({})).await;
    let a = app.dialog_of(account, "1", "Первый").await;
    let peer = app.spawn_peer().await;
    let anna = app.login("anna", PASSWORD).await;
    let there = peer.client(&anna);
    assert_eq!(
        there.get("/api/v1/dialogs/counters").await.body,
        json!({"new": 1, "in_work": 0, "all": 1})
    );

    // Each answer includes everything committed before it was asked, wherever.
    anna.post(&format!("/api/v1/dialogs/{a}/accept"), json!({}))
        .await;
    assert_eq!(
        there.get("/api/v1/dialogs/counters").await.body,
        json!({"new": 0, "in_work": 1, "all": 1})
    );
    let b = app.dialog_of(account, "2", "Второй").await;
    assert_eq!(
        there.get("/api/v1/dialogs/counters").await.body,
        json!({"new": 1, "in_work": 1, "all": 2})
    );
    anna.post(&format!("/api/v1/dialogs/{b}/read"), json!({}))
        .await;
    let closed = anna
        .post(&format!("/api/v1/dialogs/{a}/close"), json!({}))
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    assert_eq!(
        there.get("/api/v1/dialogs/counters").await.body,
        json!({"new": 0, "in_work": 0, "all": 0})
    );
    // Both processes agree with a count made from scratch in the database.
    app.dialog_of(account, "2", "Ещё вопрос").await;
    let counted = app.count(
        "SELECT count(*) FROM dialogs d WHERE status <> 'closed' AND last_inbound_message_id > \
         COALESCE((SELECT last_read_message_id FROM dialog_reads r \
                   WHERE r.dialog_id = d.id AND r.user_id = (SELECT id FROM users WHERE login = 'anna')), 0)",
    );
    assert_eq!(counted, 1);
    for client in [&anna, &there] {
        assert_eq!(
            client.get("/api/v1/dialogs/counters").await.body,
            json!({"new": 1, "in_work": 0, "all": 1})
        );
    }
}

#[actix_web::test]
async fn r15_search_finds_a_dialog_by_its_number_and_by_the_title_an_operator_gave_it() {
    let (app, account, _) = company(json!({})).await;
    let renamed = app.dialog_of(account, "1", "Добрый день").await;
    let numbered = app.dialog_of(account, "2", "Здравствуйте").await;
    let anna = app.login("anna", PASSWORD).await;
    let answer = anna
        .patch(
            &format!("/api/v1/dialogs/{renamed}"),
            json!({"title": "Оптовый заказ из Казани"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        ids(&anna.get("/api/v1/dialogs?q=оптовый").await.body),
        vec![renamed]
    );
    let number = app.count(&format!("SELECT number FROM dialogs WHERE id = {numbered}"));
    for typed in [
        format!("{number}"),
        format!("№{number}"),
        format!("Диалог №{number}"),
    ] {
        let found = anna
            .get(&format!("/api/v1/dialogs?q={}", url_escape(&typed)))
            .await;
        assert!(
            ids(&found.body).contains(&numbered),
            "{typed}: {}",
            found.text
        );
    }
    // A closed dialog is found when closed ones are asked for.
    anna.post(&format!("/api/v1/dialogs/{renamed}/close"), json!({}))
        .await;
    assert!(ids(&anna.get("/api/v1/dialogs?q=оптовый").await.body).is_empty());
    assert_eq!(
        ids(&anna.get("/api/v1/dialogs?q=оптовый&closed=true").await.body),
        vec![renamed]
    );
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[actix_web::test]
async fn r15_search_finds_message_text_and_names_in_any_case_and_treats_wildcards_literally() {
    let (app, account, _) = company(json!({})).await;
    let by_text = app.dialog_of(account, "1", "Нужна ДОСТАВКА в Казань").await;
    let by_name = app.dialog_of(account, "2", "Привет").await;
    app.dialog_of(account, "3", "100% скидка?").await;
    let anna = app.login("anna", PASSWORD).await;
    assert_eq!(
        ids(&anna.get("/api/v1/dialogs?q=доставка").await.body),
        vec![by_text]
    );
    assert_eq!(
        ids(&anna
            .get("/api/v1/dialogs?q=%D0%BA%D0%BB%D0%B8%D0%B5%D0%BD%D1%82%202")
            .await
            .body),
        vec![by_name]
    );
    assert_eq!(
        ids(&anna.get("/api/v1/dialogs?q=0%25").await.body).len(),
        1,
        "% is a character, not a wildcard"
    );
    assert!(ids(&anna.get("/api/v1/dialogs?q=_").await.body).is_empty());
}

#[actix_web::test]
async fn r15_a_text_in_one_dialog_of_six_pages_through_every_match_newest_first() {
    // Pages of two: the first walk looks through the newest 12 dialogs, finds two
    // matches, and walks on; later pages run out of matches and collect the rest.
    let (app, account, _) = company(json!({})).await;
    let mut matching = Vec::new();
    for i in 0..60 {
        let text = if i % 6 == 0 {
            format!("Заказ МАРКЕР-{i} не пришёл")
        } else {
            format!("Вопрос {i}")
        };
        let dialog = app.dialog_of(account, &format!("s{i}"), &text).await;
        if i % 6 == 0 {
            matching.push(dialog);
        }
    }
    matching.reverse();
    let anna = app.login("anna", PASSWORD).await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = anna
            .get(&format!("/api/v1/dialogs?q=маркер&limit=2{cursor}"))
            .await;
        assert!(page.status.is_success(), "{:?}", page.body);
        seen.extend(ids(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, matching);
}

#[actix_web::test]
async fn r16_filters_by_responsible_and_priority_order_puts_unread_of_important_accounts_first() {
    let app = spawn_app().await;
    let low = app.create_account("viber", json!({"priority": 1})).await;
    let high = app.create_account("whatsapp", json!({"priority": 9})).await;
    let on_high = app.dialog_of(high, "1", "важный").await;
    let on_low = app.dialog_of(low, "2", "обычный").await;
    let admin = app.admin().await;
    let recent_first = ids(&admin.get("/api/v1/dialogs").await.body);
    assert_eq!(recent_first, vec![on_low, on_high]);
    let by_priority = ids(&admin.get("/api/v1/dialogs?priority=true").await.body);
    assert_eq!(by_priority, vec![on_high, on_low]);
    // A changed priority reorders the dialogs the account already has, page by page.
    let raised = admin
        .patch(&format!("/api/v1/accounts/{low}"), json!({"priority": 20}))
        .await;
    assert!(raised.status.is_success(), "{:?}", raised.body);
    let first = admin.get("/api/v1/dialogs?priority=true&limit=1").await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = admin
        .get(&format!(
            "/api/v1/dialogs?priority=true&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(
        [ids(&first.body), ids(&second.body)].concat(),
        vec![on_low, on_high]
    );
    // Unread ones come before read ones, whatever their account's priority.
    admin
        .post(&format!("/api/v1/dialogs/{on_low}/read"), json!({}))
        .await;
    let first = admin.get("/api/v1/dialogs?priority=true&limit=1").await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = admin
        .get(&format!(
            "/api/v1/dialogs?priority=true&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(
        [ids(&first.body), ids(&second.body)].concat(),
        vec![on_high, on_low]
    );
    admin
        .post(&format!("/api/v1/dialogs/{on_low}/accept"), json!({}))
        .await;
    let mine = ids(&admin
        .get(&format!("/api/v1/dialogs?user_id={}", app.admin_id))
        .await
        .body);
    assert_eq!(mine, vec![on_low]);
}

#[actix_web::test]
async fn dialogs_are_paged_with_a_cursor_without_repeats() {
    let (app, account, _) = company(json!({})).await;
    for i in 0..5 {
        app.dialog_of(account, &format!("{i}"), "привет").await;
    }
    let anna = app.login("anna", PASSWORD).await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/dialogs?limit=2".to_owned();
    loop {
        let page = anna.get(&path).await;
        seen.extend(ids(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/dialogs?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5));
    assert_eq!(
        anna.get("/api/v1/dialogs?cursor=garbage").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[actix_web::test]
async fn r22_r23_accepting_a_lead_creates_an_interest_and_dialogs_link_to_the_clients_interests() {
    let (app, account, _) = company(json!({"lead_source": true})).await;
    let dialog = app.dialog_of(account, "1", "Хочу 20 коробок бумаги").await;
    let anna = app.login("anna", PASSWORD).await;
    let lead = anna
        .post(
            &format!("/api/v1/dialogs/{dialog}/lead"),
            json!({"title": "Бумага А4", "amount_minor": 1_500_000, "currency": "RUB"}),
        )
        .await;
    assert_eq!(lead.status, StatusCode::OK, "{}", lead.text);
    assert_eq!(lead.body["status"], "accepted");
    let interest = lead.body["interest_id"]
        .as_i64()
        .expect("the dialog shows its interest");
    assert_eq!(
        app.count(&format!(
            "SELECT basis_dialog_id FROM interests WHERE id = {interest}"
        )),
        dialog,
        "the interest records the dialog as its basis"
    );
    // A later dialog of the same client links to that interest.
    anna.post(&format!("/api/v1/dialogs/{dialog}/close"), json!({}))
        .await;
    let later = app.dialog_of(account, "1", "А когда доставка?").await;
    let linked = anna
        .put(
            &format!("/api/v1/dialogs/{later}/interest"),
            json!({"interest_id": interest}),
        )
        .await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.text);
    assert_eq!(linked.body["interest_id"], interest);
    // Another client's interest does not fit.
    let stranger = app.dialog_of(account, "2", "Здравствуйте").await;
    let wrong = anna
        .put(
            &format!("/api/v1/dialogs/{stranger}/interest"),
            json!({"interest_id": interest}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn r7_a_new_dialog_of_a_known_client_links_to_their_active_interest() {
    let (app, account, _) = company(json!({"auto_link_interests": true})).await;
    let dialog = app.dialog_of(account, "1", "Хочу купить").await;
    let anna = app.login("anna", PASSWORD).await;
    let lead = anna
        .post(
            &format!("/api/v1/dialogs/{dialog}/lead"),
            json!({"title": "Покупка"}),
        )
        .await;
    let interest = lead.body["interest_id"].clone();
    anna.post(&format!("/api/v1/dialogs/{dialog}/close"), json!({}))
        .await;
    let next = app.dialog_of(account, "1", "Я снова").await;
    assert_eq!(
        anna.get(&format!("/api/v1/dialogs/{next}")).await.body["interest_id"],
        interest
    );
}

#[actix_web::test]
async fn r27_r28_personal_tasks_and_assignments_are_made_from_a_dialog() {
    let (app, account, [anna_id, boris_id, _]) = company(json!({})).await;
    let dialog = app.dialog_of(account, "1", "Перезвоните мне").await;
    let anna = app.login("anna", PASSWORD).await;
    let personal = anna
        .post(
            &format!("/api/v1/dialogs/{dialog}/tasks"),
            json!({"kind": "personal", "title": "Перезвонить", "due_at": "2030-01-01T10:00:00Z"}),
        )
        .await;
    assert_eq!(personal.status, StatusCode::CREATED, "{}", personal.text);
    assert_eq!(personal.body["assignee_ids"], json!([anna_id]));
    assert_eq!(personal.body["dialog_id"], dialog);
    let assignment = anna
        .post(&format!("/api/v1/dialogs/{dialog}/tasks"), json!({"kind": "assignment", "title": "Подготовить КП", "assignee_ids": [boris_id, anna_id]}))
        .await;
    assert_eq!(assignment.status, StatusCode::CREATED);
    assert_eq!(
        assignment.body["assignee_ids"].as_array().map(Vec::len),
        Some(2)
    );
    let nobody = anna
        .post(
            &format!("/api/v1/dialogs/{dialog}/tasks"),
            json!({"kind": "assignment", "title": "x", "assignee_ids": [424242]}),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::UNPROCESSABLE_ENTITY);
    let vera = app.login("vera", PASSWORD).await;
    let denied = vera
        .post(
            &format!("/api/v1/dialogs/{dialog}/tasks"),
            json!({"kind": "personal", "title": "x"}),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) FROM tasks"), 2);
}

#[actix_web::test]
async fn r29_the_dialog_opens_on_the_vk_site_and_nowhere_else() {
    let app = spawn_app().await;
    let vk = app.create_account("vk", json!({})).await;
    let telegram = app.create_account("telegram", json!({})).await;
    let on_vk = app.dialog_of(vk, "555", "Привет").await;
    let on_telegram = app.dialog_of(telegram, "555", "Привет").await;
    let admin = app.admin().await;
    let link = admin
        .get(&format!("/api/v1/dialogs/{on_vk}/site-link"))
        .await;
    assert_eq!(link.body["url"], "https://vk.com/gim4242?sel=555");
    assert_eq!(
        admin
            .get(&format!("/api/v1/dialogs/{on_telegram}/site-link"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn r10_r31_r34_a_clients_dialogs_are_listed_and_searched_from_the_clients_card() {
    let (app, account, _) = company(json!({})).await;
    let first = app
        .dialog_of(account, "1", "Первое обращение про счёт")
        .await;
    let admin = app.admin().await;
    admin
        .post(&format!("/api/v1/dialogs/{first}/close"), json!({}))
        .await;
    let second = app.dialog_of(account, "1", "Второе обращение").await;
    let client = admin.get(&format!("/api/v1/dialogs/{second}")).await.body["client"]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        admin.get(&format!("/api/v1/dialogs/{second}")).await.body["dialogs_with_client"],
        2
    );

    // A user with no rights on the account still reads the client's card (R10).
    app.add_user("outsider", PASSWORD, false).await;
    let outsider = app.login("outsider", PASSWORD).await;
    let dialogs = outsider
        .get(&format!("/api/v1/clients/{client}/dialogs"))
        .await;
    assert_eq!(dialogs.status, StatusCode::OK);
    let listed: Vec<i64> = dialogs
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, vec![second, first], "newest first");
    let found = outsider
        .get(&format!("/api/v1/clients/{client}/messages?q=СЧЁТ"))
        .await;
    assert_eq!(found.body.as_array().map(Vec::len), Some(1));
    assert_eq!(found.body[0]["dialog_id"], first);
    assert_eq!(
        outsider.get("/api/v1/clients/999999/dialogs").await.status,
        StatusCode::NOT_FOUND
    );
    let gallery = outsider
        .get(&format!("/api/v1/clients/{client}/attachments?kind=image"))
        .await;
    assert_eq!(gallery.status, StatusCode::OK);
    assert_eq!(
        outsider
            .get(&format!("/api/v1/clients/{client}/attachments?kind=video"))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[actix_web::test]
async fn r35_the_close_reason_report_counts_and_shares_by_reason() {
    let (app, account, _) = company(json!({})).await;
    let admin = app.admin().await;
    let expensive = admin
        .post(
            "/api/v1/close-reasons",
            json!({"name": "Дорого", "position": 2}),
        )
        .await;
    assert_eq!(expensive.status, StatusCode::CREATED);
    let expensive = expensive.body["id"].as_i64().unwrap();
    for (i, reason) in [Some(expensive), Some(expensive), None]
        .into_iter()
        .enumerate()
    {
        let dialog = app
            .dialog_of(account, &format!("{i}"), "Сколько стоит?")
            .await;
        admin
            .post(
                &format!("/api/v1/dialogs/{dialog}/close"),
                json!({"reason_id": reason}),
            )
            .await;
    }
    let report = admin.get("/api/v1/reports/close-reasons").await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text);
    assert_eq!(report.body["total"], 3);
    assert_eq!(report.body["rows"][0]["reason"], "Дорого");
    assert_eq!(report.body["rows"][0]["count"], 2);
    let share = report.body["rows"][0]["share"].as_f64().unwrap();
    assert!((share - 2.0 / 3.0).abs() < 1e-9);
    let later = admin
        .get("/api/v1/reports/close-reasons?from=2100-01-01T00:00:00Z")
        .await;
    assert_eq!(later.body["total"], 0);
    // An operator without rights on the account sees none of it.
    app.add_user("outsider", PASSWORD, false).await;
    let outsider = app.login("outsider", PASSWORD).await;
    assert_eq!(
        outsider.get("/api/v1/reports/close-reasons").await.body["total"],
        0
    );
}

#[actix_web::test]
async fn tokens_need_the_write_scope_to_act_on_dialogs() {
    let (app, account, [anna, ..]) = company(json!({})).await;
    let dialog = app.dialog_of(account, "1", "Вопрос").await;
    let reader = app.with_token(&app.token_for(anna, &["read"]).await);
    assert_eq!(
        reader
            .get(&format!("/api/v1/dialogs/{dialog}"))
            .await
            .status,
        StatusCode::OK
    );
    let denied = reader
        .post(&format!("/api/v1/dialogs/{dialog}/accept"), json!({}))
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let writer = app.with_token(&app.token_for(anna, &["read", "write"]).await);
    assert_eq!(
        writer
            .post(&format!("/api/v1/dialogs/{dialog}/accept"), json!({}))
            .await
            .status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn fifty_concurrent_accepts_have_exactly_one_winner() {
    let app = spawn_app_with(|c| c.login_attempts_per_ip = 1000).await;
    let account = app.create_account("telegram", json!({})).await;
    let dialog = app.dialog_of(account, "1", "Кто первый?").await;
    let mut grants = Vec::new();
    let mut clients = Vec::new();
    for i in 0..50 {
        let id = app.add_user(&format!("op{i}"), PASSWORD, false).await;
        grants.push(json!({"user_id": id, "send": true}));
    }
    app.grant(account, Value::Array(grants)).await;
    for i in 0..50 {
        clients.push(app.login(&format!("op{i}"), PASSWORD).await);
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
    assert_eq!((ok, conflict), (1, 49));
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE system_kind = 'accepted'"),
        1,
        "one \"accepted by\" line"
    );
}

#[actix_web::test]
async fn fifty_concurrent_messages_from_a_new_interlocutor_open_one_dialog_in_order() {
    let app = spawn_app().await;
    let account = app.create_account("telegram", json!({})).await;
    let sends = (0..50).map(|i| {
        let app = &app;
        async move {
            app.inbound_with_id(
                account,
                "77",
                &format!("сообщение {i}"),
                &format!("tg:77:{i}"),
            )
            .await
        }
    });
    let outcomes = futures_util::future::join_all(sends).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, InboundOutcome::Stored { .. }))
    );
    assert_eq!(app.count("SELECT count(*) FROM dialogs"), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE direction = 'in'"),
        50
    );
    // Stored in the order they were handed over: ids rise with the sequence number.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn, \
             substring(text from 11)::int AS seq FROM messages) m WHERE seq <> rn - 1"
        ),
        0
    );
}

#[actix_web::test]
async fn r32_a_clients_attachments_from_every_dialog_are_listed_with_a_filter() {
    let (app, account, _) = company(json!({})).await;
    let attachment = |kind: &str, name: &str, url: Option<&str>| NewAttachment {
        kind: kind.into(),
        file_name: name.into(),
        mime_type: None,
        size_bytes: Some(1024),
        channel_file_id: Some(format!("file-{name}")),
        url: url.map(str::to_owned),
        storage_path: None,
    };
    let outcome = app
        .engine
        .inbound(
            account,
            Inbound {
                sender: Sender {
                    external_id: "5".into(),
                    display_name: "Фотограф".into(),
                    username: None,
                },
                channel_message_id: "tg:5:1".into(),
                text: String::new(),
                sent_at: None,
                attachments: vec![
                    attachment("image", "фото.jpg", None),
                    attachment("file", "счёт.pdf", None),
                    attachment("link", "", Some("https://example.org/catalog")),
                ],
                author: None,
                extras: Default::default(),
            },
        )
        .await
        .expect("stored");
    let InboundOutcome::Stored { dialog_id, .. } = outcome else {
        panic!("stored");
    };
    let anna = app.login("anna", PASSWORD).await;
    let dialog = anna.get(&format!("/api/v1/dialogs/{dialog_id}")).await;
    assert_eq!(
        dialog.body["last_message_preview"], "📎",
        "an attachment-only message still shows"
    );
    let client = dialog.body["client"]["id"].as_i64().unwrap();
    let feed = anna
        .get(&format!("/api/v1/dialogs/{dialog_id}/messages"))
        .await;
    assert_eq!(
        feed.body["items"][0]["attachments"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    let all = anna
        .get(&format!("/api/v1/clients/{client}/attachments"))
        .await;
    assert_eq!(all.body.as_array().map(Vec::len), Some(3));
    let images = anna
        .get(&format!("/api/v1/clients/{client}/attachments?kind=image"))
        .await;
    assert_eq!(images.body.as_array().map(Vec::len), Some(1));
    assert_eq!(images.body[0]["file_name"], "фото.jpg");
    assert_eq!(images.body[0]["dialog_id"], dialog_id);
    let links = anna
        .get(&format!("/api/v1/clients/{client}/attachments?kind=link"))
        .await;
    assert_eq!(links.body[0]["url"], "https://example.org/catalog");
    let files = anna
        .get(&format!("/api/v1/clients/{client}/attachments?kind=file"))
        .await;
    assert_eq!(files.body[0]["file_name"], "счёт.pdf");

    // Links the client wrote in their messages are collected too (R32), each with when
    // and in which dialog, newest first; a link written twice in one message counts once.
    app.dialog_of(
        account,
        "5",
        "Вот что нашла: https://shop.example/item?id=5, и ещё https://shop.example/item?id=5.",
    )
    .await;
    let links = anna
        .get(&format!("/api/v1/clients/{client}/attachments?kind=link"))
        .await;
    assert_eq!(links.status, StatusCode::OK, "{}", links.text);
    let urls: Vec<&str> = links
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            "https://shop.example/item?id=5",
            "https://example.org/catalog"
        ]
    );
    let number = app.count(&format!(
        "SELECT number FROM dialogs WHERE id = {dialog_id}"
    ));
    assert_eq!(links.body[0]["dialog_id"], dialog_id);
    assert_eq!(links.body[0]["dialog_number"], number);
    assert!(links.body[0]["created_at"].is_string());
    assert_eq!(links.body[0]["id"], 0, "found in a text, not a stored file");
}

#[actix_web::test]
async fn concurrent_closes_have_one_winner_and_the_rest_learn_it_is_closed() {
    let (app, account, _) = company(json!({})).await;
    let dialog = app.dialog_of(account, "1", "Пока!").await;
    let admin = app.admin().await;
    let path = format!("/api/v1/dialogs/{dialog}/close");
    let answers =
        futures_util::future::join_all((0..20).map(|_| admin.post(&path, json!({})))).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE system_kind = 'closed'"),
        1
    );
}

#[actix_web::test]
async fn r26_a_dialog_is_offered_only_to_those_who_may_answer_on_its_account() {
    let (app, account, [anna_id, boris_id, vera_id]) = company(json!({})).await;
    let admin = app.admin().await;
    let role = admin
        .post("/api/v1/roles", json!({"name": "Поддержка"}))
        .await;
    let role_id = role.body["id"].as_i64().unwrap();
    let other_role = admin
        .post("/api/v1/roles", json!({"name": "Бухгалтерия"}))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    app.grant(
        account,
        json!([
            {"user_id": anna_id, "view": true, "send": true},
            {"user_id": boris_id, "view": true, "send": true},
            {"user_id": vera_id, "view": true},
            {"role_id": role_id, "send": true},
            {"role_id": other_role, "view": true},
        ]),
    )
    .await;
    let dialog = app.dialog_of(account, "1", "Нужна консультация").await;
    let anna = app.login("anna", PASSWORD).await;
    let targets = anna
        .get(&format!("/api/v1/dialogs/{dialog}/redirect-targets"))
        .await;
    assert_eq!(targets.status, StatusCode::OK, "{}", targets.text);
    let users: Vec<i64> = serde_json::from_value(targets.body["user_ids"].clone()).unwrap();
    assert!(users.contains(&boris_id), "{users:?}");
    assert!(!users.contains(&vera_id), "a view-only user cannot take it");
    assert!(!users.contains(&anna_id), "not to oneself");
    assert_eq!(targets.body["role_ids"], json!([role_id]));
    // What is offered is what the redirect accepts.
    let refused = anna
        .post(
            &format!("/api/v1/dialogs/{dialog}/redirect"),
            json!({"user_id": vera_id}),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    // Someone who cannot see the dialog learns nothing.
    app.add_user("stranger", PASSWORD, false).await;
    let stranger = app.login("stranger", PASSWORD).await;
    assert_eq!(
        stranger
            .get(&format!("/api/v1/dialogs/{dialog}/redirect-targets"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn r10_r34_anyone_reads_a_clients_dialogs_from_the_card_and_nothing_else() {
    let (app, account, _) = company(json!({})).await;
    let dialog = app.dialog_of(account, "1", "Вопрос про счёт").await;
    let other = app.dialog_of(account, "2", "Чужой разговор").await;
    let client = app.count(&format!(
        "SELECT client_id FROM dialogs WHERE id = {dialog}"
    ));
    // A user with no rights on the account: the dialog itself is hidden from them…
    app.add_user("stranger", PASSWORD, false).await;
    let stranger = app.login("stranger", PASSWORD).await;
    assert_eq!(
        stranger
            .get(&format!("/api/v1/dialogs/{dialog}/messages"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // …but its conversation reads from the client's card (R10), oldest first.
    let read = stranger
        .get(&format!(
            "/api/v1/clients/{client}/dialogs/{dialog}/messages"
        ))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.body["items"][0]["text"], "Вопрос про счёт");
    // Only the client's own dialogs, and no way to act through it.
    assert_eq!(
        stranger
            .get(&format!(
                "/api/v1/clients/{client}/dialogs/{other}/messages"
            ))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stranger
            .post(
                &format!("/api/v1/dialogs/{dialog}/messages"),
                json!({"text": "Отвечу-ка я"})
            )
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Reading it moves nobody's read mark.
    assert_eq!(app.count("SELECT count(*) FROM dialog_reads"), 0);
}
