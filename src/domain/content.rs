//! What a message holds besides its text and files (R48), one description for every
//! channel: a place, a contact card, a sticker, a poll, a dice roll, the message it
//! quotes — or, for a kind Dialogi does not know, the platform's name for it, so nothing
//! arrives as an empty bubble. Each channel maps its platform's types to these; the store
//! keeps them as JSON beside the text, the client renders each kind, and [`summary`] is
//! the line the list and search show when there is no text.
//!
//! [`summary`]: Content::summary

use serde::{Deserialize, Serialize};

/// The most a quoted message's text keeps (the whole message is in the dialog).
const QUOTE_CHARS: usize = 300;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Content {
    /// A point on the map; a venue has its title and address.
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// A contact card.
    Contact {
        name: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        phones: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        emails: Vec<String>,
    },
    /// A sticker: its emoji when the platform names one (its picture, when there is one,
    /// is an attachment).
    Sticker {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        emoji: Option<String>,
    },
    /// A poll and its answers.
    Poll {
        question: String,
        options: Vec<String>,
    },
    /// An animated dice roll (Telegram): the emoji and the value it landed on.
    Dice { emoji: String, value: i64 },
    /// A kind of message Dialogi does not know yet, by the platform's name for it.
    Unsupported { platform_kind: String },
}

impl Content {
    /// The line shown where only text fits: the list's preview, a notification. Made of
    /// symbols and the message's own words, so it reads the same in every language.
    pub fn summary(&self) -> String {
        match self {
            Content::Location {
                latitude,
                longitude,
                title,
                address,
            } => {
                let place = [title.as_deref(), address.as_deref()]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join(", ");
                if place.is_empty() {
                    format!("📍 {latitude:.5}, {longitude:.5}")
                } else {
                    format!("📍 {place}")
                }
            }
            Content::Contact { name, phones, .. } => match phones.first() {
                Some(phone) => format!("👤 {name}, {phone}"),
                None => format!("👤 {name}"),
            },
            Content::Sticker { emoji } => emoji.clone().unwrap_or_else(|| "🖼".to_owned()),
            Content::Poll { question, .. } => format!("📊 {question}"),
            Content::Dice { emoji, value } => format!("{emoji} {value}"),
            Content::Unsupported { platform_kind } => format!("⚠ {platform_kind}"),
        }
    }
}

/// The message a reply quotes: who wrote it and the start of its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub text: String,
}

impl Quote {
    pub fn new(author: Option<String>, text: &str) -> Self {
        let text = text.trim();
        let mut short: String = text.chars().take(QUOTE_CHARS).collect();
        if short.len() < text.len() {
            short.push('…');
        }
        Self {
            author,
            text: short,
        }
    }
}

/// A message forwarded into this one: who wrote it first, when the platform says, and its
/// words (empty when the forwarded message is this one's own text, as on Telegram).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forward {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
}

impl Forward {
    /// The most forwarded messages kept with one message, and of each one's text.
    pub const MAX: usize = 20;
    const MAX_CHARS: usize = 4096;

    pub fn new(from: Option<String>, text: &str) -> Self {
        Self {
            from: from.filter(|f| !f.trim().is_empty()),
            text: text.trim().chars().take(Self::MAX_CHARS).collect(),
        }
    }
}

/// All a message carries besides text and files, as stored (`messages.content`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extras {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// The message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<Quote>,
    /// The interlocutor's reaction to this message (an emoji).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<String>,
    /// Messages forwarded with it (Telegram: this message itself, from someone else).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwarded: Vec<Forward>,
    /// The operators' reaction to the client's message, as the channel took it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub our_reaction: Option<String>,
    /// Typed outside Dialogi, on the platform itself (a VK community administrator in
    /// VK): the platform's name (`vk`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typed_on: Option<String>,
}

impl Extras {
    pub fn is_empty(&self) -> bool {
        self.content.is_none()
            && self.quote.is_none()
            && self.reaction.is_none()
            && self.forwarded.is_empty()
            && self.our_reaction.is_none()
            && self.typed_on.is_none()
    }

    /// As stored: `None` when there is nothing to keep.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        if self.is_empty() {
            return None;
        }
        serde_json::to_value(self).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn r48_every_kind_has_a_line_for_the_list() {
        let venue = Content::Location {
            latitude: 55.751_244,
            longitude: 37.618_423,
            title: Some("Офис".into()),
            address: Some("Тверская, 1".into()),
        };
        assert_eq!(venue.summary(), "📍 Офис, Тверская, 1");
        let point = Content::Location {
            latitude: 55.751_244,
            longitude: 37.618_423,
            title: None,
            address: None,
        };
        assert_eq!(point.summary(), "📍 55.75124, 37.61842");
        let card = Content::Contact {
            name: "Иван Петров".into(),
            phones: vec!["+79001234567".into()],
            emails: vec![],
        };
        assert_eq!(card.summary(), "👤 Иван Петров, +79001234567");
        assert_eq!(
            Content::Sticker {
                emoji: Some("😀".into())
            }
            .summary(),
            "😀"
        );
        assert_eq!(Content::Sticker { emoji: None }.summary(), "🖼");
        let poll = Content::Poll {
            question: "Когда удобно?".into(),
            options: vec!["Утром".into(), "Вечером".into()],
        };
        assert_eq!(poll.summary(), "📊 Когда удобно?");
        let dice = Content::Dice {
            emoji: "🎲".into(),
            value: 4,
        };
        assert_eq!(dice.summary(), "🎲 4");
        let unknown = Content::Unsupported {
            platform_kind: "graffiti".into(),
        };
        assert_eq!(unknown.summary(), "⚠ graffiti");
    }

    #[test]
    fn r48_extras_are_stored_tagged_by_kind_and_nothing_when_empty() {
        assert_eq!(Extras::default().to_json(), None);
        let extras = Extras {
            content: Some(Content::Dice {
                emoji: "🎯".into(),
                value: 6,
            }),
            quote: Some(Quote::new(Some("Анна".into()), "  Привет  ")),
            ..Extras::default()
        };
        assert_eq!(
            extras.to_json(),
            Some(
                json!({"content": {"kind": "dice", "emoji": "🎯", "value": 6},
                "quote": {"author": "Анна", "text": "Привет"}})
            )
        );
        let back: Extras = serde_json::from_value(extras.to_json().unwrap()).unwrap();
        assert_eq!(back, extras);
    }

    #[test]
    fn r48_a_long_quote_is_cut_with_an_ellipsis() {
        let quote = Quote::new(None, &"а".repeat(500));
        assert_eq!(quote.text.chars().count(), QUOTE_CHARS + 1);
        assert!(quote.text.ends_with('…'));
    }
}
