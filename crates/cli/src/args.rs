//! Command-line arguments: what each command does, taught in `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use retrylab_harness::{RunTimeout, Shard, JOBS_MAX};

#[derive(Parser, Debug)]
#[command(
    name = "retrylab",
    version,
    about = "Deterministic simulation of retry policies for S3-backed storage",
    long_about = "retrylab runs a storage workload against a simulated S3 that fails the way the real \
one does (500 InternalError, 503 SlowDown, dropped connections, timeouts; independent or in bursts), \
under madsim's deterministic scheduler. One seed is one world: the same seed gives the same run, byte \
for byte, on any machine.\n\n\
A scenario file (TOML, see sim-scenarios/) sets the workload, the S3 model, the fault model and the \
retry policies to compare.",
    after_help = "Examples:\n  \
retrylab estimate sim-scenarios/lab-notebook/s3-10k-requests.toml --seeds 200\n  \
retrylab run sim-scenarios/lab-notebook/s3-10k-requests.toml --seed 7 --policy retry-once\n  \
retrylab run sim-scenarios/lab-notebook/s3-10k-requests.toml --seed 7 --trace | less\n  \
retrylab explore sim-scenarios/known-bad/replayed-append.toml --seeds 200\n  \
retrylab compare sim-scenarios/policies/s3-bursty-1.3pct.toml --seeds 500 --json\n  \
retrylab shrink sim-scenarios/known-bad/replayed-append.toml --operations-max 100 --out failures/\n  \
retrylab estimate sim-scenarios/policies/s3-bursty-1.3pct.toml --shard 1/4 --json > p1.json\n  \
retrylab merge p1.json p2.json p3.json p4.json\n  \
retrylab real sim-scenarios/lab-notebook/s3-10k-requests.toml --requests 2000\n\n\
Exit status: 0 success, 1 a run failed (it hit a limit or its --timeout; the message names the seed), \
the checkers found an invariant violation (run, estimate, explore, compare, merge, shrink: a policy that corrupts \
data fails whatever its failure rate) or the output could not be written, 2 bad usage or a bad scenario \
file. With --json, an error is also one JSON object on stdout: {\"error\": message, and \"file\", \"line\", \
\"column\", \"field\", \"seed\" where known}. A closed pipe (`| head`) ends quietly with status 0."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Command {
    /// Whether the command was asked for JSON output (errors then come as JSON too).
    pub fn json(&self) -> bool {
        match self {
            Command::Run(args) => args.json,
            Command::Estimate(args) | Command::Explore(args) | Command::Compare(args) => args.json,
            Command::Shrink(args) => args.json,
            Command::Merge(args) => args.json,
            Command::Check(args) => args.json,
            Command::Schema => false,
            Command::Plot(_) => false,
            Command::Real(args) => args.json,
            Command::Fit(args) => args.json,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one seed of a scenario under one policy and print what happened.
    ///
    /// Prints operations, failures by kind and status, attempts and retries,
    /// latency percentiles and the trace hash. The same seed prints the same
    /// bytes on any machine: this is how a failure found by `estimate` (or by
    /// a test) is replayed.
    Run(RunArgs),
    /// Estimate each policy's failure rate, latency and request amplification over many seeds.
    ///
    /// Runs SEEDS seeds per policy (seeds FIRST_SEED, FIRST_SEED+1, ...), spread over all
    /// cores, and prints a table per policy: operations, failed operations, the failure rate
    /// with its 95% Clopper-Pearson interval on the effective number of operations (operations
    /// divided by the design effect, deff: failures cluster within a seed under bursty faults),
    /// S3 attempts per operation, and latency
    /// p50 / p99 / max. Every policy meets the same simulated S3 on the same seed (faults and
    /// latencies are drawn independently of the policy), so the policies are compared fairly.
    ///
    /// The invariant checkers run on every seed too (grid workloads check their history and
    /// stored shares at quiescence): per policy, the violations, the seeds with one, the count
    /// per invariant and the first one with its `retrylab run` replay command (JSON:
    /// `violations`, `seeds_with_violations`, `violations_by_invariant`, `violation_example`).
    /// Exit status 1 when any policy broke an invariant, whatever its failure rate.
    Estimate(SeedsArgs),
    /// Run the invariant checkers over many seeds and report every violation with its seed.
    ///
    /// For Tahoe-LAFS workloads each run records a history (every put, append, upload and
    /// read, with Jepsen's outcomes ok / fail / info) and the stored shares; at quiescence
    /// the checkers look for lost acknowledged writes, visible failed writes, seqnums that go
    /// backwards or name two versions, duplicated appends and corrupt shares at rest. A run
    /// that hits its time or event limit is a violation too. Each violation is printed with
    /// the exact `retrylab run` command that replays it. Exit status 1 when any is found.
    Explore(SeedsArgs),
    /// Compare every policy of a scenario on the same seeds, with paired significance tests.
    ///
    /// Runs SEEDS seeds of each policy. Every policy meets the same simulated S3 on a seed
    /// (common random numbers), so operation k of seed s is the same user request under each
    /// policy, and McNemar's test on those pairs says whether two policies' failure rates
    /// really differ. Prints each policy's failure rate with its interval, attempts per
    /// operation (request amplification), latency p50 / p99 / p99.9 / max and retry-quota
    /// exhaustions, the p-value of every pair, and the best policy on each measure.
    ///
    /// The invariant checkers run on every seed, as in `estimate`: a policy that broke an
    /// invariant is reported with its violations and a replay command, is never named best on
    /// any measure (JSON: `best_excludes`), and makes the exit status 1.
    Compare(SeedsArgs),
    /// Search variations of a scenario for a broken invariant and shrink it to a minimal scenario file.
    ///
    /// A property test (proptest) of one policy: each case draws the fault model (rate 0-5%,
    /// independent or bursty, fault mix, up to half of failed writes applied), optionally the
    /// workload size and the policy's parameters, and a seed, and runs the invariant checkers.
    /// The first case that breaks an invariant (or hits a run limit) is shrunk (lower rates,
    /// simpler faults, fewer operations, fewer retries) and written to OUT as a scenario file,
    /// with the `retrylab run` command that replays it. Exit status 1 when one is found.
    Shrink(ShrinkArgs),
    /// Merge the parts of a sharded estimate, compare or explore into what one machine would have printed.
    ///
    /// Each PART is the `--json` output of `estimate`, `compare` or `explore` run with
    /// `--shard K/N`: its normal output plus the exact state behind it (counts, per-seed
    /// tallies, latency histograms, findings) and the scenario file it ran. The merge adds the
    /// counts, recomputes every interval, design effect, percentile and paired test from that
    /// state, and prints exactly what the unsharded command would have, human or `--json`,
    /// with the same exit status. Parts of different scenario files, retrylab versions,
    /// commands, policies or seed ranges, a shard given twice and a missing shard are refused
    /// (exit status 2). See docs/shards.md.
    Merge(MergeArgs),
    /// Check scenario files without running them: every error with a hint, and settings with no effect.
    ///
    /// Loads and validates each file as `run` would and prints `OK FILE (workload, operations per run,
    /// grid, policies, seeds)`, or every error as `FILE:LINE:COLUMN: FIELD: MESSAGE` with a hint on the
    /// next line (`hint: did you mean `bad_mean_s`?`, or the names allowed): every unknown key and
    /// unknown name of the file, not only the first. Then each setting that cannot affect a run
    /// (`consistency = "eventual"` on a workload that never reads after overwriting, and others:
    /// docs/scenarios.md) as `FILE:LINE:COLUMN: warning: FIELD: MESSAGE`. Exit status 2 when any file
    /// has an error; warnings alone leave it 0.
    Check(crate::check::CheckArgs),
    /// Print the JSON Schema of scenario files (docs/scenario.schema.json), for editors.
    ///
    /// taplo and Even Better TOML use it to complete and check fields as you type: the repository's
    /// .taplo.toml associates sim-scenarios/**/*.toml with it, or a file can start with
    /// `#:schema ./docs/scenario.schema.json`.
    Schema,
    /// Draw a plot: `rtt` (one run's round-trip times, as the 2012 figure), `compare` (the
    /// policies' failure rates, attempts and latency CDFs) or `timeline` (the fault chain and
    /// each S3 request's outcome over virtual time).
    ///
    /// SVG by default; PNG with `--format png` or an output file ending in `.png`.
    Plot(crate::plot::PlotArgs),
    /// Fit S3's fault process and latency to request logs and write a calibrated scenario.
    ///
    /// Reads S3 server access logs, or client-side logs as CSV or JSON lines (docs/logs.md),
    /// and fits by maximum likelihood independent faults and the two-state Gilbert-Elliott
    /// chain observed at the requests' own timestamps, with 95% intervals on every parameter
    /// and the model chosen by AIC; the fault mix from status and error code; outages (runs of
    /// failures the chain does not explain, reported and left out of the refit); and the
    /// success and error latencies (an empirical quantile table or a log-normal mixture,
    /// whichever fits held-out data better). Then shows, not asserts, how well it fits:
    /// failure-run lengths and P(fail | previous failed within Δ) against the fitted models
    /// simulated at the log's timestamps, and the latency QQ. With -o, writes a scenario that
    /// loads with no edits (docs/fit.md).
    ///
    /// Example: retrylab fit docs/examples/access.log -o mine.toml && retrylab compare mine.toml
    Fit(FitArgs),
    /// Run the scenario for real: the same retry layer, storage server and gateway on tokio,
    /// over HTTP to an S3-compatible server on loopback (s3s) with the fault model on the wire.
    ///
    /// Starts one server per policy (and storage server) on 127.0.0.1, each injecting the
    /// scenario's faults and latencies exactly as the simulated S3 draws them for the seed, per
    /// request slot; runs every policy at once, each sequentially as the scenario says; and
    /// prints `estimate`'s table for the real runs, the faults each server injected, and the
    /// simulator's prediction for the same run (the range of --sim-seeds simulated runs) with
    /// whether each policy agreed. Grid workloads are checked at the end as in the simulator,
    /// reading the stored shares back over HTTP. Exit status 1 when a checker finds a
    /// violation or a policy's run falls outside the prediction. See docs/validation.md.
    Real(crate::real::RealArgs),
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The parts to merge (the `--json` output of each shard), in any order.
    #[arg(required = true, value_name = "PART")]
    pub parts: Vec<PathBuf>,
    /// Print one JSON object instead of the human table.
    #[arg(long)]
    pub json: bool,
    /// Also write a report of the merged result to FILE (.html or .md), as `--report` does on the
    /// unsharded command.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ShrinkArgs {
    /// The scenario file (TOML) to vary.
    pub scenario: PathBuf,
    /// The policy to test [default: the scenario's first policy].
    #[arg(long)]
    pub policy: Option<String>,
    /// Cases to generate before concluding none breaks an invariant.
    #[arg(long, default_value_t = 64)]
    pub cases: u32,
    /// Vary the workload size (operations per gateway) from 1 to this [default: keep the scenario's].
    #[arg(long)]
    pub operations_max: Option<u64>,
    /// Vary the policy's parameters (retries, delays, attempts, quota) as well.
    #[arg(long)]
    pub vary_policy: bool,
    /// On a Tahoe-LAFS grid, vary the workload's kind too (puts, appends or backups).
    #[arg(long)]
    pub vary_workload_kind: bool,
    /// The seed of proptest's own generator: the same seed searches the same cases.
    #[arg(long, default_value_t = 0)]
    pub proptest_seed: u64,
    /// The directory to write the shrunk case to [default: retrylab-failures in the temporary
    /// directory]. An existing file is never replaced: the new one is numbered (NAME-2.toml, ...).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Wall-clock budget of each run, in seconds (at most a day): a run still going after it stops with
    /// its seed named and exit status 1. Measured by the runner, outside the simulated world, so it
    /// never changes what a run does, only whether it is allowed to finish.
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    pub timeout: Option<RunTimeout>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The scenario file (TOML), e.g. sim-scenarios/lab-notebook/s3-10k-requests.toml.
    pub scenario: PathBuf,
    /// The seed of the world to run.
    #[arg(long)]
    pub seed: u64,
    /// The policy to run, by its name in the scenario [default: the scenario's first policy].
    #[arg(long)]
    pub policy: Option<String>,
    /// Swarm mode: each seed draws its own fault model (rates 0.1% to 5%, independent or
    /// bursty, a random mix of fault kinds, ambiguous writes, outages) instead of the
    /// scenario's, to find failures a single fault setting hides.
    #[arg(long)]
    pub swarm: bool,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Print every event of the run before the summary, one line each: virtual time, node
    /// (by role: s3, storage-server.2, gateway.3), event, then key=value fields (op, attempt,
    /// key, fault, status, chain, the retry decision and its reason). See docs/traces.md.
    #[arg(long, conflicts_with = "json")]
    pub trace: bool,
    /// Print every event as one JSON object per line (the same fields as --trace), then one
    /// last line {"event": "run-summary", "summary": {...}} with `run --json`'s fields.
    #[arg(long, conflicts_with_all = ["json", "trace"])]
    pub trace_json: bool,
    /// Show only the events that match every FIELD=VALUE given, comma-separated: node=NAME,
    /// op=N or op=A..B, key=KEY (also the events of the operations on KEY), event=NAME (send,
    /// fault, response, retry, give-up, op-start, op-end, lost, crash, restart, note); a value
    /// ending in * is a prefix; a field given twice matches either value. Implies --trace
    /// unless --trace-json is given. Example: node=gateway.3,op=17.
    #[arg(long, value_name = "FILTER", conflicts_with = "json")]
    pub trace_filter: Option<String>,
    /// Show only events at or after this virtual time: 1200, 1200s, 1200000ms, 20m or 1h.
    /// Implies --trace unless --trace-json is given.
    #[arg(long, value_name = "TIME", conflicts_with = "json")]
    pub from: Option<String>,
    /// Show only events at or before this virtual time (as --from).
    #[arg(long, value_name = "TIME", conflicts_with = "json")]
    pub to: Option<String>,
    /// Print the whole story of operation N (numbered as in the trace's op= field): each
    /// attempt, request, fault and retry decision in every layer, and its outcome, then the
    /// summary.
    #[arg(long, value_name = "N", conflicts_with_all = ["json", "trace", "trace_json", "trace_filter", "from", "to"])]
    pub op: Option<u64>,
    /// Also write what the simulated S3 served, one request a line in the S3 server access-log
    /// format (docs/logs.md), to FILE: the input `retrylab fit` reads, from known truth. Virtual
    /// time 0 is written as 2012-05-08 00:00:00 UTC.
    #[arg(long, value_name = "FILE")]
    pub access_log: Option<PathBuf>,
    /// Wall-clock budget of each run, in seconds (at most a day): a run still going after it stops with
    /// its seed named and exit status 1. Measured by the runner, outside the simulated world, so it
    /// never changes what a run does, only whether it is allowed to finish.
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    pub timeout: Option<RunTimeout>,
}

#[derive(Args, Debug)]
/// Arguments of the many-seed commands (`estimate`, `compare`, `explore`).
pub struct SeedsArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Seeds per policy, at most 1000000 [default: the scenario's `seeds`].
    #[arg(long)]
    pub seeds: Option<u64>,
    /// The first seed; seeds FIRST_SEED ..= FIRST_SEED + SEEDS - 1 are run (the last must not pass
    /// 18446744073709551615).
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// A policy to run (repeatable, each once) [default: every policy of the scenario].
    #[arg(long)]
    pub policy: Vec<String>,
    /// Worker threads, 1 to 256 [default: one per core]. The results do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=JOBS_MAX as i64))]
    pub jobs: Option<u16>,
    /// Swarm mode: each seed draws its own fault model (rates 0.1% to 5%, independent or
    /// bursty, a random mix of fault kinds, ambiguous writes, outages) instead of the
    /// scenario's, to find failures a single fault setting hides.
    #[arg(long)]
    pub swarm: bool,
    /// Print one JSON object instead of the human table.
    #[arg(long)]
    pub json: bool,
    /// Wall-clock budget of each run, in seconds (at most a day): a run still going after it stops with
    /// its seed named and exit status 1. Measured by the runner, outside the simulated world, so it
    /// never changes what a run does, only whether it is allowed to finish.
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    pub timeout: Option<RunTimeout>,
    /// Run only shard K of N (K from 1 to N, N at most 10000): the K-th of N contiguous blocks of the
    /// seeds. With --json the output is a part: `retrylab merge` combines the N parts into exactly
    /// what one machine would have printed. From a 0-based index (Kubernetes' JOB_COMPLETION_INDEX),
    /// add 1.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Also write a report to FILE: FILE.html is one self-contained page (the tables, the plots
    /// inline, the scenario file, seeds, retrylab version and the command that regenerates it);
    /// FILE.md is the same tables in Markdown, for a pull request.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    text.parse().map_err(|error: retrylab_harness::ShardError| error.to_string())
}

fn parse_timeout(text: &str) -> Result<RunTimeout, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("not a number of seconds: {text:?}"))?;
    RunTimeout::seconds(seconds)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// The help states the bounds; they must be the harness's.
    #[test]
    fn the_help_states_the_harness_bounds() {
        let mut command = Cli::command();
        let help = command.find_subcommand_mut("estimate").unwrap().render_long_help().to_string();
        assert!(help.contains(&format!("at most {}", retrylab_harness::SEEDS_MAX)), "{help}");
        assert!(help.contains(&format!("1 to {JOBS_MAX}")), "{help}");
        assert!(help.contains(&format!("N at most {}", retrylab_harness::SHARDS_MAX)), "{help}");
        let timeout_days = retrylab_harness::TIMEOUT_S_MAX / 86_400.0;
        assert_eq!(timeout_days, 1.0, "the help says a day");
    }
}

#[derive(Args, Debug)]
pub struct FitArgs {
    /// The logs to fit, one request a line; several are merged in time order.
    #[arg(required = true)]
    pub logs: Vec<PathBuf>,
    /// s3-access, csv or jsonl [default: told from the first lines].
    #[arg(long)]
    pub format: Option<String>,
    /// Refuse the first malformed line (with its line number) instead of skipping it with a warning.
    #[arg(long)]
    pub strict: bool,
    /// Write the fitted scenario here (whole or not at all).
    #[arg(short = 'o', long = "output", value_name = "SCENARIO")]
    pub output: Option<PathBuf>,
    /// A policy of the written scenario, by its catalogue kind (repeatable; kinds that need no
    /// parameters, e.g. none, aws-standard, aws-adaptive) [default: none, retry-once,
    /// multi-retry (0 s, 2 s, 10 s) and aws-standard].
    #[arg(long)]
    pub policy: Vec<String>,
    /// Print one JSON object (every fit, interval and goodness-of-fit table) instead of the text.
    #[arg(long)]
    pub json: bool,
    /// Also fit the fault process of each kind of operation (GET, PUT, ...) on its own, with
    /// intervals: whether one kind fails more often or in longer bursts than the others.
    #[arg(long)]
    pub by_operation: bool,
    /// Draw the goodness of fit to FILE (whole or not at all): failure-run lengths and
    /// P(fail | previous failed within Δ) against the fitted models' bands, and the latency QQ;
    /// PNG when FILE ends in .png, else SVG.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Client logs: the column (CSV) or key (JSON) holding the time [default: time].
    #[arg(long, value_name = "NAME")]
    pub time_column: Option<String>,
    /// Client logs: the latency in milliseconds [default: latency_ms].
    #[arg(long, value_name = "NAME")]
    pub latency_column: Option<String>,
    /// Client logs: the HTTP status [default: status].
    #[arg(long, value_name = "NAME")]
    pub status_column: Option<String>,
    /// Client logs: the S3 error code [default: error_code].
    #[arg(long, value_name = "NAME")]
    pub error_code_column: Option<String>,
    /// Client logs: ok / reset / timeout / error [default: outcome].
    #[arg(long, value_name = "NAME")]
    pub outcome_column: Option<String>,
    /// Client logs: the operation [default: operation].
    #[arg(long, value_name = "NAME")]
    pub operation_column: Option<String>,
    /// Client logs: the key [default: key].
    #[arg(long, value_name = "NAME")]
    pub key_column: Option<String>,
}
