//! Issue #23: every write outside the dialog actor is one transaction with its event and
//! its audit entry. A forced failure of the audit insert (a trigger installed by the test)
//! must leave neither the row nor its event.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

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
    let snapshot = |app: &TestApp| {
        (
            app.count("SELECT count(*) FROM channel_accounts"),
            app.count("SELECT count(*) FROM events"),
            app.count("SELECT count(*) FROM users"),
            app.count("SELECT count(*) FROM auth_tokens WHERE revoked_at IS NULL"),
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
