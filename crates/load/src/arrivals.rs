//! [`Arrivals`]: the arrival times of a non-homogeneous Poisson process with a [`RateSchedule`].

use std::time::Duration;

use rand::{Rng, SeedableRng};
use retrylab_faults::{draw, SimRng};

use crate::RateSchedule;

/// Arrival times in `[0, duration)`, increasing, at microsecond resolution,
/// of a Poisson process whose rate is the schedule's `rate_at` (thinning,
/// Lewis and Shedler 1979, under `rate_max`), drawn from the stream `seed`.
///
/// The envelope is piecewise: between two breakpoints of the schedule (a
/// rate point, a burst's start or end) candidates come at that stretch's
/// own bound ([`RateSchedule::envelope`], never above `rate_max`), and a
/// candidate past the stretch's end restarts at the end (the exponential
/// is memoryless, so the process is the same). A long quiet stretch before
/// a large burst thus costs no rejected candidates, and a stretch whose
/// bound is 0 (or not a finite number) yields nothing and costs one step.
/// Times are non-decreasing (two arrivals may share a microsecond at high
/// rates). Same schedule, duration and seed: the same sequence.
pub struct Arrivals {
    schedule: RateSchedule,
    duration: Duration,
    rng: SimRng,
    /// The last candidate, seconds (not truncated: truncation is for output only).
    candidate_s: f64,
    /// The current stretch of the envelope: its bound and its end.
    bound_per_s: f64,
    stretch_end: Duration,
    done: bool,
}

impl Arrivals {
    pub fn new(schedule: RateSchedule, duration: Duration, seed: u64) -> Self {
        let (bound_per_s, stretch_end) = schedule.envelope(Duration::ZERO);
        let rate_max = schedule.rate_max();
        let done = rate_max.is_nan() || rate_max <= 0.0;
        Arrivals {
            schedule,
            duration,
            rng: SimRng::seed_from_u64(seed),
            candidate_s: 0.0,
            bound_per_s,
            stretch_end,
            done,
        }
    }

    /// Moves to the next stretch of the envelope; false past `duration`.
    fn next_stretch(&mut self) -> bool {
        if self.stretch_end >= self.duration {
            return false;
        }
        let start = self.stretch_end;
        self.candidate_s = start.as_secs_f64();
        (self.bound_per_s, self.stretch_end) = self.schedule.envelope(start);
        true
    }
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        while !self.done {
            let usable = self.bound_per_s.is_finite() && self.bound_per_s > 0.0;
            if !usable {
                self.done = !self.next_stretch();
                continue;
            }
            self.candidate_s += draw::exponential(&mut self.rng, 1.0 / self.bound_per_s);
            if self.candidate_s >= self.stretch_end.as_secs_f64() {
                self.done = !self.next_stretch();
                continue;
            }
            let at = Duration::from_micros((self.candidate_s * 1e6) as u64);
            if at >= self.duration {
                self.done = true;
                continue;
            }
            // Accept with probability rate / bound.
            if self.rng.gen::<f64>() * self.bound_per_s < self.schedule.rate_at(at) {
                return Some(at);
            }
        }
        None
    }
}
