//! [`Arrivals`]: the arrival times of a non-homogeneous Poisson process with a [`RateSchedule`].

use std::time::Duration;

use crate::RateSchedule;

/// Arrival times in `[0, duration)`, increasing, at microsecond resolution,
/// of a Poisson process whose rate is the schedule's `rate_at` (thinning,
/// Lewis and Shedler 1979, under `rate_max`), drawn from the stream `seed`.
pub struct Arrivals {
    _private: (),
}

impl Arrivals {
    pub fn new(schedule: RateSchedule, duration: Duration, seed: u64) -> Self {
        let _ = (schedule, duration, seed);
        todo!("helper")
    }
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        todo!("helper")
    }
}
