//! The demo company for `dialogi demo` and `dialogi --demo`: makes the operators' shared
//! password, fills the database (see `db::demo`) and says how to sign in — and, whenever
//! the database holds demo accounts, brings the demo to life:
//!
//! - [`simulator`]: the five messengers' APIs on 127.0.0.1 (the website chat needs
//!   none: its visitors write through the widget's own routes, from the demo site's page), for the demo accounts only
//!   (their `api_url` points at it, set at every start);
//! - [`clients`]: people who write, answer the operators, send photos and edit, and the
//!   platforms' delivery and read reports, all through Dialogi's real webhook routes.
//!
//! Nothing here runs for a database without demo accounts, and the simulator refuses
//! every credential that is not a demo account's.

pub mod clients;
pub mod simulator;

use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use chrono::Utc;
use diesel::PgConnection;
use serde_json::json;
use tokio::sync::mpsc;

use self::clients::{Activity, Clients};
use self::simulator::{Platforms, Sent};
use crate::db::accounts::AccountRow;
use crate::db::demo as seed;
use crate::db::{DbError, DbPool};
use crate::domain::people::Password;
use crate::security;

/// The demo's messengers, running, and what they hand to the clients.
pub struct Demo {
    simulator: actix_web::dev::ServerHandle,
    port: u16,
    accounts: Vec<AccountRow>,
    sends: mpsc::UnboundedReceiver<Sent>,
}

impl Demo {
    /// Starts the simulator when the database holds demo accounts and points each of
    /// them at it (new secrets of this installation replace the seed's placeholders the
    /// first time). `None` when there is no demo account: nothing runs.
    pub fn start(pool: &DbPool) -> std::io::Result<Option<Demo>> {
        let mut conn = pool.get().map_err(std::io::Error::other)?;
        let accounts = seed::demo_accounts(&mut conn).map_err(std::io::Error::other)?;
        if accounts.is_empty() {
            return Ok(None);
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let base = format!("http://127.0.0.1:{port}");
        let mut pointed = Vec::with_capacity(accounts.len());
        for mut account in accounts {
            account.credentials =
                demo_credentials(&account, &base).map_err(std::io::Error::other)?;
            seed::point_at_simulator(&mut conn, account.id, &account.credentials)
                .map_err(std::io::Error::other)?;
            pointed.push(account);
        }
        let (tx, sends) = mpsc::unbounded_channel();
        let platforms = Arc::new(Platforms::new(pointed.clone(), tx));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(Arc::clone(&platforms)))
                .app_data(web::PayloadConfig::new(80 * 1024 * 1024))
                .default_service(web::to(simulator::handle))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let simulator = server.handle();
        actix_web::rt::spawn(server);
        tracing::info!(
            port,
            accounts = pointed.len(),
            "the demo's messengers are simulated on 127.0.0.1"
        );
        Ok(Some(Demo {
            simulator,
            port,
            accounts: pointed,
            sends,
        }))
    }

    /// The simulator's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the clients, who write to Dialogi at `server` (its own address): delivery
    /// reports always, new messages and answers at `activity` unless it is off.
    pub fn bring_to_life(&mut self, pool: &DbPool, server: String, activity: Option<Activity>) {
        // The demo's website chat answers the demo site's page on this server, by either
        // name of the machine.
        let port = server.rsplit(':').next().unwrap_or("8080").to_owned();
        let origins = format!("{server}, http://localhost:{port}, http://127.0.0.1:{port}");
        let secret = pool
            .get()
            .map_err(DbError::from)
            .and_then(|mut conn| {
                for account in self.accounts.iter_mut().filter(|a| a.kind == "web") {
                    account.credentials["allowed_origins"] = json!(origins);
                    seed::point_at_simulator(&mut conn, account.id, &account.credentials)?;
                }
                crate::db::settings::installation_secret(&mut conn)
            })
            .unwrap_or_else(|error| {
                tracing::warn!(error = %error, "the demo's website chat could not be prepared");
                Vec::new()
            });
        let ids: Vec<i64> = self.accounts.iter().map(|a| a.id).collect();
        let people = pool
            .get()
            .map_err(DbError::from)
            .and_then(|mut conn| seed::demo_people(&mut conn, &ids))
            .unwrap_or_else(|error| {
                tracing::warn!(error = %error, "the demo's people could not be read");
                Vec::new()
            });
        let clients = Arc::new(Clients::new(self.accounts.clone(), server, people, secret));
        let (_, empty) = mpsc::unbounded_channel();
        let sends = std::mem::replace(&mut self.sends, empty);
        actix_web::rt::spawn(Arc::clone(&clients).follow_sends(sends, activity.is_some()));
        if let Some(activity) = activity {
            actix_web::rt::spawn(clients.write_new(activity));
        }
    }

    /// Stops the simulator.
    pub async fn stop(self) {
        self.simulator.stop(true).await;
    }
}

/// A demo account's credentials pointed at the simulator at `base`, with secrets of this
/// installation where the seed left its placeholder (`demo`).
fn demo_credentials(
    account: &AccountRow,
    base: &str,
) -> Result<serde_json::Value, security::SecurityError> {
    let mut credentials = account.credentials.clone();
    // The website chat talks to no platform: its origins are set when the server's
    // address is known (`bring_to_life`).
    if account.kind == "web" {
        return Ok(credentials);
    }
    let (api_url, secrets): (String, &[&str]) = match account.kind.as_str() {
        "telegram" => (base.to_owned(), &["webhook_secret"]),
        "vk" => (
            format!("{base}/method"),
            &["access_token", "secret", "confirmation"],
        ),
        "viber" => (format!("{base}/pa"), &["auth_token"]),
        "max" => (format!("{base}/max"), &["token", "webhook_secret"]),
        _ => (
            base.to_owned(),
            &["access_token", "app_secret", "verify_token"],
        ),
    };
    for field in secrets {
        let placeholder = credentials[*field]
            .as_str()
            .is_none_or(|v| v.starts_with("demo"));
        if placeholder {
            credentials[*field] = json!(security::new_token()?);
        }
    }
    if account.kind == "telegram"
        && credentials["token"]
            .as_str()
            .is_none_or(|t| t.ends_with(":demo"))
    {
        credentials["token"] = json!(format!("7000001:{}", security::new_token()?));
    }
    credentials["api_url"] = json!(api_url);
    Ok(credentials)
}

/// Whether the database has no accounts and no dialogs, so demo data may go in.
pub fn is_empty(conn: &mut PgConnection) -> anyhow::Result<bool> {
    Ok(seed::is_empty(conn)?)
}

/// Fills an empty database and returns a summary to print, with the operators' password.
pub fn fill(conn: &mut PgConnection) -> anyhow::Result<String> {
    if !is_empty(conn)? {
        anyhow::bail!(
            "the database already has channel accounts or dialogs; demo data goes only into an empty one"
        );
    }
    let password = security::new_password()?;
    let hash = security::hash_password(&Password::parse(&password)?)?;
    let summary = seed::fill(conn, &hash, Utc::now())?;
    Ok(format!(
        "Demo company ready: {} channel accounts, {} clients, {} dialogs, {} messages.\n\
         Operators {} sign in with the password {password}",
        summary.accounts,
        summary.clients,
        summary.dialogs,
        summary.messages,
        summary.operators.join(", "),
    ))
}
