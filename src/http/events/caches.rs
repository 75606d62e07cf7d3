//! What streams share so that many cost little: the periodic re-check of a credential,
//! and the counters of a user's sections.

use std::time::Duration;

use actix_web_lab::sse;

use super::*;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::dto::Counters;

/// The periodic re-checks of each credential made in the last few seconds: what its user
/// may see, or `None` when the credential is no longer live. An `access` event forces a
/// fresh read, so a change is never served from here.
#[derive(Debug, Default)]
pub struct RecheckCache(std::sync::Mutex<std::collections::HashMap<i64, Rechecked>>);

/// When a credential was re-checked, and what its user may see (`None`: not live).
pub(super) type Rechecked = (std::time::Instant, Option<Vec<i64>>);

/// How long one credential's re-check serves its other streams.
pub(super) const RECHECK_SHARED: Duration = Duration::from_secs(5);

impl RecheckCache {
    pub(super) fn recent(&self, token_id: i64) -> Option<Option<Vec<i64>>> {
        let cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&token_id)
            .filter(|(at, _)| at.elapsed() < RECHECK_SHARED)
            .map(|(_, visible)| visible.clone())
    }

    /// Replaces what a live credential's recent re-check found its user may see (rights
    /// re-read after a grant change), so the re-check does not bring back the old rights.
    pub(super) fn revise(&self, token_id: i64, visible: &[i64]) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, Some(kept))) = cache.get_mut(&token_id) {
            *kept = visible.to_vec();
        }
    }

    pub(super) fn store(&self, token_id: i64, visible: Option<Vec<i64>>) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < RECHECK_SHARED);
        }
        cache.insert(token_id, (std::time::Instant::now(), visible));
    }
}

/// Counters computed recently for each user, shared by that user's streams (several
/// tabs, several devices): (newest event id they include, when, the counters).
#[derive(Debug, Default)]
pub struct CountersCache(
    std::sync::Mutex<std::collections::HashMap<i64, (i64, std::time::Instant, Counters)>>,
);

/// What the cache holds for a user's stream at `cursor`.
pub(super) enum Cached {
    /// Counted this second and including the stream's events.
    Current(Counters),
    /// Counted (or being counted) this second, before some of the stream's events: use
    /// it and ask again next second. So a user's counters are counted at most once a
    /// second, however many streams and events they have.
    Recent(Counters),
    /// Count now (this stream's turn; the others wait for it).
    Due,
}

impl CountersCache {
    pub(super) fn lookup(&self, user_id: i64, cursor: i64) -> Cached {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get_mut(&user_id) {
            Some((seen, at, value)) if at.elapsed() < COUNTERS_EVERY => {
                if *seen >= cursor {
                    Cached::Current(*value)
                } else {
                    Cached::Recent(*value)
                }
            }
            Some((seen, at, _)) => {
                // Claim the count: the others use the old value meanwhile.
                *seen = -1;
                *at = std::time::Instant::now();
                Cached::Due
            }
            _ => Cached::Due,
        }
    }

    pub(super) fn store(&self, user_id: i64, cursor: i64, value: Counters) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (_, at, _)| at.elapsed() < COUNTERS_EVERY);
        }
        cache.insert(user_id, (cursor, std::time::Instant::now(), value));
    }
}

/// The user's counters for a stream at event `cursor`, and whether they include it (when
/// not, the stream asks again next second): from the cache when another of their streams
/// counted this second, else from the database.
pub(super) async fn counters_of(
    state: &AppState,
    user_id: i64,
    visible: Vec<i64>,
    cursor: i64,
) -> Result<(Counters, bool), ApiError> {
    match state.counters_cache.lookup(user_id, cursor) {
        Cached::Current(value) => Ok((value, true)),
        Cached::Recent(value) => Ok((value, false)),
        Cached::Due => Ok((count_now(state, user_id, visible, cursor).await?, true)),
    }
}

/// Counts the user's counters in the database and leaves them for their other streams.
pub(super) async fn count_now(
    state: &AppState,
    user_id: i64,
    visible: Vec<i64>,
    cursor: i64,
) -> Result<Counters, ApiError> {
    // Read the cursor the hub has reached before counting, so the value includes it.
    let reached = state.hub.latest_id().max(cursor);
    let counters = crate::http::dialogs::counters_of(state, user_id, visible, reached).await?;
    state.counters_cache.store(user_id, reached, counters);
    Ok(counters)
}

/// A `counters` frame when the value changed (labelled with the stream's place:
/// resuming from it loses nothing).
pub(super) fn counters_frame(
    counters: &mut Counters,
    now: Counters,
    cursor: i64,
) -> Option<sse::Event> {
    (now != *counters).then(|| {
        *counters = now;
        frame(Some(cursor), "counters", &now)
    })
}
