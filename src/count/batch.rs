//! A batch of messages of one source: what every source hands to the
//! counting core, and the one shape [`super::Monitor::apply`] takes.
//!
//! Each message is a (partition, offset, payload) with the position after
//! it: for Kafka the next offset, for a file the byte after the line. The
//! payloads live in one buffer (copied once, from librdkafka or read into
//! it straight from the file); batches are emptied and reused, so a run
//! allocates nothing per message.

use std::ops::Range;

use super::engine::{Engine, Prepared};
use crate::state::Source;

/// Where one message came from, and where its bytes are in the batch.
#[derive(Debug, Clone)]
pub struct Item {
    pub partition: i32,
    /// The message's position in its partition.
    pub offset: u64,
    /// The position after it (what a checkpoint after it records).
    pub next: u64,
    /// When the source received it (Kafka), for the latency histogram.
    pub timestamp_ms: Option<i64>,
    payload: Range<usize>,
    key: Option<Range<usize>>,
}

/// Messages of one source (one [`crate::state::PartitionKey::source`]),
/// in the order they were read, and once prepared, their parsed forms.
#[derive(Debug, Default)]
pub struct Batch {
    source: Source,
    data: Vec<u8>,
    items: Vec<Item>,
    prepared: Vec<Prepared>,
    /// Blank lines of a file or stdin skipped among the messages (counted,
    /// not messages).
    blank_lines: u64,
    /// For a file: the position after the batch's last line (blank lines
    /// included) and the XXH3-64 hash of every byte of the file before it.
    file_end: Option<(u64, u64)>,
}

impl Batch {
    pub fn new(source: Source) -> Batch {
        Batch {
            source,
            ..Batch::default()
        }
    }

    /// The source its messages belong to.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Copies one message in.
    pub fn push(
        &mut self,
        partition: i32,
        offset: u64,
        next: u64,
        timestamp_ms: Option<i64>,
        payload: &[u8],
        key: Option<&[u8]>,
    ) {
        let payload = self.copy(payload);
        let key = key.map(|k| self.copy(k));
        self.items.push(Item {
            partition,
            offset,
            next,
            timestamp_ms,
            payload,
            key,
        });
    }

    fn copy(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        start..self.data.len()
    }

    /// The buffer, for a source that reads into it directly and then
    /// names its messages with [`Batch::push_range`].
    pub fn data_mut(&mut self) -> &mut Vec<u8> {
        &mut self.data
    }

    /// Names bytes already in the buffer as one message. A range outside
    /// the buffer is clamped to it (an empty payload, which the decoder
    /// rejects), never a panic.
    pub fn push_range(&mut self, partition: i32, offset: u64, next: u64, payload: Range<usize>) {
        let end = payload.end.min(self.data.len());
        let start = payload.start.min(end);
        self.items.push(Item {
            partition,
            offset,
            next,
            timestamp_ms: None,
            payload: start..end,
            key: None,
        });
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes held for payloads and keys.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    pub fn payload(&self, item: &Item) -> &[u8] {
        self.data.get(item.payload.clone()).unwrap_or_default()
    }

    pub fn key(&self, item: &Item) -> Option<&[u8]> {
        item.key.clone().and_then(|r| self.data.get(r))
    }

    /// Parses and classifies every message not prepared yet (the part of
    /// the work that reads no partition state: any thread may do it).
    pub fn prepare(&mut self, engine: &mut Engine) {
        self.prepare_first(engine, self.items.len());
    }

    /// Prepares the messages not prepared yet among the first `n`, so two
    /// threads can share the work of one batch: one prepares a part, the
    /// other [`Batch::prepare`]s the rest.
    pub fn prepare_first(&mut self, engine: &mut Engine, n: usize) {
        let Batch {
            data,
            items,
            prepared,
            ..
        } = self;
        let end = n.min(items.len());
        let done = prepared.len().min(end);
        prepared.extend(
            items[done..end]
                .iter()
                .map(|it| engine.prepare(data.get(it.payload.clone()).unwrap_or_default())),
        );
    }

    /// The prepared messages, index for index with [`Batch::items`] (as
    /// many as were prepared).
    pub fn prepared(&self) -> &[Prepared] {
        &self.prepared
    }

    /// Empties the batch for reuse, keeping its buffers.
    pub fn clear(&mut self) {
        self.data.clear();
        self.items.clear();
        self.prepared.clear();
        self.blank_lines = 0;
        self.file_end = None;
    }

    /// Counts a blank line skipped by the source.
    pub fn count_blank_line(&mut self) {
        self.blank_lines += 1;
    }

    /// Blank lines skipped among the batch's messages.
    pub fn blank_lines(&self) -> u64 {
        self.blank_lines
    }

    /// Records where a file's batch ends and the hash of the bytes before
    /// that position (see [`crate::state::FileIdentity`]).
    pub fn set_file_end(&mut self, next_offset: u64, prefix_hash: u64) {
        self.file_end = Some((next_offset, prefix_hash));
    }

    /// The position after a file's batch and the hash of the bytes before
    /// it, if the source is a file.
    pub fn file_end(&self) -> Option<(u64, u64)> {
        self.file_end
    }
}

#[cfg(test)]
impl Batch {
    /// `n` distinct valid incidents of one partition from offset `from`
    /// (for tests of what handles batches).
    pub(crate) fn of_incidents(topic: &str, partition: i32, from: u64, n: u64) -> Batch {
        let mut b = Batch::new(Source::kafka(topic));
        for o in from..from + n {
            let line = format!(
                r#"{{"id":"i-{partition}-{o}","time":"2022-06-01T00:00:00Z","type":"ddos"}}"#
            );
            b.push(partition, o, o + 1, None, line.as_bytes(), None);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prepared a part at a time (the reader's steps, past the end too),
    /// then the rest: each message once, in order, as in one go.
    #[test]
    fn prepared_in_steps_is_prepared_once_in_order() {
        let settings = crate::config::Config::default().validate().unwrap();
        let mut engine = Engine::new(settings);
        let batch = || {
            let mut b = Batch::of_incidents("t", 0, 0, 50);
            b.push(0, 50, 51, None, b"not json", None);
            b
        };
        let mut whole = batch();
        whole.prepare(&mut engine);
        let mut b = batch();
        let mut most = 0;
        for n in [0, 7, 7, 3, 20, 64, 40] {
            b.prepare_first(&mut engine, n);
            most = most.max(n).min(51);
            assert_eq!(b.prepared(), &whole.prepared()[..most]);
        }
        b.prepare(&mut engine);
        assert_eq!(b.prepared(), whole.prepared());
    }
}
