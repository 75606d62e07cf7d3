//! Request bodies under control: how fast they must arrive and how much of them the
//! server holds at once.
//!
//! - [`paced`] (middleware on every route) gives a request body `--body-timeout-secs` to
//!   arrive in full and, after a short grace, at least `--body-min-bytes-per-sec`; a
//!   slower body gets 408 and its connection is closed. Without it a client that sends a
//!   byte every few seconds holds a connection (and a worker's attention) for ever.
//! - [`read_limited`] reads a body that is buffered whole: a declared `Content-Length`
//!   over the limit is refused before a byte is read, and bodies larger than the JSON
//!   limit draw on one budget shared by the whole process ([`BodyBudget`]), so many
//!   concurrent large bodies cannot balloon the memory: when it is spent, 503 with
//!   `Retry-After`.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, ResponseError, web};
use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::AppState;
use crate::error::ApiError;

/// A body may start slowly: the minimum rate applies after this.
const GRACE: Duration = Duration::from_secs(5);
/// The budget is counted in units of this many bytes.
const UNIT: usize = 64 * 1024;
/// Bodies up to this size are read without drawing on the budget.
const SMALL: usize = super::MAX_JSON_BYTES;

/// The bytes of large request bodies the process may hold at once.
pub struct BodyBudget(Arc<Semaphore>);

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(Semaphore::new((bytes / UNIT).max(1))))
    }
}

/// The declared length of a request's body, if any.
fn declared_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads a whole body of at most `limit` bytes (413 beyond it, before reading when the
/// length is declared); past the JSON limit it draws on the process's budget.
pub async fn read_limited<S>(
    req: &HttpRequest,
    payload: &mut S,
    limit: usize,
) -> Result<web::Bytes, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>> + Unpin,
{
    let too_large = || ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes"));
    let declared = declared_length(req);
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let budget = req
        .app_data::<web::Data<AppState>>()
        .map(|state| Arc::clone(&state.body_budget.0));
    let mut held = None::<tokio::sync::OwnedSemaphorePermit>;
    let mut body =
        web::BytesMut::with_capacity(declared.map_or(0, |l| l.min(SMALL as u64)) as usize);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::BadRequest {
            code: "unreadable_body",
            message: "the request body could not be read".into(),
        })?;
        let total = body.len() + chunk.len();
        if total > limit {
            return Err(too_large());
        }
        if total > SMALL
            && let Some(budget) = &budget
        {
            let units = total.div_ceil(UNIT) as u32;
            let have = held.as_ref().map_or(0, |p| p.num_permits() as u32);
            if units > have {
                let more = Arc::clone(budget)
                    .try_acquire_many_owned(units - have)
                    .map_err(|_| busy())?;
                match &mut held {
                    Some(permit) => permit.merge(more),
                    None => held = Some(more),
                }
            }
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn busy() -> ApiError {
    ApiError::TooManyRequests {
        retry_after_secs: 5,
    }
}

/// Middleware: a request body must arrive in full within the body timeout and, after
/// the grace, at a minimum rate; otherwise 408 and the connection is closed. The clock
/// starts when the route first reads the body (time spent before, say waiting for a
/// database connection, is the server's, not the client's). Requests without a body
/// are not watched.
pub async fn paced(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let has_body = declared_length(req.request()).is_some_and(|length| length > 0)
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let config = req.app_data::<web::Data<AppState>>().map(|state| {
        (
            state.config.body_timeout(),
            state.config.body_min_bytes_per_sec,
        )
    });
    let Some((timeout, min_rate)) = config.filter(|_| has_body) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let verdict = Rc::new(RefCell::new(None));
    let watched = Watched {
        inner: req.take_payload(),
        timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        started: None,
        received: 0,
        timeout,
        min_rate,
        verdict: Rc::clone(&verdict),
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(watched),
    });
    let response = next.call(req).await?.map_into_boxed_body();
    let why = verdict.borrow_mut().take();
    match why {
        None => Ok(response),
        Some(why) => {
            // Whatever the route made of its failed read, the answer is 408 and the
            // connection closes: the rest of the body is not waited for.
            metrics::counter!("dialogi_slow_bodies_total").increment(1);
            let mut refused = ApiError::BodyTimeout(why).error_response();
            refused
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
            Ok(response.into_response(refused))
        }
    }
}

/// The request's body stream, failing it when it comes too late or too slowly.
struct Watched {
    inner: Payload,
    /// Fires when the body would be late or too slow, given what has arrived.
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// When the route first asked for the body.
    started: Option<Instant>,
    received: u64,
    timeout: Duration,
    min_rate: u64,
    /// Why the body was cut off, for the middleware's answer.
    verdict: Rc<RefCell<Option<String>>>,
}

impl Watched {
    /// When the body is due: at the timeout, or when the bytes so far no longer cover
    /// the time elapsed at the minimum rate (after the grace).
    fn due(&self, started: Instant) -> Instant {
        let covered = if self.min_rate == 0 {
            self.timeout
        } else {
            Duration::from_secs_f64(self.received as f64 / self.min_rate as f64)
        };
        (started + GRACE.max(covered)).min(started + self.timeout)
    }

    fn why(&self, started: Instant) -> String {
        if Instant::now() >= started + self.timeout {
            format!(
                "the request body did not arrive within {} s",
                self.timeout.as_secs()
            )
        } else {
            format!(
                "the request body arrived slower than {} bytes a second",
                self.min_rate
            )
        }
    }
}

impl futures_util::Stream for Watched {
    type Item = Result<web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let started = *self.started.get_or_insert_with(Instant::now);
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                self.received += bytes.len() as u64;
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => {
                let due = self.due(started);
                if self.timer.deadline() != due {
                    self.timer.as_mut().reset(due);
                }
                match self.timer.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        let why = self.why(started);
                        *self.verdict.borrow_mut() = Some(why.clone());
                        Poll::Ready(Some(Err(actix_web::error::PayloadError::Io(
                            std::io::Error::new(std::io::ErrorKind::TimedOut, why),
                        ))))
                    }
                }
            }
        }
    }
}
