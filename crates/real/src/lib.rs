//! Real mode: the scenario's workload through the very retry layer,
//! storage server and gateway the simulator tests, on a tokio runtime, over
//! real HTTP, against a real S3-compatible server on loopback with the
//! scenario's fault model injected on the wire; and the simulator's
//! prediction for the same scenario, to check that it held.
//!
//! - [`host`]: the tokio side of the seam (`retrylab_lafs::Host`): a clock
//!   scaling virtual durations to wall time, in-process server calls.
//! - [`lanes`]: one policy's real run of an `s3-requests` or `mutable-puts`
//!   workload, booked as the simulator books its runs.
//! - [`run`]: servers per lane, all lanes at once, the estimate, the prediction.
//! - [`predict`]: the simulator's prediction interval and the agreement test.
//!
//! One binary does both: the workspace is built with `--cfg madsim`, and
//! madsim intercepts the clock, randomness and thread creation only inside
//! its own runtime (a thread-local context); tokio runtimes built outside it
//! see the real clock, the OS's randomness and real threads. docs/validation.md
//! records how that was checked.

pub mod host;
pub mod lanes;
pub mod predict;
pub mod run;

pub use host::{RealClock, RealHost};
pub use predict::{predict, Agreement, PolicyPrediction, ATTEMPTS_TOLERANCE, SIM_SEEDS_DEFAULT};
pub use run::{
    check_supported, lane_operations, run, shortened, LaneFaults, RealError, RealOptions, RealRun, TIME_SCALE_DEFAULT,
    TIME_SCALE_MAX, TIME_SCALE_MIN,
};

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use retrylab_scenario::Scenario;

    /// A small bursty put scenario with two policies.
    pub(crate) fn scenario() -> Scenario {
        let source = r#"
name = "small"
[s3]
latency_ms = { kind = "constant", ms = 100 }
[faults]
kind = "gilbert-elliott"
good_mean_s = 60.0
bad_mean_s = 5.0
good_failure = 0.02
bad_failure = 0.5
[workload]
kind = "s3-requests"
operations = 200
operation = "put"
[[policies]]
name = "none"
kind = "none"
[[policies]]
name = "retry-once"
kind = "immediate"
retries = 1
"#;
        retrylab_scenario::parse(source, Path::new("small.toml")).expect("the test scenario loads")
    }
}
