//! Workspace-level tests: retrylab used the way a user uses it (the
//! `retrylab` binary, the harness API and scenario files), checked against
//! analytic values and determinism.

mod analytic;
mod capacity;
mod check;
mod checkers;
mod cli;
mod determinism;
mod edges;
mod fit;
mod fuzz;
mod layered;
mod load;
mod plots;
mod policies;
mod properties;
mod real;
mod shards;
mod shrinking;
mod support;
mod swarm;
mod trace;
mod user_crate;
mod verdicts;
