//! R40: the chat widget on the company's own website, through its public routes as the
//! widget calls them from a page on another origin: CORS only for the account's allowed
//! origins, a visitor's token that reads that visitor's messages alone, a message sent
//! once per Idempotency-Key, the operator's reply and typing live on the visitor's
//! stream (resumable), files both ways, and where the visitor came from shown to the
//! operators.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::channels::upload;
use crate::fakes::PNG;
use crate::helpers::{EventStream, TestApp, spawn_app};

const SITE: &str = "http://shop.test:8000";
const WAIT: Duration = Duration::from_secs(15);

/// A website account for `SITE` and its widget's id.
async fn website(app: &TestApp, extra: Value) -> (i64, String) {
    let mut credentials = json!({"allowed_origins": SITE, "greeting": "Здравствуйте! Чем помочь?",
        "color": "#0a7d3e", "consent_text": "Согласен на обработку персональных данных ООО «Кофе»"});
    if let (Some(c), Some(e)) = (credentials.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    let account = app
        .create_account("web", json!({"name": "Сайт", "credentials": credentials}))
        .await;
    let snippet = app
        .admin()
        .await
        .get(&format!("/api/v1/accounts/{account}/widget"))
        .await;
    assert_eq!(snippet.status, StatusCode::OK, "{}", snippet.text);
    let id = snippet.body["widget_id"].as_str().unwrap().to_owned();
    assert!(
        snippet.body["snippet"].as_str().unwrap().contains(&format!(
            "/widget.js\" data-account=\"{id}\" async></script>"
        )),
        "{}",
        snippet.text
    );
    assert_eq!(id.len(), 20);
    (account, id)
}

/// The widget's calls, as a page on `origin` makes them.
struct Visitor<'a> {
    app: &'a TestApp,
    widget: String,
    origin: &'a str,
    token: Option<String>,
    http: reqwest::Client,
}

impl<'a> Visitor<'a> {
    fn new(app: &'a TestApp, widget: &str, origin: &'a str) -> Self {
        Visitor {
            app,
            widget: widget.to_owned(),
            origin,
            token: None,
            http: reqwest::Client::builder()
                .user_agent("Mozilla/5.0 (X11; Linux x86_64) Widget test")
                .build()
                .unwrap(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(
                method,
                format!("{}/widget/{}{path}", self.app.address, self.widget),
            )
            .header("origin", self.origin);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    async fn introduce(&mut self, body: Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, "/visitors")
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn say(&self, key: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .request(reqwest::Method::POST, "/messages")
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn history(&self) -> Vec<Value> {
        let answer: Value = self
            .request(reqwest::Method::GET, "/messages")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["messages"].as_array().cloned().unwrap_or_default()
    }

    async fn stream(&self, last: Option<&str>) -> EventStream {
        let mut request = self.request(reqwest::Method::GET, "/events");
        if let Some(last) = last {
            request = request.header("last-event-id", last);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            self.origin
        );
        EventStream::of(response)
    }
}

#[actix_web::test]
async fn r40_only_the_accounts_origins_may_use_the_widget_and_a_visitor_reads_only_their_own_messages()
 {
    let app = spawn_app().await;
    let (account, widget) = website(&app, json!({})).await;
    let mut anna = Visitor::new(&app, &widget, SITE);

    // The allowed origin gets the configuration with its CORS header; another does not.
    let config = anna
        .request(reqwest::Method::GET, "/config")
        .send()
        .await
        .unwrap();
    assert_eq!(config.status(), StatusCode::OK);
    assert_eq!(config.headers()["access-control-allow-origin"], SITE);
    let config: Value = config.json().await.unwrap();
    assert_eq!(config["greeting"], "Здравствуйте! Чем помочь?");
    assert_eq!(config["color"], "#0a7d3e");
    assert_eq!(config["online"], false, "no operator is online");
    let elsewhere = Visitor::new(&app, &widget, "http://evil.test");
    let refused = elsewhere
        .request(reqwest::Method::GET, "/config")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let preflight = anna
        .request(reqwest::Method::OPTIONS, "/messages")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert!(
        preflight.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("idempotency-key")
    );
    let unknown = Visitor::new(&app, "00000000000000000000", SITE);
    assert_eq!(
        unknown
            .request(reqwest::Method::GET, "/config")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // Leaving a name needs consent to the company's text; then the visitor gets a token.
    let without = anna
        .introduce(json!({"name": "Анна", "phone": "+7 999 000-11-22"}))
        .await;
    assert_eq!(without.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let introduced = anna
        .introduce(json!({"name": "Анна", "phone": "+7 999 000-11-22", "consent": true,
                          "page_url": format!("{SITE}/catalog/coffee"), "referrer": "https://yandex.ru/search"}))
        .await;
    assert_eq!(introduced.status(), StatusCode::CREATED);
    assert_eq!(introduced.headers()["access-control-allow-origin"], SITE);
    let token: Value = introduced.json().await.unwrap();
    anna.token = Some(token["token"].as_str().unwrap().to_owned());

    // A message needs an Idempotency-Key; a retry with the same key is the same message.
    let (status, _) = {
        let response = anna
            .request(reqwest::Method::POST, "/messages")
            .json(&json!({"text": "Без ключа"}))
            .send()
            .await
            .unwrap();
        (response.status(), ())
    };
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, first) = anna
        .say("k-1", json!({"text": "Есть ли зерно для эспрессо?"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["id"], 1);
    assert_eq!(first["from"], "visitor");
    let (status, again) = anna
        .say("k-1", json!({"text": "Есть ли зерно для эспрессо?"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], 1);
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE direction = 'in'"),
        1
    );
    let (status, bad) = anna.say("k-2", json!({"text": "   "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

    // The operators see a website dialog like any other, with the visitor's name, where
    // they came from, and the phone they left.
    let admin = app.admin().await;
    let dialog = app.count(&format!(
        "SELECT id FROM dialogs WHERE account_id = {account}"
    ));
    let detail = admin.get(&format!("/api/v1/dialogs/{dialog}")).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text);
    assert_eq!(detail.body["interlocutor"]["name"], "Анна");
    assert_eq!(
        detail.body["visit"]["page_url"],
        format!("{SITE}/catalog/coffee")
    );
    assert_eq!(detail.body["visit"]["referrer"], "https://yandex.ru/search");
    assert_eq!(detail.body["visit"]["phone"], "+79990001122");
    assert!(detail.body["visit"]["user_agent"].is_string());

    // Another visitor (a new token) sees nothing of Anna's; a forged token is refused,
    // with the CORS header so the widget can read why.
    let mut boris = Visitor::new(&app, &widget, SITE);
    let token: Value = boris
        .introduce(json!({"name": "Борис", "email": "boris@example.ru", "consent": true}))
        .await
        .json()
        .await
        .unwrap();
    boris.token = Some(token["token"].as_str().unwrap().to_owned());
    assert!(boris.history().await.is_empty());
    // A visitor who told nothing and wrote nothing is nobody yet: no prospect is made,
    // and their stream waits for the first message.
    let prospects = app.count("SELECT count(*) FROM clients");
    let mut carol = Visitor::new(&app, &widget, SITE);
    let token: Value = carol.introduce(json!({})).await.json().await.unwrap();
    carol.token = Some(token["token"].as_str().unwrap().to_owned());
    assert_eq!(app.count("SELECT count(*) FROM clients"), prospects);
    let early = carol
        .request(reqwest::Method::GET, "/events")
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), StatusCode::CONFLICT);
    let anna_token = anna.token.clone().unwrap();
    let (visitor_id, _) = anna_token.split_once('.').unwrap();
    let forged = Visitor {
        token: Some(format!("{visitor_id}.{}", "0".repeat(32))),
        ..Visitor::new(&app, &widget, SITE)
    };
    let answer = forged
        .request(reqwest::Method::GET, "/messages")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(answer.headers()["access-control-allow-origin"], SITE);
    let mut boris_stream = boris.stream(None).await;

    // The operator answers: Anna's stream gets it live, numbered, with the operator's
    // first name only; a reconnect after message 1 resumes from 2.
    let mut anna_stream = anna.stream(Some("1")).await;
    let reply = admin
        .post(
            &format!("/api/v1/dialogs/{dialog}/messages"),
            json!({"text": "Да, есть три сорта", "attachments": [upload("прайс.png", "image/png")]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let seen = anna_stream.until(WAIT, |e| e.event == "message").await;
    let message = seen.last().expect("the reply arrived");
    assert_eq!(message.id, "2");
    let body: Value = serde_json::from_str(&message.data).unwrap();
    assert_eq!(body["from"], "operator");
    assert_eq!(body["text"], "Да, есть три сорта");
    assert_eq!(body["operator"], "admin", "the display name's first word");
    assert_eq!(body["files"][0]["name"], "прайс.png");
    assert!(body.get("dialog_id").is_none() && body.get("message_id").is_none());
    let file = anna
        .request(reqwest::Method::GET, "/files/2/1")
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.bytes().await.unwrap().as_ref(), PNG);
    assert_eq!(
        boris
            .request(reqwest::Method::GET, "/files/2/1")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    // The operator reads the dialog: Anna's message is marked read.
    let read = admin
        .post(&format!("/api/v1/dialogs/{dialog}/read"), json!({}))
        .await;
    assert!(read.status.is_success(), "{}", read.text);
    let seen = anna_stream.until(WAIT, |e| e.event == "read").await;
    let mark: Value = serde_json::from_str(&seen.last().expect("a read mark").data).unwrap();
    assert_eq!(mark["up_to"], 1);
    // The operator types: Anna's stream says so.
    let typing = admin
        .post(
            "/api/v1/presence",
            json!({"dialog_id": dialog, "claim": "typing"}),
        )
        .await;
    assert!(typing.status.is_success(), "{}", typing.text);
    let seen = anna_stream.until(WAIT, |e| e.event == "typing").await;
    assert!(
        seen.last().is_some_and(|e| e.data.contains("true")),
        "{seen:?}"
    );
    // Nothing of it reached Boris.
    assert!(
        boris_stream
            .until(Duration::from_millis(700), |_| false)
            .await
            .iter()
            .all(|e| e.event != "message"),
        "another visitor's stream got a message"
    );

    // A file from the visitor reaches the operator.
    let (status, with_file) = anna
        .say(
            "k-3",
            json!({"text": "Вот мой чек", "attachments": [upload("чек.png", "image/png")]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{with_file}");
    assert_eq!(with_file["id"], 3);
    let feed = admin
        .get(&format!("/api/v1/dialogs/{dialog}/messages"))
        .await;
    let last_in = feed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|m| m["direction"] == "in")
        .unwrap()
        .clone();
    assert_eq!(last_in["attachments"][0]["file_name"], "чек.png");
    // History on return: all three, in order.
    let history: Vec<i64> = anna
        .history()
        .await
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(history, [1, 2, 3]);
}
