//! What the benchmarks share: sizes from the environment, percentiles, and a private
//! PostgreSQL with an administrator, a read token and one channel account.
// Each benchmark uses part of this.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};
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

/// A migrated private PostgreSQL under the temp folder; removed when dropped.
pub struct BenchCluster {
    pub url: String,
    cluster: Option<EmbeddedPostgres>,
    dir: PathBuf,
}

impl BenchCluster {
    /// With `BENCH_STATEMENTS=1` the cluster loads `pg_stat_statements`, and dropping it
    /// prints the statements that took the most server time (a profile of the database's
    /// side of a scenario).
    pub fn start(name: &str, settings: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("dialogi-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut settings: Vec<(String, String)> = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if statements_profiled() {
            settings.push((
                "shared_preload_libraries".into(),
                "pg_stat_statements".into(),
            ));
        }
        let cluster = EmbeddedPostgres::start(&EmbeddedOptions {
            settings,
            ..EmbeddedOptions::new(&dir)
        })
        .expect("start PostgreSQL");
        let url = cluster.url(embedded::DATABASE);
        let mut conn = PgConnection::establish(&url).expect("connect");
        db::run_migrations(&mut conn).expect("migrate");
        if statements_profiled() {
            diesel::sql_query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                .execute(&mut conn)
                .expect("pg_stat_statements");
        }
        Self {
            url,
            cluster: Some(cluster),
            dir,
        }
    }

    /// With `BENCH_STATEMENTS=1`: prints the 25 statements with the most total execution
    /// time since the last call, with calls and rows, and starts counting afresh.
    pub fn print_statements(&self) {
        if !statements_profiled() {
            return;
        }
        #[derive(diesel::QueryableByName)]
        struct Statement {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            calls: i64,
            #[diesel(sql_type = diesel::sql_types::Double)]
            total_ms: f64,
            #[diesel(sql_type = diesel::sql_types::Double)]
            max_ms: f64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            rows: i64,
            #[diesel(sql_type = diesel::sql_types::Text)]
            query: String,
        }
        let Ok(mut conn) = PgConnection::establish(&self.url) else {
            return;
        };
        let top = diesel::sql_query(
            "SELECT calls, total_exec_time AS total_ms, max_exec_time AS max_ms, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query \
             FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25",
        )
        .load::<Statement>(&mut conn);
        eprintln!("   statements by total time (pg_stat_statements):");
        for s in top.unwrap_or_default() {
            eprintln!(
                "   {:>9.0} ms {:>8} calls {:>8} rows  (slowest {:>7.1} ms)  {}",
                s.total_ms, s.calls, s.rows, s.max_ms, s.query
            );
        }
        let _ = diesel::sql_query("SELECT pg_stat_statements_reset()").execute(&mut conn);
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect")
    }
}

fn statements_profiled() -> bool {
    std::env::var("BENCH_STATEMENTS").is_ok_and(|v| v == "1")
}

impl Drop for BenchCluster {
    fn drop(&mut self) {
        self.print_statements();
        drop(self.cluster.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Inserts a user whose password is `bench-password`.
pub fn insert_user(
    conn: &mut PgConnection,
    login: &str,
    display_name: &str,
    is_admin: bool,
) -> users::UserRow {
    let hash = security::hash_password(&Password::parse("bench-password").unwrap()).unwrap();
    users::insert(
        conn,
        &users::NewUserRow {
            login,
            display_name,
            password_hash: &hash,
            department_id: None,
            is_admin,
            locale: "ru",
        },
        &[],
    )
    .unwrap()
}

/// A Telegram account with these credentials, clients created for new interlocutors.
pub fn insert_telegram_account(
    conn: &mut PgConnection,
    credentials: serde_json::Value,
) -> dialogi::db::accounts::AccountRow {
    db::accounts::insert(
        conn,
        &db::accounts::NewAccountRow {
            kind: "telegram".into(),
            name: "Bench".into(),
            credentials,
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
            group_chats: true,
        },
    )
    .unwrap()
}

/// A new API token of `user` with these scopes.
pub fn issue_token(conn: &mut PgConnection, user: &users::UserRow, scopes: &[Scope]) -> String {
    let token = security::new_token().unwrap();
    dialogi::services::tokens::issue(conn, user, "bench", scopes, None, None, &token).unwrap();
    token
}

/// A private database with an administrator, their read token and one Telegram account.
pub struct BenchDb {
    pub url: String,
    pub account_id: i64,
    pub token: String,
    // Dropped last: the database goes with it.
    _cluster: BenchCluster,
}

impl BenchDb {
    pub fn start(name: &str) -> Self {
        let cluster = BenchCluster::start(name, &[("max_connections", "200")]);
        let mut conn = cluster.connect();
        let admin = insert_user(&mut conn, "admin", "Admin", true);
        let account = insert_telegram_account(&mut conn, json!({"token": "x"}));
        let token = issue_token(&mut conn, &admin, &[Scope::Read]);
        Self {
            url: cluster.url.clone(),
            account_id: account.id,
            token,
            _cluster: cluster,
        }
    }
}
