//! [`Traffic`]: how a workload's operations arrive (open or closed loop),
//! which keys they touch, and the clients' own limits. One definition for
//! the scenario file and the simulator.

use std::time::Duration;

use retrylab_faults::LatencyDist;

use crate::{KeyPopularity, RateSchedule};

/// Open-loop arrivals: operations arrive by a Poisson process with the
/// schedule's rate during `[0, duration)`, whatever the system does (a
/// failing backend does not slow them, as users and upstream services do
/// not wait for it).
#[derive(Clone, Debug, PartialEq)]
pub struct OpenLoop {
    pub schedule: RateSchedule,
    pub duration: Duration,
}

/// The traffic of a workload. The default is today's closed loop: the
/// workload's clients send their next operation when the last ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Traffic {
    /// `None`: closed loop.
    pub open_loop: Option<OpenLoop>,
    /// Closed loop: each client waits this long between an operation's end
    /// and its next start (`None`: no wait).
    pub think_time: Option<LatencyDist>,
    /// A client gives up an operation this long after it arrived (counted
    /// apart as `deadline`); its requests in flight are abandoned, not
    /// cancelled at the server.
    pub deadline: Option<Duration>,
    /// Operations in flight at most; an arrival beyond it is refused at
    /// once (a bulkhead), counted as `rejected`.
    pub concurrency_max: Option<u64>,
    /// Which of the workload's keys an operation touches.
    pub popularity: KeyPopularity,
    /// The keys are spread over this many key prefixes (S3 partitions).
    pub prefixes: u64,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            open_loop: None,
            think_time: None,
            deadline: None,
            concurrency_max: None,
            popularity: KeyPopularity::Uniform,
            prefixes: 1,
        }
    }
}

impl Traffic {
    /// Whether anything differs from the closed loop of the past (so a
    /// run can keep its exact old code path when nothing does).
    pub fn is_default(&self) -> bool {
        *self == Traffic::default()
    }
}
