//! Sessions, CSRF, API tokens and their scopes, rate limits; 401 vs 403 vs 404.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_LOGIN, ADMIN_PASSWORD, spawn_app, spawn_app_with};

#[actix_web::test]
async fn login_with_the_right_password_sets_a_strict_httponly_cookie_and_a_csrf_token() {
    let app = spawn_app().await;
    let client = app.anonymous();
    let answer = client
        .post(
            "/api/v1/session",
            json!({"login": "ADMIN", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let cookie = answer.header("set-cookie").expect("a session cookie");
    assert!(cookie.starts_with("dialogi_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP on loopback: {cookie}"
    );
    assert_eq!(answer.body["user"]["login"], "admin");
    assert_eq!(answer.body["user"]["is_admin"], true);
    assert!(
        answer.body["csrf_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 32)
    );
    assert!(answer.body["user"].get("password_hash").is_none());

    let me = client.get("/api/v1/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], app.admin_id);
    assert_eq!(me.body["csrf_token"], answer.body["csrf_token"]);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'login_succeeded'"),
        1
    );
    // Only the digest of the session token is stored.
    let token = cookie["dialogi_session=".len()..]
        .split(';')
        .next()
        .unwrap_or_default();
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM auth_tokens WHERE token_hash = convert_to('{token}', 'UTF8')"
        )),
        0
    );
}

#[actix_web::test]
async fn a_secure_cookie_is_set_when_configured() {
    let app = spawn_app_with(|c| c.secure_cookies = true).await;
    let answer = app
        .anonymous()
        .post(
            "/api/v1/session",
            json!({"login": ADMIN_LOGIN, "password": ADMIN_PASSWORD}),
        )
        .await;
    assert!(
        answer
            .header("set-cookie")
            .is_some_and(|c| c.contains("Secure"))
    );
}

#[actix_web::test]
async fn a_wrong_password_and_an_unknown_login_get_the_same_401() {
    let app = spawn_app().await;
    let client = app.anonymous();
    let wrong = client
        .post(
            "/api/v1/session",
            json!({"login": ADMIN_LOGIN, "password": "not-the-password"}),
        )
        .await;
    let unknown = client
        .post(
            "/api/v1/session",
            json!({"login": "nobody", "password": "not-the-password"}),
        )
        .await;
    for answer in [&wrong, &unknown] {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.error(), "unauthorized");
        assert_eq!(answer.body["message"], "wrong login or password");
        assert!(answer.header("set-cookie").is_none());
    }
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'login_failed'"),
        2
    );
    assert_eq!(app.count("SELECT count(*) FROM auth_tokens"), 0);
}

#[actix_web::test]
async fn a_disabled_user_cannot_sign_in_and_their_open_sessions_end() {
    let app = spawn_app().await;
    let user_id = app.add_user("olga", "olga-password", false).await;
    let olga = app.login("olga", "olga-password").await;
    let admin = app.admin().await;
    let answer = admin
        .patch(
            &format!("/api/v1/users/{user_id}"),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        olga.get("/api/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = app
        .anonymous()
        .post(
            "/api/v1/session",
            json!({"login": "olga", "password": "olga-password"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn logins_are_rate_limited_per_login_with_retry_after() {
    let app = spawn_app_with(|c| c.login_attempts_per_login = 3).await;
    let client = app.anonymous();
    for _ in 0..3 {
        let answer = client
            .post(
                "/api/v1/session",
                json!({"login": ADMIN_LOGIN, "password": "guess-guess"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    // Even the right password waits now: the limit counts attempts, not failures.
    let limited = client
        .post(
            "/api/v1/session",
            json!({"login": "Admin", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error(), "too_many_requests");
    let retry_after: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Another login from the same address is not affected by this login's limit.
    let other = client
        .post(
            "/api/v1/session",
            json!({"login": "someone", "password": "guess-guess"}),
        )
        .await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn logins_are_rate_limited_per_address() {
    let app = spawn_app_with(|c| c.login_attempts_per_ip = 4).await;
    let client = app.anonymous();
    for i in 0..4 {
        let answer = client
            .post(
                "/api/v1/session",
                json!({"login": format!("user{i}"), "password": "guess-guess"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let limited = client
        .post(
            "/api/v1/session",
            json!({"login": "user9", "password": "guess-guess"}),
        )
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.header("retry-after").is_some());
}

#[actix_web::test]
async fn a_cookie_request_without_the_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let mut admin = app.admin().await;
    let csrf = admin.csrf().map(str::to_owned);

    admin.set_csrf(None);
    let missing = admin.post("/api/v1/roles", json!({"name": "Sales"})).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert_eq!(missing.error(), "forbidden");

    admin.set_csrf(Some("forged-token".into()));
    let forged = admin.post("/api/v1/roles", json!({"name": "Sales"})).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) FROM roles"), 0);

    admin.set_csrf(csrf);
    let cross_site = admin
        .send(
            admin
                .request(Method::POST, "/api/v1/roles")
                .header("Origin", "http://127.0.0.2:9999")
                .json(&json!({"name": "Sales"})),
        )
        .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    let fetch_cross_site = admin
        .send(
            admin
                .request(Method::POST, "/api/v1/roles")
                .header("Sec-Fetch-Site", "cross-site")
                .json(&json!({"name": "Sales"})),
        )
        .await;
    assert_eq!(fetch_cross_site.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) FROM roles"), 0);

    let same_origin = admin
        .send(
            admin
                .request(Method::POST, "/api/v1/roles")
                .header("Origin", app.address.clone())
                .json(&json!({"name": "Sales"})),
        )
        .await;
    assert_eq!(
        same_origin.status,
        StatusCode::CREATED,
        "{}",
        same_origin.text
    );
}

#[actix_web::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let answer = admin.delete("/api/v1/session").await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(
        answer
            .header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    assert_eq!(
        admin.get("/api/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.count("SELECT count(*) FROM auth_tokens WHERE revoked_at IS NOT NULL"),
        1
    );
}

#[actix_web::test]
async fn bearer_tokens_act_within_their_scopes() {
    let app = spawn_app().await;
    let operator = app.add_user("ivan", "ivan-password", false).await;
    let read_only = app.with_token(&app.token_for(operator, &["read"]).await);
    let writer = app.with_token(&app.token_for(operator, &["read", "write"]).await);
    let monitor = app.with_token(&app.token_for(operator, &["monitor"]).await);
    let admin_token = app.with_token(
        &app.token_for(app.admin_id, &["read", "write", "admin"])
            .await,
    );
    let admin_without_scope =
        app.with_token(&app.token_for(app.admin_id, &["read", "write"]).await);

    let me = read_only.get("/api/v1/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["login"], "ivan");
    assert_eq!(me.body["scopes"], json!(["read"]));
    assert!(me.body.get("csrf_token").is_none());

    // Writing needs the write scope (and tokens need no CSRF token).
    let denied = read_only
        .put("/api/v1/settings", json!({"integration_enabled": false}))
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(
        denied.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("write")
    );
    // A writer who is not an administrator still may not change settings.
    let not_admin = writer
        .put("/api/v1/settings", json!({"integration_enabled": false}))
        .await;
    assert_eq!(not_admin.status, StatusCode::FORBIDDEN);
    // An administrator's token needs the admin scope too.
    let unscoped = admin_without_scope
        .put("/api/v1/settings", json!({"integration_enabled": false}))
        .await;
    assert_eq!(unscoped.status, StatusCode::FORBIDDEN);
    let allowed = admin_token
        .put("/api/v1/settings", json!({"integration_enabled": false}))
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text);
    assert_eq!(allowed.body["integration_enabled"], false);
    // A monitor-only token may not read the API.
    assert_eq!(
        monitor.get("/api/v1/me").await.status,
        StatusCode::FORBIDDEN
    );
}

#[actix_web::test]
async fn revoked_unknown_and_malformed_credentials_are_401() {
    let app = spawn_app().await;
    let secret = app.token_for(app.admin_id, &["read"]).await;
    let token = app.with_token(&secret);
    assert_eq!(token.get("/api/v1/me").await.status, StatusCode::OK);

    let admin = app.admin().await;
    let list = admin.get("/api/v1/tokens").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        !list.text.contains(&secret),
        "a token list never shows secrets"
    );
    let id = list.body[0]["id"].as_i64().expect("a token id");
    assert_eq!(
        admin.delete(&format!("/api/v1/tokens/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        admin.delete(&format!("/api/v1/tokens/{id}")).await.status,
        StatusCode::NOT_FOUND
    );

    let revoked = token.get("/api/v1/me").await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(revoked.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        app.with_token("not-a-real-token")
            .get("/api/v1/me")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let basic = app
        .anonymous()
        .send(
            app.anonymous()
                .request(Method::GET, "/api/v1/me")
                .header("Authorization", "Basic YWRtaW46YWRtaW4="),
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.anonymous().get("/api/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn a_session_token_cannot_be_used_as_a_bearer_token() {
    let app = spawn_app().await;
    let answer = app
        .anonymous()
        .post(
            "/api/v1/session",
            json!({"login": ADMIN_LOGIN, "password": ADMIN_PASSWORD}),
        )
        .await;
    let cookie = answer.header("set-cookie").unwrap_or_default();
    let session = cookie["dialogi_session=".len()..]
        .split(';')
        .next()
        .unwrap_or_default();
    assert_eq!(
        app.with_token(session).get("/api/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn unauthenticated_is_401_forbidden_is_403_and_missing_is_404() {
    let app = spawn_app().await;
    app.add_user("petr", "petr-password", false).await;
    let operator = app.login("petr", "petr-password").await;
    let admin = app.admin().await;

    assert_eq!(
        app.anonymous().get("/api/v1/users").await.status,
        StatusCode::UNAUTHORIZED
    );
    let forbidden = operator
        .post(
            "/api/v1/users",
            json!({"login": "x1", "password": "password-1", "display_name": "X"}),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(forbidden.error(), "forbidden");
    assert_eq!(
        admin.get("/api/v1/users/999999").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin.get("/api/v1/users/not-a-number").await.status,
        StatusCode::NOT_FOUND
    );
    let no_route = admin.get("/api/v1/no-such-thing").await;
    assert_eq!(no_route.status, StatusCode::NOT_FOUND);
    assert_eq!(no_route.error(), "not_found");
    assert_eq!(app.count("SELECT count(*) FROM users"), 2);
}
