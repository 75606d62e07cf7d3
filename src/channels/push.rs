//! R45: web push, so a closed tab still notifies. The server has one VAPID key pair
//! (RFC 8292, P-256, made on first start and kept in `settings`); a browser's subscription
//! is an endpoint of its push service, kept per user (`db::push`). When an event is for a
//! user — a mention, a task given to them, a dialog redirected to them — each of their
//! endpoints gets a POST with no payload, signed with a VAPID JWT (ES256); the service
//! worker wakes and reads what is new from the API itself (`GET /api/v1/my-work`), so no
//! message content ever passes a push service and nothing needs encrypting (RFC 8291).
//!
//! Endpoints are accepted only on the browsers' push services (`BROWSER_PUSH_HOSTS`, https)
//! or on a host the operator of the server listed (`--push-host`): a user cannot make the
//! server call an address of its choosing. A service that answers 404 or 410 has
//! forgotten the subscription, and so does Dialogi.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use reqwest::Url;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::json;

use crate::actors::Hub;
use crate::db::{self, DbPool};
use crate::domain::hosts::host_matches;

/// The push services of Chrome and Edge (FCM), Firefox, Windows and Safari.
pub const BROWSER_PUSH_HOSTS: [&str; 4] = [
    "fcm.googleapis.com",
    "*.push.services.mozilla.com",
    "*.notify.windows.com",
    "web.push.apple.com",
];
/// How long a push service keeps a push for an offline browser.
const TTL_SECS: u64 = 3600;
/// How long a VAPID token is valid (at most 24 h by RFC 8292).
const TOKEN_HOURS: i64 = 12;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why an endpoint is refused.
pub fn endpoint_problem(endpoint: &str, extra_hosts: &[String]) -> Option<&'static str> {
    let Ok(url) = Url::parse(endpoint) else {
        return Some("endpoint: an absolute URL of a push service");
    };
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let listed = extra_hosts
        .iter()
        .any(|pattern| host_matches(&pattern.to_ascii_lowercase(), &host));
    // The administrator's outbound list, when set, decides for the browsers' services too.
    let browser = super::net::host_allowed(&host, &BROWSER_PUSH_HOSTS);
    match url.scheme() {
        _ if endpoint.len() > 2048 => Some("endpoint: at most 2048 characters"),
        "https" if browser || listed => None,
        "http" if listed => None,
        _ => Some("endpoint: not a known push service (the server's --push-host lists others)"),
    }
}

/// The server's VAPID key pair.
#[derive(Clone)]
pub struct Vapid {
    key: Arc<EcdsaKeyPair>,
    /// The public key, uncompressed, base64url: the browser's `applicationServerKey`.
    pub public_key: String,
}

impl Vapid {
    /// The stored key pair, made the first time.
    pub fn load(conn: &mut diesel::PgConnection) -> Result<Vapid, db::DbError> {
        let rng = SystemRandom::new();
        let pkcs8 = db::push::vapid_pkcs8(conn, || {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .ok()
                .map(|doc| doc.as_ref().to_vec())
        })?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
            .map_err(|_| db::DbError::Invariant("the stored VAPID key is not a P-256 key"))?;
        let public_key = URL_SAFE_NO_PAD.encode(key.public_key().as_ref());
        Ok(Vapid {
            key: Arc::new(key),
            public_key,
        })
    }

    /// The `Authorization` header for a push to `endpoint`: `vapid t=<JWT>, k=<key>`.
    pub fn authorization(&self, endpoint: &Url, subject: &str) -> Option<String> {
        let audience = endpoint.origin().ascii_serialization();
        let header = URL_SAFE_NO_PAD.encode(json!({"typ": "JWT", "alg": "ES256"}).to_string());
        let exp = (Utc::now() + chrono::Duration::hours(TOKEN_HOURS)).timestamp();
        let claims = URL_SAFE_NO_PAD
            .encode(json!({"aud": audience, "exp": exp, "sub": subject}).to_string());
        let signed = format!("{header}.{claims}");
        let signature = self
            .key
            .sign(&SystemRandom::new(), signed.as_bytes())
            .ok()?;
        Some(format!(
            "vapid t={signed}.{}, k={}",
            URL_SAFE_NO_PAD.encode(signature.as_ref()),
            self.public_key
        ))
    }
}

/// Follows the hub on the arbiter it is spawned on and pushes to whom an event is for.
pub async fn run(pool: DbPool, hub: Hub, vapid: Vapid, extra_hosts: Vec<String>, contact: String) {
    let mut events = hub.subscribe();
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(error = %error, "no web push: cannot build its client");
            return;
        }
    };
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let user = match event.kind.as_str() {
            "mention" => event.user_id,
            // A task given to them (not a change of one, not their own).
            "task"
                if event.payload["status"].is_null() && event.payload["kind"] == "assignment" =>
            {
                event.user_id
            }
            // A dialog redirected to a user: whom it waits for now.
            "message" if event.payload["system_kind"] == "redirected" => {
                let Some(dialog_id) = event.dialog_id else {
                    continue;
                };
                db::run(&pool, move |conn| db::push::responsible_of(conn, dialog_id))
                    .await
                    .ok()
                    .flatten()
            }
            _ => None,
        };
        let Some(user) = user else { continue };
        let Ok(endpoints) = db::run(&pool, move |conn| db::push::endpoints_of(conn, &[user])).await
        else {
            continue;
        };
        for endpoint in endpoints {
            // Listed hosts may change with a restart: an endpoint no longer allowed is skipped.
            if endpoint_problem(&endpoint, &extra_hosts).is_some() {
                continue;
            }
            let (client, pool, vapid, contact) =
                (client.clone(), pool.clone(), vapid.clone(), contact.clone());
            actix::spawn(async move { push(&client, &pool, &vapid, &contact, endpoint).await });
        }
    }
}

/// One push with no payload; a subscription the service no longer knows is forgotten.
async fn push(
    client: &reqwest::Client,
    pool: &DbPool,
    vapid: &Vapid,
    contact: &str,
    endpoint: String,
) {
    let Ok(url) = Url::parse(&endpoint) else {
        return;
    };
    let Some(authorization) = vapid.authorization(&url, contact) else {
        return;
    };
    let sent = client
        .post(url)
        .header("authorization", authorization)
        .header("ttl", TTL_SECS.to_string())
        .header("urgency", "high")
        .header("content-length", "0")
        .send()
        .await;
    match sent {
        Ok(answer) if matches!(answer.status().as_u16(), 404 | 410) => {
            let gone = endpoint.clone();
            if let Err(error) = db::run(pool, move |conn| db::push::forget(conn, &gone)).await {
                tracing::warn!(error = %error, "a gone push subscription was not forgotten");
            }
        }
        Ok(answer) if !answer.status().is_success() => {
            tracing::warn!(
                status = answer.status().as_u16(),
                "a push service refused a push"
            );
        }
        Ok(_) => metrics::counter!("web_pushes_total").increment(1),
        Err(error) => {
            tracing::warn!(error = %super::net::without_url(&error), "a push was not delivered")
        }
    }
}
