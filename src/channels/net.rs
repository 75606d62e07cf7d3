//! What the channels share on the wire: the HTTP client, signature checks, bounded media
//! downloads, and turning HTTP failures into send outcomes.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Client, Url, redirect};
use sha2::Sha256;

use super::{ChannelError, SendOutcome};
use crate::domain::hosts::host_matches;

/// The largest media file we download (Telegram's own download limit is 20 MB).
pub const MAX_MEDIA_BYTES: u64 = 20 * 1024 * 1024;
/// How long one API call may take (long polls add their own wait).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one API call of an account may take: its credentials' `timeout_secs` (1–120,
/// for a slow proxy, or a test that makes the channel hang), else [`CALL_TIMEOUT`].
pub fn call_timeout(configured: Option<u64>) -> Duration {
    configured
        .filter(|s| (1..=crate::domain::account::MAX_TIMEOUT_SECS).contains(s))
        .map_or(CALL_TIMEOUT, Duration::from_secs)
}

/// An HTTP client for one account's API calls and media downloads. Redirects are followed
/// only within the same host, so a channel cannot bounce a call (and its token) elsewhere.
/// Every name it connects to is resolved once, by [`CheckedResolver`], and the connection
/// goes to the addresses that were checked: a name that answers a public address to a
/// check and an inside one to the connection (DNS rebinding) cannot slip through. Names
/// other than the account's API host must be allowed ([`host_allowed`]): the platform's
/// own media hosts (`platform_hosts`) by default, the administrator's list when set.
pub fn client(
    timeout: Duration,
    api: &Url,
    platform_hosts: &'static [&'static str],
) -> Result<Client, ChannelError> {
    let mut builder = Client::builder();
    for authority in extra_authorities().iter() {
        builder = builder.add_root_certificate(authority.clone());
    }
    builder
        .timeout(timeout)
        .dns_resolver(Arc::new(CheckedResolver {
            api_host: api.host_str().map(str::to_ascii_lowercase),
            platform_hosts,
        }))
        .connect_timeout(Duration::from_secs(5))
        .redirect(same_host_redirects())
        .user_agent(concat!("dialogi/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ChannelError::Network(e.to_string()))
}

/// Certificate authorities trusted besides the usual roots (`--extra-ca-file`), for every
/// account's client; set once at start, before any channel connects.
static EXTRA_AUTHORITIES: RwLock<Option<Arc<[reqwest::Certificate]>>> = RwLock::new(None);

/// Reads a PEM bundle of certificate authorities and trusts them from now on; how many.
pub fn trust_extra_authorities(path: &std::path::Path) -> Result<usize, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    let authorities = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|_| "is not a PEM file of certificates".to_owned())?;
    if authorities.is_empty() {
        return Err("holds no certificate (a PEM file with BEGIN CERTIFICATE blocks)".into());
    }
    let count = authorities.len();
    let list: Arc<[reqwest::Certificate]> = authorities.into();
    match EXTRA_AUTHORITIES.write() {
        Ok(mut current) => *current = Some(list),
        Err(poisoned) => *poisoned.into_inner() = Some(list),
    }
    Ok(count)
}

fn extra_authorities() -> Arc<[reqwest::Certificate]> {
    let current = match EXTRA_AUTHORITIES.read() {
        Ok(current) => current.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    current.unwrap_or_else(|| Arc::from(Vec::new()))
}

/// The hosts the administrator allows outbound connections to besides each account's
/// API host (R47's "no connection the administrator did not configure"), from the
/// `outbound_hosts` setting; `None` (the default) allows each platform's documented
/// media hosts. Process-wide because every account's client consults it on each
/// connection; the channel service sets it at start and whenever the settings change.
static OUTBOUND_HOSTS: RwLock<Option<Arc<[String]>>> = RwLock::new(None);

/// Puts the administrator's list in force (`None`: the platforms' defaults).
pub fn set_outbound_hosts(hosts: Option<Vec<String>>) {
    let list = hosts.map(|h| h.into_iter().map(|h| h.to_ascii_lowercase()).collect());
    match OUTBOUND_HOSTS.write() {
        Ok(mut current) => *current = list,
        Err(poisoned) => *poisoned.into_inner() = list,
    }
}

fn outbound_hosts() -> Option<Arc<[String]>> {
    match OUTBOUND_HOSTS.read() {
        Ok(current) => current.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Whether an account's client may connect to `host` (lower case) other than its API
/// host: listed by the administrator, or, with no list, one of the platform's hosts.
pub fn host_allowed(host: &str, platform_hosts: &[&str]) -> bool {
    match outbound_hosts() {
        Some(list) => list.iter().any(|p| host_matches(p, host)),
        None => platform_hosts.iter().any(|p| host_matches(p, host)),
    }
}

fn same_host_redirects() -> redirect::Policy {
    redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.host_str() == attempt.url().host_str());
        if same && attempt.previous().len() < 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Resolves names for an account's client: the account's own API host as it resolves (an
/// administrator configured it: a proxy or, in tests, a fake on this machine), any other
/// name only when it is allowed ([`host_allowed`]) and every address it has is public
/// ([`is_public`]), and then exactly those addresses, so the check and the connection see
/// the same answer.
#[derive(Debug)]
struct CheckedResolver {
    api_host: Option<String>,
    platform_hosts: &'static [&'static str],
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let exempt = self.api_host.as_deref() == Some(host.as_str());
        let allowed = exempt || host_allowed(&host, self.platform_hosts);
        Box::pin(async move {
            if !allowed {
                return Err(format!(
                    "{host} is not among the allowed outbound hosts (settings, outbound_hosts)"
                )
                .into());
            }
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addresses.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            if !exempt && !addresses.iter().all(|a| is_public(a.ip())) {
                return Err(format!("{host} resolves inside this network; not fetched").into());
            }
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// Parses a base URL from the credentials (`api_url`), or the channel's default.
pub fn base_url(configured: Option<&str>, default: &str) -> Result<Url, ChannelError> {
    let raw = configured.unwrap_or(default).trim_end_matches('/');
    Url::parse(raw).map_err(|e| ChannelError::Unsupported(format!("api_url: {e}")))
}

/// Lowercase hex HMAC-SHA256 of `body`, checked against `signature` in constant time.
pub fn hmac_matches(key: &[u8], body: &[u8], signature_hex: &str) -> bool {
    let Ok(signature) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Lowercase hex HMAC-SHA256 (tests and fake servers sign with it too).
pub fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// A downloaded media file.
#[derive(Debug, Clone)]
pub struct Downloaded {
    pub bytes: Vec<u8>,
    pub mime_type: Option<String>,
}

/// Refuses, with a clear reason and before any lookup, a URL whose host the outbound
/// policy does not allow ([`host_allowed`]; the account's API host always is).
pub fn check_outbound(url: &Url, api: &Url, platform_hosts: &[&str]) -> Result<(), ChannelError> {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if Some(host) == api.host_str() || host_allowed(host, platform_hosts) {
        Ok(())
    } else {
        Err(ChannelError::Unsupported(format!(
            "{host} is not among the allowed outbound hosts (settings, outbound_hosts)"
        )))
    }
}

/// Whether a media URL given by a channel may be fetched: http(s), and not an address
/// inside this machine or its network unless it is the channel's own API origin.
pub fn media_url_allowed(url: &Url, api: &Url) -> bool {
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    // The channel's own API origin (the fake servers of the tests live on 127.0.0.1).
    if Some(host) == api.host_str() && url.port_or_known_default() == api.port_or_known_default() {
        return true;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost") {
        return false;
    }
    match host.parse::<IpAddr>() {
        // An address is never a platform's host: only an administrator's list names one.
        Ok(ip) => {
            is_public(ip)
                && outbound_hosts().is_some_and(|list| list.iter().any(|p| host_matches(p, host)))
        }
        Err(_) => true,
    }
}

/// Whether an address is on the public internet (not this machine, a private network,
/// link-local, carrier-grade NAT, or an IPv4 address wrapped in IPv6).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            !(ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(ip) => {
            if let Some(v4) = ip.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = ip.segments();
            let embedded = |high: u16, low: u16| {
                let [a, b] = high.to_be_bytes();
                let [c, d] = low.to_be_bytes();
                IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d))
            };
            // IPv4 addresses reachable through IPv6: NAT64 (64:ff9b::/96), 6to4
            // (2002::/16) and the deprecated IPv4-compatible form (::a.b.c.d) carry the
            // IPv4 address inside; Teredo (2001::/32) hides it, so it is never public.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public(embedded(segments[6], segments[7]));
            }
            if segments[0] == 0x2002 {
                return is_public(embedded(segments[1], segments[2]));
            }
            if segments[..6] == [0, 0, 0, 0, 0, 0] {
                return is_public(embedded(segments[6], segments[7]));
            }
            if segments[..2] == [0x2001, 0] {
                return false;
            }
            let first = segments[0];
            !(ip.is_loopback()
                || ip.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// Resolves a media URL's host and refuses it when any address is not public (a public
/// name that points inside), before a download is tried, with a clear reason. The
/// channel's own API origin is exempt (the tests' fakes). The guarantee is the client's
/// resolver ([`client`]), which checks the addresses it then connects to.
pub async fn resolves_publicly(url: &Url, api: &Url) -> bool {
    let same_origin = url.host_str() == api.host_str()
        && url.port_or_known_default() == api.port_or_known_default();
    if same_origin {
        return true;
    }
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(addresses) => {
            let addresses: Vec<_> = addresses.collect();
            !addresses.is_empty() && addresses.iter().all(|a| is_public(a.ip()))
        }
        Err(_) => false,
    }
}

/// GETs a file with a size cap and a timeout; `bearer` is sent only to `url`'s host.
pub async fn download(
    client: &Client,
    url: Url,
    bearer: Option<&str>,
) -> Result<Downloaded, ChannelError> {
    let mut request = client.get(url).timeout(DOWNLOAD_TIMEOUT);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| ChannelError::Network(without_url(&e)))?;
    if !response.status().is_success() {
        return Err(ChannelError::Api(format!(
            "the file answered HTTP {}",
            response.status()
        )));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_MEDIA_BYTES)
    {
        return Err(ChannelError::TooLarge(MAX_MEDIA_BYTES));
    }
    let mime_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ChannelError::Network(without_url(&e)))?
    {
        if bytes.len() as u64 + chunk.len() as u64 > MAX_MEDIA_BYTES {
            return Err(ChannelError::TooLarge(MAX_MEDIA_BYTES));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Downloaded { bytes, mime_type })
}

/// Downloads a file from a link the platform gave in a message (VK, Viber, MAX): only a
/// link the account's API may lead to, only to the platform's hosts (or the
/// administrator's list), never to an address inside the network, and without any
/// credential. `platform` names it in the refusal.
pub async fn download_link(
    client: &Client,
    link: Option<&str>,
    api: &Url,
    platform_hosts: &[&str],
    platform: &str,
) -> Result<Downloaded, ChannelError> {
    let url = link
        .and_then(|u| Url::parse(u).ok())
        .filter(|u| media_url_allowed(u, api))
        .ok_or_else(|| {
            ChannelError::Unsupported(format!("the {platform} file URL is not allowed"))
        })?;
    check_outbound(&url, api, platform_hosts)?;
    if !resolves_publicly(&url, api).await {
        return Err(ChannelError::Unsupported(
            "the file's address is not on the public internet".into(),
        ));
    }
    download(client, url, None).await
}

/// A reqwest error without its URL: channel URLs carry tokens (Telegram's `/bot<token>/`).
pub fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_decode() || error.is_body() {
        "unreadable answer"
    } else if error.is_redirect() {
        "redirected elsewhere"
    } else {
        "request failed"
    };
    match error.status() {
        Some(status) => format!("{kind} (HTTP {status})"),
        None => kind.to_owned(),
    }
}

/// A transport failure while sending: the message may or may not have gone out; the
/// outbox retries (channels without an idempotency key may then deliver it twice, see
/// docs/GUARANTEES.md).
pub fn retry_on(error: &reqwest::Error) -> SendOutcome {
    SendOutcome::Retry {
        after: None,
        reason: without_url(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r39_an_extra_ca_file_that_is_missing_or_holds_no_certificate_is_refused_by_name() {
        let missing = std::path::Path::new("/nonexistent/dialogi/ca.pem");
        assert!(
            trust_extra_authorities(missing)
                .unwrap_err()
                .contains("cannot be read")
        );
        let dir = std::env::temp_dir().join(format!("dialogi-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "just some words, no certificate\n").unwrap_or_default();
        assert!(trust_extra_authorities(&empty).is_err());
        assert!(extra_authorities().is_empty(), "nothing was trusted");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ipv4_inside_ipv6_is_judged_by_the_ipv4_address() {
        let public = |text: &str| is_public(text.parse().unwrap());
        // NAT64, 6to4, IPv4-compatible and IPv4-mapped forms of 127.0.0.1 and 10.0.0.1.
        for inside in [
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "::7f00:1",
            "::ffff:127.0.0.1",
            "::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(!public(inside), "{inside}");
        }
        for outside in [
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "2a00:1450:4010::65",
        ] {
            assert!(public(outside), "{outside}");
        }
    }

    #[test]
    fn r1_viber_signature_vector_from_the_research() {
        let key = b"445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9";
        let body = br#"{"event":"message","timestamp":1457764197627,"message_token":4912661846655238145,"sender":{"id":"01234567890A=","name":"John McClane","avatar":"http://avatar.example.com","country":"UK","language":"en","api_version":1},"message":{"type":"text","text":"a message to the service","tracking_data":"tracking data"},"chat_hostname":"SN-CHAT-01_","silent":false}"#;
        let expected = "201236dd51d2452aa358b265177bdef584d5a3b1e006dcddf6f126916eebbd69";
        assert_eq!(hmac_hex(key, body), expected);
        assert!(hmac_matches(key, body, expected));
        assert!(!hmac_matches(key, &body[1..], expected));
        assert!(!hmac_matches(key, body, "zz"));
    }

    #[tokio::test]
    async fn h_dns_a_name_that_resolves_inside_is_never_connected_to_but_the_api_host_is() {
        // A listener on loopback stands in for a service inside the network; `localhost`
        // is a name that resolves to it (what a rebinding name answers the second time).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut request = vec![0; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = socket.shutdown().await;
            }
        });
        let elsewhere = Url::parse("https://api.telegram.org").unwrap();
        // Allowed by name, so it is the address check that refuses it.
        let client = client(Duration::from_secs(5), &elsewhere, &["localhost"]).unwrap();
        let refused = client
            .get(format!("http://localhost:{port}/file"))
            .send()
            .await;
        assert!(refused.is_err(), "a name resolving to loopback is refused");
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "never connected"
        );
        // The account's own API host (configured by an administrator) is reached.
        let api = Url::parse(&format!("http://localhost:{port}")).unwrap();
        let answer = super::client(Duration::from_secs(5), &api, &[])
            .unwrap()
            .get(format!("http://LOCALHOST:{port}/file"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.text().await.unwrap(), "ok");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn media_urls_inside_the_network_are_refused() {
        let api = Url::parse("http://127.0.0.1:9000").unwrap();
        let ok = |u: &str| media_url_allowed(&Url::parse(u).unwrap(), &api);
        assert!(ok("https://sun9-71.userapi.com/a.jpg"));
        assert!(ok("http://127.0.0.1:9000/media/x"));
        assert!(!ok("http://127.0.0.1:22/"));
        assert!(!ok("http://localhost/"));
        assert!(!ok("http://169.254.169.254/latest/meta-data"));
        assert!(!ok("http://10.0.0.5/"));
        assert!(!ok("http://[::1]/"));
        assert!(!ok("http://[::ffff:127.0.0.1]/"));
        assert!(!ok("http://[fe80::1]/"));
        assert!(!ok("http://100.64.0.1/"));
        assert!(!ok("file:///etc/passwd"));
    }

    mod tampering {
        use super::super::{hmac_hex, hmac_matches};
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Issue #9: whatever the key and body, a body with any byte changed, a
            /// signature with any digit changed or cut short, or another key never verify
            /// (Viber and WhatsApp webhooks are checked with this).
            #[test]
            fn r9_a_tampered_body_signature_or_key_never_verifies(
                key in proptest::collection::vec(any::<u8>(), 1..64),
                body in proptest::collection::vec(any::<u8>(), 0..512),
                at in any::<proptest::sample::Index>(),
                flip in 1u8..=255,
            ) {
                let signature = hmac_hex(&key, &body);
                prop_assert!(hmac_matches(&key, &body, &signature));
                if !body.is_empty() {
                    let mut tampered = body.clone();
                    tampered[at.index(body.len())] ^= flip;
                    prop_assert!(!hmac_matches(&key, &tampered, &signature));
                }
                let mut digits = signature.clone().into_bytes();
                let i = at.index(digits.len());
                digits[i] = if digits[i] == b'0' { b'1' } else { b'0' };
                prop_assert!(!hmac_matches(&key, &body, std::str::from_utf8(&digits).unwrap()));
                prop_assert!(!hmac_matches(&key, &body, &signature[..i]));
                let mut other = key.clone();
                other[0] ^= flip;
                prop_assert!(!hmac_matches(&other, &body, &signature));
            }
        }
    }
}
