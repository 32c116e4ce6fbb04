//! What every tool format shares once its fields are read: its options,
//! the type keyword table (docs/formats.md), the checks of the native model
//! (id, type) and the outcome of one message.

use std::borrow::Cow;

use jiff::tz::TimeZone;

use super::Decoded;
use super::lenient::{checked_text, repaired};
use crate::event::{Event, Filter, MAX_ID_BYTES, Reject};

/// Options of the tool formats.
#[derive(Debug, Clone)]
pub struct ToolOptions {
    /// Wazuh alerts below this `rule.level` are filtered (`below_level`).
    pub wazuh_min_level: i64,
    /// The zone of a timestamp written without an offset.
    pub naive_zone: TimeZone,
}

/// The words of the type keyword table, by row, and the type each row
/// gives (docs/formats.md); the first row with a word in the texts wins.
const TYPE_KEYWORDS: &[(&[&str], &str)] = &[
    (&["phish"], "phishing"),
    (&["deface"], "defacement"),
    (
        &["denial of service", "ddos", "dos attack", "flood"],
        "ddos",
    ),
    (&["ransomware"], "ransomware"),
    (
        &[
            "trojan", "malware", "virus", "backdoor", "botnet", "worm", "stealer", "eicar",
        ],
        "malware",
    ),
    (
        &[
            "sql injection",
            "sql_injection",
            "exploit",
            "brute force",
            "brute-force",
            "authentication failures",
            "privilege gain",
            "web application attack",
            "intrusion",
            "unauthorized",
            "attack",
        ],
        "intrusion",
    ),
];

/// Every word of [`TYPE_KEYWORDS`] in one Aho-Corasick automaton (ASCII
/// case-insensitive: the words are ASCII), and each pattern's row.
struct Keywords {
    automaton: aho_corasick::AhoCorasick,
    row_of: Vec<usize>,
}

static KEYWORDS: std::sync::LazyLock<Option<Keywords>> = std::sync::LazyLock::new(|| {
    let (words, row_of): (Vec<&str>, Vec<usize>) = TYPE_KEYWORDS
        .iter()
        .enumerate()
        .flat_map(|(row, (words, _))| words.iter().map(move |w| (*w, row)))
        .unzip();
    let automaton = aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(words)
        .ok()?;
    Some(Keywords { automaton, row_of })
});

/// The type keyword of the native vocabulary that a tool's texts name, in
/// the table's order: what the default classification rules match. `None`:
/// the texts name none (the tool's own text is the type). One pass over
/// each text for every word at once (overlapping matches: a word inside
/// another still counts).
pub(super) fn type_keyword(texts: &[&str]) -> Option<&'static str> {
    // The automaton of a constant table always builds (a unit test builds
    // it); were it not to, no text would name a keyword.
    let k = KEYWORDS.as_ref()?;
    let mut best: Option<usize> = None;
    for t in texts {
        for m in k.automaton.find_overlapping_iter(*t) {
            let row = k.row_of[m.pattern().as_usize()];
            if best.is_none_or(|b| row < b) {
                best = Some(row);
                if row == 0 {
                    break;
                }
            }
        }
    }
    best.map(|row| TYPE_KEYWORDS[row].1)
}

/// The type: the keyword the tool's texts name, else the tool's own text
/// for the record (`own`, called only then, when it is not blank), else
/// `fallback`, the word the format's table in docs/formats.md states. An
/// alert whose texts are empty is still an alert: it is counted, under the
/// fallback.
pub(super) fn kind_of<'a>(
    texts: &[&str],
    own: impl FnOnce() -> Option<Cow<'a, str>>,
    fallback: &'static str,
) -> Cow<'a, str> {
    match type_keyword(texts) {
        Some(k) => Cow::Borrowed(k),
        None => own()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or(Cow::Borrowed(fallback)),
    }
}

/// An id within the native limit: one longer (a long sensor name in a
/// derived id, an outsized id a tool wrote) is replaced by
/// `<tool>:h:<XXH3-128 of it>`, the same for every delivery of the record.
pub(super) fn within_limit<'a>(tool: &str, id: Cow<'a, str>) -> Cow<'a, str> {
    if id.len() <= MAX_ID_BYTES {
        return id;
    }
    let hash = xxhash_rust::xxh3::xxh3_128(id.as_bytes());
    Cow::Owned(format!("{tool}:h:{hash:032x}"))
}

/// One message of a tool format: the checks every format shares, then
/// `read` over its text. A message serde_json refuses although it is valid
/// JSON (a lone surrogate, a number beyond `f64`) is read once more,
/// repaired ([`repaired`]), and its event then owns its text.
#[inline(always)]
pub(super) fn read_tool<'a>(
    payload: &'a [u8],
    max_bytes: usize,
    read: impl for<'b> Fn(&'b str) -> Result<Event<'b>, Skip>,
) -> Decoded<'a> {
    let text = match checked_text(payload, max_bytes) {
        Ok(t) => t,
        Err(r) => return Decoded::Invalid(r),
    };
    match read(text) {
        Err(Skip::Invalid(Reject::NotJson)) => reread(text, &read),
        r => decoded(r),
    }
}

/// The second reading of [`read_tool`], off the fast path.
#[cold]
#[inline(never)]
fn reread(
    text: &str,
    read: &dyn for<'b> Fn(&'b str) -> Result<Event<'b>, Skip>,
) -> Decoded<'static> {
    match repaired(text) {
        Some(fixed) => decoded(read(&fixed).map(Event::into_owned)),
        None => Decoded::Invalid(Reject::NotJson),
    }
}

fn decoded<'a>(r: Result<Event<'a>, Skip>) -> Decoded<'a> {
    match r {
        Ok(e) => Decoded::Event(e),
        Err(Skip::Filtered(f)) => Decoded::Filtered(f),
        Err(Skip::Invalid(r)) => Decoded::Invalid(r),
    }
}

pub(super) enum Skip {
    Filtered(Filter),
    Invalid(Reject),
}

impl From<Reject> for Skip {
    fn from(r: Reject) -> Skip {
        Skip::Invalid(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The table read literally: lowercase, then the first row with a word
    /// the texts contain.
    fn reference(texts: &[&str]) -> Option<&'static str> {
        let lower: Vec<String> = texts.iter().map(|t| t.to_ascii_lowercase()).collect();
        TYPE_KEYWORDS
            .iter()
            .find(|(words, _)| words.iter().any(|w| lower.iter().any(|t| t.contains(w))))
            .map(|(_, kind)| *kind)
    }

    #[test]
    fn the_automaton_builds_and_rows_win_in_order() {
        assert!(KEYWORDS.is_some());
        assert_eq!(type_keyword(&["ET ATTACK Phishing kit"]), Some("phishing"));
        assert_eq!(type_keyword(&["Worm", "SQL Injection"]), Some("malware"));
        assert_eq!(type_keyword(&["DoS Attack", "flooding"]), Some("ddos"));
        assert_eq!(
            type_keyword(&["Potential Corporate Privacy Violation"]),
            None
        );
        assert_eq!(type_keyword(&[]), None);
    }

    /// Texts made of table words (any case), their fragments, neighbours
    /// and noise: the automaton finds what the literal reading finds.
    fn text() -> impl Strategy<Value = String> {
        let word = prop::sample::select(
            TYPE_KEYWORDS
                .iter()
                .flat_map(|(w, _)| w.iter().copied())
                .chain([
                    "dos", "sql", "brute", "phis", "ATTACKER", " ", "-", "é", "ñ",
                ])
                .collect::<Vec<&str>>(),
        );
        prop::collection::vec(
            prop_oneof![
                word.clone().prop_map(str::to_owned),
                word.prop_map(str::to_ascii_uppercase),
                "[a-zA-Z _-]{0,6}",
            ],
            0..6,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn the_automaton_agrees_with_the_table(texts in prop::collection::vec(text(), 0..3)) {
            let t: Vec<&str> = texts.iter().map(String::as_str).collect();
            prop_assert_eq!(type_keyword(&t), reference(&t));
        }
    }
}
