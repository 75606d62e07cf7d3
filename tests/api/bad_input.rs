//! Bad input gets a clear 4xx JSON error and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_LOGIN, spawn_app};

#[actix_web::test]
async fn malformed_json_wrong_types_unknown_fields_and_oversize_bodies_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let post_raw = |body: Vec<u8>, content_type: &'static str| {
        admin
            .request(Method::POST, "/api/v1/users")
            .header("Content-Type", content_type)
            .body(body)
    };

    let malformed = admin
        .send(post_raw(b"{\"login\": ".to_vec(), "application/json"))
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.error(), "malformed_json");

    let wrong_type = admin
        .post(
            "/api/v1/users",
            json!({"login": 5, "password": "password-1", "display_name": "X"}),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong_type.error(), "invalid_input");

    let unknown_field = admin
        .post(
            "/api/v1/users",
            json!({"login": "x", "password": "password-1", "display_name": "X", "is_root": true}),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unknown_field.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("is_root")
    );

    let oversize = admin
        .send(post_raw(
            format!("{{\"login\": \"{}\"}}", "x".repeat(300 * 1024)).into_bytes(),
            "application/json",
        ))
        .await;
    assert_eq!(oversize.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(oversize.error(), "payload_too_large");

    let not_json = admin
        .send(post_raw(b"login=x".to_vec(), "text/plain"))
        .await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let weak_password = admin
        .post(
            "/api/v1/users",
            json!({"login": "x", "password": "short", "display_name": "X"}),
        )
        .await;
    assert_eq!(weak_password.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak_password.body["field"], "password");

    let bad_login = admin
        .post(
            "/api/v1/users",
            json!({"login": "иван", "password": "password-1", "display_name": "X"}),
        )
        .await;
    assert_eq!(bad_login.body["field"], "login");

    let blank_name = admin
        .post(
            "/api/v1/users",
            json!({"login": "x", "password": "password-1", "display_name": "  "}),
        )
        .await;
    assert_eq!(blank_name.body["field"], "display_name");

    let bad_query = admin.get("/api/v1/users?limit=lots").await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_query.error(), "invalid_query");

    let bad_scope = admin
        .post("/api/v1/tokens", json!({"name": "crm", "scopes": ["root"]}))
        .await;
    assert_eq!(bad_scope.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_scope.body["field"], "scopes");
    let no_scope = admin
        .post("/api/v1/tokens", json!({"name": "crm", "scopes": []}))
        .await;
    assert_eq!(no_scope.status, StatusCode::UNPROCESSABLE_ENTITY);

    for answer in [
        &malformed,
        &wrong_type,
        &unknown_field,
        &oversize,
        &not_json,
    ] {
        assert!(
            answer.body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert_eq!(
            answer.header("content-type"),
            Some("application/json"),
            "{}",
            answer.text
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM users"), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM auth_tokens WHERE kind = 'api'"),
        0
    );
}

#[actix_web::test]
async fn a_login_body_with_missing_fields_is_refused_before_any_lookup() {
    let app = spawn_app().await;
    let answer = app
        .anonymous()
        .post("/api/v1/session", json!({"login": ADMIN_LOGIN}))
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT count(*) FROM audit_log"), 0);
}
