//! The scanner's structure: the document, its keys, objects, arrays and
//! the values the monitor reads.

use super::*;

/// The message is not JSON.
#[derive(Debug)]
pub(super) struct Invalid;

pub(super) type Scan<T> = Result<T, Invalid>;

/// A value read where its type matters.
pub(super) enum Any<'a> {
    Str(Cow<'a, str>),
    /// An integer; beyond `i64` it saturates (no band reaches that far).
    Int(i64),
    Null,
    /// A boolean, a fraction, an array or an object, or a string or number
    /// the monitor cannot represent.
    Other,
}

/// Nesting levels kept in the `u64` bit stack of [`Scanner::skip`]; deeper
/// levels go to [`Scanner::deep`].
/// A key of `target` the monitor reads.
pub(super) enum TargetKey {
    Sector,
    Province,
    Other,
}

pub(super) const SHALLOW: usize = 64;

pub(super) struct Scanner<'a> {
    pub(super) text: &'a str,
    pub(super) bytes: &'a [u8],
    pub(super) at: usize,
    /// Levels of [`Scanner::skip`] below [`SHALLOW`]: `true` for an object.
    /// Empty unless a message nests that deep.
    pub(super) deep: Vec<bool>,
    /// [`special_bits`] of the first [`EAGER`] 64-byte blocks, computed
    /// up front in one tight loop (all ones past the end): finding the end
    /// of a string is a bit scan, whatever its length.
    pub(super) eager: [u64; EAGER],
    /// The same for the one later block last used (`usize::MAX`: none
    /// yet), for the rare longer message.
    pub(super) block: usize,
    pub(super) bits: u64,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(text: &'a str) -> Self {
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
    pub(super) fn find_special(&mut self, mut at: usize) -> usize {
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
    pub(super) fn late_bits(&mut self, block: usize) -> u64 {
        if block != self.block {
            self.bits = special_bits(self.bytes, block * 64);
            self.block = block;
        }
        self.bits
    }

    /// The next byte that is not JSON whitespace, not consumed.
    #[inline(always)]
    pub(super) fn peek(&mut self) -> Option<u8> {
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
    pub(super) fn expect(&mut self, c: u8) -> Scan<()> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// The whole message: `true` when it is one object, read into `raw`.
    pub(super) fn document(&mut self, raw: &mut Raw<'a>) -> Scan<bool> {
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
                    Field::Status => raw.status = s.lenient()?.into_option(),
                    Field::Updated => raw.updated = s.lenient()?.into_option(),
                    _ => s.skip_value()?,
                }
                Ok(())
            })?;
            true
        } else {
            // Not an object: only its syntax matters.
            self.skip()?;
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
    pub(super) fn field(&mut self) -> Scan<Field> {
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
            (Name::of(b"status"), Field::Status),
        ];
        const U: &[(Name, Field)] = &[(Name::of(b"updated"), Field::Updated)];
        const M: &[(Name, Field)] = &[(Name::of(b"mitre"), Field::Mitre)];
        // Truncation keeps the lowest byte, the first in memory.
        let known = match next as u8 {
            b'i' => I,
            b't' => T,
            b's' => S,
            b'm' => M,
            b'u' => U,
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
    pub(super) fn other_key(&mut self) -> Scan<Option<String>> {
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

    /// A key of `target` whose opening quote was consumed: `sector`,
    /// `province`, or another.
    #[inline(always)]
    pub(super) fn target_key(&mut self) -> Scan<TargetKey> {
        const SECTOR: Name = Name::of(b"sector");
        const PROVINCE: Name = Name::of(b"province");
        let next = next_16(self.bytes, self.at);
        if SECTOR.starts(next) {
            self.at += SECTOR.len;
            return Ok(TargetKey::Sector);
        }
        if PROVINCE.starts(next) {
            self.at += PROVINCE.len;
            return Ok(TargetKey::Province);
        }
        Ok(match self.other_key()?.as_deref() {
            Some("sector") => TargetKey::Sector,
            Some("province") => TargetKey::Province,
            _ => TargetKey::Other,
        })
    }

    /// The members of an object whose `{` was consumed. `key` reads each
    /// key after its opening quote (decoded and checked); `value` reads or
    /// skips each value.
    #[inline(always)]
    pub(super) fn object<K>(
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
    pub(super) fn more(&mut self, close: u8) -> Scan<bool> {
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
    pub(super) fn array(&mut self, mut element: impl FnMut(&mut Self) -> Scan<()>) -> Scan<()> {
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
    /// converted; arrays and objects skipped (syntax only). A string or
    /// number the monitor cannot represent (a lone surrogate, `1e400`) is
    /// [`Any::Other`], as a value of the wrong type.
    pub(super) fn any(&mut self) -> Scan<Any<'a>> {
        match self.peek() {
            Some(b'"') => {
                self.at += 1;
                Ok(self.string_value()?.map_or(Any::Other, Any::Str))
            }
            Some(b'-' | b'0'..=b'9') => self.number_value(),
            Some(b'[' | b'{') => {
                self.skip()?;
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
    pub(super) fn lenient(&mut self) -> Scan<Lenient<'a>> {
        if self.peek() == Some(b'"') {
            self.at += 1;
            return Ok(self.string_value()?.map_or(Lenient::Other, Lenient::Str));
        }
        Ok(match self.any()? {
            Any::Str(s) => Lenient::Str(s),
            Any::Null => Lenient::Missing,
            Any::Int(_) | Any::Other => Lenient::Other,
        })
    }

    /// `severity`: a level name or a 1-10 score; anything else is `None`.
    pub(super) fn severity(&mut self) -> Scan<Option<Severity>> {
        Ok(match self.any()? {
            Any::Str(s) => Some(Severity::from_name(&s)),
            Any::Int(n) => Some(Severity::from_score(n)),
            Any::Null | Any::Other => None,
        })
    }

    /// `target`: an object whose `sector` and `province` are read;
    /// anything else is ignored.
    pub(super) fn target(&mut self) -> Scan<Target<'a>> {
        let mut out = Target::default();
        if self.peek() == Some(b'{') {
            self.at += 1;
            self.object(Self::target_key, |s, key| {
                match key {
                    TargetKey::Sector => out.sector = s.lenient()?.into_option(),
                    TargetKey::Province => out.province = s.lenient()?.into_option(),
                    TargetKey::Other => s.skip_value()?,
                }
                Ok(())
            })?;
        } else {
            self.any()?;
        }
        Ok(out)
    }

    /// `tags`: an array of strings; other elements are skipped, a
    /// non-array is ignored.
    pub(super) fn tags(&mut self) -> Scan<Vec<Cow<'a, str>>> {
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
}
