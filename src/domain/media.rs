//! What a file is, from its own bytes: the only kinds of file the web client shows in the
//! page (inline) are pictures whose content is JPEG, PNG, GIF or WebP. What the channel
//! or the uploader declared (`image/svg+xml; charset=utf-8`, `image/SVG+xml`) is never
//! trusted for that: an SVG or HTML file shown inline would run as a page of ours.

/// The picture type of `bytes` when they are a JPEG, PNG, GIF or WebP image.
pub fn sniff_picture(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Whether a file is sent to a channel as a picture: its bytes are one (whatever case or
/// parameters its declared type has), and its sender did not declare it something else
/// (a PNG sent as `application/pdf` stays a document). No declared type: the bytes decide.
pub fn sends_as_picture(declared: Option<&str>, bytes: &[u8]) -> bool {
    let declared_picture = declared.is_none_or(|mime| {
        mime.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
            .starts_with("image/")
    });
    declared_picture && sniff_picture(bytes).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_is_sent_as_one_unless_declared_otherwise_or_not_one() {
        let png = b"\x89PNG\r\n\x1a\n....";
        assert!(sends_as_picture(Some("image/png"), png));
        assert!(sends_as_picture(Some("image/PNG; name=a"), png));
        assert!(sends_as_picture(None, png));
        assert!(!sends_as_picture(Some("application/pdf"), png));
        assert!(!sends_as_picture(Some("image/png"), b"<html>"));
        assert!(!sends_as_picture(Some("image/svg+xml"), b"<svg/>"));
    }

    #[test]
    fn the_four_picture_formats_are_known_by_their_bytes() {
        assert_eq!(
            sniff_picture(&[0xFF, 0xD8, 0xFF, 0xE0, 0]),
            Some("image/jpeg")
        );
        assert_eq!(sniff_picture(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff_picture(b"GIF89a.."), Some("image/gif"));
        assert_eq!(sniff_picture(b"RIFF\x10\0\0\0WEBPVP8 "), Some("image/webp"));
    }

    #[test]
    fn svg_html_and_anything_else_are_not_pictures_to_show() {
        assert_eq!(
            sniff_picture(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            None
        );
        assert_eq!(sniff_picture(b"<?xml version=\"1.0\"?><svg/>"), None);
        assert_eq!(sniff_picture(b"<html><script>alert(1)</script>"), None);
        assert_eq!(sniff_picture(b""), None);
        assert_eq!(sniff_picture(b"RIFF\0\0\0\0WAVE"), None);
    }
}
