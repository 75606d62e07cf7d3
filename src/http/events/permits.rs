//! How many streams are open, against the configured caps (all, per user, per
//! credential), and the permit a stream holds while it lives.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::ApiError;
use crate::http::auth::{Caller, Credential};

/// Open streams of this process, against the configured caps: all of them, and each
/// user's and each credential's (so one credential cannot take every stream).
#[derive(Debug, Default)]
pub struct StreamCount {
    all: AtomicUsize,
    /// Open streams per user id and per credential (token) id.
    held: std::sync::Mutex<Held>,
}

#[derive(Debug, Default)]
pub(super) struct Held {
    per_user: std::collections::HashMap<i64, usize>,
    per_token: std::collections::HashMap<i64, usize>,
}

impl StreamCount {
    pub fn open(&self) -> usize {
        self.all.load(Ordering::Relaxed)
    }
}

/// Holds one stream's place under the caps; gives it back when the stream ends.
pub(super) struct StreamPermit {
    count: Arc<StreamCount>,
    /// The user and credential it counts against, once the caller is known.
    holder: Option<(i64, i64)>,
}

impl StreamPermit {
    pub(super) fn acquire(count: &Arc<StreamCount>, cap: usize) -> Option<Self> {
        let previous = count.all.fetch_add(1, Ordering::AcqRel);
        if previous >= cap {
            count.all.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        metrics::gauge!("sse_streams").set((previous + 1) as f64);
        Some(Self {
            count: Arc::clone(count),
            holder: None,
        })
    }

    /// Counts the stream against its user's and its credential's caps; refused (429,
    /// saying which cap) when either is reached.
    pub(super) fn hold_for(
        &mut self,
        caller: &Caller,
        config: &crate::config::Config,
    ) -> Result<(), ApiError> {
        let (user, token) = (caller.user_id.0, token_id_of(caller));
        let mut held = self.count.held.lock().unwrap_or_else(|p| p.into_inner());
        let by_user = held.per_user.get(&user).copied().unwrap_or(0);
        let by_token = held.per_token.get(&token).copied().unwrap_or(0);
        if by_token >= config.max_streams_per_token {
            return Err(ApiError::TooManyStreams {
                code: "too_many_streams_for_token",
                message: format!(
                    "this session or API token has {by_token} event streams open, as many as one may (--max-streams-per-token); close one first"
                ),
            });
        }
        if by_user >= config.max_streams_per_user {
            return Err(ApiError::TooManyStreams {
                code: "too_many_streams_for_user",
                message: format!(
                    "this user has {by_user} event streams open, as many as one user may (--max-streams-per-user); close one first"
                ),
            });
        }
        *held.per_user.entry(user).or_default() += 1;
        *held.per_token.entry(token).or_default() += 1;
        self.holder = Some((user, token));
        Ok(())
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        if let Some((user, token)) = self.holder {
            let mut held = self.count.held.lock().unwrap_or_else(|p| p.into_inner());
            let held = &mut *held;
            for (map, key) in [(&mut held.per_user, user), (&mut held.per_token, token)] {
                if let std::collections::hash_map::Entry::Occupied(mut entry) = map.entry(key) {
                    *entry.get_mut() -= 1;
                    if *entry.get() == 0 {
                        entry.remove();
                    }
                }
            }
        }
        let now = self.count.all.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!("sse_streams").set(now as f64);
    }
}

/// The id of the session or API token a caller came with.
pub(super) fn token_id_of(caller: &Caller) -> i64 {
    match &caller.credential {
        Credential::Session { token_id, .. } | Credential::ApiToken { token_id, .. } => *token_id,
    }
}
