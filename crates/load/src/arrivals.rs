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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Burst, Diurnal, RatePoint};

    fn s(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    /// Whether `count` lies in the two-sided 99.9% interval of a Poisson
    /// count of mean `mean`, by the normal approximation (z = 3.29; the
    /// means here are in the thousands, where it is close).
    fn inside_poisson_999(count: usize, mean: f64) -> bool {
        (count as f64 - mean).abs() <= 3.29 * mean.sqrt()
    }

    fn busy_schedule() -> RateSchedule {
        RateSchedule {
            rate_per_s: 200.0,
            points: vec![
                RatePoint { at: s(30), rate_per_s: 400.0, ramp: true },
                RatePoint { at: s(60), rate_per_s: 50.0, ramp: false },
            ],
            diurnal: Some(Diurnal { amplitude: 0.6, period: s(40), peak_at: s(5) }),
            bursts: vec![Burst { start: s(70), duration: s(3), rate_per_s: 2_000.0 }],
        }
    }

    #[test]
    fn counts_match_the_schedule_mean() {
        let schedule = busy_schedule();
        let horizon = s(100);
        let mean = schedule.mean_count(Duration::ZERO, horizon);
        let arrivals: Vec<Duration> = Arrivals::new(schedule.clone(), horizon, 11).collect();
        assert!(inside_poisson_999(arrivals.len(), mean), "{} arrivals, mean {mean}", arrivals.len());
        assert!(arrivals.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(arrivals.iter().all(|at| *at < horizon && at.subsec_nanos() % 1000 == 0));
        // The burst's 3 seconds hold their own share.
        let in_burst = arrivals.iter().filter(|at| (s(70)..s(73)).contains(at)).count();
        assert!(inside_poisson_999(in_burst, schedule.mean_count(s(70), s(73))), "{in_burst}");
    }

    #[test]
    fn the_same_seed_gives_the_same_arrivals() {
        let first: Vec<Duration> = Arrivals::new(busy_schedule(), s(20), 3).collect();
        let again: Vec<Duration> = Arrivals::new(busy_schedule(), s(20), 3).collect();
        let other: Vec<Duration> = Arrivals::new(busy_schedule(), s(20), 4).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn a_step_schedules_halves_have_their_own_rates() {
        let schedule = RateSchedule {
            points: vec![RatePoint { at: s(50), rate_per_s: 1_000.0, ramp: false }],
            ..RateSchedule::constant(100.0)
        };
        let arrivals: Vec<Duration> = Arrivals::new(schedule, s(100), 5).collect();
        let first_half = arrivals.iter().filter(|at| **at < s(50)).count();
        let second_half = arrivals.len() - first_half;
        assert!(inside_poisson_999(first_half, 5_000.0), "{first_half}");
        assert!(inside_poisson_999(second_half, 50_000.0), "{second_half}");
    }

    #[test]
    fn a_zero_rate_yields_nothing() {
        assert_eq!(Arrivals::new(RateSchedule::constant(0.0), s(1_000), 1).count(), 0);
        // Quiet for a day, then a short burst at a million per second: the
        // quiet day costs no candidates (the envelope is 0 there).
        let schedule = RateSchedule {
            bursts: vec![Burst { start: s(86_400), duration: Duration::from_millis(10), rate_per_s: 1e6 }],
            ..RateSchedule::constant(0.0)
        };
        let arrivals: Vec<Duration> = Arrivals::new(schedule, s(86_401), 2).collect();
        assert!(inside_poisson_999(arrivals.len(), 10_000.0), "{}", arrivals.len());
        assert!(arrivals.iter().all(|at| (s(86_400)..s(86_400) + Duration::from_millis(10)).contains(at)));
    }
}
