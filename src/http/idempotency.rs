//! `Idempotency-Key` on unsafe requests (API.md): a retry with the same key returns the
//! first answer and does nothing twice.
//!
//! Per credential (the session or API token that sent it) and key, the first request's
//! answer is kept for a day with a digest of the request (method, path, query and body):
//! - the same key and the same request replays the kept answer (`Idempotent-Replayed:
//!   true`) without running anything;
//! - the same key with another request is refused (422), so a client bug that reuses a
//!   key cannot silently return an unrelated answer;
//! - while the first request with a key runs, another one with it is refused (409, with
//!   `Retry-After: 1`) instead of running twice. A claim left by a process that died is
//!   taken over after a minute;
//! - a 5xx answer is not kept: the request may not have happened, so a retry runs it;
//! - an answer that holds a secret shown once (a new API token's) is never kept: its
//!   retry is refused (409 `idempotent_answer_not_kept`), the secret stays unreplayable;
//! - after a day the key may be used afresh.
//!
//! The table and its rules are `db::idempotency`'s; this is the middleware around it.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use sha2::{Digest, Sha256};

use super::AppState;
use crate::db::{self, idempotency as store, idempotency::Claim};
use crate::error::ApiError;

pub const HEADER: &str = "Idempotency-Key";
const REPLAYED: &str = "Idempotent-Replayed";
const MAX_KEY_CHARS: usize = 200;

/// Put into a response's extensions by a route whose answer holds a secret shown once:
/// the answer is not kept for a retry.
#[derive(Debug, Clone, Copy)]
pub struct HoldsSecret;

/// Middleware for the `/api/v1` scope, inside the credential check (it needs the caller).
pub async fn keyed(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let is_unsafe = !matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    let key = is_unsafe
        .then(|| req.headers().get(HEADER).cloned())
        .flatten();
    let Some(key) = key else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let credential = super::auth::authenticated_credential(req.request());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(user), Some(state)) = (credential, state) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let key = match valid_key(&key) {
        Ok(key) => key,
        Err(error) => return Ok(refuse(req, error)),
    };
    if let Err(error) = super::dialog_actions::may_reply(&state, req.request()).await {
        return Ok(refuse(req, error));
    }
    if let Err(error) = super::quick_replies::may_add_file(&state, req.request()).await {
        return Ok(refuse(req, error));
    }
    let body = match read_body(&mut req).await {
        Ok(body) => body,
        Err(error) => return Ok(refuse(req, error)),
    };
    let digest = request_digest(&req, &body);
    req.set_payload(body.into());

    let claim = {
        let (key, digest) = (key.clone(), digest.clone());
        db::run(&state.pool, move |conn| {
            store::claim(conn, user, &key, &digest)
        })
        .await
    };
    match claim {
        Ok(Claim::Run) => {}
        Ok(Claim::Replay { status, body }) => {
            let mut response =
                HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
            response.insert_header((REPLAYED, "true"));
            let response = match body {
                serde_json::Value::Null => response.finish(),
                body => response.json(body),
            };
            return Ok(req.into_response(response));
        }
        Ok(Claim::NotKept) => {
            return Ok(refuse(
                req,
                ApiError::Conflict {
                    code: "idempotent_answer_not_kept",
                    message: "the request with this Idempotency-Key was done; its answer held a secret shown only once and is not kept (list the tokens to see what was created)"
                        .into(),
                },
            ));
        }
        Ok(Claim::Running) => {
            let mut refused = refuse(
                req,
                ApiError::Conflict {
                    code: "idempotency_key_in_use",
                    message: "a request with this Idempotency-Key is still running; retry it later"
                        .into(),
                },
            );
            refused.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("1"),
            );
            return Ok(refused);
        }
        Ok(Claim::OtherRequest) => {
            return Ok(refuse(
                req,
                ApiError::Invalid {
                    code: "idempotency_key_reused",
                    field: None,
                    message: "this Idempotency-Key was used for another request".into(),
                },
            ));
        }
        Err(error) => return Ok(refuse(req, error.into())),
    }

    let response = next.call(req).await;
    let (request, response) = match response {
        Ok(response) => response.into_parts(),
        Err(error) => {
            release(&state, user, key).await;
            return Err(error);
        }
    };
    let status = response.status();
    if status.is_server_error() {
        release(&state, user, key).await;
        return Ok(ServiceResponse::new(
            request,
            response.map_into_boxed_body(),
        ));
    }
    if response.extensions().contains::<HoldsSecret>() {
        let stored = db::run(&state.pool, move |conn| {
            store::keep_not_kept(conn, user, &key)
        })
        .await;
        if let Err(error) = stored {
            tracing::warn!(error = %error, "could not mark an idempotent answer as not kept");
        }
        return Ok(ServiceResponse::new(
            request,
            response.map_into_boxed_body(),
        ));
    }
    let (head, body) = response.into_parts();
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(_) => {
            release(&state, user, key).await;
            return Err(actix_web::error::ErrorInternalServerError(
                "the answer could not be read",
            ));
        }
    };
    let kept = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    let code = status.as_u16();
    let stored = db::run(&state.pool, move |conn| {
        store::keep(conn, user, &key, code, kept)
    })
    .await;
    if let Err(error) = stored {
        // The request ran; only its replay is lost. A retry then finds the claim running
        // until it expires, and is refused rather than run twice.
        tracing::warn!(error = %error, "could not keep an idempotent answer");
    }
    Ok(ServiceResponse::new(
        request,
        head.set_body(bytes).map_into_boxed_body(),
    ))
}

/// Gives up a claim whose request failed, so that a retry runs it.
async fn release(state: &AppState, owner: store::Owner, key: String) {
    let released = db::run(&state.pool, move |conn| store::release(conn, owner, &key)).await;
    if let Err(error) = released {
        tracing::warn!(error = %error, "could not release an idempotency key");
    }
}

fn valid_key(value: &actix_web::http::header::HeaderValue) -> Result<String, ApiError> {
    let bad = || ApiError::BadRequest {
        code: "bad_idempotency_key",
        message: format!(
            "{HEADER} must be 1 to {MAX_KEY_CHARS} visible ASCII characters (a UUID, say)"
        ),
    };
    let key = value.to_str().map_err(|_| bad())?;
    let visible = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > MAX_KEY_CHARS || !visible {
        return Err(bad());
    }
    Ok(key.to_owned())
}

/// Reads a keyed request's body whole (to compare it with the first one's) under the
/// limit of the route it is for: only a reply and a quick reply's file carry files.
async fn read_body(req: &mut ServiceRequest) -> Result<web::Bytes, ApiError> {
    let limit = if super::dialog_actions::is_reply_path(req.method(), req.path()) {
        super::dialog_actions::MAX_REPLY_BODY
    } else if super::quick_replies::file_reply_id(req.method(), req.path()).is_some() {
        super::quick_replies::MAX_FILE_BODY
    } else {
        super::MAX_JSON_BYTES
    };
    let mut payload = req.take_payload();
    super::bodies::read_limited(req.request(), &mut payload, limit).await
}

/// SHA-256 of the method, the path with its query, and the body.
fn request_digest(req: &ServiceRequest, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(req.uri().path().as_bytes());
    hasher.update(b"?");
    hasher.update(req.uri().query().unwrap_or_default().as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.finalize().to_vec()
}

fn refuse(req: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    let response = actix_web::ResponseError::error_response(&error);
    req.into_response(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn a_key_is_one_to_two_hundred_visible_ascii_characters() {
        assert!(valid_key(&HeaderValue::from_static("3f2c-11ef-9a1b")).is_ok());
        assert!(valid_key(&HeaderValue::from_static("")).is_err());
        assert!(valid_key(&HeaderValue::from_static("with space")).is_err());
        let long = "k".repeat(MAX_KEY_CHARS + 1);
        assert!(valid_key(&HeaderValue::from_str(&long).unwrap()).is_err());
        let longest = "k".repeat(MAX_KEY_CHARS);
        assert!(valid_key(&HeaderValue::from_str(&longest).unwrap()).is_ok());
    }
}
