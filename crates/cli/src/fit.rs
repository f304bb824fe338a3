//! `retrylab fit`: request logs in, a calibrated scenario out. Reads the logs
//! (`retrylab-logs`), fits the fault process, its mix and the latency shape
//! (`retrylab-fit`), shows how well they fit, and writes a scenario file
//! that loads with no edits.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use retrylab_faults::{BurstParams, FaultMix, FaultModel, FaultProcess, LatencyDist, Quantile};
use retrylab_fit::{
    find_outages, fit_fault_mix, fit_fault_process, fit_latency, goodness_of_fit, FaultMixFit, FaultProcessFit,
    FitOptions, GoodnessOfFit, LatencyChoice, LatencyFit, Observation, OutageReport, ParameterInterval, Verdict,
};
use retrylab_logs::{detect_format, read_log, ColumnMap, Format, Mode, OperationKind, Request};
use serde::Serialize;

use crate::args::FitArgs;
use crate::trust::{FitSummary, TrustCheck};
use crate::Failure;

/// Replicas of each fitted model simulated at the log's timestamps for the
/// goodness-of-fit bands: enough for a 95% band on small logs, fewer on
/// huge ones (each replica decides every request again).
fn replicas_for(requests: usize) -> usize {
    match requests {
        0..=50_000 => 200,
        50_001..=500_000 => 40,
        _ => 10,
    }
}

/// Operations of the written scenario at most: a seed of the fitted
/// scenario replays the log's requests one for one up to this many.
const SCENARIO_OPERATIONS_MAX: u64 = 100_000;

/// Everything `fit` found, as `--json` prints it.
#[derive(Serialize)]
struct FitReport {
    logs: Vec<LogSummary>,
    requests: u64,
    span_s: f64,
    faults: u64,
    /// Requests per kind of operation.
    operations: BTreeMap<String, u64>,
    process: FaultProcessFit,
    /// With `--by-operation`: the fault process of each kind of operation fitted on its own.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    by_operation: BTreeMap<String, FaultProcessFit>,
    outages: OutageReport,
    mix: FaultMixFit,
    latency_success: Option<LatencyFit>,
    latency_error: Option<LatencyFit>,
    goodness: GoodnessOfFit,
    /// How much to trust the fit: each check passed or flagged, with its reason.
    trust: Vec<TrustCheck>,
    /// The scenario written, if any.
    scenario: Option<PathBuf>,
    /// The goodness-of-fit figure written, if any.
    plot: Option<PathBuf>,
}

#[derive(Serialize)]
struct LogSummary {
    path: PathBuf,
    format: &'static str,
    lines: u64,
    requests: u64,
    skipped: u64,
}

/// `retrylab fit LOG...`.
pub fn fit(args: &FitArgs) -> Result<(), Failure> {
    let columns = column_map(args);
    let mode = if args.strict { Mode::Strict } else { Mode::Skip };
    let mut requests: Vec<Request> = Vec::new();
    let mut logs = Vec::new();
    for path in &args.logs {
        let (summary, mut read) = read_one(path, args.format.as_deref(), &columns, mode)?;
        logs.push(summary);
        requests.append(&mut read);
    }
    // Several logs interleave in time; a stable sort keeps each file's order on ties.
    requests.sort_by_key(|request| request.time_ms);
    if requests.len() < 2 {
        return Err(Failure::usage(format!(
            "the logs hold {} request(s); a fit needs at least 2 (see docs/logs.md for the formats read)",
            requests.len()
        )));
    }
    let start_ms = requests[0].time_ms;
    let observations = observations(&requests);
    let options = FitOptions::default();
    let (process, outages) = fault_process_and_outages(&observations, &options).map_err(Failure::failed)?;
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for request in &requests {
        if let Some(class) = request.outcome.fault() {
            *kinds.entry(fault_kind_name(class).to_owned()).or_default() += 1;
        }
    }
    let mix = fit_fault_mix(&kinds);
    let latencies = |faulted: bool| -> Vec<f64> {
        requests.iter().filter(|r| r.outcome.is_fault() == faulted).filter_map(|r| r.latency_ms).collect()
    };
    let (success, error) = (latencies(false), latencies(true));
    let latency_success = (success.len() >= 2).then(|| fit_latency(&success));
    let latency_error = (error.len() >= 2).then(|| fit_latency(&error));
    // The chain judged: the refit without outages when there were any.
    let model = outages.refit.as_ref().unwrap_or(&process);
    let chain = model.gilbert_elliott.as_ref().filter(|_| model.verdict == Verdict::Bursty).map(|ge| ge.params());
    let goodness = goodness_of_fit(
        &observations,
        model.independent.failure_probability,
        chain.as_ref(),
        replicas_for(observations.len()),
        0,
    )
    .map_err(Failure::failed)?;
    let mut operations: BTreeMap<String, u64> = BTreeMap::new();
    for request in &requests {
        *operations.entry(request.operation.name().to_owned()).or_default() += 1;
    }
    let by_operation = if args.by_operation { fit_by_operation(&requests, &options)? } else { BTreeMap::new() };
    let span_s = (requests[requests.len() - 1].time_ms - start_ms) as f64 / 1000.0;
    let faults = observations.iter().filter(|o| o.failed).count() as u64;
    let trust = crate::trust::checks(&FitSummary {
        requests: requests.len() as u64,
        faults,
        span_s,
        process: model,
        goodness: &goodness,
        latency_success: latency_success.as_ref(),
    });
    let mut report = FitReport {
        logs,
        requests: requests.len() as u64,
        span_s,
        faults,
        operations,
        process,
        by_operation,
        outages,
        mix,
        latency_success,
        latency_error,
        goodness,
        trust,
        scenario: None,
        plot: None,
    };
    if let Some(out) = &args.output {
        let text = scenario_text(&report, &requests, &args.policy, out)?;
        crate::write_whole(out, text.as_bytes())?;
        report.scenario = Some(out.clone());
    }
    if let Some(path) = &args.plot {
        let png = path.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("png"));
        let format = if png { retrylab_plot::Format::Png } else { retrylab_plot::Format::Svg };
        let image = retrylab_plot::fit(&figure(&report), format);
        // The report goes to stdout; with --json it must stay one JSON object.
        let bytes = image.map_err(Failure::failed)?;
        crate::write_whole(path, &bytes)?;
        report.plot = Some(path.clone());
    }
    if args.json {
        let json = serde_json::to_string_pretty(&report).map_err(Failure::failed)?;
        crate::print(&json)
    } else {
        crate::print(&human(&report))
    }
}

/// The fault process of each kind of operation on its own (kinds with fewer than 2 requests
/// are left out): the times stay the log's, so each kind's chain is observed at its own
/// requests.
fn fit_by_operation(requests: &[Request], options: &FitOptions) -> Result<BTreeMap<String, FaultProcessFit>, Failure> {
    let mut kinds: BTreeMap<OperationKind, Vec<Request>> = BTreeMap::new();
    for request in requests {
        kinds.entry(request.operation).or_default().push(request.clone());
    }
    let mut fits = BTreeMap::new();
    for (kind, of_kind) in kinds.into_iter().filter(|(_, of_kind)| of_kind.len() >= 2) {
        let fit = fit_fault_process(&observations(&of_kind), options).map_err(Failure::failed)?;
        fits.insert(kind.name().to_owned(), fit);
    }
    Ok(fits)
}

/// The fault process as `retrylab fit` fits it: the fit, and the outages it cannot explain
/// with the refit without them (the model the scenario is written from when there are any).
pub(crate) fn fault_process_and_outages(
    observations: &[Observation],
    options: &FitOptions,
) -> Result<(FaultProcessFit, OutageReport), retrylab_fit::FitError> {
    let process = fit_fault_process(observations, options)?;
    let outages = find_outages(observations, &process, options)?;
    Ok((process, outages))
}

/// What the fitter sees of time-sorted requests: when each arrived, counted from the first,
/// and whether S3 failed it.
pub(crate) fn observations(requests: &[Request]) -> Vec<Observation> {
    let start_ms = requests.first().map_or(0, |request| request.time_ms);
    requests
        .iter()
        .map(|r| Observation { time_ms: (r.time_ms - start_ms) as f64, failed: r.outcome.is_fault() })
        .collect()
}

fn column_map(args: &FitArgs) -> ColumnMap {
    let mut columns = ColumnMap::default();
    let renames = [
        (&args.time_column, &mut columns.time),
        (&args.latency_column, &mut columns.latency_ms),
        (&args.status_column, &mut columns.status),
        (&args.error_code_column, &mut columns.error_code),
        (&args.outcome_column, &mut columns.outcome),
        (&args.operation_column, &mut columns.operation),
        (&args.key_column, &mut columns.key),
    ];
    for (given, column) in renames {
        if let Some(name) = given {
            column.clone_from(name);
        }
    }
    columns
}

/// Reads one log, its format given or detected from its first lines.
fn read_one(
    path: &Path,
    format: Option<&str>,
    columns: &ColumnMap,
    mode: Mode,
) -> Result<(LogSummary, Vec<Request>), Failure> {
    let open = || {
        std::fs::File::open(path)
            .map(BufReader::new)
            .map_err(|error| Failure::usage(format!("cannot read {}: {error}", path.display())))
    };
    let format = match format {
        Some(name) => Format::from_name(name)
            .ok_or_else(|| Failure::usage(format!("--format {name:?}: expected one of s3-access, csv, jsonl")))?,
        None => {
            let first: Vec<String> = open()?.lines().take(20).map_while(Result::ok).collect();
            let lines: Vec<&str> = first.iter().map(String::as_str).collect();
            detect_format(&lines).ok_or_else(|| {
                Failure::usage(format!(
                    "{}: cannot tell its format from its first lines; give --format s3-access, csv or jsonl",
                    path.display()
                ))
            })?
        }
    };
    let label = path.display().to_string();
    let parsed = read_log(open()?, &label, format, columns, mode).map_err(|error| Failure::usage(error.to_string()))?;
    for skipped in &parsed.skipped {
        eprintln!("warning: skipped {skipped}");
    }
    if parsed.skipped_total > parsed.skipped.len() as u64 {
        eprintln!(
            "warning: {}: {} more malformed lines skipped (--strict refuses the first)",
            label,
            parsed.skipped_total - parsed.skipped.len() as u64
        );
    }
    let summary = LogSummary {
        path: path.to_path_buf(),
        format: format.name(),
        lines: parsed.lines,
        requests: parsed.requests.len() as u64,
        skipped: parsed.skipped_total,
    };
    Ok((summary, parsed.requests))
}

/// The fit's name of a fault class (`retrylab_fit::FAULT_KIND_NAMES`).
fn fault_kind_name(class: retrylab_logs::FaultClass) -> &'static str {
    use retrylab_logs::FaultClass;
    match class {
        FaultClass::InternalError => "internal_error",
        FaultClass::SlowDown => "slow_down",
        FaultClass::ServiceUnavailable => "service_unavailable",
        FaultClass::ConnectionReset => "connection_reset",
        FaultClass::Timeout => "timeout",
        FaultClass::OtherServerError(_) => "other",
    }
}

/// The simulator's fault mix from the fitted shares: a 503 of any code is
/// a SlowDown (rejected before applying anything), other 5xx an InternalError.
fn fault_mix(mix: &FaultMixFit) -> FaultMix {
    let share = |kind: &str| mix.shares.iter().find(|s| s.kind == kind).map_or(0.0, |s| s.share);
    let fitted = FaultMix {
        internal_error: share("internal_error") + share("other"),
        slow_down: share("slow_down") + share("service_unavailable"),
        connection_reset: share("connection_reset"),
        timeout: share("timeout"),
    };
    let total = fitted.internal_error + fitted.slow_down + fitted.connection_reset + fitted.timeout;
    if total > 0.0 {
        fitted
    } else {
        FaultMix::default()
    }
}

/// The latency the fit chose, if there was one to fit.
fn latency_dist(fit: Option<&LatencyFit>) -> Option<LatencyDist> {
    let fit = fit?;
    match fit.choice {
        LatencyChoice::Mixture => fit.mixture.latency_dist(),
        LatencyChoice::Empirical => {
            let points = fit.table.iter().map(|&(probability, ms)| Quantile { probability, ms }).collect();
            let dist = LatencyDist::Empirical(points);
            dist.validate().is_ok().then_some(dist)
        }
    }
}

/// The fault model: the refit without outages when there were any.
fn fault_model(report: &FitReport) -> FaultModel {
    let fit = report.outages.refit.as_ref().unwrap_or(&report.process);
    let process = match (&fit.verdict, &fit.gilbert_elliott) {
        (Verdict::Bursty, Some(ge)) => FaultProcess::GilbertElliott(BurstParams {
            good_mean_ms: ge.good_mean_ms.max(retrylab_faults::BURST_MEAN_MS_MIN),
            bad_mean_ms: ge.bad_mean_ms.max(retrylab_faults::BURST_MEAN_MS_MIN),
            good_failure: ge.good_failure,
            bad_failure: ge.bad_failure,
        }),
        _ if fit.independent.failures == 0 => FaultProcess::Never,
        _ => FaultProcess::Independent { failure_probability: fit.independent.failure_probability },
    };
    FaultModel { process, outages: Vec::new(), mix: fault_mix(&report.mix), ambiguous_fraction: 0.0 }
}

/// The policies of the written scenario: those named (catalogue kinds that
/// need no parameters), or 2012's three and AWS's standard.
fn policies_toml(names: &[String]) -> String {
    if names.is_empty() {
        return "[[policies]]\nname = \"none\"\nkind = \"none\"\n\n\
                [[policies]]\nname = \"retry-once\"\nkind = \"immediate\"\nretries = 1\n\n\
                [[policies]]\nname = \"multi-retry\"\nkind = \"schedule\"\ndelays_ms = [0, 2000, 10000]\n\n\
                [[policies]]\nname = \"aws-standard\"\nkind = \"aws-standard\"\n"
            .to_owned();
    }
    names.iter().map(|name| format!("[[policies]]\nname = {name:?}\nkind = {name:?}\n\n")).collect()
}

/// The scenario file: a header comment saying where it came from and how
/// far to trust it, then the scenario as the scenario writer writes it.
fn scenario_text(report: &FitReport, requests: &[Request], policies: &[String], out: &Path) -> Result<String, Failure> {
    let puts = report.operations.get(OperationKind::Put.name()).copied().unwrap_or(0);
    let operation = if puts * 2 >= report.requests { "put" } else { "get" };
    // Little's law: the requests in flight on average, the closed loop's clients.
    let busy_ms: f64 = requests.iter().filter_map(|r| r.latency_ms).sum();
    let clients = if report.span_s > 0.0 { (busy_ms / 1000.0 / report.span_s).round().max(1.0) } else { 1.0 };
    let operations = report.requests.min(SCENARIO_OPERATIONS_MAX);
    let name = out.file_stem().map_or_else(|| "fitted".to_owned(), |stem| stem.to_string_lossy().into_owned());
    let template = format!(
        "name = {name:?}\nseeds = 200\n[workload]\nkind = \"s3-requests\"\noperation = \"{operation}\"\n\
         operations = {operations}\nclients = {clients}\n\n{}",
        policies_toml(policies)
    );
    let mut scenario = retrylab_scenario::parse(&template, out).map_err(|error| {
        Failure::usage(format!("--policy: {error} (name catalogue kinds that need no parameters, or none)"))
    })?;
    scenario.faults = fault_model(report);
    if let Some(latency) = latency_dist(report.latency_success.as_ref()) {
        scenario.s3.latency = latency;
    }
    scenario.s3.error_latency = latency_dist(report.latency_error.as_ref());
    scenario.description = format!(
        "Fitted by retrylab fit to {} requests over {} of logs ({} faults).",
        report.requests,
        duration_text(report.span_s),
        report.faults
    );
    let comment = format!("{}{}", header(report), crate::trust::text(&report.trust));
    let text = retrylab_scenario::to_toml_with_comment(&scenario, &comment);
    // The file must load as written.
    retrylab_scenario::parse(&text, out).map_err(|error| Failure::failed(format!("the fitted scenario: {error}")))?;
    Ok(text)
}

fn duration_text(seconds: f64) -> String {
    let d = Duration::from_secs_f64(seconds.max(0.0));
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, s / 60 % 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// A mean of the chain in seconds, or milliseconds when under one.
fn mean_text(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// An interval of a mean (open above: unbounded).
fn mean_interval_text(interval: &ParameterInterval) -> String {
    let low = interval.low.map_or_else(|| "0".to_owned(), mean_text);
    let high = interval.high.map_or_else(|| "∞".to_owned(), mean_text);
    format!("[{low}, {high}]")
}

/// An interval of a probability (open ends: 0 and 1).
fn probability_interval_text(interval: &ParameterInterval) -> String {
    let end = |value: Option<f64>, open: &str| value.map_or_else(|| open.to_owned(), |v| format!("{v:.4}"));
    format!("[{}, {}]", end(interval.low, "0"), end(interval.high, "1"))
}

/// The fit in words: the header of the scenario file and the human report's first part.
/// The fitted fault process: independent faults, the chain with its intervals, the verdict
/// and the notes, each line after `indent`.
fn process_text(fit: &FaultProcessFit, indent: &str) -> String {
    let mut out = String::new();
    let ind = &fit.independent;
    let _ = writeln!(
        out,
        "Independent faults: p = {:.4}% [{:.4}%, {:.4}%] (95% Clopper-Pearson).",
        100.0 * ind.failure_probability,
        100.0 * ind.interval.low,
        100.0 * ind.interval.high
    );
    if let Some(ge) = &fit.gilbert_elliott {
        let _ = writeln!(
            out,
            "Gilbert-Elliott (maximum likelihood): good_mean {}, bad_mean {}, good_failure {:.4}, \
             bad_failure {:.4}; stationary failure rate {:.4}%.",
            mean_text(ge.good_mean_ms),
            mean_text(ge.bad_mean_ms),
            ge.good_failure,
            ge.bad_failure,
            100.0 * ge.stationary_failure_rate
        );
        if let Some(intervals) = &ge.intervals {
            let _ = writeln!(
                out,
                "  95% intervals ({:?}): good_mean {}, bad_mean {}, good_failure {}, bad_failure {}.",
                intervals.method,
                mean_interval_text(&intervals.good_mean_ms),
                mean_interval_text(&intervals.bad_mean_ms),
                probability_interval_text(&intervals.good_failure),
                probability_interval_text(&intervals.bad_failure)
            );
        }
    }
    if let Some(comparison) = &fit.comparison {
        let _ = writeln!(
            out,
            "Model: {} by AIC (independent {:.1}, Gilbert-Elliott {:.1}; likelihood ratio {:.1}).",
            match fit.verdict {
                Verdict::Bursty => "bursty",
                Verdict::Independent => "independent",
            },
            comparison.aic_independent,
            comparison.aic_gilbert_elliott,
            comparison.likelihood_ratio
        );
    }
    for note in &fit.notes {
        let _ = writeln!(out, "Note: {note}");
    }
    out.lines().map(|line| format!("{indent}{line}\n")).collect()
}

fn header(report: &FitReport) -> String {
    let mut out = String::new();
    let logs: Vec<String> = report
        .logs
        .iter()
        .map(|log| format!("{} ({}, {} requests)", log.path.display(), log.format, log.requests))
        .collect();
    let _ = writeln!(out, "Fitted by `retrylab fit` from {}.", logs.join(", "));
    let _ = writeln!(
        out,
        "{} requests over {}, {} faults ({:.3}%).",
        report.requests,
        duration_text(report.span_s),
        report.faults,
        100.0 * report.faults as f64 / report.requests.max(1) as f64
    );
    out.push_str(&process_text(report.outages.refit.as_ref().unwrap_or(&report.process), ""));
    if report.outages.outages.is_empty() {
        let _ = writeln!(out, "Outages: none beyond what the chain explains.");
    } else {
        let _ = writeln!(out, "Outages (runs of failures the chain does not explain; refitted without them):");
        for outage in &report.outages.outages {
            let _ = writeln!(
                out,
                "  {:.0} s to {:.0} s: {} of {} requests failed",
                outage.start_ms / 1000.0,
                outage.end_ms / 1000.0,
                outage.failures,
                outage.requests
            );
        }
    }
    let shares: Vec<String> = report
        .mix
        .shares
        .iter()
        .filter(|s| s.count > 0)
        .map(|s| {
            format!(
                "{} {:.1}% [{:.1}%, {:.1}%]",
                s.kind,
                100.0 * s.share,
                100.0 * s.interval.low,
                100.0 * s.interval.high
            )
        })
        .collect();
    if !shares.is_empty() {
        let _ = writeln!(out, "Fault mix: {}.", shares.join(", "));
    }
    for (what, fit) in [("success", &report.latency_success), ("error", &report.latency_error)] {
        let Some(fit) = fit else { continue };
        let chosen = match fit.choice {
            LatencyChoice::Empirical => format!("an empirical table of {} quantiles", fit.table.len()),
            LatencyChoice::Mixture => format!("a mixture of {} log-normals", fit.mixture.components.len()),
        };
        let _ = writeln!(
            out,
            "Latency ({what}, {} samples): {chosen}; Kolmogorov-Smirnov distance on the held-out half: \
             table {:.4}, mixture {:.4}.",
            fit.samples, fit.ks_table, fit.ks_mixture
        );
    }
    let _ = writeln!(out, "Not in the logs, so not fitted: ambiguous writes (ambiguous_fraction = 0) and the network.");
    out
}

fn band(band: Option<&retrylab_fit::ModelBand>, scale: f64) -> String {
    band.map_or_else(
        || "-".to_owned(),
        |b| format!("{:.2} [{:.2}, {:.2}]", b.mean * scale, b.low * scale, b.high * scale),
    )
}

/// The human report: the fit, then the goodness of fit, shown not asserted.
fn human(report: &FitReport) -> String {
    let mut out = header(report);
    let g = &report.goodness;
    if !report.by_operation.is_empty() {
        let _ = writeln!(out, "\nby operation (each kind's requests fitted on their own):");
        for (kind, fit) in &report.by_operation {
            let _ = writeln!(out, "  {kind} ({} requests):", fit.independent.requests);
            out.push_str(&process_text(fit, "    "));
        }
    }
    let _ = writeln!(
        out,
        "\ngoodness of fit ({} replicas of each model at the log's own timestamps; 95% bands):",
        g.replicas
    );
    let _ = writeln!(out, "failure runs    observed   gilbert-elliott              independent");
    for bin in &g.run_lengths {
        let length = if bin.or_longer { format!(">= {}", bin.length) } else { bin.length.to_string() };
        let _ = writeln!(
            out,
            "  length {length:<6} {:>8}   {:<28} {}",
            bin.observed,
            band(bin.gilbert_elliott.as_ref(), 1.0),
            band(Some(&bin.independent), 1.0)
        );
    }
    let _ = writeln!(out, "P(fail | previous request failed within Δ), %:");
    for c in &g.conditional {
        let _ = writeln!(
            out,
            "  Δ {:>6}  observed {:.2} [{:.2}, {:.2}] of {}   gilbert-elliott {}   independent {}",
            duration_text(c.gap_ms / 1000.0),
            100.0 * c.observed,
            100.0 * c.observed_interval.low,
            100.0 * c.observed_interval.high,
            c.requests,
            band(c.gilbert_elliott.as_ref(), 100.0),
            band(Some(&c.independent), 100.0)
        );
    }
    if let Some(fit) = &report.latency_success {
        let _ = writeln!(out, "latency QQ (success): probability, observed ms, mixture ms");
        for point in fit.qq.iter().step_by((fit.qq.len() / 10).max(1)) {
            let _ =
                writeln!(out, "  {:.3}  {:>10.1}  {:>10.1}", point.probability, point.observed_ms, point.mixture_ms);
        }
    }
    out.push_str(&crate::trust::text(&report.trust));
    if let Some(path) = &report.plot {
        let _ = writeln!(out, "\nwrote {} (the goodness of fit drawn)", path.display());
    }
    if let Some(path) = &report.scenario {
        let _ = writeln!(out, "\nwrote {} (try: retrylab compare {})", path.display(), path.display());
    }
    out
}

/// The goodness-of-fit figure's input: the tables of the report, as marks and bands.
fn figure(report: &FitReport) -> retrylab_plot::FitInput {
    use retrylab_plot::{Band, ConditionalRow, FitInput, QqSeries, RunLengthRow};
    let band = |b: &retrylab_fit::ModelBand| Band { mean: b.mean, low: b.low, high: b.high };
    let g = &report.goodness;
    let run_lengths = g
        .run_lengths
        .iter()
        .map(|bin| RunLengthRow {
            label: if bin.or_longer { format!("{}+", bin.length) } else { bin.length.to_string() },
            observed: bin.observed as f64,
            bursty: bin.gilbert_elliott.as_ref().map(band),
            independent: band(&bin.independent),
        })
        .collect();
    let conditional = g
        .conditional
        .iter()
        .map(|c| ConditionalRow {
            gap_s: c.gap_ms / 1000.0,
            observed: (c.requests > 0).then_some(Band {
                mean: c.observed,
                low: c.observed_interval.low,
                high: c.observed_interval.high,
            }),
            bursty: c.gilbert_elliott.as_ref().map(band),
            independent: band(&c.independent),
        })
        .collect();
    let qq = [("successes", &report.latency_success), ("errors", &report.latency_error)]
        .into_iter()
        .filter_map(|(name, fit)| {
            let points = fit.as_ref()?.qq.iter().map(|p| (p.observed_ms, p.mixture_ms)).collect();
            Some(QqSeries { name: name.to_owned(), points })
        })
        .collect();
    let logs: Vec<String> = report.logs.iter().map(|log| log.path.display().to_string()).collect();
    FitInput {
        title: format!(
            "goodness of fit: {} ({} requests, {} faults, over {})",
            logs.join(", "),
            report.requests,
            report.faults,
            duration_text(report.span_s)
        ),
        run_lengths,
        conditional,
        qq,
        note: format!(
            "bands: {} replicas of each fitted model at the log's own timestamps (seed {}); QQ: the log-normal \
             mixture against the latencies it was fitted to",
            g.replicas, g.seed
        ),
    }
}
