//! The JSON reader for the native format.
//!
//! One pass over the message, written for this one schema: the top-level
//! keys are matched as they are read, the values the monitor uses are
//! borrowed from the input (decoded only when they contain escapes), and
//! everything else is checked for JSON syntax and skipped without being
//! built. The end of a string is found by a bit scan over masks of the
//! bytes that can end one (`"`, `\`, control bytes), computed with SSE2
//! once per 64-byte block (for the first KiB, all up front in one loop);
//! the keys the monitor reads are recognised by their bytes. Nesting is
//! tracked in a bit stack, never by recursion, so no input can overflow
//! the stack.
//!
//! What is accepted is serde_json's data model, exactly: the test-only
//! `serde_model` module reads the same fields with serde visitors over
//! serde_json, and property tests require both to give the same event or
//! the same rejection for every input. That covers serde_json's finer
//! points: strings it returns (keys, and the values of fields read) must
//! pair their `\u` surrogates while strings it skips need not, and numbers
//! in fields read must fit an `f64` while skipped ones are only checked for
//! syntax. Required fields are checked for presence and type so each
//! rejection gets its own reason; optional fields of the wrong type are
//! skipped rather than failing the incident (spec §2).

use std::borrow::Cow;

use super::time::parse_rfc3339;
use super::{Event, Reject, Severity, Target};

/// Longest accepted incident id, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// Which optional fields to read; the others are skipped like unknown
/// fields (validated, not built). The classifier asks only for what its
/// rules use: reading `tags` costs an allocation per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    pub signature: bool,
    pub mitre: bool,
    pub tags: bool,
}

impl Fields {
    pub const ALL: Fields = Fields {
        signature: true,
        mitre: true,
        tags: true,
    };
}

/// Parses one message with every field. `max_bytes` is the size limit.
///
/// Never panics, whatever the input (property-tested).
pub fn parse(bytes: &[u8], max_bytes: usize) -> Result<Event<'_>, Reject> {
    parse_fields(bytes, max_bytes, Fields::ALL)
}

/// Parses one message, reading only the optional fields in `want`.
pub fn parse_fields(bytes: &[u8], max_bytes: usize, want: Fields) -> Result<Event<'_>, Reject> {
    if bytes.len() > max_bytes {
        return Err(Reject::TooLarge);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Reject::Empty);
    }
    // Validated once up front (SIMD), so the scanner only looks at ASCII
    // structure and every slice between two ASCII bytes is a `str`.
    let text = simdutf8::basic::from_utf8(bytes).map_err(|_| Reject::NotUtf8)?;
    let mut raw = Raw {
        want,
        ..Raw::default()
    };
    match Scanner::new(text).document(&mut raw) {
        Ok(true) => raw.validate(),
        Ok(false) => Err(Reject::NotObject),
        Err(Invalid) => Err(Reject::NotJson),
    }
}

/// A value that is either a string or something else (ignored).
enum Lenient<'a> {
    Missing,
    Str(Cow<'a, str>),
    Other,
}

impl<'a> Lenient<'a> {
    fn into_option(self) -> Option<Cow<'a, str>> {
        match self {
            Lenient::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct Raw<'a> {
    want: Fields,
    id: Option<Lenient<'a>>,
    time: Option<Lenient<'a>>,
    kind: Option<Lenient<'a>>,
    severity: Option<Severity>,
    target: Target<'a>,
    signature: Option<Cow<'a, str>>,
    mitre: Option<Cow<'a, str>>,
    tags: Vec<Cow<'a, str>>,
}

impl Default for Raw<'_> {
    fn default() -> Self {
        Raw {
            want: Fields::ALL,
            id: None,
            time: None,
            kind: None,
            severity: None,
            target: Target::default(),
            signature: None,
            mitre: None,
            tags: Vec::new(),
        }
    }
}

impl<'a> Raw<'a> {
    fn validate(self) -> Result<Event<'a>, Reject> {
        let id = match self.id.unwrap_or(Lenient::Missing) {
            Lenient::Missing => return Err(Reject::MissingField),
            Lenient::Str(s) if !s.is_empty() && s.len() <= MAX_ID_BYTES => s,
            _ => return Err(Reject::BadId),
        };
        let time_ms = match self.time.unwrap_or(Lenient::Missing) {
            Lenient::Missing => return Err(Reject::MissingField),
            Lenient::Str(s) => parse_rfc3339(&s).ok_or(Reject::BadTime)?,
            Lenient::Other => return Err(Reject::BadTime),
        };
        let kind = match self.kind.unwrap_or(Lenient::Missing) {
            Lenient::Missing => return Err(Reject::MissingField),
            Lenient::Str(s) if !s.trim().is_empty() => s,
            _ => return Err(Reject::BadType),
        };
        Ok(Event {
            id,
            time_ms,
            kind,
            severity: self.severity.unwrap_or(Severity::Unknown),
            target: self.target,
            signature: self.signature,
            mitre: self.mitre,
            tags: self.tags,
        })
    }
}

/// A top-level key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Time,
    Type,
    Severity,
    Target,
    Signature,
    Mitre,
    Tags,
    Other,
}

impl Field {
    fn of(name: &str) -> Field {
        match name {
            "id" => Field::Id,
            "time" => Field::Time,
            "type" => Field::Type,
            "severity" => Field::Severity,
            "target" => Field::Target,
            "signature" => Field::Signature,
            "mitre" => Field::Mitre,
            "tags" => Field::Tags,
            _ => Field::Other,
        }
    }
}

/// A key name the reader recognises, with its closing quote, as an integer
/// (little-endian) and the mask of the bytes it covers: compared with the
/// next 16 bytes of input ([`next_16`]) in one masked compare, however the
/// bytes lie in memory.
#[derive(Debug, Clone, Copy)]
struct Name {
    bytes: u128,
    mask: u128,
    /// Bytes covered, closing quote included.
    len: usize,
}

impl Name {
    /// `name` and its closing quote (at most 15 bytes of name).
    const fn of(name: &[u8]) -> Name {
        assert!(name.len() < 16, "names of up to 15 bytes");
        let mut bytes = 0u128;
        let mut i = 0;
        while i < name.len() {
            bytes |= (name[i] as u128) << (8 * i);
            i += 1;
        }
        bytes |= (b'"' as u128) << (8 * i);
        let len = name.len() + 1;
        Name {
            bytes,
            mask: u128::MAX >> (8 * (16 - len)),
            len,
        }
    }

    /// Whether `next` (from [`next_16`]) begins with this name and its
    /// closing quote.
    #[inline(always)]
    fn starts(&self, next: u128) -> bool {
        next & self.mask == self.bytes
    }
}

/// The 16 bytes from `at` as an integer (little-endian: the first byte is
/// the lowest), zero-padded past the end: a name longer than what is left
/// cannot match (its closing quote is not zero).
#[inline(always)]
fn next_16(bytes: &[u8], at: usize) -> u128 {
    let rest = bytes.get(at..).unwrap_or_default();
    let chunk = match rest.first_chunk::<16>() {
        Some(c) => *c,
        None => {
            let mut c = [0u8; 16];
            c[..rest.len()].copy_from_slice(rest);
            c
        }
    };
    u128::from_le_bytes(chunk)
}

/// The message is not JSON.
#[derive(Debug)]
struct Invalid;

type Scan<T> = Result<T, Invalid>;

/// A value read where its type matters.
enum Any<'a> {
    Str(Cow<'a, str>),
    /// An integer; beyond `i64` it saturates (no band reaches that far).
    Int(i64),
    Null,
    /// A boolean, a fraction, an array or an object.
    Other,
}

/// Nesting levels kept in the `u64` bit stack of [`Scanner::skip`]; deeper
/// levels go to [`Scanner::deep`].
const SHALLOW: usize = 64;

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    /// Levels of [`Scanner::skip`] below [`SHALLOW`]: `true` for an object.
    /// Empty unless a message nests that deep.
    deep: Vec<bool>,
    /// [`special_bits`] of the first [`EAGER`] 64-byte blocks, computed
    /// up front in one tight loop (all ones past the end): finding the end
    /// of a string is a bit scan, whatever its length.
    eager: [u64; EAGER],
    /// The same for the one later block last used (`usize::MAX`: none
    /// yet), for the rare longer message.
    block: usize,
    bits: u64,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Scanner {
            text,
            bytes: text.as_bytes(),
            at: 0,
            deep: Vec::new(),
            eager: eager_bits(text.as_bytes()),
            block: usize::MAX,
            bits: 0,
        }
    }

    /// Index of the first `"`, `\\` or control byte at or after `at`; past
    /// the end (which callers treat as the end of input) if there is none.
    #[inline(always)]
    fn find_special(&mut self, mut at: usize) -> usize {
        loop {
            let block = at / 64;
            let bits = match self.eager.get(block) {
                Some(&bits) => bits,
                None => self.late_bits(block),
            };
            let rest = bits >> (at % 64);
            if rest != 0 {
                return at + rest.trailing_zeros() as usize;
            }
            at = (block + 1) * 64;
        }
    }

    #[cold]
    fn late_bits(&mut self, block: usize) -> u64 {
        if block != self.block {
            self.bits = special_bits(self.bytes, block * 64);
            self.block = block;
        }
        self.bits
    }

    /// The next byte that is not JSON whitespace, not consumed.
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        // Usually the very next byte (compact JSON): one compare.
        match self.bytes.get(self.at) {
            Some(&c) if c > b' ' => return Some(c),
            _ => {}
        }
        while let Some(&c) = self.bytes.get(self.at) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(c);
            }
            self.at += 1;
        }
        None
    }

    #[inline(always)]
    fn expect(&mut self, c: u8) -> Scan<()> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// The whole message: `true` when it is one object, read into `raw`.
    fn document(&mut self, raw: &mut Raw<'a>) -> Scan<bool> {
        let object = if self.peek() == Some(b'{') {
            self.at += 1;
            self.object(Self::field, |s, field| {
                match field {
                    Field::Id => raw.id = Some(s.lenient()?),
                    Field::Time => raw.time = Some(s.lenient()?),
                    Field::Type => raw.kind = Some(s.lenient()?),
                    Field::Severity => raw.severity = s.severity()?,
                    Field::Target => raw.target = s.target()?,
                    Field::Signature if raw.want.signature => {
                        raw.signature = s.lenient()?.into_option();
                    }
                    Field::Mitre if raw.want.mitre => raw.mitre = s.lenient()?.into_option(),
                    Field::Tags if raw.want.tags => raw.tags = s.tags()?,
                    _ => s.skip_value()?,
                }
                Ok(())
            })?;
            true
        } else {
            self.any()?;
            false
        };
        match self.peek() {
            None => Ok(object),
            Some(_) => Err(Invalid),
        }
    }

    /// A top-level key whose opening quote was consumed. The names read
    /// are recognised by their bytes and closing quote (one masked integer
    /// compare per candidate, no scan, no call); anything else (other
    /// names, escaped spellings) is skipped as a string.
    #[inline(always)]
    fn field(&mut self) -> Scan<Field> {
        let next = next_16(self.bytes, self.at);
        const I: &[(Name, Field)] = &[(Name::of(b"id"), Field::Id)];
        const T: &[(Name, Field)] = &[
            (Name::of(b"time"), Field::Time),
            (Name::of(b"type"), Field::Type),
            (Name::of(b"target"), Field::Target),
            (Name::of(b"tags"), Field::Tags),
        ];
        const S: &[(Name, Field)] = &[
            (Name::of(b"severity"), Field::Severity),
            (Name::of(b"signature"), Field::Signature),
        ];
        const M: &[(Name, Field)] = &[(Name::of(b"mitre"), Field::Mitre)];
        // Truncation keeps the lowest byte, the first in memory.
        let known = match next as u8 {
            b'i' => I,
            b't' => T,
            b's' => S,
            b'm' => M,
            _ => &[],
        };
        for (name, field) in known {
            if name.starts(next) {
                self.at += name.len;
                return Ok(*field);
            }
        }
        // Unescaped, it would have matched above: only an escaped spelling
        // can still be a name read.
        Ok(match self.other_key()? {
            None => Field::Other,
            Some(name) => Field::of(&name),
        })
    }

    /// A key that did not match a name read, its opening quote consumed:
    /// `None` if it has no escape (then it is none of those names), else
    /// its decoded text (checked as [`Scanner::string`] checks a key).
    #[inline(always)]
    fn other_key(&mut self) -> Scan<Option<String>> {
        let end = self.find_special(self.at);
        match self.bytes.get(end) {
            Some(b'"') => {
                self.at = end + 1;
                Ok(None)
            }
            Some(b'\\') => self.unescape(self.at, end).map(Some),
            _ => Err(Invalid),
        }
    }

    /// A key of `target` whose opening quote was consumed: is it `sector`?
    #[inline(always)]
    fn sector_key(&mut self) -> Scan<bool> {
        const SECTOR: Name = Name::of(b"sector");
        if SECTOR.starts(next_16(self.bytes, self.at)) {
            self.at += SECTOR.len;
            return Ok(true);
        }
        Ok(self.other_key()?.is_some_and(|name| name == "sector"))
    }

    /// The members of an object whose `{` was consumed. `key` reads each
    /// key after its opening quote (decoded and checked); `value` reads or
    /// skips each value.
    #[inline(always)]
    fn object<K>(
        &mut self,
        key: impl Fn(&mut Self) -> Scan<K>,
        mut value: impl FnMut(&mut Self, K) -> Scan<()>,
    ) -> Scan<()> {
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.expect(b'"')?;
            let key = key(self)?;
            self.expect(b':')?;
            value(self, key)?;
            if !self.more(b'}')? {
                return Ok(());
            }
        }
    }

    /// After a member or element: `true` past a `,` (another follows),
    /// `false` past the `close` that ends the object or array.
    #[inline(always)]
    fn more(&mut self, close: u8) -> Scan<bool> {
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                Ok(true)
            }
            Some(c) if c == close => {
                self.at += 1;
                Ok(false)
            }
            _ => Err(Invalid),
        }
    }

    /// The elements of an array whose `[` was consumed.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Scan<()>) -> Scan<()> {
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            element(self)?;
            if !self.more(b']')? {
                return Ok(());
            }
        }
    }

    /// A value whose type matters: strings decoded and checked, numbers
    /// converted; the contents of arrays and objects skipped.
    fn any(&mut self) -> Scan<Any<'a>> {
        match self.peek() {
            Some(b'"') => {
                self.at += 1;
                Ok(Any::Str(self.string()?))
            }
            Some(b'-' | b'0'..=b'9') => self.number_value(),
            Some(b'[') => {
                self.at += 1;
                self.array(Self::skip)?;
                Ok(Any::Other)
            }
            Some(b'{') => {
                self.at += 1;
                self.object(Self::string, |s, _| s.skip())?;
                Ok(Any::Other)
            }
            Some(b'n') => {
                self.literal(b"null")?;
                Ok(Any::Null)
            }
            Some(b't') => {
                self.literal(b"true")?;
                Ok(Any::Other)
            }
            Some(b'f') => {
                self.literal(b"false")?;
                Ok(Any::Other)
            }
            _ => Err(Invalid),
        }
    }

    /// A field that should be a string.
    #[inline]
    fn lenient(&mut self) -> Scan<Lenient<'a>> {
        if self.peek() == Some(b'"') {
            self.at += 1;
            return Ok(Lenient::Str(self.string()?));
        }
        Ok(match self.any()? {
            Any::Str(s) => Lenient::Str(s),
            Any::Null => Lenient::Missing,
            Any::Int(_) | Any::Other => Lenient::Other,
        })
    }

    /// `severity`: a level name or a 1-10 score; anything else is `None`.
    fn severity(&mut self) -> Scan<Option<Severity>> {
        Ok(match self.any()? {
            Any::Str(s) => Some(Severity::from_name(&s)),
            Any::Int(n) => Some(Severity::from_score(n)),
            Any::Null | Any::Other => None,
        })
    }

    /// `target`: an object whose `sector` is read; anything else is ignored.
    fn target(&mut self) -> Scan<Target<'a>> {
        let mut out = Target::default();
        if self.peek() == Some(b'{') {
            self.at += 1;
            self.object(Self::sector_key, |s, sector| {
                if sector {
                    out.sector = s.lenient()?.into_option();
                    Ok(())
                } else {
                    s.skip_value()
                }
            })?;
        } else {
            self.any()?;
        }
        Ok(out)
    }

    /// `tags`: an array of strings; other elements are skipped, a
    /// non-array is ignored.
    fn tags(&mut self) -> Scan<Vec<Cow<'a, str>>> {
        if self.peek() != Some(b'[') {
            self.any()?;
            return Ok(Vec::new());
        }
        self.at += 1;
        // Room for the usual few: one allocation, no regrowth.
        let mut tags = Vec::with_capacity(4);
        self.array(|s| {
            if let Any::Str(t) = s.any()? {
                tags.push(t);
            }
            Ok(())
        })?;
        Ok(tags)
    }

    fn literal(&mut self, word: &[u8]) -> Scan<()> {
        match self.bytes.get(self.at..self.at + word.len()) {
            Some(w) if w == word => {
                self.at += word.len();
                Ok(())
            }
            _ => Err(Invalid),
        }
    }

    /// Scans a number's syntax; `true` when it has a fraction or exponent.
    #[inline]
    fn number(&mut self) -> Scan<bool> {
        let b = self.bytes;
        let digits = |mut i: usize| {
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            i
        };
        let mut i = self.at;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            // One leading zero only.
            Some(b'0') if !matches!(b.get(i + 1), Some(b'0'..=b'9')) => i += 1,
            Some(b'1'..=b'9') => i = digits(i + 1),
            _ => return Err(Invalid),
        }
        let mut float = false;
        if b.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return Err(Invalid);
            }
            i = end;
            float = true;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits(i);
            if end == i {
                return Err(Invalid);
            }
            i = end;
            float = true;
        }
        self.at = i;
        Ok(float)
    }

    /// A number where its value matters. As in serde_json, an integer that
    /// does not fit 64 bits is read as an `f64`, and a number that is
    /// infinite as an `f64` is not JSON.
    #[cold]
    fn number_value(&mut self) -> Scan<Any<'a>> {
        let start = self.at;
        let float = self.number()?;
        let text = self.text.get(start..self.at).ok_or(Invalid)?;
        if !float {
            if let Ok(n) = text.parse::<i64>() {
                return Ok(Any::Int(n));
            }
            if text.parse::<u64>().is_ok() {
                return Ok(Any::Int(i64::MAX));
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Any::Other),
            _ => Err(Invalid),
        }
    }

    /// A string whose opening quote was consumed, as serde_json returns
    /// strings: escapes decoded, `\u` surrogates paired. Borrowed unless it
    /// has escapes.
    #[inline(always)]
    fn string(&mut self) -> Scan<Cow<'a, str>> {
        let start = self.at;
        let end = self.find_special(start);
        match self.bytes.get(end) {
            Some(b'"') => {
                self.at = end + 1;
                self.text.get(start..end).map(Cow::Borrowed).ok_or(Invalid)
            }
            Some(b'\\') => self.unescape(start, end).map(Cow::Owned),
            _ => Err(Invalid),
        }
    }

    /// The rest of a string with escapes; `end` is the first backslash.
    #[cold]
    fn unescape(&mut self, mut from: usize, mut end: usize) -> Scan<String> {
        let mut out = String::with_capacity(end - from + 16);
        loop {
            out.push_str(self.text.get(from..end).ok_or(Invalid)?);
            match self.bytes.get(end) {
                Some(b'"') => {
                    self.at = end + 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at = end + 1;
                    out.push(self.escape()?);
                    from = self.at;
                    end = self.find_special(from);
                }
                _ => return Err(Invalid),
            }
        }
    }

    /// One escape after its backslash, decoded.
    fn escape(&mut self) -> Scan<char> {
        let c = *self.bytes.get(self.at).ok_or(Invalid)?;
        self.at += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = self.hex4()?;
                let code = match high {
                    0xDC00..=0xDFFF => return Err(Invalid),
                    0xD800..=0xDBFF => {
                        if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                            return Err(Invalid);
                        }
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(Invalid);
                        }
                        0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                    }
                    _ => high,
                };
                char::from_u32(code).ok_or(Invalid)?
            }
            _ => return Err(Invalid),
        })
    }

    /// Four hex digits.
    fn hex4(&mut self) -> Scan<u32> {
        let digits = self.bytes.get(self.at..self.at + 4).ok_or(Invalid)?;
        let mut n = 0;
        for &d in digits {
            n = n << 4 | char::from(d).to_digit(16).ok_or(Invalid)?;
        }
        self.at += 4;
        Ok(n)
    }

    /// Skips a string whose opening quote was consumed, as serde_json
    /// skips one: escapes checked, not decoded; lone surrogates allowed.
    #[inline(always)]
    fn skip_string(&mut self) -> Scan<()> {
        let mut from = self.at;
        loop {
            let end = self.find_special(from);
            match self.bytes.get(end) {
                Some(b'"') => {
                    self.at = end + 1;
                    return Ok(());
                }
                Some(b'\\') => match self.bytes.get(end + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => from = end + 2,
                    Some(b'u') => {
                        self.at = end + 2;
                        self.hex4()?;
                        from = self.at;
                    }
                    _ => return Err(Invalid),
                },
                _ => return Err(Invalid),
            }
        }
    }

    /// [`Scanner::skip`], with the common case (a string) taken directly.
    #[inline(always)]
    fn skip_value(&mut self) -> Scan<()> {
        if self.peek() == Some(b'"') {
            self.at += 1;
            self.skip_string()
        } else {
            self.skip()
        }
    }

    /// Skips one value as serde_json skips a value nobody reads: syntax
    /// checked, nothing built. Iterative: a bit per nesting level.
    fn skip(&mut self) -> Scan<()> {
        // Bit `level` set: that level is an object. Levels from SHALLOW on
        // live in `self.deep`.
        let mut objects: u64 = 0;
        let mut depth = 0usize;
        loop {
            // One value, or the opening of an array or object.
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    self.skip_string()?;
                }
                Some(b'-' | b'0'..=b'9') => {
                    self.number()?;
                }
                Some(b'n') => self.literal(b"null")?,
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(open @ (b'{' | b'[')) => {
                    self.at += 1;
                    let object = open == b'{';
                    if depth < SHALLOW {
                        objects = (objects & !(1 << depth)) | (u64::from(object) << depth);
                    } else {
                        self.deep.push(object);
                    }
                    depth += 1;
                    let close = if object { b'}' } else { b']' };
                    if self.peek() != Some(close) {
                        if object {
                            self.skip_key()?;
                        }
                        continue;
                    }
                    // Empty: closed below.
                }
                _ => return Err(Invalid),
            }
            // After a value: close what ends here, then go on to the next
            // member or element.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let level = depth - 1;
                let object = if level < SHALLOW {
                    (objects >> level) & 1 == 1
                } else {
                    self.deep.last() == Some(&true)
                };
                match self.peek() {
                    Some(b',') => {
                        self.at += 1;
                        if object {
                            self.skip_key()?;
                        }
                        break;
                    }
                    Some(b'}') if object => {}
                    Some(b']') if !object => {}
                    _ => return Err(Invalid),
                }
                self.at += 1;
                if level >= SHALLOW {
                    self.deep.pop();
                }
                depth = level;
            }
        }
    }

    /// A key of a skipped object and its colon.
    fn skip_key(&mut self) -> Scan<()> {
        self.expect(b'"')?;
        self.skip_string()?;
        self.expect(b':')
    }
}

/// Blocks whose masks a [`Scanner`] computes up front: messages up to
/// 1 KiB (the usual incident is about 450 bytes) need no other.
const EAGER: usize = 16;

/// [`special_bits`] of the first [`EAGER`] blocks of `bytes`; all ones for
/// blocks past the end (the end counts as a control byte).
#[inline(always)]
fn eager_bits(bytes: &[u8]) -> [u64; EAGER] {
    let mut out = [u64::MAX; EAGER];
    let blocks = bytes.len().div_ceil(64).min(EAGER);
    for (i, bits) in out.iter_mut().enumerate().take(blocks) {
        *bits = special_bits(bytes, i * 64);
    }
    out
}

/// Bit `i` set where byte `start + i` is `"`, `\\` or a control byte (the
/// bytes that end a run of string content); bytes past the end count as
/// control bytes. SSE2, which every x86-64 has: 16 bytes per compare.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn special_bits_sse2(bytes: &[u8], start: usize) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let block = block_at(bytes, start);
    let (quarters, _) = block.as_chunks::<16>();
    let mut bits = 0u64;
    for (i, quarter) in quarters.iter().enumerate() {
        // SAFETY: SSE2 is enabled (the cfg above; every x86-64 has it), and
        // `quarter` is 16 readable bytes, which an unaligned load reads
        // with no alignment requirement.
        let any = unsafe {
            let v = _mm_loadu_si128(quarter.as_ptr().cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // Unsigned v <= 0x1f: min(v, 0x1f) == v.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
        };
        bits |= u64::from(any as u16) << (16 * i);
    }
    bits
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
use special_bits_portable as special_bits;
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
use special_bits_sse2 as special_bits;

/// The portable version of [`special_bits`] (tests compare the two).
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
fn special_bits_portable(bytes: &[u8], start: usize) -> u64 {
    block_at(bytes, start)
        .iter()
        .enumerate()
        .fold(0, |bits, (i, &c)| {
            bits | u64::from(c == b'"' || c == b'\\' || c < 0x20) << i
        })
}

/// The 64 bytes from `start`, zero-padded past the end.
#[inline(always)]
fn block_at(bytes: &[u8], start: usize) -> [u8; 64] {
    let rest = bytes.get(start..).unwrap_or_default();
    match rest.first_chunk::<64>() {
        Some(block) => *block,
        None => {
            let mut block = [0u8; 64];
            block[..rest.len()].copy_from_slice(rest);
            block
        }
    }
}

#[cfg(any(test, feature = "reference-model"))]
mod serde_model;
/// The serde_json reference model of this reader (differential fuzzing).
#[cfg(feature = "reference-model")]
pub use serde_model::parse_with_serde_json;
#[cfg(test)]
mod tests;
