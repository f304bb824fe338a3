//! Many seeds per policy, in parallel, summarised with confidence intervals.

use std::collections::BTreeMap;

use std::ops::ControlFlow;

use retrylab_scenario::{NamedPolicy, Scenario};
use retrylab_sim::RunError;
use retrylab_stats::{clopper_pearson, design_effect, rate, Interval, LatencyHistogram};
use serde::{Deserialize, Serialize};

use crate::explore::{replay_command, ViolationTally};
use crate::reached::DisruptionsReached;
use crate::report::RunReport;
use crate::runner::{RunTimeout, Runner, Seeds, SeedsError, JOBS_MAX};
use crate::shard::{check_follows, MergeError};

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
    /// Wall-clock budget of each run; `None`: unbounded (the scenario's
    /// simulated-time and event limits still apply).
    pub timeout: Option<RunTimeout>,
}

impl Default for EstimateOptions {
    fn default() -> Self {
        EstimateOptions {
            seeds: 100,
            first_seed: 0,
            policies: Vec::new(),
            confidence: 0.95,
            jobs: None,
            swarm: false,
            timeout: None,
        }
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
    /// The latency CDF as (ms, fraction at or below), exact at each point
    /// and thinned for drawing (`LatencyHistogram::cdf`). Not in `--json`:
    /// the exact histogram travels in a shard's `state`.
    #[serde(skip)]
    pub latency_cdf_ms: Vec<(f64, f64)>,
    /// The runs' trace hashes: the first seeds' own, and a digest of all
    /// (the same on every machine, sharded or not, when every run replayed).
    pub trace_hashes: TraceHashes,
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
    /// Goodput, retries and recovery over time (`s3-requests` with load settings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<crate::load_summary::LoadEstimate>,
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
    /// What the reader should know to weigh the intervals (e.g. every seed
    /// met the same scripted outage); printed under the table.
    pub notes: Vec<String>,
}

/// Runs `options.seeds` seeds of every chosen policy over all cores;
/// `progress` is called once per finished run (from worker threads).
///
/// The result does not depend on the number of threads or their timing:
/// each policy's runs are summarised in seed order. Runs stream into the
/// summaries a chunk of seeds at a time; the first run that fails (in
/// policy, then seed order within its chunk) ends the estimate.
pub fn estimate(
    scenario: &Scenario,
    options: &EstimateOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<Estimate, EstimateError> {
    Ok(estimate_state(scenario, options, progress)?.finish(scenario))
}

/// The exact state an [`Estimate`] is computed from, serializable so that a
/// shard of the seeds can be run on one machine and merged with the others
/// ([`EstimateState::merge`]) into what one machine would have computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EstimateState {
    pub first_seed: u64,
    pub seeds: u64,
    pub confidence: f64,
    pub swarm: bool,
    /// In the order the policies were chosen.
    pub policies: Vec<PolicySummary>,
}

/// [`estimate`], stopping short of the summary: the state to finish or merge.
pub fn estimate_state(
    scenario: &Scenario,
    options: &EstimateOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<EstimateState, EstimateError> {
    let policies = select_policies(scenario, &options.policies)?;
    let seeds = Seeds::new(options.first_seed, options.seeds).map_err(EstimateError::Seeds)?;
    let runner = Runner::new(scenario, &policies, options.jobs, options.swarm, options.timeout)?;
    let mut summaries: Vec<PolicySummary> =
        policies.iter().map(|policy| PolicySummary::new(&policy.name, options.swarm)).collect();
    let mut failed = None;
    runner.run(seeds, progress, &mut |chunk| {
        for (summary, runs) in summaries.iter_mut().zip(chunk) {
            for run in runs {
                match run {
                    Ok(report) => summary.add(scenario, &report),
                    Err(error) => {
                        failed = Some(error);
                        return ControlFlow::Break(());
                    }
                }
            }
        }
        ControlFlow::Continue(())
    });
    if let Some(error) = failed {
        return Err(EstimateError::Run(error));
    }
    Ok(EstimateState {
        first_seed: options.first_seed,
        seeds: options.seeds,
        confidence: options.confidence,
        swarm: options.swarm,
        policies: summaries,
    })
}

impl EstimateState {
    /// The state of runs made elsewhere (real mode): `runs[p]` are policy
    /// p's reports in seed order, for seeds `first_seed..`.
    pub fn of_reports(
        scenario: &Scenario,
        runs: &[(String, Vec<RunReport>)],
        first_seed: u64,
        confidence: f64,
    ) -> Self {
        let policies = runs
            .iter()
            .map(|(policy, reports)| {
                let mut summary = PolicySummary::new(policy, false);
                for report in reports {
                    summary.add(scenario, report);
                }
                summary
            })
            .collect();
        let seeds = runs.iter().map(|(_, reports)| reports.len() as u64).max().unwrap_or(0);
        EstimateState { first_seed, seeds, confidence, swarm: false, policies }
    }

    /// Every policy's estimate of `scenario` (the one these seeds ran).
    pub fn finish(self, scenario: &Scenario) -> Estimate {
        Estimate {
            scenario: scenario.name.clone(),
            seeds: self.seeds,
            first_seed: self.first_seed,
            confidence: self.confidence,
            policies: self.policies.into_iter().map(|summary| summary.finish(self.confidence)).collect(),
            notes: fixed_schedule_note(scenario, self.swarm).into_iter().collect(),
        }
    }

    /// Appends `next`, the state of the seeds that follow these under the
    /// same policies: the state of both ranges, as if run on one machine.
    pub fn merge(&mut self, next: EstimateState) -> Result<(), MergeError> {
        check_follows(self.first_seed, self.seeds, next.first_seed)?;
        if next.confidence.to_bits() != self.confidence.to_bits() || next.swarm != self.swarm {
            return Err(MergeError::Mismatch(format!(
                "confidence {} against {}, swarm {} against {}",
                self.confidence, next.confidence, self.swarm, next.swarm
            )));
        }
        let names = |state: &EstimateState| state.policies.iter().map(|p| p.policy.clone()).collect::<Vec<_>>();
        if names(self) != names(&next) {
            return Err(MergeError::Mismatch(format!(
                "policies [{}] against [{}]",
                names(self).join(", "),
                names(&next).join(", ")
            )));
        }
        for (summary, more) in self.policies.iter_mut().zip(next.policies) {
            summary.merge(more)?;
        }
        self.seeds += next.seeds;
        Ok(())
    }
}

/// When every seed meets the same scripted outage, crash or partition at
/// the same virtual times, the seeds vary only what happens around it: an
/// interval over them says nothing about where such an event may land.
pub(crate) fn fixed_schedule_note(scenario: &Scenario, swarm: bool) -> Option<String> {
    let mut fixed = Vec::new();
    if !scenario.faults.outages.is_empty() {
        fixed.push("faults.outages");
    }
    if !scenario.disruptions.crashes.is_empty() {
        fixed.push("crashes");
    }
    if !scenario.disruptions.partitions.is_empty() {
        fixed.push("partitions");
    }
    if swarm || fixed.is_empty() {
        return None;
    }
    Some(format!(
        "every seed meets the same scripted schedule ({}) at the same virtual times: the intervals reflect only \
         the seeds' noise around this one schedule, not where such an event may land; vary its timing in the \
         scenario, or use --swarm, to cover that",
        fixed.join(", ")
    ))
}

/// Why an estimate could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EstimateError {
    UnknownPolicy {
        name: String,
        known: Vec<String>,
    },
    /// A policy named twice: it would run (and count) twice.
    DuplicatePolicy(String),
    /// The seed range is empty, too long, or runs past the last seed.
    Seeds(SeedsError),
    /// Worker threads outside 1 ..= `JOBS_MAX`.
    Jobs(usize),
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
            EstimateError::DuplicatePolicy(name) => {
                write!(f, "policy {name:?} is named twice: name each policy once")
            }
            EstimateError::Seeds(error) => error.fmt(f),
            EstimateError::Jobs(jobs) => write!(f, "worker threads must be 1 to {JOBS_MAX}, got {jobs}"),
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
    if let Some(twice) = names.iter().enumerate().find_map(|(i, name)| names[..i].contains(name).then_some(name)) {
        return Err(EstimateError::DuplicatePolicy(twice.clone()));
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

/// One policy's runs, summed as they arrive (in seed order), so that no
/// run's whole report is kept: the exact state a summary is computed from.
/// Serializable, so that a shard's part carries it; `merge` appends the next
/// shard's seeds, and `finish` then gives what one machine running every
/// seed would have (counts add, latencies are an exact histogram, per-seed
/// tallies keep seed order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicySummary {
    policy: String,
    swarm: bool,
    seeds: u64,
    operations: u64,
    failures: u64,
    attempts: u64,
    gateway_attempts: u64,
    faults_injected: u64,
    quota_exhausted: u64,
    /// (failures, operations) per seed, in seed order: the clusters of the design effect.
    per_seed: Vec<(u64, u64)>,
    latencies_us: LatencyHistogram,
    failures_by_kind: BTreeMap<String, u64>,
    failures_by_status: BTreeMap<String, u64>,
    failures_per_seed_min: Option<u64>,
    failures_per_seed_max: u64,
    invariants: ViolationTally,
    reached: DisruptionsReached,
    trace_hashes: TraceHashes,
    /// Runs under load (`None` for every other workload: shard parts stay as they were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    load: Option<crate::load_summary::LoadSummary>,
}

/// The runs' trace hashes in a form that merges exactly across shards: the
/// first few seeds' own hashes (to replay and compare one by one) and a
/// digest of every (seed, hash) pair, the same whatever the order they were
/// added in, so two machines agree on it exactly when every run agreed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceHashes {
    /// (seed, trace hash) of the lowest seeds, at most `TRACE_HASHES_LISTED`.
    pub first: Vec<(u64, u64)>,
    /// The wrapping sum of a mix of every (seed, trace hash).
    pub digest: u64,
}

/// Seeds whose own trace hash a summary lists.
pub const TRACE_HASHES_LISTED: usize = 5;

impl TraceHashes {
    fn add(&mut self, seed: u64, hash: u64) {
        if self.first.len() < TRACE_HASHES_LISTED {
            self.first.push((seed, hash));
        }
        self.digest = self.digest.wrapping_add(mix(seed, hash));
    }

    /// Appends the next shard's (its seeds all follow these).
    fn merge(&mut self, next: &TraceHashes) {
        let room = TRACE_HASHES_LISTED.saturating_sub(self.first.len());
        self.first.extend(next.first.iter().take(room));
        self.digest = self.digest.wrapping_add(next.digest);
    }
}

/// SplitMix64's finaliser over a seed and its hash: a sum of these changes
/// when any one run's hash does.
fn mix(seed: u64, hash: u64) -> u64 {
    let mut z = seed.rotate_left(32) ^ hash;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl PolicySummary {
    /// `swarm`: whether the seeds run in swarm mode (for the replay command).
    pub(crate) fn new(policy: &str, swarm: bool) -> Self {
        PolicySummary {
            policy: policy.to_owned(),
            swarm,
            seeds: 0,
            operations: 0,
            failures: 0,
            attempts: 0,
            gateway_attempts: 0,
            faults_injected: 0,
            quota_exhausted: 0,
            per_seed: Vec::new(),
            latencies_us: LatencyHistogram::new(),
            failures_by_kind: BTreeMap::new(),
            failures_by_status: BTreeMap::new(),
            failures_per_seed_min: None,
            failures_per_seed_max: 0,
            invariants: ViolationTally::default(),
            reached: DisruptionsReached { swarm, ..DisruptionsReached::default() },
            trace_hashes: TraceHashes::default(),
            load: None,
        }
    }

    pub fn policy(&self) -> &str {
        &self.policy
    }

    /// (failures, operations) of each seed's run, in seed order.
    pub fn per_seed(&self) -> &[(u64, u64)] {
        &self.per_seed
    }

    /// S3 requests (first tries and retries) over all runs.
    pub fn attempts(&self) -> u64 {
        self.attempts
    }

    /// Operations over all runs.
    pub fn operations(&self) -> u64 {
        self.operations
    }

    /// Adds the next seed's run of `scenario` (for its replay command).
    pub(crate) fn add(&mut self, scenario: &Scenario, report: &RunReport) {
        self.seeds += 1;
        // Saturating: sums of per-run counts cannot reach 2^64 within the
        // seed and operation bounds, and a saturated sum is still no wrap.
        self.operations = self.operations.saturating_add(report.operations);
        self.failures = self.failures.saturating_add(report.failures);
        self.attempts = self.attempts.saturating_add(report.attempts);
        self.gateway_attempts = self.gateway_attempts.saturating_add(report.gateway_attempts);
        self.faults_injected = self.faults_injected.saturating_add(report.faults_injected);
        self.quota_exhausted = self.quota_exhausted.saturating_add(report.quota_exhausted);
        self.per_seed.push((report.failures.min(report.operations), report.operations));
        self.latencies_us.extend(&report.latencies_us);
        add_counts(&mut self.failures_by_kind, &report.failures_by_kind);
        add_counts(&mut self.failures_by_status, &report.failures_by_status);
        self.failures_per_seed_min =
            Some(self.failures_per_seed_min.map_or(report.failures, |m| m.min(report.failures)));
        self.failures_per_seed_max = self.failures_per_seed_max.max(report.failures);
        self.reached.add(report);
        self.trace_hashes.add(report.seed, report.trace_hash);
        if let Some(load) = &report.load {
            let run = crate::load_summary::LoadSummary::of(load);
            match &mut self.load {
                Some(summary) => summary.merge(run),
                None => self.load = Some(run),
            }
        }
        let (policy, swarm) = (&self.policy, self.swarm);
        self.invariants.add(report, |seed| replay_command(scenario, policy, seed, swarm));
    }

    /// Appends `next`, the same policy's summary of the seeds that follow
    /// these: the result is the summary of both ranges, exactly.
    pub fn merge(&mut self, next: PolicySummary) -> Result<(), MergeError> {
        if next.policy != self.policy || next.swarm != self.swarm {
            return Err(MergeError::Mismatch(format!(
                "policy {:?}{} against {:?}{}",
                self.policy,
                if self.swarm { " (swarm)" } else { "" },
                next.policy,
                if next.swarm { " (swarm)" } else { "" }
            )));
        }
        self.seeds += next.seeds;
        self.operations = self.operations.saturating_add(next.operations);
        self.failures = self.failures.saturating_add(next.failures);
        self.attempts = self.attempts.saturating_add(next.attempts);
        self.gateway_attempts = self.gateway_attempts.saturating_add(next.gateway_attempts);
        self.faults_injected = self.faults_injected.saturating_add(next.faults_injected);
        self.quota_exhausted = self.quota_exhausted.saturating_add(next.quota_exhausted);
        self.per_seed.extend(next.per_seed);
        self.latencies_us.merge(&next.latencies_us);
        self.trace_hashes.merge(&next.trace_hashes);
        add_counts(&mut self.failures_by_kind, &next.failures_by_kind);
        add_counts(&mut self.failures_by_status, &next.failures_by_status);
        self.failures_per_seed_min = match (self.failures_per_seed_min, next.failures_per_seed_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.failures_per_seed_max = self.failures_per_seed_max.max(next.failures_per_seed_max);
        self.invariants.merge(next.invariants);
        self.reached.merge(&next.reached);
        self.load = match (self.load.take(), next.load) {
            (Some(mut mine), Some(theirs)) => {
                mine.merge(theirs);
                Some(mine)
            }
            (mine, theirs) => mine.or(theirs),
        };
        Ok(())
    }

    /// The summary at two-sided `confidence`.
    pub(crate) fn finish(self, confidence: f64) -> PolicyEstimate {
        let (operations, failures) = (self.operations, self.failures);
        let per_op = |count: u64| if operations == 0 { 0.0 } else { count as f64 / operations as f64 };
        let independent = clopper_pearson(failures, operations, confidence);
        // Counts from reports are consistent (failures <= operations), so this
        // only falls back to the independent interval if the totals overflow.
        let (Interval { low, high }, deff) = match design_effect(&self.per_seed) {
            Ok(deff) => (deff.clopper_pearson(confidence), deff.design_effect),
            Err(_) => (independent, 1.0),
        };
        let latency = self.latencies_us.summary();
        PolicyEstimate {
            seeds: self.seeds,
            operations,
            failures,
            failure_rate: rate(failures, operations),
            ci_low: low,
            ci_high: high,
            design_effect: deff,
            ci_low_independent: independent.low,
            ci_high_independent: independent.high,
            attempts_per_op: per_op(self.attempts),
            gateway_attempts_per_op: per_op(self.gateway_attempts),
            latency_ms_p50: us_to_ms(latency.p50),
            latency_ms_p99: us_to_ms(latency.p99),
            latency_ms_p999: us_to_ms(latency.p999),
            latency_ms_max: us_to_ms(latency.max),
            latency_cdf_ms: self
                .latencies_us
                .cdf(200)
                .into_iter()
                .map(|(us, fraction)| (us_to_ms(us), fraction))
                .collect(),
            failures_per_seed_mean: if self.seeds == 0 { 0.0 } else { failures as f64 / self.seeds as f64 },
            failures_per_seed_min: self.failures_per_seed_min.unwrap_or(0),
            failures_per_seed_max: self.failures_per_seed_max,
            faults_injected: self.faults_injected,
            retry_quota_exhausted: self.quota_exhausted,
            failures_by_kind: self.failures_by_kind,
            failures_by_status: self.failures_by_status,
            invariants: self.invariants,
            disruptions_reached: self.reached,
            trace_hashes: self.trace_hashes,
            load: self.load.as_ref().map(|load| load.finish(confidence)),
            policy: self.policy,
        }
    }
}

fn add_counts(sum: &mut BTreeMap<String, u64>, counts: &BTreeMap<String, u64>) {
    for (name, n) in counts {
        let slot = sum.entry(name.clone()).or_default();
        *slot = slot.saturating_add(*n);
    }
}
