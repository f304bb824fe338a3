//! Scenarios built in code for tests, so each test states its model inline.

use std::path::PathBuf;
use std::time::Duration;

use retrylab_faults::{FaultModel, LatencyDist};
use retrylab_retry::PolicyConfig;
use retrylab_scenario::{Consistency, Limits, NamedPolicy, NetworkSpec, S3Operation, S3Spec, Scenario, Workload};

/// The shipped 2012 scenario.
pub fn lab_notebook_10k() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios/lab-notebook/s3-10k-requests.toml")
}

/// `operations` sequential PUTs against an S3 with a constant 100 ms service
/// time, the given faults, and the given policies.
pub fn put_scenario(faults: FaultModel, policies: Vec<(&str, PolicyConfig)>, operations: u64) -> Scenario {
    Scenario {
        name: "test".into(),
        description: String::new(),
        path: PathBuf::from("tests/in-code.toml"),
        seeds_default: 10,
        limits: Limits { simulated_time_max: Duration::from_secs(10_000_000), events_max: 10_000_000 },
        network: NetworkSpec { latency: LatencyDist::constant_ms(0.0), loss_probability: 0.0 },
        s3: S3Spec {
            latency: LatencyDist::constant_ms(100.0),
            error_latency: None,
            consistency: Consistency::Strong,
            request_timeout: Duration::from_secs(30),
            capacity: None,
            rate_limits: None,
        },
        faults,
        disruptions: Default::default(),
        workload: Workload::S3Requests {
            operations,
            operation: S3Operation::Put,
            object_bytes: 64,
            keys: 4,
            clients: 1,
        },
        traffic: retrylab_scenario::Traffic::default(),
        policies: policies
            .into_iter()
            .map(|(name, config)| NamedPolicy { name: name.to_owned(), config, gateway: None })
            .collect(),
        lafs: None,
    }
}
