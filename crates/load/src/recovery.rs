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
///
/// `smoothing` 0 counts as 1; a zero `window` gives `None`. Windows past the
/// end of `succeeded` count 0 (the series only grows where events land).
pub fn recovery(
    succeeded: &[u64],
    window: Duration,
    trigger: Trigger,
    warmup: Duration,
    measured_until: Duration,
    tolerance: f64,
    smoothing: usize,
) -> Option<RecoveryReport> {
    let window_ns = window.as_nanos();
    if window_ns == 0 {
        return None;
    }
    let window_s = window.as_secs_f64();
    let count = |i: u128| usize::try_from(i).ok().and_then(|i| succeeded.get(i)).copied().unwrap_or(0);
    // Whole windows in [warmup, trigger.start): from ceil(warmup / w) to floor(start / w).
    let baseline_first = warmup.as_nanos().div_ceil(window_ns);
    let baseline_end = trigger.start.as_nanos() / window_ns;
    if baseline_first >= baseline_end {
        return None;
    }
    let baseline_windows = baseline_end - baseline_first;
    let baseline_total: u64 = (baseline_first..baseline_end).map(count).sum();
    let baseline_per_s = baseline_total as f64 / baseline_windows as f64 / window_s;
    let threshold_per_s = (1.0 - tolerance) * baseline_per_s;

    let smoothing = smoothing.max(1) as u128;
    let first = trigger.end.as_nanos().div_ceil(window_ns);
    // The last window the search may start at: its smoothing windows end by `measured_until`.
    let Some(last) = (measured_until.as_nanos() / window_ns).checked_sub(smoothing) else {
        return Some(RecoveryReport { baseline_per_s, recovery: Recovery::NotRecovered });
    };
    // A running sum over windows i .. i + smoothing.
    let mut sum: u64 = (first..first + smoothing).map(count).sum();
    let mut i = first;
    let recovery = loop {
        if i > last {
            break Recovery::NotRecovered;
        }
        let mean_per_s = sum as f64 / smoothing as f64 / window_s;
        if mean_per_s >= threshold_per_s {
            let after_ns = (i * window_ns).saturating_sub(trigger.end.as_nanos());
            break Recovery::Recovered { after: crate::schedule::duration_from_nanos(after_ns) };
        }
        sum = sum + count(i + smoothing) - count(i);
        i += 1;
    };
    Some(RecoveryReport { baseline_per_s, recovery })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    /// Windows of 1 s; the trigger is [10 s, 15 s); warmup 2 s; measured until 30 s.
    fn report(succeeded: &[u64], tolerance: f64, smoothing: usize) -> Option<RecoveryReport> {
        let trigger = Trigger { start: s(10), end: s(15) };
        recovery(succeeded, s(1), trigger, s(2), s(30), tolerance, smoothing)
    }

    /// 100 per second, except `dip` (from window 10 on) and the windows after it.
    fn goodput(dip: &[u64]) -> Vec<u64> {
        let mut succeeded = vec![100; 40];
        succeeded[..2].fill(0);
        succeeded[10..10 + dip.len()].copy_from_slice(dip);
        succeeded
    }

    #[test]
    fn recovered_at_the_first_window_back_within_tolerance() {
        // Down during the trigger and two windows after it, then back.
        let succeeded = goodput(&[0, 0, 0, 0, 0, 10, 50]);
        let report = report(&succeeded, 0.1, 1).unwrap();
        // The warmup's empty windows are left out of the baseline.
        assert_eq!(report.baseline_per_s, 100.0);
        assert_eq!(report.recovery, Recovery::Recovered { after: s(2) });
    }

    #[test]
    fn recovered_at_once_when_goodput_never_dipped_after_the_trigger() {
        let report = report(&goodput(&[0, 0, 0, 0, 0]), 0.1, 1).unwrap();
        assert_eq!(report.recovery, Recovery::Recovered { after: s(0) });
        // A trigger ending inside a window: the search starts at the next whole one.
        let trigger = Trigger { start: s(10), end: Duration::from_millis(14_500) };
        let report = recovery(&goodput(&[0, 0, 0, 0, 0]), s(1), trigger, s(2), s(30), 0.1, 1).unwrap();
        assert_eq!(report.recovery, Recovery::Recovered { after: Duration::from_millis(500) });
    }

    #[test]
    fn smoothing_waits_for_a_sustained_return() {
        // One good window at 17, a relapse, then back from 20 on.
        let succeeded = goodput(&[0, 0, 0, 0, 0, 0, 0, 100, 0, 0]);
        assert_eq!(report(&succeeded, 0.1, 1).unwrap().recovery, Recovery::Recovered { after: s(2) });
        assert_eq!(report(&succeeded, 0.1, 3).unwrap().recovery, Recovery::Recovered { after: s(5) });
    }

    #[test]
    fn a_metastable_run_never_recovers() {
        // Down to 30 per second until the end; windows from 30 s on (the drain) are not looked at.
        let mut succeeded = goodput(&[0; 20]);
        succeeded[15..].fill(30);
        succeeded[30..].fill(100);
        assert_eq!(report(&succeeded, 0.1, 1).unwrap().recovery, Recovery::NotRecovered);
        // A short vector: the missing windows count 0.
        assert_eq!(report(&succeeded[..20], 0.1, 1).unwrap().recovery, Recovery::NotRecovered);
        // Smoothing longer than what is measured after the trigger.
        assert_eq!(report(&goodput(&[]), 0.1, 16).unwrap().recovery, Recovery::NotRecovered);
        assert_eq!(report(&goodput(&[]), 0.1, 15).unwrap().recovery, Recovery::Recovered { after: s(0) });
    }

    #[test]
    fn no_baseline_without_a_whole_window_before_the_trigger() {
        let trigger = Trigger { start: Duration::from_millis(2_900), end: s(15) };
        assert_eq!(recovery(&goodput(&[]), s(1), trigger, Duration::from_millis(1_500), s(30), 0.1, 1), None);
        let trigger = Trigger { start: s(3), end: s(15) };
        assert!(recovery(&goodput(&[]), s(1), trigger, Duration::from_millis(1_500), s(30), 0.1, 1).is_some());
        assert_eq!(recovery(&goodput(&[]), Duration::ZERO, trigger, s(0), s(30), 0.1, 1), None);
    }
}
