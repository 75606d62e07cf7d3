//! Outbound host patterns (R47): which names a channel's client may connect to.

use std::net::IpAddr;

/// Whether `pattern` (`host`, or `*.domain` for the domain and every name under it)
/// covers `host`. Both lower case.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(domain) => {
            host == domain
                || host
                    .strip_suffix(domain)
                    .is_some_and(|rest| rest.ends_with('.'))
        }
        None => host == pattern,
    }
}

/// A pattern the administrator may list: a host name or address, or `*.` and a domain.
pub fn valid_host_pattern(pattern: &str) -> bool {
    let name = pattern.strip_prefix("*.").unwrap_or(pattern);
    if name.parse::<IpAddr>().is_ok() {
        return !pattern.starts_with("*.");
    }
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r47_outbound_host_patterns_cover_the_domain_and_the_names_under_it() {
        assert!(host_matches("*.userapi.com", "sun9-71.userapi.com"));
        assert!(host_matches("*.userapi.com", "userapi.com"));
        assert!(host_matches("*.userapi.com", "a.b.userapi.com."));
        assert!(!host_matches("*.userapi.com", "eviluserapi.com"));
        assert!(!host_matches("*.userapi.com", "userapi.com.evil.net"));
        assert!(host_matches("api.telegram.org", "api.telegram.org"));
        assert!(!host_matches("api.telegram.org", "x.api.telegram.org"));
        for good in [
            "api.telegram.org",
            "*.userapi.com",
            "203.0.113.7",
            "my-proxy.local",
        ] {
            assert!(valid_host_pattern(good), "{good}");
        }
        for bad in [
            "",
            "*",
            "*.",
            "http://x",
            "a..b",
            "-x.ru",
            "x_y.ru",
            "*.203.0.113.7",
            "a b",
        ] {
            assert!(!valid_host_pattern(bad), "{bad}");
        }
    }
}
