//! Sources of messages. A source delivers batches of raw messages with their
//! positions over a bounded channel; the async loop in `app` applies them.

pub mod file;
pub mod kafka;
