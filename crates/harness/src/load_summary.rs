//! A policy's runs under load, summed ([`LoadSummary`], exact and
//! mergeable across shards) and summarised with intervals over seeds
//! ([`LoadEstimate`]): goodput, offered load and retries per window, the
//! share of requests that were retries, and recovery after the trigger.

use retrylab_load::LoadSeries;
use retrylab_stats::{clopper_pearson, mean_interval};
use serde::{Deserialize, Serialize};

use crate::load_workload::LoadReport;

/// The exact state: sums over runs, and per-seed recovery in seed order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    series: LoadSeries,
    /// Per seed with a baseline before the trigger: (baseline goodput per
    /// second, seconds to recover or `None` if it did not), in seed order.
    recoveries: Vec<(f64, Option<f64>)>,
    trigger_ms: Option<(u64, u64)>,
    measured_until_ms: u64,
    rejected: u64,
    gave_up: u64,
    s3_throttled: u64,
    s3_shed: u64,
    s3_queue_timeouts: u64,
    s3_served: u64,
    s3_wait_us: u64,
    s3_busy_us: u64,
    s3_splits: u64,
    s3_servers: u64,
}

/// One window of the mean run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoadWindow {
    /// The window's start, seconds.
    pub t_s: f64,
    pub offered_per_s: f64,
    pub goodput_per_s: f64,
    pub attempts_per_s: f64,
    pub retries_per_s: f64,
    /// Over every run's successes in the window; `None` when there were none.
    pub latency_ms_p99: Option<f64>,
}

/// How a policy behaved under load, over seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoadEstimate {
    pub window_s: f64,
    /// The trigger (slowdowns, outages, bursts), seconds.
    pub trigger_s: Option<(f64, f64)>,
    /// Seeds with a goodput baseline before the trigger.
    pub seeds_judged: u64,
    /// Of those, seeds whose goodput came back within 5% of the baseline
    /// before arrivals stopped; the rest stayed down (metastable).
    pub seeds_recovered: u64,
    /// Clopper-Pearson interval of the share of seeds that recover.
    pub recovered_ci_low: f64,
    pub recovered_ci_high: f64,
    /// Seconds from the trigger's end to recovery, over recovered seeds:
    /// mean with Student's t interval, and the worst.
    pub recovery_s_mean: Option<f64>,
    pub recovery_s_ci_low: Option<f64>,
    pub recovery_s_ci_high: Option<f64>,
    pub recovery_s_max: Option<f64>,
    /// Mean goodput before the trigger, operations per second.
    pub baseline_goodput_per_s: Option<f64>,
    /// Mean over the measured windows (until arrivals stop), per second.
    pub offered_per_s: f64,
    pub goodput_per_s: f64,
    /// Retries as a share of every request sent: the share of the
    /// backend's capacity spent on retries.
    pub retry_share: f64,
    pub deadline_exceeded: u64,
    pub rejected: u64,
    pub s3_throttled: u64,
    pub s3_shed: u64,
    pub s3_queue_timeouts: u64,
    pub s3_splits: u64,
    /// Mean wait in S3's queue, milliseconds (served requests).
    pub s3_wait_ms_mean: Option<f64>,
    /// The most goodput the mean run sustained over 5 windows, per second.
    pub goodput_per_s_max: f64,
    /// Where the mean run tipped over: the offered rate (mean over 5
    /// windows) at the point after which goodput never again came within
    /// 5% of the arrivals before they stopped; `None` if it kept up at the
    /// end. Read it on a ramp.
    pub tipping_point_per_s: Option<f64>,
    pub series: Vec<LoadWindow>,
}

impl LoadSummary {
    /// The summary of one run.
    pub(crate) fn of(report: &LoadReport) -> Self {
        LoadSummary {
            series: report.series.clone(),
            recoveries: report.baseline_per_s.map(|baseline| (baseline, report.recovery_s)).into_iter().collect(),
            trigger_ms: report.trigger_ms,
            measured_until_ms: report.measured_until_ms,
            rejected: report.rejected,
            gave_up: report.gave_up,
            s3_throttled: report.s3_throttled,
            s3_shed: report.s3_shed,
            s3_queue_timeouts: report.s3_queue_timeouts,
            s3_served: report.s3_served,
            s3_wait_us: report.s3_wait_us,
            s3_busy_us: report.s3_busy_us,
            s3_splits: report.s3_splits,
            s3_servers: report.s3_servers,
        }
    }

    /// Appends the next runs' summary (a run, or a shard whose seeds follow these).
    pub(crate) fn merge(&mut self, next: LoadSummary) {
        // Every run of a scenario has the same window (`window_of`); shards
        // of different scenarios are refused before their states merge.
        let _ = self.series.merge(&next.series);
        self.recoveries.extend(next.recoveries);
        self.rejected += next.rejected;
        self.gave_up += next.gave_up;
        self.s3_throttled += next.s3_throttled;
        self.s3_shed += next.s3_shed;
        self.s3_queue_timeouts += next.s3_queue_timeouts;
        self.s3_served += next.s3_served;
        self.s3_wait_us = self.s3_wait_us.saturating_add(next.s3_wait_us);
        self.s3_busy_us = self.s3_busy_us.saturating_add(next.s3_busy_us);
        self.s3_splits += next.s3_splits;
        self.measured_until_ms = self.measured_until_ms.max(next.measured_until_ms);
    }

    pub(crate) fn finish(&self, confidence: f64) -> LoadEstimate {
        let series = &self.series;
        let window_s = series.window_ms as f64 / 1000.0;
        let measured = self
            .measured_until_ms
            .checked_div(series.window_ms)
            .map_or(0, |windows| usize::try_from(windows).unwrap_or(usize::MAX).min(series.windows()));
        let mean_over = |f: &dyn Fn(usize) -> f64| {
            if measured == 0 {
                0.0
            } else {
                (0..measured).map(f).sum::<f64>() / measured as f64
            }
        };
        let smoothing = crate::load_workload::RECOVERY_SMOOTHING_WINDOWS;
        let smoothed = |f: &dyn Fn(usize) -> f64, i: usize| (i..i + smoothing).map(f).sum::<f64>() / smoothing as f64;
        let starts = 0..measured.saturating_sub(smoothing - 1);
        let goodput_per_s_max = starts.clone().map(|i| smoothed(&|j| series.goodput_per_s(j), i)).fold(0.0, f64::max);
        // The point after which goodput never again kept up with the
        // arrivals (within 5%, over 5 windows): dips that it recovers from
        // (a burst of faults, Poisson noise at low rates) are not tipping.
        let keeping_up = |(offered, goodput): (f64, f64)| {
            offered <= 0.0 || goodput >= (1.0 - crate::load_workload::RECOVERY_TOLERANCE) * offered
        };
        let rates: Vec<(f64, f64)> = starts
            .map(|i| (smoothed(&|j| series.offered_per_s(j), i), smoothed(&|j| series.goodput_per_s(j), i)))
            .collect();
        let tipping_point_per_s = match rates.iter().rposition(|r| keeping_up(*r)) {
            Some(last) => rates.get(last + 1).map(|(offered, _)| *offered),
            None => rates.first().map(|(offered, _)| *offered),
        };
        let judged = self.recoveries.len() as u64;
        let times: Vec<f64> = self.recoveries.iter().filter_map(|(_, t)| *t).collect();
        let recovered = times.len() as u64;
        let shares = clopper_pearson(recovered, judged, confidence);
        let interval = mean_interval(&times, confidence);
        let single = (times.len() == 1).then(|| times[0]);
        LoadEstimate {
            window_s,
            trigger_s: self.trigger_ms.map(|(start, end)| (start as f64 / 1000.0, end as f64 / 1000.0)),
            seeds_judged: judged,
            seeds_recovered: recovered,
            recovered_ci_low: shares.low,
            recovered_ci_high: shares.high,
            recovery_s_mean: interval.map(|i| i.mean).or(single),
            recovery_s_ci_low: interval.map(|i| i.low.max(0.0)),
            recovery_s_ci_high: interval.map(|i| i.high),
            recovery_s_max: times.iter().copied().reduce(f64::max),
            baseline_goodput_per_s: (judged > 0)
                .then(|| self.recoveries.iter().map(|(b, _)| b).sum::<f64>() / judged as f64),
            offered_per_s: mean_over(&|i| series.offered_per_s(i)),
            goodput_per_s: mean_over(&|i| series.goodput_per_s(i)),
            retry_share: series.retry_share().unwrap_or(0.0),
            deadline_exceeded: self.gave_up,
            rejected: self.rejected,
            s3_throttled: self.s3_throttled,
            s3_shed: self.s3_shed,
            s3_queue_timeouts: self.s3_queue_timeouts,
            s3_splits: self.s3_splits,
            s3_wait_ms_mean: (self.s3_served > 0).then(|| self.s3_wait_us as f64 / self.s3_served as f64 / 1000.0),
            goodput_per_s_max,
            tipping_point_per_s,
            series: (0..series.windows())
                .map(|i| LoadWindow {
                    t_s: i as f64 * window_s,
                    offered_per_s: series.offered_per_s(i),
                    goodput_per_s: series.goodput_per_s(i),
                    attempts_per_s: series.attempts_per_s(i),
                    retries_per_s: series.retries_per_s(i),
                    latency_ms_p99: series.latency_ms_p99(i),
                })
                .collect(),
        }
    }
}
