//! The README's `Check` tests, as they look in a crate of your own.

use retrylab_harness::Check;

/// Scenario paths from the crate's directory, so the test finds them
/// whatever directory `cargo test` is started from.
const SCENARIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/flaky-s3.toml");

/// AWS's standard retry mode saves nearly every request from bursty 1.3%
/// faults: 99.9% success, shown with 99% confidence, on at most 1,000 seeds
/// (the sequential test stops sooner). `cargo test -- --nocapture` prints
/// what the check saw.
#[test]
fn aws_standard_meets_three_nines() {
    Check::scenario(SCENARIO).policy("aws-standard").seeds(1000).target_success(0.999).run();
}

/// Without retries about 1.3% of requests fail: the check fails and says
/// by how much, with a command that replays a failed request.
#[test]
#[should_panic(expected = "is below the target 0.999")]
fn no_retry_misses_three_nines() {
    Check::scenario(SCENARIO).policy("none").seeds(1000).target_success(0.999).run();
}
