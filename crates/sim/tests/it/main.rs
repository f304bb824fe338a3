//! The sim crate's integration tests, one binary (each file was its own, and each
//! binary costs CI's clean build a link and its own codegen).

mod determinism;
mod limits;
mod network;
