//! Recovery time: how long after a trigger ends goodput returns to within a
//! tolerance of its value before the trigger (or never: a metastable state).

use std::time::Duration;

/// The stretch in which something pushed the system (a slowdown, an
/// outage, a burst of arrivals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub start: Duration,
    pub end: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Recovery {
    /// Goodput was back within the tolerance this long after the trigger ended.
    Recovered { after: Duration },
    /// Not within the measured windows: still down when arrivals stopped.
    NotRecovered,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecoveryReport {
    /// Mean goodput before the trigger, operations per second.
    pub baseline_per_s: f64,
    pub recovery: Recovery,
}

/// `succeeded[i]`: operations succeeded in window i of `window`; windows
/// from `measured_until` on are not looked at (the drain after arrivals
/// stop). Baseline: the mean over the whole windows in `[warmup, trigger.start)`;
/// recovered at the first window i starting at or after `trigger.end` whose
/// mean over windows `i .. i + smoothing` is at least `(1 - tolerance) * baseline`.
/// `None` when no whole window lies in `[warmup, trigger.start)`.
pub fn recovery(
    succeeded: &[u64],
    window: Duration,
    trigger: Trigger,
    warmup: Duration,
    measured_until: Duration,
    tolerance: f64,
    smoothing: usize,
) -> Option<RecoveryReport> {
    let _ = (succeeded, window, trigger, warmup, measured_until, tolerance, smoothing);
    todo!("helper")
}
