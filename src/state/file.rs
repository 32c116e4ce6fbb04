//! The checkpoint file format, version 8 (version 7 with each remembered
//! incident in 49 fixed bytes rather than about 25; version 6 without the
//! lifecycle: updates, stages and their times, and the incidents still
//! remembered for their updates; version 5 without provinces,
//! version 4 without the sector cells of each month, version 3 with months
//! by the hour and a file identity of the head, version 2 without the
//! filtered counters, and version 1, are still read; a month read from
//! before version 6 cannot be sliced or broken down by province, and one
//! from before version 5 keeps its sector totals but cannot be sliced).
//!
//! ```text
//! magic "IMSTATE\0" | version u16 | body | xxh3-64(body) u64
//! body: key, position (with the file identity), timezone, category,
//!       sector and (since 6) province names, outcomes, ledger months
//!       (totals, minute cells, and since version 5 cells by sector, since
//!       6 by sector and province, since 7 stage counts and times),
//!       dedup arrival buckets, (since 7) lifecycle incidents by arrival
//!       bucket (since 8 each bucket with its length in bytes, and each
//!       incident compact: flags, LEB128 numbers, times only when recorded,
//!       detection time and month as differences from the incident
//!       before), window panes
//! ```
//! A month read from before version 7 says it kept no stages: reports
//! leave its lifecycle out. Its incidents' later messages are duplicates
//! (the lifecycle does not know them; a message naming a stage is counted
//! as `forgotten`).
//! Version 1 (dedup buckets by event time, no file identity) is still read:
//! its ids are taken as seen when the checkpoint was written. Months of
//! versions before 4 counted by the hour: an hour's incidents are read as
//! dated in its first minute. A file position of before version 4 names
//! its file by the hash of its first 4 KiB, which cannot show that the
//! bytes before the position are unchanged: such a file is read again
//! from its start (dedup keeps the counts exact).
//! Counts are stored by name, not by index, so a configuration that reorders
//! rules or adds sectors still reads old state correctly.

use super::codec::{CodecError, Reader, Writer};
use super::{FileIdentity, Outcomes, PartitionKey, PartitionState, Position, Source};
use crate::calendar::{Ledger, MINUTES_PER_MONTH_MAX, YearMonth};
use crate::dedup::IdHash;
use crate::event::{EpochMillis, Filter, Reject, Severity};
use crate::lifecycle::{Chunk, NO_TIME, Note, Open, Stage};

const MAGIC: &[u8; 8] = b"IMSTATE\0";
/// The format this build writes (it reads every earlier one).
pub const FORMAT_VERSION: u16 = 8;

/// Bytes of one lifecycle incident in a state topic's chunk and in a
/// version-7 checkpoint.
const OPEN_BYTES: usize = 16 + 8 + 4 + 8 + 2 * 5 + 3;
/// The fewest bytes of one lifecycle incident in a checkpoint since
/// version 8 (the id's 14, flags, six varints of a byte, the severity).
const OPEN_MIN_BYTES: usize = 14 + 1 + 6 + 1;
/// Flags of a compact incident, above its two stages' two bits each.
const WARNED_TIME: u8 = 1 << 4;
const HANDLED_TIME: u8 = 1 << 5;
const RECLASSIFIED: u8 = 1 << 6;

/// Hours per month in the month records of versions before 4.
const HOURS_PER_MONTH_V3: usize = 31 * 24 + 1;

/// A decoded checkpoint: plain data, independent of any configuration.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The format version it was written in.
    pub version: u16,
    pub key: PartitionKey,
    pub position: Position,
    pub timezone: String,
    /// Written at (wall clock, epoch ms).
    pub written_ms: EpochMillis,
    pub outcomes: Outcomes,
    pub ledger: Ledger,
    /// Arrival buckets: (start, place of the first id in the bucket, ids
    /// last seen in it). The place is 0 in checkpoint files (only the
    /// state topic writes buckets by place).
    pub dedup_buckets: Vec<(i64, u64, Vec<IdHash>)>,
    /// The lifecycle's incidents by the arrival hour of their last
    /// message; their categories, sectors and provinces are indices into
    /// the snapshot's names.
    pub lifecycle: Vec<Chunk>,
    pub max_event_ms: Option<EpochMillis>,
    pub windows: Vec<WindowSnapshot>,
}

/// One window's checkpointed panes.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSnapshot {
    pub name: String,
    pub slide_ms: i64,
    pub panes: usize,
    pub late: u64,
    /// (pane index, per-category counts in the snapshot's category order).
    pub pane_counts: Vec<(i64, Vec<u32>)>,
}

/// Serialises a partition's state with the timezone it was counted in.
pub fn encode(st: &PartitionState, timezone: &str, written_ms: EpochMillis) -> Vec<u8> {
    encode_parts(st, timezone, written_ms, true)
}

/// The state without its months and remembered ids (the state topic
/// writes those as their own records: [`encode_month`], ids by place), in
/// the checkpoint format: [`decode`] reads it as a state with no months and
/// no ids.
pub fn encode_core(st: &PartitionState, timezone: &str, written_ms: EpochMillis) -> Vec<u8> {
    encode_parts(st, timezone, written_ms, false)
}

fn encode_parts(
    st: &PartitionState,
    timezone: &str,
    written_ms: EpochMillis,
    whole: bool,
) -> Vec<u8> {
    let mut w = Writer::default();
    if whole {
        // The ids and the remembered incidents are most of it (one
        // allocation, not a doubling that copies what is written).
        w.buf
            .reserve(64 + st.dedup.entries() * 16 + st.lifecycle.len() * (OPEN_MIN_BYTES + 8));
    }
    w.buf.extend_from_slice(MAGIC);
    w.u16(FORMAT_VERSION);
    let body_start = w.buf.len();

    w.str(&st.key.source.to_string());
    w.i32(st.key.partition);
    w.u64(st.position.next_offset);
    w.u64(st.position.records);
    w.str(&st.position.input);
    match st.position.identity {
        Some(FileIdentity::Prefix(hash)) => {
            w.u8(2);
            w.u64(hash);
        }
        // Kept as read (a version-3 position), so that a state written
        // again still says the file must be read from its start.
        Some(FileIdentity::Head { len, hash }) => {
            w.u8(1);
            w.u32(len);
            w.u64(hash);
        }
        None => w.u8(0),
    }
    w.str(timezone);
    w.i64(written_ms);

    let cats = st.ledger.categories();
    let secs = st.ledger.sectors();
    let provs = st.ledger.provinces();
    w.len(cats.len());
    cats.iter().for_each(|c| w.str(c));
    w.len(secs.len());
    secs.iter().for_each(|s| w.str(s));
    w.len(provs.len());
    provs.iter().for_each(|p| w.str(p));

    w.u64(st.outcomes.accepted);
    w.u64(st.outcomes.duplicate);
    w.u64(st.outcomes.late);
    w.len(Reject::ALL.len());
    for r in Reject::ALL {
        w.str(r.code());
        w.u64(st.outcomes.invalid[r.index()]);
    }
    w.len(Filter::ALL.len());
    for f in Filter::ALL {
        w.str(f.code());
        w.u64(st.outcomes.filtered[f.index()]);
    }
    w.u64(st.outcomes.update);
    w.len(Note::ALL.len());
    for n in Note::ALL {
        w.str(n.code());
        w.u64(st.outcomes.lifecycle[n.index()]);
    }

    if whole {
        write_ledger(&mut w, st);
        write_dedup(&mut w, st);
    } else {
        w.len(0);
        w.len(0);
    }
    if whole {
        write_lifecycle(&mut w, st);
    } else {
        // The state topic writes the lifecycle in chunks of its own.
        w.len(0);
    }
    write_windows(&mut w, st);

    let sum = xxhash_rust::xxh3::xxh3_64(&w.buf[body_start..]);
    w.u64(sum);
    w.buf
}

fn write_ledger(w: &mut Writer, st: &PartitionState) {
    let months: Vec<_> = st.ledger.months().collect();
    w.len(months.len());
    for (key, m) in months {
        write_month(w, key, m);
    }
}

fn write_month(w: &mut Writer, key: YearMonth, m: &crate::calendar::MonthCounts) {
    w.i32(key.0);
    m.by_category_severity.iter().for_each(|&n| w.u64(n));
    m.by_sector.iter().for_each(|&n| w.u64(n));
    m.by_province.iter().for_each(|&n| w.u64(n));
    let cells = m.minute_cells();
    w.len(cells.len());
    for (c, s, minute, n) in cells {
        w.len((c * Severity::COUNT + s) * MINUTES_PER_MONTH_MAX + minute);
        w.u32(n);
    }
    // The cells: 2, by sector and province; 1, by sector only (a month
    // restored from a version-5 state); 0, none (older still).
    match m.cells() {
        Some(cells) => {
            let provinces = m.provinces_kept();
            w.u8(if provinces { 2 } else { 1 });
            w.len(cells.len());
            for (sector, province, c, s, minute, n) in cells {
                w.len(sector);
                if provinces {
                    w.len(province);
                }
                w.len((c * Severity::COUNT + s) * MINUTES_PER_MONTH_MAX + minute);
                w.u32(n);
            }
        }
        None => w.u8(0),
    }
    w.u8(u8::from(m.stages_kept));
    let nc = m.reached.len() / 2;
    m.reached.iter().for_each(|&n| w.u64(n));
    for t in m.times.iter().take(nc * 2) {
        let pairs: Vec<(u32, u64)> = t.iter().collect();
        w.len(pairs.len());
        for (q, n) in pairs {
            w.u32(q);
            w.u64(n);
        }
    }
}

/// One month of a partition's ledger, in the order of the state's
/// category, sector and province names (which [`encode_core`] writes).
pub fn encode_month(key: YearMonth, m: &crate::calendar::MonthCounts) -> Vec<u8> {
    let mut w = Writer::default();
    write_month(&mut w, key, m);
    w.buf
}

/// Adds a month written by [`encode_month`] to a decoded core's ledger;
/// `version` is the core's format version.
pub fn decode_month(
    bytes: &[u8],
    version: u16,
    ledger: &mut Ledger,
) -> Result<YearMonth, CodecError> {
    let mut r = Reader::new(bytes);
    let (key, m) = read_month(&mut r, version, ledger)?;
    if !r.is_empty() {
        return Err(CodecError::Invalid("trailing bytes after a month".into()));
    }
    ledger.insert_month(key, m);
    Ok(key)
}

fn write_dedup(w: &mut Writer, st: &PartitionState) {
    let buckets: Vec<_> = st.dedup.buckets().collect();
    w.len(buckets.len());
    for (start, ids) in buckets {
        w.i64(start);
        w.len(ids.len());
        for id in ids {
            w.u64(id.0[0]);
            w.u64(id.0[1]);
        }
    }
}

/// The incidents by arrival hour, hours with none left out: one walk
/// along the log, each hour's count and length written once known.
fn write_lifecycle(w: &mut Writer, st: &PartitionState) {
    let buckets_at = w.len_later();
    let mut buckets = 0;
    for (start, live) in st.lifecycle.by_arrival() {
        let bucket_at = w.buf.len();
        w.i64(start);
        let n_at = w.len_later();
        let bytes_at = w.len_later();
        let body = w.buf.len();
        let mut before = (0, 0);
        let mut n = 0;
        for (id, o) in live {
            write_open_compact(w, &id, o, &mut before);
            n += 1;
        }
        if n == 0 {
            w.buf.truncate(bucket_at);
        } else {
            let bytes = w.buf.len() - body;
            w.set_len(n_at, n);
            w.set_len(bytes_at, bytes);
            buckets += 1;
        }
    }
    w.set_len(buckets_at, buckets);
}

/// One lifecycle incident, compact (since version 8): its detection time
/// and month as differences from `before`'s (the incident before it in
/// its hour), which it then becomes.
fn write_open_compact(w: &mut Writer, id: &IdHash, o: &Open, before: &mut (i64, i32)) {
    w.u64(id.0[0]);
    w.buf.extend_from_slice(&id.0[1].to_le_bytes()[..6]);
    let mut flags = o.stage as u8 | (o.type_stage as u8) << 2;
    if o.times[0] != NO_TIME {
        flags |= WARNED_TIME;
    }
    if o.times[1] != NO_TIME {
        flags |= HANDLED_TIME;
    }
    if o.first_category != o.category {
        flags |= RECLASSIFIED;
    }
    w.u8(flags);
    w.signed(o.detected_ms.wrapping_sub(before.0));
    w.signed(i64::from(o.month) - i64::from(before.1));
    *before = (o.detected_ms, o.month);
    w.varint(u64::from(o.minute));
    w.varint(u64::from(o.category));
    if flags & RECLASSIFIED != 0 {
        w.varint(u64::from(o.first_category));
    }
    w.varint(u64::from(o.sector));
    w.varint(u64::from(o.province));
    w.u8(o.severity);
    for (t, bit) in [(0, WARNED_TIME), (1, HANDLED_TIME)] {
        if flags & bit != 0 {
            w.u32(o.times[t]);
        }
    }
}

/// One lifecycle incident (its place is not written), in one write.
fn write_open(w: &mut Writer, id: &IdHash, o: &Open) {
    let mut b = [0u8; OPEN_BYTES];
    let fields: [&[u8]; 14] = [
        &id.0[0].to_le_bytes(),
        &id.0[1].to_le_bytes(),
        &o.detected_ms.to_le_bytes(),
        &o.month.to_le_bytes(),
        &o.times[0].to_le_bytes(),
        &o.times[1].to_le_bytes(),
        &o.minute.to_le_bytes(),
        &o.category.to_le_bytes(),
        &o.first_category.to_le_bytes(),
        &o.sector.to_le_bytes(),
        &o.province.to_le_bytes(),
        &[o.severity],
        &[o.stage as u8],
        &[o.type_stage as u8],
    ];
    let mut at = 0;
    for f in fields {
        b[at..at + f.len()].copy_from_slice(f);
        at += f.len();
    }
    w.buf.extend_from_slice(&b);
}

/// The fields of a lifecycle incident as read, before they are checked.
struct RawOpen {
    detected_ms: i64,
    month: i32,
    times: [u32; 2],
    minute: u16,
    category: u16,
    first_category: u16,
    sector: u16,
    province: u16,
    severity: u8,
    stage: u8,
    type_stage: u8,
}

/// One lifecycle incident in 49 fixed bytes (a state topic's chunk, a
/// version-7 checkpoint).
fn read_open(r: &mut Reader<'_>, ledger: &Ledger) -> Result<(IdHash, Open), CodecError> {
    let id = IdHash::from_words(r.u64()?, r.u64()?);
    // Fields are read in the order written.
    let raw = RawOpen {
        detected_ms: r.i64()?,
        month: r.i32()?,
        times: [r.u32()?, r.u32()?],
        minute: r.u16()?,
        category: r.u16()?,
        first_category: r.u16()?,
        sector: r.u16()?,
        province: r.u16()?,
        severity: r.u8()?,
        stage: r.u8()?,
        type_stage: r.u8()?,
    };
    Ok((id, checked_open(raw, ledger)?))
}

fn out_of_range() -> CodecError {
    CodecError::Invalid("a lifecycle incident out of range".into())
}

/// One compact lifecycle incident ([`write_open_compact`]).
fn read_open_compact(
    r: &mut Reader<'_>,
    ledger: &Ledger,
    before: &mut (i64, i32),
) -> Result<(IdHash, Open), CodecError> {
    let low = r.u64()?;
    let mut high = [0u8; 8];
    for b in &mut high[..6] {
        *b = r.u8()?;
    }
    let id = IdHash::from_words(low, u64::from_le_bytes(high));
    let flags = r.u8()?;
    if flags >> 7 != 0 {
        return Err(out_of_range());
    }
    let detected_ms = before.0.wrapping_add(r.signed()?);
    let month = i64::from(before.1)
        .checked_add(r.signed()?)
        .and_then(|m| i32::try_from(m).ok())
        .ok_or_else(out_of_range)?;
    *before = (detected_ms, month);
    let mut small =
        || -> Result<u16, CodecError> { u16::try_from(r.varint()?).map_err(|_| out_of_range()) };
    let minute = small()?;
    let category = small()?;
    let first_category = if flags & RECLASSIFIED != 0 {
        small()?
    } else {
        category
    };
    let sector = small()?;
    let province = small()?;
    let severity = r.u8()?;
    let mut times = [NO_TIME; 2];
    for (t, bit) in [(0, WARNED_TIME), (1, HANDLED_TIME)] {
        if flags & bit != 0 {
            times[t] = r.u32()?;
        }
    }
    let raw = RawOpen {
        stage: flags & 3,
        type_stage: (flags >> 2) & 3,
        severity,
        times,
        detected_ms,
        month,
        minute,
        category,
        first_category,
        sector,
        province,
    };
    Ok((id, checked_open(raw, ledger)?))
}

/// A lifecycle incident whose fields are within the ledger's names and
/// the month's minutes.
fn checked_open(raw: RawOpen, ledger: &Ledger) -> Result<Open, CodecError> {
    let (nc, ns, np) = (
        ledger.categories().len(),
        ledger.sectors().len(),
        ledger.provinces().len(),
    );
    if usize::from(raw.category) >= nc
        || usize::from(raw.first_category) >= nc
        || usize::from(raw.sector) >= ns
        || usize::from(raw.province) >= np
        || usize::from(raw.severity) >= Severity::COUNT
        || usize::from(raw.minute) >= MINUTES_PER_MONTH_MAX
        || raw.stage > 2
        || raw.type_stage > 2
    {
        return Err(out_of_range());
    }
    let mut o = Open::new(
        raw.detected_ms,
        raw.month,
        usize::from(raw.minute),
        usize::from(raw.category),
        usize::from(raw.sector),
        usize::from(raw.province),
        usize::from(raw.severity),
    );
    o.first_category = raw.first_category;
    o.times = raw.times;
    o.stage = Stage::from_index(usize::from(raw.stage));
    o.type_stage = Stage::from_index(usize::from(raw.type_stage));
    Ok(o)
}

fn read_lifecycle(
    r: &mut Reader<'_>,
    ledger: &Ledger,
    version: u16,
) -> Result<Vec<Chunk>, CodecError> {
    let n = r.count(12)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let bucket = r.i64()?;
        let incidents = if version >= 8 {
            let k = r.count(OPEN_MIN_BYTES)?;
            let bytes = r.u32()? as usize;
            let from = r.position();
            let mut before = (0, 0);
            let mut incidents = Vec::with_capacity(k);
            for i in 0..k {
                let (id, mut o) = read_open_compact(r, ledger, &mut before)?;
                o.place = u32::try_from(i).unwrap_or(u32::MAX);
                incidents.push((id, o));
            }
            if r.position() - from != bytes {
                return Err(CodecError::Invalid(
                    "a lifecycle hour's length is not its incidents'".into(),
                ));
            }
            incidents
        } else {
            let k = r.count(OPEN_BYTES)?;
            let mut incidents = Vec::with_capacity(k);
            for i in 0..k {
                let (id, mut o) = read_open(r, ledger)?;
                o.place = u32::try_from(i).unwrap_or(u32::MAX);
                incidents.push((id, o));
            }
            incidents
        };
        out.push(Chunk {
            bucket,
            first: 0,
            end: incidents.len() as u64,
            tick: 0,
            incidents,
        });
    }
    Ok(out)
}

/// One chunk of the lifecycle ([`crate::lifecycle::Lifecycle::chunks`])
/// as the state topic writes it: each incident with its place.
pub fn encode_life_chunk(st: &PartitionState, bucket: i64, first: u64, end: u64) -> Vec<u8> {
    let incidents = st.lifecycle.chunk(bucket, first, end);
    let mut w = Writer::default();
    w.buf.reserve(4 + incidents.len() * (OPEN_BYTES + 4));
    w.len(incidents.len());
    for (id, o) in &incidents {
        w.u32(o.place);
        write_open(&mut w, id, o);
    }
    w.buf
}

/// A chunk written by [`encode_life_chunk`], read against the names of
/// its checkpoint's core.
pub fn decode_life_chunk(
    bytes: &[u8],
    ledger: &Ledger,
    bucket: i64,
    first: u64,
    end: u64,
    tick: u64,
) -> Result<Chunk, CodecError> {
    // Places and spans from a record anyone may forge: a chunk spans at most
    // one chunk's places, so restoring it sizes nothing by what it claims.
    let per = crate::lifecycle::PER_CHUNK;
    if end <= first || (end - 1) / per != first / per {
        return Err(CodecError::Invalid(format!(
            "lifecycle places {first}..{end} are not within one chunk of {per}"
        )));
    }
    let mut r = Reader::new(bytes);
    let n = r.count(OPEN_BYTES + 4)?;
    let mut incidents = Vec::with_capacity(n);
    let mut next = first;
    for _ in 0..n {
        let place = u64::from(r.u32()?);
        // Places from a record anyone may forge: in order, in the chunk.
        if place < next || place >= end {
            return Err(CodecError::Invalid(format!(
                "lifecycle place {place} outside {first}..{end} or out of order"
            )));
        }
        next = place + 1;
        let (id, mut o) = read_open(&mut r, ledger)?;
        o.place = u32::try_from(place).unwrap_or(u32::MAX);
        incidents.push((id, o));
    }
    if !r.is_empty() {
        return Err(CodecError::Invalid(
            "trailing bytes after a lifecycle chunk".into(),
        ));
    }
    Ok(Chunk {
        bucket,
        first,
        end,
        tick,
        incidents,
    })
}

fn write_windows(w: &mut Writer, st: &PartitionState) {
    match st.windows.max_event_ms() {
        Some(t) => {
            w.u8(1);
            w.i64(t);
        }
        None => w.u8(0),
    }
    let shapes = st.windows.shapes();
    w.len(shapes.len());
    for (i, (shape, ring)) in shapes.iter().zip(st.windows.rings()).enumerate() {
        w.str(&shape.name);
        w.i64(shape.slide_ms);
        w.len(shape.panes);
        w.u64(st.outcomes.window_late.get(i).copied().unwrap_or(0));
        let panes: Vec<_> = ring.panes().collect();
        w.len(panes.len());
        for (tag, counts) in panes {
            w.i64(tag);
            counts.iter().for_each(|&n| w.u32(n));
        }
    }
}

/// The largest count a checkpoint may hold in one field: far above any real
/// count (a trillion incidents), and low enough that sums over every month,
/// category and partition cannot overflow a u64.
pub const MAX_COUNT: u64 = 1 << 40;

/// Adds two checkpointed counts that fold into one (unknown reasons, unknown
/// sectors), held within [`MAX_COUNT`] so the state encodes again.
pub(crate) fn add_count(a: u64, b: u64) -> u64 {
    a.saturating_add(b).min(MAX_COUNT)
}

fn count_value(r: &mut Reader<'_>) -> Result<u64, CodecError> {
    let v = r.u64()?;
    if v > MAX_COUNT {
        return Err(CodecError::Invalid(format!(
            "a count of {v} is not plausible (at most {MAX_COUNT})"
        )));
    }
    Ok(v)
}

/// A list of distinct names (categories or sectors).
fn names(r: &mut Reader<'_>, what: &str) -> Result<Vec<String>, CodecError> {
    let n = r.count(4)?;
    let mut out: Vec<String> = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.str()?;
        if out.iter().any(|o| o == name) {
            return Err(CodecError::Invalid(format!("{what} {name:?} listed twice")));
        }
        out.push(name.to_owned());
    }
    Ok(out)
}

/// What a report needs of a checkpoint: its counts, not its remembered
/// ids or window panes (which it never decodes).
#[derive(Debug, Clone)]
pub struct Counts {
    pub key: PartitionKey,
    pub timezone: String,
    /// Written at (wall clock, epoch ms).
    pub written_ms: EpochMillis,
    pub ledger: Ledger,
}

impl From<&Snapshot> for Counts {
    fn from(s: &Snapshot) -> Counts {
        Counts {
            key: s.key.clone(),
            timezone: s.timezone.clone(),
            written_ms: s.written_ms,
            ledger: s.ledger.clone(),
        }
    }
}

/// The part of a checkpoint up to and including its ledger.
struct Head {
    key: PartitionKey,
    position: Position,
    timezone: String,
    written_ms: EpochMillis,
    outcomes: Outcomes,
    ledger: Ledger,
    categories: usize,
}

fn read_head(r: &mut Reader<'_>, version: u16) -> Result<Head, CodecError> {
    let v1 = version == 1;
    let key = PartitionKey {
        source: {
            let name = r.str()?;
            Source::from_name(name)
                .ok_or_else(|| CodecError::Invalid(format!("unknown source {name:?}")))?
        },
        partition: r.i32()?,
    };
    let position = read_position(r, v1)?;
    let timezone = r.str()?.to_owned();
    let written_ms = r.i64()?;
    let categories = names(r, "category")?;
    let sectors = names(r, "sector")?;
    // Before version 6 no province was kept: every incident's is
    // `unknown`, and its months say they were kept without provinces.
    let provinces = if version >= 6 {
        names(r, "province")?
    } else {
        vec![crate::classify::SECTOR_UNKNOWN.to_owned()]
    };
    let mut outcomes = read_outcomes(r)?;
    if version >= 3 {
        read_filtered(r, &mut outcomes)?;
    }
    if version >= 7 {
        outcomes.update = count_value(r)?;
        for _ in 0..r.count(12)? {
            let code = r.str()?;
            let v = count_value(r)?;
            // A reason this build does not know is dropped (no figure).
            if let Some(n) = Note::from_code(code) {
                let cell = &mut outcomes.lifecycle[n.index()];
                *cell = add_count(*cell, v);
            }
        }
    }
    let nc = categories.len();
    let ledger = read_ledger(
        r,
        version,
        Ledger::new(categories.into(), sectors.into(), provinces.into()),
    )?;
    Ok(Head {
        key,
        position,
        timezone,
        written_ms,
        outcomes,
        ledger,
        categories: nc,
    })
}

/// Reads a checkpoint's counts, verifying magic, version and checksum,
/// and stopping at its ledger: the remembered ids after it (most of the
/// bytes) are neither decoded nor kept.
pub fn decode_counts(bytes: &[u8]) -> Result<Counts, CodecError> {
    let (version, body) = frame(bytes)?;
    let mut r = Reader::new(body);
    let h = read_head(&mut r, version)?;
    // The rest is stepped over, not decoded: its shape is checked (as
    // `decode` checks it), so `report` refuses what `run` refuses.
    skip_rest(&mut r, version, h.categories)?;
    Ok(Counts {
        key: h.key,
        timezone: h.timezone,
        written_ms: h.written_ms,
        ledger: h.ledger,
    })
}

/// Reads a checkpoint, verifying magic, version and checksum.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, CodecError> {
    let (version, body) = frame(bytes)?;
    let v1 = version == 1;
    let mut r = Reader::new(body);
    let head = read_head(&mut r, version)?;
    if v1 {
        // The event-time floor and newest time of version 1: not used.
        r.i64()?;
        r.i64()?;
    }
    // Version 1 bucketed by event time: its ids count as seen when the
    // checkpoint was written.
    let dedup_buckets = read_dedup(&mut r, v1.then_some(head.written_ms))?;
    let lifecycle = if version >= 7 {
        read_lifecycle(&mut r, &head.ledger, version)?
    } else {
        Vec::new()
    };
    let max_event_ms = match r.u8()? {
        0 => None,
        _ => Some(r.i64()?),
    };
    let windows = read_windows(&mut r, head.categories)?;
    if !r.is_empty() {
        return Err(CodecError::Invalid("trailing bytes after the state".into()));
    }
    Ok(Snapshot {
        version,
        key: head.key,
        position: head.position,
        timezone: head.timezone,
        written_ms: head.written_ms,
        outcomes: head.outcomes,
        ledger: head.ledger,
        dedup_buckets,
        lifecycle,
        max_event_ms,
        windows,
    })
}

/// Checks magic, version and checksum; returns the version and the body.
fn frame(bytes: &[u8]) -> Result<(u16, &[u8]), CodecError> {
    if bytes.len() < MAGIC.len() + 2 + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(CodecError::Magic);
    }
    let mut head = Reader::new(&bytes[MAGIC.len()..MAGIC.len() + 2]);
    let version = head.u16()?;
    if !(1..=FORMAT_VERSION).contains(&version) {
        return Err(CodecError::Version(version, FORMAT_VERSION));
    }
    let body = &bytes[MAGIC.len() + 2..bytes.len() - 8];
    let mut tail = Reader::new(&bytes[bytes.len() - 8..]);
    if tail.u64()? != xxhash_rust::xxh3::xxh3_64(body) {
        return Err(CodecError::Checksum);
    }
    Ok((version, body))
}

fn read_position(r: &mut Reader<'_>, v1: bool) -> Result<Position, CodecError> {
    let next_offset = r.u64()?;
    let records = r.u64()?;
    let input = r.str()?.to_owned();
    let identity = if v1 {
        None
    } else {
        match r.u8()? {
            0 => None,
            1 => Some(FileIdentity::Head {
                len: r.u32()?,
                hash: r.u64()?,
            }),
            2 => Some(FileIdentity::Prefix(r.u64()?)),
            t => {
                return Err(CodecError::Invalid(format!(
                    "unknown file identity tag {t}"
                )));
            }
        }
    };
    Ok(Position {
        next_offset,
        records,
        input,
        identity,
    })
}

fn read_outcomes(r: &mut Reader<'_>) -> Result<Outcomes, CodecError> {
    let mut outcomes = Outcomes {
        accepted: count_value(r)?,
        duplicate: count_value(r)?,
        late: count_value(r)?,
        ..Outcomes::default()
    };
    let n = r.count(12)?;
    for _ in 0..n {
        let code = r.str()?;
        let v = count_value(r)?;
        // A reason this build does not know is kept under not_json rather
        // than lost; totals stay right.
        let reason = Reject::from_code(code).unwrap_or(Reject::NotJson);
        let cell = &mut outcomes.invalid[reason.index()];
        *cell = add_count(*cell, v);
    }
    Ok(outcomes)
}

/// Filtered counters by reason; a reason this build does not know is
/// dropped from the counters (they are not part of any figure).
fn read_filtered(r: &mut Reader<'_>, outcomes: &mut Outcomes) -> Result<(), CodecError> {
    let n = r.count(12)?;
    for _ in 0..n {
        let code = r.str()?;
        let v = count_value(r)?;
        if let Some(f) = Filter::from_code(code) {
            let cell = &mut outcomes.filtered[f.index()];
            *cell = add_count(*cell, v);
        }
    }
    Ok(())
}

fn read_ledger(r: &mut Reader<'_>, version: u16, mut ledger: Ledger) -> Result<Ledger, CodecError> {
    let (nc, ns, np) = (
        ledger.categories().len(),
        ledger.sectors().len(),
        if version >= 6 {
            ledger.provinces().len()
        } else {
            0
        },
    );
    let n = r.count(4 + 8 * (nc * Severity::COUNT + ns + np) + 4)?;
    for _ in 0..n {
        let (key, m) = read_month(r, version, &ledger)?;
        ledger.insert_month(key, m);
    }
    Ok(ledger)
}

fn read_month(
    r: &mut Reader<'_>,
    version: u16,
    ledger: &Ledger,
) -> Result<(YearMonth, crate::calendar::MonthCounts), CodecError> {
    let nc = ledger.categories().len();
    let key = YearMonth(r.i32()?);
    let mut m = ledger.empty_month();
    for v in m
        .by_category_severity
        .iter_mut()
        .chain(m.by_sector.iter_mut())
    {
        *v = count_value(r)?;
    }
    if version >= 6 {
        for v in &mut m.by_province {
            *v = count_value(r)?;
        }
    } else {
        // The one province of an older state: `unknown`, all of them.
        let total = m.total();
        if let Some(v) = m.by_province.first_mut() {
            *v = total;
        }
        m.without_provinces();
    }
    // Since version 4 a cell is a (category, severity, minute); before, a
    // (category, hour), read as the hour's first minute with the severity
    // unknown.
    let (rows, width, minutes_per_cell) = if version >= 4 {
        (nc * Severity::COUNT, MINUTES_PER_MONTH_MAX, 1)
    } else {
        (nc, HOURS_PER_MONTH_V3, 60)
    };
    let nz = r.count(8)?;
    for _ in 0..nz {
        let i = r.u32()? as usize;
        let v = r.u32()?;
        if i >= rows * width {
            return Err(CodecError::Invalid(format!(
                "minute index {i} out of range (max {})",
                rows * width
            )));
        }
        let (row, cell) = (i / width, (i % width) * minutes_per_cell);
        let (c, s) = if version >= 4 {
            (row / Severity::COUNT, row % Severity::COUNT)
        } else {
            (row, Severity::Unknown.index())
        };
        m.add_minute(c, s, cell, v);
    }
    if version < 5 {
        // Sectors were monthly totals only.
        m.without_cells();
        m.stages_kept = false;
        return Ok((key, m));
    }
    match r.u8()? {
        0 => m.without_cells(),
        1 => read_cells(r, ledger, &mut m, false, rows * width)?,
        2 if version >= 6 => read_cells(r, ledger, &mut m, true, rows * width)?,
        b => {
            return Err(CodecError::Invalid(format!("cells flag {b}")));
        }
    }
    if version >= 7 {
        read_stages(r, &mut m, nc)?;
    } else {
        m.stages_kept = false;
    }
    Ok((key, m))
}

/// A month's stage counts and times (since version 7).
fn read_stages(
    r: &mut Reader<'_>,
    m: &mut crate::calendar::MonthCounts,
    nc: usize,
) -> Result<(), CodecError> {
    m.stages_kept = match r.u8()? {
        0 => false,
        1 => true,
        b => return Err(CodecError::Invalid(format!("stages flag {b}"))),
    };
    for c in 0..nc {
        for s in Stage::TIMED {
            m.add_reached(c, s, count_value(r)?);
        }
    }
    for c in 0..nc {
        for s in Stage::TIMED {
            for _ in 0..r.count(12)? {
                let q = r.u32()?;
                let n = count_value(r)?;
                if u64::from(q) > crate::lifecycle::MAX_TIME_SECS {
                    return Err(CodecError::Invalid(format!("a stage time of {q} s")));
                }
                m.add_time(c, s, q, n);
            }
        }
    }
    Ok(())
}

/// A month's cells (since version 5): by sector, and by province when
/// `with_provinces` (since 6).
fn read_cells(
    r: &mut Reader<'_>,
    ledger: &Ledger,
    m: &mut crate::calendar::MonthCounts,
    with_provinces: bool,
    keys: usize,
) -> Result<(), CodecError> {
    let width = MINUTES_PER_MONTH_MAX;
    if !with_provinces {
        m.without_provinces();
    }
    let (ns, np) = (ledger.sectors().len(), ledger.provinces().len());
    let unknown = ledger
        .provinces()
        .iter()
        .position(|p| p == crate::classify::SECTOR_UNKNOWN)
        .unwrap_or(np.saturating_sub(1));
    let n = r.count(if with_provinces { 16 } else { 12 })?;
    for _ in 0..n {
        let sector = r.u32()? as usize;
        // Without provinces, each cell is of province `unknown`.
        let province = if with_provinces {
            r.u32()? as usize
        } else {
            unknown
        };
        let i = r.u32()? as usize;
        let v = r.u32()?;
        if sector >= ns || province >= np || i >= keys {
            return Err(CodecError::Invalid(format!(
                "cell ({sector}, {province}, {i}) out of range"
            )));
        }
        let (row, minute) = (i / width, i % width);
        m.add_cell(
            sector,
            province,
            row / Severity::COUNT,
            row % Severity::COUNT,
            minute,
            v,
        );
    }
    Ok(())
}

/// Steps over what follows the ledger (ids, the event clock, windows)
/// without building it, and requires nothing after it.
fn skip_rest(r: &mut Reader<'_>, version: u16, nc: usize) -> Result<(), CodecError> {
    if version == 1 {
        r.i64()?;
        r.i64()?;
    }
    for _ in 0..r.count(12)? {
        r.i64()?;
        let k = r.count(16)?;
        r.skip(k * 16)?;
    }
    if version >= 8 {
        for _ in 0..r.count(16)? {
            r.i64()?;
            r.u32()?;
            let bytes = r.u32()? as usize;
            r.skip(bytes)?;
        }
    } else if version >= 7 {
        for _ in 0..r.count(12)? {
            r.i64()?;
            let k = r.count(OPEN_BYTES)?;
            r.skip(k * OPEN_BYTES)?;
        }
    }
    if r.u8()? != 0 {
        r.i64()?;
    }
    for _ in 0..r.count(4 + 8 + 4 + 8 + 4)? {
        r.str()?;
        r.i64()?;
        r.u32()?;
        count_value(r)?;
        let k = r.count(8 + 4 * nc)?;
        r.skip(k * (8 + 4 * nc))?;
    }
    if !r.is_empty() {
        return Err(CodecError::Invalid("trailing bytes after the state".into()));
    }
    Ok(())
}

/// Dedup buckets; `seen_at` replaces every bucket's start (version 1).
fn read_dedup(
    r: &mut Reader<'_>,
    seen_at: Option<EpochMillis>,
) -> Result<Vec<(i64, u64, Vec<IdHash>)>, CodecError> {
    let n = r.count(12)?;
    let mut buckets = Vec::with_capacity(n);
    for _ in 0..n {
        let start = r.i64()?;
        let k = r.count(16)?;
        let mut ids = Vec::with_capacity(k);
        for _ in 0..k {
            ids.push(IdHash::from_words(r.u64()?, r.u64()?));
        }
        buckets.push((seen_at.unwrap_or(start), 0, ids));
    }
    Ok(buckets)
}

fn read_windows(r: &mut Reader<'_>, nc: usize) -> Result<Vec<WindowSnapshot>, CodecError> {
    let n = r.count(4 + 8 + 4 + 8 + 4)?;
    let mut windows = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.str()?.to_owned();
        let slide_ms = r.i64()?;
        let panes = r.u32()? as usize;
        let late = count_value(r)?;
        let k = r.count(8 + 4 * nc)?;
        let mut pane_counts = Vec::with_capacity(k);
        for _ in 0..k {
            let tag = r.i64()?;
            let counts = (0..nc).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
            pane_counts.push((tag, counts));
        }
        windows.push(WindowSnapshot {
            name,
            slide_ms,
            panes,
            late,
            pane_counts,
        });
    }
    Ok(windows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A ledger of 4 categories, 3 sectors and 5 provinces.
    fn ledger() -> Ledger {
        let names = |n: usize| (0..n).map(|i| format!("n{i}")).collect::<Vec<_>>().into();
        Ledger::new(names(4), names(3), names(5))
    }

    prop_compose! {
        fn open(nc: usize, ns: usize, np: usize)(
            detected_ms in any::<i64>(),
            month in any::<i32>(),
            times in [prop_oneof![Just(NO_TIME), any::<u32>()], prop_oneof![Just(NO_TIME), any::<u32>()]],
            minute in 0..MINUTES_PER_MONTH_MAX,
            category in 0..nc,
            first_category in 0..nc,
            sector in 0..ns,
            province in 0..np,
            severity in 0..Severity::COUNT,
            stage in 0usize..3,
            type_stage in 0usize..3,
        ) -> Open {
            let mut o = Open::new(detected_ms, month, minute, category, sector, province, severity);
            o.first_category = first_category as u16;
            o.times = times;
            o.stage = Stage::from_index(stage);
            o.type_stage = Stage::from_index(type_stage);
            o
        }
    }

    proptest! {
        /// Any incidents, compact, come back as they were; the same
        /// incidents in 49 fixed bytes too; a compact one cut short is an
        /// error.
        #[test]
        fn compact_incidents_round_trip(
            opens in proptest::collection::vec(open(4, 3, 5), 1..20),
            ids in proptest::collection::vec(any::<(u64, u64)>(), 20),
        ) {
            let l = ledger();
            let opens: Vec<(IdHash, Open)> = opens
                .into_iter()
                .zip(ids)
                .map(|(o, (a, b))| (IdHash::from_words(a, b), o))
                .collect();
            let mut w = Writer::default();
            let mut before = (0, 0);
            for (id, o) in &opens {
                write_open_compact(&mut w, id, o, &mut before);
            }
            let mut r = Reader::new(&w.buf);
            let mut before = (0, 0);
            for want in &opens {
                let got = read_open_compact(&mut r, &l, &mut before).unwrap();
                prop_assert_eq!(&got, want);
            }
            prop_assert!(r.is_empty());
            let mut r = Reader::new(&w.buf[..w.buf.len() - 1]);
            let mut before = (0, 0);
            prop_assert!((0..opens.len()).try_for_each(|_| read_open_compact(&mut r, &l, &mut before).map(|_| ())).is_err());
            let mut w = Writer::default();
            for (id, o) in &opens {
                write_open(&mut w, id, o);
            }
            prop_assert_eq!(w.buf.len(), opens.len() * OPEN_BYTES);
            let mut r = Reader::new(&w.buf);
            for want in &opens {
                prop_assert_eq!(&read_open(&mut r, &l).unwrap(), want);
            }
        }
    }
}
