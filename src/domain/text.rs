//! Text that comes from outside (a client's message, a sender's name, a file name) made
//! safe to store and to show.
//!
//! - PostgreSQL's `text` cannot hold U+0000: one NUL in a message would fail its insert,
//!   and the channel would deliver the same update forever. [`storable`] replaces each
//!   with U+FFFD (the replacement character), so the message is kept and the operator
//!   sees that something was there.
//! - Bidirectional controls (U+202E and friends) reorder what an operator reads:
//!   "invoice\u{202E}fdp.exe" shows as "invoiceexe.pdf". Names and texts are isolated
//!   where they are shown (`dir="auto"`, `<bdi>`), but a file name is also what a browser
//!   saves: [`file_name`] drops the controls from it.
//! - A CSV cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is run as
//!   a formula by a spreadsheet (CSV injection): [`spreadsheet_safe`] makes it text with a
//!   leading apostrophe, which every spreadsheet hides.

use std::borrow::Cow;

/// What stands in for a character that cannot be stored.
pub const REPLACEMENT: char = '\u{FFFD}';

/// `text` without NUL characters (each replaced by U+FFFD), borrowed when there is none.
pub fn storable(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', &REPLACEMENT.to_string()))
    } else {
        Cow::Borrowed(text)
    }
}

/// Makes `text` storable in place; whether anything was replaced.
pub fn make_storable(text: &mut String) -> bool {
    match storable(text) {
        Cow::Borrowed(_) => false,
        Cow::Owned(clean) => {
            *text = clean;
            true
        }
    }
}

/// Whether `c` is a Unicode bidirectional formatting character (embeddings, overrides,
/// isolates and the implicit marks).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// A file name as it is stored and offered for download: without NUL, bidirectional
/// controls and other control characters, which could hide its real extension.
pub fn file_name(name: &str) -> String {
    name.chars()
        .filter(|&c| !is_bidi_control(c) && !c.is_control())
        .collect()
}

/// Whether `url` may be offered as a link to click: only `http` and `https` (a
/// `javascript:` or `data:` link from a client would run on the page or in a new tab).
/// The web links written in a text (R32), in order, each once: `http(s)://` up to a
/// space, a quote or an angle bracket, without the punctuation that ends a sentence —
/// the rule the workstation uses to make them clickable.
pub fn links_in(text: &str) -> Vec<&str> {
    let mut found: Vec<&str> = Vec::new();
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| lower[from..].find(scheme).map(|i| from + i))
        .min()
    {
        let starts_word = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let rest = &text[at..];
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
            .unwrap_or(rest.len());
        let link = rest[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        if starts_word && link.len() > "https://".len() && !found.contains(&link) {
            found.push(link);
        }
        from = at + end.max(1);
    }
    found
}

pub fn is_web_link(url: &str) -> bool {
    let url = url.trim_start();
    let scheme_end = url.find(':').unwrap_or(0);
    let scheme = url[..scheme_end].to_ascii_lowercase();
    (scheme == "http" || scheme == "https") && url[scheme_end..].starts_with("://")
}

/// A CSV cell a spreadsheet shows as written: one that would start a formula gets a
/// leading `'`; borrowed when it needs none.
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_that_would_start_a_formula_is_written_as_text() {
        for formula in ["=1+1", "+7 999", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(spreadsheet_safe(formula), format!("'{formula}"));
        }
        assert!(matches!(
            spreadsheet_safe("Привет"),
            Cow::Borrowed("Привет")
        ));
        assert_eq!(spreadsheet_safe("a=b"), "a=b");
        assert_eq!(spreadsheet_safe(""), "");
    }

    #[test]
    fn r32_links_are_found_in_text_without_the_sentence_around_them() {
        assert_eq!(
            links_in(
                "Смотрите https://shop.example/item?id=5, и HTTP://Example.org/a_(b). Ещё https://shop.example/item?id=5!"
            ),
            ["https://shop.example/item?id=5", "HTTP://Example.org/a_(b"]
        );
        assert_eq!(links_in("«https://x.ru/путь»"), ["https://x.ru/путь»"]);
        assert!(links_in("no links, ftp://x and xhttps://y and https://").is_empty());
        assert_eq!(links_in("(https://a.b/c)"), ["https://a.b/c"]);
    }

    #[test]
    fn a_text_without_nul_is_borrowed_as_it_is() {
        assert!(matches!(storable("привет"), Cow::Borrowed("привет")));
    }

    #[test]
    fn every_nul_becomes_the_replacement_character() {
        assert_eq!(storable("a\0b\0"), "a\u{FFFD}b\u{FFFD}");
        let mut name = String::from("\0Иван");
        assert!(make_storable(&mut name));
        assert_eq!(name, "\u{FFFD}Иван");
        assert!(!make_storable(&mut name));
    }

    #[test]
    fn only_http_and_https_links_are_clickable() {
        assert!(is_web_link("https://example.org/a?b=c"));
        assert!(is_web_link("HTTP://example.org"));
        assert!(!is_web_link("javascript:alert(1)"));
        assert!(!is_web_link("JavaScript://%0aalert(1)"));
        assert!(!is_web_link("data:text/html,<script>alert(1)</script>"));
        assert!(!is_web_link("vbscript:msgbox"));
        assert!(!is_web_link("//example.org"));
        assert!(!is_web_link(""));
    }

    #[test]
    fn a_right_to_left_override_cannot_hide_an_extension() {
        assert_eq!(file_name("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(file_name("a\u{2066}b\u{2069}\u{200F}.pdf"), "ab.pdf");
        assert_eq!(file_name("отчёт\0\n.pdf"), "отчёт.pdf");
        assert_eq!(file_name("договор №5.pdf"), "договор №5.pdf");
    }
}
