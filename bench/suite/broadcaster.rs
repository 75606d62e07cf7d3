//! The floor for SSE: a minimal actix-web broadcaster (research/performance-anchors.md
//! §3.2, B_SSE) — one worker, a `tokio::sync::broadcast` ring turned into each
//! subscriber's streaming body, and an HTTP publisher endpoint. Nothing else: no
//! authentication, no access checks, no replay, no database.

use actix_web::web::Bytes;
use actix_web::{App, HttpResponse, HttpServer, web};
use tokio::sync::broadcast;

struct Channel {
    tx: broadcast::Sender<Bytes>,
    next: std::sync::atomic::AtomicU64,
}

async fn subscribe(channel: web::Data<Channel>) -> HttpResponse {
    let rx = channel.tx.subscribe();
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(bytes) => return Some((Ok::<_, std::convert::Infallible>(bytes), rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    HttpResponse::Ok()
        .insert_header(("content-type", "text/event-stream"))
        .insert_header(("cache-control", "no-cache"))
        .streaming(body)
}

async fn publish(channel: web::Data<Channel>, body: Bytes) -> HttpResponse {
    let id = channel
        .next
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let frame = format!("id: {id}\ndata: {}\n\n", String::from_utf8_lossy(&body));
    let _ = channel.tx.send(Bytes::from(frame));
    HttpResponse::Accepted().finish()
}

/// `broadcaster` role: BENCH_PORT; `GET /sub`, `POST /pub`.
pub fn serve() {
    let port: u16 = std::env::var("BENCH_PORT").unwrap().parse().unwrap();
    actix_web::rt::System::new().block_on(async move {
        let (tx, _) = broadcast::channel(1024);
        let channel = web::Data::new(Channel {
            tx,
            next: std::sync::atomic::AtomicU64::new(1),
        });
        HttpServer::new(move || {
            App::new()
                .app_data(channel.clone())
                .route("/sub", web::get().to(subscribe))
                .route("/pub", web::post().to(publish))
        })
        .workers(1)
        .tcp_nodelay(true)
        .backlog(4096)
        .max_connections(25_000)
        .bind(("127.0.0.1", port))
        .unwrap()
        .run()
        .await
        .unwrap();
    });
}
