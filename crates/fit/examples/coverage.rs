//! Measures how often the fitted intervals cover the true chain parameters
//! over many simulated logs (the in-crate test runs a few dozen; this runs
//! as many as asked): `cargo run --release -p retrylab-fit --example coverage -- [REPETITIONS] [REQUESTS] [wald]`.

use std::time::Duration;

use retrylab_faults::{draw, stream, BurstParams, FaultModel, FaultProcess, FaultSchedule};
use retrylab_fit::{fit_fault_process, FitOptions, Observation};

fn simulate(params: &BurstParams, requests: usize, gap_ms: f64, seed: u64) -> Vec<Observation> {
    let model = FaultModel { process: FaultProcess::GilbertElliott(params.clone()), ..FaultModel::default() };
    let mut schedule = FaultSchedule::new(model, seed);
    let mut arrivals = stream(seed, "arrivals");
    let mut time_ms = 0.0;
    (0..requests)
        .map(|slot| {
            time_ms += draw::exponential(&mut arrivals, gap_ms);
            let failed = schedule.decide(slot as u64, Duration::from_secs_f64(time_ms / 1000.0)).is_some();
            Observation { time_ms, failed }
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let repetitions: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let requests: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3000);
    let wald = args.get(3).is_some_and(|a| a == "wald");
    let options = FitOptions { profile_observations_max: if wald { 0 } else { usize::MAX }, ..FitOptions::default() };
    let cases = [
        (
            "short bursts",
            BurstParams { good_mean_ms: 60_000.0, bad_mean_ms: 5_000.0, good_failure: 0.01, bad_failure: 0.5 },
        ),
        (
            "2012",
            BurstParams { good_mean_ms: 1_900_000.0, bad_mean_ms: 8_000.0, good_failure: 0.0108, bad_failure: 0.6 },
        ),
    ];
    println!(
        "{repetitions} repetitions of {requests} requests at 1/s, {} intervals",
        if wald { "Wald" } else { "profile" }
    );
    for (name, params) in cases {
        let truth = [params.good_mean_ms, params.bad_mean_ms, params.good_failure, params.bad_failure];
        let mut covered = [0u64; 4];
        let mut open = [0u64; 4];
        let mut fitted = 0u64;
        for seed in 0..repetitions {
            let observations = simulate(&params, requests, 1000.0, seed);
            let Ok(fit) = fit_fault_process(&observations, &options) else { continue };
            let Some(intervals) = fit.gilbert_elliott.and_then(|chain| chain.intervals) else { continue };
            fitted += 1;
            for (index, interval) in intervals.as_array().iter().enumerate() {
                covered[index] += u64::from(interval.contains(truth[index]));
                open[index] += u64::from(interval.low.is_none() || interval.high.is_none());
            }
        }
        let names = ["good_mean_ms", "bad_mean_ms", "good_failure", "bad_failure"];
        println!("{name}: {fitted} fits");
        for index in 0..4 {
            let rate = covered[index] as f64 / fitted.max(1) as f64;
            println!(
                "  {:<13} coverage {:.3} ({}/{fitted}), open at an end {}",
                names[index], rate, covered[index], open[index]
            );
        }
    }
}
