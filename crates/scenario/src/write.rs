//! Writing a [`Scenario`] back as scenario-file TOML, which `parse`/`load` read back to an equal `Scenario`.
//!
//! The writer inverts `load.rs` field by field and writes every field, defaults included, so that a
//! written file means the same thing whatever the loader's defaults become. The text is built by hand
//! (not through serde) to control the layout: top-level keys, then `[limits]`, `[network]`, `[s3]`,
//! `[faults]`, `[workload]`, `[lafs]`, `[lafs.design]` and `[[policies]]`, each wrapped policy as a
//! `[policies.inner]` sub-table, as a person writes a scenario.
//!
//! # What round-trips exactly
//!
//! Every `Scenario` the loader can produce loads back equal (`path` aside, which comes from where the
//! file is read). A `Scenario` built in code can hold values the file format cannot express; the writer
//! then writes the nearest value the format can, and says so in a `# not exact: ...` comment on that
//! line, rather than failing:
//!
//! - Integers above `i64::MAX` (TOML's largest integer; the `u64` counts and millisecond fields) are
//!   written as `i64::MAX`.
//! - Durations in `_ms` fields must be whole milliseconds; others are rounded to the nearest.
//! - `limits.simulated_time_s_max` is seconds as an `f64`, which the loader converts with
//!   `Duration::try_from_secs_f64` (rounding to the nearest nanosecond). Every whole-nanosecond
//!   duration below 2^23 s (about 97 days) is exact, and so is every whole second below 2^53 s; longer
//!   durations with a fraction may fall between two `f64`s, and `Duration::MAX` is beyond the range.
//! - Gilbert-Elliott means are written in seconds and loaded as `seconds * 1000.0` ms: that product
//!   reaches about half of the `f64` millisecond values in some ranges, so e.g. 1001.0 ms has no
//!   exact spelling (`1.001` loads as 1000.9999999999999 ms).
//! - Outage bounds are written in seconds and loaded as `(seconds * 1000.0).round()` whole ms: exact
//!   below 2^52 ms (about 142,000 years).
//!
//! A `Scenario` that breaks the loader's rules in other ways (a zero timeout, a `[lafs]` with an
//! `s3-requests` workload) is written as it is; loading the file reports the problem.

// Load (issue 12): traffic, S3's capacity and rate limits.
#[path = "write_traffic.rs"]
mod traffic;

use std::fmt::Write as _;
use std::time::Duration;

use retrylab_design::Named;
use retrylab_faults::{Disruptions, FaultKind, FaultModel, FaultProcess, LatencyDist, Outage};
use retrylab_retry::{AwsRetryConfig, Jitter, ObjectStoreConfig, PolicyConfig};

use crate::model::{
    BudgetScope, Consistency, Design, LafsSpec, Limits, NamedPolicy, NetworkSpec, S3Operation, S3Spec, Scenario,
    ShareLayout, Workload,
};
use crate::schema::{
    BudgetScopeName, ConsistencyName, FaultKindName, FaultsKind, JitterName, LatencyKind, OperationName, PolicyKind,
    ShareLayoutName, WorkloadKind,
};

/// The scenario as scenario-file TOML (see the module documentation for what loads back exactly).
pub fn to_toml(scenario: &Scenario) -> String {
    to_toml_with_comment(scenario, "")
}

/// [`to_toml`] with `comment` written first, each of its lines as a `# ...` comment line (an empty
/// `comment` writes none), e.g. how the case was found and the command that replays it.
pub fn to_toml_with_comment(scenario: &Scenario, comment: &str) -> String {
    let mut out = Toml::default();
    out.comment(comment);
    out.field("name", Written::exact(string(&scenario.name)));
    out.field("description", Written::exact(string(&scenario.description)));
    out.field("seeds", integer(scenario.seeds_default));
    limits(&mut out, &scenario.limits);
    network(&mut out, &scenario.network);
    s3(&mut out, &scenario.s3);
    faults(&mut out, &scenario.faults);
    disruptions(&mut out, &scenario.disruptions);
    workload(&mut out, &scenario.workload, scenario.traffic.open_loop.is_some());
    if matches!(scenario.workload, Workload::S3Requests { .. }) || scenario.traffic.open_loop.is_some() {
        traffic::traffic_fields(&mut out, &scenario.traffic);
    }
    if let Some(lafs) = &scenario.lafs {
        lafs_spec(&mut out, lafs);
    }
    for policy in &scenario.policies {
        named_policy(&mut out, policy);
    }
    out.text
}

// ---------------------------------------------------------------------------
// Sections

fn limits(out: &mut Toml, limits: &Limits) {
    out.table("limits");
    out.field("simulated_time_s_max", seconds_for_duration(limits.simulated_time_max));
    out.field("events_max", integer(limits.events_max));
}

fn network(out: &mut Toml, network: &NetworkSpec) {
    out.table("network");
    out.field("latency_ms", Written::exact(latency(&network.latency)));
    out.field("loss_probability", Written::exact(float(network.loss_probability)));
}

fn s3(out: &mut Toml, s3: &S3Spec) {
    out.table("s3");
    match s3.consistency {
        Consistency::Strong => out.field("consistency", Written::exact(string(ConsistencyName::Strong.name()))),
        Consistency::Eventual { window } => {
            out.field("consistency", Written::exact(string(ConsistencyName::Eventual.name())));
            out.field("eventual_window_ms", millis(window));
        }
    }
    out.field("request_timeout_ms", millis(s3.request_timeout));
    out.field("latency_ms", Written::exact(latency(&s3.latency)));
    // Absent means "as latency_ms"; writing a copy would load as `Some`, a different Scenario.
    if let Some(error_latency) = &s3.error_latency {
        out.field("error_latency_ms", Written::exact(latency(error_latency)));
    }
    if let Some(capacity) = &s3.capacity {
        traffic::capacity(out, capacity);
    }
    if let Some(limits) = &s3.rate_limits {
        traffic::rate_limits(out, limits);
    }
}

fn faults(out: &mut Toml, faults: &FaultModel) {
    out.table("faults");
    match &faults.process {
        FaultProcess::Never => out.field("kind", Written::exact(string(FaultsKind::None.name()))),
        FaultProcess::Independent { failure_probability } => {
            out.field("kind", Written::exact(string(FaultsKind::Independent.name())));
            out.field("failure_probability", Written::exact(float(*failure_probability)));
        }
        FaultProcess::GilbertElliott(burst) => {
            out.field("kind", Written::exact(string(FaultsKind::GilbertElliott.name())));
            out.field("good_mean_s", seconds_for_ms(burst.good_mean_ms));
            out.field("bad_mean_s", seconds_for_ms(burst.bad_mean_ms));
            out.field("good_failure", Written::exact(float(burst.good_failure)));
            out.field("bad_failure", Written::exact(float(burst.bad_failure)));
        }
    }
    out.field("ambiguous_fraction", Written::exact(float(faults.ambiguous_fraction)));
    // Always written: an absent mix means "all 500s", and a present one weighs unlisted kinds 0.
    out.table("faults.mix");
    out.field("internal_error", Written::exact(float(faults.mix.internal_error)));
    out.field("slow_down", Written::exact(float(faults.mix.slow_down)));
    out.field("connection_reset", Written::exact(float(faults.mix.connection_reset)));
    out.field("timeout", Written::exact(float(faults.mix.timeout)));
    for outage in &faults.outages {
        write_outage(out, outage);
    }
}

fn write_outage(out: &mut Toml, outage: &Outage) {
    out.array_table("faults.outages");
    out.field("start_s", seconds_for_whole_ms(outage.start_ms));
    out.field("end_s", seconds_for_whole_ms(outage.end_ms));
    out.field("kind", Written::exact(string(fault_kind_name(outage.kind).name())));
}

/// `[[faults.crashes]]`, `[[faults.partitions]]` and `[faults.corruption]`, after the rest of
/// `[faults]` (which always precedes them). Nothing when there are none: absent loads as none.
fn disruptions(out: &mut Toml, disruptions: &Disruptions) {
    for crash in &disruptions.crashes {
        out.array_table("faults.crashes");
        out.field("node", Written::exact(string(&crash.node.to_string())));
        out.field("at_s", seconds_for_whole_ms_duration(crash.at));
        out.field("down_s", seconds_for_whole_ms_duration(crash.down));
    }
    for partition in &disruptions.partitions {
        out.array_table("faults.partitions");
        let group = |nodes: &[retrylab_faults::GridNode]| {
            let names: Vec<String> = nodes.iter().map(|node| string(&node.to_string())).collect();
            format!("[{}]", names.join(", "))
        };
        out.field("between", Written::exact(format!("[{}, {}]", group(&partition.side_a), group(&partition.side_b))));
        out.field("start_s", seconds_for_whole_ms_duration(partition.start));
        out.field("duration_s", seconds_for_whole_ms_duration(partition.duration));
    }
    if disruptions.corruption != retrylab_faults::Corruption::default() {
        out.table("faults.corruption");
        for (name, p) in disruptions.corruption.fields() {
            out.field(name, Written::exact(float(p)));
        }
    }
}

/// A disruption's time, which the loader reads as whole milliseconds (as an outage bound).
fn seconds_for_whole_ms_duration(duration: Duration) -> Written {
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let written = seconds_for_whole_ms(ms);
    if Duration::from_millis(ms) == duration || written.note.is_some() {
        return written;
    }
    Written { note: Some(format!("the scenario has {duration:?}; the file takes whole milliseconds")), ..written }
}

fn fault_kind_name(kind: FaultKind) -> FaultKindName {
    match kind {
        FaultKind::InternalError => FaultKindName::InternalError,
        FaultKind::SlowDown => FaultKindName::SlowDown,
        FaultKind::ConnectionReset => FaultKindName::ConnectionReset,
        FaultKind::Timeout => FaultKindName::Timeout,
    }
}

fn workload(out: &mut Toml, workload: &Workload, open_loop: bool) {
    out.table("workload");
    let kind = |out: &mut Toml, kind: WorkloadKind| out.field("kind", Written::exact(string(kind.name())));
    match workload {
        Workload::S3Requests { operations, operation, object_bytes, keys, clients } => {
            kind(out, WorkloadKind::S3Requests);
            // With open-loop arrivals the loader computes `operations` and refuses `clients`.
            let closed = !open_loop;
            if closed {
                out.field("operations", integer(*operations));
            }
            let name = match operation {
                S3Operation::Put => OperationName::Put,
                S3Operation::Get => OperationName::Get,
                S3Operation::Mixed(_) => OperationName::Mixed,
            };
            out.field("operation", Written::exact(string(name.name())));
            if let S3Operation::Mixed(mix) = operation {
                let weights = [("get", mix.get), ("put", mix.put), ("delete", mix.delete), ("list", mix.list)];
                let fields: Vec<String> = weights.iter().map(|(name, w)| format!("{name} = {}", float(*w))).collect();
                out.field("mix", Written::exact(format!("{{ {} }}", fields.join(", "))));
            }
            out.field("object_bytes", integer(*object_bytes));
            out.field("keys", integer(*keys));
            if closed {
                out.field("clients", integer(*clients));
            }
        }
        Workload::MutablePuts { puts, line_bytes, reads_per_write } => {
            kind(out, WorkloadKind::MutablePuts);
            // With open-loop arrivals the loader computes `puts`.
            if !open_loop {
                out.field("puts", integer(*puts));
            }
            out.field("line_bytes", integer(*line_bytes));
            out.field("reads_per_write", integer(*reads_per_write));
        }
        Workload::MutableAppends { appends, reads_per_write, writers_per_file } => {
            kind(out, WorkloadKind::MutableAppends);
            if !open_loop {
                out.field("appends", integer(*appends));
            }
            out.field("reads_per_write", integer(*reads_per_write));
            out.field("writers_per_file", integer(*writers_per_file));
        }
        Workload::Backups { files, file_bytes_step } => {
            kind(out, WorkloadKind::Backups);
            out.field("files", array(files, |count| integer(*count)));
            out.field("file_bytes_step", integer(*file_bytes_step));
        }
    }
}

fn lafs_spec(out: &mut Toml, lafs: &LafsSpec) {
    out.table("lafs");
    out.field("shares_needed", Written::exact(lafs.shares_needed.to_string()));
    out.field("shares_total", Written::exact(lafs.shares_total.to_string()));
    out.field("servers_of_happiness", Written::exact(lafs.servers_of_happiness.to_string()));
    out.field("servers", Written::exact(lafs.servers.to_string()));
    out.field("rpc_timeout_ms", millis(lafs.rpc_timeout));
    out.field("gateways", Written::exact(lafs.gateways.to_string()));
    let budgets = match lafs.gateway_budgets {
        BudgetScope::PerGateway => BudgetScopeName::PerGateway,
        BudgetScope::Shared => BudgetScopeName::Shared,
    };
    out.field("gateway_budgets", Written::exact(string(budgets.name())));
    // Written only when set: absent is unlimited, and files without them stay as they were.
    let capacity = &lafs.server_capacity;
    if let Some(slots) = capacity.concurrency_max {
        out.field("server_concurrency_max", Written::exact(slots.to_string()));
    }
    if let Some(queue_max) = capacity.queue_max {
        out.field("server_queue_max", Written::exact(queue_max.to_string()));
    }
    if let Some(timeout) = capacity.queue_timeout {
        out.field("server_queue_timeout_ms", millis(timeout));
    }
    design(out, &lafs.design);
}

fn design(out: &mut Toml, design: &Design) {
    out.table("lafs.design");
    match design.share_layout {
        ShareLayout::Whole => out.field("share_layout", Written::exact(string(ShareLayoutName::Whole.name()))),
        ShareLayout::Chunked { chunk_bytes } => {
            out.field("share_layout", Written::exact(string(ShareLayoutName::Chunked.name())));
            out.field("chunk_bytes", integer(chunk_bytes));
        }
    }
    out.field("per_index_lock", Written::exact(design.per_index_lock.to_string()));
    // The names are the design crate's (`Named`), the same the loader reads.
    out.field("listing", Written::exact(string(design.listing.name())));
    out.field("write_check", Written::exact(string(design.write_check.name())));
    out.field("read_check", Written::exact(string(design.read_check.name())));
    out.field("modify_retry", Written::exact(string(design.modify_retry.name())));
}

// ---------------------------------------------------------------------------
// Policies

/// One `[[policies]]` entry; each wrapped policy follows as a `[policies.inner]` (`.inner.inner`, ..)
/// sub-table, then the gateway layer as `[policies.gateway]` with its own `.inner` chain. Written in a
/// loop rather than by recursion, so that no depth of wrapping can exhaust the stack.
fn named_policy(out: &mut Toml, policy: &NamedPolicy) {
    out.array_table("policies");
    out.field("name", Written::exact(string(&policy.name)));
    policy_layers(out, &policy.config, "policies");
    if let Some(gateway) = &policy.gateway {
        out.table("policies.gateway");
        policy_layers(out, gateway, "policies.gateway");
    }
}

/// `config`'s fields into the table already opened, then each layer it wraps under `table`.inner...
fn policy_layers(out: &mut Toml, config: &PolicyConfig, table: &str) {
    let mut layer = policy_fields(out, config);
    let mut inner_table = format!("{table}.inner");
    while let Some(inner) = layer {
        out.table(&inner_table);
        layer = policy_fields(out, inner);
        inner_table.push_str(".inner");
    }
}

/// One policy's `kind` and every field of that kind; returns the policy it wraps, if any.
fn policy_fields<'c>(out: &mut Toml, config: &'c PolicyConfig) -> Option<&'c PolicyConfig> {
    let kind = |out: &mut Toml, kind: PolicyKind| out.field("kind", Written::exact(string(kind.name())));
    match config {
        PolicyConfig::None => kind(out, PolicyKind::None),
        PolicyConfig::Immediate { retries } => {
            kind(out, PolicyKind::Immediate);
            out.field("retries", Written::exact(retries.to_string()));
        }
        PolicyConfig::Schedule { delays } => {
            kind(out, PolicyKind::Schedule);
            out.field("delays_ms", array(delays, |delay| millis(*delay)));
        }
        PolicyConfig::Exponential { base, cap, attempts_max, jitter } => {
            kind(out, PolicyKind::Exponential);
            out.field("base_ms", millis(*base));
            out.field("cap_ms", millis(*cap));
            out.field("attempts_max", Written::exact(attempts_max.to_string()));
            let jitter = match jitter {
                Jitter::None => JitterName::None,
                Jitter::Full => JitterName::Full,
                Jitter::Equal => JitterName::Equal,
                Jitter::Decorrelated => JitterName::Decorrelated,
            };
            out.field("jitter", Written::exact(string(jitter.name())));
        }
        PolicyConfig::AwsStandard(aws) => {
            kind(out, aws_standard_kind(aws));
            aws_fields(out, aws);
        }
        PolicyConfig::AwsAdaptive(aws) => {
            kind(out, PolicyKind::AwsAdaptive);
            aws_fields(out, aws);
        }
        PolicyConfig::ObjectStore(config) => {
            kind(out, PolicyKind::ObjectStore);
            object_store_fields(out, config);
        }
        PolicyConfig::GrpcThrottled { max_tokens, token_ratio, .. } => {
            kind(out, PolicyKind::GrpcThrottled);
            out.field("max_tokens", Written::exact(max_tokens.to_string()));
            out.field("token_ratio", Written::exact(float(*token_ratio)));
        }
        PolicyConfig::RetryBudget { ttl, min_retries_per_sec, percent_can_retry, .. } => {
            kind(out, PolicyKind::RetryBudget);
            out.field("ttl_ms", millis(*ttl));
            out.field("min_retries_per_sec", Written::exact(min_retries_per_sec.to_string()));
            out.field("percent_can_retry", Written::exact(float(*percent_can_retry)));
        }
        PolicyConfig::Hedged { delay, quantile, .. } => {
            kind(out, PolicyKind::Hedged);
            out.field("delay_ms", millis(*delay));
            if let Some(quantile) = quantile {
                out.field("quantile", Written::exact(float(*quantile)));
            }
        }
        PolicyConfig::Tahoe { delays, return_first_error } => {
            kind(out, PolicyKind::TahoeCloud);
            out.field("delays_ms", array(delays, |delay| millis(*delay)));
            out.field("return_first_error", Written::exact(return_first_error.to_string()));
        }
        PolicyConfig::Deadline { deadline, .. } => {
            kind(out, PolicyKind::Deadline);
            out.field("deadline_ms", millis(*deadline));
        }
        PolicyConfig::CircuitBreaker { breaker, .. } => {
            kind(out, PolicyKind::CircuitBreaker);
            out.field("window_ms", millis(breaker.window));
            out.field("minimum_calls", Written::exact(breaker.minimum_calls.to_string()));
            out.field("failure_rate_threshold", Written::exact(float(breaker.failure_rate_threshold)));
            out.field("open_ms", millis(breaker.open));
            out.field("half_open_calls", Written::exact(breaker.half_open_calls.to_string()));
        }
        PolicyConfig::ClientThrottle { throttle, .. } => {
            kind(out, PolicyKind::ClientThrottle);
            out.field("window_ms", millis(throttle.window));
            out.field("k", Written::exact(float(throttle.k)));
        }
    }
    config.inner()
}

/// "aws-standard" and "aws-standard-2.1" load into the same variant and differ only in defaults, so
/// with every field written either loads the same; the one whose defaults the config is closer to tells
/// a reader which retry behavior it is.
fn aws_standard_kind(aws: &AwsRetryConfig) -> PolicyKind {
    let differences = |defaults: AwsRetryConfig| {
        [
            aws.attempts_max != defaults.attempts_max,
            aws.initial_backoff != defaults.initial_backoff,
            aws.non_throttling_initial_backoff != defaults.non_throttling_initial_backoff,
            aws.max_backoff != defaults.max_backoff,
            aws.quota_capacity != defaults.quota_capacity,
            aws.retry_cost != defaults.retry_cost,
            aws.timeout_retry_cost != defaults.timeout_retry_cost,
            aws.throttling_retry_cost != defaults.throttling_retry_cost,
            aws.first_try_reward != defaults.first_try_reward,
        ]
        .iter()
        .filter(|differs| **differs)
        .count()
    };
    if differences(AwsRetryConfig::v2_1()) < differences(AwsRetryConfig::v2_0()) {
        PolicyKind::AwsStandardV2_1
    } else {
        PolicyKind::AwsStandard
    }
}

fn aws_fields(out: &mut Toml, aws: &AwsRetryConfig) {
    out.field("attempts_max", Written::exact(aws.attempts_max.to_string()));
    out.field("initial_backoff_ms", millis(aws.initial_backoff));
    out.field("non_throttling_initial_backoff_ms", millis(aws.non_throttling_initial_backoff));
    out.field("max_backoff_ms", millis(aws.max_backoff));
    out.field("quota_capacity", Written::exact(aws.quota_capacity.to_string()));
    out.field("retry_cost", Written::exact(aws.retry_cost.to_string()));
    out.field("timeout_retry_cost", Written::exact(aws.timeout_retry_cost.to_string()));
    out.field("throttling_retry_cost", Written::exact(aws.throttling_retry_cost.to_string()));
    out.field("first_try_reward", Written::exact(aws.first_try_reward.to_string()));
}

fn object_store_fields(out: &mut Toml, config: &ObjectStoreConfig) {
    out.field("init_backoff_ms", millis(config.init_backoff));
    out.field("max_backoff_ms", millis(config.max_backoff));
    out.field("base", Written::exact(float(config.base)));
    out.field("max_retries", Written::exact(config.max_retries.to_string()));
    out.field("retry_timeout_ms", millis(config.retry_timeout));
}

// ---------------------------------------------------------------------------
// The text

/// The file being written: tables separated by blank lines, `key = value` lines within.
#[derive(Default)]
struct Toml {
    text: String,
}

impl Toml {
    /// `comment`'s lines as `# ...` lines, then a blank line; nothing for an empty comment.
    fn comment(&mut self, comment: &str) {
        if comment.is_empty() {
            return;
        }
        for line in comment.lines() {
            self.text.push('#');
            if !line.is_empty() {
                self.text.push(' ');
                // A comment may not hold control characters (but tab); show them escaped.
                for c in line.chars() {
                    if c.is_control() && c != '\t' {
                        self.text.extend(c.escape_unicode());
                    } else {
                        self.text.push(c);
                    }
                }
            }
            self.text.push('\n');
        }
        self.text.push('\n');
    }

    fn table(&mut self, name: &str) {
        self.text.push_str(&format!("\n[{name}]\n"));
    }

    fn array_table(&mut self, name: &str) {
        self.text.push_str(&format!("\n[[{name}]]\n"));
    }

    fn field(&mut self, key: &str, value: Written) {
        self.text.push_str(key);
        self.text.push_str(" = ");
        self.text.push_str(&value.text);
        if let Some(note) = value.note {
            self.text.push_str("  # not exact: ");
            self.text.push_str(&note);
        }
        self.text.push('\n');
    }
}

/// A value's TOML text and, when the file format cannot hold the value exactly, why.
struct Written {
    text: String,
    note: Option<String>,
}

impl Written {
    fn exact(text: String) -> Self {
        Written { text, note: None }
    }
}

/// A TOML basic string; a multi-line one (as the shipped files write descriptions) when `text` has
/// line breaks. Every `"` and `\` is escaped, as is every control character but the line breaks of a
/// multi-line string, so that no sequence of quotes or a `\` at a line's end can end or fold it.
fn string(text: &str) -> String {
    let multi_line = text.contains('\n');
    let mut out = String::with_capacity(text.len() + 2);
    // The line break after the opening `"""` is not part of the string.
    out.push_str(if multi_line { "\"\"\"\n" } else { "\"" });
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' if multi_line => out.push('\n'),
            '\n' => out.push_str("\\n"),
            // `\r` escaped even in a multi-line string: a parser may normalise a literal CRLF to LF.
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push_str(if multi_line { "\"\"\"" } else { "\"" });
    out
}

/// A TOML float that parses back to exactly `value`: Rust's `Debug` form is the shortest decimal
/// that does, and always has a `.` or an exponent, so TOML reads it as a float (`1.0`, `1e-7`).
fn float(value: f64) -> String {
    if value.is_nan() {
        "nan".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        format!("{value:?}")
    }
}

/// The largest TOML integer (TOML integers are signed 64-bit).
const TOML_INTEGER_MAX: u64 = i64::MAX as u64;

fn integer(value: u64) -> Written {
    if value <= TOML_INTEGER_MAX {
        Written::exact(value.to_string())
    } else {
        Written {
            text: TOML_INTEGER_MAX.to_string(),
            note: Some(format!("the scenario has {value}, above the largest TOML integer")),
        }
    }
}

/// A duration as an `_ms` field: whole milliseconds, rounded to the nearest when it is not.
fn millis(duration: Duration) -> Written {
    let nanos = duration.as_nanos();
    let ms = (nanos + 500_000) / 1_000_000;
    let written = u64::try_from(ms).unwrap_or(u64::MAX).min(TOML_INTEGER_MAX);
    let note = if u128::from(written) != ms {
        Some(format!("the scenario has {} ms, above the largest TOML integer", duration.as_millis()))
    } else if Duration::from_millis(written) != duration {
        Some(format!("the scenario has {duration:?}; the file takes whole milliseconds"))
    } else {
        None
    };
    Written { text: written.to_string(), note }
}

/// `values` as a one-line TOML array, noting which elements are not exact.
fn array<T>(values: &[T], element: impl Fn(&T) -> Written) -> Written {
    let mut texts = Vec::with_capacity(values.len());
    let mut notes = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let written = element(value);
        texts.push(written.text);
        if let Some(note) = written.note {
            notes.push(format!("[{i}]: {note}"));
        }
    }
    Written { text: format!("[{}]", texts.join(", ")), note: (!notes.is_empty()).then(|| notes.join("; ")) }
}

/// A latency distribution as an inline table; a mixture's components one per line.
fn latency(dist: &LatencyDist) -> String {
    format!("{{ {} }}", latency_fields(dist))
}

/// `kind = "..", <params>` of a distribution. A mixture nested in a mixture (which the loader
/// refuses) is written as one anyway, so that loading the file names the mistake.
fn latency_fields(dist: &LatencyDist) -> String {
    let (kind, params): (LatencyKind, Vec<(&str, f64)>) = match dist {
        LatencyDist::Constant { ms } => (LatencyKind::Constant, vec![("ms", *ms)]),
        LatencyDist::Uniform { low_ms, high_ms } => {
            (LatencyKind::Uniform, vec![("low_ms", *low_ms), ("high_ms", *high_ms)])
        }
        LatencyDist::Normal { mean_ms, std_dev_ms } => {
            (LatencyKind::Normal, vec![("mean_ms", *mean_ms), ("std_dev_ms", *std_dev_ms)])
        }
        LatencyDist::LogNormal { median_ms, sigma } => {
            (LatencyKind::LogNormal, vec![("median_ms", *median_ms), ("sigma", *sigma)])
        }
        LatencyDist::Exponential { mean_ms } => (LatencyKind::Exponential, vec![("mean_ms", *mean_ms)]),
        LatencyDist::Empirical(points) => {
            let pairs: Vec<String> =
                points.iter().map(|q| format!("[{}, {}]", float(q.probability), float(q.ms))).collect();
            return format!("kind = {}, quantiles = [{}]", string(LatencyKind::Empirical.name()), pairs.join(", "));
        }
        LatencyDist::Mixture(components) => {
            let mut text = format!("kind = {}, components = [\n", string(LatencyKind::Mixture.name()));
            for component in components {
                let _ = writeln!(
                    text,
                    "    {{ weight = {}, {} }},",
                    float(component.weight),
                    latency_fields(&component.dist)
                );
            }
            text.push(']');
            return text;
        }
    };
    let mut text = format!("kind = {}", string(kind.name()));
    for (name, value) in params {
        let _ = write!(text, ", {name} = {}", float(value));
    }
    text
}

// ---------------------------------------------------------------------------
// Seconds that load back to the scenario's value

/// How many adjacent `f64`s on each side of the first guess are tried. The guess is within a few
/// units in the last place of any exact answer (see the callers), so a handful is plenty.
const ADJACENT_TRIES: usize = 8;

/// `start`, then the `f64`s next to it, alternately above and below, nearest first.
fn around(start: f64) -> impl Iterator<Item = f64> {
    let mut above = start;
    let mut below = start;
    std::iter::once(start).chain((0..ADJACENT_TRIES).flat_map(move |_| {
        above = next_up(above);
        below = next_down(below);
        [above, below]
    }))
}

/// The least `f64` greater than `x` (as `f64::next_up`, which is newer than the workspace's Rust).
fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        x
    } else if x == 0.0 {
        f64::from_bits(1)
    } else if x > 0.0 {
        f64::from_bits(x.to_bits() + 1)
    } else {
        f64::from_bits(x.to_bits() - 1)
    }
}

fn next_down(x: f64) -> f64 {
    -next_up(-x)
}

/// Of the candidates `around(start)` that the loader accepts, the first that loads as `target`, else
/// the one that loads nearest to it (with a note), else `start` (the loader then rejects it, naming
/// the field: the value is out of range however it is spelt).
fn seconds_loading_as<T: PartialEq + std::fmt::Debug>(
    start: f64,
    target: T,
    loads_as: impl Fn(f64) -> Option<T>,
    distance: impl Fn(&T, &T) -> f64,
    unit: &str,
) -> Written {
    let mut nearest: Option<(f64, T, f64)> = None;
    for seconds in around(start) {
        let Some(loaded) = loads_as(seconds) else { continue };
        if loaded == target {
            return Written::exact(float(seconds));
        }
        let off = distance(&loaded, &target);
        if nearest.as_ref().is_none_or(|(_, _, nearest_off)| off < *nearest_off) {
            nearest = Some((seconds, loaded, off));
        }
    }
    match nearest {
        Some((seconds, loaded, _)) => Written {
            text: float(seconds),
            note: Some(format!("loads as {loaded:?}{unit}; the scenario has {target:?}{unit}")),
        },
        None => Written::exact(float(start)),
    }
}

/// `limits.simulated_time_s_max`, which the loader reads with `Duration::try_from_secs_f64` (which
/// rounds to the nearest nanosecond) and requires finite and > 0.
fn seconds_for_duration(duration: Duration) -> Written {
    // The decimal text is exact, so parsing it gives the f64 nearest to the duration, correctly rounded.
    let decimal = format!("{}.{:09}", duration.as_secs(), duration.subsec_nanos());
    let start = decimal.parse::<f64>().unwrap_or(duration.as_secs_f64());
    let loads_as = |seconds: f64| {
        if seconds.is_finite() && seconds > 0.0 {
            Duration::try_from_secs_f64(seconds).ok()
        } else {
            None
        }
    };
    seconds_loading_as(start, duration, loads_as, |a, b| a.abs_diff(*b).as_secs_f64(), "")
}

/// A Gilbert-Elliott mean, which the loader reads as `seconds * 1000.0` ms (finite, > 0).
fn seconds_for_ms(ms: f64) -> Written {
    let loads_as = |seconds: f64| {
        let loaded = seconds * 1000.0;
        (seconds.is_finite() && seconds > 0.0 && loaded.is_finite()).then_some(loaded)
    };
    seconds_loading_as(ms / 1000.0, ms, loads_as, |a, b| (a - b).abs(), " ms")
}

/// An outage bound, which the loader reads as `(seconds * 1000.0).round()` whole ms (finite, >= 0,
/// below 2^64).
fn seconds_for_whole_ms(ms: u64) -> Written {
    const U64_LIMIT: f64 = 18_446_744_073_709_551_616.0;
    let loads_as = |seconds: f64| {
        let loaded = (seconds * 1000.0).round();
        // In range: checked against 2^64, the first value `as u64` would saturate.
        (seconds.is_finite() && seconds >= 0.0 && loaded < U64_LIMIT).then_some(loaded as u64)
    };
    seconds_loading_as(ms as f64 / 1000.0, ms, loads_as, |a, b| a.abs_diff(*b) as f64, " ms")
}
