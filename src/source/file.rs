//! The JSONL source: a file or stdin, read on its own thread.
//!
//! Blocking reads stay off the async runtime: a dedicated thread reads lines
//! into batches and hands them over a bounded channel (backpressure: when the
//! pipeline is busy the reader waits). A line longer than the event size
//! limit is not buffered whole: its first `max + 1` bytes are kept (enough for
//! the pipeline to reject it as `too_large`) and the rest is skipped.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::state::FileIdentity;

/// Lines per batch, at most.
const BATCH_LINES: usize = 2048;
/// Bytes per batch, roughly at most.
const BATCH_BYTES: usize = 1 << 20;

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

/// Consecutive lines and the position after the last one.
#[derive(Debug, Default)]
pub struct LineBatch {
    pub data: Vec<u8>,
    /// `(start, end)` of each line in `data`, without the line terminator.
    pub lines: Vec<(usize, usize)>,
    /// Byte offset in the input just after the last line.
    pub end_offset: u64,
}

impl LineBatch {
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.lines.iter().map(|&(s, e)| &self.data[s..e])
    }
}

/// What the reader thread sends.
#[derive(Debug)]
pub enum SourceMsg {
    Batch(LineBatch),
    /// End of input: every line has been sent.
    End,
    Failed(io::Error),
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

/// Starts the reader thread. It stops at end of input, on error, or when the
/// receiver is dropped.
pub fn spawn(
    input: Input,
    resume: Resume,
    max_line: usize,
    capacity: usize,
) -> io::Result<mpsc::Receiver<SourceMsg>> {
    let (tx, rx) = mpsc::channel(capacity);
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
    std::thread::Builder::new()
        .name("input-reader".into())
        .spawn(move || {
            let mut r = BufReader::with_capacity(256 * 1024, reader);
            let msg = match read_all(&mut r, start, max_line, &tx) {
                Ok(true) => SourceMsg::End,
                Ok(false) => return,
                Err(e) => SourceMsg::Failed(e),
            };
            let _ = tx.blocking_send(msg);
        })?;
    Ok(rx)
}

/// Reads batches until EOF (`Ok(true)`) or until the receiver is gone
/// (`Ok(false)`).
fn read_all<R: Read>(
    r: &mut BufReader<R>,
    mut offset: u64,
    max_line: usize,
    tx: &mpsc::Sender<SourceMsg>,
) -> io::Result<bool> {
    let mut batch = LineBatch::default();
    loop {
        // About to wait for more input (a pipe or stdin that is slow): hand
        // over what is read so far, so a live stream is counted as it comes.
        if !batch.lines.is_empty() && r.buffer().is_empty() {
            let ready = std::mem::take(&mut batch);
            if tx.blocking_send(SourceMsg::Batch(ready)).is_err() {
                return Ok(false);
            }
        }
        let start = batch.data.len();
        let (consumed, ended) = read_line_capped(r, &mut batch.data, max_line + 1)?;
        if consumed == 0 {
            break;
        }
        offset += consumed as u64;
        let mut end = batch.data.len();
        if ended && batch.data[start..end].ends_with(b"\n") {
            end -= 1;
        }
        if batch.data[start..end].ends_with(b"\r") {
            end -= 1;
        }
        batch.data.truncate(end);
        batch.lines.push((start, end));
        batch.end_offset = offset;
        if batch.lines.len() >= BATCH_LINES || batch.data.len() >= BATCH_BYTES {
            let full = std::mem::take(&mut batch);
            if tx.blocking_send(SourceMsg::Batch(full)).is_err() {
                return Ok(false);
            }
        }
    }
    if !batch.lines.is_empty() && tx.blocking_send(SourceMsg::Batch(batch)).is_err() {
        return Ok(false);
    }
    Ok(true)
}

/// Appends one line (with its `\n`) to `buf`, keeping at most `cap` bytes of
/// it; the rest of an over-long line is consumed and dropped. Returns the
/// bytes consumed from the input and whether a `\n` ended the line.
fn read_line_capped(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut kept = 0;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok((consumed, false));
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let keep = take.min(cap.saturating_sub(kept));
        buf.extend_from_slice(&chunk[..keep]);
        kept += keep;
        if done && keep < take {
            // Keep the terminator so the caller strips it consistently.
            buf.push(b'\n');
        }
        r.consume(take);
        consumed += take;
        if done {
            return Ok((consumed, true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], max: usize) -> (Vec<Vec<u8>>, u64) {
        let (tx, mut rx) = mpsc::channel(1024);
        let mut r = BufReader::with_capacity(4, io::Cursor::new(input.to_vec()));
        assert!(read_all(&mut r, 0, max, &tx).unwrap());
        drop(tx);
        let mut lines = Vec::new();
        let mut end = 0;
        while let Ok(SourceMsg::Batch(b)) = rx.try_recv() {
            lines.extend(b.iter().map(<[u8]>::to_vec));
            end = b.end_offset;
        }
        (lines, end)
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
