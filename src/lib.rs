pub mod calendar;
pub mod classify;
pub mod config;
pub mod dedup;
pub mod event;
pub mod pipeline;
pub mod state;
pub mod window;
