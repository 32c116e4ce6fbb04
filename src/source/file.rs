//! The JSONL source: a file or stdin, read on its own thread.
//!
//! Blocking reads stay off the async runtime: a dedicated thread reads the
//! input in large chunks straight into a batch's buffer, finds the line ends
//! there (`memchr`), names each line as a message (partition 0, its byte
//! offset, the offset after it) and hands full batches to a [`Sink`]
//! (backpressure: when the counting side is busy the reader waits). Lines
//! are never copied one by one; only the unfinished line at the end of a
//! batch moves to the next. A line longer than the event size limit is not
//! buffered whole: its first `max + 1` bytes are kept (enough to reject it
//! as `too_large`) and the rest is skipped.
//!
//! What the world writes into files is read as a person would (spec §2,
//! §4 "Delivery"): a UTF-8 byte-order mark at the start is skipped; blank
//! lines are skipped and counted ([`Batch::blank_lines`]), not rejected;
//! a file's last line without a newline is read when it is complete JSON
//! and otherwise left for the next run (a writer is still writing it).
//! Every byte of a file is hashed as it is read (XXH3, streaming): each
//! batch carries the position after its last line and the hash of every
//! byte before it ([`Batch::file_end`]), so a checkpoint records which
//! bytes it counted, and a later run resumes at that position only when
//! the file's bytes before it are the same ([`open`]).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::oneshot;

use xxhash_rust::xxh3::Xxh3Default;

use crate::count::Batch;
use crate::state::FileIdentity;

/// A UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Lines per batch, at most.
const BATCH_LINES: usize = 2048;
/// Bytes per batch, roughly at most.
const BATCH_BYTES: usize = 1 << 20;
/// Bytes asked of the input per read.
const CHUNK: usize = 256 * 1024;

/// Where to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    /// `-` is stdin.
    pub fn parse(s: &str) -> Input {
        if s == "-" {
            Input::Stdin
        } else {
            Input::File(PathBuf::from(s))
        }
    }

    /// The name stored with the position.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "-".to_owned(),
            Input::File(p) => p.display().to_string(),
        }
    }
}

/// Where the reader hands its lines.
pub trait Sink: Send + 'static {
    /// An empty batch to fill (reused buffers).
    fn spare(&mut self) -> Batch;
    /// Hands a batch over; `false` once nobody receives (stop reading).
    fn send(&mut self, batch: Batch) -> bool;
}

/// The reader thread, seen from the loop.
pub struct Reader {
    /// Resolves when the reader ends: `Ok(true)` at end of input (every line
    /// handed over), `Ok(false)` when stopped, or the read error.
    pub done: oneshot::Receiver<io::Result<bool>>,
    stop: Arc<AtomicBool>,
}

impl Reader {
    /// Asks the reader to stop after the batch it is reading.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// An input opened for reading, and where: at the start, or after a
/// checkpointed position whose bytes are unchanged.
pub struct Opened {
    reader: Box<dyn Read + Send>,
    /// The byte offset reading starts at (0 for stdin).
    pub offset: u64,
    /// For a file: the hash of the bytes before `offset`, to go on with.
    hasher: Option<Xxh3Default>,
    /// Why a recorded position was not resumed (for the log), if one was
    /// given and not taken.
    pub restart_reason: Option<&'static str>,
    /// A regular file: a read comes back short only at its end (see
    /// [`Lines::read_all`]).
    regular: bool,
}

/// Opens the input. A file with a recorded position (`offset`, the
/// identity of the bytes before it) is resumed there only when its first
/// `offset` bytes, read now through the same handle, hash the same;
/// otherwise it is read from its start. Stdin always starts at 0.
pub fn open(input: &Input, recorded: Option<(u64, Option<FileIdentity>)>) -> io::Result<Opened> {
    let path = match input {
        Input::Stdin => {
            return Ok(Opened {
                reader: Box::new(io::stdin()),
                offset: 0,
                hasher: None,
                restart_reason: None,
                regular: false,
            });
        }
        Input::File(path) => path,
    };
    let mut f = File::open(path)?;
    let regular = f.metadata()?.file_type().is_file();
    let from_start = |f: File, why| Opened {
        reader: Box::new(f),
        offset: 0,
        hasher: Some(Xxh3Default::new()),
        restart_reason: why,
        regular,
    };
    let (offset, want) = match recorded {
        None | Some((0, _)) => return Ok(from_start(f, None)),
        Some((offset, Some(FileIdentity::Prefix(hash)))) => (offset, hash),
        Some((_, Some(FileIdentity::Head { .. }))) => {
            return Ok(from_start(
                f,
                Some("the checkpoint (of an older version) cannot show which bytes it counted"),
            ));
        }
        Some((_, None)) => {
            return Ok(from_start(f, Some("the checkpoint names no file contents")));
        }
    };
    if f.metadata()?.len() < offset {
        return Ok(from_start(
            f,
            Some("the file is shorter than the checkpointed position"),
        ));
    }
    let mut hasher = Xxh3Default::new();
    let mut left = offset;
    let mut buf = vec![0u8; CHUNK];
    while left > 0 {
        let now = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        let n = match f.read(&mut buf[..now]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    if left > 0 || hasher.digest() != want {
        f.seek(SeekFrom::Start(0))?;
        return Ok(from_start(
            f,
            Some(
                "the bytes before the checkpointed position changed (rewritten, edited or truncated)",
            ),
        ));
    }
    Ok(Opened {
        reader: Box::new(f),
        offset,
        hasher: Some(hasher),
        restart_reason: None,
        regular,
    })
}

/// Starts the reader thread on an opened input. It stops at end of input,
/// on error, when asked, or when the sink no longer receives.
pub fn spawn(opened: Opened, max_line: usize, sink: impl Sink) -> io::Result<Reader> {
    let Opened {
        reader,
        offset,
        hasher,
        regular,
        ..
    } = opened;
    let (tx, done) = oneshot::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::Builder::new()
        .name("input-reader".into())
        .spawn(move || {
            let mut lines = Lines::new(sink, offset, max_line, hasher);
            let result = lines.read_all(reader, CHUNK, regular, &stopped);
            // The sink goes before the end is told: what it holds is
            // released by then.
            drop(lines);
            let _ = tx.send(result);
        })?;
    Ok(Reader { done, stop })
}

/// How a file's last line without a line end stands.
#[derive(Debug, PartialEq, Eq)]
enum LastLine {
    /// Complete JSON, or bytes no continuation can make valid: a line.
    Line,
    /// Only white space: a blank line.
    Blank,
    /// A prefix of JSON (or of a UTF-8 character), or longer than the
    /// size limit: a writer may still be writing it; left unread.
    Unfinished,
}

fn last_line(bytes: &[u8], over_cap: bool) -> LastLine {
    if over_cap {
        return LastLine::Unfinished;
    }
    if is_blank(bytes) {
        return LastLine::Blank;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        // Cut inside a character: the rest is on its way.
        Err(e) if e.error_len().is_none() => return LastLine::Unfinished,
        Err(_) => return LastLine::Line,
    };
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Err(e) if e.is_eof() => LastLine::Unfinished,
        // Complete, or invalid whatever follows: rejected as a line would be.
        _ => LastLine::Line,
    }
}

/// Only JSON white space (a `\r` before the line end included).
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

/// Splits what is read into lines, batch by batch.
struct Lines<S: Sink> {
    sink: S,
    batch: Batch,
    /// Where the unfinished line starts in the batch's buffer, and in the
    /// input.
    line_start: usize,
    line_offset: u64,
    /// Bytes of the unfinished line dropped past the cap.
    dropped: u64,
    /// The unfinished line is over the cap: drop until its end.
    skipping: bool,
    cap: usize,
    /// A file's bytes read so far, hashed (`None` for stdin, which is
    /// never resumed by position), and the same hash as it stood at the
    /// last line end (where the unfinished line starts).
    hasher: Option<Xxh3Default>,
    at_line_end: Option<Xxh3Default>,
    /// The next line is the input's first (a byte-order mark may lead it).
    first_line: bool,
}

impl<S: Sink> Lines<S> {
    /// Lines from input offset `offset`; `hasher` is a file's hash of the
    /// bytes before it (`None` for stdin).
    fn new(mut sink: S, offset: u64, max_line: usize, hasher: Option<Xxh3Default>) -> Lines<S> {
        Lines {
            batch: sink.spare(),
            sink,
            line_start: 0,
            line_offset: offset,
            dropped: 0,
            skipping: false,
            cap: max_line.saturating_add(1),
            at_line_end: hasher.clone(),
            hasher,
            first_line: offset == 0,
        }
    }

    /// Reads until end of input (`Ok(true)`), a stop (`Ok(false)`) or an
    /// error, `chunk` bytes at a time. A `regular` file's chunk is read
    /// into the buffer's spare room as it is (`read_to_end` through
    /// `take`: two reads, no zeroing first; a regular file's read comes
    /// back short only at its end, so nothing waits for more); anything
    /// else (stdin, a pipe) with one read into zeroed room, handed over as
    /// soon as it returns.
    fn read_all(
        &mut self,
        mut r: impl Read,
        chunk: usize,
        regular: bool,
        stop: &AtomicBool,
    ) -> io::Result<bool> {
        loop {
            let data = self.batch.data_mut();
            let before = data.len();
            let read = if regular {
                data.reserve(chunk);
                (&mut r).take(chunk as u64).read_to_end(data)
            } else {
                data.resize(before + chunk, 0);
                let read = loop {
                    match r.read(&mut data[before..]) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        read => break read,
                    }
                };
                data.truncate(before + *read.as_ref().unwrap_or(&0));
                read
            };
            let n = match read {
                Ok(n) => n,
                Err(e) => {
                    data.truncate(before);
                    return Err(e);
                }
            };
            if n == 0 {
                self.finish_last_line();
                self.mark_end();
                let last = std::mem::take(&mut self.batch);
                let nothing = last.is_empty() && last.blank_lines() == 0;
                return Ok(nothing || self.sink.send(last));
            }
            if let Some(h) = self.hasher.as_mut() {
                let fresh = &data[before..before + n];
                match memchr::memrchr(b'\n', fresh) {
                    Some(p) => {
                        h.update(&fresh[..=p]);
                        self.at_line_end = Some(h.clone());
                        h.update(&fresh[p + 1..]);
                    }
                    None => h.update(fresh),
                }
            }
            self.split(before);
            // Full, or the input had no more ready (a pipe, a terminal, a
            // slow producer): hand over what is read, so a live stream is
            // counted as it comes.
            let full = self.batch.len() >= BATCH_LINES || self.batch.bytes() >= BATCH_BYTES;
            let pending = !self.batch.is_empty() || self.batch.blank_lines() > 0;
            if (full || n < chunk) && pending && !self.hand_over() {
                return Ok(false);
            }
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
        }
    }

    /// Names the lines completed by the bytes from `from` on.
    fn split(&mut self, mut from: usize) {
        if self.skipping {
            let data = self.batch.data_mut();
            match memchr::memchr(b'\n', &data[from..]) {
                None => {
                    self.dropped += (data.len() - from) as u64;
                    data.truncate(from);
                    return;
                }
                Some(i) => {
                    self.dropped += i as u64;
                    data.drain(from..from + i);
                    self.skipping = false;
                }
            }
        }
        while let Some(i) = memchr::memchr(b'\n', &self.batch.data_mut()[from..]) {
            let nl = from + i;
            self.push_line(nl, 1);
            self.line_start = nl + 1;
            from = nl + 1;
        }
        // Bound the unfinished line: keep `cap` bytes, drop the rest.
        let data = self.batch.data_mut();
        if data.len() - self.line_start > self.cap {
            self.dropped += (data.len() - self.line_start - self.cap) as u64;
            data.truncate(self.line_start + self.cap);
            self.skipping = true;
        }
    }

    /// Names `line_start..end` a line that took `terminator` more bytes of
    /// input: without a `\r` before its end, and cut to `cap` bytes when it
    /// is longer than that (then rejected as too large: its `\r`, wherever
    /// the cut fell, is kept, so the result never depends on how the input
    /// was chunked). The input's first line loses a leading byte-order
    /// mark; a blank line is counted, not named.
    fn push_line(&mut self, end: usize, terminator: u64) {
        let start = self.content_start(end);
        let data = self.batch.data_mut();
        let whole = self.dropped == 0 && end - self.line_start <= self.cap;
        let stop = if whole && end > start && data[end - 1] == b'\r' {
            end - 1
        } else {
            end.min(self.line_start + self.cap)
        };
        let took = (end - self.line_start) as u64 + self.dropped + terminator;
        let offset = self.line_offset;
        if whole && is_blank(&data[start..stop.max(start)]) {
            self.batch.count_blank_line();
        } else {
            self.batch
                .push_range(0, offset, offset + took, start..stop.max(start));
        }
        self.line_offset += took;
        self.dropped = 0;
    }

    /// Where the unfinished line's content starts: past a byte-order mark
    /// when it is the input's first line.
    fn content_start(&mut self, end: usize) -> usize {
        let start = self.line_start;
        if !std::mem::take(&mut self.first_line) {
            return start;
        }
        let data = self.batch.data_mut();
        if data[start..end].starts_with(BOM) {
            start + BOM.len()
        } else {
            start
        }
    }

    /// A last line without a line end: from stdin (the stream has ended)
    /// a line; from a file a line only when it is complete JSON (or bytes
    /// nothing can make valid) or blank, else left unread for the next run.
    fn finish_last_line(&mut self) {
        let len = self.batch.bytes();
        if len <= self.line_start && self.dropped == 0 {
            return;
        }
        if self.hasher.is_some() {
            let first = self.first_line;
            let start = self.content_start(len);
            self.first_line = first;
            let over_cap = self.dropped > 0 || len - self.line_start > self.cap;
            if last_line(&self.batch.data_mut()[start..len], over_cap) == LastLine::Unfinished {
                let left = (len - self.line_start) as u64 + self.dropped;
                tracing::info!(
                    bytes = left,
                    offset = self.line_offset,
                    "the input's last line has no line end and is not complete JSON: left unread, \
                     the next run reads it whole"
                );
                return;
            }
        }
        self.push_line(len, 0);
        self.line_start = len;
        self.skipping = false;
    }

    /// Marks the batch with the position after its last line and the hash
    /// of the file's bytes before it (files only).
    fn mark_end(&mut self) {
        let whole_file = self.line_start == self.batch.bytes() && self.dropped == 0;
        let hash = if whole_file {
            self.hasher.as_ref()
        } else {
            self.at_line_end.as_ref()
        };
        if let Some(h) = hash {
            self.batch.set_file_end(self.line_offset, h.digest());
        }
    }

    /// Sends the batch; the unfinished line moves to the next one.
    fn hand_over(&mut self) -> bool {
        self.mark_end();
        let mut next = self.sink.spare();
        let data = self.batch.data_mut();
        next.data_mut().extend_from_slice(&data[self.line_start..]);
        data.truncate(self.line_start);
        self.line_start = 0;
        let full = std::mem::replace(&mut self.batch, next);
        self.sink.send(full)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::Just;

    use super::*;

    /// Batches kept in memory.
    #[derive(Default)]
    struct Collect(std::sync::Arc<std::sync::Mutex<Vec<Batch>>>);

    impl Sink for Collect {
        fn spare(&mut self) -> Batch {
            Batch::new(crate::state::Source::Input)
        }
        fn send(&mut self, batch: Batch) -> bool {
            self.0.lock().unwrap().push(batch);
            true
        }
    }

    /// What a read gave: the lines, the offset after the last line named
    /// (blank lines included), the blank lines, and for a file the last
    /// batch's end and prefix hash.
    #[derive(Debug, PartialEq)]
    struct Read {
        lines: Vec<Vec<u8>>,
        end: u64,
        blank: u64,
        file_end: Option<(u64, u64)>,
    }

    /// Reads `input` `chunk` bytes at a time, as stdin (`file` false) or a
    /// file read from its start.
    fn read_in(input: &[u8], max: usize, chunk: usize, file: bool) -> Read {
        read_with(input, max, chunk, file, file)
    }

    /// As [`read_in`], read as a regular file (`read_to_end`, no zeroing)
    /// or as a pipe (`regular` false), whether it is a file or stdin.
    fn read_with(input: &[u8], max: usize, chunk: usize, file: bool, regular: bool) -> Read {
        let out = Collect::default();
        let got = out.0.clone();
        let mut lines = Lines::new(out, 0, max, file.then(Xxh3Default::new));
        let stop = AtomicBool::new(false);
        assert!(
            lines
                .read_all(io::Cursor::new(input.to_vec()), chunk, regular, &stop)
                .unwrap()
        );
        let mut r = Read {
            lines: Vec::new(),
            end: 0,
            blank: 0,
            file_end: None,
        };
        let mut last_offset = 0;
        for b in got.lock().unwrap().iter() {
            for it in b.items() {
                assert!(it.offset >= last_offset, "offsets in order");
                last_offset = it.next;
                r.lines.push(b.payload(it).to_vec());
                r.end = it.next;
            }
            r.blank += b.blank_lines();
            if let Some(e) = b.file_end() {
                assert!(
                    r.file_end.is_none_or(|(o, _)| o <= e.0),
                    "file ends in order"
                );
                r.file_end = Some(e);
            }
        }
        r
    }

    /// Lines of `input` read as stdin; reading it with `read_to_end` (as a
    /// regular file is) finds the same.
    fn collect_in(input: &[u8], max: usize, chunk: usize) -> (Vec<Vec<u8>>, u64) {
        let r = read_in(input, max, chunk, false);
        let whole = read_with(input, max, chunk, false, true);
        assert_eq!(
            (&whole.lines, whole.end),
            (&r.lines, r.end),
            "read as a regular file"
        );
        (r.lines, r.end)
    }

    fn collect(input: &[u8], max: usize) -> (Vec<Vec<u8>>, u64) {
        let whole = collect_in(input, max, CHUNK);
        for chunk in [1, 2, 3, 4, 7, 64] {
            assert_eq!(collect_in(input, max, chunk), whole, "chunk {chunk}");
        }
        whole
    }

    /// The same split by `BufRead::read_until`, the library reader this
    /// one replaces: lines without `\n` (and without a `\r` before it
    /// when the line fits the cap), cut to the cap, blank lines (that fit
    /// the cap) left out, and the offset after the last line kept.
    fn reference(input: &[u8], cap: usize) -> (Vec<Vec<u8>>, u64) {
        use std::io::BufRead;
        let mut r = io::Cursor::new(input);
        let (mut lines, mut end, mut at) = (Vec::new(), 0, 0);
        loop {
            let mut line = Vec::new();
            let n = r.read_until(b'\n', &mut line).unwrap();
            if n == 0 {
                return (lines, end);
            }
            at += n as u64;
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            let whole = line.len() <= cap;
            if whole && line.last() == Some(&b'\r') {
                line.pop();
            }
            if at == n as u64 && line.starts_with(BOM) {
                line.drain(..BOM.len());
            }
            if whole && is_blank(&line) {
                continue;
            }
            line.truncate(cap);
            lines.push(line);
            end = at;
        }
    }

    proptest::proptest! {
        #[test]
        fn splits_exactly_like_bufread_whatever_the_chunks(
            input in proptest::collection::vec(
                proptest::prop_oneof![Just(b'\n'), Just(b'\r'), Just(b' '), Just(b'x'), proptest::num::u8::ANY],
                0..600,
            ),
            max in 3usize..40,
            chunk in 1usize..70,
        ) {
            let want = reference(&input, max + 1);
            proptest::prop_assert_eq!(collect_in(&input, max, chunk), want.clone());
            proptest::prop_assert_eq!(collect_in(&input, max, CHUNK), want);
        }

        /// Read as a file, every batch end carries the hash of exactly the
        /// bytes before it, whatever the chunks.
        #[test]
        fn a_file_batch_end_hashes_the_bytes_before_it(
            input in proptest::collection::vec(
                proptest::prop_oneof![Just(b'\n'), Just(b'{'), Just(b'}'), Just(b'x'), proptest::num::u8::ANY],
                0..400,
            ),
            chunk in 1usize..70,
        ) {
            let r = read_in(&input, 30, chunk, true);
            if let Some((end, hash)) = r.file_end {
                proptest::prop_assert!(end as usize <= input.len());
                proptest::prop_assert_eq!(hash, xxhash_rust::xxh3::xxh3_64(&input[..end as usize]));
                proptest::prop_assert!(end >= r.end);
            }
            proptest::prop_assert_eq!(read_in(&input, 30, CHUNK, true), r);
        }
    }

    #[test]
    fn splits_lines_and_tracks_offsets() {
        let (lines, end) = collect(b"a\r\nbb\n\nccc", 100);
        assert_eq!(lines, vec![b"a".to_vec(), b"bb".to_vec(), b"ccc".to_vec()]);
        assert_eq!(end, 10);
    }

    #[test]
    fn blank_lines_and_a_byte_order_mark_are_skipped_and_counted() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\n\n  \t\r\n{\"b\":2}\n\r\n";
        for file in [false, true] {
            let r = read_in(input, 100, 3, file);
            assert_eq!(r.lines, vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
            assert_eq!(r.blank, 3);
            if file {
                // The position passes the trailing blank line.
                assert_eq!(r.file_end.map(|e| e.0), Some(input.len() as u64));
            }
        }
        // A mark further on is not skipped: only the start of the input.
        let r = read_in(b"{}\n\xEF\xBB\xBF{}\n", 100, CHUNK, true);
        assert_eq!(r.lines[1], b"\xEF\xBB\xBF{}".to_vec());
    }

    #[test]
    fn a_files_unfinished_last_line_is_left_for_the_next_run() {
        let done = b"{\"id\":\"g1\"}\n".to_vec();
        for (tail, counted) in [
            // A writer still writing: left unread.
            (
                &b"{\"id\":\"g2\",\"time\":\"2022-06-01T00:00:00Z\",\"ty"[..],
                false,
            ),
            (&b"{\"id\":\"g\xC3"[..], false),
            (&b"  {"[..], false),
            // Complete JSON without a line end: counted.
            (&b"{\"id\":\"g2\"}"[..], true),
            // Invalid whatever follows: a line (rejected as it would be).
            (&b"{\"id\" \"g2\""[..], true),
            (&b"\xFF\xFE{"[..], true),
        ] {
            let mut input = done.clone();
            input.extend_from_slice(tail);
            for chunk in [1, 5, CHUNK] {
                let r = read_in(&input, 1000, chunk, true);
                let (end, hash) = r.file_end.unwrap();
                if counted {
                    assert_eq!(r.lines.len(), 2, "{tail:?}");
                    assert_eq!(end, input.len() as u64);
                } else {
                    assert_eq!(r.lines.len(), 1, "{tail:?}");
                    assert_eq!(end, done.len() as u64, "{tail:?}");
                }
                assert_eq!(hash, xxhash_rust::xxh3::xxh3_64(&input[..end as usize]));
            }
            // From stdin the stream has ended: the last line is a line.
            assert_eq!(read_in(&input, 1000, 7, false).lines.len(), 2);
        }
        // Longer than the size limit and unfinished: left too.
        let mut input = done.clone();
        input.extend_from_slice(&[b'x'; 500]);
        let r = read_in(&input, 100, 64, true);
        assert_eq!(
            (r.lines.len(), r.file_end.unwrap().0),
            (1, done.len() as u64)
        );
    }

    #[test]
    fn over_long_lines_are_capped_not_buffered() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\nok\n");
        let (lines, end) = collect(&input, 100);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), 101);
        assert_eq!(lines[1], b"ok");
        assert_eq!(end, input.len() as u64);
        // At the end of the input, without a line end.
        let (lines, end) = collect(&vec![b'y'; 500], 100);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].len(), 101);
        assert_eq!(end, 500);
    }

    /// What [`open`] does with a recorded position: the offset it starts
    /// at.
    fn start_of(p: &std::path::Path, recorded: Option<(u64, Option<FileIdentity>)>) -> u64 {
        open(&Input::File(p.to_path_buf()), recorded)
            .unwrap()
            .offset
    }

    #[test]
    fn a_file_is_resumed_only_when_the_bytes_before_the_position_are_unchanged() {
        let dir = std::env::temp_dir().join(format!("im-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.jsonl");
        let first = b"line one\nline two\n";
        std::fs::write(&p, first).unwrap();
        let at = Some((
            18,
            Some(FileIdentity::Prefix(xxhash_rust::xxh3::xxh3_64(first))),
        ));
        assert_eq!(start_of(&p, at), 18);
        // Appended to: resumed.
        std::fs::write(&p, b"line one\nline two\nline three\n").unwrap();
        assert_eq!(start_of(&p, at), 18);
        // Rewritten with other data of the same length, or lines inserted
        // after the first 4 KiB: read from the start.
        std::fs::write(&p, b"line uno\nline two\nline three\n").unwrap();
        assert_eq!(start_of(&p, at), 0);
        let mut long = vec![b'x'; 5000];
        long.push(b'\n');
        let at_long = Some((
            long.len() as u64,
            Some(FileIdentity::Prefix(xxhash_rust::xxh3::xxh3_64(&long))),
        ));
        std::fs::write(&p, &long).unwrap();
        assert_eq!(start_of(&p, at_long), long.len() as u64);
        let mut edited = long.clone();
        edited[4500] = b'y';
        std::fs::write(&p, &edited).unwrap();
        assert_eq!(start_of(&p, at_long), 0);
        // Truncated, or an identity of the old kind: from the start.
        std::fs::write(&p, b"line one\n").unwrap();
        assert_eq!(start_of(&p, at), 0);
        std::fs::write(&p, first).unwrap();
        let head = Some((18, Some(FileIdentity::Head { len: 18, hash: 0 })));
        assert_eq!(start_of(&p, head), 0);
        // Resumed, the reader goes on from the verified hash: its first
        // batch end hashes the whole file.
        std::fs::write(&p, b"line one\nline two\nline three\n").unwrap();
        let opened = open(&Input::File(p.clone()), at).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        struct Chan(std::sync::mpsc::Sender<Batch>);
        impl Sink for Chan {
            fn spare(&mut self) -> Batch {
                Batch::new(crate::state::Source::Input)
            }
            fn send(&mut self, b: Batch) -> bool {
                self.0.send(b).is_ok()
            }
        }
        let reader = spawn(opened, 100, Chan(tx)).unwrap();
        let b = rx.recv().unwrap();
        assert_eq!(b.items()[0].offset, 18);
        let whole = std::fs::read(&p).unwrap();
        assert_eq!(
            b.file_end(),
            Some((whole.len() as u64, xxhash_rust::xxh3::xxh3_64(&whole)))
        );
        drop(reader);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
