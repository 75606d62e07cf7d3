//! Users, roles and departments over the API (administrators change, everyone lists).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn an_admin_creates_a_user_with_a_department_and_roles_who_can_then_sign_in() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let role = admin
        .post(
            "/api/v1/roles",
            json!({"name": "Продажи", "description": "Отдел продаж"}),
        )
        .await;
    assert_eq!(role.status, StatusCode::CREATED, "{}", role.text);
    let department = admin
        .post("/api/v1/departments", json!({"name": "Москва"}))
        .await;
    assert_eq!(
        department.status,
        StatusCode::CREATED,
        "{}",
        department.text
    );

    let created = admin
        .post(
            "/api/v1/users",
            json!({
                "login": "anna",
                "password": "anna-password",
                "display_name": "Анна Петрова",
                "department_id": department.body["id"],
                "role_ids": [role.body["id"]],
                "locale": "en"
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["display_name"], "Анна Петрова");
    assert_eq!(created.body["role_ids"], json!([role.body["id"]]));
    assert!(created.body.get("password").is_none());
    assert!(!created.text.contains("argon2"));

    let anna = app.login("anna", "anna-password").await;
    let me = anna.get("/api/v1/me").await;
    assert_eq!(me.body["roles"][0]["name"], "Продажи");
    assert_eq!(me.body["department"]["name"], "Москва");
    assert_eq!(me.body["locale"], "en");
    // Every signed-in user may list colleagues, roles and departments.
    let users = anna.get("/api/v1/users").await;
    assert_eq!(users.status, StatusCode::OK);
    assert_eq!(users.body["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(anna.get("/api/v1/roles").await.body[0]["name"], "Продажи");
    assert_eq!(
        anna.get("/api/v1/departments").await.body[0]["name"],
        "Москва"
    );
}

#[actix_web::test]
async fn logins_are_unique_without_regard_to_case() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let body = |login: &str| json!({"login": login, "password": "password-1", "display_name": "X"});
    assert_eq!(
        admin.post("/api/v1/users", body("Boris")).await.status,
        StatusCode::CREATED
    );
    let taken = admin.post("/api/v1/users", body("boris")).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.error(), "login_taken");
    assert_eq!(app.count("SELECT count(*) FROM users"), 2);
}

#[actix_web::test]
async fn users_are_paged_with_a_cursor() {
    let app = spawn_app().await;
    for i in 0..4 {
        app.add_user(&format!("user{i}"), "password-1", false).await;
    }
    let admin = app.admin().await;
    let first = admin.get("/api/v1/users?limit=2").await;
    assert_eq!(first.body["items"].as_array().map(Vec::len), Some(2));
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = admin
        .get(&format!("/api/v1/users?limit=2&cursor={cursor}"))
        .await;
    let third_cursor = second.body["next_cursor"]
        .as_str()
        .expect("a third page")
        .to_owned();
    let third = admin
        .get(&format!("/api/v1/users?limit=2&cursor={third_cursor}"))
        .await;
    assert_eq!(third.body["items"].as_array().map(Vec::len), Some(1));
    assert!(third.body["next_cursor"].is_null());
    assert_eq!(
        admin.get("/api/v1/users?limit=201").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        admin.get("/api/v1/users?cursor=abc").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[actix_web::test]
async fn changing_a_password_ends_the_users_sessions() {
    let app = spawn_app().await;
    let id = app.add_user("vera", "vera-password", false).await;
    let vera = app.login("vera", "vera-password").await;
    let admin = app.admin().await;
    let answer = admin
        .patch(
            &format!("/api/v1/users/{id}"),
            json!({"password": "new-vera-password", "display_name": "Вера", "department_id": null}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["display_name"], "Вера");
    assert_eq!(
        vera.get("/api/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    app.login("vera", "new-vera-password").await;
}

#[actix_web::test]
async fn an_admin_cannot_lock_themselves_out() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let path = format!("/api/v1/users/{}", app.admin_id);
    for change in [json!({"disabled": true}), json!({"is_admin": false})] {
        let answer = admin.patch(&path, change).await;
        assert_eq!(answer.status, StatusCode::CONFLICT);
        assert_eq!(answer.error(), "cannot_lock_out_self");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE is_admin AND NOT disabled"),
        1
    );
}

#[actix_web::test]
async fn references_to_missing_roles_and_departments_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let answer = admin
        .post(
            "/api/v1/users",
            json!({"login": "x", "password": "password-1", "display_name": "X", "role_ids": [4242]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["field"], "role_ids");
    let answer = admin
        .patch(
            &format!("/api/v1/users/{}", app.admin_id),
            json!({"department_id": 4242}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["field"], "department_id");
    let duplicate_role = admin
        .post("/api/v1/roles", json!({"name": "Support"}))
        .await;
    assert_eq!(duplicate_role.status, StatusCode::CREATED);
    let again = admin
        .post("/api/v1/roles", json!({"name": "support"}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error(), "role_taken");
    assert_eq!(app.count("SELECT count(*) FROM users"), 1);
}

#[actix_web::test]
async fn r46_a_user_sets_themselves_away_and_colleagues_see_it_where_they_choose_someone() {
    let app = spawn_app().await;
    let anna_id = app.add_user("anna", "anna-password", false).await;
    app.add_user("boris", "boris-password", false).await;
    let anna = app.login("anna", "anna-password").await;
    let boris = app.login("boris", "boris-password").await;
    let status_of = |users: &serde_json::Value, id: i64| {
        users["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id)
            .map(|u| (u["status"].clone(), u["status_since"].clone()))
            .unwrap()
    };
    let (status, since) = status_of(&boris.get("/api/v1/users").await.body, anna_id);
    assert_eq!(status, "online", "everyone starts at work");

    let away = anna
        .put("/api/v1/me/status", json!({"status": "away"}))
        .await;
    assert_eq!(away.status, StatusCode::OK, "{}", away.text);
    assert_eq!(away.body["id"], anna_id);
    assert_eq!(away.body["status"], "away");
    let (status, away_since) = status_of(&boris.get("/api/v1/users").await.body, anna_id);
    assert_eq!(status, "away");
    assert_ne!(away_since, since);
    assert_eq!(anna.get("/api/v1/me").await.body["status"], "away");

    // Saying it again keeps since when; a status that does not exist changes nothing.
    let again = anna
        .put("/api/v1/me/status", json!({"status": "away"}))
        .await;
    assert_eq!(again.body["status_since"], away_since);
    let wrong = anna
        .put("/api/v1/me/status", json!({"status": "busy"}))
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.text.contains("status"), "{}", wrong.text);
    assert_eq!(
        status_of(&boris.get("/api/v1/users").await.body, anna_id).0,
        "away"
    );

    // A read-only token cannot change its user's status; a write token can.
    let read = app.token_for(anna_id, &["read"]).await;
    let by_read = app
        .with_token(&read)
        .put("/api/v1/me/status", json!({"status": "online"}))
        .await;
    assert_eq!(by_read.status, StatusCode::FORBIDDEN);
    let write = app.token_for(anna_id, &["read", "write"]).await;
    let back = app
        .with_token(&write)
        .put("/api/v1/me/status", json!({"status": "online"}))
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
    assert_eq!(
        status_of(&boris.get("/api/v1/users").await.body, anna_id).0,
        "online"
    );
}
