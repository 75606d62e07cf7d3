//! The one mapping from errors to HTTP answers.
//!
//! Policy: every error a handler returns is an `ApiError`; its status says who is at fault
//! and its body is `{"error": "snake_case_code", "message": "a sentence"}` (plus `field`
//! for invalid input). Client errors tell the caller what to fix and are not logged as
//! errors. Server errors (5xx) carry a generic message, never SQL, paths or secrets; their
//! cause chain is logged once, here, where the answer is made.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::DatabaseErrorKind;
use serde::Serialize;

use crate::db::DbError;
use crate::domain::people::Invalid;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read (malformed JSON, bad query string).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 401: no credentials, or credentials that are wrong, expired or revoked.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: it does not exist, or the caller may not see it (no existence oracle).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 405: the path exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the current state forbids it (taken, already exists).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 413: the body is larger than this route takes.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: readable, but a value is not acceptable.
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: Option<String>,
        message: String,
    },
    /// 429: too many attempts; try again after `retry_after_secs`.
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// 429: the caller has as many event streams open as it may (`code` says whose cap:
    /// the user's or the credential's).
    #[error("{message}")]
    TooManyStreams { code: &'static str, message: String },
    /// 408: the request body did not arrive in time, or arrived too slowly.
    #[error("{0}")]
    BodyTimeout(String),
    /// 503: a dependency (the database) is not reachable right now.
    #[error("{0}")]
    Unavailable(String),
    /// 502: the channel (Telegram, VK, Viber, WhatsApp) failed or did not answer.
    #[error("{0}")]
    BadGateway(String),
    /// 507: the data folder is full or cannot be written; nothing was stored. The cause
    /// (with its path) is logged, not shown.
    #[error(
        "the server's data folder is full or cannot be written; nothing was stored — free some space and try again"
    )]
    StorageFull(#[source] std::io::Error),
    /// 500: a bug or an unexpected failure; the cause is logged, not shown.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable snake_case code to branch on.
    pub error: String,
    /// A human sentence saying what went wrong and, where possible, how to fix it.
    pub message: String,
    /// The request field that was refused, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code: "invalid_input",
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    pub fn internal(error: impl Into<BoxError>) -> Self {
        Self::Internal(error.into())
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Invalid { code, .. }
            | ApiError::TooManyStreams { code, .. } => code,
            ApiError::BodyTimeout(_) => "body_timeout",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::BadGateway(_) => "channel_error",
            ApiError::StorageFull(_) => "storage_full",
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        Self::Invalid {
            code: "invalid_input",
            field: Some(invalid.field.to_owned()),
            message: format!("{}: {}", invalid.field, invalid.message),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        if error.is_not_found() {
            return ApiError::NotFound("record");
        }
        if let Some((kind, constraint)) = error.constraint() {
            match kind {
                DatabaseErrorKind::UniqueViolation => {
                    return ApiError::conflict(
                        "already_exists",
                        format!("a record with these values already exists ({constraint})"),
                    );
                }
                DatabaseErrorKind::ForeignKeyViolation => {
                    return ApiError::Invalid {
                        code: "invalid_reference",
                        field: None,
                        message: format!("a referenced record does not exist ({constraint})"),
                    };
                }
                DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                    return ApiError::Invalid {
                        code: "invalid_input",
                        field: None,
                        message: format!("a value is not acceptable ({constraint})"),
                    };
                }
                _ => {}
            }
        }
        match error {
            DbError::Pool(_) | DbError::Unreachable(_) => {
                tracing::error!(error = %error, "database unavailable");
                ApiError::Unavailable("the database is not reachable right now; try again".into())
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::security::SecurityError> for ApiError {
    fn from(error: crate::security::SecurityError) -> Self {
        ApiError::internal(error)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } | ApiError::TooManyStreams { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = %error_chain(cause.as_ref()), "request failed");
        }
        if let ApiError::StorageFull(cause) = self {
            tracing::error!(error = %cause, "the data folder is full or cannot be written");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::TooManyRequests { retry_after_secs } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.insert_header((header::RETRY_AFTER, value));
        }
        if let ApiError::Unauthorized(_) = self {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let field = match self {
            ApiError::Invalid { field, .. } => field.clone(),
            _ => None,
        };
        response.json(ErrorBody {
            error: self.code().to_owned(),
            message: self.to_string(),
            field,
        })
    }
}

/// `error: cause: cause's cause`, for one log line.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
