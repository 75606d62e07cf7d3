//! Issue #9, hostile input: schemathesis generates requests from `/api/openapi.json` (valid
//! ones, boundary values, wrong types, malformed bodies) and checks every answer: no 5xx,
//! each body matches the documented schema, each status and content type is documented.
//!
//! Bounded: a fixed seed and a few examples per operation, about 20 s. Needs the
//! `schemathesis` command (`pip install schemathesis==4.32.5`); without it the test fails
//! and says so.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::channels::{TG_SECRET, telegram_account, telegram_hook, tg_text};
use crate::fakes::FakeChannel;
use crate::helpers::spawn_app_with;

/// The pinned version `.ci/run` installs.
const VERSION: &str = "4.32.5";
/// The whole run must end within this, or the test fails.
const LIMIT: Duration = Duration::from_secs(90);

#[actix_web::test]
async fn schemathesis_finds_no_server_error_no_schema_violation_and_no_undocumented_status() {
    let installed = Command::new("schemathesis").arg("--version").output();
    let version = match installed {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => panic!(
            "schemathesis is not installed: `pip install schemathesis=={VERSION}` (the test \
             command, `bash scripts/test`, installs it)"
        ),
    };
    // Generated requests sign in and fail to sign in many times.
    let app = spawn_app_with(|config| {
        config.login_attempts_per_ip = 100_000;
        config.login_attempts_per_login = 100_000;
    })
    .await;
    // Something to find: an account on a fake Telegram with a dialog in it.
    let fake = FakeChannel::start().await;
    let account = telegram_account(&app, &fake, "webhook").await;
    assert_eq!(
        telegram_hook(&app, account, &tg_text(1, 81, 1, "вопрос"), TG_SECRET).await,
        StatusCode::OK
    );
    let token = app
        .admin()
        .await
        .post(
            "/api/v1/tokens",
            json!({"name": "schemathesis", "scopes": ["read", "write", "admin"]}),
        )
        .await;
    assert_eq!(token.status, StatusCode::CREATED, "{}", token.text);
    let secret = token.body["token_secret"].as_str().unwrap().to_owned();

    let mut command = Command::new("schemathesis");
    command
        .arg("run")
        .arg(format!("{}/api/openapi.json", app.address))
        .args(["--header", &format!("Authorization: Bearer {secret}")])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
        ])
        // Event streams never end; signing out or revoking the run's own token would
        // leave nothing to test; with integration switched off (R2) webhooks answer 503
        // on purpose, so the channel delivers again later.
        .args(["--exclude-path-regex", "/events$"])
        .args(["--exclude-path", "/api/v1/session"])
        .args(["--exclude-path", "/api/v1/tokens/{id}"])
        .args(["--exclude-path", "/api/v1/settings"])
        .args(["--max-examples", "10", "--seed", "1", "--workers", "1"])
        .args(["--request-timeout", "10", "--no-color"])
        // Nothing kept between runs (no `.schemathesis/` folder; the same run every time).
        .args(["--generation-database", "none"])
        .stdin(std::process::Stdio::null());
    // Its crash cache goes to a folder of this run, not into the repository.
    let workdir = std::env::temp_dir()
        .join("dialogi-tests")
        .join(std::process::id().to_string())
        .join("schemathesis");
    std::fs::create_dir_all(&workdir).expect("a folder for schemathesis");
    command.current_dir(&workdir);
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run schemathesis");
        let deadline = Instant::now() + LIMIT;
        loop {
            if child.try_wait().expect("wait for schemathesis").is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        child.wait_with_output().expect("schemathesis's output")
    })
    .await
    .unwrap();
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let summary: String = text
        .lines()
        .filter(|l| l.contains(" generated,"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" / ");
    println!(
        "schemathesis {}: {summary} in {:.0} s",
        version.trim(),
        took.as_secs_f64()
    );
    assert!(
        took < LIMIT,
        "schemathesis ran over {LIMIT:?} and was stopped:\n{text}"
    );
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{text}"
    );
}
