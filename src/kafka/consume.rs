//! Taking messages from the consumer into the apply stage, and what the
//! loop learns doing it: errors in a row, the partitions at their end,
//! the messages read.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures_core::Stream;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, MessageStream, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::BorrowedMessage;

use super::client::copy_message;
use super::context::MonitorContext;
use crate::count::Batch;
use crate::pipeline::{AppError, Stage};

/// Messages taken from librdkafka per turn of the loop, at most.
const TURN: usize = crate::pipeline::BATCH;

/// What the loop does next.
#[derive(Debug, PartialEq)]
pub(super) enum Step {
    /// Keep consuming.
    More,
    /// Every assigned partition is read to its end and applied.
    Drained,
    /// The consumer failed: wait this long before the next receive.
    Backoff(Duration),
}

/// One message, seen without holding it across an await.
enum Taken {
    Message(Option<Batch>),
    Eof,
    Failed(KafkaError),
}

/// State of consumption across turns.
pub(super) struct Consume {
    until_end: bool,
    max_backoff: Duration,
    eof: BTreeSet<i32>,
    pub(super) errors_in_a_row: u32,
    pub(super) last_error: String,
    /// Messages read by this run.
    pub(super) messages: u64,
    /// When the first message arrived (throughput excludes the group join).
    pub(super) first_message: Option<Instant>,
}

impl Consume {
    pub(super) fn new(until_end: bool, max_backoff: Duration) -> Consume {
        Consume {
            until_end,
            max_backoff,
            eof: BTreeSet::new(),
            errors_in_a_row: 0,
            last_error: String::new(),
            messages: 0,
            first_message: None,
        }
    }

    /// Takes `first` and whatever librdkafka already holds after it,
    /// without going back through the loop's `select!` for each message (no
    /// timer polls per message), into the stage; hands the batch over when
    /// nothing more is ready. Bounded (`TURN` messages), so the loop sees
    /// its ticks and shutdown at least that often.
    pub(super) async fn turn(
        &mut self,
        first: KafkaResult<BorrowedMessage<'_>>,
        messages: &mut MessageStream<'_, MonitorContext>,
        consumer: &StreamConsumer<MonitorContext>,
        stage: &Stage,
    ) -> Result<Step, AppError> {
        let mut taken = self.take(first, stage)?;
        let mut turns = 1;
        loop {
            match taken {
                Taken::Message(Some(full)) => stage.send(full).await?,
                Taken::Message(None) => {}
                Taken::Eof if self.drained(consumer.context()) => {
                    // Drained means applied, not only read.
                    stage.flush().await?;
                    self.log_drained(consumer.context());
                    return Ok(Step::Drained);
                }
                Taken::Eof => {}
                Taken::Failed(e) => {
                    stage.send_pending().await?;
                    return Ok(Step::Backoff(self.failed(&e)));
                }
            }
            if turns == TURN {
                break;
            }
            // Every message taken is handled in the next round (a full
            // batch it completed is sent there).
            taken = match ready_now(next(messages)) {
                Some(m) => self.take(m, stage)?,
                None => break,
            };
            turns += 1;
        }
        stage.send_pending().await?;
        Ok(Step::More)
    }

    /// Copies one message into the stage (no await: a borrowed message
    /// never lives across one).
    fn take(
        &mut self,
        m: KafkaResult<BorrowedMessage<'_>>,
        stage: &Stage,
    ) -> Result<Taken, AppError> {
        Ok(match m {
            Ok(m) => {
                self.errors_in_a_row = 0;
                self.messages += 1;
                self.first_message.get_or_insert_with(Instant::now);
                self.eof.remove(&m.partition());
                Taken::Message(stage.push(|b| copy_message(b, &m))?)
            }
            Err(KafkaError::PartitionEOF(p)) => {
                self.eof.insert(p);
                Taken::Eof
            }
            Err(e) => Taken::Failed(e),
        })
    }

    /// A drain is over once every assigned partition is at its end.
    fn drained(&self, ctx: &MonitorContext) -> bool {
        let assigned = ctx.assigned();
        self.until_end && !assigned.is_empty() && assigned.iter().all(|a| self.eof.contains(a))
    }

    fn log_drained(&self, ctx: &MonitorContext) {
        let secs = self
            .first_message
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        tracing::info!(
            topic = %ctx.topic,
            partitions = ?ctx.assigned(),
            messages = self.messages,
            secs_since_first_message = secs,
            messages_per_sec = if secs > 0.0 { self.messages as f64 / secs } else { 0.0 },
            "every assigned partition of the topic is drained"
        );
    }

    /// Records a consumer error; returns how long to wait (doubling per
    /// error in a row, capped; a drain wakes at least every second to give
    /// up on time).
    fn failed(&mut self, e: &KafkaError) -> Duration {
        self.errors_in_a_row += 1;
        self.last_error = e.to_string();
        let backoff = Duration::from_secs(1 << self.errors_in_a_row.min(6)).min(self.max_backoff);
        if self.errors_in_a_row <= 3 || self.errors_in_a_row.is_power_of_two() {
            tracing::warn!(error = %e, attempt = self.errors_in_a_row, backoff_secs = backoff.as_secs(), "consumer error; retrying");
        }
        if self.until_end {
            backoff.min(Duration::from_secs(1))
        } else {
            backoff
        }
    }
}

/// The stream's next message. It never ends (rust-rdkafka's own `recv`
/// says so); were it to, the loop would see an error and back off.
pub(super) async fn next<'a>(
    messages: &mut MessageStream<'a, MonitorContext>,
) -> KafkaResult<BorrowedMessage<'a>> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *messages).poll_next(cx))
        .await
        .unwrap_or(Err(KafkaError::NoMessageReceived))
}

/// The output of a future if it is ready now, without waiting. The waker is
/// a no-op: a pending future is dropped and polled afresh by the loop.
fn ready_now<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
