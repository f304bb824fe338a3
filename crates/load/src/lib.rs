//! Load that answers back, as pure models (no simulator, no clock): what
//! arrives when (`schedule.rs`, `arrivals.rs`), which key it touches
//! (`popularity.rs`), how a server with finite capacity answers
//! (`queue.rs`), how S3 throttles a hot prefix (`rate_limit.rs`), and how a
//! run is measured over time (`series.rs`, `recovery.rs`), with the queueing
//! closed forms the models are checked against (`closed_form.rs`).
//!
//! Every model takes time as an argument (`now`) and randomness as a seeded
//! stream, so the same seed gives the same load in the simulator and in
//! tests.

mod arrivals;
pub mod closed_form;
mod popularity;
mod queue;
mod rate_limit;
mod recovery;
mod schedule;
mod series;
mod traffic;

pub use arrivals::Arrivals;
pub use popularity::{KeyPopularity, KeySampler};
pub use queue::{Admission, QueueSpec, QueueStats, ServiceQueue, Slowdown};
pub use rate_limit::{PrefixLimiter, RateLimitSpec, RequestClass};
pub use recovery::{recovery, Recovery, RecoveryReport, Trigger};
pub use schedule::{Burst, Diurnal, RatePoint, RateSchedule};
pub use series::{LoadSeries, WindowMismatch};
pub use traffic::{OpenLoop, Traffic};
