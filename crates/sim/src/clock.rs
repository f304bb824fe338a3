//! Virtual time since the world's start, and sleeping in it.

use std::cell::RefCell;
use std::time::Duration;

thread_local! {
    /// The running world's time handle. `TimeHandle::current()` costs a
    /// context lookup and two atomic operations; the clock is read several
    /// times per simulated request, so the world caches its handle here for
    /// as long as it runs on this thread.
    static CURRENT: RefCell<Option<madsim::time::TimeHandle>> = const { RefCell::new(None) };
}

/// Installs the running world's time handle for [`SimClock`]; the guard
/// removes it when the world ends.
pub(crate) struct ClockGuard;

impl ClockGuard {
    pub(crate) fn install() -> ClockGuard {
        CURRENT.with(|current| *current.borrow_mut() = Some(madsim::time::TimeHandle::current()));
        ClockGuard
    }
}

impl Drop for ClockGuard {
    fn drop(&mut self) {
        CURRENT.with(|current| *current.borrow_mut() = None);
    }
}

/// The longest run the world can time: 2^33 s (272 years). madsim's clock
/// is a `std::time::Instant` counted from zero, which holds 2^64 ns (584
/// years) on every platform (macOS counts u64 nanoseconds; elsewhere it is
/// i64 seconds), and traces keep times as u64 nanoseconds; the watchdog
/// sleeps at most this, so a run ends by then whatever its limit.
pub const SIMULATED_TIME_MAX: Duration = Duration::from_secs(1 << 33);

/// The latest time any sleep or timeout of the world may end at: twice
/// [`SIMULATED_TIME_MAX`], still inside the 2^64 ns the clock holds. A sleep
/// past it ends there instead of overflowing madsim's `Instant` (a panic);
/// the watchdog has stopped the run long before, so nothing can tell.
pub(crate) const CLOCK_END: Duration = Duration::from_secs(1 << 34);

/// `duration` from now, cut so that it ends by [`CLOCK_END`].
pub(crate) fn bounded_sleep(now: Duration, duration: Duration) -> Duration {
    duration.min(CLOCK_END.saturating_sub(now))
}

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
        CURRENT.with(|current| match &*current.borrow() {
            Some(handle) => handle.elapsed(),
            None => madsim::time::TimeHandle::current().elapsed(),
        })
    }

    /// Sleeps `duration` of virtual time. Zero costs nothing: madsim would
    /// otherwise round it up to 1 ms. madsim never sleeps less than 1 ms, so
    /// callers keep durations in whole milliseconds (latencies and retry
    /// delays are drawn that way).
    pub async fn sleep(&self, duration: Duration) {
        if !duration.is_zero() {
            madsim::time::sleep(bounded_sleep(self.now(), duration)).await;
        }
    }
}
