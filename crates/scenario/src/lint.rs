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
        // A queue makes requests outlast their timeout, a limit answers 503.
        && scenario.s3.capacity.is_none()
        && scenario.s3.rate_limits.is_none()
}

/// Whether S3 can answer `503 SlowDown` for load: a rate limit, or a queue
/// that sheds or times requests out.
fn load_throttles(scenario: &Scenario) -> bool {
    scenario.s3.rate_limits.is_some()
        || scenario.s3.capacity.as_ref().is_some_and(|c| c.queue_max.is_some() || c.queue_timeout.is_some())
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
                format!(
                    "{clients} clients but {operations} operations: the streams past the {operations}th send nothing"
                ),
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
    let throttling = possible_fault_kinds(&scenario.faults).contains(&FaultKind::SlowDown) || load_throttles(scenario);
    let defaults = AwsRetryConfig::v2_0();
    for (i, policy) in scenario.policies.iter().enumerate() {
        let layers = [
            (format!("policies[{i}]"), Some(&policy.config)),
            (format!("policies[{i}].gateway"), policy.gateway.as_ref()),
        ];
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
        | PolicyConfig::Deadline { inner, .. }
        | PolicyConfig::CircuitBreaker { inner, .. }
        | PolicyConfig::ClientThrottle { inner, .. } => {
            throttling_fields(inner, &format!("{at}.inner"), defaults, warnings)
        }
        _ => {}
    }
}

/// Whether `config` hedges at any depth (a hedge is sent without any failure).
fn hedges(config: &PolicyConfig) -> bool {
    match config {
        PolicyConfig::Hedged { .. } => true,
        PolicyConfig::GrpcThrottled { inner, .. }
        | PolicyConfig::RetryBudget { inner, .. }
        | PolicyConfig::Deadline { inner, .. }
        | PolicyConfig::CircuitBreaker { inner, .. }
        | PolicyConfig::ClientThrottle { inner, .. } => hedges(inner),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::load::parse;

    /// An s3-requests put workload with `extra` tables before `[workload]`
    /// and `workload` lines after its kind.
    fn s3(extra: &str, workload: &str, policies: &str) -> Vec<String> {
        let text = format!(
            "name = \"l\"\n{extra}\n[workload]\nkind = \"s3-requests\"\noperations = 10\n{workload}\n{policies}\n"
        );
        warnings(&text)
    }

    fn warnings(text: &str) -> Vec<String> {
        let scenario = parse(text, Path::new("l.toml")).unwrap_or_else(|err| panic!("{err}\n{text}"));
        lint(&scenario).iter().map(ToString::to_string).collect()
    }

    const FAULTS: &str = "[faults]\nkind = \"independent\"\nfailure_probability = 0.01\n";
    const NONE: &str = "[[policies]]\nname = \"none\"\nkind = \"none\"\n";
    const AWS: &str = "[[policies]]\nname = \"aws\"\nkind = \"aws-standard\"\n";

    fn fields(warnings: &[String]) -> Vec<&str> {
        warnings.iter().map(|w| w.split(':').next().unwrap_or("")).collect()
    }

    #[test]
    fn a_plain_scenario_has_no_warnings() {
        assert_eq!(s3(FAULTS, "operation = \"put\"", AWS), Vec::<String>::new());
        assert_eq!(s3("", "operation = \"put\"", NONE), Vec::<String>::new());
    }

    #[test]
    fn settings_for_faults_that_cannot_happen() {
        let mix = "[faults]\nkind = \"none\"\nmix = { slow_down = 1 }\nambiguous_fraction = 0.5\n";
        assert_eq!(fields(&s3(mix, "operation = \"put\"", NONE)), ["faults.mix", "faults.ambiguous_fraction"]);
        let zero = "[faults]\nkind = \"independent\"\nfailure_probability = 0.0\nmix = { timeout = 1 }\n";
        assert_eq!(fields(&s3(zero, "operation = \"put\"", NONE)), ["faults.mix"]);
        // A mix the process can draw from, or the default mix, is fine.
        let used = format!("{FAULTS}mix = {{ timeout = 1 }}\n");
        assert!(s3(&used, "operation = \"put\"", NONE).is_empty());
        let get = format!("{FAULTS}ambiguous_fraction = 0.5\n");
        let warned = s3(&get, "operation = \"get\"", NONE);
        assert_eq!(fields(&warned), ["faults.ambiguous_fraction"]);
        assert!(warned[0].contains("a GET workload writes nothing"), "{warned:?}");
        assert!(s3(&get, "operation = \"put\"", NONE).is_empty());
        let throttled = format!("{FAULTS}mix = {{ slow_down = 1 }}\nambiguous_fraction = 0.5\n");
        let warned = s3(&throttled, "operation = \"put\"", NONE);
        assert!(warned[0].contains("every fault that can happen is a slow_down"), "{warned:?}");
        // An outage is a fault that can happen, with its own kind.
        let outage = "[faults]\nkind = \"none\"\nambiguous_fraction = 0.5\n\
                      [[faults.outages]]\nstart_s = 0\nend_s = 1\n";
        assert!(s3(outage, "operation = \"put\"", NONE).is_empty());
    }

    #[test]
    fn an_error_latency_where_nothing_errs() {
        let latency = "[s3]\nerror_latency_ms = { kind = \"constant\", ms = 5 }\n";
        assert_eq!(fields(&s3(latency, "operation = \"put\"", NONE)), ["s3.error_latency_ms"]);
        assert!(s3(&format!("{latency}{FAULTS}"), "operation = \"put\"", NONE).is_empty());
    }

    #[test]
    fn policies_where_nothing_can_fail() {
        let warned = s3("", "operation = \"put\"", &format!("{AWS}{NONE}"));
        assert_eq!(fields(&warned), ["policies"]);
        assert!(warned[0].ends_with("so aws never retries and behaves as \"none\""), "{warned:?}");
        let lossy = "[network]\nloss_probability = 0.01\n";
        assert!(s3(lossy, "operation = \"put\"", AWS).is_empty());
        let hedged = "[[policies]]\nname = \"h\"\nkind = \"hedged\"\ndelay_ms = 50\n";
        assert!(s3("", "operation = \"put\"", hedged).is_empty());
    }

    #[test]
    fn throttling_settings_without_throttling() {
        let policy = format!("{AWS}initial_backoff_ms = 50\nthrottling_retry_cost = 1\nretry_cost = 1\n");
        let warned = s3(FAULTS, "operation = \"put\"", &policy);
        assert_eq!(fields(&warned), ["policies[0].initial_backoff_ms", "policies[0].throttling_retry_cost"]);
        let throttling = format!("{FAULTS}mix = {{ slow_down = 1, internal_error = 1 }}\n");
        assert!(s3(&throttling, "operation = \"put\"", &policy).is_empty());
        let wrapped = "[[policies]]\nname = \"d\"\nkind = \"deadline\"\ndeadline_ms = 100\n\
                       inner = { kind = \"aws-standard\", initial_backoff_ms = 5 }\n";
        assert_eq!(fields(&s3(FAULTS, "operation = \"put\"", wrapped)), ["policies[0].inner.initial_backoff_ms"]);
    }

    #[test]
    fn keys_and_clients_past_the_operations() {
        let warned = s3(FAULTS, "operation = \"put\"\nkeys = 11\nclients = 12", NONE);
        assert_eq!(fields(&warned), ["workload.keys", "workload.clients"]);
        assert!(s3(FAULTS, "operation = \"put\"\nkeys = 10\nclients = 10", NONE).is_empty());
    }

    fn grid(lafs: &str, workload: &str, faults: &str, policies: &str) -> Vec<String> {
        warnings(&format!(
            "name = \"g\"\n{faults}\n[workload]\n{workload}\n\n[lafs]\nshares_needed = 1\nshares_total = 1\n\
             servers_of_happiness = 1\nservers = 2\n{lafs}\n{policies}\n"
        ))
    }

    const APPENDS: &str = "kind = \"mutable-appends\"\nappends = 5";
    const PUTS: &str = "kind = \"mutable-puts\"\nputs = 5";

    #[test]
    fn grid_settings_with_no_effect() {
        assert!(grid("gateways = 2", APPENDS, FAULTS, NONE).is_empty());
        let shared = "gateways = 2\ngateway_budgets = \"shared\"";
        assert_eq!(fields(&grid(shared, APPENDS, FAULTS, NONE)), ["lafs.gateway_budgets"]);
        let layered = format!("{NONE}gateway = {{ kind = \"immediate\", retries = 1 }}\n");
        assert!(grid(shared, APPENDS, FAULTS, &layered).is_empty());
        let one = "gateway_budgets = \"shared\"";
        assert!(grid(one, APPENDS, FAULTS, &layered)[0].contains("there is one gateway"));
        let writers = format!("{APPENDS}\nwriters_per_file = 3");
        assert_eq!(fields(&grid("gateways = 2", &writers, FAULTS, NONE)), ["workload.writers_per_file"]);
        let replay = "[lafs.design]\nmodify_retry = \"replay\"";
        assert_eq!(fields(&grid(replay, PUTS, FAULTS, NONE)), ["lafs.design.modify_retry"]);
        assert!(grid(replay, APPENDS, FAULTS, NONE).is_empty());
    }

    #[test]
    fn partitions_between_nodes_that_never_talk() {
        let partition = |between: &str| {
            format!("{FAULTS}[[faults.partitions]]\nbetween = {between}\nstart_s = 0\nduration_s = 1\n")
        };
        let servers = partition("[[\"storage-server.0\"], [\"storage-server.1\"]]");
        assert_eq!(fields(&grid("gateways = 2", PUTS, &servers, NONE)), ["faults.partitions[0].between"]);
        let gateways = partition("[[\"gateway.0\"], [\"gateway.1\"]]");
        assert_eq!(fields(&grid("gateways = 2", PUTS, &gateways, NONE)), ["faults.partitions[0].between"]);
        let cut = partition("[[\"gateway.0\", \"storage-server.1\"], [\"storage-server.0\"]]");
        assert!(grid("gateways = 2", PUTS, &cut, NONE).is_empty());
    }
}
