//! `retrylab fit` on 1,000,000 access-log lines, end to end: the binary reads the log, fits
//! the fault process (Wald intervals above 200,000 requests), outages, mix and latency, and
//! simulates the goodness-of-fit replicas. Issue 13's target: seconds, not minutes.
//!
//! ```sh
//! cargo bench --bench fit            # 1,000,000 lines
//! cargo bench --bench fit -- 200000  # another size
//! ```
//!
//! The log is the 2012 chain (`s3-10k-requests.toml`'s faults) at Poisson arrivals one second
//! apart, with log-normal latencies, written in the S3 access-log format.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use retrylab_faults::{draw, stream, BurstParams, FaultModel, FaultProcess, FaultSchedule};
use retrylab_logs::{AccessLogEntry, FaultClass, OperationKind, Outcome, Request};

/// 2012-05-08T00:00:00Z, as `retrylab run --access-log` starts its logs.
const EPOCH_MS: i64 = 1_336_435_200_000;

/// A benchmark measures from outside: reading the wall clock is its point.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = std::time::Instant::now();
    let output = f();
    (output, start.elapsed())
}

/// `requests` lines of the 2012 chain, one request a second on average.
fn access_log(requests: u64) -> String {
    let params =
        BurstParams { good_mean_ms: 1_900_000.0, bad_mean_ms: 8_000.0, good_failure: 0.0108, bad_failure: 0.6 };
    let model = FaultModel { process: FaultProcess::GilbertElliott(params), ..FaultModel::default() };
    let mut schedule = FaultSchedule::new(model, 1);
    let mut arrivals = stream(1, "arrivals");
    let mut latencies = stream(1, "latencies");
    let mut text = String::with_capacity(requests as usize * 300);
    let mut time_ms = 0.0;
    for slot in 0..requests {
        time_ms += draw::exponential(&mut arrivals, 1000.0);
        let at = Duration::from_secs_f64(time_ms / 1000.0);
        let outcome = match schedule.decide(slot, at) {
            None => Outcome::Success,
            Some(_) => Outcome::Fault(FaultClass::InternalError),
        };
        let latency_ms = (6.85 + 0.25 * draw::standard_normal(&mut latencies)).exp();
        let request = Request {
            line: slot + 1,
            time_ms: EPOCH_MS + time_ms as i64,
            time_resolution_ms: 1000,
            operation: OperationKind::Put,
            key: Some("shares/file.0".to_owned()),
            latency_ms: Some(latency_ms),
            outcome,
        };
        let _ = writeln!(text, "{}", AccessLogEntry::from_request(&request));
    }
    text
}

fn main() {
    let requests: u64 = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("retrylab-bench-fit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let log = dir.join("access.log");
    let (text, made) = timed(|| access_log(requests));
    std::fs::write(&log, &text).expect("the log is written");
    println!(
        "retrylab fit benchmark: {requests} access-log lines ({:.0} MB), made in {:.1} s",
        text.len() as f64 / 1e6,
        made.as_secs_f64()
    );
    let (output, fitted) = timed(|| {
        Command::new(env!("CARGO_BIN_EXE_retrylab")).arg("fit").arg(&log).arg("--json").output().expect("retrylab runs")
    });
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report = String::from_utf8_lossy(&output.stdout);
    let verdict = report.split("\"verdict\": ").nth(1).and_then(|rest| rest.split(',').next()).unwrap_or("?");
    println!("  retrylab fit {} --json: {:.1} s wall (verdict {verdict})", log.display(), fitted.as_secs_f64());
    println!("  target: seconds, not minutes (docs/fit.md)");
    let _ = std::fs::remove_dir_all(&dir);
}
