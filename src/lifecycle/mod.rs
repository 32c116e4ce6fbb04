//! Incident lifecycle (spec §4 "Updates"): the stages an incident moves
//! through (`recorded`, `warned`, `handled`: the centre's "ghi nhận, cảnh
//! báo và hướng dẫn xử lý"), the configured status words that name them,
//! the detection-to-stage times kept per month and category
//! ([`StageTimes`]), and the per-partition table of incidents whose later
//! messages can still move them ([`Lifecycle`]).
//!
//! Pure and synchronous, above `dedup` (whose ids, arrival hours and
//! links it uses) and below `calendar` (whose months keep the stage
//! counts and times).

mod stage;
mod table;

pub use stage::{
    BUCKETS_SECS, MAX_TIME_SECS, Moved, Note, Stage, StageTimes, StageWords, TimeBuckets,
    TimeSummary, quantize,
};
pub use table::{Chunk, Found, Lifecycle, NO_TIME, Open, PER_CHUNK};
