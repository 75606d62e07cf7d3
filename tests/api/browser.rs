//! R12–R38 in a real browser: tests/e2e/workstation.mjs drives headless Chromium through
//! playwright-core against this app and a fake Telegram, as two operators in two browser
//! contexts. This test starts everything, runs the script, and restarts the server when the
//! script asks (it prints `RESTART` and waits for `RESTARTED`).
//!
//! Needs Node.js, `npm ci --prefix tests/e2e` and Chromium (`/usr/bin/chromium`, or
//! `DIALOGI_CHROMIUM`); `bash scripts/test` installs them. Without them the test fails and
//! says so.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::channels::TG_SECRET;
use crate::fakes::FakeChannel;
use crate::helpers::spawn_app_with;

const PASSWORD: &str = "operator-password-1";

pub(crate) fn chromium() -> String {
    std::env::var("DIALOGI_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

#[actix_web::test]
async fn r12_r38_two_operators_work_the_inbox_in_chromium() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    assert!(
        e2e.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix tests/e2e` (`bash scripts/test` does)"
    );
    assert!(
        Path::new(&chromium()).exists(),
        "Chromium is missing at {}: install Debian's `chromium` (`bash scripts/test` does) or set DIALOGI_CHROMIUM",
        chromium()
    );
    let mut app = spawn_app_with(|config| {
        config.login_attempts_per_ip = 1000;
        config.login_attempts_per_login = 1000;
    })
    .await;
    let fake = FakeChannel::start().await;
    let account = app
        .create_account(
            "telegram",
            json!({"name": "Telegram: продажи", "require_close_reason": true, "lead_source": true,
                   "credentials": {"token": "123:test", "mode": "webhook", "webhook_secret": TG_SECRET, "api_url": fake.url}}),
        )
        .await;
    let anna = app.add_user("anna", PASSWORD, false).await;
    let boris = app.add_user("boris", PASSWORD, false).await;
    app.grant(
        account,
        json!([{"user_id": anna, "view": true, "send": true}, {"user_id": boris, "view": true, "send": true}]),
    )
    .await;

    let mut script = tokio::process::Command::new("node")
        .arg(e2e.join("workstation.mjs"))
        .env("APP_URL", &app.address)
        .env("FAKE_URL", &fake.url)
        .env("HOOK_PATH", format!("/hooks/telegram/{account}"))
        .env("TG_SECRET", TG_SECRET)
        .env("PASSWORD", PASSWORD)
        .env("ADMIN_PASSWORD", crate::helpers::ADMIN_PASSWORD)
        .env("CHROMIUM", chromium())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (install Node.js)");
    let mut stdin = script.stdin.take().expect("stdin");
    let mut lines = BufReader::new(script.stdout.take().expect("stdout")).lines();
    // R40: the company's site and a stranger's, each on an origin of its own.
    let mut sites = Vec::new();
    let run = async {
        while let Some(line) = lines.next_line().await.expect("read the script's output") {
            println!("e2e: {line}");
            if line.trim() == "WIDGET" {
                let (answer, servers) = widget_sites(&app, anna).await;
                sites.extend(servers);
                stdin
                    .write_all(format!("{answer}\n").as_bytes())
                    .await
                    .expect("answer the script");
                stdin.flush().await.expect("flush");
            }
            if line.trim() == "WHATSAPP_WINDOW" {
                let id = whatsapp_window(&app, anna).await;
                stdin
                    .write_all(format!("WINDOW {id}\n").as_bytes())
                    .await
                    .expect("answer the script");
                stdin.flush().await.expect("flush");
            }
            if line.trim() == "RESTART" {
                app.restart().await;
                stdin
                    .write_all(b"RESTARTED\n")
                    .await
                    .expect("answer the script");
                stdin.flush().await.expect("flush");
            }
        }
        script.wait().await.expect("the script ends")
    };
    let status = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("the browser test finishes within 10 minutes");
    assert!(
        status.success(),
        "the browser scenario failed (see e2e: lines above)"
    );
}

/// R44: a WhatsApp client who last wrote 23 h 50 min ago — ten minutes of the reply
/// window left — in an account only `anna` may answer; the dialog's id.
async fn whatsapp_window(app: &crate::helpers::TestApp, anna: i64) -> i64 {
    let whatsapp = app
        .create_account("whatsapp", json!({"name": "WhatsApp: продажи"}))
        .await;
    app.grant(
        whatsapp,
        json!([{"user_id": anna, "view": true, "send": true}]),
    )
    .await;
    let dialog = app
        .dialog_of(
            whatsapp,
            "79990001122",
            "Успею ещё оплатить по старой цене?",
        )
        .await;
    // The client's message and their last inbound time agree, as the channel leaves them
    // (the page counts the window from either).
    app.execute(&format!(
        "UPDATE messages SET created_at = now() - interval '23 hours 50 minutes' \
         WHERE dialog_id = {dialog}"
    ));
    app.execute(&format!(
        "UPDATE interlocutors SET last_inbound_at = now() - interval '23 hours 50 minutes' \
         WHERE id = (SELECT interlocutor_id FROM dialogs WHERE id = {dialog})"
    ));
    dialog
}

/// R40: a website account whose widget the company's site (one origin) embeds, and a
/// stranger's site (another origin) that embeds it too; both pages style everything
/// loudly, to show the widget keeps its own look. Answers `WIDGET <site> <stranger>`.
async fn widget_sites(
    app: &crate::helpers::TestApp,
    anna: i64,
) -> (String, Vec<actix_web::dev::ServerHandle>) {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("a port for a site");
    let (site, stranger) = (bind(), bind());
    let origin =
        |l: &std::net::TcpListener| format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
    let (site_url, stranger_url) = (origin(&site), origin(&stranger));
    let account = app
        .create_account(
            "web",
            json!({"name": "Сайт кофейни", "credentials": {"allowed_origins": site_url,
                "greeting": "Здравствуйте! Подскажем с выбором кофе.", "color": "#0a7d3e",
                "consent_text": "Согласен(на) на обработку персональных данных ООО «Зерно»", "prechat": "on"}}),
        )
        .await;
    app.grant(
        account,
        json!([{"user_id": anna, "view": true, "send": true}]),
    )
    .await;
    let widget = app
        .admin()
        .await
        .get(&format!("/api/v1/accounts/{account}/widget"))
        .await;
    let snippet = widget.body["snippet"]
        .as_str()
        .expect("the snippet")
        .to_owned();
    let page = format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\"><title>Кофейня «Зерно»</title>\
         <style>* {{ color: #f0f !important; font-family: serif !important; font-size: 30px !important; }} \
         button, section, div, textarea {{ background: yellow !important; border: 6px dashed red !important; }}</style>\
         </head><body><h1>Кофейня «Зерно»</h1><p>Свежая обжарка каждый день.</p>{snippet}</body></html>"
    );
    let mut servers = Vec::new();
    for listener in [site, stranger] {
        let page = page.clone();
        let server = HttpServer::new(move || {
            let page = page.clone();
            App::new().default_service(web::to(move || {
                let page = page.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("text/html; charset=utf-8")
                        .body(page)
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .expect("serve a site")
        .run();
        servers.push(server.handle());
        actix_web::rt::spawn(server);
    }
    (format!("WIDGET {site_url} {stranger_url}"), servers)
}
