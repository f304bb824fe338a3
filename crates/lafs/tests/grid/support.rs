//! Shared set-up: S3 configs, a world runner that fails the test on a run
//! error, and a grid with a given config and fault model.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use retrylab_faults::{FaultKind, FaultModel, LatencyDist, Outage};
use retrylab_lafs::{Grid, LafsConfig};
use retrylab_retry::PolicyConfig;
use retrylab_s3::{Consistency, S3Config};
use retrylab_sim::{World, WorldConfig};

/// Every S3 request takes 100 ms: whole-millisecond arithmetic on when a
/// request arrives is exact (the network itself adds nothing).
pub const S3_LATENCY_MS: u64 = 100;

pub fn s3(faults: FaultModel) -> S3Config {
    S3Config {
        latency: LatencyDist::constant_ms(S3_LATENCY_MS as f64),
        error_latency: None,
        consistency: Consistency::Strong,
        faults,
        capacity: None,
        rate_limits: None,
    }
}

pub fn sim<T, Fut: Future<Output = T>>(seed: u64, workload: impl FnOnce(World) -> Fut) -> T {
    retrylab_sim::run(&WorldConfig::new(seed), workload).unwrap_or_else(|e| panic!("{e}")).output
}

/// A grid whose servers do not retry (every S3 failure reaches the server).
pub fn grid(world: &World, config: LafsConfig, s3: S3Config) -> Grid {
    grid_with_policy(world, config, s3, &PolicyConfig::None)
}

pub fn grid_with_policy(world: &World, config: LafsConfig, s3: S3Config, policy: &PolicyConfig) -> Grid {
    Grid::new(world, config, s3, Duration::from_secs(5), policy).unwrap_or_else(|e| panic!("{e}"))
}

/// Tahoe-LAFS's 3-of-10 on ten servers, with `design` left safe.
pub fn three_of_ten() -> LafsConfig {
    LafsConfig::tahoe_default(10)
}

/// Every request arriving in `[start_ms, end_ms)` fails with a 500 that,
/// for writes, lands with probability `ambiguous`.
pub fn outage(start_ms: u64, end_ms: u64, ambiguous: f64) -> FaultModel {
    FaultModel {
        outages: vec![Outage { start_ms, end_ms, kind: FaultKind::InternalError }],
        ambiguous_fraction: ambiguous,
        ..FaultModel::default()
    }
}

/// Sleeps until virtual time `at_ms` since the world's start.
pub async fn sleep_until(world: &World, at_ms: u64) {
    let at = Duration::from_millis(at_ms);
    let now = world.now();
    assert!(now < at, "already at {now:?}, wanted to wait until {at:?}");
    world.clock().sleep(at - now).await;
}

/// Contents of put `i` (1-based) of a growing file: lines "1" .. "i", each
/// padded to `line_bytes` (the 2012 expt03 with padding).
pub fn growing(i: u64, line_bytes: usize) -> Bytes {
    let mut out = Vec::new();
    for line in 1..=i {
        let text = format!("{line}");
        out.extend_from_slice(text.as_bytes());
        out.extend(std::iter::repeat_n(b'.', line_bytes.saturating_sub(text.len() + 1)));
        out.push(b'\n');
    }
    Bytes::from(out)
}
