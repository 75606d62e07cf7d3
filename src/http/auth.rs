//! Who is calling: the `Caller` extractor (session cookie or `Authorization: Bearer`), the
//! CSRF rule for cookie requests, login rate limits, and the session routes
//! (`POST/DELETE /api/v1/session`, `GET /api/v1/me`).
//!
//! Rules, in the order they are checked:
//! - a request with an `Authorization` header is judged by it alone: it must be
//!   `Bearer <API token>`; otherwise the `dialogi_session` cookie is used;
//! - an unknown, expired or revoked credential, or one of a disabled user, is 401;
//! - a cookie request with an unsafe method needs `X-CSRF-Token` equal to the session's
//!   token, and must not come from another origin (`Origin`, `Sec-Fetch-Site`): else 403;
//! - an API token needs the `read` scope for safe methods and `write` for unsafe ones;
//!   routes may demand more (`admin`, `monitor`): else 403.

use std::net::IpAddr;
use std::num::NonZeroU32;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::Utc;
use futures_util::future::LocalBoxFuture;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;
use super::dto::{LoginRequest, MeResponse, SessionResponse, SetStatusRequest, UserResponse};
use super::known::Identity;
use super::users::{department_response, role_responses, user_response};
use crate::db::{self, tokens, users};
use crate::domain::UserId;
use crate::domain::people::{Scope, UserStatus};
use crate::error::ApiError;
use crate::security;
use crate::services::sessions;

pub const SESSION_COOKIE: &str = "dialogi_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: UserId,
    pub login: String,
    pub is_admin: bool,
    pub credential: Credential,
}

#[derive(Debug, Clone)]
pub enum Credential {
    /// A browser session (cookie); it has every scope.
    Session { token_id: i64, csrf_token: String },
    /// An API token (Bearer) with its scopes.
    ApiToken { token_id: i64, scopes: Vec<Scope> },
}

impl Caller {
    pub fn has_scope(&self, scope: Scope) -> bool {
        match &self.credential {
            Credential::Session { .. } => true,
            Credential::ApiToken { scopes, .. } => scopes.contains(&scope),
        }
    }

    pub fn require_scope(&self, scope: Scope) -> Result<(), ApiError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this API token lacks the `{scope}` scope"
            )))
        }
    }

    /// Administrators only (and, for a token, the `admin` scope).
    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.require_scope(Scope::Admin)?;
        if self.is_admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "only an administrator may do this".into(),
            ))
        }
    }

    pub fn scopes(&self) -> Vec<Scope> {
        match &self.credential {
            Credential::Session { .. } => Scope::ALL.to_vec(),
            Credential::ApiToken { scopes, .. } => scopes.clone(),
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let known = req.extensions().get::<Authenticated>().map(|a| a.0.clone());
        let presented = presented_credential(req);
        let unsafe_method = !is_safe(req.method());
        let csrf_header = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let cross_origin = is_cross_origin(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let caller = identify(known, state, presented).await?;
            match &caller.credential {
                Credential::Session { csrf_token, .. } if unsafe_method => {
                    let matches = csrf_header.as_deref().is_some_and(|given| {
                        security::secrets_equal(given.as_bytes(), csrf_token.as_bytes())
                    });
                    if !matches {
                        return Err(ApiError::Forbidden(
                            "missing or wrong X-CSRF-Token header".into(),
                        ));
                    }
                    if cross_origin {
                        return Err(ApiError::Forbidden(
                            "cross-origin requests are not accepted".into(),
                        ));
                    }
                }
                Credential::Session { .. } => {}
                Credential::ApiToken { .. } => caller.require_scope(if unsafe_method {
                    Scope::Write
                } else {
                    Scope::Read
                })?,
            }
            Ok(caller)
        })
    }
}

/// A caller with the `monitor` scope (dashboards), whatever the method.
#[derive(Debug, Clone)]
pub struct MonitorCaller(pub Caller);

impl FromRequest for MonitorCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let known = req.extensions().get::<Authenticated>().map(|a| a.0.clone());
        let presented = presented_credential(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let caller = identify(known, state, presented).await?;
            caller.require_scope(Scope::Monitor)?;
            Ok(MonitorCaller(caller))
        })
    }
}

/// The request's caller: the one the middleware found, or looked up now.
async fn identify(
    known: Option<Caller>,
    state: Option<web::Data<AppState>>,
    presented: Result<Presented, ApiError>,
) -> Result<Caller, ApiError> {
    match known {
        Some(caller) => Ok(caller),
        None => {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            authenticate(&state, presented?).await
        }
    }
}

/// Who the credential of a request belongs to, found before the handler reads any input
/// (see [`authenticate_early`]); the extractors above then check the rest.
#[derive(Debug, Clone)]
struct Authenticated(Caller);

/// Middleware for routes only administrators may call, before their input is read: a
/// caller who may not act learns nothing about what the route would accept (403, not
/// 422). The handlers check again (`Caller::require_admin`).
pub async fn admin_only(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refused = match req.extensions().get::<Authenticated>() {
        Some(Authenticated(caller)) => caller.require_admin().err(),
        None => Some(ApiError::Unauthorized(
            "sign in, or send an API token".into(),
        )),
    };
    match refused {
        None => Ok(next.call(req).await?.map_into_left_body()),
        Some(error) => {
            let response = actix_web::ResponseError::error_response(&error);
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

/// The user and the credential (session or API token id) that `require_credentials`
/// accepted for this request, if any.
pub fn authenticated_credential(req: &HttpRequest) -> Option<(i64, i64)> {
    req.extensions().get::<Authenticated>().map(|a| {
        let token = match &a.0.credential {
            Credential::Session { token_id, .. } | Credential::ApiToken { token_id, .. } => {
                *token_id
            }
        };
        (a.0.user_id.0, token)
    })
}

/// The user whose credential `require_credentials` accepted for this request, if any.
pub fn authenticated_user(req: &HttpRequest) -> Option<i64> {
    req.extensions()
        .get::<Authenticated>()
        .map(|a| a.0.user_id.0)
}

/// Checks the request's credential before any input is read: an expired or revoked
/// session, a disabled user or an unknown token is refused here (401), and for a method
/// that changes something the CSRF header of a session and the `write` scope of a token
/// too (403), so a caller who may not act never learns whether their input was valid.
pub async fn authenticate_early(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(());
    };
    let caller = authenticate(&state, presented_credential(req)?).await?;
    req.extensions_mut().insert(Authenticated(caller));
    if !is_safe(req.method()) {
        // The extractor's own checks, on the identity just found.
        Caller::from_request(req, &mut Payload::None).await?;
    }
    Ok(())
}

enum Presented {
    Bearer(String),
    Cookie(String),
}

fn presented_credential(req: &HttpRequest) -> Result<Presented, ApiError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
        return match value.split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
            {
                Ok(Presented::Bearer(token.trim().to_owned()))
            }
            _ => Err(ApiError::Unauthorized(
                "the Authorization header must be `Bearer <API token>`".into(),
            )),
        };
    }
    match req.cookie(SESSION_COOKIE) {
        Some(cookie) if !cookie.value().is_empty() => {
            Ok(Presented::Cookie(cookie.value().to_owned()))
        }
        _ => Err(ApiError::Unauthorized(
            "sign in (POST /api/v1/session) or send an API token".into(),
        )),
    }
}

async fn authenticate(state: &AppState, presented: Presented) -> Result<Caller, ApiError> {
    let (secret, expected_kind) = match &presented {
        Presented::Bearer(token) => (token.as_str(), tokens::KIND_API),
        Presented::Cookie(token) => (token.as_str(), tokens::KIND_SESSION),
    };
    let digest = security::token_digest(secret);
    let unknown =
        || ApiError::Unauthorized("the session or token is unknown, expired or revoked".into());
    if let Some(known) = state.known.caller(&digest) {
        let same_kind = matches!(
            (&presented, &known.caller.credential),
            (Presented::Cookie(_), Credential::Session { .. })
                | (Presented::Bearer(_), Credential::ApiToken { .. })
        );
        return if same_kind {
            Ok(known.caller)
        } else {
            Err(unknown())
        };
    }
    let ticket = state.known.ticket();
    let now = Utc::now();
    let key = digest.clone();
    let found = sessions::find_live(&state.pool, key, now).await?;
    let Some((token, user)) = found.filter(|(token, _)| token.kind == expected_kind) else {
        return Err(unknown());
    };
    let expires_at = token.expires_at;
    let credential = match presented {
        Presented::Cookie(_) => Credential::Session {
            token_id: token.id,
            csrf_token: token.csrf_token.unwrap_or_default(),
        },
        Presented::Bearer(_) => Credential::ApiToken {
            token_id: token.id,
            // Scopes were validated when the token was made; an unknown name grants nothing.
            scopes: token.scopes.iter().filter_map(|s| s.parse().ok()).collect(),
        },
    };
    let caller = Caller {
        user_id: UserId(user.id),
        login: user.login,
        is_admin: user.is_admin,
        credential,
    };
    state.known.keep_caller(
        ticket,
        digest,
        Identity {
            caller: caller.clone(),
            expires_at,
        },
    );
    Ok(caller)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the browser says the request comes from a page of another origin.
fn is_cross_origin(req: &HttpRequest) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or(origin);
    !origin_host.eq_ignore_ascii_case(host)
}

/// Login attempts per client IP and per login name (GCRA, in memory, per process).
pub struct LoginLimiter {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_login: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl LoginLimiter {
    /// Keys are forgotten once they are back to full allowance, so memory stays bounded.
    const TIDY_ABOVE: usize = 10_000;

    pub fn new(per_ip_per_minute: u32, per_login_per_minute: u32) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            per_ip: RateLimiter::keyed(quota(per_ip_per_minute)),
            per_login: RateLimiter::keyed(quota(per_login_per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one attempt for this IP and login, or says how many seconds to wait.
    pub fn check(&self, ip: IpAddr, login: &str) -> Result<(), u64> {
        if self.per_login.len() > Self::TIDY_ABOVE {
            self.per_login.retain_recent();
        }
        if self.per_ip.len() > Self::TIDY_ABOVE {
            self.per_ip.retain_recent();
        }
        let wait = |not_until: governor::NotUntil<_>| {
            not_until.wait_time_from(self.clock.now()).as_secs().max(1)
        };
        self.per_ip.check_key(&ip).map_err(wait)?;
        self.per_login
            .check_key(&login.to_lowercase())
            .map_err(wait)?;
        Ok(())
    }
}

fn client_ip(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map(|addr| addr.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// Sign in with a login and password. Answers the user, a CSRF token, and the session
/// cookie (`HttpOnly`, `SameSite=Strict`).
#[utoipa::path(
    tag = "session",
    request_body = LoginRequest,
    responses(
        (status = 200, body = SessionResponse),
        (status = 401, description = "wrong login or password", body = crate::error::ErrorBody),
        (status = 429, description = "too many attempts; see Retry-After", body = crate::error::ErrorBody),
    )
)]
#[post("/session")]
pub async fn create_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { login, password } = body.into_inner();
    let ip = client_ip(&req);
    if is_cross_origin(&req) {
        return Err(ApiError::Forbidden(
            "cross-origin requests are not accepted".into(),
        ));
    }
    state
        .login_limiter
        .check(ip, login.trim())
        .map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })?;

    let ttl = chrono::Duration::hours(i64::from(state.config.session_ttl_hours));
    let login = login.trim().to_owned();
    let lookup = login.clone();
    let user = db::run(&state.pool, move |conn| users::find_by_login(conn, &lookup)).await?;
    // Verify even for an unknown login, so the answer takes as long either way.
    let stored_hash = user.as_ref().map_or_else(
        || security::dummy_password_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let password_ok = crate::telemetry::spawn_blocking_with_span(move || {
        security::verify_password(&password, &stored_hash)
    })
    .await
    .map_err(ApiError::internal)?;
    let user = user.filter(|u| password_ok && !u.disabled);
    let session = match sessions::sign_in(&state.pool, user, login, ip, ttl).await? {
        None => None,
        Some(opened) => {
            let sessions::Opened {
                token,
                csrf_token,
                user,
            } = opened;
            let csrf = csrf_token.clone();
            let me = db::run(&state.pool, move |conn| {
                me_response(conn, user, Scope::ALL.to_vec(), Some(csrf))
            })
            .await?;
            Some((token, csrf_token, me))
        }
    };

    match session {
        None => Err(ApiError::Unauthorized("wrong login or password".into())),
        Some((token, csrf_token, user)) => {
            tracing::info!(user.id = user.user.id, "signed in");
            let cookie = session_cookie(&req, &state, token, ttl);
            Ok(HttpResponse::Ok()
                .cookie(cookie)
                .json(SessionResponse { user, csrf_token }))
        }
    }
}

/// Sign out: the session ends on the server and the cookie is cleared.
#[utoipa::path(
    tag = "session",
    responses(
        (status = 204, description = "signed out"),
        (status = 400, description = "the credential is an API token, not a session", body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody),
    )
)]
#[delete("/session")]
pub async fn delete_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let Credential::Session { token_id, .. } = caller.credential else {
        return Err(ApiError::bad_request(
            "not_a_session",
            "an API token is revoked with DELETE /api/v1/tokens/{id}",
        ));
    };
    sessions::sign_out(&state.pool, token_id, caller.user_id.0).await?;
    state.known.forget_all();
    let mut cookie = session_cookie(&req, &state, String::new(), chrono::Duration::zero());
    cookie.make_removal();
    Ok(HttpResponse::NoContent().cookie(cookie).finish())
}

/// The signed-in user: profile, roles, department and the scopes of this credential.
#[utoipa::path(
    tag = "session",
    responses((status = 200, body = MeResponse), (status = 401, body = crate::error::ErrorBody))
)]
#[get("/me")]
pub async fn get_me(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<web::Json<MeResponse>, ApiError> {
    let scopes = caller.scopes();
    let csrf = match &caller.credential {
        Credential::Session { csrf_token, .. } => Some(csrf_token.clone()),
        Credential::ApiToken { .. } => None,
    };
    let user_id = caller.user_id.0;
    let me = db::run(&state.pool, move |conn| {
        let user = users::find(conn, user_id)?.ok_or(diesel::result::Error::NotFound)?;
        me_response(conn, user, scopes, csrf)
    })
    .await?;
    Ok(web::Json(me))
}

/// Sets the caller's own status (R46): `online` (at work) or `away`. Colleagues see it
/// beside the name where they choose someone (a redirect, a task); a later distribution
/// of new dialogs may skip whoever is away.
#[utoipa::path(
    tag = "session",
    request_body = SetStatusRequest,
    responses(
        (status = 200, body = UserResponse),
        (status = 401, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
    )
)]
#[put("/me/status")]
pub async fn set_my_status(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<SetStatusRequest>,
) -> Result<web::Json<UserResponse>, ApiError> {
    let status = UserStatus::parse(&body.status)?;
    let user_id = caller.user_id.0;
    let (user, role_ids) = crate::services::people::set_status(&state.pool, user_id, status)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(web::Json(user_response(user, role_ids)))
}

fn me_response(
    conn: &mut diesel::PgConnection,
    user: users::UserRow,
    scopes: Vec<Scope>,
    csrf_token: Option<String>,
) -> Result<MeResponse, db::DbError> {
    let role_ids: Vec<i64> = users::roles_of(conn, &[user.id])?
        .into_iter()
        .map(|(_, role_id)| role_id)
        .collect();
    let roles = role_responses(conn, &role_ids)?;
    let department = match user.department_id {
        Some(id) => department_response(conn, id)?,
        None => None,
    };
    Ok(MeResponse {
        user: user_response(user, role_ids),
        roles,
        department,
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        csrf_token,
    })
}

fn session_cookie(
    req: &HttpRequest,
    state: &AppState,
    value: String,
    ttl: chrono::Duration,
) -> Cookie<'static> {
    let secure = state.config.secure_cookies || req.connection_info().scheme() == "https";
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(CookieDuration::seconds(ttl.num_seconds()))
        .finish()
}

/// Shared by handlers that need to know whether the caller is this user.
pub fn is_self(caller: &Caller, user_id: i64) -> bool {
    caller.user_id.0 == user_id
}
