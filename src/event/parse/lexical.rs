//! The scanner's tokens: literals, numbers, strings and their escapes,
//! and skipping whatever the monitor does not read.

use super::*;

impl<'a> Scanner<'a> {
    pub(super) fn literal(&mut self, word: &[u8]) -> Scan<()> {
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
    pub(super) fn number(&mut self) -> Scan<bool> {
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
    /// does not fit 64 bits is read as an `f64`; a number too large for an
    /// `f64` (`1e400`) is valid JSON the monitor cannot represent: the
    /// field counts as absent (spec §2), like one of the wrong type.
    #[cold]
    pub(super) fn number_value(&mut self) -> Scan<Any<'a>> {
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
        Ok(Any::Other)
    }

    /// A string value whose opening quote was consumed: as
    /// [`Scanner::string`], but a lone `\u` surrogate (valid JSON that no
    /// Rust string can hold) gives `None`, the field counting as absent,
    /// instead of refusing the message.
    #[inline(always)]
    pub(super) fn string_value(&mut self) -> Scan<Option<Cow<'a, str>>> {
        let start = self.at;
        let end = self.find_special(start);
        match self.bytes.get(end) {
            Some(b'"') => {
                self.at = end + 1;
                self.text
                    .get(start..end)
                    .map(|s| Some(Cow::Borrowed(s)))
                    .ok_or(Invalid)
            }
            Some(b'\\') => Ok(self.unescape_lossy(start, end)?.map(Cow::Owned)),
            _ => Err(Invalid),
        }
    }

    /// The rest of a string with escapes; `end` is the first backslash. A
    /// lone surrogate is not JSON here (keys, as serde_json reads them).
    #[cold]
    pub(super) fn unescape(&mut self, from: usize, end: usize) -> Scan<String> {
        self.unescape_lossy(from, end)?.ok_or(Invalid)
    }

    /// The rest of a string with escapes, `None` when it holds a lone
    /// surrogate (the whole string is still scanned).
    #[cold]
    pub(super) fn unescape_lossy(
        &mut self,
        mut from: usize,
        mut end: usize,
    ) -> Scan<Option<String>> {
        let mut out = String::with_capacity(end - from + 16);
        let mut whole = true;
        loop {
            out.push_str(self.text.get(from..end).ok_or(Invalid)?);
            match self.bytes.get(end) {
                Some(b'"') => {
                    self.at = end + 1;
                    return Ok(whole.then_some(out));
                }
                Some(b'\\') => {
                    self.at = end + 1;
                    match self.escape()? {
                        Some(c) => out.push(c),
                        None => whole = false,
                    }
                    from = self.at;
                    end = self.find_special(from);
                }
                _ => return Err(Invalid),
            }
        }
    }

    /// One escape after its backslash, decoded; `None` for a lone
    /// surrogate (a high one not followed by a `\u` low one, or a low one).
    pub(super) fn escape(&mut self) -> Scan<Option<char>> {
        let c = *self.bytes.get(self.at).ok_or(Invalid)?;
        self.at += 1;
        Ok(Some(match c {
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
                    0xDC00..=0xDFFF => return Ok(None),
                    0xD800..=0xDBFF => {
                        // Paired only with a `\u` low surrogate right after;
                        // anything else there is read on its own.
                        if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                            return Ok(None);
                        }
                        let back = self.at;
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            self.at = back;
                            return Ok(None);
                        }
                        0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                    }
                    _ => high,
                };
                // Surrogates were handled above: every other code is a char.
                char::from_u32(code).ok_or(Invalid)?
            }
            _ => return Err(Invalid),
        }))
    }

    /// Four hex digits.
    pub(super) fn hex4(&mut self) -> Scan<u32> {
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
    pub(super) fn skip_string(&mut self) -> Scan<()> {
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
    pub(super) fn skip_value(&mut self) -> Scan<()> {
        if self.peek() == Some(b'"') {
            self.at += 1;
            self.skip_string()
        } else {
            self.skip()
        }
    }

    /// Skips one value as serde_json skips a value nobody reads: syntax
    /// checked, nothing built. Iterative: a bit per nesting level.
    pub(super) fn skip(&mut self) -> Scan<()> {
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
    pub(super) fn skip_key(&mut self) -> Scan<()> {
        self.expect(b'"')?;
        self.skip_string()?;
        self.expect(b':')
    }
}
