//! A small, bounds-checked binary encoding for checkpoints.
//!
//! Little-endian integers, length-prefixed strings. The reader never trusts a
//! length: every read is checked against the remaining bytes, so a truncated
//! or corrupt file is an error, never a panic or a huge allocation.

/// The checkpoint bytes are not what this build writes.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CodecError {
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("bad magic: not an incident-monitor state file")]
    Magic,
    #[error("format version {0} is not supported by this build (it reads version {1})")]
    Version(u16, u16),
    #[error("checksum mismatch: the file is corrupt")]
    Checksum,
    #[error("invalid UTF-8 in a string at byte {0}")]
    Utf8(usize),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// A length as u32; lengths here are counts of in-memory items, far below
    /// 4 billion (bounded by configuration).
    pub fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    /// An unsigned LEB128 number (the `leb128` crate's).
    pub fn varint(&mut self, v: u64) {
        // Writing to a Vec cannot fail.
        let _ = leb128::write::unsigned(&mut self.buf, v);
    }
    /// A signed LEB128 number: a small negative is short too.
    pub fn signed(&mut self, v: i64) {
        // Writing to a Vec cannot fail.
        let _ = leb128::write::signed(&mut self.buf, v);
    }
    /// Room for a length known once what it counts is written
    /// ([`Writer::set_len`]).
    pub fn len_later(&mut self) -> usize {
        let at = self.buf.len();
        self.len(0);
        at
    }
    /// Writes the length a [`Writer::len_later`] made room for at `at`.
    pub fn set_len(&mut self, at: usize, n: usize) {
        let v = u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
        if let Some(room) = self.buf.get_mut(at..at + v.len()) {
            room.copy_from_slice(&v);
        }
    }
    pub fn str(&mut self, s: &str) {
        self.len(s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Steps over `n` bytes without reading them.
    pub fn skip(&mut self, n: usize) -> Result<(), CodecError> {
        self.take(n).map(|_| ())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(CodecError::Truncated(self.pos))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(CodecError::Truncated(self.pos))?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub fn i32(&mut self) -> Result<i32, CodecError> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    pub fn i64(&mut self) -> Result<i64, CodecError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// A [`Writer::varint`]; more than 64 bits is an error.
    pub fn varint(&mut self) -> Result<u64, CodecError> {
        self.leb(leb128::read::unsigned::<&[u8]>)
    }
    /// A [`Writer::signed`]; more than 64 bits is an error.
    pub fn signed(&mut self) -> Result<i64, CodecError> {
        self.leb(leb128::read::signed::<&[u8]>)
    }
    /// A LEB128 number read by `read` from the bytes left.
    fn leb<T>(
        &mut self,
        read: fn(&mut &'a [u8]) -> Result<T, leb128::read::Error>,
    ) -> Result<T, CodecError> {
        let at = self.pos;
        let mut rest = self.buf.get(at..).unwrap_or_default();
        let v = read(&mut rest).map_err(|e| match e {
            leb128::read::Error::IoError(_) => CodecError::Truncated(at),
            leb128::read::Error::Overflow => {
                CodecError::Invalid(format!("a number of more than 64 bits at {at}"))
            }
        })?;
        self.pos = self.buf.len() - rest.len();
        Ok(v)
    }
    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }
    /// A count of items each at least `min_item_bytes` long; rejected when the
    /// remaining bytes cannot hold them, so a corrupt count cannot make us
    /// allocate gigabytes.
    pub fn count(&mut self, min_item_bytes: usize) -> Result<usize, CodecError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item_bytes.max(1)) > self.buf.len() - self.pos {
            return Err(CodecError::Truncated(self.pos));
        }
        Ok(n)
    }

    pub fn str(&mut self) -> Result<&'a str, CodecError> {
        let n = self.count(1)?;
        let at = self.pos;
        std::str::from_utf8(self.take(n)?).map_err(|_| CodecError::Utf8(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut w = Writer::default();
        w.u8(7);
        w.u64(u64::MAX);
        w.i64(-5);
        w.str("tăng");
        let bytes = w.buf;
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u64().unwrap(), u64::MAX);
        assert_eq!(r.i64().unwrap(), -5);
        assert_eq!(r.str().unwrap(), "tăng");
        assert!(r.is_empty());
        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut]);
            let ok = r
                .u8()
                .and_then(|_| r.u64())
                .and_then(|_| r.i64())
                .and_then(|_| r.str().map(|_| ()));
            assert!(ok.is_err(), "{cut}");
        }
    }

    proptest::proptest! {
        #[test]
        fn varints_round_trip_and_refuse_more_than_64_bits(u: u64, i: i64, cut in 0usize..20) {
            let mut w = Writer::default();
            w.varint(u);
            w.signed(i);
            let mut r = Reader::new(&w.buf);
            proptest::prop_assert_eq!(r.varint().unwrap(), u);
            proptest::prop_assert_eq!(r.signed().unwrap(), i);
            proptest::prop_assert!(r.is_empty());
            // Cut short: an error, never a number.
            let cut = cut.min(w.buf.len() - 1);
            let mut r = Reader::new(&w.buf[..cut]);
            proptest::prop_assert!(r.varint().and_then(|_| r.signed()).is_err());
        }
    }

    #[test]
    fn a_varint_of_more_than_64_bits_is_refused() {
        // 2^64: ten bytes whose last carries a second bit.
        let mut r = Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02]);
        assert!(r.varint().is_err());
        let mut r = Reader::new(&[0xff; 11]);
        assert!(r.varint().is_err());
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(r.varint().unwrap(), u64::MAX);
        // Small numbers are short.
        let mut w = Writer::default();
        w.varint(127);
        w.signed(-64);
        assert_eq!(w.buf.len(), 2);
    }

    #[test]
    fn absurd_counts_are_rejected_before_allocating() {
        let mut w = Writer::default();
        w.u32(u32::MAX);
        let mut r = Reader::new(&w.buf);
        assert!(r.count(16).is_err());
    }
}
