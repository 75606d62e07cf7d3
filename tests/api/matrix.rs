//! The access matrix (issue #9), generated from the OpenAPI document: every operation of
//! `/api/v1` is called by every kind of principal, with placeholder ids and an empty body,
//! and the answers must follow the rules that hold for all of them:
//! - nobody ever gets a 5xx;
//! - without credentials everything but signing in is 401, before any input is read;
//! - a disabled user's session gets no success anywhere;
//! - a `read` token never changes anything (no unsafe method succeeds);
//! - a `monitor` token succeeds only on the dashboard's stream.
//!
//! Beyond those rules, the status of every operation for every principal is written down
//! in `tests/api/matrix.expected` (one line each, reviewed by hand) and must not change
//! unnoticed: a difference fails the test and lists the lines. After an intended change,
//! `MATRIX_UPDATE=1 cargo test --test api matrix` rewrites the file; review its diff.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with};

const PASSWORD: &str = "operator-password-1";

/// (method, path with placeholders filled) of every `/api/v1` operation.
async fn operations(app: &TestApp) -> Vec<(Method, String)> {
    let spec = app.anonymous().get("/api/openapi.json").await.body;
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            // Placeholder ids: a record that does not exist.
            let filled = path
                .split('/')
                .map(|part| {
                    if part.starts_with('{') {
                        "999999"
                    } else {
                        part
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            found.push((
                method.to_uppercase().parse::<Method>().expect("a method"),
                filled,
            ));
        }
    }
    found.sort_by(|a, b| (a.1.as_str(), a.0.as_str()).cmp(&(b.1.as_str(), b.0.as_str())));
    found
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

async fn call(client: &crate::helpers::Client, method: &Method, path: &str) -> StatusCode {
    let mut request = client.request(method.clone(), path);
    if is_unsafe(method) {
        request = request.json(&json!({}));
    }
    // Streams answer with their headers at once; the body is not read.
    request
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

#[actix_web::test]
async fn the_access_matrix_from_the_openapi_document_holds_for_every_operation() {
    let app = spawn_app_with(|config| {
        config.login_attempts_per_ip = 1000;
        config.login_attempts_per_login = 1000;
    })
    .await;
    let account = app.create_account("telegram", json!({})).await;
    let operator = app.add_user("anna", PASSWORD, false).await;
    let viewer = app.add_user("vera", PASSWORD, false).await;
    let manager = app.add_user("mila", PASSWORD, false).await;
    app.add_user("nina", PASSWORD, false).await;
    let gone = app.add_user("gone", PASSWORD, false).await;
    app.grant(
        account,
        json!([{"user_id": operator, "view": true, "send": true}, {"user_id": viewer, "view": true},
               {"user_id": manager, "admin": true}]),
    )
    .await;
    // Nina has no grant: she sees only this account, which everyone may view.
    app.create_account("vk", json!({"everyone_may_view": true}))
        .await;
    app.dialog_of(account, "1", "Здравствуйте").await;
    let read = app.with_token(&app.token_for(operator, &["read"]).await);
    let write = app.with_token(&app.token_for(operator, &["read", "write"]).await);
    let administer = app.with_token(
        &app.token_for(app.admin_id, &["read", "write", "admin"])
            .await,
    );
    let monitor = app.with_token(&app.token_for(app.admin_id, &["monitor"]).await);
    let disabled = app.login("gone", PASSWORD).await;
    let disabling = app
        .admin()
        .await
        .patch(&format!("/api/v1/users/{gone}"), json!({"disabled": true}))
        .await;
    assert_eq!(disabling.status, StatusCode::OK, "{}", disabling.text);

    let operations = operations(&app).await;
    assert!(
        operations.len() > 50,
        "only {} operations",
        operations.len()
    );
    let principals = [
        ("admin", app.admin().await),
        ("operator", app.login("anna", PASSWORD).await),
        ("viewer", app.login("vera", PASSWORD).await),
        ("account admin", app.login("mila", PASSWORD).await),
        ("everyone-may-view user", app.login("nina", PASSWORD).await),
        ("read token", read),
        ("write token", write),
        ("admin token", administer),
        ("monitor token", monitor),
        ("disabled user", disabled),
        ("anonymous", app.anonymous()),
    ];
    let mut failures: Vec<String> = Vec::new();
    let mut table: Vec<String> = Vec::new();
    let mut calls = 0;
    for (method, path) in &operations {
        // Signing out would end the session the rest of the matrix uses.
        if *method == Method::DELETE && path == "/api/v1/session" {
            continue;
        }
        for (who, client) in &principals {
            let status = call(client, method, path).await;
            calls += 1;
            table.push(format!("{method} {path} | {who} | {}", status.as_u16()));
            let signing_in = *method == Method::POST && path == "/api/v1/session";
            let mut rule: Option<&str> = None;
            if status.is_server_error() {
                rule = Some("no 5xx");
            } else if signing_in {
            } else if *who == "anonymous" && status != StatusCode::UNAUTHORIZED {
                rule = Some("401 without credentials");
            } else if *who == "disabled user" && status.is_success() {
                rule = Some("a disabled user gets nothing");
            } else if *who == "read token" && is_unsafe(method) && status.is_success() {
                rule = Some("a read token changes nothing");
            } else if *who == "monitor token"
                && path != "/api/v1/monitor/events"
                && status.is_success()
            {
                rule = Some("a monitor token reads only the dashboard");
            }
            if let Some(rule) = rule {
                failures.push(format!("{who}: {method} {path} → {status} ({rule})"));
            }
        }
    }
    println!(
        "access matrix: {} operations × {} principals = {calls} calls",
        operations.len(),
        principals.len()
    );
    assert!(
        failures.is_empty(),
        "{} broken:\n{}",
        failures.len(),
        failures.join("\n")
    );
    compare_with_expected(&table);
}

/// The expected status of every operation for every principal, as reviewed.
fn compare_with_expected(table: &[String]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/matrix.expected");
    let actual = format!(
        "# method path | principal | status — generated by the access matrix, reviewed by hand\n{}\n",
        table.join("\n")
    );
    if std::env::var_os("MATRIX_UPDATE").is_some() {
        std::fs::write(&path, &actual).expect("write tests/api/matrix.expected");
        return;
    }
    let expected = std::fs::read_to_string(&path).expect("tests/api/matrix.expected");
    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (expected, actual) = (lines(&expected), lines(&actual));
    let missing: Vec<&String> = expected.iter().filter(|l| !actual.contains(l)).collect();
    let unexpected: Vec<&String> = actual.iter().filter(|l| !expected.contains(l)).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "the access matrix changed (MATRIX_UPDATE=1 rewrites tests/api/matrix.expected after an intended change):\n\
         expected, not seen:\n{}\nseen, not expected:\n{}",
        missing
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        unexpected
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
}
