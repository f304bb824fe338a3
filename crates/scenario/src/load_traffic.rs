//! The loader's part for load (issue 12): `[workload]`'s traffic fields and
//! `[workload.arrivals]`, and `[s3.capacity]` and `[s3.rate_limits]`, onto
//! `retrylab-load`'s types (the one definition the simulator also uses).

use std::time::Duration;

use retrylab_load::{
    Burst, Diurnal, KeyPopularity, OpenLoop, QueueSpec, RateLimitSpec, RatePoint, RateSchedule, Slowdown, Traffic,
};

use super::{Cx, FieldPath};
use crate::bounds::{DURATION_MS_MAX, OPERATIONS_MAX};
use crate::error::ScenarioError;
use crate::model::S3Operation;
use crate::schema::{ArrivalsTable, CapacityTable, RateLimitsTable, WorkloadTable};

/// Arrivals per second at most in any one rate (a bound, not a target).
pub const ARRIVAL_RATE_PER_S_MAX: f64 = 1_000_000.0;
/// Key prefixes of an `s3-requests` workload at most.
pub const PREFIXES_MAX: u64 = 10_000;
/// Requests an S3 capacity model serves at once, at most.
pub const CAPACITY_SERVERS_MAX: u64 = 1_000_000;
/// Queued requests or operations in flight at most (`queue_max`, `concurrency_max`).
pub const QUEUE_MAX_CEILING: u64 = 1_000_000_000;
pub const ZIPF_EXPONENT_MAX: f64 = 10.0;
pub const SLOWDOWN_FACTOR_MAX: f64 = 1_000_000.0;
pub const SPLITS_MAX_CEILING: u64 = 20;
pub const PREFIX_DEPTH_MAX: u64 = 64;

impl Cx<'_> {
    /// The traffic of an `s3-requests` workload, and its operations: the
    /// file's `operations` (closed loop) or the expected number of arrivals
    /// (open loop; a run's own count varies).
    pub(super) fn s3_traffic(
        &self,
        table: &WorkloadTable,
        operation: S3Operation,
        at: &FieldPath,
    ) -> Result<(Traffic, u64), ScenarioError> {
        if matches!(operation, S3Operation::Mixed(_)) {
            // The mixed workload's history checker assumes every operation
            // ends with an answer: refuse what would abandon one (deadlines,
            // a concurrency limit) rather than ignore it.
            for (name, given) in [
                ("think_time_ms", table.think_time_ms.is_some()),
                ("deadline_ms", table.deadline_ms.is_some()),
                ("concurrency_max", table.concurrency_max.is_some()),
                ("prefixes", table.prefixes.is_some()),
            ] {
                if given {
                    return Err(self.misplaced(
                        &at.key(name),
                        "not supported with operation = \"mixed\" (it takes [workload.arrivals] and zipf_exponent; \
                         its history checker needs every operation to end with an answer)",
                    ));
                }
            }
        }
        let deadline = match table.deadline_ms {
            None => None,
            Some(ms) => Some(self.positive_ms(&at.key("deadline_ms"), ms)?),
        };
        let popularity = match table.zipf_exponent {
            None => KeyPopularity::Uniform,
            Some(exponent) => {
                if !(exponent.is_finite() && exponent > 0.0 && exponent <= ZIPF_EXPONENT_MAX) {
                    return Err(self.invalid(
                        &at.key("zipf_exponent"),
                        format!("must be a finite number > 0 and at most {ZIPF_EXPONENT_MAX}, got {exponent}"),
                    ));
                }
                KeyPopularity::Zipf { exponent }
            }
        };
        let prefixes = table.prefixes.unwrap_or(1);
        self.at_least_one(&at.key("prefixes"), prefixes)?;
        self.at_most(&at.key("prefixes"), prefixes, PREFIXES_MAX)?;
        let mut traffic = Traffic { deadline, popularity, prefixes, ..Traffic::default() };
        let operations = match &table.arrivals {
            None => {
                if table.concurrency_max.is_some() {
                    return Err(self.misplaced(
                        &at.key("concurrency_max"),
                        "only allowed with [workload.arrivals] (open loop; a closed loop's concurrency is `clients`)",
                    ));
                }
                if let Some(think) = &table.think_time_ms {
                    traffic.think_time = Some(self.latency(think, &at.key("think_time_ms"))?);
                }
                let operations = table.operations.ok_or_else(|| {
                    self.missing(
                        &at.key("operations"),
                        "required for an \"s3-requests\" workload without [workload.arrivals]",
                    )
                })?;
                self.at_least_one(&at.key("operations"), operations)?;
                self.at_most(&at.key("operations"), operations, OPERATIONS_MAX)?;
                operations
            }
            Some(arrivals) => {
                for (name, given, why) in [
                    ("operations", table.operations.is_some(), "the arrivals set how many operations a run has"),
                    ("clients", table.clients.is_some(), "open-loop arrivals do not wait for clients"),
                    ("think_time_ms", table.think_time_ms.is_some(), "open-loop arrivals do not wait for answers"),
                ] {
                    if given {
                        return Err(
                            self.misplaced(&at.key(name), format!("not allowed with [workload.arrivals]: {why}"))
                        );
                    }
                }
                if let Some(limit) = table.concurrency_max {
                    self.at_least_one(&at.key("concurrency_max"), limit)?;
                    self.at_most(&at.key("concurrency_max"), limit, QUEUE_MAX_CEILING)?;
                    traffic.concurrency_max = Some(limit);
                }
                let open = self.open_loop(arrivals, &at.key("arrivals"))?;
                let expected = open.schedule.mean_count(Duration::ZERO, open.duration).ceil();
                if expected > OPERATIONS_MAX as f64 {
                    return Err(self.invalid(
                        &at.key("arrivals"),
                        format!(
                            "about {expected} operations would arrive in a run; at most {OPERATIONS_MAX} are allowed \
                             (lower the rate or the duration)"
                        ),
                    ));
                }
                traffic.open_loop = Some(open);
                (expected as u64).max(1)
            }
        };
        Ok((traffic, operations))
    }

    fn open_loop(&self, table: &ArrivalsTable, at: &FieldPath) -> Result<OpenLoop, ScenarioError> {
        let rate_per_s = self.rate(&at.key("rate_per_s"), table.rate_per_s)?;
        let duration = self.positive_seconds(&at.key("duration_s"), table.duration_s)?;
        let mut points = Vec::with_capacity(table.schedule.len());
        let mut previous = Duration::ZERO;
        for (i, point) in table.schedule.iter().enumerate() {
            let here = at.key("schedule").index(i);
            let point_at = Duration::from_millis(self.seconds_as_whole_ms(&here.key("at_s"), point.at_s)?);
            if point_at < previous {
                return Err(self.invalid(
                    &here.key("at_s"),
                    format!(
                        "schedule points must be in time order: {} s comes after {} s",
                        point.at_s,
                        previous.as_secs_f64()
                    ),
                ));
            }
            previous = point_at;
            let rate = self.rate(&here.key("rate_per_s"), point.rate_per_s)?;
            points.push(RatePoint { at: point_at, rate_per_s: rate, ramp: point.ramp.unwrap_or(false) });
        }
        let diurnal = match &table.diurnal {
            None => None,
            Some(diurnal) => {
                let here = at.key("diurnal");
                if !(diurnal.amplitude.is_finite() && (0.0..1.0).contains(&diurnal.amplitude)) {
                    return Err(self.invalid(
                        &here.key("amplitude"),
                        format!("must be a fraction in [0, 1), got {}", diurnal.amplitude),
                    ));
                }
                let period = self.positive_seconds(&here.key("period_s"), diurnal.period_s)?;
                let peak_ms = self.seconds_as_whole_ms(&here.key("peak_at_s"), diurnal.peak_at_s.unwrap_or(0.0))?;
                Some(Diurnal { amplitude: diurnal.amplitude, period, peak_at: Duration::from_millis(peak_ms) })
            }
        };
        let mut bursts = Vec::with_capacity(table.bursts.len());
        for (i, burst) in table.bursts.iter().enumerate() {
            let here = at.key("bursts").index(i);
            let start = Duration::from_millis(self.seconds_as_whole_ms(&here.key("start_s"), burst.start_s)?);
            let duration = self.positive_seconds(&here.key("duration_s"), burst.duration_s)?;
            let rate_per_s = self.rate(&here.key("rate_per_s"), burst.rate_per_s)?;
            bursts.push(Burst { start, duration, rate_per_s });
        }
        Ok(OpenLoop { schedule: RateSchedule { rate_per_s, points, diurnal, bursts }, duration })
    }

    /// `[s3.capacity]`.
    pub(super) fn capacity(&self, table: &CapacityTable, at: &FieldPath) -> Result<QueueSpec, ScenarioError> {
        self.at_least_one(&at.key("servers"), table.servers)?;
        self.at_most(&at.key("servers"), table.servers, CAPACITY_SERVERS_MAX)?;
        if let Some(queue_max) = table.queue_max {
            self.at_most(&at.key("queue_max"), queue_max, QUEUE_MAX_CEILING)?;
        }
        let queue_timeout = match table.queue_timeout_ms {
            None => None,
            Some(ms) => Some(self.positive_ms(&at.key("queue_timeout_ms"), ms)?),
        };
        let mut slowdowns = Vec::with_capacity(table.slowdowns.len());
        for (i, slowdown) in table.slowdowns.iter().enumerate() {
            let here = at.key("slowdowns").index(i);
            let start_ms = self.seconds_as_whole_ms(&here.key("start_s"), slowdown.start_s)?;
            let end_ms = self.seconds_as_whole_ms(&here.key("end_s"), slowdown.end_s)?;
            if end_ms <= start_ms {
                return Err(self.invalid(
                    &here.key("end_s"),
                    format!(
                        "a slowdown must end at least 1 ms after it starts (start_s {}), got {}",
                        slowdown.start_s, slowdown.end_s
                    ),
                ));
            }
            let factor = slowdown.factor;
            if !(factor.is_finite() && (1.0..=SLOWDOWN_FACTOR_MAX).contains(&factor)) {
                return Err(self.invalid(
                    &here.key("factor"),
                    format!("must be a finite number from 1 to {SLOWDOWN_FACTOR_MAX}, got {factor}"),
                ));
            }
            slowdowns.push(Slowdown {
                start: Duration::from_millis(start_ms),
                end: Duration::from_millis(end_ms),
                service_time_factor: factor,
            });
        }
        Ok(QueueSpec {
            servers: u32::try_from(table.servers).unwrap_or(u32::MAX),
            queue_max: table.queue_max,
            queue_timeout,
            slowdowns,
        })
    }

    /// `[s3.rate_limits]`, S3's documented limits by default.
    pub(super) fn rate_limits(&self, table: &RateLimitsTable, at: &FieldPath) -> Result<RateLimitSpec, ScenarioError> {
        let defaults = RateLimitSpec::s3();
        let per_s = |name: &str, value: Option<f64>, default: f64| {
            let value = value.unwrap_or(default);
            if value.is_finite() && value > 0.0 && value <= 1e9 {
                Ok(value)
            } else {
                Err(self.invalid(&at.key(name), format!("must be a finite number > 0 and at most 1e9, got {value}")))
            }
        };
        let writes_per_s = per_s("writes_per_s", table.writes_per_s, defaults.writes_per_s)?;
        let reads_per_s = per_s("reads_per_s", table.reads_per_s, defaults.reads_per_s)?;
        let depth = table.prefix_depth.unwrap_or(u64::from(defaults.prefix_depth));
        self.at_least_one(&at.key("prefix_depth"), depth)?;
        self.at_most(&at.key("prefix_depth"), depth, PREFIX_DEPTH_MAX)?;
        let split_after = match table.split_after_s {
            None => defaults.split_after,
            Some(seconds) => self.positive_seconds(&at.key("split_after_s"), seconds)?,
        };
        let splits_max = table.splits_max.unwrap_or(u64::from(defaults.splits_max));
        self.at_most(&at.key("splits_max"), splits_max, SPLITS_MAX_CEILING)?;
        Ok(RateLimitSpec {
            writes_per_s,
            reads_per_s,
            prefix_depth: depth as u32,
            split_after,
            splits_max: splits_max as u32,
        })
    }

    fn rate(&self, field: &FieldPath, rate: f64) -> Result<f64, ScenarioError> {
        if rate.is_finite() && (0.0..=ARRIVAL_RATE_PER_S_MAX).contains(&rate) {
            Ok(rate)
        } else {
            Err(self.invalid(
                field,
                format!(
                    "must be a finite number of operations per second from 0 to {ARRIVAL_RATE_PER_S_MAX}, got {rate}"
                ),
            ))
        }
    }

    /// Seconds (finite, > 0) as a whole number of milliseconds, at least 1.
    fn positive_seconds(&self, field: &FieldPath, seconds: f64) -> Result<Duration, ScenarioError> {
        let ms = self.seconds_as_whole_ms(field, seconds)?;
        if ms == 0 {
            return Err(self
                .invalid(field, format!("must be at least 1 ms once rounded to whole milliseconds, got {seconds} s")));
        }
        self.at_most(field, ms, DURATION_MS_MAX)?;
        Ok(Duration::from_millis(ms))
    }

    fn positive_ms(&self, field: &FieldPath, ms: u64) -> Result<Duration, ScenarioError> {
        if ms == 0 {
            return Err(self.invalid(field, "must be > 0 ms, got 0"));
        }
        self.at_most(field, ms, DURATION_MS_MAX)?;
        Ok(Duration::from_millis(ms))
    }
}
