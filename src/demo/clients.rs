//! The demo's clients: people who write to the demo accounts at a gentle pace, answer an
//! operator's reply after a short "typing" pause, send a photo now and then and edit a
//! message once in a while — and the platforms' delivery and read reports. Everything
//! reaches Dialogi through its real webhook routes, signed as each platform signs, so
//! the whole inbound pipeline runs as it does for real messengers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::simulator::Sent;
use crate::db::accounts::AccountRow;
use crate::db::demo::content::{
    ENGLISH, ENGLISH_NAMES, FIRST_NAMES, LAST_NAMES, SALES_RU, SUPPORT_RU,
};

/// How often a new message comes, when the demo's clients are active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    pub min: Duration,
    pub max: Duration,
}

impl Activity {
    /// `off`, or the seconds between new messages as `MIN-MAX` (e.g. `20-60`) or `N`.
    pub fn parse(raw: &str) -> Result<Option<Activity>, String> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let bad = || format!("`{raw}`: `off`, or seconds between messages as MIN-MAX (20-60)");
        let (min, max) = raw.split_once('-').unwrap_or((raw, raw));
        let min: u64 = min.trim().parse().map_err(|_| bad())?;
        let max: u64 = max.trim().parse().map_err(|_| bad())?;
        if min == 0 || max < min || max > 86_400 {
            return Err(bad());
        }
        Ok(Some(Activity {
            min: Duration::from_secs(min),
            max: Duration::from_secs(max),
        }))
    }
}

/// Follow-ups a client writes after an operator's answer.
const FOLLOW_UPS_RU: [&str; 10] = [
    "Спасибо, понятно!",
    "А доставка в Казань есть?",
    "Хорошо, жду.",
    "Отлично, тогда оформляю.",
    "А можно счёт на юрлицо?",
    "Сколько это займёт по времени?",
    "Спасибо за быстрый ответ 👍",
    "А если оплатить сегодня, успеете до пятницы?",
    "Понял, посоветуюсь с коллегами и вернусь.",
    "Супер, договорились.",
];
const FOLLOW_UPS_EN: [&str; 6] = [
    "Thanks, that helps!",
    "Great, I'll place the order today.",
    "How long would delivery take?",
    "Perfect, thank you.",
    "Could you send an invoice to our company?",
    "OK, I'll check with my team and come back.",
];

/// A person who writes to a demo account.
#[derive(Debug, Clone)]
struct Person {
    account_id: i64,
    external_id: String,
    name: String,
    english: bool,
    /// When they last answered an operator (they answer at most once a minute, so an
    /// automatic reply and its answer never chase each other).
    answered_at: Option<Instant>,
}

/// The simulated clients of one server.
pub(super) struct Clients {
    accounts: Vec<AccountRow>,
    /// Dialogi's own address, where the webhooks go.
    server: String,
    http: reqwest::Client,
    people: Mutex<Vec<Person>>,
    dice: Mutex<u64>,
    /// Message and update ids that fit the platforms' 32-bit fields and never repeat.
    next_id: Mutex<i64>,
    /// Each person's last message (channel id, text), for an occasional edit.
    last_message: Mutex<HashMap<(i64, String), (i64, String)>>,
    /// The installation's secret: the website chat's widget ids and visitors' tokens.
    secret: Vec<u8>,
}

impl Clients {
    pub(super) fn new(
        accounts: Vec<AccountRow>,
        server: String,
        people: Vec<(i64, String, String)>,
        secret: Vec<u8>,
    ) -> Self {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        let people = people
            .into_iter()
            .map(|(account_id, external_id, name)| Person {
                english: name.is_ascii(),
                account_id,
                external_id,
                name,
                answered_at: None,
            })
            .collect();
        Self {
            accounts,
            server,
            http: reqwest::Client::new(),
            people: Mutex::new(people),
            dice: Mutex::new(u64::from_le_bytes(seed) | 1),
            // Tens of ids a second since late 2023: larger than any id of an earlier run.
            next_id: Mutex::new((chrono::Utc::now().timestamp() - 1_700_000_000) * 10),
            last_message: Mutex::new(HashMap::new()),
            secret,
        }
    }

    fn roll(&self, below: u64) -> u64 {
        let mut state = self.dice.lock().unwrap_or_else(|p| p.into_inner());
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D) % below.max(1)
    }

    fn chance(&self, percent: u64) -> bool {
        self.roll(100) < percent
    }

    fn between(&self, min: Duration, max: Duration) -> Duration {
        let span = max.saturating_sub(min).as_millis() as u64;
        min + Duration::from_millis(self.roll(span + 1))
    }

    fn next_id(&self) -> i64 {
        // Even: the simulator's answers to the operators take the odd ones.
        let mut id = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
        *id += 2;
        *id
    }

    fn account(&self, id: i64) -> Option<&AccountRow> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// Reports delivery and read states of each accepted send, and lets its recipient
    /// answer when the clients are active.
    pub(super) async fn follow_sends(
        self: std::sync::Arc<Self>,
        mut sends: mpsc::UnboundedReceiver<Sent>,
        answer: bool,
    ) {
        while let Some(sent) = sends.recv().await {
            let me = std::sync::Arc::clone(&self);
            actix_web::rt::spawn(async move { me.after_send(sent, answer).await });
        }
    }

    async fn after_send(&self, sent: Sent, answer: bool) {
        let Some(account) = self.account(sent.account_id).cloned() else {
            return;
        };
        // Viber and WhatsApp report delivery and reading, VK only reading; Telegram
        // tells a bot neither.
        let reports = matches!(account.kind.as_str(), "viber" | "whatsapp");
        let reads = reports || account.kind == "vk";
        if reports {
            tokio::time::sleep(self.between(Duration::from_millis(600), Duration::from_secs(2)))
                .await;
            self.report(&account, &sent, "delivered").await;
        }
        if !answer {
            if reads {
                tokio::time::sleep(self.between(Duration::from_secs(2), Duration::from_secs(5)))
                    .await;
                self.report(&account, &sent, "read").await;
            }
            return;
        }
        let person = {
            let mut people = self.people.lock().unwrap_or_else(|p| p.into_inner());
            let found = people
                .iter_mut()
                .find(|p| p.account_id == account.id && p.external_id == sent.recipient);
            match found {
                Some(person) => {
                    let recently = person
                        .answered_at
                        .is_some_and(|at| at.elapsed() < Duration::from_secs(60));
                    if recently {
                        None
                    } else {
                        person.answered_at = Some(Instant::now());
                        Some(person.clone())
                    }
                }
                None => None,
            }
        };
        // Reading takes a moment; then the client types.
        tokio::time::sleep(self.between(Duration::from_secs(2), Duration::from_secs(5))).await;
        if reads {
            self.report(&account, &sent, "read").await;
        }
        let Some(person) = person else {
            return;
        };
        tokio::time::sleep(self.between(Duration::from_secs(3), Duration::from_secs(9))).await;
        let english = person.english
            || sent
                .text
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic());
        let line = if english {
            FOLLOW_UPS_EN[self.roll(FOLLOW_UPS_EN.len() as u64) as usize]
        } else {
            FOLLOW_UPS_RU[self.roll(FOLLOW_UPS_RU.len() as u64) as usize]
        };
        self.write(&account, &person, line, false).await;
    }

    /// New messages at the configured pace: mostly from new people, sometimes from
    /// someone with an open dialog; now and then a photo, once in a while an edit.
    pub(super) async fn write_new(self: std::sync::Arc<Self>, activity: Activity) {
        loop {
            tokio::time::sleep(self.between(activity.min, activity.max)).await;
            if self.accounts.is_empty() {
                continue;
            }
            let account = self.accounts[self.roll(self.accounts.len() as u64) as usize].clone();
            let known: Vec<Person> = {
                let people = self.people.lock().unwrap_or_else(|p| p.into_inner());
                people
                    .iter()
                    .filter(|p| p.account_id == account.id)
                    .cloned()
                    .collect()
            };
            let person = if known.is_empty() || self.chance(55) {
                let person = self.new_person(&account);
                let mut people = self.people.lock().unwrap_or_else(|p| p.into_inner());
                people.push(person.clone());
                person
            } else {
                known[self.roll(known.len() as u64) as usize].clone()
            };
            let pool: &[(&str, &str)] = if person.english {
                &ENGLISH
            } else if self.chance(50) {
                &SALES_RU
            } else {
                &SUPPORT_RU
            };
            let question = pool[self.roll(pool.len() as u64) as usize].0;
            let photo = self.chance(12);
            self.write(&account, &person, question, photo).await;
            if matches!(account.kind.as_str(), "telegram" | "vk" | "max") && self.chance(15) {
                tokio::time::sleep(Duration::from_secs(6)).await;
                self.edit(&account, &person).await;
            }
        }
    }

    fn new_person(&self, account: &AccountRow) -> Person {
        let english = self.chance(15);
        let number = 600_000_000 + self.roll(99_999_999) as i64;
        let (external_id, name) = match account.kind.as_str() {
            "vk" => {
                let (first, last) = vk_name(number);
                (number.to_string(), format!("{first} {last}"))
            }
            kind => {
                let name = if english {
                    ENGLISH_NAMES[self.roll(ENGLISH_NAMES.len() as u64) as usize].to_owned()
                } else {
                    let (first, last) = vk_name(number);
                    format!("{first} {last}")
                };
                let id = match kind {
                    "whatsapp" => format!("7916{:07}", number % 10_000_000),
                    "viber" => format!("demo{number}=="),
                    "web" => format!("{number:032x}"),
                    _ => number.to_string(),
                };
                (id, name)
            }
        };
        Person {
            account_id: account.id,
            external_id,
            name,
            english,
            answered_at: None,
        }
    }

    /// Sends a message from `person` through the account's webhook (a website visitor:
    /// through the widget's routes, as the page would).
    async fn write(&self, account: &AccountRow, person: &Person, text: &str, photo: bool) {
        if account.kind == "web" {
            self.visit(account, person, text).await;
            return;
        }
        let id = self.next_id();
        let now = chrono::Utc::now().timestamp();
        let caption = if person.english {
            "Here is a photo"
        } else {
            "Вот фото"
        };
        let simulator = account.credentials["api_url"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let (first, last) = person.name.split_once(' ').unwrap_or((&person.name, ""));
        let body = match account.kind.as_str() {
            "telegram" => {
                let chat: i64 = person.external_id.parse().unwrap_or(0);
                let mut message = json!({"message_id": id, "date": now,
                    "chat": {"id": chat, "type": "private", "first_name": first, "last_name": last},
                    "from": {"id": chat, "is_bot": false, "first_name": first, "last_name": last,
                             "language_code": if person.english { "en" } else { "ru" }}});
                if photo {
                    message["photo"] = json!([{"file_id": format!("demo-photo-{id}"),
                        "file_unique_id": format!("u{id}"), "file_size": super::simulator::PICTURE.len(),
                        "width": 16, "height": 16}]);
                    message["caption"] = json!(caption);
                } else {
                    message["text"] = json!(text);
                }
                json!({"update_id": id, "message": message})
            }
            "vk" => {
                let peer: i64 = person.external_id.parse().unwrap_or(0);
                let attachments = if photo {
                    json!([{"type": "photo", "photo": {"id": id, "owner_id": peer, "sizes": [
                        {"type": "x", "url": format!("{}/media/photo{id}.png", simulator.trim_end_matches("/method")),
                         "width": 16, "height": 16}]}}])
                } else {
                    json!([])
                };
                json!({"type": "message_new", "event_id": format!("demo{id}"), "v": "5.199",
                    "group_id": account.credentials["group_id"],
                    "secret": account.credentials["secret"],
                    "object": {"message": {"date": now, "from_id": peer, "id": id, "out": 0,
                        "peer_id": peer, "text": if photo { caption } else { text },
                        "conversation_message_id": id, "fwd_messages": [], "important": false,
                        "random_id": 0, "attachments": attachments, "is_hidden": false},
                        "client_info": {"keyboard": true, "lang_id": 0}}})
            }
            "viber" => {
                let message = if photo {
                    json!({"type": "picture", "text": caption, "file_name": "photo.png",
                        "media": format!("{}/media/photo{id}.png", simulator.trim_end_matches("/pa"))})
                } else {
                    json!({"type": "text", "text": text})
                };
                json!({"event": "message", "timestamp": now * 1000, "message_token": id,
                    "chat_hostname": "SN-DEMO", "silent": false, "message": message,
                    "sender": {"id": person.external_id, "name": person.name,
                        "language": if person.english { "en" } else { "ru" }, "country": "RU",
                        "api_version": 10}})
            }
            "max" => {
                let user: i64 = person.external_id.parse().unwrap_or(0);
                let attachments = if photo {
                    json!([{"type": "image", "payload": {"photo_id": id, "token": format!("demo{id}"),
                        "url": format!("{}/media/photo{id}.png", simulator.trim_end_matches("/max"))}}])
                } else {
                    Value::Null
                };
                json!({"update_type": "message_created", "timestamp": now * 1000,
                    "user_locale": if person.english { "en" } else { "ru" },
                    "message": {"sender": {"user_id": user, "first_name": first, "last_name": last,
                            "is_bot": false, "last_activity_time": now * 1000},
                        "recipient": {"chat_id": user + 1, "chat_type": "dialog", "user_id": 9_000_000 + account.id},
                        "timestamp": now * 1000,
                        "body": {"mid": format!("mid.demoin{id}"), "seq": id,
                            "text": if photo { caption } else { text }, "attachments": attachments}}})
            }
            _ => {
                let mut message = json!({"from": person.external_id, "id": format!("wamid.DEMOIN{id}"),
                    "timestamp": now.to_string()});
                if photo {
                    message["type"] = json!("image");
                    message["image"] = json!({"id": format!("{id}"), "mime_type": "image/png",
                        "sha256": "demo", "caption": caption});
                } else {
                    message["type"] = json!("text");
                    message["text"] = json!({"body": text});
                }
                whatsapp_notification(
                    account,
                    json!({"contacts": [{"profile": {"name": person.name},
                    "wa_id": person.external_id}], "messages": [message]}),
                )
            }
        };
        self.last_message
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                (account.id, person.external_id.clone()),
                (id, text.to_owned()),
            );
        self.post(account, &body).await;
    }

    /// The person corrects their last message (Telegram, VK and MAX report edits).
    async fn edit(&self, account: &AccountRow, person: &Person) {
        let last = self
            .last_message
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(account.id, person.external_id.clone()))
            .cloned();
        let Some((id, text)) = last else {
            return;
        };
        let edited = if person.english {
            format!("{text} (by Friday, if possible)")
        } else {
            format!("{text} (желательно до пятницы)")
        };
        let now = chrono::Utc::now().timestamp();
        let body = match account.kind.as_str() {
            "telegram" => {
                let chat: i64 = person.external_id.parse().unwrap_or(0);
                let (first, _) = person.name.split_once(' ').unwrap_or((&person.name, ""));
                json!({"update_id": self.next_id(), "edited_message": {"message_id": id,
                    "date": now - 6, "edit_date": now, "text": edited,
                    "chat": {"id": chat, "type": "private", "first_name": first},
                    "from": {"id": chat, "is_bot": false, "first_name": first}}})
            }
            "max" => {
                let user: i64 = person.external_id.parse().unwrap_or(0);
                json!({"update_type": "message_edited", "timestamp": now * 1000,
                    "message": {"sender": {"user_id": user, "first_name": person.name, "is_bot": false},
                        "recipient": {"chat_id": user + 1, "chat_type": "dialog", "user_id": 9_000_000 + account.id},
                        "timestamp": (now - 6) * 1000,
                        "body": {"mid": format!("mid.demoin{id}"), "seq": id, "text": edited}}})
            }
            _ => {
                let peer: i64 = person.external_id.parse().unwrap_or(0);
                json!({"type": "message_edit", "event_id": format!("demoedit{id}"), "v": "5.199",
                    "group_id": account.credentials["group_id"], "secret": account.credentials["secret"],
                    "object": {"date": now - 6, "update_time": now, "from_id": peer, "id": id,
                        "out": 0, "peer_id": peer, "text": edited, "conversation_message_id": id,
                        "attachments": []}})
            }
        };
        self.post(account, &body).await;
    }

    /// A delivery state of an operator's message, as Viber and WhatsApp report it (VK:
    /// the person read the chat up to it).
    async fn report(&self, account: &AccountRow, sent: &Sent, state: &str) {
        let now = chrono::Utc::now().timestamp();
        let body = match account.kind.as_str() {
            "vk" => {
                let peer: i64 = sent.recipient.parse().unwrap_or(0);
                let read: i64 = sent.channel_message_id.parse().unwrap_or(0);
                json!({"type": "message_read", "event_id": format!("demoread{read}"), "v": "5.199",
                    "group_id": account.credentials["group_id"], "secret": account.credentials["secret"],
                    "object": {"from_id": peer, "peer_id": peer, "read_message_id": read}})
            }
            "viber" => {
                let token: i64 = sent.channel_message_id.parse().unwrap_or(0);
                json!({"event": if state == "read" { "seen" } else { "delivered" },
                    "timestamp": now * 1000, "chat_hostname": "SN-DEMO", "message_token": token,
                    "user_id": sent.recipient})
            }
            _ => {
                let mut status = json!({"id": sent.channel_message_id, "status": state,
                    "timestamp": now.to_string(), "recipient_id": sent.recipient});
                if let Some(data) = &sent.callback_data {
                    status["biz_opaque_callback_data"] = json!(data);
                }
                whatsapp_notification(account, json!({"statuses": [status]}))
            }
        };
        self.post(account, &body).await;
    }

    /// A website visitor writes through the widget, from the demo site's origin: their
    /// name the first time, then the message with a key of its own.
    async fn visit(&self, account: &AccountRow, person: &Person, text: &str) {
        use crate::domain::widget;
        let base = format!(
            "{}/widget/{}",
            self.server,
            widget::widget_id(&self.secret, account.id)
        );
        let token = widget::visitor_token(&self.secret, account.id, &person.external_id);
        let key = format!("demo-{}", self.next_id());
        let sent = self
            .http
            .post(format!("{base}/messages"))
            .header("origin", &self.server)
            .header("idempotency-key", key)
            .bearer_auth(token)
            .json(&json!({"text": text, "page_url": format!("{}/demo/site", self.server)}))
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                tracing::warn!(account = account.id, status = %response.status(), "the demo visitor's message was refused")
            }
            Err(error) => {
                tracing::warn!(account = account.id, error = %error, "the demo visitor's message did not arrive")
            }
        }
    }

    /// POSTs a platform's callback to the account's webhook route, signed as it signs.
    async fn post(&self, account: &AccountRow, body: &Value) {
        let bytes = body.to_string().into_bytes();
        let url = format!("{}/hooks/{}/{}", self.server, account.kind, account.id);
        let credential = |name: &str| account.credentials[name].as_str().unwrap_or("").to_owned();
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(30));
        request = match account.kind.as_str() {
            "telegram" => request.header(
                "X-Telegram-Bot-Api-Secret-Token",
                credential("webhook_secret"),
            ),
            "viber" => request.header(
                "X-Viber-Content-Signature",
                hmac_hex(credential("auth_token").as_bytes(), &bytes),
            ),
            "max" => request.header("X-Max-Bot-Api-Secret", credential("webhook_secret")),
            "whatsapp" => request.header(
                "X-Hub-Signature-256",
                format!(
                    "sha256={}",
                    hmac_hex(credential("app_secret").as_bytes(), &bytes)
                ),
            ),
            _ => request,
        };
        match request.body(bytes).send().await {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                tracing::warn!(account = account.id, status = %response.status(), "the demo's webhook was refused")
            }
            Err(error) => {
                tracing::warn!(account = account.id, error = %error, "the demo's webhook did not arrive")
            }
        }
    }
}

/// A WhatsApp Cloud API notification of the account's number around `value`.
fn whatsapp_notification(account: &AccountRow, mut value: Value) -> Value {
    let number = account.credentials["phone_number_id"].clone();
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "79000000000", "phone_number_id": number});
    json!({"object": "whatsapp_business_account", "entry": [{"id": "demo",
        "changes": [{"field": "messages", "value": value}]}]})
}

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The name of a VK user of the demo, the same for the same id (`users.get` answers it).
pub fn vk_name(id: i64) -> (String, String) {
    let id = id.unsigned_abs() as usize;
    let first = FIRST_NAMES[id % FIRST_NAMES.len()];
    let last = LAST_NAMES[(id / FIRST_NAMES.len()) % LAST_NAMES.len()];
    // Russian surnames take -а for women's first names ending in -а/-я.
    let last = if first.ends_with('а') || first.ends_with('я') {
        format!("{last}а")
    } else {
        last.to_owned()
    };
    (first.to_owned(), last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_is_off_or_a_range_of_seconds() {
        assert_eq!(Activity::parse("off"), Ok(None));
        assert_eq!(
            Activity::parse("20-60"),
            Ok(Some(Activity {
                min: Duration::from_secs(20),
                max: Duration::from_secs(60)
            }))
        );
        assert_eq!(
            Activity::parse("5"),
            Ok(Some(Activity {
                min: Duration::from_secs(5),
                max: Duration::from_secs(5)
            }))
        );
        assert!(Activity::parse("60-20").is_err());
        assert!(Activity::parse("0").is_err());
        assert!(Activity::parse("often").is_err());
    }

    #[test]
    fn a_vk_user_always_has_the_same_name() {
        assert_eq!(vk_name(600_000_123), vk_name(600_000_123));
        let (first, last) = vk_name(7);
        assert!(!first.is_empty() && !last.is_empty());
    }
}
