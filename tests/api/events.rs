//! Server-Sent Events (R37) read with a real SSE parser: live delivery, resuming without
//! gaps or duplicates, access re-checked, the stream cap, two processes, dashboards.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const PASSWORD: &str = "operator-password";
const WAIT: Duration = Duration::from_secs(10);

fn data(event: &eventsource_stream::Event) -> Value {
    serde_json::from_str(&event.data).unwrap_or(Value::Null)
}

async fn operator_app() -> (TestApp, i64, i64) {
    let app = spawn_app_with(|c| {
        c.stream_recheck_secs = 1;
        c.monitor_interval_secs = 1;
        c.login_attempts_per_ip = 1000;
    })
    .await;
    let account = app.create_account("telegram", json!({})).await;
    let anna = app.add_user("anna", PASSWORD, false).await;
    app.grant(account, json!([{"user_id": anna, "send": true}]))
        .await;
    (app, account, anna)
}

#[actix_web::test]
async fn r37_an_operator_sees_new_messages_dialog_changes_and_counters_live() {
    let (app, account, _) = operator_app().await;
    let anna = app.login("anna", PASSWORD).await;
    let (status, stream) = anna.events("/api/v1/events", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut stream = stream.unwrap();
    let first = stream.next(WAIT).await.expect("the opening counters");
    assert_eq!(first.event, "counters");
    assert_eq!(data(&first), json!({"new": 0, "in_work": 0, "all": 0}));

    let dialog = app.dialog_of(account, "1", "Здравствуйте!").await;
    // The message and the counters that count it, in either order: counters are
    // recomputed from the database and may overtake the event.
    let (mut got_message, mut got_counters) = (false, false);
    let seen = stream
        .until(WAIT, |e| {
            got_message |= e.event == "message";
            got_counters |= e.event == "counters" && data(e)["new"] == 1;
            got_message && got_counters
        })
        .await;
    let message = seen
        .iter()
        .find(|e| e.event == "message")
        .expect("a message event");
    assert_eq!(data(message)["dialog_id"], dialog);
    assert_eq!(data(message)["preview"], "Здравствуйте!");
    assert_eq!(data(message)["direction"], "in");
    assert!(
        seen.iter()
            .any(|e| e.event == "dialog" && data(e)["status"] == "new")
    );
    let counters = seen.iter().rev().find(|e| e.event == "counters").unwrap();
    assert_eq!(data(counters), json!({"new": 1, "in_work": 0, "all": 1}));
    assert!(
        seen.iter().all(|e| !e.id.is_empty()),
        "every event has an id"
    );

    anna.post(&format!("/api/v1/dialogs/{dialog}/accept"), json!({}))
        .await;
    let (mut accepted, mut moved) = (false, false);
    let seen = stream
        .until(WAIT, |e| {
            accepted |= e.event == "dialog" && data(e)["status"] == "accepted";
            moved |= e.event == "counters" && data(e)["in_work"] == 1;
            accepted && moved
        })
        .await;
    assert!(
        seen.iter()
            .any(|e| e.event == "message" && data(e)["system_kind"] == "accepted")
    );
    let counters = seen.iter().rev().find(|e| e.event == "counters").unwrap();
    assert_eq!(data(counters), json!({"new": 0, "in_work": 1, "all": 1}));
}

#[actix_web::test]
async fn r37_a_reconnect_with_last_event_id_gets_exactly_the_missed_events() {
    let (app, account, _) = operator_app().await;
    let anna = app.login("anna", PASSWORD).await;
    let (_, stream) = anna.events("/api/v1/events", None).await;
    let mut stream = stream.unwrap();
    stream.next(WAIT).await;
    app.dialog_of(account, "1", "один").await;
    let seen = stream.until(WAIT, |e| e.event == "message").await;
    let resume_from = seen.last().unwrap().id.clone();
    drop(stream);

    app.dialog_of(account, "1", "два").await;
    app.dialog_of(account, "2", "три").await;
    let expected: Vec<i64> = {
        let from: i64 = resume_from.parse().unwrap();
        let n = app.count(&format!(
            "SELECT count(*) FROM events WHERE id > {from} AND kind IN ('message', 'dialog')"
        ));
        assert!(n >= 4, "{n}");
        (0..n).collect()
    };
    for via_header in [true, false] {
        let (_, stream) = if via_header {
            anna.events("/api/v1/events", Some(&resume_from)).await
        } else {
            anna.events(&format!("/api/v1/events?last_event_id={resume_from}"), None)
                .await
        };
        let mut stream = stream.unwrap();
        let replayed = stream.until(WAIT, |e| e.event == "counters").await;
        let ids: Vec<i64> = replayed
            .iter()
            .filter(|e| e.event != "counters")
            .map(|e| e.id.parse().unwrap())
            .collect();
        assert_eq!(ids.len(), expected.len(), "{replayed:?}");
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "in order, no repeats: {ids:?}"
        );
        assert!(ids[0] > resume_from.parse::<i64>().unwrap());
        let texts: Vec<String> = replayed
            .iter()
            .filter(|e| e.event == "message")
            .map(|e| data(e)["preview"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(texts, vec!["два", "три"]);
    }
    let (status, _) = anna.events("/api/v1/events?last_event_id=abc", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // An id from the future (another database) cannot be resumed: resync.
    let (_, stream) = anna.events("/api/v1/events", Some("999999999")).await;
    let first = stream.unwrap().next(WAIT).await.unwrap();
    assert_eq!(first.event, "resync");
}

#[actix_web::test]
async fn r37_writers_racing_while_a_reader_reconnects_often_lose_and_double_nothing() {
    let app = spawn_app_with(|c| c.db_pool_size = 12).await;
    let mut accounts = Vec::new();
    for _ in 0..8 {
        accounts.push(app.create_account("telegram", json!({})).await);
    }
    let admin = app.admin().await;
    let writers = accounts.iter().map(|account| {
        let app = &app;
        async move {
            for i in 0..500 {
                app.inbound_with_id(
                    *account,
                    &format!("{}", i % 7),
                    "сообщение",
                    &format!("w{account}:{i}"),
                )
                .await;
            }
        }
    });
    let reader = async {
        let mut seen = BTreeSet::new();
        // From the start: the writers may commit before the first connection.
        let mut last: Option<String> = Some("0".into());
        let mut quiet_rounds = 0;
        while quiet_rounds < 3 {
            // The server counts a dropped stream until it notices the drop: a reconnect
            // that comes first may find the token's streams all taken (429), and waits
            // as a client does.
            let mut tries = 0;
            let mut stream = loop {
                let (status, stream) = admin.events("/api/v1/events", last.as_deref()).await;
                match stream {
                    Some(stream) => break stream,
                    None if status == reqwest::StatusCode::TOO_MANY_REQUESTS && tries < 50 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    None => panic!("a stream: {status}"),
                }
            };
            let mut got = 0;
            // Read up to 97 events, then reconnect from the last id seen.
            while got < 97 {
                let Some(event) = stream.next(Duration::from_secs(2)).await else {
                    break;
                };
                if event.event == "counters" || event.id.is_empty() {
                    continue;
                }
                let id: i64 = event.id.parse().unwrap();
                assert!(seen.insert(id), "event {id} delivered twice");
                last = Some(event.id.clone());
                got += 1;
            }
            quiet_rounds = if got == 0 { quiet_rounds + 1 } else { 0 };
        }
        seen
    };
    let (_, seen) =
        futures_util::future::join(futures_util::future::join_all(writers), reader).await;
    let committed = app.count("SELECT count(*) FROM events WHERE kind IN ('message', 'dialog')");
    assert!(committed >= 8000, "{committed}");
    assert_eq!(
        seen.len() as i64,
        committed,
        "every committed event was delivered once"
    );
}

#[actix_web::test]
async fn r37_a_revoked_grant_stops_delivery_and_a_disabled_users_stream_closes() {
    let (app, account, anna_id) = operator_app().await;
    let other = app.create_account("vk", json!({})).await;
    app.grant(other, json!([{"user_id": anna_id, "view": true}]))
        .await;
    let anna = app.login("anna", PASSWORD).await;
    let (_, stream) = anna.events("/api/v1/events", None).await;
    let mut stream = stream.unwrap();
    stream.next(WAIT).await;
    app.grant(account, json!([])).await;
    // Within the re-check interval (1 s here) the stream forgets the account.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let hidden = app.dialog_of(account, "1", "секрет").await;
    let shown = app.dialog_of(other, "2", "можно").await;
    let seen = stream
        .until(WAIT, |e| {
            e.event == "message" && data(e)["dialog_id"] == shown
        })
        .await;
    assert!(
        seen.iter()
            .any(|e| e.event == "message" && data(e)["dialog_id"] == shown)
    );
    assert!(
        seen.iter().all(|e| data(e)["dialog_id"] != hidden),
        "nothing of a revoked account: {seen:?}"
    );
    let admin = app.admin().await;
    admin
        .patch(
            &format!("/api/v1/users/{anna_id}"),
            json!({"disabled": true}),
        )
        .await;
    assert!(
        stream.closed_within(Duration::from_secs(5)).await,
        "the disabled user's stream closed"
    );
}

#[actix_web::test]
async fn streams_beyond_the_cap_get_a_fast_503_while_the_rest_keeps_answering() {
    let app = spawn_app_with(|c| c.max_streams = 2).await;
    let admin = app.admin().await;
    let (a, _first) = admin.events("/api/v1/events", None).await;
    let (b, _second) = admin.events("/api/v1/events", None).await;
    assert_eq!((a, b), (StatusCode::OK, StatusCode::OK));
    let started = std::time::Instant::now();
    let (third, _) = admin.events("/api/v1/events", None).await;
    assert_eq!(third, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(admin.get("/readyz").await.status, StatusCode::OK);
    assert_eq!(admin.get("/api/v1/me").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn r37_events_written_by_one_process_reach_subscribers_of_another() {
    let (app, account, _) = operator_app().await;
    let peer = app.spawn_peer().await;
    let anna = app.login("anna", PASSWORD).await;
    let (_, stream) = peer.client(&anna).events("/api/v1/events", None).await;
    let mut stream = stream.unwrap();
    stream.next(WAIT).await;
    let dialog = app.dialog_of(account, "1", "через другой процесс").await;
    let seen = stream.until(WAIT, |e| e.event == "message").await;
    assert_eq!(data(seen.last().unwrap())["dialog_id"], dialog);
}

#[actix_web::test]
async fn r37_dashboards_get_figures_and_status_changes_with_a_monitor_token() {
    let (app, account, anna_id) = operator_app().await;
    let monitor = app.with_token(&app.token_for(app.admin_id, &["monitor"]).await);
    let reader = app.with_token(&app.token_for(anna_id, &["read"]).await);
    let (denied, _) = reader.events("/api/v1/monitor/events", None).await;
    assert_eq!(denied, StatusCode::FORBIDDEN);
    let dialog = app.dialog_of(account, "1", "жду ответа").await;
    let (status, stream) = monitor.events("/api/v1/monitor/events", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut stream = stream.unwrap();
    let figures = stream.until(WAIT, |e| e.event == "figures").await;
    let figures = data(figures.last().unwrap());
    assert_eq!(figures["dialogs"][0]["status"], "new");
    assert_eq!(figures["dialogs"][0]["count"], 1);
    assert_eq!(figures["unanswered"], 1);
    assert_eq!(figures["messages_in_last_minute"], 1);
    assert!(figures["oldest_waiting_seconds"].as_i64().is_some());
    assert!(figures["sse_subscribers"].as_u64().unwrap() >= 1);
    let admin = app.admin().await;
    admin
        .post(&format!("/api/v1/dialogs/{dialog}/accept"), json!({}))
        .await;
    let changes = stream
        .until(WAIT, |e| {
            e.event == "status" && data(e)["status"] == "accepted"
        })
        .await;
    let change = data(changes.last().unwrap());
    assert_eq!(change["status"], "accepted");
    assert_eq!(change["dialog_id"], dialog);
}

#[actix_web::test]
async fn r37_a_stream_cannot_resume_from_before_the_retention_and_is_told_to_resync() {
    let (app, account, _) = operator_app().await;
    app.dialog_of(account, "1", "старое").await;
    let old = app.count("SELECT max(id) FROM events");
    app.dialog_of(account, "1", "новое").await;
    let mut conn = app.db.connect();
    use diesel::RunQueryDsl;
    diesel::sql_query(format!(
        "UPDATE events SET created_at = now() - interval '30 days' WHERE id <= {old}"
    ))
    .execute(&mut conn)
    .unwrap();
    let removed =
        dialogi::db::events::prune(&mut conn, chrono::Utc::now() - chrono::Duration::days(7))
            .unwrap();
    assert!(removed >= 2, "{removed}");
    let anna = app.login("anna", PASSWORD).await;
    let (_, stream) = anna
        .events("/api/v1/events", Some(&(old - 1).to_string()))
        .await;
    assert_eq!(stream.unwrap().next(WAIT).await.unwrap().event, "resync");
    // From the newest removed id on, it resumes normally.
    let (_, stream) = anna.events("/api/v1/events", Some(&old.to_string())).await;
    let seen = stream.unwrap().until(WAIT, |e| e.event == "counters").await;
    assert!(
        seen.iter()
            .any(|e| e.event == "message" && data(e)["preview"] == "новое")
    );
}

/// A client that asks for the stream and then does not read, with a 1 KiB receive buffer.
fn stalled_client(address: &str, token: &str) -> std::net::TcpStream {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, connect, setsockopt, socket, sockopt,
    };

    let port: u16 = address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .expect("a socket");
    setsockopt(&fd, sockopt::RcvBuf, &1024).expect("a small receive buffer");
    connect(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, port)).expect("connect");
    let mut stream = std::net::TcpStream::from(fd);
    write!(
        stream,
        "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    stream
}

#[actix_web::test]
async fn r37_a_slow_reader_is_cut_off_and_a_reader_that_keeps_up_gets_everything() {
    // Small kernel buffers, so that "does not read" shows after a few kilobytes.
    let app = spawn_app_with(|c| {
        c.stream_queue = 16;
        c.socket_send_buffer = Some(4096);
    })
    .await;
    let account = app.create_account("telegram", json!({})).await;
    let token = app.token_for(app.admin_id, &["read"]).await;
    let stalled = stalled_client(&app.address, &token);
    let admin = app.admin().await;
    let (_, stream) = admin.events("/api/v1/events", None).await;
    let mut stream = stream.unwrap();
    stream.next(WAIT).await;

    const MESSAGES: usize = 300;
    let padding = "x".repeat(150);
    let writer = async {
        for i in 0..MESSAGES {
            app.inbound(account, &format!("{}", i % 10), &format!("{i} {padding}"))
                .await;
        }
    };
    let reader = async {
        let mut messages = 0;
        while messages < MESSAGES {
            let Some(event) = stream.next(WAIT).await else {
                break;
            };
            if event.event == "message" {
                messages += 1;
            }
        }
        messages
    };
    let ((), messages) = futures_util::future::join(writer, reader).await;
    assert_eq!(
        messages, MESSAGES,
        "a reader that keeps up gets every message"
    );

    // Once its queue has stayed full for 5 s, the stalled stream is ended: reading now
    // finds its end (the server closes the connection) before all messages.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (ended, received) = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut stalled = stalled;
        stalled
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut all = Vec::new();
        let ended = loop {
            let mut buffer = [0u8; 8192];
            match stalled.read(&mut buffer) {
                Ok(0) => break true,
                Ok(n) => all.extend_from_slice(&buffer[..n]),
                Err(_) => break false,
            }
        };
        (
            ended,
            String::from_utf8_lossy(&all)
                .matches("event: message")
                .count(),
        )
    })
    .await
    .unwrap();
    assert!(
        ended,
        "the server ended the slow stream ({received} messages reached it)"
    );
    assert!(
        received < MESSAGES,
        "the slow reader was cut off early ({received} messages)"
    );
}

#[actix_web::test]
async fn r37_grant_changes_and_sign_outs_reach_open_streams_at_once_not_at_the_next_recheck() {
    // A re-check an hour away: only the `access` and `credentials` events can act here.
    let app = spawn_app_with(|c| {
        c.stream_recheck_secs = 3600;
        c.login_attempts_per_ip = 1000;
    })
    .await;
    let account = app.create_account("telegram", json!({})).await;
    let other = app.create_account("vk", json!({})).await;
    let anna_id = app.add_user("anna", PASSWORD, false).await;
    let boris_id = app.add_user("boris", PASSWORD, false).await;
    let both = json!([{"user_id": anna_id, "view": true}, {"user_id": boris_id, "view": true}]);
    app.grant(account, both.clone()).await;
    app.grant(other, both.clone()).await;
    let anna = app.login("anna", PASSWORD).await;
    let boris = app.login("boris", PASSWORD).await;
    let mut anna_stream = anna.events("/api/v1/events", None).await.1.unwrap();
    let mut boris_stream = boris.events("/api/v1/events", None).await.1.unwrap();
    let message_of = |stream_seen: &[eventsource_stream::Event], dialog: i64| {
        stream_seen
            .iter()
            .any(|e| e.event == "message" && data(e)["dialog_id"] == dialog)
    };

    // Anna loses the account: its next dialog reaches Boris, never her.
    app.grant(account, json!([{"user_id": boris_id, "view": true}]))
        .await;
    let hidden = app.dialog_of(account, "1", "секрет").await;
    let shown = app.dialog_of(other, "2", "можно").await;
    let seen = anna_stream
        .until(WAIT, |e| {
            e.event == "message" && data(e)["dialog_id"] == shown
        })
        .await;
    assert!(message_of(&seen, shown), "{seen:?}");
    assert!(
        !message_of(&seen, hidden),
        "nothing of a revoked account: {seen:?}"
    );
    let seen = boris_stream
        .until(WAIT, |e| {
            e.event == "message" && data(e)["dialog_id"] == shown
        })
        .await;
    assert!(
        message_of(&seen, hidden) && message_of(&seen, shown),
        "{seen:?}"
    );

    // And gets it back: the next dialog reaches her again.
    app.grant(account, both).await;
    let back = app.dialog_of(account, "3", "снова видно").await;
    let seen = anna_stream
        .until(WAIT, |e| {
            e.event == "message" && data(e)["dialog_id"] == back
        })
        .await;
    assert!(message_of(&seen, back), "{seen:?}");

    // Anna signs out: her stream ends at once; Boris's goes on.
    let signed_out = anna.delete("/api/v1/session").await;
    assert!(signed_out.status.is_success(), "{}", signed_out.text);
    assert!(
        anna_stream.closed_within(Duration::from_secs(5)).await,
        "the signed-out session's stream closed"
    );
    let after = app.dialog_of(other, "4", "после выхода").await;
    let seen = boris_stream
        .until(WAIT, |e| {
            e.event == "message" && data(e)["dialog_id"] == after
        })
        .await;
    assert!(message_of(&seen, after), "{seen:?}");
}

#[actix_web::test]
async fn r37_events_carry_the_list_row_and_the_whole_message_so_nothing_is_fetched_again() {
    let (app, account, _) = operator_app().await;
    let anna = app.login("anna", PASSWORD).await;
    let dialog = app.dialog_of(account, "7", "Первое").await;
    let list = anna.get("/api/v1/dialogs?section=all").await;
    let listed = list.body["items"][0].clone();
    let (_, stream) = anna.events("/api/v1/events", None).await;
    let mut stream = stream.unwrap();
    stream.next(WAIT).await.expect("the opening counters");

    // A second message, with two files: the message event holds it as the feed shows it,
    // the dialog event the row as the list shows it.
    let file = |name: &str| dialogi::db::dialogs::NewAttachment {
        kind: "file".into(),
        file_name: name.into(),
        mime_type: Some("application/pdf".into()),
        size_bytes: Some(1000),
        channel_file_id: Some(format!("file-{name}")),
        url: None,
        storage_path: None,
    };
    app.engine
        .inbound(
            account,
            dialogi::actors::Inbound {
                sender: dialogi::db::clients::Sender {
                    external_id: "7".into(),
                    display_name: "Клиент 7".into(),
                    username: None,
                },
                channel_message_id: "two-files".into(),
                text: "Второе сообщение".into(),
                sent_at: None,
                attachments: vec![file("счёт.pdf"), file("акт.pdf")],
                author: None,
                extras: Default::default(),
            },
        )
        .await
        .expect("stored");
    let (mut message, mut row) = (None, None);
    stream
        .until(WAIT, |e| {
            if e.event == "message" && data(e)["message"]["text"] == "Второе сообщение"
            {
                message = Some(data(e));
            }
            if e.event == "dialog" && data(e)["row"]["last_message_preview"] == "Второе сообщение"
            {
                row = Some(data(e));
            }
            message.is_some() && row.is_some()
        })
        .await;
    let message = message.expect("a message event");
    let feed = anna
        .get(&format!("/api/v1/dialogs/{dialog}/messages"))
        .await;
    let newest = feed.body["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        message["message"], newest,
        "the event's message is the feed's"
    );
    let files: Vec<&str> = newest["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["счёт.pdf", "акт.pdf"]);
    let row = row.expect("a dialog event with its row")["row"].clone();
    let list = anna.get("/api/v1/dialogs?section=all").await;
    let mut listed_now = list.body["items"][0].clone();
    // Read marks are each reader's: the event's row has none.
    assert_eq!(row["read_up_to"], Value::Null);
    listed_now["read_up_to"] = Value::Null;
    listed_now["unread"] = row["unread"].clone();
    assert_eq!(row, listed_now, "the event's row is the list's");
    assert_eq!(row["last_message_preview"], "Второе сообщение");
    assert_ne!(
        listed["last_inbound_message_id"],
        row["last_inbound_message_id"]
    );

    // Reading goes out as the reader's own `read` event.
    let last = row["last_inbound_message_id"].as_i64().unwrap();
    anna.post(
        &format!("/api/v1/dialogs/{dialog}/read"),
        json!({"up_to_message_id": last}),
    )
    .await;
    let seen = stream.until(WAIT, |e| e.event == "read").await;
    let read = seen
        .iter()
        .find(|e| e.event == "read")
        .expect("a read event");
    assert_eq!(data(read)["last_read_message_id"], last);
    assert_eq!(data(read)["dialog_id"], dialog);
}
