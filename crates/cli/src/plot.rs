//! `retrylab plot rtt|compare|timeline`: runs what a plot needs, turns the harness's results
//! into `retrylab-plot`'s inputs and writes the image.
//!
//! A run's points come from its full trace read back by the harness
//! (`operation_records`, `s3_request_records`); latency CDFs from the exact
//! latency histogram of each policy's estimate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use retrylab_harness::{
    compare, operation_records, run_seed_within, s3_request_records, select_policies, PolicyEstimate, RunReport,
    S3RequestRecord, TraceMode,
};
use retrylab_plot::{
    ChainSpan, CompareInput, Format, PolicySummary, RequestMark, RequestOutcome, RttInput, RttPoint, TimelineInput,
};
use retrylab_scenario::Scenario;

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
    /// For a scenario under load (open-loop arrivals, S3 capacity): per policy over virtual
    /// time, offered load and goodput, retries and attempts per second, and p99 latency, the
    /// trigger shaded and recovery marked (the mean run over the seeds).
    Load(ComparePlotArgs),
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
        PlotCommand::Load(args) => plot_load(args),
    }
}

/// Every chosen policy of `scenario` on the seeds `seeds` asks for, with a progress bar.
fn compared(seeds: &SeedsArgs, scenario: &Scenario) -> Result<retrylab_harness::Comparison, Failure> {
    let options = estimate_options(seeds, scenario)?;
    let chosen = select_policies(scenario, &options.policies).map_err(|error| Failure::estimate(&error))?;
    let bar = progress_bar(options.seeds.saturating_mul(chosen.len() as u64));
    let result = compare(scenario, &options, &|| bar.inc(1));
    bar.finish_and_clear();
    result.map_err(|error| Failure::estimate(&error))
}

fn plot_load(args: &ComparePlotArgs) -> Result<(), Failure> {
    if args.seeds.json || args.seeds.shard.is_some() || args.seeds.report.is_some() {
        return Err(Failure::usage(
            "plot load writes one image of every seed: --json, --shard and --report are for `retrylab compare`",
        ));
    }
    let scenario = load(&args.seeds.scenario)?;
    let comparison = compared(&args.seeds, &scenario)?;
    let Some(input) = load_input(&scenario, &comparison.policies) else {
        return Err(Failure::usage(format!(
            "{}: not a scenario under load (an s3-requests put or get workload with [workload.arrivals], load \
             settings or [s3.capacity]): nothing to draw over time",
            scenario.path.display()
        )));
    };
    let (format, path) = destination(&args.output, "load");
    let summary = format!("{} policies on {} seeds", input.policies.len(), comparison.seeds);
    write_image(&path, retrylab_plot::load(&input, format), &summary)
}

/// The load figure's input from the policies' estimates; `None` if no policy ran under load.
pub(crate) fn load_input(scenario: &Scenario, policies: &[PolicyEstimate]) -> Option<retrylab_plot::LoadInput> {
    let first = policies.iter().find_map(|p| p.load.as_ref())?;
    let triggers = first.trigger_s.into_iter().collect();
    let policies = policies
        .iter()
        .filter_map(|p| {
            let load = p.load.as_ref()?;
            Some(retrylab_plot::LoadPolicySeries {
                name: p.policy.clone(),
                offered_per_s: load.series.iter().map(|w| w.offered_per_s).collect(),
                goodput_per_s: load.series.iter().map(|w| w.goodput_per_s).collect(),
                attempts_per_s: load.series.iter().map(|w| w.attempts_per_s).collect(),
                retries_per_s: load.series.iter().map(|w| w.retries_per_s).collect(),
                latency_ms_p99: load.series.iter().map(|w| w.latency_ms_p99).collect(),
                // The mean over seeds that recovered; none if any stayed down.
                recovery_s: load.recovery_s_mean.filter(|_| load.seeds_recovered == load.seeds_judged),
            })
        })
        .collect();
    Some(retrylab_plot::LoadInput {
        title: format!("{}: mean over seeds", scenario.name),
        window_s: first.window_s,
        triggers,
        policies,
    })
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

pub(crate) fn write_image(
    path: &Path,
    image: Result<Vec<u8>, retrylab_plot::PlotError>,
    summary: &str,
) -> Result<(), Failure> {
    let bytes = image.map_err(Failure::failed)?;
    crate::write_whole(path, &bytes)?;
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
    let records = s3_request_records(&report);
    let requests = timeline_requests(&report, &records);
    let end_s = requests.iter().map(|r| r.at_s).fold(0.0, f64::max);
    let window = window.map(|(from, to)| (from, if to.is_finite() { to } else { end_s.max(from + 1.0) }));
    let outages =
        scenario.faults.outages.iter().map(|o| (o.start_ms as f64 / 1000.0, o.end_ms as f64 / 1000.0)).collect();
    // The chain is observed where requests meet it: a state holds from one
    // arrival to the next (the chain may have switched and back between).
    let states: Vec<(f64, bool)> =
        records.iter().filter_map(|r| r.chain_bad.map(|bad| (r.at.as_secs_f64(), bad))).collect();
    let bursty = matches!(scenario.faults.process, retrylab_faults::FaultProcess::GilbertElliott(_));
    let input = TimelineInput {
        scenario: scenario.name.clone(),
        policy: report.policy.clone(),
        seed: report.seed,
        chain: ChainSpan::from_requests(&states),
        outages,
        requests,
        window,
        note: Some(if bursty {
            "The chain's state as the requests met it: a band holds from one request to the next.".to_owned()
        } else {
            "Faults are independent of time here (no Gilbert-Elliott chain): no bands.".to_owned()
        }),
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
    let comparison = compared(&args.seeds, &scenario)?;
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
                latency_cdf: p.latency_cdf_ms.clone(),
            })
            .collect(),
        cdf_note: None,
    }
}

/// Each operation's start, round-trip time, retries and outcome, from the run's trace.
fn rtt_points(report: &RunReport) -> Vec<RttPoint> {
    operation_records(report)
        .iter()
        .map(|record| RttPoint {
            start_s: record.start.as_secs_f64(),
            rtt_ms: (record.end - record.start).as_secs_f64() * 1000.0,
            retried: record.retried,
            failed: !record.ok,
        })
        .collect()
}

/// Each S3 request's time and outcome, from the run's trace: a fault that
/// was its operation's final answer (the operation failed and sent nothing
/// after it) is a failure; any other fault was retried.
fn timeline_requests(report: &RunReport, requests: &[S3RequestRecord]) -> Vec<RequestMark> {
    let failed: BTreeSet<u64> =
        operation_records(report).iter().filter(|record| !record.ok).map(|record| record.operation).collect();
    // The last request each operation sent, by send time (then slot).
    let mut last: BTreeMap<u64, (Duration, u64)> = BTreeMap::new();
    for request in requests {
        if let Some(operation) = request.operation {
            let entry = last.entry(operation).or_insert((request.sent_at, request.slot));
            *entry = (*entry).max((request.sent_at, request.slot));
        }
    }
    requests
        .iter()
        .map(|request| {
            let faulted = request.fault.is_some() || !(200..300).contains(&request.status);
            let final_answer = request
                .operation
                .is_some_and(|op| failed.contains(&op) && last.get(&op) == Some(&(request.sent_at, request.slot)));
            let outcome = match (faulted, final_answer) {
                (false, _) => RequestOutcome::Ok,
                (true, true) => RequestOutcome::Failed,
                (true, false) => RequestOutcome::FaultRetried,
            };
            RequestMark { at_s: request.at.as_secs_f64(), outcome, operation: request.operation }
        })
        .collect()
}
