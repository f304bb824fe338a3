//! Wall time of one likelihood evaluation and of a whole fit (point fit and
//! Wald intervals) on a simulated log: `cargo run --release -p retrylab-fit --example speed -- [REQUESTS]`.

use std::time::Duration;

use retrylab_faults::{draw, stream, BurstParams, FaultModel, FaultProcess, FaultSchedule};
use retrylab_fit::{fit_fault_process, gilbert_elliott_log_likelihood, FitOptions, Observation};

// Wall time is what this example measures; it is not simulated code.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn main() {
    let requests: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let params =
        BurstParams { good_mean_ms: 1_900_000.0, bad_mean_ms: 8_000.0, good_failure: 0.0108, bad_failure: 0.6 };
    let model = FaultModel { process: FaultProcess::GilbertElliott(params.clone()), ..FaultModel::default() };
    let mut schedule = FaultSchedule::new(model, 1);
    let mut arrivals = stream(1, "arrivals");
    let mut time_ms = 0.0;
    let observations: Vec<Observation> = (0..requests)
        .map(|slot| {
            time_ms += draw::exponential(&mut arrivals, 1000.0);
            let failed = schedule.decide(slot as u64, Duration::from_secs_f64(time_ms / 1000.0)).is_some();
            Observation { time_ms, failed }
        })
        .collect();
    let start = std::time::Instant::now();
    let evaluations = 20;
    let mut ll = 0.0;
    for _ in 0..evaluations {
        ll += gilbert_elliott_log_likelihood(&observations, &params);
    }
    let per_evaluation = start.elapsed() / evaluations;
    println!("{requests} requests: one likelihood evaluation {per_evaluation:?} (ll {})", ll / f64::from(evaluations));
    let start = std::time::Instant::now();
    let fit = fit_fault_process(&observations, &FitOptions::default()).expect("valid observations");
    let elapsed = start.elapsed();
    let chain = fit.gilbert_elliott.expect("a chain");
    let intervals = chain.intervals.as_ref().expect("intervals");
    println!(
        "fit with {:?} intervals: {elapsed:?}; {} + {} evaluations, converged {}",
        intervals.method, chain.evaluations, intervals.evaluations, chain.converged
    );
    println!(
        "good_mean_ms {:.0} {:?}\nbad_mean_ms {:.0} {:?}\ngood_failure {:.5} {:?}\nbad_failure {:.4} {:?}",
        chain.good_mean_ms,
        intervals.good_mean_ms,
        chain.bad_mean_ms,
        intervals.bad_mean_ms,
        chain.good_failure,
        intervals.good_failure,
        chain.bad_failure,
        intervals.bad_failure
    );
}
