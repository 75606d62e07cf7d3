//! Channel accounts' settings as they come from outside: the kind, and the credentials
//! each kind needs (API.md "Channel accounts").

use serde_json::Value;

use super::people::Invalid;

pub const KINDS: [&str; 6] = ["telegram", "vk", "viber", "whatsapp", "max", "web"];

/// Whether an operator may edit and delete a reply already sent, on this kind of channel:
/// Telegram (`editMessageText`, `deleteMessage`), VK (`messages.edit`,
/// `messages.delete`) and MAX (`PUT`/`DELETE /messages`) allow it; Viber and WhatsApp's
/// Cloud API do not.
pub fn edits_sent_messages(kind: &str) -> bool {
    matches!(kind, "telegram" | "vk" | "max")
}

/// Whether a business may react to a client's message on this kind of channel: Telegram
/// (`setMessageReaction`) and WhatsApp (a `reaction` message) allow it.
pub fn reacts(kind: &str) -> bool {
    matches!(kind, "telegram" | "whatsapp")
}

/// The reactions an operator may give: ones every reacting channel takes (Telegram lets a
/// bot use only its own list of emoji).
pub const REACTIONS: [&str; 6] = ["👍", "❤", "🔥", "🙏", "👌", "😁"];

/// (required, optional) credential fields of each kind.
fn fields(kind: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    match kind {
        "telegram" => Some((
            &["token"],
            &[
                "mode",
                "webhook_secret",
                "public_url",
                "api_url",
                "timeout_secs",
            ],
        )),
        "vk" => Some((
            &["group_id", "access_token"],
            &[
                "secret",
                "confirmation",
                "mode",
                "api_version",
                "api_url",
                "timeout_secs",
            ],
        )),
        "viber" => Some((
            &["auth_token"],
            &["public_url", "api_url", "sender_name", "timeout_secs"],
        )),
        "whatsapp" => Some((
            &[
                "phone_number_id",
                "access_token",
                "app_secret",
                "verify_token",
            ],
            &["api_url", "api_version", "timeout_secs"],
        )),
        "web" => Some((
            &["allowed_origins"],
            &["greeting", "color", "consent_text", "prechat"],
        )),
        "max" => Some((
            &["token"],
            &[
                "mode",
                "webhook_secret",
                "public_url",
                "api_url",
                "timeout_secs",
            ],
        )),
        _ => None,
    }
}

/// How a credential field is entered (the typed form of R1 is built from this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Shown as typed.
    Text,
    /// Write-only: never shown back, typed into a password box.
    Secret,
    /// One of `choices`.
    Choice,
    /// An http(s) address.
    Url,
    /// A whole number.
    Number,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Secret => "secret",
            FieldType::Choice => "choice",
            FieldType::Url => "url",
            FieldType::Number => "number",
        }
    }
}

/// One credential field of a kind, as the form shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialField {
    pub name: &'static str,
    pub required: bool,
    pub field_type: FieldType,
    /// For [`FieldType::Choice`]: the values, the first the default.
    pub choices: &'static [&'static str],
    /// Only the program's administrators may set it (it moves the account's calls).
    pub admin_only: bool,
}

/// The modes a kind receives in (the first is the default).
pub fn modes(kind: &str) -> &'static [&'static str] {
    match kind {
        "telegram" => &["webhook", "polling"],
        "vk" => &["callback", "longpoll"],
        "max" => &["webhook", "polling"],
        _ => &[],
    }
}

/// Every credential field of a kind, required ones first, in the order the form shows
/// them; the one description the server validates against and the form is built from.
pub fn credential_fields(kind: &str) -> Vec<CredentialField> {
    let Some((required, optional)) = fields(kind) else {
        return Vec::new();
    };
    let describe = |name: &'static str, required: bool| {
        let field_type = match name {
            "token" | "access_token" | "auth_token" | "app_secret" | "secret"
            | "webhook_secret" | "verify_token" => FieldType::Secret,
            "mode" | "prechat" => FieldType::Choice,
            "public_url" | "api_url" => FieldType::Url,
            "group_id" | "phone_number_id" | "timeout_secs" => FieldType::Number,
            _ => FieldType::Text,
        };
        CredentialField {
            name,
            required,
            field_type,
            choices: match name {
                "mode" => modes(kind),
                "prechat" => &["off", "on"],
                _ => &[],
            },
            admin_only: name == "api_url",
        }
    };
    required
        .iter()
        .map(|name| describe(name, true))
        .chain(optional.iter().map(|name| describe(name, false)))
        .collect()
}

pub fn parse_kind(raw: &str) -> Result<&'static str, Invalid> {
    KINDS
        .into_iter()
        .find(|k| *k == raw)
        .ok_or_else(|| Invalid::new("kind", "kind: telegram, vk, viber, whatsapp, max or web"))
}

/// Checks the credentials object of a kind: required fields present and not empty, no
/// unknown fields, modes and URLs well-formed.
/// The longest an account's `timeout_secs` (how long one call to the channel's API may
/// take) may be.
pub const MAX_TIMEOUT_SECS: u64 = 120;

pub fn validate_credentials(kind: &str, credentials: &Value) -> Result<(), Invalid> {
    let invalid = |message: String| Invalid::new("credentials", message);
    let (required, optional) =
        fields(kind).ok_or_else(|| invalid(format!("unknown kind `{kind}`")))?;
    let object = credentials
        .as_object()
        .ok_or_else(|| invalid("credentials: a JSON object".into()))?;
    for name in required {
        let present = match object.get(*name) {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Number(_)) => matches!(*name, "group_id" | "phone_number_id"),
            _ => false,
        };
        if !present {
            return Err(invalid(format!(
                "credentials: `{name}` is required for {kind}"
            )));
        }
    }
    for (name, value) in object {
        if !required.contains(&name.as_str()) && !optional.contains(&name.as_str()) {
            return Err(invalid(format!(
                "credentials: unknown field `{name}` for {kind}"
            )));
        }
        if name == "timeout_secs" {
            if !value
                .as_u64()
                .is_some_and(|s| (1..=MAX_TIMEOUT_SECS).contains(&s))
            {
                return Err(invalid(format!(
                    "credentials: `timeout_secs` is a whole number of seconds from 1 to {MAX_TIMEOUT_SECS}"
                )));
            }
            continue;
        }
        // Ids may come as numbers; secrets and everything else are text.
        let numeric_ok = matches!(name.as_str(), "group_id" | "phone_number_id");
        if !(value.is_string() || (numeric_ok && value.is_number())) {
            return Err(invalid(format!("credentials: `{name}` must be a string")));
        }
    }
    if let Some(mode) = object.get("mode").and_then(Value::as_str) {
        let allowed = modes(kind);
        if !allowed.contains(&mode) {
            return Err(invalid(format!(
                "credentials: mode is one of {}",
                allowed.join(", ")
            )));
        }
    }
    // Telegram accepts a webhook secret of 1–256 of `A-Z a-z 0-9 _ -` only; anything else
    // would be saved and fail later at `setWebhook`, where only the log would say so.
    if kind == "telegram"
        && let Some(secret) = object.get("webhook_secret").and_then(Value::as_str)
        && !telegram_secret_ok(secret)
    {
        return Err(invalid(
            "credentials: `webhook_secret` is 1 to 256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)".into(),
        ));
    }
    if kind == "web" {
        validate_website(object).map_err(invalid)?;
    }
    // MAX takes a subscription secret of 5–256 of `A-Z a-z 0-9 _ -`.
    if kind == "max"
        && let Some(secret) = object.get("webhook_secret").and_then(Value::as_str)
        && !max_secret_ok(secret)
    {
        return Err(invalid(
            "credentials: `webhook_secret` is 5 to 256 characters of A-Z, a-z, 0-9, _ and - (MAX's rule)".into(),
        ));
    }
    // A bot token is the bot's id, a colon and its key (`123456:ABC-DEF…` from
    // @BotFather): a pasted URL, a space or a missing part is caught here, not at the
    // first call.
    if kind == "telegram"
        && let Some(token) = object.get("token").and_then(Value::as_str)
        && !telegram_token_ok(token)
    {
        return Err(Invalid::new(
            "credentials.token",
            "credentials: `token` is the bot's token from @BotFather: the bot's number, a colon, then letters, digits, _ and - (no spaces)",
        ));
    }
    // WhatsApp's phone number id and VK's community id are numbers.
    let digits = |name: &str| {
        object.get(name).is_none_or(|value| match value {
            Value::Number(n) => n.as_u64().is_some_and(|n| n > 0),
            Value::String(s) => !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s != "0",
            _ => false,
        })
    };
    for (field, for_kind) in [("phone_number_id", "whatsapp"), ("group_id", "vk")] {
        if kind == for_kind && !digits(field) {
            return Err(invalid(format!(
                "credentials: `{field}` is the positive number {kind} shows for the account"
            )));
        }
    }
    for url_field in ["public_url", "api_url"] {
        if let Some(url) = object.get(url_field).and_then(Value::as_str)
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(invalid(format!(
                "credentials: `{url_field}` must be an http(s) URL"
            )));
        }
    }
    Ok(())
}

fn telegram_token_ok(token: &str) -> bool {
    token.split_once(':').is_some_and(|(id, key)| {
        (1..=20).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_digit())
            && (1..=200).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// A website account's settings (R40): its origins, colour, greeting, consent text and
/// whether a visitor introduces themselves first.
fn validate_website(object: &serde_json::Map<String, Value>) -> Result<(), String> {
    use super::widget;
    let text = |name: &str| object.get(name).and_then(Value::as_str);
    if let Some(origins) = text("allowed_origins") {
        widget::parse_origins(origins).map_err(|e| format!("credentials: allowed_origins: {e}"))?;
    }
    if let Some(color) = text("color")
        && !widget::color_ok(color)
    {
        return Err("credentials: `color` is #rrggbb, like #2f6fed".into());
    }
    for (name, most) in [
        ("greeting", widget::MAX_GREETING),
        ("consent_text", widget::MAX_CONSENT_TEXT),
    ] {
        if text(name).is_some_and(|t| t.chars().count() > most) {
            return Err(format!(
                "credentials: `{name}` holds at most {most} characters"
            ));
        }
    }
    if let Some(prechat) = text("prechat")
        && !["off", "on"].contains(&prechat)
    {
        return Err("credentials: `prechat` is off or on".into());
    }
    Ok(())
}

fn max_secret_ok(secret: &str) -> bool {
    (5..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn telegram_secret_ok(secret: &str) -> bool {
    (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn r48_a_telegram_token_is_a_number_a_colon_and_a_key() {
        let token =
            |token: &str| validate_credentials("telegram", &json!({ "token": token })).is_ok();
        assert!(token("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
        assert!(token("7000001:demo"));
        for bad in [
            "abc:def",
            "123456",
            "123456:",
            ":abc",
            "123 456:abc",
            "123:a b",
            "https://t.me/bot1:a",
            "123:abc\n",
        ] {
            assert!(!token(bad), "{bad:?}");
        }
    }

    #[test]
    fn r48_credentials_are_checked_against_the_platforms_rules_when_saved() {
        let telegram = |secret: &str| {
            validate_credentials(
                "telegram",
                &json!({"token": "1:a", "webhook_secret": secret}),
            )
        };
        assert!(telegram("tg-secret_1").is_ok());
        assert!(telegram(&"a".repeat(256)).is_ok());
        assert!(telegram("with space").is_err());
        assert!(telegram("секрет").is_err());
        assert!(telegram(&"a".repeat(257)).is_err());
        assert!(
            validate_credentials("vk", &json!({"group_id": "12x", "access_token": "t"})).is_err()
        );
        assert!(validate_credentials("vk", &json!({"group_id": 0, "access_token": "t"})).is_err());
        assert!(
            validate_credentials("vk", &json!({"group_id": "4242", "access_token": "t"})).is_ok()
        );
        let whatsapp = |id: serde_json::Value| {
            validate_credentials(
                "whatsapp",
                &json!({"phone_number_id": id, "access_token": "t", "app_secret": "s", "verify_token": "v"}),
            )
        };
        assert!(whatsapp(json!("106540352242922")).is_ok());
        assert!(whatsapp(json!("+7 900")).is_err());
    }

    #[test]
    fn r1_each_kind_needs_its_own_credentials() {
        assert!(
            validate_credentials("telegram", &json!({"token": "1:abc", "mode": "polling"})).is_ok()
        );
        assert!(validate_credentials("telegram", &json!({"mode": "polling"})).is_err());
        assert!(
            validate_credentials("telegram", &json!({"token": "x", "mode": "carrier-pigeon"}))
                .is_err()
        );
        assert!(
            validate_credentials(
                "vk",
                &json!({"group_id": 1, "access_token": "t", "mode": "longpoll"})
            )
            .is_ok()
        );
        assert!(validate_credentials("viber", &json!({"auth_token": "t", "extra": 1})).is_err());
        assert!(
            validate_credentials(
                "whatsapp",
                &json!({"phone_number_id": "1", "access_token": "t", "app_secret": "s", "verify_token": "v", "api_url": "ftp://x"})
            )
            .is_err()
        );
        assert!(
            validate_credentials("viber", &json!({"auth_token": "t", "timeout_secs": 5})).is_ok()
        );
        for bad in [json!(0), json!(121), json!("5"), json!(2.5)] {
            assert!(
                validate_credentials("viber", &json!({"auth_token": "t", "timeout_secs": bad}))
                    .is_err()
            );
        }
        assert!(parse_kind("icq").is_err());
        // Secrets are text: a number would be stored and then refused by the channel.
        assert!(
            validate_credentials(
                "vk",
                &json!({"group_id": 1, "access_token": "t", "secret": 123456})
            )
            .is_err()
        );
    }

    #[test]
    fn r1_every_kind_describes_its_credentials_for_the_typed_form() {
        for kind in KINDS {
            let described = credential_fields(kind);
            assert!(described.iter().any(|f| f.required), "{kind}");
            // The description and the validation agree: a required field left out fails.
            for field in described.iter().filter(|f| f.required) {
                let message = validate_credentials(kind, &json!({}))
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                assert!(
                    message.contains("required"),
                    "{kind} {}: {message}",
                    field.name
                );
            }
        }
        let telegram = credential_fields("telegram");
        let mode = telegram.iter().find(|f| f.name == "mode");
        assert_eq!(mode.map(|f| f.choices), Some(&["webhook", "polling"][..]));
        assert!(
            telegram
                .iter()
                .any(|f| f.name == "token" && f.field_type == FieldType::Secret)
        );
        assert!(telegram.iter().any(|f| f.name == "api_url" && f.admin_only));
        assert!(credential_fields("fax").is_empty());
    }
}
