//! The access matrix: every dialog route × every kind of caller, each on a fresh dialog,
//! with the status each must get (R9, R10, R20; 401 vs 403 vs 404, no existence oracle).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, spawn_app_with};

const PASSWORD: &str = "operator-password";

/// A route on a dialog: method, path after `/api/v1/dialogs/{id}`, body.
struct Route {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    body: Value,
}

fn routes(role: i64) -> Vec<Route> {
    let route = |name, method, path, body| Route {
        name,
        method,
        path,
        body,
    };
    vec![
        route("view", "GET", "", Value::Null),
        route("messages", "GET", "/messages", Value::Null),
        route("accept", "POST", "/accept", json!({})),
        route(
            "reply",
            "POST",
            "/messages",
            json!({"text": "Здравствуйте"}),
        ),
        route("close", "POST", "/close", json!({})),
        route("redirect", "POST", "/redirect", json!({"role_id": role})),
        route("rename", "PATCH", "", json!({"title": "Новое имя"})),
        route("read", "POST", "/read", json!({})),
        route("lead", "POST", "/lead", json!({"title": "Сделка"})),
        route(
            "task",
            "POST",
            "/tasks",
            json!({"kind": "personal", "title": "Позвонить"}),
        ),
    ]
}

async fn call(client: &Client, route: &Route, dialog: i64) -> StatusCode {
    let path = format!("/api/v1/dialogs/{dialog}{}", route.path);
    let answer = match route.method {
        "GET" => client.get(&path).await,
        "POST" => client.post(&path, route.body.clone()).await,
        _ => client.patch(&path, route.body.clone()).await,
    };
    answer.status
}

#[actix_web::test]
async fn every_dialog_route_answers_each_caller_as_their_rights_say() {
    let app = spawn_app_with(|c| c.login_attempts_per_ip = 1000).await;
    let admin = app.admin().await;
    let role = admin
        .post("/api/v1/roles", json!({"name": "Поддержка"}))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let private = app.create_account("telegram", json!({})).await;
    let open = app
        .create_account("viber", json!({"everyone_may_view": true}))
        .await;
    let account_admin = app.add_user("acct_admin", PASSWORD, false).await;
    let sender = app.add_user("sender", PASSWORD, false).await;
    let viewer = app.add_user("viewer", PASSWORD, false).await;
    let _stranger = app.add_user("stranger", PASSWORD, false).await;
    app.grant(
        private,
        json!([
            {"user_id": account_admin, "admin": true},
            {"user_id": sender, "send": true},
            {"user_id": viewer, "view": true},
            {"role_id": role, "send": true},
        ]),
    )
    .await;

    let callers: Vec<(&str, Client, i64)> = vec![
        ("admin", app.admin().await, private),
        (
            "account admin",
            app.login("acct_admin", PASSWORD).await,
            private,
        ),
        ("sender", app.login("sender", PASSWORD).await, private),
        ("viewer", app.login("viewer", PASSWORD).await, private),
        (
            "everyone may view",
            app.login("stranger", PASSWORD).await,
            open,
        ),
        ("no access", app.login("stranger", PASSWORD).await, private),
        (
            "token read+write",
            app.with_token(&app.token_for(sender, &["read", "write"]).await),
            private,
        ),
        (
            "token read",
            app.with_token(&app.token_for(sender, &["read"]).await),
            private,
        ),
        ("anonymous", app.anonymous(), private),
    ];
    use StatusCode as S;
    // Columns follow `routes`: view, messages, accept, reply, close, redirect, rename, read, lead, task.
    let expected: [(&str, [S; 10]); 9] = [
        (
            "admin",
            [
                S::OK,
                S::OK,
                S::OK,
                S::CREATED,
                S::OK,
                S::OK,
                S::OK,
                S::OK,
                S::OK,
                S::CREATED,
            ],
        ),
        (
            "account admin",
            [
                S::OK,
                S::OK,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::OK,
                S::OK,
                S::OK,
                S::OK,
                S::FORBIDDEN,
                S::CREATED,
            ],
        ),
        (
            "sender",
            [
                S::OK,
                S::OK,
                S::OK,
                S::CREATED,
                S::OK,
                S::OK,
                S::OK,
                S::OK,
                S::OK,
                S::CREATED,
            ],
        ),
        (
            "viewer",
            [
                S::OK,
                S::OK,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::OK,
                S::FORBIDDEN,
                S::FORBIDDEN,
            ],
        ),
        (
            "everyone may view",
            [
                S::OK,
                S::OK,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::OK,
                S::FORBIDDEN,
                S::FORBIDDEN,
            ],
        ),
        ("no access", [S::NOT_FOUND; 10]),
        (
            "token read+write",
            [
                S::OK,
                S::OK,
                S::OK,
                S::CREATED,
                S::OK,
                S::OK,
                S::OK,
                S::OK,
                S::OK,
                S::CREATED,
            ],
        ),
        (
            "token read",
            [
                S::OK,
                S::OK,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::FORBIDDEN,
            ],
        ),
        ("anonymous", [S::UNAUTHORIZED; 10]),
    ];

    let routes = routes(role);
    let mut failures = Vec::new();
    let mut sender_id = 0;
    for ((name, client, account), (expected_name, statuses)) in callers.iter().zip(expected.iter())
    {
        assert_eq!(name, expected_name);
        for (route, want) in routes.iter().zip(statuses.iter()) {
            sender_id += 1;
            let dialog = app
                .dialog_of(*account, &format!("m{sender_id}"), "Вопрос")
                .await;
            let got = call(client, route, dialog).await;
            if got != *want {
                failures.push(format!(
                    "{name} × {}: expected {want}, got {got}",
                    route.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "access matrix mismatches:\n{}",
        failures.join("\n")
    );

    // Account administration: program and account administrators only.
    for (name, client, _) in &callers {
        let got = client
            .get(&format!("/api/v1/accounts/{private}/grants"))
            .await
            .status;
        let want = match *name {
            "admin" | "account admin" => S::OK,
            "anonymous" => S::UNAUTHORIZED,
            "no access" | "everyone may view" => S::NOT_FOUND,
            _ => S::FORBIDDEN,
        };
        assert_eq!(got, want, "{name} × grants");
    }
}

#[actix_web::test]
async fn a_taken_dialog_is_a_conflict_for_everyone_but_its_responsible() {
    let app = spawn_app_with(|_| {}).await;
    let account = app.create_account("telegram", json!({})).await;
    let anna = app.add_user("anna", PASSWORD, false).await;
    let boris = app.add_user("boris", PASSWORD, false).await;
    app.grant(
        account,
        json!([{"user_id": anna, "send": true}, {"user_id": boris, "send": true}]),
    )
    .await;
    let dialog = app.dialog_of(account, "1", "Вопрос").await;
    let anna = app.login("anna", PASSWORD).await;
    let boris = app.login("boris", PASSWORD).await;
    anna.post(&format!("/api/v1/dialogs/{dialog}/accept"), json!({}))
        .await;
    for (path, body) in [
        ("accept", json!({})),
        ("messages", json!({"text": "x"})),
        ("close", json!({})),
        ("lead", json!({"title": "x"})),
    ] {
        let answer = boris
            .post(&format!("/api/v1/dialogs/{dialog}/{path}"), body)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::CONFLICT,
            "{path}: {}",
            answer.text
        );
    }
    let mine = anna
        .post(
            &format!("/api/v1/dialogs/{dialog}/messages"),
            json!({"text": "Отвечаю"}),
        )
        .await;
    assert_eq!(mine.status, StatusCode::CREATED);
}
