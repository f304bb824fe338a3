//! Virtual time since the world's start, and sleeping in it.

use std::time::Duration;

/// The world's clock: virtual time measured from the runtime's start.
///
/// madsim advances its clock by 50-100 ns at every task poll (to model CPU
/// time) and by 50 ns at every timer expiry, so readings carry sub-microsecond
/// noise; it is seeded, hence deterministic. Latencies themselves are whole
/// milliseconds (see `retrylab_faults::LatencyDist`) and are slept exactly.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimClock;

impl SimClock {
    /// Virtual time since the world started. Must be called inside a world.
    pub fn now(&self) -> Duration {
        madsim::time::TimeHandle::current().elapsed()
    }

    /// Sleeps `duration` of virtual time. Zero costs nothing: madsim would
    /// otherwise round it up to 1 ms. madsim never sleeps less than 1 ms, so
    /// callers keep durations in whole milliseconds (latencies and retry
    /// delays are drawn that way).
    pub async fn sleep(&self, duration: Duration) {
        if !duration.is_zero() {
            madsim::time::sleep(duration).await;
        }
    }
}
