//! `retrylab fit` as users run it (issue 13): the example access log in,
//! a scenario that loads out; malformed lines skipped or refused with their
//! numbers; and a round trip through the simulator's own access log.

use std::path::{Path, PathBuf};

use crate::cli::{retrylab, stdout};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("retrylab-fit-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn root(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path).display().to_string()
}

/// Issue 13's acceptance, as a new user: fit the shipped example log into a scenario, compare
/// the policies on it, and read how much to trust the fit (30 requests: not much, and the
/// report says why); the goodness of fit drawn, and each kind of operation fitted on its own.
#[test]
fn the_example_access_log_fits_into_a_scenario_that_loads() {
    let out = scratch("example.toml");
    let plot = scratch("example-fit.svg");
    let output = retrylab(&[
        "fit",
        &root("docs/examples/access.log"),
        "-o",
        out.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
        "--by-operation",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = stdout(&output);
    assert!(text.contains("Independent faults: p ="), "{text}");
    assert!(text.contains("goodness of fit"), "{text}");
    assert!(text.contains("by operation") && text.contains("  PUT (11 requests):"), "{text}");
    assert!(text.contains("how much to trust this fit:") && text.contains("CAUTION  enough faults:"), "{text}");
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.starts_with("# Fitted by `retrylab fit` from "), "{written}");
    assert!(written.contains("# how much to trust this fit:"), "{written}");
    let scenario = retrylab_scenario::load(&out).unwrap_or_else(|e| panic!("{e}\n{written}"));
    assert_eq!(scenario.policies.len(), 4);
    let compare = retrylab(&["compare", out.to_str().unwrap(), "--seeds", "2"]);
    assert!(compare.status.success(), "{}", String::from_utf8_lossy(&compare.stderr));
    for policy in ["none", "retry-once", "multi-retry", "aws-standard"] {
        assert!(stdout(&compare).contains(policy), "{}", stdout(&compare));
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("the figure is well-formed SVG");
    let texts: Vec<&str> = doc.descendants().filter_map(|node| node.text()).collect();
    for caption in ["failure runs by length", "P(fail | previous failed within Δ)", "latency QQ"] {
        assert!(texts.iter().any(|text| text.contains(caption)), "{caption} missing from {texts:?}");
    }
    let json =
        retrylab(&["fit", &root("docs/examples/access.log"), "--json", "--policy", "aws-standard", "--by-operation"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["requests"], 30);
    assert!(value["process"]["independent"]["interval"]["high"].as_f64().unwrap() > 0.0);
    assert_eq!(value["by_operation"]["GET"]["independent"]["requests"], 10);
    let trust = value["trust"].as_array().unwrap();
    assert!(trust.iter().any(|check| check["check"] == "enough faults" && check["ok"] == false), "{trust:?}");
}

#[test]
fn a_malformed_line_is_skipped_with_its_number_or_refused_with_strict() {
    let good = std::fs::read_to_string(root("docs/examples/access.log")).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(2, "this is not an access log line");
    let log = scratch("malformed.log");
    std::fs::write(&log, lines.join("\n")).unwrap();
    let log = log.to_str().unwrap();
    let skipped = retrylab(&["fit", log, "--format", "s3-access"]);
    assert!(skipped.status.success());
    let warning = String::from_utf8_lossy(&skipped.stderr);
    assert!(warning.contains("malformed.log:3:"), "{warning}");
    let strict = retrylab(&["fit", log, "--format", "s3-access", "--strict"]);
    assert!(!strict.status.success());
    let error = String::from_utf8_lossy(&strict.stderr);
    assert!(error.contains("malformed.log:3:"), "{error}");
    assert!(!error.contains("panicked"), "{error}");
}

/// The 2012 scenario's chain, simulated, logged by `run --access-log`,
/// fitted: the fit calls it bursty, and each interval of the one seed's log
/// holds the truth (the coverage over many logs is the next test's).
#[test]
fn a_simulated_access_log_fits_back_to_its_chain() {
    let log = scratch("simulated.log");
    let run = retrylab(&[
        "run",
        &root("sim-scenarios/lab-notebook/s3-10k-requests.toml"),
        "--seed",
        "3",
        "--access-log",
        log.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let fitted = scratch("fitted-2012.toml");
    let fit = retrylab(&["fit", log.to_str().unwrap(), "--json", "-o", fitted.to_str().unwrap()]);
    assert!(fit.status.success(), "{}", String::from_utf8_lossy(&fit.stderr));
    let value: serde_json::Value = serde_json::from_slice(&fit.stdout).unwrap();
    assert_eq!(value["requests"], 10_000);
    assert_eq!(value["process"]["verdict"], "bursty");
    let ge = &value["process"]["gilbert_elliott"];
    let truth =
        [("good_mean_ms", 1_900_000.0), ("bad_mean_ms", 8_000.0), ("good_failure", 0.0108), ("bad_failure", 0.6)];
    for (name, true_value) in truth {
        let interval = &ge["intervals"][name];
        let low = interval["low"].as_f64().unwrap_or(0.0);
        let high = interval["high"].as_f64().unwrap_or(f64::INFINITY);
        assert!(low <= true_value && true_value <= high, "{name}: {true_value} outside [{low}, {high}]");
    }
    // The 2012 check: 2012's 10,000 puts failed 132 times with no retry, 9 retrying once and
    // never with the schedule. Each lies within the range of 40 runs of the fitted scenario (a
    // new run falls outside the range of 40 with probability 2/41: a 95% prediction interval).
    let scenario = retrylab_scenario::load(&fitted).unwrap_or_else(|e| panic!("{e}"));
    for (policy, observed_2012) in [("none", 132), ("retry-once", 9), ("multi-retry", 0)] {
        let policy = scenario.policy(policy).unwrap_or_else(|| panic!("the fitted scenario has {policy}"));
        let failures: Vec<u64> = (0..40)
            .map(|seed| {
                let report = retrylab_harness::run_seed(&scenario, policy, seed, retrylab_harness::TraceMode::HashOnly);
                report.unwrap_or_else(|e| panic!("{e}")).failures
            })
            .collect();
        let (low, high) = (failures.iter().min().unwrap(), failures.iter().max().unwrap());
        assert!(
            (*low..=*high).contains(&observed_2012),
            "{}: 2012's {observed_2012} outside [{low}, {high}]",
            policy.name
        );
    }
    // The fitted chain makes what the log shows, and bounds every parameter.
    let trust = value["trust"].as_array().unwrap();
    for passed in ["enough faults", "intervals closed", "goodness of fit", "latency shape"] {
        assert!(trust.iter().any(|check| check["check"] == passed && check["ok"] == true), "{passed}: {trust:?}");
    }
}

/// Logs per case in the round trip below; `crates/cli/examples/fit-calibration.rs` runs 200
/// (docs/fit.md shows that table and plot).
const ROUND_TRIP_LOGS: u64 = 12;

/// The round trip over many logs: for independent faults, short and long bursts, and short
/// bursts with an outage, the simulator's access log read back and fitted; each 95% interval
/// must hold the truth about 95% of the time. With 12 logs a calibrated interval covers at
/// least 9 with probability 0.998 (binomial), while one of half the width (about 70%
/// coverage) fails this test on most seed sets.
#[test]
fn intervals_hold_the_truth_in_about_95_percent_of_simulated_access_logs() {
    use retrylab_cli::calibration::{calibrate, cases};
    for case in cases() {
        let result = calibrate(&case, 1_000, ROUND_TRIP_LOGS).unwrap_or_else(|error| panic!("{error}"));
        for row in result.rows() {
            assert!(
                row.covered >= 9,
                "{}: {} covered in {} of {} logs",
                row.case,
                row.parameter,
                row.covered,
                row.logs
            );
        }
        match case.name {
            // AIC's false alarms under independence are about one log in ten.
            "independent" => {
                assert!(result.bursty <= 4, "{} of {} independent logs called bursty", result.bursty, result.logs)
            }
            _ => assert!(
                result.bursty >= 10,
                "{}: only {} of {} logs called bursty",
                case.name,
                result.bursty,
                result.logs
            ),
        }
        if case.outage_s.is_some() {
            assert_eq!(result.outages_found, ROUND_TRIP_LOGS, "{}: the outage was missed", case.name);
        }
        assert!(result.false_outages <= 2, "{}: {} outages found where none was", case.name, result.false_outages);
    }
}
