pub mod calendar;
pub mod classify;
pub mod config;
pub mod dedup;
pub mod event;
pub mod window;
