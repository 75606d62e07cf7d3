//! The website chat (R40): a channel whose other end is Dialogi's own widget on the
//! company's site. Nothing goes over the internet to a platform: a visitor's message
//! arrives through the widget's public routes (`http::widget`), which hand it to the
//! account actor like any channel's update, and an operator's reply is "sent" when the
//! outbox takes it — the visitor's stream (`GET /widget/{id}/events`) carries it from
//! the event log, so a visitor who was away gets it on return.

use std::time::Duration;

use serde::Deserialize;

use super::net::Downloaded;
use super::{
    Channel, ChannelError, Delivery, MediaRef, Outgoing, SendOutcome, WebhookError, WebhookRequest,
};
use crate::domain::widget;

#[derive(Debug, Clone, Deserialize)]
pub struct Credentials {
    pub allowed_origins: String,
    #[serde(default)]
    pub greeting: Option<String>,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub consent_text: Option<String>,
    #[serde(default)]
    pub prechat: Option<String>,
}

pub struct Web {
    origins: Vec<String>,
    credentials: Credentials,
}

impl Web {
    pub fn new(credentials: Credentials) -> Result<Self, ChannelError> {
        let origins = widget::parse_origins(&credentials.allowed_origins)
            .map_err(|e| ChannelError::Unsupported(format!("allowed_origins: {e}")))?;
        Ok(Self {
            origins,
            credentials,
        })
    }

    /// The page origins whose pages may use the widget.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    pub fn greeting(&self) -> Option<&str> {
        self.credentials
            .greeting
            .as_deref()
            .filter(|g| !g.trim().is_empty())
    }

    pub fn color(&self) -> &str {
        self.credentials
            .color
            .as_deref()
            .filter(|c| widget::color_ok(c))
            .unwrap_or(widget::DEFAULT_COLOR)
    }

    pub fn consent_text(&self) -> Option<&str> {
        self.credentials
            .consent_text
            .as_deref()
            .filter(|c| !c.trim().is_empty())
    }

    /// Whether a visitor introduces themselves (name, contact, consent) before writing.
    pub fn prechat(&self) -> bool {
        self.credentials.prechat.as_deref() == Some("on")
    }
}

impl Channel for Web {
    fn webhook(&self, _request: &WebhookRequest) -> Result<Delivery, WebhookError> {
        Err(WebhookError::Malformed(
            "a website chat has no webhook: its widget writes through /widget".into(),
        ))
    }

    async fn send(&self, outgoing: &Outgoing) -> SendOutcome {
        // The visitor's stream delivers it from the event log.
        SendOutcome::Sent {
            channel_message_id: Some(format!("web:{}", outgoing.outbox_id)),
        }
    }

    async fn check(&self) -> Result<String, ChannelError> {
        Ok(format!("Website chat for {}", self.origins.join(", ")))
    }

    async fn download(&self, _media: &MediaRef) -> Result<Downloaded, ChannelError> {
        Err(ChannelError::Unsupported(
            "a visitor's file is stored when it arrives".into(),
        ))
    }

    fn dialog_link(&self, _external_id: &str, _username: Option<&str>) -> Option<String> {
        None
    }

    fn pacing(&self, _recipient: &str) -> (Duration, Duration) {
        (Duration::ZERO, Duration::ZERO)
    }
}
