//! The state directory: atomic checkpoint files, a lock, and a small
//! metadata file for readers.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::codec::CodecError;
use super::file::{Counts, Snapshot, decode, decode_counts, encode};
use super::{PartitionKey, PartitionState};
use crate::config::ReportConfig;
use crate::event::EpochMillis;

const EXT: &str = "state";
const META: &str = "monitor.json";
/// The extension of this program's temporary files (and only theirs).
const TMP_EXT: &str = "imtmp";

/// Creates a directory and its parents, new ones readable by the owner
/// only (checkpoints hold what the monitor counted; nobody else needs
/// them).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// A random number: `std`'s per-instance SipHash keys, drawn from the
/// operating system.
fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8)
}
const LOCK: &str = "LOCK";

/// A state directory problem.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state directory {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "state file {path} cannot be read: {source}; move it away to recount that partition from its start"
    )]
    Corrupt { path: PathBuf, source: CodecError },
    #[error("state metadata {path} cannot be read: {message}")]
    Meta { path: PathBuf, message: String },
    #[error("state topic {topic}: {message}")]
    Topic { topic: String, message: String },
}

/// Another process holds the directory.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "state directory {0} is in use by another incident-monitor run; give each run its own --state-dir"
    )]
    Busy(PathBuf),
    #[error("cannot lock state directory {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// What readers need to know about the run that wrote the state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorMeta {
    pub timezone: String,
    pub report: ReportConfig,
    /// The display names of categories and sectors (absent in the
    /// metadata of older runs: the built-in names then).
    #[serde(default)]
    pub labels: crate::config::Labels,
}

/// Holds the directory lock until dropped.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

/// A directory of checkpoints, one file per partition.
///
/// Clones share the write order: every [`Checkpoint`] gets a number when it
/// is taken, and [`StateStore::write`] skips one older than the last
/// written for its partition. A background write that finishes late can
/// therefore never replace a newer state (say, the one written when the
/// partition was revoked and handed to another instance).
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
    taken: Arc<AtomicU64>,
    /// Number of the last checkpoint written, per partition; held while
    /// writing, so writes of one process never interleave.
    written: Arc<Mutex<HashMap<PartitionKey, u64>>>,
}

/// One partition's state, encoded and numbered, to be written (possibly on
/// another thread: encoding reads the state, writing does not).
#[derive(Debug)]
pub struct Checkpoint {
    pub key: PartitionKey,
    /// The partition's position in the checkpoint.
    pub next_offset: u64,
    /// Taken in this order, per backend.
    pub(crate) seq: u64,
    pub(crate) body: Body,
}

/// What a backend writes for a checkpoint.
#[derive(Debug)]
pub(crate) enum Body {
    /// A whole checkpoint file.
    File(Vec<u8>),
    /// The segments a state topic does not have yet, and the manifest.
    Segments(super::topic::Delta),
}

impl Checkpoint {
    /// A state topic's checkpoint, numbered `seq` in the order taken.
    pub(crate) fn of_segments(
        key: PartitionKey,
        seq: u64,
        delta: super::topic::Delta,
    ) -> Checkpoint {
        Checkpoint {
            key,
            next_offset: delta.next_offset,
            seq,
            body: Body::Segments(delta),
        }
    }

    /// The segments of a state topic's checkpoint.
    pub(crate) fn segments(&self) -> Option<&super::topic::Delta> {
        match &self.body {
            Body::Segments(d) => Some(d),
            Body::File(_) => None,
        }
    }

    /// Bytes this checkpoint writes (the manifest of a state topic aside).
    pub fn bytes(&self) -> usize {
        match &self.body {
            Body::File(b) => b.len(),
            Body::Segments(d) => d.payload_bytes(),
        }
    }
}

impl StateStore {
    pub fn new(dir: impl Into<PathBuf>) -> StateStore {
        StateStore {
            dir: dir.into(),
            taken: Arc::default(),
            written: Arc::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            dir: self.dir.clone(),
            source,
        }
    }

    /// Creates the directory (and its parents) if needed, readable by its
    /// owner only, and removes this program's temporary files (named
    /// `*.imtmp`) that a crash left behind more than an hour ago (a younger
    /// one may belong to another instance writing right now). Nothing else
    /// in the directory is touched.
    pub fn create_dir(&self) -> Result<(), StoreError> {
        private_dir(&self.dir).map_err(|e| self.io(e))?;
        let hour = std::time::Duration::from_secs(3600);
        for entry in fs::read_dir(&self.dir).map_err(|e| self.io(e))?.flatten() {
            let path = entry.path();
            let stale = path.extension().is_some_and(|e| e == TMP_EXT)
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > hour));
            if stale {
                let _ = fs::remove_file(&path);
            }
        }
        Ok(())
    }

    /// Creates the directory if needed and takes an exclusive lock on it, so
    /// two runs never write the same state.
    pub fn lock(&self) -> Result<StateLock, LockError> {
        let io = |source| LockError::Io {
            dir: self.dir.clone(),
            source,
        };
        private_dir(&self.dir).map_err(io)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.dir.join(LOCK))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(StateLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(LockError::Busy(self.dir.clone())),
            Err(fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }

    pub fn path_of(&self, key: &PartitionKey) -> PathBuf {
        self.dir.join(format!("{}.{EXT}", key.file_stem()))
    }

    /// Encodes one partition's state (fast: sequential reads) for
    /// [`StateStore::write`].
    pub fn checkpoint(
        &self,
        st: &PartitionState,
        timezone: &str,
        wall_ms: EpochMillis,
    ) -> Checkpoint {
        Checkpoint {
            key: st.key.clone(),
            next_offset: st.position.next_offset,
            seq: self.taken.fetch_add(1, Ordering::Relaxed),
            body: Body::File(encode(st, timezone, wall_ms)),
        }
    }

    /// Writes a checkpoint atomically, unless one taken after it was
    /// written already for its partition.
    pub fn write(&self, cp: &Checkpoint) -> Result<(), StoreError> {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if written.get(&cp.key).is_some_and(|&last| last > cp.seq) {
            return Ok(());
        }
        let Body::File(bytes) = &cp.body else {
            return Err(StoreError::Meta {
                path: self.path_of(&cp.key),
                message: "a state topic's checkpoint cannot be written to a directory".into(),
            });
        };
        self.write_atomic(&self.path_of(&cp.key), bytes)?;
        written.insert(cp.key.clone(), cp.seq);
        Ok(())
    }

    /// Writes one partition's checkpoint atomically, now. Returns the bytes
    /// written.
    pub fn save(
        &self,
        st: &PartitionState,
        timezone: &str,
        wall_ms: EpochMillis,
    ) -> Result<usize, StoreError> {
        let cp = self.checkpoint(st, timezone, wall_ms);
        self.write(&cp)?;
        Ok(cp.bytes())
    }

    /// Write to a temporary file, fsync it, rename it over the target, fsync
    /// the directory: readers and restarts see the old file or the new one,
    /// never a mix.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        // Unique per process and call: instances sharing the directory (and
        // their metadata file) never write the same temporary file.
        // Not guessable either (a random part), and created new, readable
        // by the owner only: O_EXCL refuses an existing file or a symbolic
        // link planted under the name.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = path
            .file_name()
            .map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
        let tmp = path.with_file_name(format!(
            "{name}.{}.{seq}.{:016x}.{TMP_EXT}",
            std::process::id(),
            random_u64()
        ));
        let mut f = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| self.io(e))?;
        f.write_all(bytes).map_err(|e| self.io(e))?;
        f.sync_all().map_err(|e| self.io(e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| self.io(e))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io(e))
    }

    /// Loads one partition's checkpoint, if there is one.
    pub fn load(&self, key: &PartitionKey) -> Result<Option<Snapshot>, StoreError> {
        let path = self.path_of(key);
        match fs::read(&path) {
            Ok(bytes) => decode(&bytes)
                .map(Some)
                .map_err(|source| StoreError::Corrupt { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Loads every checkpoint in the directory, sorted by partition key.
    /// A missing directory is an empty state.
    pub fn load_all(&self) -> Result<Vec<Snapshot>, StoreError> {
        let mut out = self.each(decode)?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Every checkpoint's counts (not its remembered ids), sorted by
    /// partition key.
    pub fn load_counts(&self) -> Result<Vec<Counts>, StoreError> {
        let mut out = self.each(decode_counts)?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Decodes every checkpoint file of the directory.
    fn each<T>(&self, f: fn(&[u8]) -> Result<T, CodecError>) -> Result<Vec<T>, StoreError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| self.io(e))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some(EXT) {
                continue;
            }
            let bytes = fs::read(&path).map_err(|e| self.io(e))?;
            out.push(f(&bytes).map_err(|source| StoreError::Corrupt { path, source })?);
        }
        Ok(out)
    }

    pub fn save_meta(&self, meta: &MonitorMeta) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(meta).map_err(|e| StoreError::Meta {
            path: self.dir.join(META),
            message: e.to_string(),
        })?;
        self.write_atomic(&self.dir.join(META), &json)
    }

    pub fn load_meta(&self) -> Result<Option<MonitorMeta>, StoreError> {
        let path = self.dir.join(META);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Meta {
                    path,
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }
}
