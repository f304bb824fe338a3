//! One seeded world on madsim: sub-seeds, a simulated network with node
//! crash and restart, a trace with a stable hash, and run limits.
//!
//! A world is a pure function of its seed: [`run`] creates a fresh madsim
//! runtime seeded with it, every component draws from a stream derived from
//! it ([`World::rng`]), and everything observable goes through the [`Trace`],
//! whose hash is the fingerprint tests compare across runs.

mod clock;
mod net;
mod trace;
mod world;

pub use clock::{SimClock, SIMULATED_TIME_MAX};
pub use net::{LinkSpec, NetError, Network, NodeId, Reply};
pub use trace::{Event, EventKind, Trace, TraceMode};
pub use world::{run, RunError, RunLimits, WallBudget, World, WorldConfig, WorldRun};
