//! One seeded world on madsim: sub-seeds, a simulated network with node
//! crash and restart, a trace with a stable hash, and run limits.
//!
//! A world is a pure function of its seed: [`run`] creates a fresh madsim
//! runtime seeded with it, every component draws from a stream derived from
//! it ([`World::rng`]), and everything observable goes through the [`Trace`],
//! whose hash is the fingerprint tests compare across runs.

// Without the cfg, madsim is plain tokio and the simulator cannot exist:
// one clear error instead of dozens of "cannot find runtime in madsim".
#[cfg(not(madsim))]
compile_error!(
    "retrylab runs inside madsim's deterministic simulator, which needs `--cfg madsim` on every crate of the build. \
     Add to .cargo/config.toml at your workspace root:\n\n    [build]\n    rustflags = [\"--cfg\", \"madsim\"]\n    rustdocflags = [\"--cfg\", \"madsim\"]\n\n\
     (see retrylab's README, \"Use it in your project\")"
);

#[cfg(madsim)]
mod clock;
#[cfg(madsim)]
mod context;
#[cfg(madsim)]
mod net;
#[cfg(madsim)]
mod trace;
#[cfg(madsim)]
mod trace_text;
#[cfg(madsim)]
mod world;

#[cfg(madsim)]
pub use clock::{SimClock, SIMULATED_TIME_MAX};
#[cfg(madsim)]
pub use context::{Scoped, TaskContext};
#[cfg(madsim)]
pub use net::{LinkSpec, NetError, Network, NodeId, Reply};
#[cfg(madsim)]
pub use trace::{Detail, Event, EventKind, Trace, TraceMode, Value};
#[cfg(madsim)]
pub use trace_text::{json_string, NodeNames};
#[cfg(madsim)]
pub use world::{run, RunError, RunLimits, WallBudget, World, WorldConfig, WorldRun};
