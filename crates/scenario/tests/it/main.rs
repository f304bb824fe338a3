//! The scenario crate's integration tests, one binary (each file was its own, and each
//! binary costs CI's clean build a link and its own codegen).

mod bounds;
mod common;
mod disruptions;
mod errors;
mod mixed;
mod no_panic;
mod parse;
mod roundtrip;
mod shipped;
