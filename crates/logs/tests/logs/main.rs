//! retrylab-logs' tests through its public API: one binary (each tests/ file would link its own).

mod access;
mod client;
mod properties;
