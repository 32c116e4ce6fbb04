//! Checkpoints as records of a compacted Kafka topic (spec §8): what the
//! records are, which checkpoint of a partition is current, and what a
//! checkpoint must write. Pure: the Kafka I/O is in `crate::kafka::state_store`.
//!
//! # Records (key → value), per input partition
//!
//! ```text
//! im/<source>/<partition>/claim                  the owner's token (the last one wins)
//! im/<source>/<partition>/m/<token>              the manifest of that owner's latest checkpoint
//! im/<source>/<partition>/c/<token>/<segment>/<i> part i of a segment
//! ```
//!
//! A checkpoint is a set of **segments**: the core (position, counters,
//! windows, names; small), one per ledger month, and the remembered ids in
//! chunks of [`IDS_PER_CHUNK`] by their fixed place in an arrival bucket.
//! A segment's name says what it holds (a content hash for the core and the
//! months, the place for ids), so one already written is not written again:
//! a checkpoint writes the core, the months that changed and the ids that
//! arrived, then the manifest (every segment with its length and hash).
//! Segments go first and the manifest after their acknowledgement, so a
//! half-written checkpoint is invisible: the previous manifest is still the
//! current one.
//!
//! # Fencing
//!
//! An owner takes a partition with a new random token: it reads the
//! current checkpoint, writes it again under its token (segments, then the
//! manifest), then the claim. Readers take the manifest of the token the
//! latest claim names; anything written under another token (an instance
//! that lost the partition and does not know it yet, stopped past its
//! session timeout) is never current, whatever it writes and whenever. No
//! transactions are needed: the order of one partition's records is the
//! order the broker appended them.
//!
//! Each record value stays within [`RECORD_MAX`] bytes, uncompressed (the
//! size librdkafka checks).

use std::collections::{BTreeMap, HashMap};

use super::codec::{CodecError, Reader, Writer};
use super::file::{
    Snapshot, decode, decode_life_chunk, decode_month, encode_core, encode_life_chunk, encode_month,
};
use super::{PartitionKey, PartitionState, Source};
use crate::dedup::IdHash;
use crate::event::EpochMillis;

/// The largest record value written (uncompressed), below the 1,000,000
/// bytes librdkafka and brokers accept by default.
pub const RECORD_MAX: usize = 768 * 1024;
/// Ids per chunk: 512 KiB of ids.
pub const IDS_PER_CHUNK: u64 = 32_768;
const ID_BYTES: usize = 16;

const MANIFEST_MAGIC: &[u8; 8] = b"IMMANIF\0";
const CLAIM_MAGIC: &[u8; 8] = b"IMCLAIM\0";
const VERSION: u16 = 1;

/// A part of a checkpoint, named by what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// Position, counters, windows, names (hash of the bytes).
    Core { hash: u64 },
    /// One month of the ledger (hash of the bytes).
    Month { month: i32, hash: u64 },
    /// Ids at places `first..end` of the arrival bucket starting `bucket`.
    Ids { bucket: i64, first: u64, end: u64 },
    /// Lifecycle incidents at places `first..end` of an arrival bucket, as
    /// they were at `tick` (a chunk changes name when it changes).
    Life {
        bucket: i64,
        first: u64,
        end: u64,
        tick: u64,
    },
}

impl Segment {
    fn name(&self) -> String {
        match self {
            Segment::Core { hash } => format!("core.{hash:016x}"),
            Segment::Month { month, hash } => format!("m.{month}.{hash:016x}"),
            Segment::Ids { bucket, first, end } => format!("d.{bucket}.{first}.{end}"),
            Segment::Life {
                bucket,
                first,
                end,
                tick,
            } => format!("l.{bucket}.{first}.{end}.{tick}"),
        }
    }
}

/// A segment in a manifest: its length and XXH3-64 of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub segment: Segment,
    pub len: u64,
    pub hash: u64,
}

impl Entry {
    fn of(segment: Segment, bytes: &[u8]) -> Entry {
        Entry {
            segment,
            len: bytes.len() as u64,
            hash: xxhash_rust::xxh3::xxh3_64(bytes),
        }
    }

    /// Records the segment is written as.
    pub fn parts(&self) -> usize {
        (self.len as usize).div_ceil(RECORD_MAX).max(1)
    }
}

/// The record keys of one partition.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn of(key: &PartitionKey) -> Keys {
        Keys {
            prefix: format!("im/{}/{}/", key.source, key.partition),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn claim(&self) -> String {
        format!("{}claim", self.prefix)
    }

    pub fn manifest(&self, token: u64) -> String {
        format!("{}m/{token:016x}", self.prefix)
    }

    pub fn part(&self, token: u64, segment: &Segment, i: usize) -> String {
        format!("{}c/{token:016x}/{}/{i}", self.prefix, segment.name())
    }

    /// Every record key of a segment.
    pub fn parts_of(&self, token: u64, e: &Entry) -> Vec<String> {
        (0..e.parts())
            .map(|i| self.part(token, &e.segment, i))
            .collect()
    }
}

/// The partition a record key belongs to (`None`: not a state record).
pub fn partition_of_key(key: &str) -> Option<PartitionKey> {
    let rest = key.strip_prefix("im/")?;
    let (source, rest) = rest.split_once('/')?;
    let (partition, _) = rest.split_once('/')?;
    Some(PartitionKey {
        source: Source::from_name(source)?,
        partition: partition.parse().ok()?,
    })
}

/// Which owner a partition's state belongs to now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub token: u64,
    /// One more than the previous owner's.
    pub epoch: u64,
    /// Who claimed it (for people reading the topic).
    pub owner: String,
    pub claimed_ms: EpochMillis,
}

impl Claim {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.buf.extend_from_slice(CLAIM_MAGIC);
        w.u16(VERSION);
        w.u64(self.token);
        w.u64(self.epoch);
        w.str(&self.owner);
        w.i64(self.claimed_ms);
        seal(w)
    }

    pub fn decode(bytes: &[u8]) -> Result<Claim, CodecError> {
        let mut r = Reader::new(unseal(bytes, CLAIM_MAGIC)?);
        let c = Claim {
            token: r.u64()?,
            epoch: r.u64()?,
            owner: r.str()?.to_owned(),
            claimed_ms: r.i64()?,
        };
        done(&r)?;
        Ok(c)
    }
}

/// What one checkpoint of a partition consists of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub token: u64,
    pub epoch: u64,
    /// The input position the checkpoint covers.
    pub next_offset: u64,
    pub written_ms: EpochMillis,
    pub entries: Vec<Entry>,
}

impl Manifest {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.buf.extend_from_slice(MANIFEST_MAGIC);
        w.u16(VERSION);
        w.u64(self.token);
        w.u64(self.epoch);
        w.u64(self.next_offset);
        w.i64(self.written_ms);
        w.len(self.entries.len());
        for e in &self.entries {
            match e.segment {
                Segment::Core { hash } => {
                    w.u8(0);
                    w.u64(hash);
                }
                Segment::Month { month, hash } => {
                    w.u8(1);
                    w.i32(month);
                    w.u64(hash);
                }
                Segment::Ids { bucket, first, end } => {
                    w.u8(2);
                    w.i64(bucket);
                    w.u64(first);
                    w.u64(end);
                }
                Segment::Life {
                    bucket,
                    first,
                    end,
                    tick,
                } => {
                    w.u8(3);
                    w.i64(bucket);
                    w.u64(first);
                    w.u64(end);
                    w.u64(tick);
                }
            }
            w.u64(e.len);
            w.u64(e.hash);
        }
        seal(w)
    }

    pub fn decode(bytes: &[u8]) -> Result<Manifest, CodecError> {
        let mut r = Reader::new(unseal(bytes, MANIFEST_MAGIC)?);
        let token = r.u64()?;
        let epoch = r.u64()?;
        let next_offset = r.u64()?;
        let written_ms = r.i64()?;
        let n = r.count(1 + 8 + 16)?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let segment = match r.u8()? {
                0 => Segment::Core { hash: r.u64()? },
                1 => Segment::Month {
                    month: r.i32()?,
                    hash: r.u64()?,
                },
                2 => Segment::Ids {
                    bucket: r.i64()?,
                    first: r.u64()?,
                    end: r.u64()?,
                },
                3 => Segment::Life {
                    bucket: r.i64()?,
                    first: r.u64()?,
                    end: r.u64()?,
                    tick: r.u64()?,
                },
                k => return Err(CodecError::Invalid(format!("unknown segment kind {k}"))),
            };
            let len = r.u64()?;
            // Every length read is bounded before anything is sized by it
            // (a forged manifest names as many parts as its length says).
            if len > MAX_SEGMENT_BYTES {
                return Err(CodecError::Invalid(format!(
                    "a segment of {len} bytes (at most {MAX_SEGMENT_BYTES})"
                )));
            }
            entries.push(Entry {
                segment,
                len,
                hash: r.u64()?,
            });
        }
        done(&r)?;
        Ok(Manifest {
            token,
            epoch,
            next_offset,
            written_ms,
            entries,
        })
    }
}

fn seal(mut w: Writer) -> Vec<u8> {
    let sum = xxhash_rust::xxh3::xxh3_64(&w.buf[10..]);
    w.u64(sum);
    w.buf
}

fn unseal<'a>(bytes: &'a [u8], magic: &[u8; 8]) -> Result<&'a [u8], CodecError> {
    if bytes.len() < 10 + 8 || &bytes[..8] != magic {
        return Err(CodecError::Magic);
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != VERSION {
        return Err(CodecError::Version(version, VERSION));
    }
    let body = &bytes[10..bytes.len() - 8];
    let mut tail = Reader::new(&bytes[bytes.len() - 8..]);
    if tail.u64()? != xxhash_rust::xxh3::xxh3_64(body) {
        return Err(CodecError::Checksum);
    }
    Ok(body)
}

fn done(r: &Reader<'_>) -> Result<(), CodecError> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(CodecError::Invalid("trailing bytes".into()))
    }
}

/// A checkpoint taken: its manifest entries, and the bytes of the segments
/// not already written.
#[derive(Debug)]
pub struct Delta {
    pub next_offset: u64,
    pub written_ms: EpochMillis,
    pub entries: Vec<Entry>,
    pub payloads: HashMap<Segment, Vec<u8>>,
}

impl Delta {
    /// Bytes of segments to write.
    pub fn payload_bytes(&self) -> usize {
        self.payloads.values().map(Vec::len).sum()
    }
}

/// Takes a partition's checkpoint as segments; `written` are the segments
/// the owner's current manifest already has (their bytes are not taken
/// again).
pub fn take(
    st: &PartitionState,
    timezone: &str,
    wall_ms: EpochMillis,
    written: &HashMap<Segment, Entry>,
) -> Delta {
    let mut entries = Vec::new();
    let mut payloads = HashMap::new();
    let mut add = |segment: Segment, bytes: Option<Vec<u8>>| match (written.get(&segment), bytes) {
        (Some(e), _) => entries.push(*e),
        (None, Some(b)) => {
            entries.push(Entry::of(segment, &b));
            payloads.insert(segment, b);
        }
        (None, None) => {}
    };
    let core = encode_core(st, timezone, wall_ms);
    add(
        Segment::Core {
            hash: xxhash_rust::xxh3::xxh3_64(&core),
        },
        Some(core),
    );
    for (month, m) in st.ledger.months() {
        let bytes = encode_month(month, m);
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        add(
            Segment::Month {
                month: month.0,
                hash,
            },
            Some(bytes),
        );
    }
    for (bucket, base, ids) in st.dedup.placed_buckets() {
        let end = base + ids.len() as u64;
        let mut first = base;
        while first < end {
            let stop = ((first / IDS_PER_CHUNK + 1) * IDS_PER_CHUNK).min(end);
            let segment = Segment::Ids {
                bucket,
                first,
                end: stop,
            };
            let bytes = (!written.contains_key(&segment)).then(|| {
                let slice = &ids[(first - base) as usize..(stop - base) as usize];
                let mut b = Vec::with_capacity(slice.len() * ID_BYTES);
                for id in slice {
                    b.extend_from_slice(&id.0[0].to_le_bytes());
                    b.extend_from_slice(&id.0[1].to_le_bytes());
                }
                b
            });
            add(segment, bytes);
            first = stop;
        }
    }
    for (bucket, first, end, tick) in st.lifecycle.chunks() {
        let segment = Segment::Life {
            bucket,
            first,
            end,
            tick,
        };
        let bytes =
            (!written.contains_key(&segment)).then(|| encode_life_chunk(st, bucket, first, end));
        add(segment, bytes);
    }
    Delta {
        next_offset: st.position.next_offset,
        written_ms: wall_ms,
        entries,
        payloads,
    }
}

/// Splits a segment's bytes into record values.
pub fn split(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let n = bytes.len().div_ceil(RECORD_MAX).max(1);
    (0..n).map(move |i| &bytes[i * RECORD_MAX..((i + 1) * RECORD_MAX).min(bytes.len())])
}

/// The latest value of each record key of one partition (`None`: deleted).
pub type Latest = HashMap<String, Vec<u8>>;

/// Why a partition's state in the topic cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TopicStateError {
    #[error("{what}: {source}")]
    Codec { what: String, source: CodecError },
    #[error("{0}")]
    Missing(String),
}

/// A partition's current checkpoint in the topic.
#[derive(Debug, Clone)]
pub struct Current {
    pub claim: Claim,
    /// `None`: claimed, nothing written yet.
    pub checkpoint: Option<(Manifest, Snapshot)>,
}

/// The current checkpoint of a partition, from the latest values of its
/// keys: the manifest of the token the claim names. `None`: never claimed.
pub fn current(keys: &Keys, latest: &Latest) -> Result<Option<Current>, TopicStateError> {
    let Some(claim) = latest.get(&keys.claim()) else {
        return Ok(None);
    };
    let claim = Claim::decode(claim).map_err(|source| TopicStateError::Codec {
        what: keys.claim(),
        source,
    })?;
    let mkey = keys.manifest(claim.token);
    let Some(bytes) = latest.get(&mkey) else {
        return Ok(Some(Current {
            claim,
            checkpoint: None,
        }));
    };
    let manifest = Manifest::decode(bytes).map_err(|source| TopicStateError::Codec {
        what: mkey.clone(),
        source,
    })?;
    let snapshot = assemble(keys, &manifest, |k| latest.get(k).map(Vec::as_slice))?;
    Ok(Some(Current {
        claim,
        checkpoint: Some((manifest, snapshot)),
    }))
}

/// The largest segment a manifest may name: far above any real one (the
/// ids are written in chunks of 512 KiB, a month's cells in a few MB).
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;

/// The most a segment's reader allocates before it has the bytes.
const PREALLOC_MAX: usize = 16 << 20;

/// A segment's bytes, from its parts, checked against its entry.
pub fn segment_bytes<'a>(
    keys: &Keys,
    token: u64,
    e: &Entry,
    get: &impl Fn(&str) -> Option<&'a [u8]>,
) -> Result<Vec<u8>, TopicStateError> {
    // The length comes from a record anyone who can write to the topic
    // can forge (its checksum is no secret): nothing is allocated or named
    // ahead of the parts that are really there.
    let mut bytes = Vec::with_capacity(usize::try_from(e.len).unwrap_or(0).min(PREALLOC_MAX));
    for i in 0..e.parts() {
        let k = keys.part(token, &e.segment, i);
        let part = get(&k).ok_or_else(|| {
            TopicStateError::Missing(format!(
                "record {k} of the current checkpoint is missing from the state topic"
            ))
        })?;
        bytes.extend_from_slice(part);
    }
    if bytes.len() as u64 != e.len || xxhash_rust::xxh3::xxh3_64(&bytes) != e.hash {
        return Err(TopicStateError::Codec {
            what: keys.part(token, &e.segment, 0),
            source: CodecError::Checksum,
        });
    }
    Ok(bytes)
}

/// Rebuilds a checkpoint from its manifest and segment records.
pub fn assemble<'a>(
    keys: &Keys,
    manifest: &Manifest,
    get: impl Fn(&str) -> Option<&'a [u8]>,
) -> Result<Snapshot, TopicStateError> {
    let codec = |what: String| move |source| TopicStateError::Codec { what, source };
    let mut snap = None;
    let mut months = Vec::new();
    let mut life = Vec::new();
    let mut buckets: BTreeMap<i64, (u64, Vec<IdHash>)> = BTreeMap::new();
    for e in &manifest.entries {
        let bytes = segment_bytes(keys, manifest.token, e, &get)?;
        let what = keys.part(manifest.token, &e.segment, 0);
        match e.segment {
            Segment::Core { .. } => snap = Some(decode(&bytes).map_err(codec(what))?),
            Segment::Month { .. } => months.push((what, bytes)),
            Segment::Life { .. } => life.push((what, e.segment, bytes)),
            Segment::Ids { bucket, first, end } => {
                // Places from a record anyone may forge: checked, never
                // trusted to be in order.
                let count = end.checked_sub(first).ok_or_else(|| {
                    codec(what.clone())(CodecError::Invalid(format!(
                        "ids {first}..{end} end before they begin"
                    )))
                })?;
                if bytes.len() as u64 != count.saturating_mul(ID_BYTES as u64) {
                    return Err(codec(what)(CodecError::Invalid(format!(
                        "{} bytes for {count} ids",
                        bytes.len(),
                    ))));
                }
                let (base, ids) = buckets.entry(bucket).or_insert((first, Vec::new()));
                if base.checked_add(ids.len() as u64) != Some(first) {
                    return Err(codec(what)(CodecError::Invalid(
                        "ids of a bucket are not contiguous".into(),
                    )));
                }
                for id in bytes.chunks_exact(ID_BYTES) {
                    let word = |i: usize| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(&id[i..i + 8]);
                        u64::from_le_bytes(a)
                    };
                    ids.push(IdHash::from_words(word(0), word(8)));
                }
            }
        }
    }
    let mut snap = snap.ok_or_else(|| {
        TopicStateError::Missing(format!(
            "the manifest {} has no core segment",
            keys.manifest(manifest.token)
        ))
    })?;
    for (what, bytes) in months {
        decode_month(&bytes, snap.version, &mut snap.ledger).map_err(codec(what))?;
    }
    // A bucket's chunks follow one another (so restoring them pads no gap).
    life.sort_by_key(|(_, segment, _)| match segment {
        Segment::Life { bucket, first, .. } => (*bucket, *first),
        _ => (i64::MIN, 0),
    });
    let mut last: Option<(i64, u64)> = None;
    for (what, segment, bytes) in life {
        if let Segment::Life {
            bucket, first, end, ..
        } = segment
        {
            if let Some((b, e)) = last
                && b == bucket
                && e != first
            {
                return Err(codec(what)(CodecError::Invalid(
                    "lifecycle chunks of a bucket are not contiguous".into(),
                )));
            }
            last = Some((bucket, end));
        }
        if let Segment::Life {
            bucket,
            first,
            end,
            tick,
        } = segment
        {
            let chunk = decode_life_chunk(&bytes, &snap.ledger, bucket, first, end, tick)
                .map_err(codec(what))?;
            snap.lifecycle.push(chunk);
        }
    }
    snap.dedup_buckets = buckets
        .into_iter()
        .map(|(start, (base, ids))| (start, base, ids))
        .collect();
    Ok(snap)
}

#[cfg(test)]
mod tests;
