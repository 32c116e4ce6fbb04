//! The consumer's context: statistics (lag, broker health), client errors
//! and rebalances, shared between librdkafka's callbacks (run inside
//! `recv`, on the consume task) and the consume loop.
//!
//! Assignment claims and restores each assigned partition's state first
//! (on the apply thread, in order with the batches), then assigns the
//! partition at the offset its checkpoint covers: no message of it is
//! fetched before its state is there, and a group offset committed by an
//! owner whose checkpoints were fenced off is not followed.
//!
//! Revocation hands the revoked partitions over: their messages still in
//! flight are applied, their states checkpointed and forgotten, their
//! positions committed, before the group moves them. The callback must wait
//! for that, but never holds up a runtime worker: on the multi-thread
//! runtime it runs inside `block_in_place` (tokio moves the worker's other
//! tasks: the endpoint, the timers), and the wait is bounded by
//! `kafka.drain_timeout_secs`. Past the bound the revocation goes on
//! without a commit; the apply thread still writes the checkpoint when it
//! gets there (a state topic takes it only while this process's claim is
//! current). A partition reported lost (this member was thrown out of the
//! group) is forgotten without writing anything.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use super::client::{BrokerHealth, commit, partition_key};
use crate::pipeline::Stage;
use crate::state::PartitionKey;

pub struct MonitorContext {
    /// The apply stage: revoked partitions are released through it.
    pub stage: Arc<Stage>,
    pub topic: String,
    /// Consumer lag per partition, from librdkafka statistics.
    pub lag: Mutex<BTreeMap<i32, i64>>,
    /// Partitions currently assigned.
    pub assigned: Mutex<Vec<i32>>,
    /// The group has answered with an assignment (possibly empty).
    pub assignment_seen: std::sync::atomic::AtomicBool,
    /// Which brokers can be reached, from statistics and error callbacks.
    pub brokers: Mutex<BrokerHealth>,
    /// How long a revocation may wait for the apply thread.
    pub handover: Duration,
}

impl MonitorContext {
    pub fn new(stage: Arc<Stage>, topic: &str, handover: Duration) -> MonitorContext {
        MonitorContext {
            stage,
            topic: topic.to_owned(),
            lag: Mutex::new(BTreeMap::new()),
            assigned: Mutex::new(Vec::new()),
            assignment_seen: std::sync::atomic::AtomicBool::new(false),
            brokers: Mutex::new(BrokerHealth::new(Instant::now())),
            handover,
        }
    }

    /// The group gave this member no partition (after answering): more
    /// members than the input has partitions.
    pub fn has_none(&self) -> bool {
        self.assignment_seen
            .load(std::sync::atomic::Ordering::Relaxed)
            && self.assigned().is_empty()
    }

    /// Partitions assigned now.
    pub fn assigned(&self) -> Vec<i32> {
        self.assigned.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Checkpoints, forgets and commits revoked partitions.
    fn hand_over(&self, consumer: &BaseConsumer<Self>, keys: Vec<PartitionKey>) {
        let partitions: Vec<i32> = keys.iter().map(|k| k.partition).collect();
        let released = self.stage.release_blocking(keys, self.handover);
        match released {
            Ok(positions) => {
                if let Err(e) = commit(consumer, &self.topic, &positions, CommitMode::Sync) {
                    tracing::warn!(error = %e, "commit on revoke failed; the next owner resumes from the checkpoint");
                }
                tracing::info!(partitions = ?partitions, "partitions revoked: checkpointed and handed over");
            }
            Err(e) => tracing::error!(
                error = %e,
                partitions = ?partitions,
                "revoked partitions were not checkpointed in time: the next owner resumes from the last committed offset"
            ),
        }
    }
}

/// Runs blocking work from inside a poll without holding up other tasks:
/// on a multi-thread runtime `block_in_place` first moves this worker's
/// other tasks elsewhere; on a current-thread runtime (nothing to move them
/// to) it runs here, after leaving the runtime context so blocking channel
/// operations are allowed.
fn off_the_workers<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        // A scoped thread is outside the runtime: blocking sends are allowed.
        Ok(_) => std::thread::scope(|s| match s.spawn(f).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
        Err(_) => f(),
    }
}

impl ClientContext for MonitorContext {
    fn stats(&self, stats: Statistics) {
        if let Ok(mut b) = self.brokers.lock() {
            b.on_stats(
                stats
                    .brokers
                    .values()
                    .map(|b| (b.nodename.as_str(), b.state.as_str(), b.source.as_str())),
                Instant::now(),
            );
        }
        let Some(t) = stats.topics.get(&self.topic) else {
            return;
        };
        if let Ok(mut lag) = self.lag.lock() {
            lag.clear();
            for (p, s) in &t.partitions {
                // -1 is the internal "unassigned" partition; a negative lag is
                // unknown (no fetch yet).
                if *p >= 0 && s.consumer_lag >= 0 {
                    lag.insert(*p, s.consumer_lag);
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        use rdkafka::types::RDKafkaErrorCode;
        // End of partition arrives here too (enable.partition.eof): not an error.
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::PartitionEOF)
        ) {
            tracing::debug!(reason, "end of partition");
            return;
        }
        if let Ok(mut b) = self.brokers.lock() {
            b.on_error(error.rdkafka_error_code(), reason);
        }
        tracing::warn!(error = %error, reason, "kafka client error");
    }
}

/// The partition keys of a rebalance's partitions.
fn keys_of(tpl: &TopicPartitionList) -> Vec<PartitionKey> {
    tpl.elements()
        .iter()
        .map(|e| partition_key(e.topic(), e.partition()))
        .collect()
}

impl MonitorContext {
    /// Assignment: claim and restore each partition's state first, then
    /// assign it at the position its checkpoint covers, so no message of
    /// it is fetched before its state is there, and a group offset that
    /// ran ahead of the state (committed by an owner whose checkpoints
    /// were fenced off) is not followed.
    fn on_assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        self.assignment_seen
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let keys = keys_of(tpl);
        let parts: Vec<i32> = keys.iter().map(|k| k.partition).collect();
        if let Ok(mut a) = self.assigned.lock() {
            // Cooperative protocols assign increments; eager ones the
            // whole assignment.
            if cooperative(consumer) {
                for p in &parts {
                    if !a.contains(p) {
                        a.push(*p);
                    }
                }
            } else {
                *a = parts.clone();
            }
        }
        match off_the_workers(|| self.stage.acquire_blocking(keys)) {
            Ok(restored) => {
                let resume: Vec<(String, i32, u64)> = tpl
                    .elements()
                    .iter()
                    .filter_map(|e| {
                        let key = partition_key(e.topic(), e.partition());
                        restored
                            .iter()
                            .find(|(k, _)| *k == key)
                            .and_then(|(_, at)| *at)
                            .map(|at| (e.topic().to_owned(), e.partition(), at))
                    })
                    .collect();
                for (topic, p, at) in &resume {
                    let offset = i64::try_from(*at).map_or(Offset::End, Offset::Offset);
                    if let Err(e) = tpl.set_partition_offset(topic, *p, offset) {
                        tracing::warn!(error = %e, partition = p, "cannot set the resume offset");
                    }
                }
                tracing::info!(partitions = ?parts, resume = ?resume.iter().map(|(_, p, at)| (*p, *at)).collect::<Vec<_>>(), "partitions assigned and restored");
            }
            Err(e) => {
                tracing::error!(error = %e, partitions = ?parts, "cannot restore the assigned partitions")
            }
        }
        let assigned = if cooperative(consumer) {
            consumer.incremental_assign(tpl)
        } else {
            consumer.assign(tpl)
        };
        if let Err(e) = assigned {
            tracing::error!(error = %e, partitions = ?parts, "cannot assign partitions");
        }
    }

    /// Revocation: hand the partitions over before the group moves them,
    /// so the next owner starts exactly where this one stopped; partitions
    /// lost (this member was thrown out of the group, say after a pause
    /// past its session timeout) are forgotten without writing anything:
    /// their new owner has gone on from the last checkpoint.
    fn on_revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let keys = keys_of(tpl);
        if let Ok(mut a) = self.assigned.lock() {
            a.retain(|p| !keys.iter().any(|k| k.partition == *p));
        }
        if consumer.assignment_lost() {
            let parts: Vec<i32> = keys.iter().map(|k| k.partition).collect();
            tracing::warn!(partitions = ?parts, "partitions lost (this member left the group): forgetting them without writing");
            if let Err(e) = off_the_workers(|| self.stage.lose_blocking(keys)) {
                tracing::error!(error = %e, "cannot forget the lost partitions");
            }
        } else {
            off_the_workers(|| self.hand_over(consumer, keys));
        }
        self.unassign(consumer, tpl);
    }

    fn unassign(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let done = if cooperative(consumer) {
            consumer.incremental_unassign(tpl)
        } else {
            consumer.unassign()
        };
        if let Err(e) = done {
            tracing::error!(error = %e, "cannot unassign partitions");
        }
    }
}

fn cooperative(consumer: &BaseConsumer<MonitorContext>) -> bool {
    matches!(
        consumer.rebalance_protocol(),
        RebalanceProtocol::Cooperative
    )
}

impl ConsumerContext for MonitorContext {
    /// librdkafka's rebalance callback, replacing rust-rdkafka's default
    /// (which assigns before the state is restored).
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.on_assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.on_revoke(consumer, tpl),
            other => {
                tracing::warn!(error = ?other, "rebalance error");
                self.unassign(consumer, tpl);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What revocation does inside the callback: a blocking send into a
    /// tokio channel, which panics on a runtime thread unless moved off it.
    fn blocking_send_from_a_poll() -> u32 {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        off_the_workers(|| tx.blocking_send(7u32)).unwrap();
        rx.try_recv().unwrap()
    }

    #[test]
    fn revocation_work_runs_off_the_workers_on_any_runtime() {
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        assert_eq!(
            multi.block_on(async {
                tokio::spawn(async { blocking_send_from_a_poll() })
                    .await
                    .unwrap()
            }),
            7
        );
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(current.block_on(async { blocking_send_from_a_poll() }), 7);
        assert_eq!(blocking_send_from_a_poll(), 7, "no runtime at all");
    }
}
