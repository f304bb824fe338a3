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
    check_supported, run, shortened, LaneFaults, RealError, RealOptions, RealRun, TIME_SCALE_DEFAULT, TIME_SCALE_MAX,
    TIME_SCALE_MIN,
};
