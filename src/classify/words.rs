//! Event text against configured words (a status, a sector): without
//! regard to ASCII case or surrounding space, and without looking at
//! every configured word for every event. The words are kept by length,
//! and a word is compared only when its first letter agrees, so a text
//! no word has (`detected` among the stage words) is refused in a few
//! instructions instead of a compare per word.

/// `s.trim()`, without looking at its characters when both of its ends
/// are ASCII and not space (every Unicode space is either below `!` or
/// not ASCII).
#[inline]
pub fn trimmed(s: &str) -> &str {
    let plain = |c: &u8| *c > b' ' && c.is_ascii();
    let b = s.as_bytes();
    if b.first().is_some_and(plain) && b.last().is_some_and(plain) {
        s
    } else {
        s.trim()
    }
}

/// A word as kept: its first byte in ASCII lower case, the word, and its
/// position.
type Kept = (u8, Box<[u8]>, usize);

/// Words found by their text without regard to ASCII case: what
/// `words.iter().position(|w| w.eq_ignore_ascii_case(s))` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AsciiWords {
    /// By length: each word's first byte in ASCII lower case, the word,
    /// and its position, in the order given.
    by_len: Vec<Vec<Kept>>,
}

impl AsciiWords {
    pub fn new<'a>(words: impl IntoIterator<Item = &'a str>) -> AsciiWords {
        let mut by_len: Vec<Vec<Kept>> = Vec::new();
        for (i, w) in words.into_iter().enumerate() {
            let b = w.as_bytes();
            let first = b.first().map_or(0, u8::to_ascii_lowercase);
            if by_len.len() <= b.len() {
                by_len.resize(b.len() + 1, Vec::new());
            }
            by_len[b.len()].push((first, b.into(), i));
        }
        AsciiWords { by_len }
    }

    /// The position of the first word equal to `s` but for ASCII case.
    #[inline]
    pub fn find(&self, s: &str) -> Option<usize> {
        let b = s.as_bytes();
        let first = b.first().map_or(0, u8::to_ascii_lowercase);
        self.by_len
            .get(b.len())?
            .iter()
            // Written as configured most of the time: a plain compare first.
            .find(|(f, w, _)| *f == first && (**w == *b || w.eq_ignore_ascii_case(b)))
            .map(|(_, _, i)| *i)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The same answers as a compare with each word in turn, and the
        /// same text as `trim`, for ASCII and other text alike.
        #[test]
        fn answers_as_a_scan_of_every_word(
            words in prop::collection::vec("[a-cA-C ]{0,3}|[ĐđÉé]{1,2}", 0..8),
            s in "[a-cA-C \t\u{a0}]{0,4}|[ĐđÉé ]{0,3}",
        ) {
            let index = AsciiWords::new(words.iter().map(String::as_str));
            let scan = words.iter().position(|w| w.eq_ignore_ascii_case(&s));
            prop_assert_eq!(index.find(&s), scan);
            prop_assert_eq!(trimmed(&s), s.trim());
        }
    }
}
