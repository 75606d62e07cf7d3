//! Automatic processing rules (R8): conditions on an inbound message and the actions
//! taken when they all hold. Pure: parsing and checking a rule, matching a message,
//! filling an auto-reply's placeholders. The account actor runs them.

use chrono::{DateTime, Datelike, FixedOffset, NaiveTime, Timelike, Utc};
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use super::people::Invalid;

/// The longest regular expression a rule may hold, and the memory it may compile to.
pub const MAX_PATTERN_CHARS: usize = 500;
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
pub const MAX_REPLY_CHARS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The message came to one of these accounts (for global rules).
    Account { ids: Vec<i64> },
    /// The account's channel is one of these kinds.
    Channel { kinds: Vec<String> },
    /// The text contains this (case-insensitive unless `case_sensitive`).
    TextContains {
        value: String,
        #[serde(default)]
        case_sensitive: bool,
    },
    /// The text matches this regular expression (at most 500 characters).
    TextMatches { pattern: String },
    /// Whether the person was known before this message (`true`) or is new (`false`).
    ClientKnown { known: bool },
    /// The local time is within `from`–`to` ("HH:MM"; may wrap past midnight).
    TimeOfDay {
        from: String,
        to: String,
        /// The local time's offset from UTC in minutes (e.g. 180 for Moscow).
        #[serde(default)]
        utc_offset_minutes: i32,
    },
    /// The local weekday is one of these (1 = Monday … 7 = Sunday).
    Weekdays {
        days: Vec<u8>,
        #[serde(default)]
        utc_offset_minutes: i32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Give the dialog a responsible user or role (it stays in New).
    Assign {
        user_id: Option<i64>,
        role_id: Option<i64>,
    },
    /// Redirect to a user or role (the dialog becomes Returned, R26).
    Redirect {
        user_id: Option<i64>,
        role_id: Option<i64>,
    },
    /// Answer through the channel; `{client}`, `{account}` and `{dialog}` are filled in.
    AutoReply { text: String },
    /// Close the dialog, with a reason (needed when the account requires one).
    Close { reason_id: Option<i64> },
    /// Link the dialog to the client's newest active interest.
    LinkInterest,
    /// Mark the dialog as a lead.
    MarkLead,
}

/// What a rule is matched against.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub account_id: i64,
    pub channel: &'a str,
    pub text: &'a str,
    pub client_known: bool,
    pub now: DateTime<Utc>,
}

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid::new("conditions", message)
}

fn clock(raw: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(raw, "%H:%M").ok()
}

fn offset(minutes: i32) -> Option<FixedOffset> {
    FixedOffset::east_opt(minutes.checked_mul(60)?)
}

/// Compiles a rule's regular expression with a size limit (no catastrophic patterns:
/// the `regex` crate runs in linear time, and the limit bounds its memory).
pub fn compile(pattern: &str) -> Result<Regex, Invalid> {
    if pattern.is_empty() || pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(invalid(format!(
            "text_matches: a pattern of 1 to {MAX_PATTERN_CHARS} characters"
        )));
    }
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| invalid(format!("text_matches: not a valid pattern: {e}")))
}

/// How many compiled patterns [`compiled`] keeps; past it, it starts over.
const KEPT_PATTERNS: usize = 1024;

/// [`compile`], remembered per pattern for the life of the process: rules are matched
/// against every inbound message, and compiling a pattern costs far more than running it.
/// A `Regex` clone shares the compiled program.
fn compiled(pattern: &str) -> Result<Regex, Invalid> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static KEPT: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let kept = KEPT.get_or_init(Mutex::default);
    if let Some(regex) = kept.lock().unwrap_or_else(|p| p.into_inner()).get(pattern) {
        return Ok(regex.clone());
    }
    let regex = compile(pattern)?;
    let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
    if kept.len() >= KEPT_PATTERNS {
        kept.clear();
    }
    kept.insert(pattern.to_owned(), regex.clone());
    Ok(regex)
}

/// Checks conditions before a rule is saved.
pub fn validate_conditions(conditions: &[Condition]) -> Result<(), Invalid> {
    if conditions.len() > 20 {
        return Err(invalid("conditions: at most 20"));
    }
    for condition in conditions {
        match condition {
            Condition::Account { ids } if ids.is_empty() => {
                return Err(invalid("account: name at least one account id"));
            }
            Condition::Channel { kinds }
                if kinds.is_empty()
                    || kinds
                        .iter()
                        .any(|k| !super::account::KINDS.contains(&k.as_str())) =>
            {
                return Err(invalid(
                    "channel: kinds among telegram, vk, viber, whatsapp",
                ));
            }
            Condition::TextContains { value, .. }
                if value.trim().is_empty() || value.chars().count() > 500 =>
            {
                return Err(invalid("text_contains: 1 to 500 characters"));
            }
            Condition::TextMatches { pattern } => {
                compile(pattern)?;
            }
            Condition::TimeOfDay {
                from,
                to,
                utc_offset_minutes,
            } => {
                if clock(from).is_none() || clock(to).is_none() {
                    return Err(invalid("time_of_day: from and to as HH:MM"));
                }
                if offset(*utc_offset_minutes).is_none() {
                    return Err(invalid("time_of_day: utc_offset_minutes within ±1439"));
                }
            }
            Condition::Weekdays {
                days,
                utc_offset_minutes,
            } => {
                if days.is_empty() || days.iter().any(|d| !(1..=7).contains(d)) {
                    return Err(invalid("weekdays: days from 1 (Monday) to 7 (Sunday)"));
                }
                if offset(*utc_offset_minutes).is_none() {
                    return Err(invalid("weekdays: utc_offset_minutes within ±1439"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks actions before a rule is saved.
pub fn validate_actions(actions: &[Action]) -> Result<(), Invalid> {
    let bad = |message: &str| Invalid::new("actions", message);
    if actions.is_empty() || actions.len() > 10 {
        return Err(bad("actions: 1 to 10"));
    }
    for action in actions {
        match action {
            Action::Assign { user_id, role_id } | Action::Redirect { user_id, role_id }
                if user_id.is_some() == role_id.is_some() =>
            {
                return Err(bad("assign and redirect: a user_id or a role_id"));
            }
            Action::AutoReply { text }
                if text.trim().is_empty() || text.chars().count() > MAX_REPLY_CHARS =>
            {
                return Err(bad("auto_reply: a text of 1 to 4096 characters"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether every condition holds (a rule without conditions matches every message).
pub fn matches(conditions: &[Condition], facts: &Facts<'_>) -> Result<bool, Invalid> {
    for condition in conditions {
        let holds = match condition {
            Condition::Account { ids } => ids.contains(&facts.account_id),
            Condition::Channel { kinds } => kinds.iter().any(|k| k == facts.channel),
            Condition::TextContains {
                value,
                case_sensitive: true,
            } => facts.text.contains(value.as_str()),
            Condition::TextContains { value, .. } => {
                facts.text.to_lowercase().contains(&value.to_lowercase())
            }
            Condition::TextMatches { pattern } => compiled(pattern)?.is_match(facts.text),
            Condition::ClientKnown { known } => facts.client_known == *known,
            Condition::TimeOfDay {
                from,
                to,
                utc_offset_minutes,
            } => {
                let (Some(from), Some(to), Some(zone)) =
                    (clock(from), clock(to), offset(*utc_offset_minutes))
                else {
                    return Err(invalid("time_of_day: from and to as HH:MM"));
                };
                let local = facts.now.with_timezone(&zone).time();
                let now = NaiveTime::from_hms_opt(local.hour(), local.minute(), 0).unwrap_or(local);
                if from <= to {
                    from <= now && now < to
                } else {
                    now >= from || now < to
                }
            }
            Condition::Weekdays {
                days,
                utc_offset_minutes,
            } => {
                let zone = offset(*utc_offset_minutes)
                    .ok_or_else(|| invalid("weekdays: bad utc_offset_minutes"))?;
                let day = facts
                    .now
                    .with_timezone(&zone)
                    .weekday()
                    .number_from_monday();
                days.iter().any(|d| u32::from(*d) == day)
            }
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

/// An auto-reply's text with its placeholders filled.
pub fn fill(template: &str, client: &str, account: &str, dialog: &str) -> String {
    template
        .replace("{client}", client)
        .replace("{account}", account)
        .replace("{dialog}", dialog)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn facts(text: &str, hour: u32) -> Facts<'_> {
        Facts {
            account_id: 7,
            channel: "telegram",
            text,
            client_known: false,
            // 2026-11-23 is a Monday.
            now: Utc.with_ymd_and_hms(2026, 11, 23, hour, 30, 0).unwrap(),
        }
    }

    #[test]
    fn r8_text_time_and_weekday_conditions() {
        let night = vec![
            Condition::TextContains {
                value: "ЦЕНА".into(),
                case_sensitive: false,
            },
            Condition::TimeOfDay {
                from: "21:00".into(),
                to: "09:00".into(),
                utc_offset_minutes: 180,
            },
            Condition::Weekdays {
                days: vec![1, 2, 3, 4, 5],
                utc_offset_minutes: 180,
            },
        ];
        validate_conditions(&night).unwrap();
        // 19:30 UTC is 22:30 in Moscow, a Monday.
        assert!(matches(&night, &facts("Какая цена?", 19)).unwrap());
        assert!(!matches(&night, &facts("Какая цена?", 10)).unwrap());
        assert!(!matches(&night, &facts("Привет", 19)).unwrap());
        let new_people = [Condition::ClientKnown { known: false }];
        assert!(matches(&new_people, &facts("x", 1)).unwrap());
        assert!(matches(&[], &facts("x", 1)).unwrap());
    }

    #[test]
    fn r8_patterns_are_bounded_and_checked() {
        let order = [Condition::TextMatches {
            pattern: r"заказ\s*№?\s*\d{3,}".into(),
        }];
        validate_conditions(&order).unwrap();
        assert!(matches(&order, &facts("Где мой ЗАКАЗ №12345?", 1)).unwrap());
        assert!(
            validate_conditions(&[Condition::TextMatches {
                pattern: "(".into()
            }])
            .is_err()
        );
        assert!(
            validate_conditions(&[Condition::TextMatches {
                pattern: "a".repeat(501)
            }])
            .is_err()
        );
        // A pattern whose automaton would be huge is refused, not compiled.
        assert!(compile(r"\w{1000}\w{1000}\w{1000}").is_err());
        assert!(
            validate_conditions(&[Condition::Channel {
                kinds: vec!["icq".into()]
            }])
            .is_err()
        );
        assert!(
            validate_actions(&[Action::Assign {
                user_id: Some(1),
                role_id: Some(2)
            }])
            .is_err()
        );
        assert!(validate_actions(&[]).is_err());
    }

    #[test]
    fn r8_auto_reply_placeholders() {
        assert_eq!(
            fill(
                "{client}, спасибо! {account} ответит в {dialog}",
                "Иван",
                "Магазин",
                "№5"
            ),
            "Иван, спасибо! Магазин ответит в №5"
        );
    }
}
