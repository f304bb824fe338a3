//! One seeded world on madsim: sub-seeds, a simulated network with node
//! crash and restart, a trace with a stable hash, and run limits.
//!
//! A world is a pure function of its seed: [`run`] creates a fresh madsim
//! runtime seeded with it, every component draws from a stream derived from
//! it ([`World::rng`]), and everything observable goes through the [`Trace`],
//! whose hash is the fingerprint tests compare across runs.

mod clock;
mod context;
mod net;
mod trace;
mod trace_text;
mod world;

pub use clock::{SimClock, SIMULATED_TIME_MAX};
pub use context::{Scoped, TaskContext};
pub use net::{LinkSpec, NetError, Network, NodeId, Reply};
pub use trace::{Detail, Event, EventKind, Trace, TraceMode, Value};
pub use trace_text::{json_string, NodeNames};
pub use world::{run, RunError, RunLimits, WallBudget, World, WorldConfig, WorldRun};
