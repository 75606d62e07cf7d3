//! What the benchmarks share: sizes from the environment, percentiles, and a private
//! PostgreSQL with an administrator, a read token and one channel account.
// Each benchmark uses part of this.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use diesel::{Connection, PgConnection};
use serde_json::json;

use dialogi::db::embedded::{self, EmbeddedOptions, EmbeddedPostgres};
use dialogi::db::{self, users};
use dialogi::domain::people::{Password, Scope};
use dialogi::security;

/// A size from the environment, or `default`.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `p` quantile (0..=1) of sorted durations, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// A migrated private database with an administrator, their read token and one
/// Telegram account; removed when dropped.
pub struct BenchDb {
    pub url: String,
    pub account_id: i64,
    pub token: String,
    cluster: Option<EmbeddedPostgres>,
    dir: PathBuf,
}

impl BenchDb {
    pub fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("dialogi-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cluster = EmbeddedPostgres::start(&EmbeddedOptions {
            settings: vec![("max_connections".into(), "200".into())],
            ..EmbeddedOptions::new(&dir)
        })
        .expect("start PostgreSQL");
        let url = cluster.url(embedded::DATABASE);
        let mut conn = PgConnection::establish(&url).expect("connect");
        db::run_migrations(&mut conn).expect("migrate");
        let hash = security::hash_password(&Password::parse("bench-password").unwrap()).unwrap();
        let admin = users::insert(
            &mut conn,
            &users::NewUserRow {
                login: "admin",
                display_name: "Admin",
                password_hash: &hash,
                department_id: None,
                is_admin: true,
                locale: "ru",
            },
            &[],
        )
        .unwrap();
        let account = db::accounts::insert(
            &mut conn,
            &db::accounts::NewAccountRow {
                kind: "telegram".into(),
                name: "Bench".into(),
                credentials: json!({"token": "x"}),
                lead_source: false,
                require_close_reason: false,
                create_clients: true,
                responsible_user_id: None,
                responsible_role_id: None,
                auto_link_interests: false,
                everyone_may_view: false,
                priority: 0,
                department_id: None,
                enabled: true,
            },
        )
        .unwrap();
        let token = security::new_token().unwrap();
        dialogi::http::tokens::issue(
            &mut conn,
            &admin,
            "bench",
            &[Scope::Read],
            None,
            None,
            &token,
        )
        .unwrap();
        Self {
            url,
            account_id: account.id,
            token,
            cluster: Some(cluster),
            dir,
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        drop(self.cluster.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
