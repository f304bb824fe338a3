//! Many seeds per policy, in parallel, summarised with confidence intervals.

use std::collections::BTreeMap;

use rayon::prelude::*;
use retrylab_scenario::{NamedPolicy, Scenario};
use retrylab_sim::{RunError, TraceMode};
use retrylab_stats::{clopper_pearson, design_effect, rate, Interval, LatencySummary};
use serde::Serialize;

use crate::explore::ViolationTally;
use crate::reached::DisruptionsReached;
use crate::report::RunReport;
use crate::workload::run_seed;

/// Which runs to make.
#[derive(Clone, Debug)]
pub struct EstimateOptions {
    /// Seeds `first_seed .. first_seed + seeds` are run for every policy.
    pub seeds: u64,
    pub first_seed: u64,
    /// Policy names to run; empty: every policy of the scenario.
    pub policies: Vec<String>,
    /// Two-sided confidence of the failure-rate interval.
    pub confidence: f64,
    /// Worker threads; `None`: one per core. The result does not depend on it.
    pub jobs: Option<usize>,
    /// Swarm mode: each seed draws its own fault model (see `swarm_faults`).
    pub swarm: bool,
}

impl Default for EstimateOptions {
    fn default() -> Self {
        EstimateOptions { seeds: 100, first_seed: 0, policies: Vec::new(), confidence: 0.95, jobs: None, swarm: false }
    }
}

/// One policy over all seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyEstimate {
    pub policy: String,
    pub seeds: u64,
    pub operations: u64,
    pub failures: u64,
    pub failure_rate: f64,
    /// Confidence interval of the failure rate: Clopper-Pearson on the
    /// effective number of operations, `operations / design_effect`, since
    /// under bursty faults the operations of one seed fail together (seeds
    /// are independent, operations within one are not).
    pub ci_low: f64,
    pub ci_high: f64,
    /// Kish's design effect of failures over seeds (at least 1; 1 when
    /// failures are spread as independent trials would spread them).
    pub design_effect: f64,
    /// The plain Clopper-Pearson interval, as if every operation were an
    /// independent trial: narrower than the truth when `design_effect` > 1.
    pub ci_low_independent: f64,
    pub ci_high_independent: f64,
    /// S3 requests per operation (the request amplification). 1.0 for
    /// `s3-requests` without retries; a grid operation takes several S3
    /// requests even without retries (a put lists, reads and writes).
    pub attempts_per_op: f64,
    /// Tries of each whole operation by the gateways' own retry layer (1.0:
    /// it does not retry; 0 for `s3-requests`, which has no gateway).
    pub gateway_attempts_per_op: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_p999: f64,
    pub latency_ms_max: f64,
    pub failures_by_kind: BTreeMap<String, u64>,
    pub failures_by_status: BTreeMap<String, u64>,
    /// Mean and extremes of failures per seed (one seed = one run of the workload).
    pub failures_per_seed_mean: f64,
    pub failures_per_seed_min: u64,
    pub failures_per_seed_max: u64,
    pub faults_injected: u64,
    /// Operations given up because a retry quota, throttle or budget ran dry.
    pub retry_quota_exhausted: u64,
    /// What the invariant checkers found on these seeds (grid workloads
    /// check their history and stored shares at quiescence). In JSON its
    /// fields sit beside the others: `violations`, `seeds_with_violations`,
    /// `violations_by_invariant`, `violation_example` (seed, policy,
    /// invariant, detail, reproduce). Any violation makes `estimate` and
    /// `compare` exit 1, whatever the failure rate.
    #[serde(flatten)]
    pub invariants: ViolationTally,
    /// What these runs met of the scenario's outages, crashes and
    /// partitions; `crate::warnings_after_run` turns it into warnings.
    pub disruptions_reached: DisruptionsReached,
}

impl PolicyEstimate {
    /// Whether the checkers found no broken invariant on any seed.
    pub fn is_clean(&self) -> bool {
        self.invariants.is_clean()
    }
}

/// Every policy's estimate, in the scenario's policy order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub scenario: String,
    pub seeds: u64,
    pub first_seed: u64,
    pub confidence: f64,
    pub policies: Vec<PolicyEstimate>,
}

/// Runs `options.seeds` seeds of every chosen policy over all cores;
/// `progress` is called once per finished run (from worker threads).
///
/// The result does not depend on the number of threads or their timing:
/// runs are collected in (policy, seed) order before summarising.
pub fn estimate(
    scenario: &Scenario,
    options: &EstimateOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<Estimate, EstimateError> {
    let policies = select_policies(scenario, &options.policies)?;
    let seeds = options.first_seed..options.first_seed + options.seeds;
    let reports = run_many(scenario, &policies, seeds.clone(), options.jobs, options.swarm, progress)?;
    // Reports come in (policy, seed) order: one block of seeds per policy.
    let mut reports = reports.into_iter();
    let policies = policies
        .iter()
        .map(|policy| {
            let runs: Result<Vec<RunReport>, RunError> = reports.by_ref().take(options.seeds as usize).collect();
            runs.map(|runs| summarise(scenario, &policy.name, &runs, options)).map_err(EstimateError::Run)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Estimate {
        scenario: scenario.name.clone(),
        seeds: options.seeds,
        first_seed: options.first_seed,
        confidence: options.confidence,
        policies,
    })
}

/// Runs every (policy, seed) pair over the worker threads and returns the
/// results in (policy, seed) order, whatever the threads' timing.
pub(crate) fn run_many(
    scenario: &Scenario,
    policies: &[&NamedPolicy],
    seeds: std::ops::Range<u64>,
    jobs: Option<usize>,
    swarm: bool,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Result<RunReport, RunError>>, EstimateError> {
    let runs: Vec<(usize, u64)> = (0..policies.len()).flat_map(|p| seeds.clone().map(move |seed| (p, seed))).collect();
    let run_all = || -> Vec<Result<RunReport, RunError>> {
        runs.par_iter()
            .map(|&(p, seed)| {
                let report = if swarm {
                    run_seed(&crate::swarm::swarm_scenario(scenario, seed), policies[p], seed, TraceMode::HashOnly)
                } else {
                    run_seed(scenario, policies[p], seed, TraceMode::HashOnly)
                };
                progress();
                report
            })
            .collect()
    };
    match jobs {
        None => Ok(run_all()),
        Some(jobs) => Ok(rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .build()
            .map_err(|error| EstimateError::Threads(error.to_string()))?
            .install(run_all)),
    }
}

/// Why an estimate could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EstimateError {
    UnknownPolicy {
        name: String,
        known: Vec<String>,
    },
    Run(RunError),
    /// The worker thread pool could not be started.
    Threads(String),
}

impl std::fmt::Display for EstimateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EstimateError::UnknownPolicy { name, known } => {
                write!(f, "no policy named {name:?} in the scenario (it has: {})", known.join(", "))
            }
            EstimateError::Run(error) => error.fmt(f),
            EstimateError::Threads(error) => write!(f, "could not start worker threads: {error}"),
        }
    }
}

impl std::error::Error for EstimateError {}

/// The policies named, in the order given; all of the scenario's when none is.
pub fn select_policies<'s>(scenario: &'s Scenario, names: &[String]) -> Result<Vec<&'s NamedPolicy>, EstimateError> {
    if names.is_empty() {
        return Ok(scenario.policies.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            scenario.policy(name).ok_or_else(|| EstimateError::UnknownPolicy {
                name: name.clone(),
                known: scenario.policies.iter().map(|p| p.name.clone()).collect(),
            })
        })
        .collect()
}

fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Summarises one policy's runs (`options` gives the confidence, and whether
/// the seeds ran in swarm mode, for the replay command).
pub(crate) fn summarise(
    scenario: &Scenario,
    policy: &str,
    reports: &[RunReport],
    options: &EstimateOptions,
) -> PolicyEstimate {
    let confidence = options.confidence;
    let operations: u64 = reports.iter().map(|r| r.operations).sum();
    let failures: u64 = reports.iter().map(|r| r.failures).sum();
    let attempts: u64 = reports.iter().map(|r| r.attempts).sum();
    let gateway_attempts: u64 = reports.iter().map(|r| r.gateway_attempts).sum();
    let per_op = |count: u64| if operations == 0 { 0.0 } else { count as f64 / operations as f64 };
    let independent = clopper_pearson(failures, operations, confidence);
    let per_seed: Vec<(u64, u64)> = reports.iter().map(|r| (r.failures.min(r.operations), r.operations)).collect();
    // Counts from reports are consistent (failures <= operations), so this
    // only falls back to the independent interval if the totals overflow.
    let (Interval { low, high }, deff) = match design_effect(&per_seed) {
        Ok(deff) => (deff.clopper_pearson(confidence), deff.design_effect),
        Err(_) => (independent, 1.0),
    };
    let mut latencies: Vec<u64> = reports.iter().flat_map(|r| r.latencies_us.iter().copied()).collect();
    let latency = LatencySummary::from_unsorted(&mut latencies);
    let mut failures_by_kind = BTreeMap::new();
    let mut failures_by_status = BTreeMap::new();
    for report in reports {
        for (kind, n) in &report.failures_by_kind {
            *failures_by_kind.entry(kind.clone()).or_default() += n;
        }
        for (status, n) in &report.failures_by_status {
            *failures_by_status.entry(status.clone()).or_default() += n;
        }
    }
    PolicyEstimate {
        policy: policy.to_owned(),
        seeds: reports.len() as u64,
        operations,
        failures,
        failure_rate: rate(failures, operations),
        ci_low: low,
        ci_high: high,
        design_effect: deff,
        ci_low_independent: independent.low,
        ci_high_independent: independent.high,
        attempts_per_op: per_op(attempts),
        gateway_attempts_per_op: per_op(gateway_attempts),
        latency_ms_p50: us_to_ms(latency.p50),
        latency_ms_p99: us_to_ms(latency.p99),
        latency_ms_p999: us_to_ms(latency.p999),
        latency_ms_max: us_to_ms(latency.max),
        failures_by_kind,
        failures_by_status,
        failures_per_seed_mean: if reports.is_empty() { 0.0 } else { failures as f64 / reports.len() as f64 },
        failures_per_seed_min: reports.iter().map(|r| r.failures).min().unwrap_or(0),
        failures_per_seed_max: reports.iter().map(|r| r.failures).max().unwrap_or(0),
        faults_injected: reports.iter().map(|r| r.faults_injected).sum(),
        retry_quota_exhausted: reports.iter().map(|r| r.quota_exhausted).sum(),
        invariants: ViolationTally::of(scenario, policy, reports, options.swarm),
        disruptions_reached: DisruptionsReached::of_runs(reports, options.swarm),
    }
}
