//! Rendering reports: human text and the stable JSON field names.

use std::collections::BTreeMap;
use std::fmt::Write;

use retrylab_harness::{Comparison, Estimate, Exploration, PolicyEstimate, PropertyFailure, RunReport};
use retrylab_scenario::Scenario;
use retrylab_stats::LatencySummary;
use serde::Serialize;

/// `run --json`: field names are a stable interface.
#[derive(Serialize)]
struct RunJson<'a> {
    scenario: &'a str,
    seed: u64,
    policy: &'a str,
    operations: u64,
    failures: u64,
    failures_by_kind: &'a BTreeMap<String, u64>,
    failures_by_status: &'a BTreeMap<String, u64>,
    attempts: u64,
    /// Retries in every layer: `s3_retries + gateway_retries`.
    retries: u64,
    s3_retries: u64,
    gateway_retries: u64,
    gateway_attempts: u64,
    quota_exhausted: u64,
    faults_injected: u64,
    /// Requests the storage servers turned away unrun; absent when 0 (servers without a capacity).
    #[serde(skip_serializing_if = "is_zero")]
    server_rejections: u64,
    latency_ms_p50: f64,
    latency_ms_p99: f64,
    latency_ms_max: f64,
    events: u64,
    simulated_time_s: f64,
    violations: &'a [retrylab_harness::Violation],
    /// 16 hex digits.
    trace_hash: String,
    /// Runs under load: the per-window series and the recovery (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    load: Option<&'a retrylab_harness::LoadReport>,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn latency(report: &RunReport) -> LatencySummary {
    let mut latencies = report.latencies_us.clone();
    LatencySummary::from_unsorted(&mut latencies)
}

fn json(value: &impl Serialize) -> String {
    // Serialising plain structs of numbers, strings and maps cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    text.push('\n');
    text
}

pub fn run_json(scenario: &Scenario, report: &RunReport) -> String {
    let latency = latency(report);
    json(&RunJson {
        scenario: &scenario.name,
        seed: report.seed,
        policy: &report.policy,
        operations: report.operations,
        failures: report.failures,
        failures_by_kind: &report.failures_by_kind,
        failures_by_status: &report.failures_by_status,
        attempts: report.attempts,
        retries: report.retries,
        s3_retries: report.s3_retries,
        gateway_retries: report.gateway_retries,
        gateway_attempts: report.gateway_attempts,
        quota_exhausted: report.quota_exhausted,
        faults_injected: report.faults_injected,
        server_rejections: report.server_rejections,
        latency_ms_p50: ms(latency.p50),
        latency_ms_p99: ms(latency.p99),
        latency_ms_max: ms(latency.max),
        events: report.events,
        simulated_time_s: report.simulated_time.as_secs_f64(),
        violations: &report.violations,
        trace_hash: format!("{:016x}", report.trace_hash),
        load: report.load.as_ref(),
    })
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter().map(|(name, n)| format!("{n} x {name}")).collect::<Vec<_>>().join(", ")
}

fn percent(rate: f64) -> String {
    format!("{:.3}%", rate * 100.0)
}

fn duration(seconds: f64) -> String {
    let total = seconds.round() as u64;
    format!("{}h {:02}m {:02}s", total / 3600, total / 60 % 60, total % 60)
}

pub fn run_human(scenario: &Scenario, report: &RunReport) -> String {
    let mut out = String::new();
    if let Some(trace) = &report.trace {
        for event in trace {
            let _ = writeln!(out, "{}", event.line(&report.node_names));
        }
        out.push('\n');
    }
    let latency = latency(report);
    let operations = report.operations.max(1) as f64;
    let _ = writeln!(out, "scenario    {} ({})", scenario.name, scenario.path.display());
    let _ = writeln!(out, "policy      {}", report.policy);
    let _ = writeln!(out, "seed        {}", report.seed);
    let _ = writeln!(out, "operations  {}", report.operations);
    let _ = writeln!(
        out,
        "failures    {} ({} of operations)",
        report.failures,
        percent(report.failures as f64 / operations)
    );
    let _ = writeln!(out, "  by kind   {}", counts(&report.failures_by_kind));
    let _ = writeln!(out, "  by status {}", counts(&report.failures_by_status));
    // Both layers' retries; each layer's own when the gateways retried too.
    let layers = if report.gateway_retries > 0 {
        format!(" ({} by S3 layers, {} by gateway layers)", report.s3_retries, report.gateway_retries)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "attempts    {} ({:.4} per operation), {} retries{layers}; {} faults injected",
        report.attempts,
        report.attempts as f64 / operations,
        report.retries,
        report.faults_injected
    );
    if report.gateway_attempts > 0 || report.quota_exhausted > 0 {
        let _ = writeln!(
            out,
            "            gateways tried whole operations {} times ({:.4} per operation); {} give-ups for want of quota",
            report.gateway_attempts,
            report.gateway_attempts as f64 / operations,
            report.quota_exhausted
        );
    }
    if report.server_rejections > 0 {
        let _ = writeln!(
            out,
            "            storage servers turned away {} requests unrun (queue full or queue timeout)",
            report.server_rejections
        );
    }
    let _ = writeln!(
        out,
        "latency     p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(latency.p50),
        ms(latency.p99),
        ms(latency.max)
    );
    let _ = writeln!(
        out,
        "simulated   {} of virtual time, {} events",
        duration(report.simulated_time.as_secs_f64()),
        report.events
    );
    if !report.violations.is_empty() {
        let _ = writeln!(out, "violations  {}", report.violations.len());
        for violation in &report.violations {
            let _ = writeln!(out, "  {}: {}", violation.invariant, violation.detail);
        }
    }
    if let Some(load) = &report.load {
        let recovery = match (load.trigger_ms, load.baseline_per_s, load.recovery_s) {
            (None, _, _) => "no trigger".to_owned(),
            (Some(_), None, _) => "no whole window before the trigger to compare with".to_owned(),
            (Some((start, end)), Some(baseline), Some(after)) => format!(
                "trigger {:.1}-{:.1} s; goodput back within 5% of {baseline:.1}/s {after:.0} s after it",
                start as f64 / 1e3,
                end as f64 / 1e3
            ),
            (Some((start, end)), Some(baseline), None) => format!(
                "trigger {:.1}-{:.1} s; goodput NOT back within 5% of {baseline:.1}/s before arrivals stopped",
                start as f64 / 1e3,
                end as f64 / 1e3
            ),
        };
        let _ = writeln!(out, "load        {recovery}");
        let _ = writeln!(
            out,
            "            {} deadline passed, {} rejected; S3: {} throttled, {} shed, {} queue timeouts, {} splits",
            load.gave_up, load.rejected, load.s3_throttled, load.s3_shed, load.s3_queue_timeouts, load.s3_splits
        );
    }
    let _ = writeln!(out, "trace hash  {:016x}", report.trace_hash);
    out
}

/// `estimate --json`: field names are a stable interface.
#[derive(Serialize)]
struct EstimateJson<'a> {
    scenario: &'a str,
    seeds: u64,
    first_seed: u64,
    confidence: f64,
    policies: &'a [retrylab_harness::PolicyEstimate],
    notes: &'a [String],
}

pub fn estimate_json(estimate: &Estimate) -> String {
    json(&EstimateJson {
        scenario: &estimate.scenario,
        seeds: estimate.seeds,
        first_seed: estimate.first_seed,
        confidence: estimate.confidence,
        policies: &estimate.policies,
        notes: &estimate.notes,
    })
}

/// The notes under a table, one `note:` line each.
fn notes(out: &mut String, notes: &[String]) {
    for note in notes {
        let _ = writeln!(out, "note: {note}");
    }
}

/// What the interval and deff columns mean, under every table that has them.
const DEFF_NOTE: &str = "(the interval is Clopper-Pearson on operations / deff; deff, the design effect, is how much \
failures cluster within seeds: 1 as if every operation were independent)";

pub fn estimate_human(scenario: &Scenario, estimate: &Estimate) -> String {
    let mut out = String::new();
    let operations_per_seed = scenario.operations_per_run();
    let _ = writeln!(
        out,
        "{}: {} seeds ({}..={}) x {} operations per policy\n",
        estimate.scenario,
        estimate.seeds,
        estimate.first_seed,
        estimate.first_seed + estimate.seeds.saturating_sub(1),
        operations_per_seed
    );
    let _ = writeln!(
        out,
        "{:<16} {:>11} {:>8} {:>10} {:>21} {:>5} {:>11} {:>9} {:>9} {:>9}",
        "policy",
        "operations",
        "failed",
        "fail rate",
        "95% CI (Clopper-P.)",
        "deff",
        "attempts/op",
        "p50 ms",
        "p99 ms",
        "max ms"
    );
    for p in &estimate.policies {
        let _ = writeln!(
            out,
            "{:<16} {:>11} {:>8} {:>10} {:>21} {:>5.1} {:>11.4} {:>9.1} {:>9.1} {:>9.1}",
            p.policy,
            p.operations,
            p.failures,
            percent(p.failure_rate),
            format!("[{}, {}]", percent(p.ci_low), percent(p.ci_high)),
            p.design_effect,
            p.attempts_per_op,
            p.latency_ms_p50,
            p.latency_ms_p99,
            p.latency_ms_max,
        );
    }
    let _ = writeln!(out, "{DEFF_NOTE}");
    notes(&mut out, &estimate.notes);
    let _ = writeln!(out);
    for p in &estimate.policies {
        let per_run = format!(
            "{:.2} failed per run of {} (min {}, max {})",
            p.failures_per_seed_mean, operations_per_seed, p.failures_per_seed_min, p.failures_per_seed_max
        );
        let _ = writeln!(out, "{:<16} {per_run}; {}", p.policy, counts(&p.failures_by_kind));
    }
    amplification(&mut out, scenario, &estimate.policies);
    under_load(&mut out, &estimate.policies);
    invariants(&mut out, &estimate.policies);
    out
}

/// For runs under load: goodput, retries and recovery after the trigger per
/// policy, with intervals over seeds, and goodput over time as a sparkline.
fn under_load(out: &mut String, policies: &[PolicyEstimate]) {
    let Some(first) = policies.iter().find_map(|p| p.load.as_ref()) else { return };
    let trigger = match first.trigger_s {
        Some((start, end)) => format!("trigger {start:.1}-{end:.1} s; "),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "
under load ({trigger}windows of {} s; recovered: goodput's mean over {} windows back within {:.0}% of \
         its value before the trigger, before arrivals stop):",
        first.window_s,
        retrylab_harness::RECOVERY_SMOOTHING_WINDOWS,
        retrylab_harness::RECOVERY_TOLERANCE * 100.0
    );
    let _ = writeln!(
        out,
        "{:<24} {:>10} {:>10} {:>8} {:>9} {:>9} {:>10}  {:<24} recovery s (95% CI), worst",
        "policy", "offered/s", "goodput/s", "retries", "deadline", "rejected", "s3 503s", "recovered (95% CI)",
    );
    for p in policies {
        let Some(load) = &p.load else { continue };
        let recovered = if load.seeds_judged == 0 {
            "no trigger".to_owned()
        } else {
            format!(
                "{}/{} [{}, {}]",
                load.seeds_recovered,
                load.seeds_judged,
                percent(load.recovered_ci_low),
                percent(load.recovered_ci_high)
            )
        };
        let recovery = match (load.recovery_s_mean, load.recovery_s_ci_low, load.recovery_s_ci_high) {
            _ if load.seeds_judged == 0 => String::new(),
            (None, _, _) => "did not recover".to_owned(),
            (Some(mean), Some(low), Some(high)) => {
                format!("{mean:.1} [{low:.1}, {high:.1}], {:.0}", load.recovery_s_max.unwrap_or(mean))
            }
            (Some(mean), _, _) => format!("{mean:.1}"),
        };
        let _ = writeln!(
            out,
            "{:<24} {:>10.1} {:>10.1} {:>8} {:>9} {:>9} {:>10}  {:<24} {}",
            p.policy,
            load.offered_per_s,
            load.goodput_per_s,
            percent(load.retry_share),
            load.deadline_exceeded,
            load.rejected,
            load.s3_throttled + load.s3_shed + load.s3_queue_timeouts,
            recovered,
            recovery
        );
    }
    if first.trigger_s.is_none() {
        // No trigger: a ramp or a steady load, read for where it tips over.
        let _ = writeln!(
            out,
            "sustained (mean run, 5-window means): the most goodput, and the offered rate after which goodput never \
             again came within 5% of it:"
        );
        for p in policies {
            let Some(load) = &p.load else { continue };
            let tipped = load
                .tipping_point_per_s
                .map_or_else(|| "never tipped over".to_owned(), |rate| format!("tipped over at {rate:.0}/s offered"));
            let _ = writeln!(out, "{:<24} max goodput {:>9.1}/s, {tipped}", p.policy, load.goodput_per_s_max);
        }
    }
    let windows = policies.iter().filter_map(|p| p.load.as_ref()).map(|load| load.series.len()).max().unwrap_or(0);
    let per_column = windows.div_ceil(SPARKLINE_COLUMNS).max(1);
    let _ = writeln!(
        out,
        "goodput over time (mean over seeds; each column {} s, from 0 to {} s):",
        first.window_s * per_column as f64,
        first.window_s * windows as f64
    );
    let top = policies
        .iter()
        .filter_map(|p| p.load.as_ref())
        .flat_map(|load| load.series.iter().map(|w| w.goodput_per_s.max(w.offered_per_s)))
        .fold(0.0, f64::max);
    for p in policies {
        let Some(load) = &p.load else { continue };
        let _ = writeln!(out, "{:<24} {}", p.policy, sparkline(load, top, per_column));
    }
}

/// Columns of the sparkline at most.
const SPARKLINE_COLUMNS: usize = 72;

/// Goodput per window as block characters scaled to `top`.
/// Every policy's line has the same `per_column` windows a column, so columns line up in time.
fn sparkline(load: &retrylab_harness::LoadEstimate, top: f64, per_column: usize) -> String {
    const BLOCKS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    load.series
        .chunks(per_column)
        .map(|chunk| {
            let mean = chunk.iter().map(|w| w.goodput_per_s).sum::<f64>() / chunk.len() as f64;
            let level = if top > 0.0 { (mean / top * 8.0).round() } else { 0.0 };
            BLOCKS[(level.clamp(0.0, 8.0)) as usize]
        })
        .collect()
}

/// What the invariant checkers found: a line per policy that broke an
/// invariant, with one replay command, or one line saying none did.
fn invariants(out: &mut String, policies: &[PolicyEstimate]) {
    let _ = writeln!(out);
    let violating: Vec<&PolicyEstimate> = policies.iter().filter(|p| !p.is_clean()).collect();
    if violating.is_empty() {
        let _ = writeln!(out, "invariants: no violation on any seed of any policy");
        return;
    }
    let _ = writeln!(out, "invariants: BROKEN (exit status 1):");
    for p in violating {
        let tally = &p.invariants;
        let _ = write!(
            out,
            "{}: {} violation{} on {} of {} seeds ({})",
            p.policy,
            tally.violations,
            if tally.violations == 1 { "" } else { "s" },
            tally.seeds_with_violations,
            p.seeds,
            counts(&tally.violations_by_invariant)
        );
        match &tally.violation_example {
            Some(example) => {
                let _ = writeln!(out, "; replay: {}", example.reproduce);
                let _ = writeln!(out, "  first, seed {}: {}: {}", example.seed, example.invariant, example.detail);
            }
            None => out.push('\n'),
        }
    }
}

/// For grid scenarios: what each retry layer sent per operation, and the
/// quota exhaustions (the table's attempts/op is S3 requests per operation).
fn amplification(out: &mut String, scenario: &Scenario, policies: &[PolicyEstimate]) {
    let Some(lafs) = &scenario.lafs else { return };
    let _ = writeln!(
        out,
        "\nretry layers ({} gateway{} sharing {} storage server{}):",
        lafs.gateways,
        if lafs.gateways == 1 { "" } else { "s" },
        lafs.servers,
        if lafs.servers == 1 { "" } else { "s" },
    );
    for p in policies {
        let _ = writeln!(
            out,
            "{:<24} gateway tries/op {:>6.3}  S3 requests/op {:>7.3}  quota exhausted {}",
            p.policy, p.gateway_attempts_per_op, p.attempts_per_op, p.retry_quota_exhausted
        );
    }
}

/// `explore --json`: field names are a stable interface.
pub fn explore_json(exploration: &Exploration) -> String {
    json(exploration)
}

/// How many violations `explore` lists one by one before only counting.
const VIOLATIONS_LISTED_MAX: usize = 20;

pub fn explore_human(exploration: &Exploration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} seeds ({}..={}) x {} ({}): {} runs",
        exploration.scenario,
        exploration.seeds,
        exploration.first_seed,
        exploration.first_seed + exploration.seeds.saturating_sub(1),
        exploration.policies.len(),
        exploration.policies.join(", "),
        exploration.runs
    );
    if exploration.violations.is_empty() {
        let _ = writeln!(out, "no violations");
        return out;
    }
    let mut by_invariant: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for finding in &exploration.violations {
        let entry = by_invariant.entry(&finding.invariant).or_insert((0, finding.seed));
        entry.0 += 1;
    }
    let _ = writeln!(out, "{} violations:", exploration.violations.len());
    for (invariant, (count, first_seed)) in &by_invariant {
        let _ = writeln!(out, "  {count:>6} x {invariant} (first at seed {first_seed})");
    }
    let _ = writeln!(out);
    for finding in exploration.violations.iter().take(VIOLATIONS_LISTED_MAX) {
        let _ =
            writeln!(out, "seed {} policy {}: {}: {}", finding.seed, finding.policy, finding.invariant, finding.detail);
        let _ = writeln!(out, "  reproduce: {}", finding.reproduce);
    }
    if exploration.violations.len() > VIOLATIONS_LISTED_MAX {
        let _ =
            writeln!(out, "... and {} more (--json lists all)", exploration.violations.len() - VIOLATIONS_LISTED_MAX);
    }
    out
}

/// `compare --json`: field names are a stable interface.
pub fn compare_json(comparison: &Comparison) -> String {
    json(comparison)
}

pub fn compare_human(scenario: &Scenario, comparison: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} seeds ({}..={}) x {} operations per policy, every policy on the same seeds\n",
        comparison.scenario,
        comparison.seeds,
        comparison.first_seed,
        comparison.first_seed + comparison.seeds.saturating_sub(1),
        scenario.operations_per_run()
    );
    let _ = writeln!(
        out,
        "{:<24} {:>8} {:>10} {:>21} {:>5} {:>11} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "policy",
        "failed",
        "fail rate",
        "95% CI (Clopper-P.)",
        "deff",
        "attempts/op",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "quota"
    );
    for p in &comparison.policies {
        let _ = writeln!(
            out,
            "{:<24} {:>8} {:>10} {:>21} {:>5.1} {:>11.4} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>7}",
            p.policy,
            p.failures,
            percent(p.failure_rate),
            format!("[{}, {}]", percent(p.ci_low), percent(p.ci_high)),
            p.design_effect,
            p.attempts_per_op,
            p.latency_ms_p50,
            p.latency_ms_p99,
            p.latency_ms_p999,
            p.latency_ms_max,
            p.retry_quota_exhausted,
        );
    }
    let _ = writeln!(out, "{DEFF_NOTE}");
    notes(&mut out, &comparison.notes);
    amplification(&mut out, scenario, &comparison.policies);
    under_load(&mut out, &comparison.policies);
    invariants(&mut out, &comparison.policies);
    let _ = writeln!(
        out,
        "\npaired (McNemar on the same operations, and clustered by seed (Durkalski 2003); A only / B only: \
         operations only A / only B failed; raw p is the larger of the two tests' p-values; adjusted p is Holm's \
         correction over the {} pair{} compared; significant at adjusted p < {}):",
        comparison.pairs.len(),
        if comparison.pairs.len() == 1 { "" } else { "s" },
        retrylab_harness::SIGNIFICANCE
    );
    if !comparison.pairs.is_empty() {
        // Named columns: "A failed only" counts operations A failed and B saved.
        let _ = writeln!(
            out,
            "  {:<24}    {:<24} {:>7} / {:<7} {:<16} {:<21} verdict",
            "policy A", "policy B", "A only", "B only", "raw p", "adjusted p"
        );
    }
    for pair in &comparison.pairs {
        let verdict = match (&pair.fewer_failures, pair.significant) {
            (Some(better), true) => format!("{better} fails less (significant)"),
            (Some(better), false) => format!("{better} fails less (not significant)"),
            (None, _) => "no difference".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {:<24} vs {:<24} {:>7} / {:<7} raw p = {:<10.3e} adjusted p = {:<10.3e} {verdict}",
            pair.a, pair.b, pair.a_failed_b_succeeded, pair.a_succeeded_b_failed, pair.p_value_raw, pair.p_value
        );
    }
    if comparison.best_excludes.is_empty() {
        let _ = writeln!(out, "\nbest:");
    } else if comparison.best.is_empty() {
        let _ = writeln!(out, "\nbest: none, every policy broke an invariant");
    } else {
        let _ = writeln!(
            out,
            "\nbest (among the policies that broke no invariant; left out: {}):",
            comparison.best_excludes.join(", ")
        );
    }
    for best in &comparison.best {
        let significance = match best.significant {
            Some(true) => " (significantly better than every other)",
            Some(false) => " (not significantly better than every other)",
            None => "",
        };
        let _ = writeln!(out, "  {:<16} {} ({}){significance}", best.measure, best.policy, best.value);
    }
    out
}

/// `shrink --json`: field names are a stable interface.
#[derive(Serialize)]
struct ShrinkJson<'a> {
    scenario: &'a str,
    policy: &'a str,
    cases: u32,
    found: bool,
    seed: Option<u64>,
    reason: Option<&'a str>,
    file: Option<String>,
    reproduce: Option<&'a str>,
}

pub fn shrink_json(scenario: &Scenario, policy: &str, cases: u32, found: Option<&PropertyFailure>) -> String {
    json(&ShrinkJson {
        scenario: &scenario.name,
        policy,
        cases,
        found: found.is_some(),
        seed: found.map(|f| f.case.seed),
        reason: found.map(|f| f.reason.as_str()),
        file: found.and_then(|f| f.file.as_ref()).map(|file| file.display().to_string()),
        reproduce: found.map(|f| f.reproduce.as_str()),
    })
}

pub fn shrink_human(scenario: &Scenario, policy: &str, cases: u32, found: Option<&PropertyFailure>) -> String {
    match found {
        None => format!("{}: policy {policy}: {cases} generated cases, no invariant broken\n", scenario.name),
        Some(failure) => format!("{}: policy {policy}: {failure}\n", scenario.name),
    }
}
