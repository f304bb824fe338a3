//! [`RateSchedule`]: the offered rate of an open-loop workload as a function of virtual time.

use std::time::Duration;

/// A change of the base level at `at`: from then on the level is
/// `rate_per_s`; with `ramp`, the level instead moves linearly from the
/// previous point's level (or the schedule's `rate_per_s` at time 0),
/// starting at the previous point's `at` (or 0), to reach `rate_per_s` at `at`.
#[derive(Clone, Debug, PartialEq)]
pub struct RatePoint {
    pub at: Duration,
    pub rate_per_s: f64,
    pub ramp: bool,
}

/// A daily (or any period) swing of the level: the level is multiplied by
/// `1 + amplitude * cos(2 pi (t - peak_at) / period)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Diurnal {
    /// In [0, 1).
    pub amplitude: f64,
    pub period: Duration,
    pub peak_at: Duration,
}

/// Extra arrivals at `rate_per_s` during `[start, start + duration)`, on top of the level.
#[derive(Clone, Debug, PartialEq)]
pub struct Burst {
    pub start: Duration,
    pub duration: Duration,
    pub rate_per_s: f64,
}

/// `rate_at(t) = level(t) * diurnal(t) + (bursts active at t)`, arrivals per second.
#[derive(Clone, Debug, PartialEq)]
pub struct RateSchedule {
    /// The level at time 0.
    pub rate_per_s: f64,
    /// Sorted by `at` (the loader checks).
    pub points: Vec<RatePoint>,
    pub diurnal: Option<Diurnal>,
    pub bursts: Vec<Burst>,
}

impl RateSchedule {
    pub fn constant(rate_per_s: f64) -> Self {
        RateSchedule { rate_per_s, points: Vec::new(), diurnal: None, bursts: Vec::new() }
    }

    /// The offered rate at `t`, arrivals per second (never negative).
    pub fn rate_at(&self, t: Duration) -> f64 {
        let _ = t;
        todo!("helper")
    }

    /// The expected number of arrivals in `[from, to)`.
    pub fn mean_count(&self, from: Duration, to: Duration) -> f64 {
        let _ = (from, to);
        todo!("helper")
    }

    /// An upper bound of `rate_at` over all `t` (the thinning envelope).
    pub fn rate_max(&self) -> f64 {
        todo!("helper")
    }
}
