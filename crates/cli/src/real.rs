//! `retrylab real`: the scenario's workload for real, through the same
//! retry layer, storage server and gateway as the simulator, over HTTP to
//! an S3-compatible server on loopback with the fault model on the wire,
//! and the simulator's prediction for the same run beside it.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use retrylab_real::{Agreement, RealError, RealOptions, RealRun, TIME_SCALE_DEFAULT};
use retrylab_scenario::Scenario;

use crate::{load, output, print, progress_bar_of, violations_fail, Failure};

#[derive(Args, Debug)]
pub struct RealArgs {
    /// The scenario file (TOML): an `s3-requests` workload (put or get), or `mutable-puts` or
    /// `backups` on a one-gateway grid, with strong consistency and no [disruptions].
    pub scenario: PathBuf,
    /// Operations (`s3-requests`), puts (`mutable-puts`) or backups (`backups`) each policy runs
    /// [default: the scenario's].
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// A policy to run (repeat for several) [default: every policy of the scenario]. Policies run
    /// at once, each against servers of its own seeded alike, as the simulator's policies meet
    /// the same S3 on a seed.
    #[arg(long)]
    pub policy: Vec<String>,
    /// The seed of the run: the faults and latencies the servers draw per request slot and the
    /// policies' own draws, exactly as the simulator's run of this seed draws them.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Wall time per unit of the scenario's (virtual) time. Every duration the scenario and the
    /// policies name is multiplied by it in real mode: S3 latencies, Gilbert-Elliott sojourns,
    /// outages, retry delays, request and RPC timeouts; times reported (latencies, elapsed)
    /// are divided by it back into the scenario's time. 1 runs in real time; the default 0.01
    /// runs the 2012 experiment's 945 ms requests in 9.45 ms each.
    #[arg(long, default_value_t = TIME_SCALE_DEFAULT, value_name = "FACTOR")]
    pub time_scale: f64,
    /// Simulated seeds behind the prediction interval of each policy's failure rate: the range
    /// of this many simulated runs holds a new run with probability (n-1)/(n+1) (199: 99%).
    #[arg(long, default_value_t = retrylab_real::SIM_SEEDS_DEFAULT, value_name = "N")]
    pub sim_seeds: u64,
    /// Do not run the simulator's prediction.
    #[arg(long)]
    pub no_predict: bool,
    /// Print one JSON object: `estimate`'s fields, plus `faults_injected` per policy (by kind,
    /// applied writes, requests), `agreement` per policy, `time_scale`, `seed`, `wall_ms`.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn run(args: &RealArgs) -> Result<(), Failure> {
    let scenario = load(&args.scenario)?;
    if args.sim_seeds < 2 && !args.no_predict {
        return Err(Failure::usage("--sim-seeds must be at least 2 (a range needs two runs)"));
    }
    let options = RealOptions {
        requests: args.requests,
        policies: args.policy.clone(),
        seed: args.seed,
        time_scale: args.time_scale,
        sim_seeds: (!args.no_predict).then_some(args.sim_seeds),
        confidence: 0.95,
    };
    let short = retrylab_real::shortened(&scenario, args.requests);
    let policies = retrylab_harness::select_policies(&short, &args.policy).map_err(|e| Failure::estimate(&e))?.len();
    let operations = retrylab_real::lane_operations(&short.workload);
    let bar = progress_bar_of(operations.saturating_mul(policies as u64), "real operations");
    let predicting =
        progress_bar_of(args.sim_seeds.saturating_add(1).saturating_mul(policies as u64), "simulated runs");
    let result = retrylab_real::run(&scenario, &options, &|| bar.inc(1), &|| {
        // The real runs are over when the simulator starts: one bar at a time.
        if !bar.is_finished() {
            bar.finish_and_clear();
        }
        predicting.inc(1);
    });
    bar.finish_and_clear();
    predicting.finish_and_clear();
    let run = result.map_err(|error| match error {
        RealError::Estimate(error) => Failure::estimate(&error),
        RealError::Unsupported(_) | RealError::TimeScale(_) | RealError::Requests => Failure::usage(error),
        RealError::Server(_) | RealError::Client(_) | RealError::Runtime(_) => Failure::failed(error),
    })?;
    if args.json {
        print(&format!("{}\n", serde_json::to_string_pretty(&run).unwrap_or_default()))?;
    } else {
        print(&human(&short, &run))?;
    }
    violations_fail(&run.estimate.policies)?;
    if run.agrees() {
        Ok(())
    } else {
        let disagreeing: Vec<&str> =
            run.agreement.iter().flatten().filter(|a| !a.agrees()).map(|a| a.policy.as_str()).collect();
        Err(Failure::verdict(format!(
            "the real run disagrees with the simulator's prediction under {}",
            disagreeing.join(", ")
        )))
    }
}

fn human(scenario: &Scenario, run: &RealRun) -> String {
    let mut out = format!(
        "real mode: seed {}, time scale {} (wall = scenario time x {}), {} ms of wall time\n\n",
        run.seed, run.time_scale, run.time_scale, run.wall_ms
    );
    out.push_str(&output::estimate_human(scenario, &run.estimate));
    let _ = writeln!(out, "\nfaults injected on the wire");
    let _ = writeln!(out, "{:<16} {:>9} {:>8} {:>15}  by kind", "policy", "requests", "faults", "applied writes");
    for lane in &run.faults_injected {
        let kinds: Vec<String> = lane.counts.faults.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
        let _ = writeln!(
            out,
            "{:<16} {:>9} {:>8} {:>15}  {}",
            lane.policy,
            lane.counts.requests,
            lane.counts.faults_total(),
            lane.counts.applied_writes,
            if kinds.is_empty() { "-".to_owned() } else { kinds.join(", ") }
        );
    }
    if let Some(agreement) = &run.agreement {
        let coverage = agreement.first().map_or(0.0, |a| a.prediction.coverage);
        let _ = writeln!(
            out,
            "\nagainst the simulator ({:.0}% prediction interval of one run's failure rate, from {} simulated seeds)",
            coverage * 100.0,
            agreement.first().map_or(0, |a| a.prediction.sim_seeds)
        );
        let _ = writeln!(
            out,
            "{:<16} {:>10} {:>21} {:>10} {:>12} {:>12} {:>7}  verdict",
            "policy", "real rate", "simulated interval", "same seed", "real att/op", "sim att/op", "diff"
        );
        for a in agreement {
            let _ = writeln!(
                out,
                "{:<16} {:>10} {:>21} {:>10} {:>12.4} {:>12.4} {:>6.1}%  {}",
                a.policy,
                percent(a.real_failure_rate),
                format!("[{}, {}]", percent(a.prediction.failure_rate_low), percent(a.prediction.failure_rate_high)),
                percent(a.prediction.same_seed_failure_rate),
                a.real_attempts_per_op,
                a.prediction.attempts_per_op,
                a.attempts_relative_difference * 100.0,
                verdict(a)
            );
        }
        let _ = writeln!(
            out,
            "\nlatency (scenario time, ms): real against simulated; the offset is what loopback HTTP and the \
             server's disk add per operation, divided by the time scale"
        );
        let _ = writeln!(
            out,
            "{:<16} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12}",
            "policy", "real p50", "sim p50", "real p99", "sim p99", "real max", "sim max", "p50 offset"
        );
        for (a, real) in agreement.iter().zip(&run.estimate.policies) {
            let _ = writeln!(
                out,
                "{:<16} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>12.1}",
                a.policy,
                real.latency_ms_p50,
                a.prediction.latency_ms_p50,
                real.latency_ms_p99,
                a.prediction.latency_ms_p99,
                real.latency_ms_max,
                a.prediction.latency_ms_max,
                a.latency_ms_p50_offset
            );
        }
    }
    for note in &run.real_notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

fn percent(rate: f64) -> String {
    format!("{:.3}%", rate * 100.0)
}

fn verdict(agreement: &Agreement) -> &'static str {
    match (agreement.failure_rate_agrees, agreement.attempts_agree) {
        (true, true) => "agrees",
        (false, true) => "failure rate outside the interval",
        (true, false) => "attempts/op differ by more than 5%",
        (false, false) => "both differ",
    }
}
