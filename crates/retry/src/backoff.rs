//! Delay arithmetic in whole milliseconds: the jitter families of Marc
//! Brooker's "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015),
//! Apache Arrow `object_store`'s decorrelated variant, and the rounding of
//! fractional waits (the CUBIC rate limiter's) up to whole milliseconds.
//!
//! Every delay a policy returns is a whole number of milliseconds: madsim
//! never sleeps less than 1 ms (it rounds a shorter sleep up), so a delay of
//! 0.3 ms would be recorded as 0.3 ms but slept as 1 ms. Random delays are
//! drawn as whole milliseconds directly (uniform over the integers of the
//! range), which is the same as rounding a continuous draw down; computed
//! waits are rounded up, so a limiter never lets a request out early.

use std::time::Duration;

use rand::Rng;
use retrylab_faults::SimRng;

use crate::Jitter;

/// `d` in whole milliseconds, saturating at `u64::MAX`.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Uniform over the whole milliseconds of `[low, high)`; `low` when empty.
pub(crate) fn uniform_ms(rng: &mut SimRng, low_ms: u64, high_ms: u64) -> Duration {
    if high_ms <= low_ms {
        Duration::from_millis(low_ms)
    } else {
        Duration::from_millis(rng.gen_range(low_ms..high_ms))
    }
}

/// `secs` seconds rounded up to whole milliseconds; zero for anything that
/// is not a positive finite number (no panic on NaN or overflow).
pub(crate) fn ceil_ms_from_secs(secs: f64) -> Duration {
    let ms = (secs * 1000.0).ceil();
    if !ms.is_finite() || ms <= 0.0 {
        return Duration::ZERO;
    }
    // `as` saturates for floats beyond u64's range.
    Duration::from_millis(ms as u64)
}

/// `base * 2^(attempt-1)`, at most `cap`, saturating.
pub(crate) fn exponential(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(31);
    base.saturating_mul(1u32 << exponent).min(cap)
}

/// The delay after failed attempt `attempt` under Brooker's jitter family.
pub(crate) fn jittered(
    base: Duration,
    cap: Duration,
    jitter: Jitter,
    attempt: u32,
    previous_delay: Duration,
    rng: &mut SimRng,
) -> Duration {
    let exponential = exponential(base, cap, attempt);
    match jitter {
        Jitter::None => exponential,
        Jitter::Full => uniform_ms(rng, 0, millis(exponential)),
        Jitter::Equal => {
            // Halves in whole milliseconds: [floor(e/2), e) for an odd e too.
            let total = millis(exponential);
            let half = total / 2;
            Duration::from_millis(half) + uniform_ms(rng, 0, total - half)
        }
        Jitter::Decorrelated => {
            let previous = previous_delay.max(base);
            uniform_ms(rng, millis(base), millis(previous.saturating_mul(3))).min(cap)
        }
    }
}

/// Apache Arrow `object_store`'s `Backoff::next` (`src/client/backoff.rs`):
/// the first delay is exactly `init`; each later one is uniform in
/// `[init, previous * base)`, at most `max`.
pub(crate) fn object_store(
    init: Duration,
    max: Duration,
    base: f64,
    attempt: u32,
    previous_delay: Duration,
    rng: &mut SimRng,
) -> Duration {
    if attempt <= 1 || previous_delay.is_zero() {
        return init.min(max);
    }
    let high = (millis(previous_delay) as f64 * base).round();
    let high_ms = if high.is_finite() && high > 0.0 { high as u64 } else { 0 };
    uniform_ms(rng, millis(init), high_ms).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ceil_rounds_up_and_never_panics() {
        assert_eq!(ceil_ms_from_secs(0.0001), Duration::from_millis(1));
        assert_eq!(ceil_ms_from_secs(0.25), Duration::from_millis(250));
        assert_eq!(ceil_ms_from_secs(-1.0), Duration::ZERO);
        assert_eq!(ceil_ms_from_secs(f64::NAN), Duration::ZERO);
        assert_eq!(ceil_ms_from_secs(f64::INFINITY), Duration::ZERO);
        assert_eq!(ceil_ms_from_secs(1e300), Duration::from_millis(u64::MAX));
    }

    #[test]
    fn object_store_first_delay_is_init_then_decorrelated() {
        let mut rng = SimRng::seed_from_u64(3);
        let init = Duration::from_millis(100);
        let max = Duration::from_secs(15);
        assert_eq!(object_store(init, max, 2.0, 1, Duration::ZERO, &mut rng), init);
        for _ in 0..1000 {
            let d = object_store(init, max, 2.0, 2, Duration::from_millis(100), &mut rng);
            assert!(d >= init && d < Duration::from_millis(200), "{d:?}");
            let d = object_store(init, max, 2.0, 5, Duration::from_secs(14), &mut rng);
            assert!(d >= init && d <= max, "{d:?}");
        }
    }
}
