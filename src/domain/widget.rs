//! The website chat widget (R40), its rules without I/O: which page origins a website
//! account allows, how it looks, and the identities that stand for it and its visitors
//! in public — the widget's id (instead of the account's internal id) and a visitor's
//! token (a random id signed with the installation's secret, bound to the account: it
//! cannot be forged, and a new one is a new visitor, never someone else).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The most origins one website account may allow.
pub const MAX_ORIGINS: usize = 20;
pub const MAX_GREETING: usize = 300;
pub const MAX_CONSENT_TEXT: usize = 2000;
/// The colour of a widget whose account names none.
pub const DEFAULT_COLOR: &str = "#2f6fed";

/// The origins a website account allows (`https://shop.example.ru`, `http://localhost:8000`),
/// from the administrator's list separated by commas, spaces or lines; each is a scheme
/// and a host with an optional port, nothing else. Lower-cased, duplicates dropped.
pub fn parse_origins(raw: &str) -> Result<Vec<String>, String> {
    let mut origins: Vec<String> = Vec::new();
    for item in raw
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let origin = item.trim_end_matches('/').to_ascii_lowercase();
        if !origin_ok(&origin) {
            return Err(format!(
                "`{item}` is not an origin: a scheme and a host, like https://shop.example.ru"
            ));
        }
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    if origins.is_empty() {
        return Err("name at least one origin, like https://shop.example.ru".into());
    }
    if origins.len() > MAX_ORIGINS {
        return Err(format!("at most {MAX_ORIGINS} origins"));
    }
    Ok(origins)
}

fn origin_ok(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => (host, Some(port)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    host_ok && port_ok
}

/// Whether a request's `Origin` is one the account allows.
pub fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    allowed.contains(&origin)
}

/// A colour the widget may take: `#rrggbb`.
pub fn color_ok(color: &str) -> bool {
    color.len() == 7 && color.starts_with('#') && color[1..].chars().all(|c| c.is_ascii_hexdigit())
}

fn signature(secret: &[u8], what: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(what.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The public id of a website account's widget (what `data-account` names): derived from
/// the account's id with the installation's secret, so it tells nothing of the id.
pub fn widget_id(secret: &[u8], account_id: i64) -> String {
    signature(secret, &format!("widget-account:{account_id}"))[..20].to_owned()
}

/// A new visitor's token for the account: `{visitor id}.{signature}`, the visitor id 32
/// random hex digits.
pub fn visitor_token(secret: &[u8], account_id: i64, visitor_id: &str) -> String {
    let signed = signature(secret, &format!("widget-visitor:{account_id}:{visitor_id}"));
    format!("{visitor_id}.{}", &signed[..32])
}

/// The visitor a token stands for on the account, when its signature holds.
pub fn visitor_of(secret: &[u8], account_id: i64, token: &str) -> Option<String> {
    let (visitor_id, _) = token.split_once('.')?;
    let well_formed = visitor_id.len() == 32 && visitor_id.bytes().all(|b| b.is_ascii_hexdigit());
    if !well_formed {
        return None;
    }
    let expected = visitor_token(secret, account_id, visitor_id);
    crate::security::secrets_equal(expected.as_bytes(), token.as_bytes())
        .then(|| visitor_id.to_owned())
}

/// The name a visitor goes by when they gave none: «Посетитель» and four characters of
/// their id, so two of them are told apart in the list.
pub fn default_visitor_name(visitor_id: &str) -> String {
    format!(
        "Посетитель {}",
        visitor_id.get(..4).unwrap_or(visitor_id).to_uppercase()
    )
}

/// A phone a visitor typed, kept as digits with an optional leading +; `None` when it is
/// not one (fewer than 5 or more than 15 digits, or letters).
pub fn phone(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty()
        || !trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()".contains(c))
    {
        return None;
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    (5..=15).contains(&digits.len()).then(|| {
        if trimmed.starts_with('+') {
            format!("+{digits}")
        } else {
            digits
        }
    })
}

/// An e-mail a visitor typed: one `@`, something on both sides, a dot in the domain.
pub fn email(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let (local, domain) = trimmed.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && trimmed.len() <= 254
        && !trimmed.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@');
    ok.then(|| trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r40_origins_are_a_scheme_and_a_host_and_only_they_are_allowed() {
        let origins = parse_origins(
            "https://Shop.example.ru/, http://localhost:8000\nhttps://shop.example.ru",
        )
        .expect("two origins");
        assert_eq!(
            origins,
            ["https://shop.example.ru", "http://localhost:8000"]
        );
        assert!(origin_allowed(&origins, "https://shop.example.ru"));
        assert!(origin_allowed(&origins, "http://localhost:8000"));
        assert!(!origin_allowed(&origins, "http://localhost:8001"));
        assert!(!origin_allowed(
            &origins,
            "https://shop.example.ru.evil.com"
        ));
        assert!(!origin_allowed(&origins, "null"));
        for bad in [
            "",
            "shop.example.ru",
            "https://shop.example.ru/page",
            "ftp://shop.example.ru",
            "https://",
            "https://shop.example.ru:99999",
            "javascript:alert(1)",
        ] {
            assert!(parse_origins(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn r40_a_visitor_token_cannot_be_forged_or_moved_to_another_account() {
        let secret = b"installation-secret";
        let visitor = "0123456789abcdef0123456789abcdef";
        let token = visitor_token(secret, 7, visitor);
        assert_eq!(visitor_of(secret, 7, &token).as_deref(), Some(visitor));
        assert_eq!(visitor_of(secret, 8, &token), None, "another account's");
        assert_eq!(visitor_of(b"another-installation", 7, &token), None);
        let other = "fedcba9876543210fedcba9876543210";
        let forged = format!("{other}.{}", token.split_once('.').unwrap().1);
        assert_eq!(visitor_of(secret, 7, &forged), None, "a signature moved");
        assert_eq!(visitor_of(secret, 7, "nonsense"), None);
        assert_eq!(visitor_of(secret, 7, &format!("{visitor}.")), None);
        assert_ne!(widget_id(secret, 7), widget_id(secret, 8));
        assert_eq!(widget_id(secret, 7).len(), 20);
    }

    #[test]
    fn r40_colours_phones_and_emails_are_checked() {
        assert!(color_ok("#2f6fed"));
        assert!(!color_ok("2f6fed") && !color_ok("#2f6fe") && !color_ok("#zzzzzz"));
        assert_eq!(phone("+7 (999) 000-11-22").as_deref(), Some("+79990001122"));
        assert_eq!(phone("8 999 000 11 22").as_deref(), Some("89990001122"));
        assert_eq!(phone("звоните"), None);
        assert_eq!(phone("12"), None);
        assert_eq!(email(" anna@shop.ru ").as_deref(), Some("anna@shop.ru"));
        assert_eq!(email("anna@shop"), None);
        assert_eq!(email("anna shop@x.ru"), None);
        assert_eq!(default_visitor_name("ab12cd"), "Посетитель AB12");
    }
}
