//! Health, readiness, metrics, the OpenAPI document and the headers on every answer.

use diesel::RunQueryDsl;
use reqwest::StatusCode;

use crate::helpers::{spawn_app, with_database};

#[actix_web::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let client = app.anonymous();
    let health = client.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    let ready = client.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
}

#[actix_web::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = spawn_app().await;
    let client = app.anonymous();
    let name = app.db.name.clone();
    let mut admin = <diesel::PgConnection as diesel::Connection>::establish(&with_database(
        &app.db.url,
        "postgres",
    ))
    .expect("connect to postgres");
    diesel::sql_query(format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .expect("refuse new connections");
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut admin)
    .expect("end the app's connections");
    let ready = client.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["status"], "unavailable");
    assert!(
        !ready.text.contains("postgres"),
        "no internals leak: {}",
        ready.text
    );
    assert_eq!(client.get("/healthz").await.status, StatusCode::OK);
    diesel::sql_query(format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .expect("allow connections again");
}

#[actix_web::test]
async fn metrics_are_in_prometheus_text_format() {
    let app = spawn_app().await;
    let client = app.anonymous();
    client.get("/healthz").await;
    let metrics = client.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    assert!(
        metrics.text.contains("http_requests_total"),
        "{}",
        metrics.text
    );
    assert!(
        metrics.text.contains("route=\"/healthz\""),
        "{}",
        metrics.text
    );
}

#[actix_web::test]
async fn the_openapi_document_lists_every_route() {
    let app = spawn_app().await;
    let spec = app.anonymous().get("/api/openapi.json").await;
    assert_eq!(spec.status, StatusCode::OK);
    assert_eq!(spec.body["info"]["title"], "Dialogi");
    let expected = [
        ("/api/v1/session", "post"),
        ("/api/v1/session", "delete"),
        ("/api/v1/me", "get"),
        ("/api/v1/users", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/{id}", "get"),
        ("/api/v1/users/{id}", "patch"),
        ("/api/v1/roles", "get"),
        ("/api/v1/roles", "post"),
        ("/api/v1/departments", "get"),
        ("/api/v1/departments", "post"),
        ("/api/v1/tokens", "get"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/tokens/{id}", "delete"),
        ("/api/v1/settings", "get"),
        ("/api/v1/settings", "put"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ];
    for (path, method) in expected {
        assert!(
            spec.body["paths"][path][method].is_object(),
            "{method} {path} is missing from the OpenAPI document"
        );
    }
    assert!(spec.body["components"]["securitySchemes"]["bearer"].is_object());
    // Every unsafe request of a caller documents its optional Idempotency-Key and the
    // answers it can give; signing in (no caller yet) and reads do not take one.
    let keyed = |path: &str, method: &str| {
        let operation = &spec.body["paths"][path][method];
        let key = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "Idempotency-Key");
        key.map(|key| {
            assert_eq!(key["in"], "header", "{method} {path}");
            assert_eq!(key["required"], false, "{method} {path}");
            for status in ["400", "409", "422"] {
                assert!(
                    operation["responses"][status].is_object(),
                    "{method} {path} does not document {status}"
                );
            }
        })
        .is_some()
    };
    for (path, item) in spec.body["paths"].as_object().expect("paths") {
        for method in ["post", "put", "patch", "delete"] {
            if item.get(method).is_some() && path.starts_with("/api/v1/") {
                let expected = !(path == "/api/v1/session" && method == "post");
                assert_eq!(keyed(path, method), expected, "{method} {path}");
            }
        }
    }
    assert!(!keyed("/api/v1/dialogs", "get"));
}

#[actix_web::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/healthz", "/api/v1/me", "/no-such-page"] {
        let answer = app.anonymous().get(path).await;
        let csp = answer.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(answer.header("referrer-policy"), Some("no-referrer"));
    }
}

#[actix_web::test]
async fn r37_the_dashboard_page_is_served_by_the_server_with_its_assets() {
    let app = spawn_app().await;
    let client = app.anonymous();
    let page = client.get("/monitor").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text.contains("/assets/monitor.js"));
    assert!(
        page.header("content-security-policy")
            .is_some_and(|c| c.contains("script-src 'self'"))
    );
    let script = client.get("/assets/monitor.js").await;
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(script.text.contains("/api/v1/monitor/events"));
    let css = client.get("/assets/monitor.css").await;
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    let etag = script.header("etag").expect("an ETag").to_owned();
    let again = client
        .send(
            client
                .request(reqwest::Method::GET, "/assets/monitor.js")
                .header("If-None-Match", etag),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
}

#[test]
fn the_web_client_never_parses_text_as_html() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/web")).expect("web/") {
        let path = entry.expect("an entry").path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for forbidden in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(
                !text.contains(forbidden),
                "{} uses {forbidden}",
                path.display()
            );
        }
        if path.extension().is_some_and(|e| e == "html") {
            assert!(
                !text.contains("<script>"),
                "{}: no inline scripts",
                path.display()
            );
            assert!(
                !text.contains("style=\""),
                "{}: no inline styles",
                path.display()
            );
        }
    }
}
