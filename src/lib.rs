pub mod classify;
pub mod config;
pub mod event;
