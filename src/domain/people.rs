//! Users and their credentials: logins, passwords, display names and token scopes, each
//! parsed once at the edge so the rest of the code can trust them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a value from outside was refused; the message is fit to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// The field that was refused, as the API names it.
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A login: 1–64 characters of Latin letters, digits and `._@-`, compared without case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login(String);

impl Login {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        let valid = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::new(
                "login",
                "a login is 1 to 64 Latin letters, digits or . _ @ -",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed: 8 to 128 characters (ASVS 6.2.1, 6.2.9). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(Invalid::new(
                "password",
                format!("a password has at least {} characters", Self::MIN_CHARS),
            ));
        }
        if chars > Self::MAX_CHARS {
            return Err(Invalid::new(
                "password",
                format!("a password has at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A name shown to people (a user's, a role's, a department's): trimmed, 1–200 characters,
/// no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Invalid::new(field, "must not be empty"));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(
                field,
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(Invalid::new(field, "must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// R46: whether a user is at work or away, as they set it by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Online,
    Away,
}

impl UserStatus {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "online" => Ok(Self::Online),
            "away" => Ok(Self::Away),
            _ => Err(Invalid::new("status", "`online` or `away`")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
        }
    }
}

/// Whether an administrator's change of their own account would lock them out: they may
/// neither disable nor demote themselves (another administrator must), so a program can
/// never be left with no administrator by a slip.
pub fn locks_out_self(changes_self: bool, disabled: Option<bool>, is_admin: Option<bool>) -> bool {
    changes_self && (disabled == Some(true) || is_admin == Some(false))
}

/// What an API token may do. A token acts as its user, narrowed to its scopes; a browser
/// session has every scope. Admin routes still need the user to be an administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read dialogs, clients and everything else the user may see (safe methods).
    Read,
    /// Act: reply, accept, close, create and change things (unsafe methods).
    Write,
    /// Administer users, roles, departments, accounts and settings.
    Admin,
    /// Subscribe to the monitoring stream and read metrics.
    Monitor,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Admin, Scope::Monitor];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
            Scope::Monitor => "monitor",
        }
    }
}

impl FromStr for Scope {
    type Err = Invalid;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == raw)
            .ok_or_else(|| {
                Invalid::new(
                    "scopes",
                    format!("unknown scope `{raw}`; use read, write, admin or monitor"),
                )
            })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a list of scope names, refusing an empty list and unknown names; sorted, no repeats.
pub fn parse_scopes<S: AsRef<str>>(raw: &[S]) -> Result<Vec<Scope>, Invalid> {
    let mut scopes = raw
        .iter()
        .map(|s| s.as_ref().trim().parse())
        .collect::<Result<Vec<Scope>, _>>()?;
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(Invalid::new("scopes", "a token needs at least one scope"));
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_administrator_cannot_disable_or_demote_themselves() {
        assert!(locks_out_self(true, Some(true), None));
        assert!(locks_out_self(true, None, Some(false)));
        assert!(!locks_out_self(true, Some(false), Some(true)));
        assert!(!locks_out_self(true, None, None));
        assert!(!locks_out_self(false, Some(true), Some(false)));
    }

    #[test]
    fn logins_take_latin_letters_digits_and_a_few_marks() {
        assert_eq!(
            Login::parse(" anna.petrova@firm ").unwrap().as_str(),
            "anna.petrova@firm"
        );
        assert!(Login::parse("").is_err());
        assert!(Login::parse("анна").is_err());
        assert!(Login::parse("a b").is_err());
        assert!(Login::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn passwords_are_8_to_128_characters_and_never_printed() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"й".repeat(8)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        let password = Password::parse("correct horse").unwrap();
        assert_eq!(format!("{password:?}"), "Password(***)");
    }

    #[test]
    fn display_names_are_trimmed_and_refuse_control_characters() {
        assert_eq!(
            DisplayName::parse("name", "  Анна ").unwrap().as_str(),
            "Анна"
        );
        assert!(DisplayName::parse("name", "   ").is_err());
        assert!(DisplayName::parse("name", "a\u{7}b").is_err());
    }

    #[test]
    fn scopes_parse_sorted_without_repeats_and_refuse_unknown_names() {
        assert_eq!(
            parse_scopes(&["write", "read", "write"]).unwrap(),
            vec![Scope::Read, Scope::Write]
        );
        assert!(parse_scopes::<&str>(&[]).is_err());
        assert!(parse_scopes(&["root"]).is_err());
    }
}
