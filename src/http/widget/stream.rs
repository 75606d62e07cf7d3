//! `GET events`: a visitor's own live stream.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, Responder, web};
use actix_web_lab::sse;
use serde_json::json;
use tokio::sync::broadcast;

use super::messages::{interlocutor_of, message_body};
use super::{StreamSlot, site, visitor};
use crate::actors::Published;
use crate::actors::presence::Notice;
use crate::db;
use crate::db::widget::{self as rows, VisitorMessage};
use crate::error::ApiError;
use crate::http::AppState;

/// The visitor's live stream: `message` frames (their id the message's number, so
/// `Last-Event-ID` resumes after it) and `typing` frames while an operator types.
pub(super) async fn events(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let site = site(&state, &req).await?;
    let visitor_id = visitor(&state, &req, &site).await?;
    let after: i64 = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n >= 0)
        .unwrap_or(0);
    let slot = StreamSlot::take(&state.widget).ok_or_else(|| {
        ApiError::Unavailable("too many visitors' streams on this server; retry shortly".into())
    })?;
    // Subscribe before reading the backlog, so nothing falls between the two.
    let live = state.hub.subscribe();
    let presence = state.hub.presence().subscribe();
    // The stream follows its visitor's dialogs by their interlocutor; a visitor who has
    // not written (nor introduced themselves) has none yet: 409 until the first message.
    let interlocutor = interlocutor_of(&state, &site, &visitor_id)
        .await?
        .ok_or_else(|| ApiError::Conflict {
            code: "no_conversation",
            message: "no conversation yet: the stream opens after the first message".into(),
        })?;
    let (backlog, read_mark, dialogs) = db::run(&state.pool, move |conn| {
        let dialogs = rows::visitor_dialogs(conn, interlocutor)?;
        Ok((
            rows::visitor_messages(conn, interlocutor, 0)?,
            rows::read_mark(conn, &dialogs)?,
            dialogs,
        ))
    })
    .await?;
    let mut follow = VisitorStream {
        state: state.clone(),
        account_id: site.account_id,
        interlocutor,
        dialogs: dialogs.into_iter().collect(),
        count: 0,
        last_message_id: 0,
        live,
        presence,
        pending: std::collections::VecDeque::new(),
        theirs: Vec::new(),
        read: 0,
        _slot: slot,
    };
    for message in backlog {
        if follow.count >= after {
            follow.take(message);
        } else {
            follow.count += 1;
            follow.last_message_id = message.message_id;
            if message.inbound {
                follow.theirs.push((message.message_id, follow.count));
            }
        }
    }
    // Where the operators' reading stands now.
    if let Some(mark) = read_mark {
        follow.read_up_to(mark);
    }
    let stream = futures_util::stream::unfold(follow, |mut follow| async move {
        let event = follow.next_event().await?;
        Some((event, follow))
    });
    Ok(sse::Sse::from_infallible_stream(stream)
        .with_retry_duration(Duration::from_secs(3))
        .with_keep_alive(Duration::from_secs(15))
        .customize()
        .insert_header(("x-accel-buffering", "no"))
        .respond_to(&req)
        .map_into_boxed_body())
}

fn message_frame(number: i64, message: VisitorMessage) -> sse::Event {
    let data = sse::Data::new_json(message_body(number, message))
        .unwrap_or_else(|_| sse::Data::new("{}"))
        .event("message")
        .id(number.to_string());
    sse::Event::Data(data)
}

struct VisitorStream {
    state: web::Data<AppState>,
    account_id: i64,
    interlocutor: i64,
    dialogs: HashSet<i64>,
    /// How many of the visitor's messages the stream has counted.
    count: i64,
    last_message_id: i64,
    live: broadcast::Receiver<Arc<Published>>,
    presence: broadcast::Receiver<Arc<Notice>>,
    pending: std::collections::VecDeque<sse::Event>,
    /// The visitor's own messages: (message id, their number), in order.
    theirs: Vec<(i64, i64)>,
    /// Up to which of their messages an operator has read (told to the widget).
    read: i64,
    _slot: StreamSlot,
}

impl VisitorStream {
    async fn next_event(&mut self) -> Option<sse::Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            tokio::select! {
                received = self.live.recv() => match received {
                    Ok(event) => self.event(&event).await?,
                    // Fell behind: the widget reconnects and resumes from its last id.
                    Err(_) => return None,
                },
                notice = self.presence.recv() => match notice {
                    Ok(notice) => {
                        let change = &notice.change;
                        if self.dialogs.contains(&change.dialog_id) {
                            let typing = change.activity == Some(crate::domain::presence::Activity::Typing);
                            let data = sse::Data::new_json(json!({ "typing": typing }))
                                .unwrap_or_else(|_| sse::Data::new("{}"))
                                .event("typing");
                            self.pending.push_back(sse::Event::Data(data));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    }

    /// One event of the log: a new message of the visitor's (read from the database,
    /// numbered), or a new dialog of theirs; `None` ends the stream.
    async fn event(&mut self, event: &Published) -> Option<()> {
        let event = &event.event;
        if event.account_id != Some(self.account_id) {
            return Some(());
        }
        let dialog = event.dialog_id?;
        let known = self.dialogs.contains(&dialog);
        let fresh = match event.kind.as_str() {
            "message" if known => {
                matches!(event.payload["direction"].as_str(), Some("in" | "out"))
            }
            // A dialog of this visitor's that the stream did not know (their first
            // message, or a new dialog after a closed one): its messages so far.
            "dialog" if !known => {
                if event.payload["interlocutor_id"].as_i64() != Some(self.interlocutor) {
                    return Some(());
                }
                self.dialogs.insert(dialog);
                true
            }
            // An operator read the dialog: the visitor's messages up to there are read.
            "read" if known => {
                if let Some(mark) = event.payload["last_read_message_id"].as_i64() {
                    self.read_up_to(mark);
                }
                false
            }
            _ => false,
        };
        if !fresh {
            return Some(());
        }
        let (interlocutor, after) = (self.interlocutor, self.last_message_id);
        let new = db::run(&self.state.pool, move |conn| {
            rows::visitor_messages(conn, interlocutor, after)
        })
        .await
        .ok()?;
        for message in new {
            self.take(message);
        }
        Some(())
    }

    /// Counts a message of the visitor's conversation and queues its frame.
    fn take(&mut self, message: VisitorMessage) {
        self.count += 1;
        self.last_message_id = message.message_id;
        if message.inbound {
            self.theirs.push((message.message_id, self.count));
        }
        self.pending.push_back(message_frame(self.count, message));
    }

    /// A `read` frame when an operator's read mark (a message id) passes more of the
    /// visitor's messages: `up_to` their number.
    fn read_up_to(&mut self, mark: i64) {
        let up_to = self
            .theirs
            .iter()
            .take_while(|(id, _)| *id <= mark)
            .map(|(_, number)| *number)
            .last()
            .unwrap_or(0);
        if up_to > self.read {
            self.read = up_to;
            let data = sse::Data::new_json(json!({ "up_to": up_to }))
                .unwrap_or_else(|_| sse::Data::new("{}"))
                .event("read");
            self.pending.push_back(sse::Event::Data(data));
        }
    }
}
