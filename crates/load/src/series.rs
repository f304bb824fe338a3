//! [`LoadSeries`]: a run measured per window of virtual time, the picture
//! every incident review draws (offered load, goodput, retries, p99).

use serde::{Deserialize, Serialize};

/// Counts per window of `window_ms` (window i covers [i w, (i + 1) w));
/// vectors grow as events land. Series of many runs add (`merge`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadSeries {
    pub window_ms: u64,
    /// Runs added together (1 for one run).
    pub runs: u64,
    /// Operations arriving (offered load).
    pub offered: Vec<u64>,
    /// Requests sent to the backend: first tries and retries.
    pub attempts: Vec<u64>,
    /// Of the attempts, retries.
    pub retries: Vec<u64>,
    /// Operations that succeeded, by completion window (goodput).
    pub succeeded: Vec<u64>,
    /// Operations that failed (final error), by completion window.
    pub failed: Vec<u64>,
    /// Operations whose deadline passed (the client gave up), by that window.
    pub gave_up: Vec<u64>,
    /// Operations the client refused to start (concurrency limit), by arrival window.
    pub rejected: Vec<u64>,
    /// Backend busy time (sum of service times), microseconds, by service start window.
    pub busy_us: Vec<u64>,
    /// Latencies of succeeded operations (microseconds), by completion window.
    pub latency_us: Vec<retrylab_stats::LatencyHistogram>,
}

// Interface stubs (the helper implements them on its branch).
impl LoadSeries {
    pub fn new(window: std::time::Duration) -> Self {
        let _ = window;
        todo!("helper")
    }
    pub fn add_offered(&mut self, at: std::time::Duration) {
        let _ = at;
        todo!("helper")
    }
    pub fn add_attempt(&mut self, at: std::time::Duration, retry: bool) {
        let _ = (at, retry);
        todo!("helper")
    }
    pub fn add_success(&mut self, at: std::time::Duration, latency_us: u64) {
        let _ = (at, latency_us);
        todo!("helper")
    }
    pub fn add_failure(&mut self, at: std::time::Duration) {
        let _ = at;
        todo!("helper")
    }
    pub fn add_gave_up(&mut self, at: std::time::Duration) {
        let _ = at;
        todo!("helper")
    }
    pub fn add_rejected(&mut self, at: std::time::Duration) {
        let _ = at;
        todo!("helper")
    }
}

// More interface stubs (the helper implements them on its branch).
impl LoadSeries {
    pub fn merge(&mut self, other: &LoadSeries) {
        let _ = other;
        todo!("helper")
    }
    pub fn windows(&self) -> usize {
        todo!("helper")
    }
    pub fn goodput_per_s(&self, i: usize) -> f64 {
        let _ = i;
        todo!("helper")
    }
    pub fn offered_per_s(&self, i: usize) -> f64 {
        let _ = i;
        todo!("helper")
    }
    pub fn attempts_per_s(&self, i: usize) -> f64 {
        let _ = i;
        todo!("helper")
    }
    pub fn retries_per_s(&self, i: usize) -> f64 {
        let _ = i;
        todo!("helper")
    }
    pub fn latency_ms_p99(&self, i: usize) -> Option<f64> {
        let _ = i;
        todo!("helper")
    }
    pub fn retry_share(&self) -> f64 {
        todo!("helper")
    }
}
