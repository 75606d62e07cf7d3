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

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use tokio::sync::OnceCell;

use super::AppState;
use crate::channels::AnyChannel;
use crate::db;
use crate::db::widget as rows;
use crate::domain::widget as rules;
use crate::error::ApiError;

mod messages;
mod stream;
mod visitors;

use self::messages::{file, history, send};
use self::stream::events;
use self::visitors::new_visitor;

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
    const BODY: &[u8] = include_bytes!("../../../web/widget.js");
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
