//! Swarm testing (as TigerBeetle's VOPR does): each seed draws its own fault
//! model from wide ranges, and on a grid its own environment (consistency,
//! timeouts, network, grid shape, gateways, reads), so that failures a single
//! setting hides (a rare mix, a long bad spell, writes applied behind 500s, a
//! timeout after S3 acted, two shares on one server) show up.

use std::time::Duration;

use rand::Rng;
use retrylab_faults::libm;
use retrylab_faults::{
    stream, BurstParams, FaultKind, FaultMix, FaultModel, FaultProcess, LatencyDist, Outage, SimRng,
};
use retrylab_scenario::{Consistency, LafsSpec, Scenario, Workload};

/// The fault model of `seed` in swarm mode. A function of the seed only, so
/// `retrylab run --swarm --seed S` replays exactly what `explore --swarm` ran.
///
/// Ranges: long-run failure rate 0.1% to 5% (log-uniform); half the seeds
/// independent, half bursty (bad spells 1 s to 60 s failing 30% to 90% of
/// requests, the good state failing half the long-run rate); each fault kind
/// but InternalError present with probability 1/2 and random weight;
/// ambiguous writes (applied but failed) on half the seeds, up to 50%; one
/// scripted outage of 5 s to 60 s within the first hour on a quarter.
pub fn swarm_faults(seed: u64) -> FaultModel {
    let mut rng = stream(seed, "swarm");
    let rate = libm::pow(10.0, rng.gen_range(-3.0..libm::log10(0.05)));
    let process = if rng.gen_bool(0.5) {
        FaultProcess::Independent { failure_probability: rate }
    } else {
        let bad_failure = rng.gen_range(0.3..0.9);
        let bad_mean_ms = libm::pow(10.0, rng.gen_range(3.0..libm::log10(60_000.0)));
        let good_failure = rate / 2.0;
        // Solve for the good sojourn that gives the long-run rate.
        let bad_fraction = (rate - good_failure) / (bad_failure - good_failure);
        let good_mean_ms = bad_mean_ms * (1.0 - bad_fraction) / bad_fraction;
        FaultProcess::GilbertElliott(BurstParams { good_mean_ms, bad_mean_ms, good_failure, bad_failure })
    };
    let weight = |rng: &mut retrylab_faults::SimRng| if rng.gen_bool(0.5) { rng.gen_range(0.01..1.0) } else { 0.0 };
    let mix = FaultMix {
        internal_error: rng.gen_range(0.1..1.0),
        slow_down: weight(&mut rng),
        connection_reset: weight(&mut rng),
        timeout: weight(&mut rng),
    };
    let ambiguous_fraction = if rng.gen_bool(0.5) { rng.gen_range(0.0..0.5) } else { 0.0 };
    let outages = if rng.gen_bool(0.25) {
        let start_ms = rng.gen_range(0..3_600_000);
        let length_ms = rng.gen_range(5_000..60_000);
        vec![Outage { start_ms, end_ms: start_ms + length_ms, kind: FaultKind::InternalError }]
    } else {
        Vec::new()
    };
    FaultModel { process, outages, mix, ambiguous_fraction }
}

/// `scenario` as seed `seed` runs it in swarm mode: the one entry point of
/// swarm mode (`explore`, `estimate`, `compare` and `run --swarm` all call
/// it), a function of the scenario and the seed only, so `retrylab run
/// --swarm --seed S` replays exactly what `explore --swarm` ran.
///
/// Every scenario gets the fault model of `swarm_faults`. A grid scenario
/// (`[lafs]`) also draws, each knob from its own stream `swarm.<knob>` (so a
/// new knob does not change what the others draw):
/// - `swarm.consistency`: strong, or 2012 eventual with a window of 0.5 s
///   to 10 s, on half the seeds each;
/// - `swarm.s3-timeout`: the S3 request timeout, on half the seeds inside
///   the service time's slow tail (so requests time out after S3 acted),
///   else beyond it (up to 60 s);
/// - `swarm.rpc-timeout`: the gateway's RPC timeout, on half the seeds
///   shorter than a slow server round (so the gateway gives up while the
///   server goes on), else 30 s to 300 s;
/// - `swarm.network`: message latency (none, or uniform up to ~100 ms) and
///   a loss probability of 0.01% to 1% on half the seeds, 0 on the rest;
/// - `swarm.grid-shape`: 1-of-1 on 1 server; 3-of-10 happy 7 on 10 servers;
///   2-of-4 happy 3 on 4; 3-of-10 happy 5 on 5 (two shares a server);
/// - `swarm.gateways`: 1 to 4 gateways;
/// - `swarm.reads`: `reads_per_write` 0 to 2 for mutable puts and appends.
/// - `swarm.writers`: for appends, one writer per file or two taking turns
///   (`writers_per_file`), on half the seeds each.
///
/// The workload's kind and size, the design switches, the policies and the
/// S3 latency stay as the scenario says: swarm tests that design under many
/// environments. The run limits grow with the work the draw adds (more
/// gateways, shares and reads), so a longer run is not mistaken for a loop.
///
/// An `s3-requests` scenario draws only the fault model, as before grids
/// drew more, so its swarm seeds run what they always ran.
pub fn swarm_scenario(scenario: &Scenario, seed: u64) -> Scenario {
    let mut swarmed = scenario.clone();
    swarmed.faults = swarm_faults(seed);
    if swarmed.lafs.is_some() {
        swarm_grid_environment(&mut swarmed, seed);
    }
    swarmed
}

/// The grid knobs of `swarm_scenario`; `scenario.lafs` is `Some`.
fn swarm_grid_environment(scenario: &mut Scenario, seed: u64) {
    let work_before = run_work(scenario);
    let operations_per_gateway_before = scenario.workload.operations();
    let s3_tail = LatencyTail::of(&scenario.s3.latency);
    scenario.s3.consistency = swarm_consistency(&mut stream(seed, "swarm.consistency"));
    scenario.s3.request_timeout = swarm_s3_timeout(&mut stream(seed, "swarm.s3-timeout"), &s3_tail);
    let (latency, loss_probability) = swarm_network(&mut stream(seed, "swarm.network"));
    scenario.network.latency = latency;
    scenario.network.loss_probability = loss_probability;
    scenario.workload = swarm_reads(&mut stream(seed, "swarm.reads"), &scenario.workload);
    if let Workload::MutableAppends { writers_per_file, .. } = &mut scenario.workload {
        *writers_per_file = stream(seed, "swarm.writers").gen_range(1..=2);
    }
    if let Some(lafs) = scenario.lafs.as_mut() {
        lafs.rpc_timeout = swarm_rpc_timeout(&mut stream(seed, "swarm.rpc-timeout"), &s3_tail);
        swarm_grid_shape(&mut stream(seed, "swarm.grid-shape"), lafs);
        lafs.gateways = stream(seed, "swarm.gateways").gen_range(1..=GATEWAYS_MAX);
    }
    scale_limits(scenario, work_before, operations_per_gateway_before);
}

/// Gateways a swarm seed runs, at most.
const GATEWAYS_MAX: u32 = 4;

/// `reads_per_write` a swarm seed draws, at most.
const READS_PER_WRITE_MAX: u64 = 2;

/// A service-time distribution's body and slow tail, read off samples of a
/// fixed stream (the distributions have no closed-form quantiles), in whole
/// milliseconds, at least 1.
struct LatencyTail {
    median_ms: u64,
    p99_9_ms: u64,
}

impl LatencyTail {
    /// Enough samples that the 99.9th percentile rests on several of them.
    const SAMPLES: usize = 5_000;

    fn of(latency: &LatencyDist) -> LatencyTail {
        // A fixed stream, not the seed's: the tail is the scenario's, and every
        // seed reads it the same way.
        let mut rng = stream(0, "swarm.latency-tail");
        let mut samples: Vec<u64> = (0..Self::SAMPLES)
            .map(|_| u64::try_from(latency.sample(&mut rng).as_millis()).unwrap_or(u64::MAX))
            .collect();
        samples.sort_unstable();
        let at = |fraction: f64| samples[((Self::SAMPLES - 1) as f64 * fraction) as usize].max(1);
        LatencyTail { median_ms: at(0.5), p99_9_ms: at(0.999) }
    }
}

/// Whole milliseconds, log-uniform in `low_ms..=high_ms` (both at least 1).
fn log_uniform_ms(rng: &mut SimRng, low_ms: u64, high_ms: u64) -> u64 {
    let (low, high) = (low_ms.max(1) as f64, high_ms.max(low_ms).max(1) as f64);
    if low >= high {
        return low as u64;
    }
    (libm::pow(10.0, rng.gen_range(libm::log10(low)..=libm::log10(high))).round() as u64).clamp(low as u64, high as u64)
}

fn swarm_consistency(rng: &mut SimRng) -> Consistency {
    if rng.gen_bool(0.5) {
        Consistency::Strong
    } else {
        Consistency::Eventual { window: Duration::from_millis(rng.gen_range(500..=10_000)) }
    }
}

/// Tight: between 1.2 times the median and the 99.9th percentile of the
/// service time, so the slow tail times out (after S3 has acted on it).
/// Loose: beyond the tail, up to 60 s, so only a fault's timeout fires.
fn swarm_s3_timeout(rng: &mut SimRng, tail: &LatencyTail) -> Duration {
    let ms = if rng.gen_bool(0.5) {
        log_uniform_ms(rng, tail.median_ms + tail.median_ms / 5 + 1, tail.p99_9_ms)
    } else {
        log_uniform_ms(rng, 2 * tail.p99_9_ms, 60_000.max(2 * tail.p99_9_ms))
    };
    Duration::from_millis(ms)
}

/// Tight: from twice the S3 median (a fast server round) to three times
/// the S3 99.9th percentile, shorter than a round with a slow request or a
/// retry in it, so the gateway gives up while the server goes on. Loose:
/// 30 s to 300 s (the loader's default).
fn swarm_rpc_timeout(rng: &mut SimRng, tail: &LatencyTail) -> Duration {
    let ms = if rng.gen_bool(0.5) {
        log_uniform_ms(rng, 2 * tail.median_ms, 3 * tail.p99_9_ms)
    } else {
        log_uniform_ms(rng, 30_000, 300_000)
    };
    Duration::from_millis(ms)
}

/// Message latency: none on a quarter of the seeds, else uniform between
/// 0-5 ms and up to ~100 ms more; loss 0 on half the seeds, else 0.01% to
/// 1% (log-uniform).
fn swarm_network(rng: &mut SimRng) -> (LatencyDist, f64) {
    let latency = if rng.gen_bool(0.25) {
        LatencyDist::constant_ms(0.0)
    } else {
        let low_ms = rng.gen_range(0..=5u64);
        let high_ms = low_ms + log_uniform_ms(rng, 1, 100);
        LatencyDist::Uniform { low_ms: low_ms as f64, high_ms: high_ms as f64 }
    };
    let loss_probability = if rng.gen_bool(0.5) { 0.0 } else { libm::pow(10.0, rng.gen_range(-4.0..=-2.0)) };
    (latency, loss_probability)
}

/// One of the grid shapes the loader accepts (happy at most N and at most
/// the servers) that reach different code paths: 1-of-1 (the 2012 grid),
/// Tahoe's default, a small grid with one spare share, and more shares than
/// servers (a server holding two shares of one file).
fn swarm_grid_shape(rng: &mut SimRng, lafs: &mut LafsSpec) {
    // (k, N, happy, servers)
    const SHAPES: [(u8, u8, u8, u32); 4] = [(1, 1, 1, 1), (3, 10, 7, 10), (2, 4, 3, 4), (3, 10, 5, 5)];
    let (k, n, happy, servers) = SHAPES[rng.gen_range(0..SHAPES.len())];
    lafs.shares_needed = k;
    lafs.shares_total = n;
    lafs.servers_of_happiness = happy;
    lafs.servers = servers;
}

/// The workload with `reads_per_write` drawn for puts and appends; other
/// kinds (backups) as they are.
fn swarm_reads(rng: &mut SimRng, workload: &Workload) -> Workload {
    let reads_per_write = rng.gen_range(0..=READS_PER_WRITE_MAX);
    match workload {
        Workload::MutablePuts { puts, line_bytes, .. } => {
            Workload::MutablePuts { puts: *puts, line_bytes: *line_bytes, reads_per_write }
        }
        Workload::MutableAppends { appends, writers_per_file, .. } => {
            Workload::MutableAppends { appends: *appends, reads_per_write, writers_per_file: *writers_per_file }
        }
        other => other.clone(),
    }
}

/// A run's work, for scaling its limits: operations (all gateways') times
/// the shares each touches.
fn run_work(scenario: &Scenario) -> u64 {
    let shares = scenario.lafs.as_ref().map_or(1, |lafs| u64::from(lafs.shares_total));
    scenario.operations_per_run().saturating_mul(shares).max(1)
}

/// Grows (never shrinks) the run limits by the work the draw added: events
/// with the whole run's work, simulated time with one gateway's operations
/// (gateways run at once).
fn scale_limits(scenario: &mut Scenario, work_before: u64, operations_per_gateway_before: u64) {
    let events_factor = run_work(scenario).div_ceil(work_before).max(1);
    scenario.limits.events_max = scenario.limits.events_max.saturating_mul(events_factor);
    // A file's writers take turns: its writers' operations run one after another.
    let writers = scenario.workload.writers_per_file();
    let operations_factor =
        scenario.workload.operations().saturating_mul(writers).div_ceil(operations_per_gateway_before.max(1)).max(1);
    let time_factor = u32::try_from(operations_factor).unwrap_or(u32::MAX);
    scenario.limits.simulated_time_max = scenario.limits.simulated_time_max.saturating_mul(time_factor);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    #[test]
    fn swarm_models_are_valid_varied_and_replayable() {
        let models: Vec<FaultModel> = (0..200).map(swarm_faults).collect();
        for model in &models {
            model.validate().unwrap();
            let rate = model.process.stationary_failure_rate();
            assert!((0.0009..0.051).contains(&rate), "{rate}");
        }
        assert_eq!(swarm_faults(17), swarm_faults(17));
        let bursty = models.iter().filter(|m| matches!(m.process, FaultProcess::GilbertElliott(_))).count();
        assert!((60..140).contains(&bursty), "{bursty}");
        assert!(models.iter().any(|m| m.mix.timeout > 0.0) && models.iter().any(|m| m.mix.timeout == 0.0));
        assert!(models.iter().any(|m| !m.outages.is_empty()));
        assert!(models.iter().any(|m| m.ambiguous_fraction > 0.0));
    }

    fn shipped(relative: &str) -> Scenario {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative);
        retrylab_scenario::load(&path).unwrap()
    }

    /// The scenario as the loader reads it back from its TOML: every bound
    /// the loader enforces is checked (the fault model aside, whose drawn
    /// floats the file format cannot always spell exactly; it is validated
    /// on its own).
    fn assert_loads_back(swarmed: &Scenario, seed: u64) {
        let text = retrylab_scenario::to_toml(swarmed);
        let loaded = retrylab_scenario::parse(&text, &swarmed.path)
            .unwrap_or_else(|error| panic!("seed {seed}: {error}\n{text}"));
        swarmed.faults.validate().unwrap();
        let without_faults = |s: &Scenario| Scenario { faults: FaultModel::default(), ..s.clone() };
        assert_eq!(without_faults(&loaded), without_faults(swarmed), "seed {seed}");
        let lafs = swarmed.lafs.as_ref().unwrap();
        crate::lafs_workload::lafs_config(lafs).validate().unwrap();
    }

    #[test]
    fn swarmed_grids_are_valid_varied_and_replayable() {
        let puts = shipped("sim-scenarios/grid/puts-3of10-eventual.toml");
        let appends = shipped("sim-scenarios/grid/appends-3of10.toml");
        let backups = shipped("sim-scenarios/grid/backups-3of10.toml");
        let mut shapes = BTreeSet::new();
        let mut windows_ms = BTreeSet::new();
        let (mut strong, mut tight_s3, mut tight_rpc, mut lossy) = (0, 0, 0, 0);
        let mut s3_timeouts_ms = BTreeSet::new();
        let mut rpc_timeouts_ms = BTreeSet::new();
        let mut network_means_ms = BTreeSet::new();
        let mut gateways = BTreeSet::new();
        let mut reads = BTreeSet::new();
        let tail = LatencyTail::of(&puts.s3.latency);
        for seed in 0..200 {
            let swarmed = swarm_scenario(&puts, seed);
            assert_eq!(swarmed, swarm_scenario(&puts, seed), "seed {seed} replays");
            assert_loads_back(&swarmed, seed);
            let lafs = swarmed.lafs.as_ref().unwrap();
            shapes.insert((lafs.shares_needed, lafs.shares_total, lafs.servers_of_happiness, lafs.servers));
            gateways.insert(lafs.gateways);
            match swarmed.s3.consistency {
                Consistency::Strong => strong += 1,
                Consistency::Eventual { window } => {
                    assert!((500..=10_000).contains(&window.as_millis()), "{window:?}");
                    windows_ms.insert(window.as_millis());
                }
            }
            let s3_timeout_ms = swarmed.s3.request_timeout.as_millis() as u64;
            tight_s3 += u32::from(s3_timeout_ms < tail.p99_9_ms);
            s3_timeouts_ms.insert(s3_timeout_ms);
            let rpc_timeout_ms = lafs.rpc_timeout.as_millis() as u64;
            tight_rpc += u32::from(rpc_timeout_ms < 3 * tail.p99_9_ms);
            rpc_timeouts_ms.insert(rpc_timeout_ms);
            lossy += u32::from(swarmed.network.loss_probability > 0.0);
            assert!(swarmed.network.loss_probability <= 0.01);
            network_means_ms.insert(swarmed.network.latency.mean_ms() as u64);
            let Workload::MutablePuts { puts: count, reads_per_write, .. } = swarmed.workload else { panic!() };
            assert_eq!(count, 30, "the workload's size stays");
            reads.insert(reads_per_write);
            assert_eq!((&swarmed.policies, lafs.design), (&puts.policies, puts.lafs.as_ref().unwrap().design));
            assert!(swarmed.limits.events_max >= puts.limits.events_max);
        }
        assert_eq!(shapes.len(), 4, "{shapes:?}");
        assert_eq!(gateways, (1..=4).collect(), "{gateways:?}");
        assert_eq!(reads, (0..=2).collect(), "{reads:?}");
        assert!((60..140).contains(&strong), "{strong}");
        assert!(windows_ms.len() > 50, "{}", windows_ms.len());
        assert!((60..140).contains(&tight_s3), "{tight_s3}");
        assert!((60..140).contains(&tight_rpc), "{tight_rpc}");
        assert!((60..140).contains(&lossy), "{lossy}");
        assert!(s3_timeouts_ms.len() > 50 && rpc_timeouts_ms.len() > 50);
        assert!(network_means_ms.len() > 10, "{network_means_ms:?}");
        for (name, scenario) in [("appends", &appends), ("backups", &backups)] {
            for seed in 0..50 {
                let swarmed = swarm_scenario(scenario, seed);
                assert_loads_back(&swarmed, seed);
                assert_eq!(std::mem::discriminant(&swarmed.workload), std::mem::discriminant(&scenario.workload));
                if name == "backups" {
                    assert_eq!(swarmed.workload, scenario.workload, "backups have no reads to draw");
                }
            }
        }
    }

    #[test]
    fn knobs_draw_from_their_own_streams() {
        // Adding a knob must not move the others: each reads only its own label.
        let puts = shipped("sim-scenarios/grid/puts-3of10-eventual.toml");
        let tail = LatencyTail::of(&puts.s3.latency);
        for seed in 0..20 {
            let swarmed = swarm_scenario(&puts, seed);
            assert_eq!(swarmed.s3.consistency, swarm_consistency(&mut stream(seed, "swarm.consistency")));
            assert_eq!(swarmed.s3.request_timeout, swarm_s3_timeout(&mut stream(seed, "swarm.s3-timeout"), &tail));
            assert_eq!(swarmed.faults, swarm_faults(seed));
        }
    }

    #[test]
    fn s3_request_scenarios_draw_only_faults() {
        let expt = shipped("sim-scenarios/lab-notebook/s3-10k-requests.toml");
        for seed in 0..20 {
            let swarmed = swarm_scenario(&expt, seed);
            assert_eq!(swarmed, Scenario { faults: swarm_faults(seed), ..expt.clone() });
        }
    }
}
