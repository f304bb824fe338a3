//! [`RateSchedule`]: the offered rate of an open-loop workload as a function of virtual time.

use std::time::Duration;

use retrylab_faults::libm;

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
        let rate = self.level_at(t) * self.diurnal_factor(t) + self.bursts_at(t);
        // `max` also turns a NaN (from a nonsensical schedule) into 0.
        rate.max(0.0)
    }

    /// An upper bound of `rate_at` over all `t` (the thinning envelope).
    pub fn rate_max(&self) -> f64 {
        let level_max = self.points.iter().map(|point| point.rate_per_s).fold(self.rate_per_s, f64::max);
        let bursts: f64 = self.bursts.iter().map(|burst| burst.rate_per_s.max(0.0)).sum();
        (level_max.max(0.0) * self.diurnal_factor_max() + bursts).max(0.0)
    }

    /// Expected arrivals in `[from, to)`: the integral of `rate_at`, by
    /// Simpson's rule between the schedule's breakpoints (exact where the
    /// rate is linear, that is without a diurnal swing; 64 steps per diurnal
    /// period otherwise). For tests and reports, not for drawing arrivals.
    pub fn mean_count(&self, from: Duration, to: Duration) -> f64 {
        if to <= from {
            return 0.0;
        }
        let mut cuts: Vec<Duration> =
            self.breakpoints().filter(|&cut| from < cut && cut < to).chain([from, to]).collect();
        cuts.sort_unstable();
        cuts.dedup();
        cuts.windows(2).map(|piece| self.simpson(piece[0], piece[1])).sum()
    }

    /// Simpson's rule over `[from, to]`, where the level is linear and the
    /// bursts constant (no breakpoint inside).
    fn simpson(&self, from: Duration, to: Duration) -> f64 {
        const STEPS_PER_PERIOD: f64 = 64.0;
        const STEPS_MAX: u64 = 1 << 16;
        let length_ns = (to - from).as_nanos();
        let steps = match &self.diurnal {
            Some(diurnal) if !diurnal.period.is_zero() => {
                let periods = (to - from).as_secs_f64() / diurnal.period.as_secs_f64();
                ((periods * STEPS_PER_PERIOD).ceil() as u64).clamp(2, STEPS_MAX)
            }
            _ => 2,
        };
        let steps = steps + steps % 2;
        // The rate just inside the ends: a step or a burst edge at an end
        // belongs to the neighbouring piece.
        let at = |k: u64| -> f64 {
            let offset_ns = length_ns * u128::from(k) / u128::from(steps);
            let t = from + duration_from_nanos(offset_ns);
            let t = if k == steps { t.saturating_sub(Duration::from_nanos(1)).max(from) } else { t };
            self.rate_at(t)
        };
        let mut sum = at(0) + at(steps);
        for k in 1..steps {
            sum += if k % 2 == 1 { 4.0 } else { 2.0 } * at(k);
        }
        sum * (to - from).as_secs_f64() / (3.0 * steps as f64)
    }

    /// Every time at which the rate may jump or change slope.
    fn breakpoints(&self) -> impl Iterator<Item = Duration> + '_ {
        let points = self.points.iter().map(|point| point.at);
        let bursts = self.bursts.iter().flat_map(|burst| [burst.start, burst.start.saturating_add(burst.duration)]);
        points.chain(bursts)
    }

    /// The thinning envelope from `from` on: a bound of `rate_at` over
    /// `[from, until)`, and `until`, the next breakpoint after `from`
    /// (`Duration::MAX` if none). Within such a stretch the level is
    /// constant or linear and the bursts do not change, so the bound is
    /// tight up to the diurnal swing: sparse schedules (a long quiet stretch,
    /// then a burst) cost no rejected candidates for the quiet part.
    pub(crate) fn envelope(&self, from: Duration) -> (f64, Duration) {
        let until = self.breakpoints().filter(|&cut| cut > from).min().unwrap_or(Duration::MAX);
        let next = self.points.partition_point(|point| point.at <= from);
        let ramp_target = match self.points.get(next) {
            Some(point) if point.ramp => point.rate_per_s,
            _ => 0.0,
        };
        let level_max = self.level_at(from).max(ramp_target).max(0.0);
        let bound = level_max * self.diurnal_factor_max() + self.bursts_at(from).max(0.0);
        (bound, until)
    }

    /// The base level at `t`: the last point at or before `t`, or the
    /// ramp towards the next point.
    fn level_at(&self, t: Duration) -> f64 {
        let next = self.points.partition_point(|point| point.at <= t);
        let (previous_at, previous_rate) = match next.checked_sub(1).map(|i| &self.points[i]) {
            Some(point) => (point.at, point.rate_per_s),
            None => (Duration::ZERO, self.rate_per_s),
        };
        match self.points.get(next) {
            Some(point) if point.ramp && point.at > previous_at => {
                let fraction = (t - previous_at).as_secs_f64() / (point.at - previous_at).as_secs_f64();
                previous_rate + (point.rate_per_s - previous_rate) * fraction
            }
            _ => previous_rate,
        }
    }

    fn diurnal_factor(&self, t: Duration) -> f64 {
        let Some(diurnal) = &self.diurnal else { return 1.0 };
        let period_ns = diurnal.period.as_nanos() as i128;
        if period_ns == 0 {
            return 1.0;
        }
        // The phase from integer nanoseconds, reduced to one period: exact,
        // however late `t` is.
        let offset_ns = (t.as_nanos() as i128 - diurnal.peak_at.as_nanos() as i128).rem_euclid(period_ns);
        let phase = offset_ns as f64 / period_ns as f64;
        1.0 + diurnal.amplitude * libm::cos(2.0 * std::f64::consts::PI * phase)
    }

    fn diurnal_factor_max(&self) -> f64 {
        self.diurnal.as_ref().map_or(1.0, |diurnal| 1.0 + diurnal.amplitude.abs())
    }

    /// The sum of the bursts active at `t` (`[start, start + duration)`).
    fn bursts_at(&self, t: Duration) -> f64 {
        self.bursts
            .iter()
            .filter(|burst| burst.start <= t && t < burst.start.saturating_add(burst.duration))
            .map(|burst| burst.rate_per_s)
            .sum()
    }
}

/// `Duration` from nanoseconds, saturating (a `u128` of nanoseconds can exceed `Duration::MAX`).
pub(crate) fn duration_from_nanos(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (nanos % 1_000_000_000) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    fn point(at_s: u64, rate_per_s: f64, ramp: bool) -> RatePoint {
        RatePoint { at: s(at_s), rate_per_s, ramp }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn steps_hold_from_their_time_on() {
        let schedule = RateSchedule {
            points: vec![point(10, 50.0, false), point(20, 5.0, false)],
            ..RateSchedule::constant(100.0)
        };
        assert_eq!(schedule.rate_at(s(0)), 100.0);
        assert_eq!(schedule.rate_at(s(10) - Duration::from_nanos(1)), 100.0);
        assert_eq!(schedule.rate_at(s(10)), 50.0);
        assert_eq!(schedule.rate_at(s(19)), 50.0);
        assert_eq!(schedule.rate_at(s(20)), 5.0);
        assert_eq!(schedule.rate_at(s(1000)), 5.0);
        assert_eq!(schedule.rate_max(), 100.0);
    }

    #[test]
    fn ramps_interpolate_from_the_previous_point() {
        // From (0, 100) to (10, 200), a step to 50 at 20, then a ramp to 150 at 30.
        let points = vec![point(10, 200.0, true), point(20, 50.0, false), point(30, 150.0, true)];
        let schedule = RateSchedule { points, ..RateSchedule::constant(100.0) };
        assert!(close(schedule.rate_at(s(0)), 100.0));
        assert!(close(schedule.rate_at(s(5)), 150.0));
        assert!(close(schedule.rate_at(Duration::from_millis(7_500)), 175.0));
        assert!(close(schedule.rate_at(s(10)), 200.0));
        assert!(close(schedule.rate_at(s(15)), 200.0));
        assert!(close(schedule.rate_at(s(20)), 50.0));
        assert!(close(schedule.rate_at(s(25)), 100.0));
        assert!(close(schedule.rate_at(s(30)), 150.0));
        assert!(close(schedule.rate_at(s(99)), 150.0));
        // The area: 1500 (ramp) + 2000 + 1000 (ramp) + 1500.
        let mean = schedule.mean_count(s(0), s(40));
        assert!(close(mean, 6_000.0), "{mean}");
    }

    #[test]
    fn diurnal_swings_around_the_level() {
        let diurnal = Diurnal { amplitude: 0.5, period: s(100), peak_at: s(25) };
        let schedule = RateSchedule { diurnal: Some(diurnal), ..RateSchedule::constant(10.0) };
        assert!(close(schedule.rate_at(s(25)), 15.0));
        assert!(close(schedule.rate_at(s(125)), 15.0));
        assert!(close(schedule.rate_at(s(75)), 5.0));
        assert!(close(schedule.rate_at(s(50)), 10.0));
        // Before the peak: t - peak_at is negative, same phase.
        assert!(close(schedule.rate_at(s(0)), 10.0));
        assert!(close(schedule.rate_max(), 15.0));
        // A whole number of periods averages to the level.
        let mean = schedule.mean_count(s(0), s(1000));
        assert!((mean - 10_000.0).abs() < 1e-6 * 10_000.0, "{mean}");
    }

    #[test]
    fn bursts_add_in_their_window_only() {
        let bursts = vec![
            Burst { start: s(10), duration: s(5), rate_per_s: 1000.0 },
            Burst { start: s(12), duration: s(10), rate_per_s: 10.0 },
        ];
        let schedule = RateSchedule { bursts, ..RateSchedule::constant(1.0) };
        assert_eq!(schedule.rate_at(s(9)), 1.0);
        assert_eq!(schedule.rate_at(s(10)), 1001.0);
        assert_eq!(schedule.rate_at(s(13)), 1011.0);
        assert_eq!(schedule.rate_at(s(15)), 11.0);
        assert_eq!(schedule.rate_at(s(22)), 1.0);
        assert_eq!(schedule.rate_max(), 1011.0);
        assert!(close(schedule.mean_count(s(0), s(30)), 30.0 + 5_000.0 + 100.0));
    }

    #[test]
    fn the_rate_is_never_negative() {
        let bursts = vec![Burst { start: s(0), duration: s(5), rate_per_s: -50.0 }];
        let schedule = RateSchedule { bursts, ..RateSchedule::constant(10.0) };
        assert_eq!(schedule.rate_at(s(1)), 0.0);
        assert_eq!(schedule.rate_at(s(6)), 10.0);
    }

    fn any_schedule() -> impl Strategy<Value = RateSchedule> {
        let points =
            proptest::collection::vec((0u64..1000, 0.0f64..1e4, any::<bool>()), 0..6).prop_map(|mut points| {
                points.sort_by_key(|point| point.0);
                points.into_iter().map(|(at, rate, ramp)| point(at, rate, ramp)).collect::<Vec<_>>()
            });
        let diurnal =
            proptest::option::of((0.0f64..0.99, 1u64..500, 0u64..500).prop_map(|(amplitude, period, peak)| Diurnal {
                amplitude,
                period: s(period),
                peak_at: s(peak),
            }));
        let bursts = proptest::collection::vec(
            (0u64..1000, 0u64..200, 0.0f64..1e5).prop_map(|(start, duration, rate_per_s)| Burst {
                start: s(start),
                duration: s(duration),
                rate_per_s,
            }),
            0..4,
        );
        (0.0f64..1e4, points, diurnal, bursts).prop_map(|(rate_per_s, points, diurnal, bursts)| RateSchedule {
            rate_per_s,
            points,
            diurnal,
            bursts,
        })
    }

    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/proptest_seed.rs"));

    proptest! {
        // Failing cases are kept in the workspace's proptest-regressions/ (committed).
        #![proptest_config(ProptestConfig { rng_seed: proptest_rng_seed(), failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proptest-regressions/load-schedule.txt")))), ..ProptestConfig::default() })]
        #[test]
        fn rate_max_and_the_envelope_bound_the_rate(schedule in any_schedule(), at_ms in 0u64..1_500_000) {
            let t = Duration::from_millis(at_ms);
            let rate = schedule.rate_at(t);
            prop_assert!(rate >= 0.0);
            prop_assert!(rate <= schedule.rate_max() * (1.0 + 1e-12), "{} > {}", rate, schedule.rate_max());
            // The piecewise envelope of the stretch holding t bounds it too.
            let mut from = Duration::ZERO;
            let (mut bound, mut until) = schedule.envelope(from);
            while until <= t {
                from = until;
                (bound, until) = schedule.envelope(from);
            }
            prop_assert!(rate <= bound * (1.0 + 1e-12), "{} > {} in [{:?}, {:?})", rate, bound, from, until);
            prop_assert!(bound <= schedule.rate_max() * (1.0 + 1e-12));
        }
    }
}
