//! Issue #23: every write outside the dialog actor is one transaction with its event and
//! its audit entry. A forced failure of the audit insert (a trigger installed by the test)
//! must leave neither the row nor its event.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_LOGIN, ADMIN_PASSWORD, TestApp, spawn_app};

fn refuse_audit(app: &TestApp) {
    app.execute(
        "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'the audit log refuses (test)'; END $$",
    );
    app.execute(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
         FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
    );
}

#[actix_web::test]
async fn r23_a_write_whose_audit_entry_fails_leaves_neither_row_nor_event() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let account = app.create_account("telegram", json!({})).await;
    let token = admin
        .post("/api/v1/tokens", json!({"name": "CRM", "scopes": ["read"]}))
        .await;
    assert_eq!(token.status, StatusCode::CREATED, "{}", token.text);
    let token_id = token.body["id"].as_i64().unwrap();
    let role = admin
        .post("/api/v1/roles", json!({"name": "Поддержка"}))
        .await;
    assert_eq!(role.status, StatusCode::CREATED, "{}", role.text);
    let role_id = role.body["id"].as_i64().unwrap();
    let snapshot = |app: &TestApp| {
        (
            app.count("SELECT count(*) FROM channel_accounts"),
            app.count("SELECT count(*) FROM events"),
            app.count("SELECT count(*) FROM users"),
            app.count("SELECT count(*) FROM auth_tokens WHERE revoked_at IS NULL"),
            app.count("SELECT count(*) FROM account_grants"),
            app.count("SELECT count(*) FROM rules"),
            app.count("SELECT count(*) FROM roles"),
            app.count("SELECT count(*) FROM settings WHERE value = 'false'::jsonb"),
            app.count(&format!(
                "SELECT count(*) FROM channel_accounts WHERE id = {account} AND name = 'telegram account'"
            )),
        )
    };
    let before = snapshot(&app);
    refuse_audit(&app);

    let created = admin
        .post(
            "/api/v1/accounts",
            json!({"kind": "telegram", "name": "Не будет", "credentials": {"token": "123:abc"}}),
        )
        .await;
    assert!(created.status.is_server_error(), "{}", created.text);
    let changed = admin
        .patch(
            &format!("/api/v1/accounts/{account}"),
            json!({"name": "Переименован"}),
        )
        .await;
    assert!(changed.status.is_server_error(), "{}", changed.text);
    let user = admin
        .post(
            "/api/v1/users",
            json!({"login": "nobody", "display_name": "Никто", "password": "nobody-password-1", "role_ids": []}),
        )
        .await;
    assert!(user.status.is_server_error(), "{}", user.text);
    let issued = admin
        .post(
            "/api/v1/tokens",
            json!({"name": "Второй", "scopes": ["read"]}),
        )
        .await;
    assert!(issued.status.is_server_error(), "{}", issued.text);
    let revoked = admin.delete(&format!("/api/v1/tokens/{token_id}")).await;
    assert!(revoked.status.is_server_error(), "{}", revoked.text);
    // Writes that became services in a later step: each one transaction too.
    let grants = admin
        .put(
            &format!("/api/v1/accounts/{account}/grants"),
            json!([{"role_id": role_id, "view": true}]),
        )
        .await;
    assert!(grants.status.is_server_error(), "{}", grants.text);
    let rule = admin
        .post(
            "/api/v1/rules",
            json!({"name": "Не будет", "actions": [{"type": "mark_lead"}]}),
        )
        .await;
    assert!(rule.status.is_server_error(), "{}", rule.text);
    let settings = admin
        .put("/api/v1/settings", json!({"integration_enabled": false}))
        .await;
    assert!(settings.status.is_server_error(), "{}", settings.text);
    let role = admin
        .post(
            "/api/v1/roles",
            json!({"name": "Не будет", "description": ""}),
        )
        .await;
    assert!(role.status.is_server_error(), "{}", role.text);
    // A sign-in's session and its audit entry: no session without its entry.
    let signed_in = app
        .anonymous()
        .post(
            "/api/v1/session",
            json!({"login": ADMIN_LOGIN, "password": ADMIN_PASSWORD}),
        )
        .await;
    assert!(signed_in.status.is_server_error(), "{}", signed_in.text);

    assert_eq!(
        snapshot(&app),
        before,
        "nothing was written, not even an event"
    );
    // The internal cause is not shown to the caller.
    assert!(
        !created.text.contains("audit log refuses"),
        "{}",
        created.text
    );
}
