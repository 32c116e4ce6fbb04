//! The archive of published versions, a directory:
//!
//! ```text
//! <archive>/LOCK                        held by the `publish` running on it
//! <archive>/<YYYY-MM>/v<N>/manifest.json
//! <archive>/<YYYY-MM>/v<N>/report.<lang>.<html|json|md|txt>
//! <archive>/<YYYY-MM>/v<N>/owed.json     the destinations it is owed to
//! <archive>/<YYYY-MM>/deliveries.jsonl   what each destination accepted
//! ```
//!
//! A version is written whole into a hidden directory beside it and
//! renamed into place: a reader never sees half of one, and two writers
//! of one version cannot both succeed (the second rename finds the first's
//! directory). Versions are never modified or deleted; acceptances are
//! appended, one JSON line each, under the archive's lock.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Manifest, PublishError};
use crate::calendar::YearMonth;

const LOCK: &str = "LOCK";
const MANIFEST: &str = "manifest.json";
const OWED: &str = "owed.json";
const DELIVERIES: &str = "deliveries.jsonl";

/// The archive directory.
#[derive(Debug, Clone)]
pub struct Archive {
    dir: PathBuf,
}

/// Held while a `publish` runs on the archive.
#[derive(Debug)]
pub struct ArchiveLock {
    _file: fs::File,
}

/// A destination's acceptance of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub version: u32,
    pub destination: String,
    /// When it accepted (RFC 3339, UTC).
    pub accepted_at: String,
    /// What it answered (an SMTP reply, an HTTP status).
    pub response: String,
}

impl Archive {
    pub fn new(dir: impl Into<PathBuf>) -> Archive {
        Archive { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> PublishError {
        let path = path.to_owned();
        move |source| PublishError::Io { path, source }
    }

    /// Takes the archive's lock (creating the directory): one `publish` at
    /// a time writes versions and delivers them.
    pub fn lock(&self) -> Result<ArchiveLock, PublishError> {
        fs::create_dir_all(&self.dir).map_err(self.io(&self.dir))?;
        let path = self.dir.join(LOCK);
        let file = fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(self.io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(ArchiveLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(PublishError::Busy(self.dir.clone())),
            Err(fs::TryLockError::Error(e)) => Err(self.io(&path)(e)),
        }
    }

    fn month_dir(&self, m: &str) -> PathBuf {
        self.dir.join(m)
    }

    fn version_dir(&self, m: &str, version: u32) -> PathBuf {
        self.month_dir(m).join(format!("v{version}"))
    }

    /// Every version of every month, by month then version. Directories
    /// that are not `YYYY-MM/v<N>` are left alone.
    pub fn all(&self) -> Result<Vec<Manifest>, PublishError> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(self.io(&self.dir)(e)),
        };
        let mut months: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.parse::<YearMonth>().is_ok())
            .collect();
        months.sort();
        for m in months {
            out.extend(self.versions(&m)?);
        }
        Ok(out)
    }

    /// The versions of month `m`, oldest first.
    pub fn versions(&self, m: &str) -> Result<Vec<Manifest>, PublishError> {
        let dir = self.month_dir(m);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(&dir)(e)),
        };
        let mut numbers: Vec<u32> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_prefix('v').and_then(|v| v.parse().ok()))
            .collect();
        numbers.sort_unstable();
        numbers.into_iter().map(|v| self.manifest(m, v)).collect()
    }

    fn manifest(&self, m: &str, version: u32) -> Result<Manifest, PublishError> {
        let path = self.version_dir(m, version).join(MANIFEST);
        let bytes = fs::read(&path).map_err(self.io(&path))?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| PublishError::Invalid {
                path: path.clone(),
                why: e.to_string(),
            })?;
        if manifest.month != m || manifest.version != version {
            return Err(PublishError::Invalid {
                path,
                why: format!(
                    "it says {} v{}, its place says {m} v{version}",
                    manifest.month, manifest.version
                ),
            });
        }
        Ok(manifest)
    }

    /// Writes a new version whole: its manifest, its report files and the
    /// destinations it is owed to. Fails with [`PublishError::Taken`] when
    /// another writer put that version in place first.
    pub fn write_version(
        &self,
        manifest: &Manifest,
        files: &[(String, Vec<u8>)],
        owed: &[String],
    ) -> Result<PathBuf, PublishError> {
        let month_dir = self.month_dir(&manifest.month);
        fs::create_dir_all(&month_dir).map_err(self.io(&month_dir))?;
        let target = self.version_dir(&manifest.month, manifest.version);
        let taken = || PublishError::Taken {
            dir: self.dir.clone(),
            month: manifest.month.clone(),
            version: manifest.version,
        };
        if target.exists() {
            return Err(taken());
        }
        let tmp = month_dir.join(format!(".v{}.{}.tmp", manifest.version, std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(self.io(&tmp))?;
        }
        fs::create_dir(&tmp).map_err(self.io(&tmp))?;
        let mut all: Vec<(&str, Vec<u8>)> =
            vec![(MANIFEST, pretty(manifest)), (OWED, pretty(&owed))];
        all.extend(files.iter().map(|(n, b)| (n.as_str(), b.clone())));
        for (name, bytes) in all {
            let path = tmp.join(name);
            write_synced(&path, &bytes).map_err(self.io(&path))?;
        }
        sync_dir(&tmp).map_err(self.io(&tmp))?;
        match fs::rename(&tmp, &target) {
            Ok(()) => {}
            // Another writer's version is there (a rename onto a directory
            // that is not empty fails).
            Err(_) if target.exists() => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(taken());
            }
            Err(e) => return Err(self.io(&target)(e)),
        }
        sync_dir(&month_dir).map_err(self.io(&month_dir))?;
        Ok(target)
    }

    /// Removes the hidden directories a writer killed mid-version left
    /// (`<YYYY-MM>/.v<N>.<pid>.tmp`); call it holding the lock.
    pub fn remove_unfinished(&self) -> Result<(), PublishError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io(&self.dir)(e)),
        };
        for month in entries.filter_map(Result::ok) {
            let is_month = month
                .file_name()
                .to_str()
                .is_some_and(|n| n.parse::<YearMonth>().is_ok());
            let Ok(inner) = fs::read_dir(month.path()) else {
                continue;
            };
            if !is_month {
                continue;
            }
            for e in inner.filter_map(Result::ok) {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(".v") && name.ends_with(".tmp") {
                    let path = e.path();
                    tracing::warn!(path = %path.display(), "removing a version a killed publish left unfinished");
                    fs::remove_dir_all(&path).map_err(self.io(&path))?;
                }
            }
        }
        Ok(())
    }

    /// The destinations version `version` of month `m` is owed to.
    pub fn owed(&self, m: &str, version: u32) -> Result<Vec<String>, PublishError> {
        let path = self.version_dir(m, version).join(OWED);
        match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| PublishError::Invalid {
                path,
                why: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(self.io(&path)(e)),
        }
    }

    /// A version's files, by name.
    pub fn file(&self, m: &str, version: u32, name: &str) -> Result<Vec<u8>, PublishError> {
        let path = self.version_dir(m, version).join(name);
        fs::read(&path).map_err(self.io(&path))
    }

    /// What destinations accepted of month `m`'s versions.
    pub fn accepted(&self, m: &str) -> Result<Vec<Accepted>, PublishError> {
        let path = self.month_dir(m).join(DELIVERIES);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(&path)(e)),
        };
        // A last line cut short by a crash is not an acceptance: its
        // destination is sent again, and a webhook's idempotency key
        // tells it so.
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Records an acceptance (appended, synced).
    pub fn record_accepted(&self, m: &str, a: &Accepted) -> Result<(), PublishError> {
        let path = self.month_dir(m).join(DELIVERIES);
        // A record of plain strings and numbers always serialises.
        let mut line = serde_json::to_vec(a).unwrap_or_default();
        line.push(b'\n');
        let mut f = fs::File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(self.io(&path))?;
        f.write_all(&line)
            .and_then(|()| f.sync_all())
            .map_err(self.io(&path))
    }
}

/// Pretty JSON of what a version holds.
fn pretty<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    // Manifests and name lists are plain data: serialising cannot fail.
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = fs::File::options()
        .create_new(true)
        .write(true)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}
