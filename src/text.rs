//! Text from configuration, state or events on its way to people: a
//! report, a page, a log line. Control characters (a newline forging a
//! log line, an escape sequence driving a terminal) and Unicode bidi
//! formatting characters (U+202E turning "gnp.exe" around: a
//! "Trojan Source" spoof of a signed report) never get there as they are.

use std::borrow::Cow;

/// Whether a character must not reach a reader as it is: a control
/// character (C0, DEL, C1) or a bidi formatting one (ALM, LRM, RLM, the
/// embeddings and overrides, the isolates).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` for a report: each hidden character becomes U+FFFD, which shows
/// that something was there and does nothing.
pub fn shown(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hidden) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if is_hidden(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

/// `s` for a log line: each hidden character written as `\u{…}`, so the
/// operator sees what was sent.
pub fn escaped(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_hidden(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` for Markdown: the ASCII punctuation that would start inline HTML,
/// an entity, a link, code or emphasis backslash-escaped, as CommonMark
/// allows for any ASCII punctuation; hidden characters shown. (`_` is
/// left: inside a word, as in `Asia/Ho_Chi_Minh`, it is never markup.)
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in shown(s).chars() {
        if matches!(c, '\\' | '`' | '*' | '[' | ']' | '<' | '>' | '&' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "CERT <script>alert('x')</script> \"q\" & a\nforged line\u{1b}[31m red \u{7f}\u{85} \u{202e}gnp.exe\u{202c} \u{2066}iso\u{2069} \u{200f}";

    #[test]
    fn ordinary_text_is_untouched() {
        for s in [
            "Trung tâm điều hành an ninh mạng",
            "NCSC (Việt Nam) 39,08%",
            "",
        ] {
            assert!(matches!(shown(s), Cow::Borrowed(_)));
            assert!(matches!(escaped(s), Cow::Borrowed(_)));
        }
        assert_eq!(markdown("NCSC (Việt Nam) 39,08%"), "NCSC (Việt Nam) 39,08%");
    }

    #[test]
    fn hidden_characters_never_pass() {
        for out in [
            shown(HOSTILE).into_owned(),
            escaped(HOSTILE).into_owned(),
            markdown(HOSTILE),
        ] {
            assert!(!out.chars().any(is_hidden), "{out:?}");
            assert!(!out.contains('\n') && !out.contains('\u{1b}'), "{out:?}");
        }
        let e = escaped(HOSTILE);
        assert!(e.contains("\\u{202e}") && e.contains("\\u{a}"), "{e}");
        assert!(shown(HOSTILE).contains('\u{FFFD}'));
        let md = markdown(HOSTILE);
        assert!(
            md.contains("\\<script\\>") && !md.contains(" <script"),
            "{md}"
        );
    }
}
