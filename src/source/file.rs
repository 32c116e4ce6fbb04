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

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::oneshot;

use crate::count::Batch;
use crate::state::FileIdentity;

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

/// Where to resume: a byte offset to seek to (files; stdin always starts
/// at 0, it is never resumed by position).
#[derive(Debug, Clone, Copy, Default)]
pub struct Resume {
    pub offset: u64,
}

/// The first `n` bytes of a file (fewer if it is shorter) and its length.
fn head_of(path: &std::path::Path, n: usize) -> io::Result<(Vec<u8>, u64)> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut head = Vec::with_capacity(n);
    f.take(n as u64).read_to_end(&mut head)?;
    Ok((head, len))
}

/// The identity of a file now (see [`FileIdentity`]).
pub fn identify(path: &std::path::Path) -> io::Result<FileIdentity> {
    Ok(FileIdentity::of_head(&head_of(path, FileIdentity::HEAD)?.0))
}

/// Whether a file is the one a position was recorded for: its head hashes
/// the same over the recorded length, and it is not shorter than the
/// position. A position from before identities were recorded trusts the
/// path.
pub fn is_same_file(
    path: &std::path::Path,
    recorded: Option<FileIdentity>,
    offset: u64,
) -> io::Result<bool> {
    let want = recorded.map_or(0, |id| id.head_len as usize);
    let (head, len) = head_of(path, want)?;
    Ok(len >= offset
        && recorded.is_none_or(|id| head.len() == want && FileIdentity::of_head(&head) == id))
}

/// Starts the reader thread. It stops at end of input, on error, when
/// asked, or when the sink no longer receives.
pub fn spawn(input: Input, resume: Resume, max_line: usize, sink: impl Sink) -> io::Result<Reader> {
    let reader: Box<dyn Read + Send> = match &input {
        Input::Stdin => Box::new(io::stdin()),
        Input::File(path) => {
            let mut f = File::open(path)?;
            let len = f.metadata()?.len();
            if resume.offset > len {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} is shorter ({len} bytes) than the checkpointed position ({} bytes): it is not the input \
                         this state was built from; use a new --state-dir",
                        path.display(),
                        resume.offset
                    ),
                ));
            }
            f.seek(SeekFrom::Start(resume.offset))?;
            Box::new(f)
        }
    };
    let start = match input {
        Input::Stdin => 0,
        Input::File(_) => resume.offset,
    };
    let (tx, done) = oneshot::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::Builder::new()
        .name("input-reader".into())
        .spawn(move || {
            let mut lines = Lines::new(sink, start, max_line);
            let result = lines.read_all(reader, CHUNK, &stopped);
            // The sink goes before the end is told: what it holds is
            // released by then.
            drop(lines);
            let _ = tx.send(result);
        })?;
    Ok(Reader { done, stop })
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
}

impl<S: Sink> Lines<S> {
    fn new(mut sink: S, offset: u64, max_line: usize) -> Lines<S> {
        Lines {
            batch: sink.spare(),
            sink,
            line_start: 0,
            line_offset: offset,
            dropped: 0,
            skipping: false,
            cap: max_line.saturating_add(1),
        }
    }

    /// Reads until end of input (`Ok(true)`), a stop (`Ok(false)`) or an
    /// error.
    fn read_all(&mut self, mut r: impl Read, chunk: usize, stop: &AtomicBool) -> io::Result<bool> {
        loop {
            let data = self.batch.data_mut();
            let before = data.len();
            data.resize(before + chunk, 0);
            let n = loop {
                match r.read(&mut data[before..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        data.truncate(before);
                        return Err(e);
                    }
                }
            };
            data.truncate(before + n);
            if n == 0 {
                self.finish_last_line();
                let last = std::mem::take(&mut self.batch);
                return Ok(last.is_empty() || self.sink.send(last));
            }
            self.split(before);
            // Full, or the input had no more ready (a pipe, a terminal, a
            // slow producer): hand over what is read, so a live stream is
            // counted as it comes.
            let full = self.batch.len() >= BATCH_LINES || self.batch.bytes() >= BATCH_BYTES;
            if (full || n < chunk) && !self.batch.is_empty() && !self.hand_over() {
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
    /// was chunked).
    fn push_line(&mut self, end: usize, terminator: u64) {
        let data = self.batch.data_mut();
        let whole = self.dropped == 0 && end - self.line_start <= self.cap;
        let stop = if whole && end > self.line_start && data[end - 1] == b'\r' {
            end - 1
        } else {
            end.min(self.line_start + self.cap)
        };
        let took = (end - self.line_start) as u64 + self.dropped + terminator;
        let offset = self.line_offset;
        self.batch
            .push_range(0, offset, offset + took, self.line_start..stop);
        self.line_offset += took;
        self.dropped = 0;
    }

    /// A last line without a line end.
    fn finish_last_line(&mut self) {
        let len = self.batch.bytes();
        if len > self.line_start || self.dropped > 0 {
            self.push_line(len, 0);
            self.line_start = len;
            self.skipping = false;
        }
    }

    /// Sends the batch; the unfinished line moves to the next one.
    fn hand_over(&mut self) -> bool {
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
            Batch::new("input".into())
        }
        fn send(&mut self, batch: Batch) -> bool {
            self.0.lock().unwrap().push(batch);
            true
        }
    }

    /// Lines and the offset after the last, read `chunk` bytes at a time.
    fn collect_in(input: &[u8], max: usize, chunk: usize) -> (Vec<Vec<u8>>, u64) {
        let out = Collect::default();
        let got = out.0.clone();
        let mut lines = Lines::new(out, 0, max);
        let stop = AtomicBool::new(false);
        assert!(
            lines
                .read_all(io::Cursor::new(input.to_vec()), chunk, &stop)
                .unwrap()
        );
        let mut all = Vec::new();
        let mut end = 0;
        let mut expect_offset = 0;
        for b in got.lock().unwrap().iter() {
            for it in b.items() {
                assert_eq!(it.offset, expect_offset, "offsets are contiguous");
                expect_offset = it.next;
                all.push(b.payload(it).to_vec());
                end = it.next;
            }
        }
        (all, end)
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
    /// when the line fits the cap), cut to the cap, and their offsets.
    fn reference(input: &[u8], cap: usize) -> (Vec<Vec<u8>>, u64) {
        use std::io::BufRead;
        let mut r = io::Cursor::new(input);
        let (mut lines, mut end) = (Vec::new(), 0);
        loop {
            let mut line = Vec::new();
            let n = r.read_until(b'\n', &mut line).unwrap();
            if n == 0 {
                return (lines, end);
            }
            end += n as u64;
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if line.len() <= cap && line.last() == Some(&b'\r') {
                line.pop();
            }
            line.truncate(cap);
            lines.push(line);
        }
    }

    proptest::proptest! {
        #[test]
        fn splits_exactly_like_bufread_whatever_the_chunks(
            input in proptest::collection::vec(
                proptest::prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'x'), proptest::num::u8::ANY],
                0..600,
            ),
            max in 1usize..40,
            chunk in 1usize..70,
        ) {
            let want = reference(&input, max + 1);
            proptest::prop_assert_eq!(collect_in(&input, max, chunk), want.clone());
            proptest::prop_assert_eq!(collect_in(&input, max, CHUNK), want);
        }
    }

    #[test]
    fn splits_lines_and_tracks_offsets() {
        let (lines, end) = collect(b"a\r\nbb\n\nccc", 100);
        assert_eq!(
            lines,
            vec![b"a".to_vec(), b"bb".to_vec(), b"".to_vec(), b"ccc".to_vec()]
        );
        assert_eq!(end, 10);
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

    #[test]
    fn a_file_is_the_same_file_only_with_the_same_head() {
        let dir = std::env::temp_dir().join(format!("im-ident-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.jsonl");
        std::fs::write(&p, b"line one\nline two\n").unwrap();
        let id = identify(&p).unwrap();
        assert_eq!(id.head_len, 18);
        assert!(is_same_file(&p, Some(id), 18).unwrap());
        // Appended to: the same file.
        std::fs::write(&p, b"line one\nline two\nline three\n").unwrap();
        assert!(is_same_file(&p, Some(id), 18).unwrap());
        // Regenerated with other data of the same length: another file.
        std::fs::write(&p, b"line uno\nline two\n").unwrap();
        assert!(!is_same_file(&p, Some(id), 18).unwrap());
        // Shorter than the position: another file, whatever its head.
        std::fs::write(&p, b"line one\n").unwrap();
        assert!(!is_same_file(&p, None, 18).unwrap());
        // A long file hashes only its head.
        std::fs::write(&p, vec![b'x'; 10_000]).unwrap();
        assert_eq!(identify(&p).unwrap().head_len, FileIdentity::HEAD as u32);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
