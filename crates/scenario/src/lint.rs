//! Settings a scenario file may give that cannot affect its runs: the loader
//! accepts them (each is valid on its own), but a user who wrote one meant
//! something the simulator will not do, so `retrylab check`, `run`,
//! `estimate` and `compare` warn. Pure: judged from the loaded [`Scenario`]
//! alone, before any run. (Disruptions that start after a run ended are only
//! known afterwards: `retrylab_harness::warnings_after_run`.)
//!
//! A setting is judged by its value, not by whether the file spelled it: a
//! default written out is never warned about, a value that differs from the
//! default and changes nothing is.

use std::fmt;

use retrylab_faults::{FaultKind, FaultMix, FaultModel, FaultProcess, GridNode};
use retrylab_retry::{AwsRetryConfig, PolicyConfig};

use crate::model::{BudgetScope, Consistency, ModifyRetry, S3Operation, Scenario, Workload};

/// One setting that has no effect, named by its field path in the file's
/// terms (`faults.mix`, `policies[2].initial_backoff_ms`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub field: String,
    /// Why it has no effect, one line.
    pub message: String,
    /// 1-based line and column of the field in its file, when known
    /// ([`crate::check_source`] finds them; [`lint`] cannot).
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl Warning {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Warning { field: field.into(), message: message.into(), line: None, column: None }
    }
}

/// `field: message`, the form `warning: ...` lines on stderr take.
impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every setting of `scenario` that cannot affect a run, in the order of
/// the file's sections.
pub fn lint(scenario: &Scenario) -> Vec<Warning> {
    let mut warnings = Vec::new();
    eventual_consistency(scenario, &mut warnings);
    error_latency(scenario, &mut warnings);
    fault_settings(scenario, &mut warnings);
    partitions(scenario, &mut warnings);
    workload(scenario, &mut warnings);
    grid(scenario, &mut warnings);
    policies(scenario, &mut warnings);
    warnings
}

/// Whether the random fault process can fail a request at all.
fn process_fails(process: &FaultProcess) -> bool {
    match process {
        FaultProcess::Never => false,
        FaultProcess::Independent { failure_probability } => *failure_probability > 0.0,
        FaultProcess::GilbertElliott(burst) => burst.good_failure > 0.0 || burst.bad_failure > 0.0,
    }
}

/// The kinds of fault the scenario's S3 can inject: the mix's (weight > 0)
/// when the process can fail, and every outage's.
fn possible_fault_kinds(faults: &FaultModel) -> Vec<FaultKind> {
    let mut kinds: Vec<FaultKind> = Vec::new();
    if process_fails(&faults.process) {
        let mix = &faults.mix;
        let weights = [
            (FaultKind::InternalError, mix.internal_error),
            (FaultKind::SlowDown, mix.slow_down),
            (FaultKind::ConnectionReset, mix.connection_reset),
            (FaultKind::Timeout, mix.timeout),
        ];
        kinds.extend(weights.iter().filter(|(_, weight)| *weight > 0.0).map(|(kind, _)| *kind));
    }
    kinds.extend(faults.outages.iter().map(|outage| outage.kind));
    kinds.sort_by_key(|kind| kind.name());
    kinds.dedup();
    kinds
}

/// An `s3-requests` workload of plain PUTs or GETs (not mixed).
fn plain_s3(workload: &Workload) -> Option<S3Operation> {
    match workload {
        Workload::S3Requests { operation: operation @ (S3Operation::Put | S3Operation::Get), .. } => Some(*operation),
        _ => None,
    }
}

/// Whether any request can fail: a fault, message loss, or (on a grid or a
/// mixed workload) the 4xx answers that traffic itself causes.
fn nothing_can_fail(scenario: &Scenario) -> bool {
    plain_s3(&scenario.workload).is_some()
        && possible_fault_kinds(&scenario.faults).is_empty()
        && scenario.network.loss_probability == 0.0
}

fn eventual_consistency(scenario: &Scenario, warnings: &mut Vec<Warning>) {
    if matches!(scenario.s3.consistency, Consistency::Eventual { .. }) && !scenario.workload.reads_after_overwrite() {
        let why = match &scenario.workload {
            Workload::S3Requests { operation: S3Operation::Mixed(_), .. } => {
                "this mixed s3-requests workload has no GETs, or no PUTs or DELETEs to overwrite what it reads \
                 (listings are always current)"
            }
            _ => "an s3-requests put/get workload never reads a key after overwriting it",
        };
        warnings.push(Warning::new("s3.consistency", format!("\"eventual\" has no effect: {why}")));
    }
}

fn error_latency(scenario: &Scenario, warnings: &mut Vec<Warning>) {
    if scenario.s3.error_latency.is_some() && nothing_can_fail(scenario) {
        warnings.push(Warning::new(
            "s3.error_latency_ms",
            "has no effect: no S3 request of this put/get workload is answered with an error (no faults, no \
             outages; a request that outlasts s3.request_timeout_ms fails at the client, with no answer)",
        ));
    }
}

fn fault_settings(scenario: &Scenario, warnings: &mut Vec<Warning>) {
    let faults = &scenario.faults;
    let random_faults = process_fails(&faults.process);
    if !random_faults && faults.mix != FaultMix::default() {
        warnings.push(Warning::new(
            "faults.mix",
            "has no effect: the fault process never fails a request (kind = \"none\" or failure probabilities \
             of 0), and an outage has its own kind",
        ));
    }
    if faults.ambiguous_fraction > 0.0 {
        let kinds = possible_fault_kinds(faults);
        let why = if kinds.is_empty() {
            Some("no fault can happen (no fault process, no outages)".to_owned())
        } else if plain_s3(&scenario.workload) == Some(S3Operation::Get) {
            Some("a GET workload writes nothing that a failed request could have applied".to_owned())
        } else if kinds.iter().all(|kind| !kind.may_be_applied()) {
            Some("every fault that can happen is a slow_down, which S3 never applies".to_owned())
        } else {
            None
        };
        if let Some(why) = why {
            warnings.push(Warning::new("faults.ambiguous_fraction", format!("has no effect: {why}")));
        }
    }
}

/// A partition between nodes that never send each other a message: storage
/// servers talk only to gateways (and S3), gateways only to storage servers.
fn partitions(scenario: &Scenario, warnings: &mut Vec<Warning>) {
    let is_gateway = |node: &GridNode| matches!(node, GridNode::Gateway(_));
    for (i, partition) in scenario.disruptions.partitions.iter().enumerate() {
        let cuts = |a: &[GridNode], b: &[GridNode]| a.iter().any(is_gateway) && b.iter().any(|n| !is_gateway(n));
        if !cuts(&partition.side_a, &partition.side_b) && !cuts(&partition.side_b, &partition.side_a) {
            warnings.push(Warning::new(
                format!("faults.partitions[{i}].between"),
                "has no effect: no gateway is on one side with a storage server on the other, and gateways talk \
                 only to storage servers (storage servers only to gateways and S3)",
            ));
        }
    }
}

fn workload(scenario: &Scenario, warnings: &mut Vec<Warning>) {
    if let Workload::S3Requests { operations, operation, keys, clients, .. } = &scenario.workload {
        if !matches!(operation, S3Operation::Mixed(_)) && keys > operations {
            warnings.push(Warning::new(
                "workload.keys",
                format!(
                    "{keys} keys but {operations} operations: the operations cycle over the keys, so keys past \
                     the {operations}th are never used"
                ),
            ));
        }
        if clients > operations {
            warnings.push(Warning::new(
                "workload.clients",
                format!("{clients} clients but {operations} operations: the streams past the {operations}th send nothing"),
            ));
        }
    }
    if let (Workload::MutableAppends { writers_per_file, .. }, Some(lafs)) = (&scenario.workload, &scenario.lafs) {
        if *writers_per_file > u64::from(lafs.gateways) {
            warnings.push(Warning::new(
                "workload.writers_per_file",
                format!(
                    "{writers_per_file} writers per file but lafs.gateways = {}: every gateway shares the one file, \
                     so this is the same as writers_per_file = {}",
                    lafs.gateways, lafs.gateways
                ),
            ));
        }
    }
}

fn grid(scenario: &Scenario, warnings: &mut Vec<Warning>) {
    let Some(lafs) = &scenario.lafs else { return };
    if lafs.gateway_budgets == BudgetScope::Shared {
        let why = if lafs.gateways == 1 {
            Some("there is one gateway (lafs.gateways = 1), so nothing shares its budget")
        } else if scenario.policies.iter().all(|policy| policy.gateway.is_none()) {
            Some("no policy has a gateway layer (`gateway = { .. }`) to share a budget")
        } else {
            None
        };
        if let Some(why) = why {
            warnings.push(Warning::new("lafs.gateway_budgets", format!("\"shared\" has no effect: {why}")));
        }
    }
    if lafs.design.modify_retry == ModifyRetry::Replay && matches!(scenario.workload, Workload::MutablePuts { .. }) {
        warnings.push(Warning::new(
            "lafs.design.modify_retry",
            "\"replay\" has no effect: a mutable-puts workload overwrites its file and never modifies \
             (read-modify-write) one; appends and backups (directory updates) do",
        ));
    }
}

fn policies(scenario: &Scenario, warnings: &mut Vec<Warning>) {
    let throttling = possible_fault_kinds(&scenario.faults).contains(&FaultKind::SlowDown);
    let defaults = AwsRetryConfig::v2_0();
    for (i, policy) in scenario.policies.iter().enumerate() {
        let layers = [(format!("policies[{i}]"), Some(&policy.config)), (format!("policies[{i}].gateway"), policy.gateway.as_ref())];
        for (at, config) in layers {
            let Some(config) = config else { continue };
            if !throttling {
                throttling_fields(config, &at, &defaults, warnings);
            }
        }
    }
    if nothing_can_fail(scenario) {
        let retrying: Vec<&str> = scenario
            .policies
            .iter()
            .filter(|policy| !matches!(policy.config, PolicyConfig::None) && !hedges(&policy.config))
            .map(|policy| policy.name.as_str())
            .collect();
        if !retrying.is_empty() {
            warnings.push(Warning::new(
                "policies",
                format!(
                    "no request can fail (no faults, no outages, no message loss; only a request that outlasts \
                     s3.request_timeout_ms), so {} never retr{} and behave{} as \"none\"",
                    retrying.join(", "),
                    if retrying.len() == 1 { "ies" } else { "y" },
                    if retrying.len() == 1 { "s" } else { "" },
                ),
            ));
        }
    }
}

/// An AWS policy's settings for throttling errors, at any depth of wrapping,
/// when S3 cannot throttle (no `slow_down` in the mix or an outage).
fn throttling_fields(config: &PolicyConfig, at: &str, defaults: &AwsRetryConfig, warnings: &mut Vec<Warning>) {
    match config {
        PolicyConfig::AwsStandard(aws) | PolicyConfig::AwsAdaptive(aws) => {
            let why = "has no effect: S3 never throttles here (no slow_down in faults.mix or an outage), and this \
                       setting applies only after a throttling error";
            if aws.initial_backoff != defaults.initial_backoff {
                warnings.push(Warning::new(format!("{at}.initial_backoff_ms"), why));
            }
            if aws.throttling_retry_cost != defaults.throttling_retry_cost {
                warnings.push(Warning::new(format!("{at}.throttling_retry_cost"), why));
            }
        }
        PolicyConfig::GrpcThrottled { inner, .. }
        | PolicyConfig::RetryBudget { inner, .. }
        | PolicyConfig::Hedged { inner, .. }
        | PolicyConfig::Deadline { inner, .. } => throttling_fields(inner, &format!("{at}.inner"), defaults, warnings),
        _ => {}
    }
}

/// Whether `config` hedges at any depth (a hedge is sent without any failure).
fn hedges(config: &PolicyConfig) -> bool {
    match config {
        PolicyConfig::Hedged { .. } => true,
        PolicyConfig::GrpcThrottled { inner, .. }
        | PolicyConfig::RetryBudget { inner, .. }
        | PolicyConfig::Deadline { inner, .. } => hedges(inner),
        _ => false,
    }
}
