//! Scenario files: the serde schema of `sim-scenarios/*.toml`, validated
//! into internal types, with errors that name file, line and field.

pub mod bounds;
mod check;
mod error;
mod json_schema;
mod lint;
mod load;
mod model;
mod schema;
mod write;

pub use bounds::{CLIENTS_MAX, GATEWAYS_MAX, MIXED_KEYS_MAX, READS_PER_WRITE_MAX, SEEDS_MAX};
pub use check::{check_file, check_source, FileCheck};
pub use error::{ErrorKind, ScenarioError};
pub use json_schema::json_schema;
pub use lint::{lint, Warning};
pub use load::{load, parse};
pub use model::ServerCapacity;
pub use model::{
    BudgetScope, Consistency, Design, LafsSpec, Limits, Listing, ModifyRetry, NamedPolicy, NetworkSpec, OperationMix,
    QueueSpec, RateLimitSpec, ReadCheck, S3Operation, S3Spec, Scenario, ShareLayout, Traffic, Workload, WriteCheck,
};
pub use write::{to_toml, to_toml_with_comment};
