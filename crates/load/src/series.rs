//! [`LoadSeries`]: a run measured per window of virtual time, the picture
//! every incident review draws (offered load, goodput, retries, p99).

use std::time::Duration;

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
    /// Backend busy time (sum of service times), microseconds, each service
    /// split over the windows it spans (`add_busy`).
    pub busy_us: Vec<u64>,
    /// Latencies of succeeded operations (microseconds), by completion window.
    pub latency_us: Vec<retrylab_stats::LatencyHistogram>,
}

/// Why two series cannot be merged: their windows differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowMismatch {
    pub ours_ms: u64,
    pub theirs_ms: u64,
}

impl std::fmt::Display for WindowMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "load series: windows of {} ms and {} ms cannot be merged", self.ours_ms, self.theirs_ms)
    }
}

impl std::error::Error for WindowMismatch {}

impl LoadSeries {
    /// An empty series of one run with windows of `window` (whole
    /// milliseconds, at least 1).
    pub fn new(window: Duration) -> Self {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        LoadSeries { window_ms, runs: 1, ..LoadSeries::default() }
    }

    /// The window that holds `at`.
    fn index(&self, at: Duration) -> usize {
        let index = at.as_millis() / u128::from(self.window_ms.max(1));
        usize::try_from(index).unwrap_or(usize::MAX)
    }

    pub fn add_offered(&mut self, at: Duration) {
        let index = self.index(at);
        bump(&mut self.offered, index, 1);
    }

    /// One request sent to the backend at `at`; `retry`: not the operation's first.
    pub fn add_attempt(&mut self, at: Duration, retry: bool) {
        let index = self.index(at);
        bump(&mut self.attempts, index, 1);
        if retry {
            bump(&mut self.retries, index, 1);
        }
    }

    /// An operation that succeeded at `at` after `latency_us` microseconds.
    pub fn add_success(&mut self, at: Duration, latency_us: u64) {
        let index = self.index(at);
        bump(&mut self.succeeded, index, 1);
        grow(&mut self.latency_us, index);
        self.latency_us[index].add(latency_us);
    }

    pub fn add_failure(&mut self, at: Duration) {
        let index = self.index(at);
        bump(&mut self.failed, index, 1);
    }

    pub fn add_gave_up(&mut self, at: Duration) {
        let index = self.index(at);
        bump(&mut self.gave_up, index, 1);
    }

    pub fn add_rejected(&mut self, at: Duration) {
        let index = self.index(at);
        bump(&mut self.rejected, index, 1);
    }

    /// Backend busy from `start` for `service`, split over the windows it spans.
    pub fn add_busy(&mut self, start: Duration, service: Duration) {
        add_split_us(&mut self.busy_us, self.window_ms.saturating_mul(1000), start, service);
    }

    /// Adds `other`'s counts to these, window by window (the shorter series
    /// extended), and its runs to these. A series with no runs and no
    /// window (`LoadSeries::default()`) takes `other`'s window, so merging
    /// can start from the default.
    pub fn merge(&mut self, other: &LoadSeries) -> Result<(), WindowMismatch> {
        if self.runs == 0 && self.window_ms == 0 {
            self.window_ms = other.window_ms;
        }
        if self.window_ms != other.window_ms {
            return Err(WindowMismatch { ours_ms: self.window_ms, theirs_ms: other.window_ms });
        }
        self.runs += other.runs;
        add_counts(&mut self.offered, &other.offered);
        add_counts(&mut self.attempts, &other.attempts);
        add_counts(&mut self.retries, &other.retries);
        add_counts(&mut self.succeeded, &other.succeeded);
        add_counts(&mut self.failed, &other.failed);
        add_counts(&mut self.gave_up, &other.gave_up);
        add_counts(&mut self.rejected, &other.rejected);
        add_counts(&mut self.busy_us, &other.busy_us);
        if let Some(last) = other.latency_us.len().checked_sub(1) {
            grow(&mut self.latency_us, last);
        }
        for (ours, theirs) in self.latency_us.iter_mut().zip(&other.latency_us) {
            ours.merge(theirs);
        }
        Ok(())
    }

    /// Windows holding any count (the longest vector).
    pub fn windows(&self) -> usize {
        [
            self.offered.len(),
            self.attempts.len(),
            self.retries.len(),
            self.succeeded.len(),
            self.failed.len(),
            self.gave_up.len(),
            self.rejected.len(),
            self.busy_us.len(),
            self.latency_us.len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }

    /// Operations succeeded per second in window `i`, the mean over runs.
    pub fn goodput_per_s(&self, i: usize) -> f64 {
        self.per_run_per_s(&self.succeeded, i)
    }

    /// Operations arriving per second in window `i`, the mean over runs.
    pub fn offered_per_s(&self, i: usize) -> f64 {
        self.per_run_per_s(&self.offered, i)
    }

    /// Backend requests (first tries and retries) per second in window `i`, the mean over runs.
    pub fn attempts_per_s(&self, i: usize) -> f64 {
        self.per_run_per_s(&self.attempts, i)
    }

    /// Retries per second in window `i`, the mean over runs.
    pub fn retries_per_s(&self, i: usize) -> f64 {
        self.per_run_per_s(&self.retries, i)
    }

    /// Busy server-seconds per second in window `i` (the utilisation times
    /// the servers), the mean over runs.
    pub fn busy_per_s(&self, i: usize) -> f64 {
        self.per_run_per_s(&self.busy_us, i) / 1e6
    }

    /// The nearest-rank p99 of the latencies of the operations that
    /// succeeded in window `i` (over every run), milliseconds; `None` if none did.
    pub fn latency_ms_p99(&self, i: usize) -> Option<f64> {
        let p99_us = self.latency_us.get(i)?.percentile_nearest_rank(0.99)?;
        Some(p99_us as f64 / 1000.0)
    }

    /// Retries over attempts, over the whole series; `None` without attempts.
    pub fn retry_share(&self) -> Option<f64> {
        let attempts: u64 = self.attempts.iter().sum();
        let retries: u64 = self.retries.iter().sum();
        (attempts > 0).then(|| retries as f64 / attempts as f64)
    }

    /// `counts[i]` per second of window and per run (0 past the end or without runs).
    fn per_run_per_s(&self, counts: &[u64], i: usize) -> f64 {
        let count = counts.get(i).copied().unwrap_or(0);
        if self.runs == 0 || self.window_ms == 0 {
            return 0.0;
        }
        count as f64 / self.runs as f64 / (self.window_ms as f64 / 1000.0)
    }
}

/// Adds `amount` to `counts[index]`, growing `counts` with zeros.
fn bump(counts: &mut Vec<u64>, index: usize, amount: u64) {
    grow(counts, index);
    counts[index] = counts[index].saturating_add(amount);
}

/// Makes `items[index]` exist.
fn grow<T: Default + Clone>(items: &mut Vec<T>, index: usize) {
    if items.len() <= index {
        items.resize(index + 1, T::default());
    }
}

fn add_counts(ours: &mut Vec<u64>, theirs: &[u64]) {
    if ours.len() < theirs.len() {
        ours.resize(theirs.len(), 0);
    }
    for (our, their) in ours.iter_mut().zip(theirs) {
        *our = our.saturating_add(*their);
    }
}

/// Adds the interval `[start, start + length)`, in whole microseconds, to
/// `counts` (one per window of `window_us`), split over the windows it
/// spans: busy time per window, so a long service shows where it ran.
/// A zero window counts nothing.
pub(crate) fn add_split_us(counts: &mut Vec<u64>, window_us: u64, start: Duration, length: Duration) {
    if window_us == 0 {
        return;
    }
    let mut from_us = u64::try_from(start.as_micros()).unwrap_or(u64::MAX);
    let end_us = from_us.saturating_add(u64::try_from(length.as_micros()).unwrap_or(u64::MAX));
    while from_us < end_us {
        let index = from_us / window_us;
        let window_end_us = index.saturating_add(1).saturating_mul(window_us);
        let until_us = end_us.min(window_end_us);
        bump(counts, usize::try_from(index).unwrap_or(usize::MAX), until_us - from_us);
        from_us = until_us;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn events_land_in_their_windows() {
        let mut series = LoadSeries::new(ms(500));
        series.add_offered(ms(0));
        series.add_offered(ms(499));
        series.add_offered(ms(500));
        series.add_attempt(ms(10), false);
        series.add_attempt(ms(1_200), true);
        series.add_success(ms(1_100), 2_000);
        series.add_failure(ms(30));
        series.add_gave_up(ms(1_600));
        series.add_rejected(ms(2_100));
        assert_eq!(series.offered, [2, 1]);
        assert_eq!(series.attempts, [1, 0, 1]);
        assert_eq!(series.retries, [0, 0, 1]);
        assert_eq!(series.succeeded, [0, 0, 1]);
        assert_eq!(series.failed, [1]);
        assert_eq!(series.gave_up, [0, 0, 0, 1]);
        assert_eq!(series.rejected, [0, 0, 0, 0, 1]);
        assert_eq!(series.windows(), 5);
        // Per second: 2 in half a second.
        assert_eq!(series.offered_per_s(0), 4.0);
        assert_eq!(series.goodput_per_s(2), 2.0);
        assert_eq!(series.goodput_per_s(99), 0.0);
        assert_eq!(series.retry_share(), Some(0.5));
        assert_eq!(LoadSeries::new(ms(500)).retry_share(), None);
    }

    #[test]
    fn busy_time_splits_over_windows() {
        let mut series = LoadSeries::new(ms(10));
        series.add_busy(ms(5), ms(22));
        assert_eq!(series.busy_us, [5_000, 10_000, 7_000]);
        assert_eq!(series.busy_per_s(1), 1.0);
    }

    #[test]
    fn merged_series_add_and_average_per_run() {
        let mut one = LoadSeries::new(ms(1_000));
        let mut two = LoadSeries::new(ms(1_000));
        for at in [0, 100, 200, 1_500] {
            one.add_success(ms(at), 10);
        }
        for at in [50, 2_500, 2_600] {
            two.add_success(ms(at), 20);
        }
        two.add_attempt(ms(3_000), true);
        let mut merged = LoadSeries::default();
        merged.merge(&one).unwrap();
        merged.merge(&two).unwrap();
        assert_eq!(merged.runs, 2);
        assert_eq!(merged.succeeded, [4, 1, 2]);
        assert_eq!(merged.retries, [0, 0, 0, 1]);
        assert_eq!(merged.windows(), 4);
        assert_eq!(merged.goodput_per_s(0), 2.0);
        assert_eq!(merged.goodput_per_s(2), 1.0);
        assert_eq!(merged.retries_per_s(3), 0.5);
        assert_eq!(merged.latency_us[0].count(), 4);
        let coarse = LoadSeries::new(ms(2_000));
        assert_eq!(merged.merge(&coarse), Err(WindowMismatch { ours_ms: 1_000, theirs_ms: 2_000 }));
        assert_eq!(merged.runs, 2, "a refused merge changes nothing");
    }

    #[test]
    fn p99_is_the_nearest_rank_of_the_window() {
        let mut series = LoadSeries::new(ms(1_000));
        for latency_us in 1..=200 {
            series.add_success(ms(10), latency_us * 1_000);
        }
        // Nearest rank: the 198th of 200 values.
        assert_eq!(series.latency_ms_p99(0), Some(198.0));
        assert_eq!(series.latency_ms_p99(1), None);
        series.add_failure(ms(1_500));
        assert_eq!(series.latency_ms_p99(1), None);
    }
}
