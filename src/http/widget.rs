//! The website chat widget's public routes (R40), for visitors on the company's own site:
//! `GET /widget.js` (the widget), and under `/widget/{widget id}`:
//!
//! - `GET config` — greeting, colour, consent text, whether a visitor introduces
//!   themselves first, and whether an operator is online (else the offline form);
//! - `POST visitors` — a new visitor: a token (a random id signed with the installation's
//!   secret, bound to the account) the widget keeps; with the pre-chat form's name,
//!   phone or e-mail and consent, and the page, referrer and browser they came from;
//! - `GET messages`, `POST messages` (with `Idempotency-Key`: a retry is one message) —
//!   the visitor's conversation, and a new message with up to 5 files;
//! - `GET events` — the visitor's live stream (SSE, `Last-Event-ID` resumes): new
//!   messages of their dialogs and "the operator is typing";
//! - `GET files/{n}/{k}` — the k-th file of their n-th message.
//!
//! Every call but the script answers only the account's allowed origins (CORS, `Origin`
//! checked; a page elsewhere gets 403 and no CORS headers), and every call with a token
//! sees that visitor's messages only. Messages are numbered per visitor (1, 2, …): no
//! internal id, no other visitor and no operator beyond a first name leaves here.
//! Visitors are rate-limited per address (`--widget-requests-per-minute`) and per
//! visitor, and their streams are capped apart from the operators'
//! (`--max-visitor-streams`).

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, Responder, web};
use actix_web_lab::sse;
use chrono::Utc;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{OnceCell, broadcast};

use super::AppState;
use crate::actors::Inbound;
use crate::actors::Published;
use crate::actors::presence::Notice;
use crate::channels::{AnyChannel, Delivery, Update};
use crate::db::clients::Sender;
use crate::db::dialogs::NewAttachment;
use crate::db::widget::{self as rows, Visit, VisitorMessage};
use crate::db::{self, DbError};
use crate::domain::widget as rules;
use crate::error::ApiError;

/// A visitor's message body: text and up to 5 files of 10 MB in base64.
const MAX_MESSAGE_BODY: usize = 70 * 1024 * 1024;
const MAX_TEXT: usize = 4096;
const MAX_NAME: usize = 100;

/// What the widget's routes keep between requests: the installation's secret (read once)
/// and the rate limits.
pub struct WidgetState {
    secret: OnceCell<Arc<[u8]>>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    per_visitor: DefaultKeyedRateLimiter<String>,
    /// Visitors' streams open now, and how many may be.
    streams: Arc<std::sync::atomic::AtomicUsize>,
    max_streams: usize,
}

impl WidgetState {
    /// `per_address`: requests a minute from one address (`--widget-requests-per-minute`);
    /// `max_streams`: visitors' streams at once (`--max-visitor-streams`).
    pub fn new(per_address: u32, max_streams: usize) -> Self {
        let minute = |n: u32| {
            Quota::per_minute(std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN))
        };
        Self {
            secret: OnceCell::new(),
            // Loading the widget, history and new visitors from one address.
            per_address: RateLimiter::keyed(minute(per_address)),
            // A visitor's own messages.
            per_visitor: RateLimiter::keyed(minute(30)),
            streams: Arc::default(),
            max_streams,
        }
    }
}

/// One visitor's stream counted while it is open.
struct StreamSlot(Arc<std::sync::atomic::AtomicUsize>);

impl StreamSlot {
    fn take(state: &WidgetState) -> Option<StreamSlot> {
        use std::sync::atomic::Ordering;
        let open = state.streams.fetch_add(1, Ordering::AcqRel);
        if open >= state.max_streams {
            state.streams.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(StreamSlot(Arc::clone(&state.streams)))
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// The widget itself, for `<script src=".../widget.js" data-account="…" async>`.
pub async fn script(req: HttpRequest) -> HttpResponse {
    const BODY: &[u8] = include_bytes!("../../web/widget.js");
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, "text/javascript; charset=utf-8"))
        // Any site may load it; it talks only to the origins its account allows.
        .insert_header(("cross-origin-resource-policy", "cross-origin"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"));
    let _ = req;
    response.body(BODY)
}

/// The demo company's site (only where the demo runs): a page with the website chat on
/// it, to try the widget as a visitor while answering as an operator.
pub async fn demo_site(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let account = db::run(&state.pool, rows::demo_website)
        .await?
        .ok_or(ApiError::NotFound("demo site"))?;
    let widget_id = rules::widget_id(&secret(&state).await?, account);
    let page = format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Кофейня «Зерно» — демо-сайт</title></head>\
         <body style=\"font-family: Georgia, serif; max-width: 40em; margin: 3em auto; padding: 0 1em\">\
         <h1>Кофейня «Зерно»</h1><p>Это страница демо-компании. Чат в правом нижнем углу — \
         виджет Dialogi: напишите в нём, и сообщение появится у операторов во вкладке рабочего места.</p>\
         <script src=\"/widget.js\" data-account=\"{widget_id}\" async></script></body></html>"
    );
    // The page runs the widget's script from this server: a policy of its own.
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'",
        ))
        .body(page))
}

/// The routes under `/widget/{widget id}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/widget/{wid}")
            .wrap(actix_web::middleware::from_fn(with_cors))
            .route("/config", web::get().to(config))
            .route("/visitors", web::post().to(new_visitor))
            .route("/messages", web::get().to(history))
            .route("/messages", web::post().to(send))
            .route("/events", web::get().to(events))
            .route("/files/{n}/{k}", web::get().to(file))
            .default_service(web::to(preflight)),
    );
}

/// A website account the request may use: its id, its running channel, and the CORS
/// headers for its answer.
struct Site {
    account_id: i64,
    channel: Arc<AnyChannel>,
    origin: Option<String>,
}

impl Site {
    fn web(&self) -> &crate::channels::web::Web {
        match &*self.channel {
            AnyChannel::Web(web) => web,
            // `site` only finds running website channels.
            _ => unreachable!("a website account's channel is a website chat"),
        }
    }

    fn answer(&self, status: StatusCode) -> actix_web::HttpResponseBuilder {
        let mut response = HttpResponse::build(status);
        cors(&mut response, self.origin.as_deref());
        response
    }
}

fn cors(response: &mut actix_web::HttpResponseBuilder, origin: Option<&str>) {
    if let Some(origin) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        response
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((header::VARY, "Origin"));
    }
}

fn origin_of(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn address_of(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip())
}

async fn secret(state: &AppState) -> Result<Arc<[u8]>, ApiError> {
    let pool = state.pool.clone();
    state
        .widget
        .secret
        .get_or_try_init(|| async move {
            let secret = db::run(&pool, db::settings::installation_secret).await?;
            Ok::<_, ApiError>(Arc::from(secret))
        })
        .await
        .cloned()
}

/// The website account behind a widget id, if it runs and the request's origin is one
/// it allows (a request without `Origin` is not a browser's: CORS does not apply).
async fn site(state: &AppState, req: &HttpRequest) -> Result<Site, ApiError> {
    if state
        .widget
        .per_address
        .check_key(&address_of(req))
        .is_err()
    {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: 10,
        });
    }
    let wid = req.match_info().get("wid").unwrap_or_default().to_owned();
    let secret = secret(state).await?;
    let accounts = db::run(&state.pool, rows::website_accounts).await?;
    let account_id = accounts
        .into_iter()
        .find(|id| rules::widget_id(&secret, *id) == wid)
        .ok_or(ApiError::NotFound("widget"))?;
    let channel = state
        .channels
        .running_of_kind(account_id, "web")
        .ok_or(ApiError::NotFound("widget"))?;
    let origin = origin_of(req);
    if let (Some(origin), AnyChannel::Web(web)) = (&origin, &*channel)
        && !rules::origin_allowed(web.origins(), origin)
    {
        return Err(ApiError::Forbidden(
            "this page's origin may not use the widget".into(),
        ));
    }
    if let Some(origin) = &origin {
        req.extensions_mut().insert(AllowedOrigin(origin.clone()));
    }
    Ok(Site {
        account_id,
        channel,
        origin,
    })
}

/// Put into a request's extensions once its `Origin` is known to be allowed: every
/// answer to it, errors too, carries the CORS header, so the widget reads why.
#[derive(Clone)]
struct AllowedOrigin(String);

/// Middleware of the widget's routes: the CORS header on every answer to an allowed
/// origin (a handler's own answers have it; errors get it here).
pub async fn with_cors(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let mut response = next.call(req).await?.map_into_boxed_body();
    let allowed = response
        .request()
        .extensions()
        .get::<AllowedOrigin>()
        .cloned();
    if let Some(AllowedOrigin(origin)) = allowed
        && !response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        && let Ok(value) = HeaderValue::from_str(&origin)
    {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response)
}

/// The visitor a request's `Authorization: Bearer <token>` stands for.
async fn visitor(state: &AppState, req: &HttpRequest, site: &Site) -> Result<String, ApiError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let secret = secret(state).await?;
    rules::visitor_of(&secret, site.account_id, token.trim()).ok_or_else(|| {
        ApiError::Unauthorized("the visitor's token is missing or not this widget's".into())
    })
}

/// CORS preflight (and anything else unknown under the widget): the allowed origins get
/// the methods and headers the widget uses.
async fn preflight(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.method() != Method::OPTIONS {
        return Err(ApiError::NotFound("widget route"));
    }
    let site = site(&state, &req).await?;
    Ok(site
        .answer(StatusCode::NO_CONTENT)
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "authorization, content-type, idempotency-key, last-event-id",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .finish())
}

#[derive(Serialize)]
struct ConfigBody<'a> {
    greeting: Option<&'a str>,
    color: &'a str,
    consent_text: Option<&'a str>,
    prechat: bool,
    /// Whether an operator who may answer is online now.
    online: bool,
}

async fn config(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let site = site(&state, &req).await?;
    let account_id = site.account_id;
    let who = db::run(&state.pool, move |conn| {
        db::notes::viewers(conn, account_id)
    })
    .await?;
    let may_answer: HashSet<i64> = who.iter().map(|v| v.id).collect();
    let online = state.hub.presence().operators().iter().any(|o| {
        may_answer.contains(&o.user_id)
            && o.availability == crate::domain::presence::Availability::Online
    });
    let web = site.web();
    Ok(site.answer(StatusCode::OK).json(ConfigBody {
        greeting: web.greeting(),
        color: web.color(),
        consent_text: web.consent_text(),
        prechat: web.prechat(),
        online,
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VisitorRequest {
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

fn clipped(value: Option<String>, most: usize) -> Option<String> {
    value
        .map(|v| crate::domain::text::file_name(v.trim()))
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(most).collect())
}

/// A page address as the widget reports it: http(s) only, at most 2048 characters.
fn page(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_owned())
        .filter(|v| v.starts_with("https://") || v.starts_with("http://"))
        .map(|v| v.chars().take(2048).collect())
}

async fn new_visitor(
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
        db::run(&state.pool, move |conn| {
            let interlocutor_id = known_visitor(conn, account_id, &sender)?;
            rows::note_visit(
                conn,
                &Visit {
                    interlocutor_id,
                    ..pending.visit
                },
            )
        })
        .await?;
    }
    Ok(site
        .answer(StatusCode::CREATED)
        .json(json!({ "token": token })))
}

struct PendingVisit {
    name: Option<String>,
    visit: Visit,
}

/// The visitor's interlocutor on the account, made (a prospect) when there is none yet.
fn known_visitor(
    conn: &mut diesel::PgConnection,
    account_id: i64,
    sender: &Sender,
) -> Result<i64, DbError> {
    if let Some(found) = db::clients::find_interlocutor(conn, account_id, &sender.external_id)? {
        return Ok(found.id);
    }
    match db::clients::create_interlocutor(conn, account_id, sender, false, Utc::now()) {
        Ok(created) => Ok(created.id),
        Err(DbError::VersionConflict) => {
            db::clients::find_interlocutor(conn, account_id, &sender.external_id)?
                .map(|found| found.id)
                .ok_or(DbError::Invariant("a visitor vanished"))
        }
        Err(other) => Err(other),
    }
}

fn sender_of(visitor_id: &str, name: Option<String>) -> Sender {
    Sender {
        external_id: visitor_id.to_owned(),
        display_name: name.unwrap_or_else(|| rules::default_visitor_name(visitor_id)),
        username: None,
    }
}

/// A message as the visitor sees it.
#[derive(Serialize)]
struct MessageBody {
    /// The message's number in the visitor's conversation.
    id: i64,
    /// `visitor` or `operator`.
    from: &'static str,
    text: String,
    at: chrono::DateTime<Utc>,
    /// The operator's first name.
    operator: Option<String>,
    deleted: bool,
    files: Vec<FileBody>,
}

#[derive(Serialize)]
struct FileBody {
    name: String,
    /// `image` or `file`.
    kind: String,
    size: Option<i64>,
}

fn message_body(number: i64, message: VisitorMessage) -> MessageBody {
    MessageBody {
        id: number,
        from: if message.inbound {
            "visitor"
        } else {
            "operator"
        },
        text: message.text,
        at: message.created_at,
        operator: message.operator,
        deleted: message.deleted,
        files: message
            .files
            .into_iter()
            .map(|(_, kind, name, size)| FileBody {
                name,
                kind: if kind == "image" { kind } else { "file".into() },
                size,
            })
            .collect(),
    }
}

/// The visitor's interlocutor, once they have written or introduced themselves.
async fn interlocutor_of(
    state: &AppState,
    site: &Site,
    visitor_id: &str,
) -> Result<Option<i64>, ApiError> {
    let (account_id, external) = (site.account_id, visitor_id.to_owned());
    Ok(db::run(&state.pool, move |conn| {
        db::clients::find_interlocutor(conn, account_id, &external)
    })
    .await?
    .map(|found| found.id))
}

async fn history(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let site = site(&state, &req).await?;
    let visitor_id = visitor(&state, &req, &site).await?;
    let Some(interlocutor) = interlocutor_of(&state, &site, &visitor_id).await? else {
        return Ok(site.answer(StatusCode::OK).json(json!({ "messages": [] })));
    };
    let messages = db::run(&state.pool, move |conn| {
        rows::visitor_messages(conn, interlocutor, 0)
    })
    .await?;
    let body: Vec<MessageBody> = messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| message_body(i as i64 + 1, m))
        .collect();
    Ok(site
        .answer(StatusCode::OK)
        .json(json!({ "messages": body })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    #[serde(default)]
    text: String,
    #[serde(default)]
    attachments: Vec<super::dto::UploadBody>,
    #[serde(default)]
    page_url: Option<String>,
    #[serde(default)]
    referrer: Option<String>,
}

async fn send(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let site = site(&state, &req).await?;
    let visitor_id = visitor(&state, &req, &site).await?;
    if state.widget.per_visitor.check_key(&visitor_id).is_err() {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: 10,
        });
    }
    // One message per key: a retry of the same send is the same message.
    let key = req
        .headers()
        .get(super::idempotency::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 100 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "idempotency_key_required",
                "send each message with an Idempotency-Key (1-100 visible characters)",
            )
        })?
        .to_owned();
    let body: SendRequest = super::json_body(&req, payload, MAX_MESSAGE_BODY).await?;
    let text = body.text.trim().to_owned();
    if text.is_empty() && body.attachments.is_empty() {
        return Err(ApiError::invalid(
            "text",
            "text: write something or attach a file",
        ));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(ApiError::invalid(
            "text",
            format!("text: at most {MAX_TEXT} characters"),
        ));
    }
    let uploads = super::dialog_actions::decode_uploads(body.attachments)?;
    let channel_message_id = format!("{visitor_id}:{key}");
    // A retry whose first try was stored: the same message, nothing stored again.
    if let Some(found) = stored_message(&state, &site, &visitor_id, &channel_message_id).await? {
        return Ok(site.answer(StatusCode::OK).json(found));
    }
    let mut attachments = Vec::with_capacity(uploads.len());
    for (upload, bytes) in uploads {
        let name = match state.channels.store_upload(bytes).await {
            Ok(name) => name,
            Err(error) => {
                let stored: Vec<String> = attachments
                    .iter()
                    .filter_map(|a: &NewAttachment| a.storage_path.clone())
                    .collect();
                state.channels.remove_uploads(&stored).await;
                return Err(ApiError::StorageFull(error));
            }
        };
        attachments.push(NewAttachment {
            kind: upload.kind,
            file_name: upload.file_name,
            mime_type: upload.mime_type,
            size_bytes: Some(upload.size),
            channel_file_id: None,
            url: None,
            storage_path: Some(name),
        });
    }
    let account_id = site.account_id;
    // The name the visitor gave (kept on their interlocutor), else «Посетитель …».
    let known_name = {
        let external = visitor_id.clone();
        db::run(&state.pool, move |conn| {
            db::clients::find_interlocutor(conn, account_id, &external)
        })
        .await?
        .map(|found| found.display_name)
    };
    let inbound = Inbound {
        sender: sender_of(&visitor_id, known_name),
        channel_message_id: channel_message_id.clone(),
        text,
        sent_at: Some(Utc::now()),
        attachments,
        author: None,
        extras: Box::default(),
    };
    let delivery = Delivery {
        receipt: None,
        updates: vec![Update::Message(inbound)],
        answer: String::new(),
        raw: String::new(),
    };
    if let Err(error) = state
        .channels
        .apply(account_id, &site.channel, delivery)
        .await
    {
        tracing::warn!(account = account_id, error = %error, "a visitor's message was not stored");
        return Err(ApiError::Unavailable(
            "the message was not stored; send it again".into(),
        ));
    }
    // Where they are now (what they told at `POST visitors` stays).
    let seen = Visit {
        page_url: page(body.page_url),
        referrer: page(body.referrer),
        user_agent: clipped(
            req.headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            512,
        ),
        ..Visit::default()
    };
    let external = visitor_id.clone();
    db::run(&state.pool, move |conn| {
        if let Some(found) = db::clients::find_interlocutor(conn, account_id, &external)? {
            rows::note_visit(
                conn,
                &Visit {
                    interlocutor_id: found.id,
                    ..seen
                },
            )?;
        }
        Ok(())
    })
    .await?;
    let stored = stored_message(&state, &site, &visitor_id, &channel_message_id)
        .await?
        .ok_or_else(|| ApiError::internal("a visitor's message vanished"))?;
    Ok(site.answer(StatusCode::CREATED).json(stored))
}

/// The visitor's message stored under this channel id, as the visitor sees it.
async fn stored_message(
    state: &AppState,
    site: &Site,
    visitor_id: &str,
    channel_message_id: &str,
) -> Result<Option<MessageBody>, ApiError> {
    let Some(interlocutor) = interlocutor_of(state, site, visitor_id).await? else {
        return Ok(None);
    };
    let (account_id, key) = (site.account_id, channel_message_id.to_owned());
    Ok(db::run(&state.pool, move |conn| {
        use crate::db::schema::messages;
        use diesel::prelude::*;
        let found: Option<i64> = messages::table
            .filter(messages::account_id.eq(account_id))
            .filter(messages::channel_message_id.eq(&key))
            .select(messages::id)
            .first(conn)
            .optional()?;
        let Some(id) = found else {
            return Ok(None);
        };
        let number = rows::visitor_position(conn, interlocutor, id)?;
        let message = rows::visitor_messages(conn, interlocutor, id - 1)?
            .into_iter()
            .find(|m| m.message_id == id);
        Ok(message.map(|m| message_body(number, m)))
    })
    .await?)
}

/// The k-th file (from 1) of the visitor's n-th message.
async fn file(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i64, usize)>,
) -> Result<HttpResponse, ApiError> {
    let (_, number, k) = path.into_inner();
    let site = site(&state, &req).await?;
    let visitor_id = visitor(&state, &req, &site).await?;
    let interlocutor = interlocutor_of(&state, &site, &visitor_id)
        .await?
        .ok_or(ApiError::NotFound("file"))?;
    let messages = db::run(&state.pool, move |conn| {
        rows::visitor_messages(conn, interlocutor, 0)
    })
    .await?;
    let (attachment_id, _, name, _) = usize::try_from(number - 1)
        .ok()
        .and_then(|i| messages.into_iter().nth(i))
        .and_then(|m| k.checked_sub(1).and_then(|k| m.files.into_iter().nth(k)))
        .ok_or(ApiError::NotFound("file"))?;
    let (path, _, _) = state
        .channels
        .stored_media(attachment_id)
        .await
        .map_err(|error| ApiError::BadGateway(format!("the file cannot be read: {error}")))?
        .ok_or(ApiError::NotFound("file"))?;
    let bytes = web::block(move || std::fs::read(path))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| ApiError::Internal(e.into()))?;
    let served = super::attachments::served(bytes, &name, "file");
    let mut response = served;
    if let Some(origin) = site
        .origin
        .as_deref()
        .and_then(|o| HeaderValue::from_str(o).ok())
    {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response)
}

/// The visitor's live stream: `message` frames (their id the message's number, so
/// `Last-Event-ID` resumes after it) and `typing` frames while an operator types.
async fn events(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let site = site(&state, &req).await?;
    let visitor_id = visitor(&state, &req, &site).await?;
    let after: i64 = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n >= 0)
        .unwrap_or(0);
    let slot = StreamSlot::take(&state.widget).ok_or_else(|| {
        ApiError::Unavailable("too many visitors' streams on this server; retry shortly".into())
    })?;
    // Subscribe before reading the backlog, so nothing falls between the two.
    let live = state.hub.subscribe();
    let presence = state.hub.presence().subscribe();
    // The stream follows its visitor's dialogs by their interlocutor; a visitor who has
    // not written (nor introduced themselves) has none yet: 409 until the first message.
    let interlocutor = interlocutor_of(&state, &site, &visitor_id)
        .await?
        .ok_or_else(|| ApiError::Conflict {
            code: "no_conversation",
            message: "no conversation yet: the stream opens after the first message".into(),
        })?;
    let (backlog, read_mark, dialogs) = db::run(&state.pool, move |conn| {
        let dialogs = rows::visitor_dialogs(conn, interlocutor)?;
        Ok((
            rows::visitor_messages(conn, interlocutor, 0)?,
            rows::read_mark(conn, &dialogs)?,
            dialogs,
        ))
    })
    .await?;
    let mut follow = VisitorStream {
        state: state.clone(),
        account_id: site.account_id,
        interlocutor,
        dialogs: dialogs.into_iter().collect(),
        count: 0,
        last_message_id: 0,
        live,
        presence,
        pending: std::collections::VecDeque::new(),
        theirs: Vec::new(),
        read: 0,
        _slot: slot,
    };
    for message in backlog {
        if follow.count >= after {
            follow.take(message);
        } else {
            follow.count += 1;
            follow.last_message_id = message.message_id;
            if message.inbound {
                follow.theirs.push((message.message_id, follow.count));
            }
        }
    }
    // Where the operators' reading stands now.
    if let Some(mark) = read_mark {
        follow.read_up_to(mark);
    }
    let stream = futures_util::stream::unfold(follow, |mut follow| async move {
        let event = follow.next_event().await?;
        Some((event, follow))
    });
    Ok(sse::Sse::from_infallible_stream(stream)
        .with_retry_duration(Duration::from_secs(3))
        .with_keep_alive(Duration::from_secs(15))
        .customize()
        .insert_header(("x-accel-buffering", "no"))
        .respond_to(&req)
        .map_into_boxed_body())
}

fn message_frame(number: i64, message: VisitorMessage) -> sse::Event {
    let data = sse::Data::new_json(message_body(number, message))
        .unwrap_or_else(|_| sse::Data::new("{}"))
        .event("message")
        .id(number.to_string());
    sse::Event::Data(data)
}

struct VisitorStream {
    state: web::Data<AppState>,
    account_id: i64,
    interlocutor: i64,
    dialogs: HashSet<i64>,
    /// How many of the visitor's messages the stream has counted.
    count: i64,
    last_message_id: i64,
    live: broadcast::Receiver<Arc<Published>>,
    presence: broadcast::Receiver<Arc<Notice>>,
    pending: std::collections::VecDeque<sse::Event>,
    /// The visitor's own messages: (message id, their number), in order.
    theirs: Vec<(i64, i64)>,
    /// Up to which of their messages an operator has read (told to the widget).
    read: i64,
    _slot: StreamSlot,
}

impl VisitorStream {
    async fn next_event(&mut self) -> Option<sse::Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            tokio::select! {
                received = self.live.recv() => match received {
                    Ok(event) => self.event(&event).await?,
                    // Fell behind: the widget reconnects and resumes from its last id.
                    Err(_) => return None,
                },
                notice = self.presence.recv() => match notice {
                    Ok(notice) => {
                        let change = &notice.change;
                        if self.dialogs.contains(&change.dialog_id) {
                            let typing = change.activity == Some(crate::domain::presence::Activity::Typing);
                            let data = sse::Data::new_json(json!({ "typing": typing }))
                                .unwrap_or_else(|_| sse::Data::new("{}"))
                                .event("typing");
                            self.pending.push_back(sse::Event::Data(data));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    }

    /// One event of the log: a new message of the visitor's (read from the database,
    /// numbered), or a new dialog of theirs; `None` ends the stream.
    async fn event(&mut self, event: &Published) -> Option<()> {
        let event = &event.event;
        if event.account_id != Some(self.account_id) {
            return Some(());
        }
        let dialog = event.dialog_id?;
        let known = self.dialogs.contains(&dialog);
        let fresh = match event.kind.as_str() {
            "message" if known => {
                matches!(event.payload["direction"].as_str(), Some("in" | "out"))
            }
            // A dialog of this visitor's that the stream did not know (their first
            // message, or a new dialog after a closed one): its messages so far.
            "dialog" if !known => {
                if event.payload["interlocutor_id"].as_i64() != Some(self.interlocutor) {
                    return Some(());
                }
                self.dialogs.insert(dialog);
                true
            }
            // An operator read the dialog: the visitor's messages up to there are read.
            "read" if known => {
                if let Some(mark) = event.payload["last_read_message_id"].as_i64() {
                    self.read_up_to(mark);
                }
                false
            }
            _ => false,
        };
        if !fresh {
            return Some(());
        }
        let (interlocutor, after) = (self.interlocutor, self.last_message_id);
        let new = db::run(&self.state.pool, move |conn| {
            rows::visitor_messages(conn, interlocutor, after)
        })
        .await
        .ok()?;
        for message in new {
            self.take(message);
        }
        Some(())
    }

    /// Counts a message of the visitor's conversation and queues its frame.
    fn take(&mut self, message: VisitorMessage) {
        self.count += 1;
        self.last_message_id = message.message_id;
        if message.inbound {
            self.theirs.push((message.message_id, self.count));
        }
        self.pending.push_back(message_frame(self.count, message));
    }

    /// A `read` frame when an operator's read mark (a message id) passes more of the
    /// visitor's messages: `up_to` their number.
    fn read_up_to(&mut self, mark: i64) {
        let up_to = self
            .theirs
            .iter()
            .take_while(|(id, _)| *id <= mark)
            .map(|(_, number)| *number)
            .last()
            .unwrap_or(0);
        if up_to > self.read {
            self.read = up_to;
            let data = sse::Data::new_json(json!({ "up_to": up_to }))
                .unwrap_or_else(|_| sse::Data::new("{}"))
                .event("read");
            self.pending.push_back(sse::Event::Data(data));
        }
    }
}
