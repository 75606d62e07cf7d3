//! The static files of `web/`, compiled into the binary: served with their content type,
//! an ETag (so a reload costs a 304) and `no-cache` (so a new binary's files show at
//! once): the operator workstation (`/`) and the monitoring dashboard (`/monitor`).

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get};
use sha2::{Digest, Sha256};

struct Asset {
    body: &'static [u8],
    content_type: &'static str,
}

const MONITOR_HTML: Asset = Asset {
    body: include_bytes!("../../web/monitor.html"),
    content_type: "text/html; charset=utf-8",
};
const MONITOR_JS: Asset = Asset {
    body: include_bytes!("../../web/monitor.js"),
    content_type: "text/javascript; charset=utf-8",
};
const MONITOR_CSS: Asset = Asset {
    body: include_bytes!("../../web/monitor.css"),
    content_type: "text/css; charset=utf-8",
};

fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

fn serve(req: &HttpRequest, asset: &Asset, tag: &'static OnceLock<String>) -> HttpResponse {
    let tag = tag.get_or_init(|| etag(asset.body));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given.split(',').any(|t| t.trim() == tag));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, tag.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if fresh {
        response.finish()
    } else {
        response
            .insert_header((header::CONTENT_TYPE, asset.content_type))
            .body(asset.body)
    }
}

/// The monitoring dashboard (sign in, then live figures over SSE).
#[get("/monitor")]
pub async fn monitor_page(req: HttpRequest) -> HttpResponse {
    static TAG: OnceLock<String> = OnceLock::new();
    serve(&req, &MONITOR_HTML, &TAG)
}

/// The operator workstation (R12–R38): one page, its modules under `/assets/`.
#[get("/")]
pub async fn workstation_page(req: HttpRequest) -> HttpResponse {
    static TAG: OnceLock<String> = OnceLock::new();
    serve(&req, &INDEX_HTML, &TAG)
}

const INDEX_HTML: Asset = Asset {
    body: include_bytes!("../../web/index.html"),
    content_type: "text/html; charset=utf-8",
};

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// A file of `web/`, compiled in: `web!("app.js", JS)`.
macro_rules! web {
    ($name:literal, $content_type:expr) => {
        (
            $name,
            Asset {
                body: include_bytes!(concat!("../../web/", $name)),
                content_type: $content_type,
            },
        )
    };
}

/// Every file under `/assets/`, compiled in: (name, asset).
const PNG: &str = "image/png";

const ASSETS: [(&str, Asset); 24] = [
    ("monitor.js", MONITOR_JS),
    ("monitor.css", MONITOR_CSS),
    web!("app.css", CSS),
    web!("app.js", JS),
    web!("lib.js", JS),
    web!("i18n.js", JS),
    web!("i18n-ru.js", JS),
    web!("i18n-en.js", JS),
    web!("api.js", JS),
    web!("store.js", JS),
    web!("list.js", JS),
    web!("dialog.js", JS),
    web!("messages.js", JS),
    web!("composer.js", JS),
    web!("modals.js", JS),
    web!("workstation.js", JS),
    web!("notify.js", JS),
    web!("presence.js", JS),
    web!("panel.js", JS),
    web!("pages.js", JS),
    web!("admin.js", JS),
    web!("crm.js", JS),
    web!("icon-192.png", PNG),
    web!("icon-512.png", PNG),
];

const MANIFEST: Asset = Asset {
    body: include_bytes!("../../web/manifest.webmanifest"),
    content_type: "application/manifest+json",
};
const SERVICE_WORKER: Asset = Asset {
    body: include_bytes!("../../web/sw.js"),
    content_type: "text/javascript; charset=utf-8",
};

/// The web app manifest: the workstation installs as an app (PWA).
#[get("/manifest.webmanifest")]
pub async fn manifest(req: HttpRequest) -> HttpResponse {
    static TAG: OnceLock<String> = OnceLock::new();
    serve(&req, &MANIFEST, &TAG)
}

/// The service worker, at the root so its scope is the whole workstation: it keeps the
/// page's files for when the server cannot be reached (never the API).
#[get("/sw.js")]
pub async fn service_worker(req: HttpRequest) -> HttpResponse {
    static TAG: OnceLock<String> = OnceLock::new();
    serve(&req, &SERVICE_WORKER, &TAG)
}

/// A file of the web client (scripts, styles); 404 for anything not compiled in.
#[get("/assets/{name}")]
pub async fn web_asset(req: HttpRequest, name: actix_web::web::Path<String>) -> HttpResponse {
    static TAGS: [OnceLock<String>; ASSETS.len()] = [const { OnceLock::new() }; ASSETS.len()];
    match ASSETS.iter().position(|(n, _)| *n == name.as_str()) {
        Some(index) => serve(&req, &ASSETS[index].1, &TAGS[index]),
        None => HttpResponse::NotFound().finish(),
    }
}
