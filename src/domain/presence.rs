//! R46: presence — who is viewing or typing in a dialog, and whether an operator is at
//! work, away or offline. Ephemeral: nothing here is stored; every process keeps its own
//! [`Board`] from the signals all processes hear (the transport is `actors::presence`).
//!
//! A signal is a claim that holds for a while: viewing for [`VIEWING_FOR`], typing for
//! [`TYPING_FOR`] (then it falls back to viewing), and an operator counts as connected for
//! [`CONNECTED_FOR`] after their last signal of any kind. Clients repeat their claim
//! before it lapses; a closed tab simply stops, and its claims expire. The board tells
//! what changed, so a repeated claim costs the streams nothing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::people::{Invalid, UserStatus};

/// How long "viewing" holds without being repeated.
pub const VIEWING_FOR: Duration = Duration::from_secs(45);
/// How long "typing" holds without being repeated.
pub const TYPING_FOR: Duration = Duration::from_secs(6);
/// How long an operator counts as connected after their last signal.
pub const CONNECTED_FOR: Duration = Duration::from_secs(75);

/// What an operator does in a dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    Viewing,
    Typing,
}

impl Activity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewing => "viewing",
            Self::Typing => "typing",
        }
    }
}

/// What a client says about its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Claim {
    /// Looking at the dialog.
    Viewing,
    /// Writing in the dialog's composer.
    Typing,
    /// Left the dialog (closed it, opened another).
    Left,
    /// Still here, in no dialog in particular.
    Here,
}

impl Claim {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "viewing" => Ok(Self::Viewing),
            "typing" => Ok(Self::Typing),
            "left" => Ok(Self::Left),
            "here" => Ok(Self::Here),
            _ => Err(Invalid::new(
                "claim",
                "`viewing`, `typing`, `left` or `here`",
            )),
        }
    }

    /// Whether the claim is about a dialog.
    pub fn needs_dialog(self) -> bool {
        !matches!(self, Self::Here)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewing => "viewing",
            Self::Typing => "typing",
            Self::Left => "left",
            Self::Here => "here",
        }
    }
}

/// An operator's availability as colleagues and rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Online,
    Away,
    Offline,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }
}

/// One signal as every process hears it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    pub user_id: i64,
    pub display_name: String,
    /// The status the user set by hand (`online` or `away`).
    pub status: UserStatus,
    /// The dialog and its account, when the claim is about one.
    pub dialog: Option<(i64, i64)>,
    pub claim: Claim,
}

/// What changed in a dialog's presence: what the streams that may see the account get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub dialog_id: i64,
    #[serde(skip)]
    pub account_id: i64,
    pub user_id: i64,
    pub display_name: String,
    /// What the user does there now; `None` once they left.
    pub activity: Option<Activity>,
}

#[derive(Debug, Clone)]
struct Seen {
    display_name: String,
    activity: Activity,
    /// When the claim lapses; typing lapses into viewing.
    until: Instant,
    viewing_until: Instant,
}

#[derive(Debug, Clone)]
struct Operator {
    display_name: String,
    status: UserStatus,
    heard: Instant,
}

/// Every dialog's viewers and every operator's last signal, as one process knows them.
#[derive(Debug, Default)]
pub struct Board {
    /// Dialog id → (account id, user id → what they do there).
    dialogs: HashMap<i64, (i64, HashMap<i64, Seen>)>,
    operators: HashMap<i64, Operator>,
}

/// One dialog's viewer, for a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Viewer {
    pub dialog_id: i64,
    pub user_id: i64,
    pub display_name: String,
    pub activity: Activity,
}

/// One operator's availability, for a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorPresence {
    pub user_id: i64,
    pub display_name: String,
    pub availability: Availability,
}

impl Board {
    /// Applies a signal heard at `now`; the change the dialog's watchers must hear, if any
    /// (a repeated claim changes nothing they see).
    pub fn apply(&mut self, signal: &Signal, now: Instant) -> Option<Change> {
        self.operators.insert(
            signal.user_id,
            Operator {
                display_name: signal.display_name.clone(),
                status: signal.status,
                heard: now,
            },
        );
        let (dialog_id, account_id) = signal.dialog?;
        let change = |activity| Change {
            dialog_id,
            account_id,
            user_id: signal.user_id,
            display_name: signal.display_name.clone(),
            activity,
        };
        let activity = match signal.claim {
            Claim::Here => return None,
            Claim::Left => {
                let (_, users) = self.dialogs.get_mut(&dialog_id)?;
                users.remove(&signal.user_id)?;
                if users.is_empty() {
                    self.dialogs.remove(&dialog_id);
                }
                return Some(change(None));
            }
            Claim::Viewing => Activity::Viewing,
            Claim::Typing => Activity::Typing,
        };
        let (_, users) = self
            .dialogs
            .entry(dialog_id)
            .or_insert_with(|| (account_id, HashMap::new()));
        let viewing_until = now + VIEWING_FOR;
        let (until, viewing_until) = match activity {
            Activity::Viewing => (viewing_until, viewing_until),
            Activity::Typing => (now + TYPING_FOR, viewing_until),
        };
        let before = users.insert(
            signal.user_id,
            Seen {
                display_name: signal.display_name.clone(),
                activity,
                until,
                viewing_until,
            },
        );
        match before {
            Some(before) if before.activity == activity => None,
            _ => Some(change(Some(activity))),
        }
    }

    /// Lapses the claims due by `now`: typing becomes viewing, viewing ends.
    pub fn expire(&mut self, now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        self.dialogs.retain(|&dialog_id, (account_id, users)| {
            users.retain(|&user_id, seen| {
                if seen.until > now {
                    return true;
                }
                let stays = seen.activity == Activity::Typing && seen.viewing_until > now;
                if stays {
                    seen.activity = Activity::Viewing;
                    seen.until = seen.viewing_until;
                }
                changes.push(Change {
                    dialog_id,
                    account_id: *account_id,
                    user_id,
                    display_name: seen.display_name.clone(),
                    activity: stays.then_some(Activity::Viewing),
                });
                stays
            });
            !users.is_empty()
        });
        self.operators
            .retain(|_, operator| now.duration_since(operator.heard) < CONNECTED_FOR * 4);
        changes
    }

    /// Who is in the dialogs of the accounts `visible` admits, now.
    pub fn viewers(&self, visible: impl Fn(i64) -> bool) -> Vec<Viewer> {
        let mut all: Vec<Viewer> = self
            .dialogs
            .iter()
            .filter(|(_, (account_id, _))| visible(*account_id))
            .flat_map(|(&dialog_id, (_, users))| {
                users.iter().map(move |(&user_id, seen)| Viewer {
                    dialog_id,
                    user_id,
                    display_name: seen.display_name.clone(),
                    activity: seen.activity,
                })
            })
            .collect();
        all.sort_by_key(|v| (v.dialog_id, v.user_id));
        all
    }

    /// A user's availability at `now`: offline when not heard for [`CONNECTED_FOR`],
    /// otherwise as they set it.
    pub fn availability(&self, user_id: i64, now: Instant) -> Availability {
        match self.operators.get(&user_id) {
            Some(op) if now.duration_since(op.heard) < CONNECTED_FOR => match op.status {
                UserStatus::Online => Availability::Online,
                UserStatus::Away => Availability::Away,
            },
            _ => Availability::Offline,
        }
    }

    /// Every operator heard lately, with their availability at `now`.
    pub fn operators(&self, now: Instant) -> Vec<OperatorPresence> {
        let mut all: Vec<OperatorPresence> = self
            .operators
            .iter()
            .map(|(&user_id, op)| OperatorPresence {
                user_id,
                display_name: op.display_name.clone(),
                availability: self.availability(user_id, now),
            })
            .collect();
        all.sort_by_key(|o| o.user_id);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(user_id: i64, dialog: Option<i64>, claim: Claim) -> Signal {
        Signal {
            user_id,
            display_name: format!("user {user_id}"),
            status: UserStatus::Online,
            dialog: dialog.map(|d| (d, 7)),
            claim,
        }
    }

    #[test]
    fn r46_a_claim_is_told_once_and_leaving_is_told() {
        let mut board = Board::default();
        let now = Instant::now();
        let first = board.apply(&signal(1, Some(10), Claim::Viewing), now);
        assert_eq!(first.map(|c| c.activity), Some(Some(Activity::Viewing)));
        assert_eq!(
            board.apply(&signal(1, Some(10), Claim::Viewing), now),
            None,
            "a repeated claim changes nothing anyone sees"
        );
        let typing = board.apply(&signal(1, Some(10), Claim::Typing), now);
        assert_eq!(typing.map(|c| c.activity), Some(Some(Activity::Typing)));
        let left = board.apply(&signal(1, Some(10), Claim::Left), now).unwrap();
        assert_eq!(
            (left.dialog_id, left.account_id, left.activity),
            (10, 7, None)
        );
        assert!(board.viewers(|_| true).is_empty());
        assert_eq!(
            board.apply(&signal(1, Some(10), Claim::Left), now),
            None,
            "leaving twice is told once"
        );
    }

    #[test]
    fn r46_typing_lapses_into_viewing_and_viewing_lapses_into_nothing() {
        let mut board = Board::default();
        let now = Instant::now();
        board.apply(&signal(1, Some(10), Claim::Typing), now);
        assert!(board.expire(now + Duration::from_secs(1)).is_empty());
        let lapsed = board.expire(now + TYPING_FOR);
        assert_eq!(lapsed.len(), 1);
        assert_eq!(lapsed[0].activity, Some(Activity::Viewing));
        let gone = board.expire(now + VIEWING_FOR);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].activity, None);
        assert!(board.viewers(|_| true).is_empty());
    }

    #[test]
    fn r46_viewers_are_only_those_of_visible_accounts() {
        let mut board = Board::default();
        let now = Instant::now();
        board.apply(&signal(1, Some(10), Claim::Viewing), now);
        board.apply(&signal(2, Some(10), Claim::Typing), now);
        assert_eq!(board.viewers(|account| account == 7).len(), 2);
        assert!(board.viewers(|account| account == 8).is_empty());
    }

    #[test]
    fn r46_an_operator_is_offline_when_not_heard_and_away_as_set() {
        let mut board = Board::default();
        let now = Instant::now();
        assert_eq!(board.availability(1, now), Availability::Offline);
        board.apply(&signal(1, None, Claim::Here), now);
        assert_eq!(board.availability(1, now), Availability::Online);
        let mut away = signal(1, None, Claim::Here);
        away.status = UserStatus::Away;
        board.apply(&away, now);
        assert_eq!(board.availability(1, now), Availability::Away);
        assert_eq!(
            board.availability(1, now + CONNECTED_FOR),
            Availability::Offline
        );
        assert_eq!(board.operators(now).len(), 1);
    }
}
