//! `retrylab plot rtt|compare|timeline`: runs what a plot needs, turns the harness's results
//! into `retrylab-plot`'s inputs and writes the image.
//!
//! The adapters from a run's trace (`rtt_points`, `timeline_requests`) and the latency CDF
//! (`latency_cdf`) are provisional seams, one function each, marked `TODO(lead)`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use retrylab_harness::{compare, run_seed_within, select_policies, PolicyEstimate, RunReport, TraceMode};
use retrylab_plot::{
    ChainSpan, CompareInput, Format, PolicySummary, RequestMark, RequestOutcome, RttInput, RttPoint, TimelineInput,
};
use retrylab_scenario::Scenario;
use retrylab_sim::EventKind;

use crate::args::SeedsArgs;
use crate::{estimate_options, load, print, progress_bar, Failure};

#[derive(Args, Debug)]
pub struct PlotArgs {
    #[command(subcommand)]
    pub plot: PlotCommand,
}

#[derive(Subcommand, Debug)]
pub enum PlotCommand {
    /// Each operation's round-trip time against its start, as the 2012 figure: retried
    /// operations red, failed ones a black cross, the worst a green triangle.
    Rtt(RunPlotArgs),
    /// Per policy on the same seeds: failure rate with its interval, S3 attempts per
    /// operation, and latency CDFs on shared axes.
    Compare(ComparePlotArgs),
    /// The fault chain's good and bad states over virtual time with each S3 request's
    /// outcome, to see why retrying once, at once, fails inside a burst.
    Timeline(TimelineArgs),
}

/// The image format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Svg,
    Png,
}

#[derive(Args, Debug)]
pub struct OutputArgs {
    /// The file to write [default: rtt.svg, compare.svg or timeline.svg; .png with --format png].
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The image format [default: png when FILE ends in .png, else svg].
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
}

#[derive(Args, Debug)]
pub struct RunPlotArgs {
    /// The scenario file (TOML), e.g. sim-scenarios/lab-notebook/s3-10k-requests.toml.
    pub scenario: PathBuf,
    /// The seed of the world to run.
    #[arg(long)]
    pub seed: u64,
    /// The policy to run [default: the scenario's first policy].
    #[arg(long)]
    pub policy: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct TimelineArgs {
    #[command(flatten)]
    pub run: RunPlotArgs,
    /// Show virtual time from this many seconds on (`1200` or `1200s`).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub from: Option<f64>,
    /// Show virtual time up to this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub to: Option<f64>,
}

#[derive(Args, Debug)]
pub struct ComparePlotArgs {
    #[command(flatten)]
    pub seeds: SeedsArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Virtual seconds, with or without a trailing `s`, finite and not negative.
fn parse_seconds(text: &str) -> Result<f64, String> {
    let number = text.strip_suffix('s').unwrap_or(text);
    match number.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(seconds),
        _ => Err(format!("not a number of seconds (0 or more): {text:?}")),
    }
}

pub(crate) fn run_plot(args: &PlotArgs) -> Result<(), Failure> {
    match &args.plot {
        PlotCommand::Rtt(args) => plot_rtt(args),
        PlotCommand::Compare(args) => plot_compare(args),
        PlotCommand::Timeline(args) => plot_timeline(args),
    }
}

/// The format and the file: `--format`, else the file's extension, else SVG.
fn destination(output: &OutputArgs, kind: &str) -> (Format, PathBuf) {
    let by_extension = output.output.as_ref().and_then(|path| path.extension()).map(|e| e.eq_ignore_ascii_case("png"));
    let format = match (output.format, by_extension) {
        (Some(FormatArg::Png), _) | (None, Some(true)) => Format::Png,
        _ => Format::Svg,
    };
    let path = output.output.clone().unwrap_or_else(|| PathBuf::from(format!("{kind}.{}", format.extension())));
    (format, path)
}

fn write_image(path: &Path, image: Result<Vec<u8>, retrylab_plot::PlotError>, summary: &str) -> Result<(), Failure> {
    let bytes = image.map_err(Failure::failed)?;
    std::fs::write(path, bytes)
        .map_err(|error| Failure::failed(format!("cannot write {}: {error}", path.display())))?;
    print(&format!("wrote {} ({summary})\n", path.display()))
}

/// One seed of one policy with its full trace.
fn run_traced(args: &RunPlotArgs) -> Result<(Scenario, RunReport), Failure> {
    let scenario = load(&args.scenario)?;
    let names: Vec<String> = args.policy.iter().cloned().collect();
    let policies = select_policies(&scenario, &names).map_err(|error| Failure::estimate(&error))?;
    let Some(policy) = policies.first() else {
        return Err(Failure::usage("the scenario has no policies"));
    };
    let report =
        run_seed_within(&scenario, policy, args.seed, TraceMode::Full, None).map_err(|error| Failure::run(&error))?;
    Ok((scenario, report))
}

fn plot_rtt(args: &RunPlotArgs) -> Result<(), Failure> {
    let (scenario, report) = run_traced(args)?;
    let points = rtt_points(&report);
    let retried = points.iter().filter(|p| p.retried).count();
    let failed = points.iter().filter(|p| p.failed).count();
    let input = RttInput { scenario: scenario.name.clone(), policy: report.policy.clone(), seed: report.seed, points };
    let (format, path) = destination(&args.output, "rtt");
    let summary = format!("{} operations, {retried} retried, {failed} failed", input.points.len());
    write_image(&path, retrylab_plot::rtt(&input, format), &summary)
}

fn plot_timeline(args: &TimelineArgs) -> Result<(), Failure> {
    let window = match (args.from, args.to) {
        (Some(from), Some(to)) if to <= from => {
            return Err(Failure::usage(format!("--to {to} must be after --from {from}")));
        }
        (None, None) => None,
        (from, to) => Some((from.unwrap_or(0.0), to.unwrap_or(f64::INFINITY))),
    };
    let (scenario, report) = run_traced(&args.run)?;
    let requests = timeline_requests(&report);
    let end_s = requests.iter().map(|r| r.at_s).fold(0.0, f64::max);
    let window = window.map(|(from, to)| (from, if to.is_finite() { to } else { end_s.max(from + 1.0) }));
    let outages =
        scenario.faults.outages.iter().map(|o| (o.start_ms as f64 / 1000.0, o.end_ms as f64 / 1000.0)).collect();
    let input = TimelineInput {
        scenario: scenario.name.clone(),
        policy: report.policy.clone(),
        seed: report.seed,
        // TODO(lead): ChainSpan::from_requests over s3_request_records' (at, chain_bad).
        chain: Vec::<ChainSpan>::new(),
        outages,
        requests,
        window,
        note: Some(
            "The fault chain's state is not in today's trace: its bands appear once the harness records it.".to_owned(),
        ),
    };
    let (format, path) = destination(&args.run.output, "timeline");
    let summary = format!("{} S3 requests", input.requests.len());
    write_image(&path, retrylab_plot::timeline(&input, format), &summary)
}

fn plot_compare(args: &ComparePlotArgs) -> Result<(), Failure> {
    if args.seeds.json {
        return Err(Failure::usage("plot compare writes an image: --json is for `retrylab compare`"));
    }
    let scenario = load(&args.seeds.scenario)?;
    if args.seeds.shard.is_some() {
        return Err(Failure::usage(
            "plot compare draws every seed: run `retrylab compare --shard K/N --json` per machine, \
             then `retrylab merge --report FILE.html` for the merged plot",
        ));
    }
    crate::report::check(args.seeds.report.as_deref())?;
    let options = estimate_options(&args.seeds, &scenario)?;
    let chosen = select_policies(&scenario, &options.policies).map_err(|error| Failure::estimate(&error))?;
    let bar = progress_bar(options.seeds.saturating_mul(chosen.len() as u64));
    let result = compare(&scenario, &options, &|| bar.inc(1));
    bar.finish_and_clear();
    let comparison = result.map_err(|error| Failure::estimate(&error))?;
    let scenario_text = crate::report::scenario_text(&scenario);
    let report =
        args.seeds.report.as_deref().map(|path| crate::report::ReportTo { path, scenario_text: &scenario_text });
    crate::report::write(report.as_ref(), &scenario, retrylab_report::Results::Comparison(&comparison), &[])?;
    let input = compare_input(&comparison.scenario, comparison.seeds, comparison.confidence, &comparison.policies);
    let (format, path) = destination(&args.output, "compare");
    let summary = format!("{} policies on {} seeds", input.policies.len(), input.seeds);
    write_image(&path, retrylab_plot::compare(&input, format), &summary)
}

/// The comparison plot's input from the policies' estimates (also used by reports).
pub(crate) fn compare_input(scenario: &str, seeds: u64, confidence: f64, policies: &[PolicyEstimate]) -> CompareInput {
    CompareInput {
        scenario: scenario.to_owned(),
        seeds,
        confidence,
        policies: policies
            .iter()
            .map(|p| PolicySummary {
                name: p.policy.clone(),
                failure_rate: p.failure_rate,
                ci_low: p.ci_low,
                ci_high: p.ci_high,
                attempts_per_op: p.attempts_per_op,
                latency_cdf: latency_cdf(p),
            })
            .collect(),
        cdf_note: Some("CDF through p50, p99, p99.9 and max only: a sketch between them".to_owned()),
    }
}

/// A policy's latency CDF as (ms, fraction) points.
///
/// TODO(lead): plug in the exact per-millisecond histogram from the shards work here (and
/// drop `cdf_note`); today only the percentiles are kept, so the CDF passes through them.
fn latency_cdf(policy: &PolicyEstimate) -> Vec<(f64, f64)> {
    vec![
        (policy.latency_ms_p50, 0.5),
        (policy.latency_ms_p99, 0.99),
        (policy.latency_ms_p999, 0.999),
        (policy.latency_ms_max, 1.0),
    ]
}

/// The operation a request or retry decision belongs to, while several may be open: the
/// latest started on the same node, else the latest started anywhere.
fn owner(open: &BTreeMap<u64, (u64, f64)>, node: u64) -> Option<u64> {
    let latest = |same_node: bool| {
        open.iter()
            .filter(|(_, (n, _))| !same_node || *n == node)
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .map(|(op, _)| *op)
    };
    latest(true).or_else(|| latest(false))
}

/// Each operation's start, round-trip time, retries and outcome, from the run's trace.
///
/// TODO(lead): provisional. Switch to `retrylab_harness::operation_records(&report)`
/// (operation, start, end, ok, retried) once it lands; this guesses which open operation a
/// retry decision belongs to.
fn rtt_points(report: &RunReport) -> Vec<RttPoint> {
    let Some(trace) = &report.trace else { return Vec::new() };
    let mut open: BTreeMap<u64, (u64, f64)> = BTreeMap::new();
    let mut retried: BTreeMap<u64, bool> = BTreeMap::new();
    let mut points = Vec::new();
    for event in trace {
        let at_s = event.at.as_secs_f64();
        let node = u64::from(event.node.index());
        match event.kind {
            EventKind::OperationStart { operation, .. } => {
                open.insert(operation, (node, at_s));
            }
            EventKind::RetryDecided { .. } => {
                if let Some(operation) = owner(&open, node) {
                    retried.insert(operation, true);
                }
            }
            EventKind::OperationEnd { operation, status } => {
                if let Some((_, start_s)) = open.remove(&operation) {
                    points.push(RttPoint {
                        start_s,
                        rtt_ms: (at_s - start_s) * 1000.0,
                        retried: retried.remove(&operation).unwrap_or(false),
                        failed: status != 200,
                    });
                }
            }
            _ => {}
        }
    }
    points
}

/// Each S3 request's time and outcome, from the run's trace.
///
/// TODO(lead): provisional. Switch to `retrylab_harness::s3_request_records(&report)` (at,
/// fault, status, operation, chain_bad) once it lands; this ties requests to operations by
/// which was open when the request left.
fn timeline_requests(report: &RunReport) -> Vec<RequestMark> {
    let Some(trace) = &report.trace else { return Vec::new() };
    let mut open: BTreeMap<u64, (u64, f64)> = BTreeMap::new();
    // slot -> (sent at, operation, faulted)
    let mut requests: BTreeMap<u64, (f64, Option<u64>, bool)> = BTreeMap::new();
    let mut last_slot: BTreeMap<u64, u64> = BTreeMap::new();
    let mut failed_operations: BTreeMap<u64, bool> = BTreeMap::new();
    for event in trace {
        let at_s = event.at.as_secs_f64();
        let node = u64::from(event.node.index());
        match event.kind {
            EventKind::OperationStart { operation, .. } => {
                open.insert(operation, (node, at_s));
            }
            EventKind::RequestSent { slot, .. } => {
                let operation = owner(&open, node);
                requests.insert(slot, (at_s, operation, false));
                if let Some(operation) = operation {
                    last_slot.insert(operation, slot);
                }
            }
            EventKind::FaultInjected { slot, .. } => {
                if let Some(request) = requests.get_mut(&slot) {
                    request.2 = true;
                }
            }
            EventKind::Response { slot, status, .. } if !(200..300).contains(&status) => {
                if let Some(request) = requests.get_mut(&slot) {
                    request.2 = true;
                }
            }
            EventKind::OperationEnd { operation, status } => {
                open.remove(&operation);
                failed_operations.insert(operation, status != 200);
            }
            _ => {}
        }
    }
    requests
        .iter()
        .map(|(slot, &(at_s, operation, faulted))| {
            let final_answer = operation
                .is_some_and(|op| failed_operations.get(&op) == Some(&true) && last_slot.get(&op) == Some(slot));
            let outcome = match (faulted, final_answer) {
                (false, _) => RequestOutcome::Ok,
                (true, true) => RequestOutcome::Failed,
                (true, false) => RequestOutcome::FaultRetried,
            };
            RequestMark { at_s, outcome, operation }
        })
        .collect()
}
