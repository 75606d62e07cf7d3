//! `POST visitors`: a new visitor's token, and what they told us about themselves.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::{MAX_NAME, secret, site};
use crate::db::clients::Sender;
use crate::db::widget::Visit;
use crate::domain::widget as rules;
use crate::error::ApiError;
use crate::http::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VisitorRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    email: Option<String>,
    /// The visitor agreed to the processing of their personal data (the account's text).
    #[serde(default)]
    consent: bool,
    #[serde(default)]
    page_url: Option<String>,
    #[serde(default)]
    referrer: Option<String>,
}

pub(super) fn clipped(value: Option<String>, most: usize) -> Option<String> {
    value
        .map(|v| crate::domain::text::file_name(v.trim()))
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(most).collect())
}

/// A page address as the widget reports it: http(s) only, at most 2048 characters.
pub(super) fn page(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_owned())
        .filter(|v| v.starts_with("https://") || v.starts_with("http://"))
        .map(|v| v.chars().take(2048).collect())
}

pub(super) async fn new_visitor(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<VisitorRequest>,
) -> Result<HttpResponse, ApiError> {
    let site = site(&state, &req).await?;
    let body = body.into_inner();
    let web = site.web();
    let phone =
        match body.phone.as_deref().map(str::trim) {
            Some(raw) if !raw.is_empty() => Some(rules::phone(raw).ok_or_else(|| {
                ApiError::invalid("phone", "phone: digits, like +7 999 000-11-22")
            })?),
            _ => None,
        };
    let email = match body.email.as_deref().map(str::trim) {
        Some(raw) if !raw.is_empty() => Some(
            rules::email(raw)
                .ok_or_else(|| ApiError::invalid("email", "email: like name@example.ru"))?,
        ),
        _ => None,
    };
    let name = clipped(body.name, MAX_NAME);
    if web.prechat() && (name.is_none() || (phone.is_none() && email.is_none())) {
        return Err(ApiError::invalid(
            "name",
            "name and a phone or an e-mail: this site asks who writes",
        ));
    }
    if web.consent_text().is_some()
        && !body.consent
        && (name.is_some() || phone.is_some() || email.is_some())
    {
        return Err(ApiError::invalid(
            "consent",
            "consent: agree to the processing of personal data to leave a name or contact",
        ));
    }
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| ApiError::internal(e.to_string()))?;
    let visitor_id = hex::encode(random);
    let secret = secret(&state).await?;
    let token = rules::visitor_token(&secret, site.account_id, &visitor_id);
    // The visitor becomes an interlocutor (and a prospect) when they first write; what
    // they told us waits for that in the token's stead: it is kept now, by visitor id.
    let pending = PendingVisit {
        name,
        visit: Visit {
            page_url: page(body.page_url),
            referrer: page(body.referrer),
            user_agent: clipped(
                req.headers()
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                512,
            ),
            phone,
            email,
            consent_at: body.consent.then(Utc::now),
            consent_text: body
                .consent
                .then(|| web.consent_text().map(str::to_owned))
                .flatten(),
            ..Visit::default()
        },
    };
    // A visitor who told us nothing becomes an interlocutor (and a prospect) with their
    // first message; one who introduced themselves, now, with what they told us.
    let introduced =
        pending.name.is_some() || pending.visit.phone.is_some() || pending.visit.email.is_some();
    if introduced {
        let account_id = site.account_id;
        let sender = sender_of(&visitor_id, pending.name.clone());
        crate::services::widget::introduce(&state.pool, account_id, sender, pending.visit).await?;
    }
    Ok(site
        .answer(StatusCode::CREATED)
        .json(json!({ "token": token })))
}

struct PendingVisit {
    name: Option<String>,
    visit: Visit,
}

pub(super) fn sender_of(visitor_id: &str, name: Option<String>) -> Sender {
    Sender {
        external_id: visitor_id.to_owned(),
        display_name: name.unwrap_or_else(|| rules::default_visitor_name(visitor_id)),
        username: None,
    }
}
