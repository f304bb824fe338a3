//! `to_toml` writes scenario files that `parse` reads back to an equal `Scenario`: every shipped
//! scenario, generated valid scenarios of every shape, and the documented values the file format
//! cannot hold exactly (written as the nearest value, with a `# not exact` comment).

use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use retrylab_faults::{
    BurstParams, Corruption, Crash, Disruptions, FaultKind, FaultMix, FaultModel, FaultProcess, GridNode, LatencyDist,
    MixtureComponent, Outage, Partition, DISRUPTION_SECONDS_MAX,
};
use retrylab_retry::{
    AwsRetryConfig, CircuitBreakerConfig, ClientThrottleConfig, Jitter, ObjectStoreConfig, PolicyConfig,
    BREAKER_CALLS_MAX,
};
use retrylab_scenario::bounds::SERVER_QUEUE_MAX;
use retrylab_scenario::bounds::{
    line_width, stored_bytes, BURST_MEAN_MS_MIN, DURATION_MS_MAX, EVENTS_MAX_CEILING, FILES_PER_BACKUP_MAX,
    FILE_BYTES_MAX, MUTABLE_WRITES_MAX, OPERATIONS_MAX, OPERATION_RECORDS_MAX, SEEDS_MAX, SERVERS_MAX,
    SIMULATED_TIME_S_MAX_CEILING, STORED_BYTES_MAX,
};
use retrylab_scenario::ServerCapacity;
use retrylab_scenario::{
    load, parse, to_toml, to_toml_with_comment, BudgetScope, Consistency, Design, LafsSpec, Limits, Listing,
    ModifyRetry, NamedPolicy, NetworkSpec, OperationMix, ReadCheck, S3Operation, S3Spec, Scenario, ShareLayout,
    Workload, WriteCheck, CLIENTS_MAX, GATEWAYS_MAX, MIXED_KEYS_MAX,
};

/// Where `parse` is told the written text comes from; `Scenario::path` is the only field the text
/// does not carry, so each comparison sets it to this on both sides.
const WRITTEN_PATH: &str = "written.toml";

fn shipped(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim-scenarios").join(file)
}

/// `text` parsed, or a panic showing the error and the text.
fn reparse(text: &str) -> Scenario {
    parse(text, Path::new(WRITTEN_PATH)).unwrap_or_else(|err| panic!("written text does not load: {err}\n{text}"))
}

fn with_written_path(scenario: &Scenario) -> Scenario {
    Scenario { path: PathBuf::from(WRITTEN_PATH), ..scenario.clone() }
}

// ---------------------------------------------------------------------------
// Shipped scenarios

#[test]
fn every_shipped_scenario_round_trips() {
    let files = crate::common::shipped_scenarios();
    assert!(files.len() >= 10, "expected the shipped scenarios, found {files:?}");
    for file in &files {
        let scenario = load(file).unwrap_or_else(|err| panic!("{err}"));
        let text = to_toml(&scenario);
        assert_eq!(reparse(&text), with_written_path(&scenario), "{} written as:\n{text}", file.display());
        assert!(!text.contains("not exact"), "{} written with a lossy value:\n{text}", file.display());
        // Writing is a fixed point: the text of the reloaded scenario is the same text.
        assert_eq!(to_toml(&reparse(&text)), text, "{}", file.display());
    }
}

#[test]
fn written_blind_overwrite_scenario() {
    let scenario = load(&shipped("known-bad/blind-overwrite.toml")).unwrap_or_else(|err| panic!("{err}"));
    let text = to_toml_with_comment(
        &scenario,
        "found by proptest, replay with:\nretrylab run sim-scenarios/known-bad/blind-overwrite.toml --seed 7",
    );
    insta::assert_snapshot!("blind-overwrite", text);
}

#[test]
fn a_policy_catalogue_writes_every_kind_with_nested_layers() {
    let scenario = load(&shipped("policies/s3-bursty-1.3pct.toml")).unwrap_or_else(|err| panic!("{err}"));
    let text = to_toml(&scenario);
    let kinds = [
        "none",
        "immediate",
        "tahoe-cloud",
        "aws-standard",
        // Loads into the same variant as "aws-standard"; written so when the config is 2.1's.
        "aws-standard-2.1",
        "aws-adaptive",
        "object-store",
        "grpc-throttled",
        "exponential",
        "retry-budget",
        "hedged",
        "deadline",
    ];
    for kind in kinds {
        assert!(text.contains(&format!("kind = \"{kind}\"")), "{kind} missing:\n{text}");
    }
    assert!(text.contains("\n[policies.inner]\nkind = \"aws-standard\"\n"), "{text}");
}

#[test]
fn breakers_and_throttles_are_written_with_every_field_and_load_back_equal() {
    let scenario =
        parse(include_str!("../data/policies.toml"), Path::new(WRITTEN_PATH)).unwrap_or_else(|e| panic!("{e}"));
    let text = to_toml(&scenario);
    for line in [
        "kind = \"circuit-breaker\"\nwindow_ms = 30000\nminimum_calls = 5\nfailure_rate_threshold = 0.25\nopen_ms = 2000\nhalf_open_calls = 3\n",
        "kind = \"client-throttle\"\nwindow_ms = 120000\nk = 2.0\n",
        "kind = \"client-throttle\"\nwindow_ms = 60000\nk = 1.5\n",
    ] {
        assert!(text.contains(line), "{line:?} missing:\n{text}");
    }
    assert_eq!(reparse(&text).policies, scenario.policies);
}

// ---------------------------------------------------------------------------
// Comments and strings

#[test]
fn a_comment_becomes_comment_lines_at_the_top() {
    let scenario = load(&shipped("known-bad/blind-overwrite.toml")).unwrap_or_else(|err| panic!("{err}"));
    let text = to_toml_with_comment(&scenario, "line one\n\nline\u{7} three\r\n");
    assert!(text.starts_with("# line one\n#\n# line\\u{7} three\n\nname = "), "{text}");
    assert_eq!(reparse(&text), with_written_path(&scenario));
    assert!(to_toml(&scenario).starts_with("name = "));
    assert_eq!(to_toml_with_comment(&scenario, ""), to_toml(&scenario));
}

#[test]
fn names_and_descriptions_with_quotes_breaks_and_unicode_round_trip() {
    let mut scenario = small_scenario();
    scenario.name = "a \"quoted\" name with \\ and ''' and \"\"\" ✓".into();
    scenario.description =
        "line one\nline \"two\"\"\"\n\ttabbed\r\nwindows\u{0}nul\u{7f}del\u{85}c1 \\\nend with quotes\"\"".into();
    scenario.policies[0].name = "\n!".into();
    let text = to_toml(&scenario);
    assert_eq!(reparse(&text), with_written_path(&scenario), "{text}");
}

// ---------------------------------------------------------------------------
// What the file format cannot hold exactly

/// A valid scenario with every field at a plain value, to vary one field at a time.
fn small_scenario() -> Scenario {
    Scenario {
        name: "small".into(),
        description: String::new(),
        path: PathBuf::from(WRITTEN_PATH),
        seeds_default: 1,
        limits: Limits { simulated_time_max: Duration::from_secs(1000), events_max: 1000 },
        network: NetworkSpec { latency: LatencyDist::Constant { ms: 0.0 }, loss_probability: 0.0 },
        s3: S3Spec {
            latency: LatencyDist::Constant { ms: 20.0 },
            error_latency: None,
            consistency: Consistency::Strong,
            request_timeout: Duration::from_secs(30),
            capacity: None,
            rate_limits: None,
        },
        faults: FaultModel::default(),
        disruptions: Disruptions::default(),
        workload: Workload::MutablePuts { puts: 3, line_bytes: 0, reads_per_write: 0 },
        traffic: retrylab_scenario::Traffic::default(),
        policies: vec![NamedPolicy { name: "none".into(), config: PolicyConfig::None, gateway: None }],
        lafs: Some(LafsSpec {
            shares_needed: 1,
            shares_total: 1,
            servers_of_happiness: 1,
            servers: 1,
            rpc_timeout: Duration::from_secs(300),
            gateways: 1,
            gateway_budgets: BudgetScope::PerGateway,
            design: Design::default(),
            server_capacity: ServerCapacity::default(),
        }),
    }
}

fn gilbert_elliott(good_mean_ms: f64) -> FaultModel {
    FaultModel {
        process: FaultProcess::GilbertElliott(BurstParams {
            good_mean_ms,
            bad_mean_ms: 8000.0,
            good_failure: 0.01,
            bad_failure: 0.6,
        }),
        ..FaultModel::default()
    }
}

/// The loaded good mean of a Gilbert-Elliott scenario.
fn good_mean_ms(scenario: &Scenario) -> f64 {
    match &scenario.faults.process {
        FaultProcess::GilbertElliott(burst) => burst.good_mean_ms,
        other => panic!("not Gilbert-Elliott: {other:?}"),
    }
}

#[test]
fn gilbert_elliott_means_the_loader_can_produce_are_exact() {
    for seconds in [1900.0, 8.0, 1.001, 0.1, 0.001, 3.3e300, 123.456_789] {
        let mut scenario = small_scenario();
        scenario.faults = gilbert_elliott(seconds * 1000.0);
        let text = to_toml(&scenario);
        assert_eq!(reparse(&text), with_written_path(&scenario), "{text}");
        assert!(!text.contains("not exact"), "{text}");
    }
}

#[test]
fn a_gilbert_elliott_mean_no_seconds_value_loads_as_is_written_as_the_nearest() {
    // 1001 ms: 1.001 s loads as 1000.9999999999999 ms and the next f64 up as 1001.0000000000001 ms
    // (`seconds * 1000.0` skips about half the f64s in this range).
    let mut scenario = small_scenario();
    scenario.faults = gilbert_elliott(1001.0);
    let text = to_toml(&scenario);
    assert!(
        text.contains("good_mean_s = 1.001  # not exact: loads as 1000.9999999999999 ms; the scenario has 1001.0 ms")
    );
    let loaded = good_mean_ms(&reparse(&text));
    assert_ne!(loaded, 1001.0);
    assert!((loaded - 1001.0).abs() <= 1e-12 * 1001.0, "{loaded}");
}

#[test]
fn whole_millisecond_and_nanosecond_time_limits_are_exact_below_2_pow_23_seconds() {
    let limits = [
        Duration::from_millis(1),
        Duration::from_nanos(1),
        Duration::from_millis(1001),
        Duration::new(8_388_607, 999_999_999),
        Duration::new(1_000_000, 123_456_789),
        // Whole seconds are exact up to 2^53 s, past the loader's ceiling.
        Duration::from_secs(SIMULATED_TIME_S_MAX_CEILING),
    ];
    for limit in limits {
        let mut scenario = small_scenario();
        scenario.limits.simulated_time_max = limit;
        let text = to_toml(&scenario);
        assert_eq!(reparse(&text), with_written_path(&scenario), "{text}");
        assert!(!text.contains("not exact"), "{text}");
    }
}

#[test]
fn time_limits_finer_than_an_f64_of_seconds_are_written_as_the_nearest() {
    for (limit, loads_as) in [
        // At 2^29 s an f64 step is 2^-23 s (about 119 ns).
        (Duration::new(1 << 29, 1_000_000), Duration::new(1 << 29, 1_000_047)),
        // A nanosecond is below half a step: it is lost.
        (Duration::new(1 << 29, 1), Duration::from_secs(1 << 29)),
    ] {
        let mut scenario = small_scenario();
        scenario.limits.simulated_time_max = limit;
        let text = to_toml(&scenario);
        assert!(text.contains(&format!("# not exact: loads as {loads_as:?}; the scenario has {limit:?}")), "{text}");
        assert_eq!(reparse(&text).limits.simulated_time_max, loads_as);
    }
    // Beyond 2^64 s no f64 loads at all; the nearest the file holds is past the loader's ceiling.
    let mut scenario = small_scenario();
    scenario.limits.simulated_time_max = Duration::MAX;
    let text = to_toml(&scenario);
    let err = parse(&text, Path::new(WRITTEN_PATH)).expect_err("past the ceiling");
    assert_eq!(err.field(), Some("limits.simulated_time_s_max"), "{err}");
}

#[test]
fn integers_beyond_toml_are_written_as_its_largest() {
    let mut scenario = small_scenario();
    scenario.seeds_default = u64::MAX;
    scenario.limits.events_max = i64::MAX as u64;
    scenario.workload = Workload::Backups { files: vec![1, u64::MAX], file_bytes_step: 8 };
    let text = to_toml(&scenario);
    assert!(text.contains(
        "seeds = 9223372036854775807  # not exact: the scenario has 18446744073709551615, above the largest TOML \
         integer\n"
    ));
    assert!(text.contains("events_max = 9223372036854775807\n"), "{text}");
    assert!(text.contains("files = [1, 9223372036854775807]  # not exact: [1]: the scenario has"), "{text}");
    // Such sizes are past the loader's bounds (retrylab_scenario::bounds): refused, not run.
    let err = parse(&text, Path::new(WRITTEN_PATH)).expect_err("past the bounds");
    assert_eq!(err.field(), Some("seeds"), "{err}");
}

#[test]
fn durations_in_millisecond_fields_are_rounded_to_whole_milliseconds() {
    let mut scenario = small_scenario();
    scenario.s3.request_timeout = Duration::from_micros(1500);
    scenario.policies[0].config = PolicyConfig::Deadline {
        inner: Box::new(PolicyConfig::Schedule { delays: vec![Duration::from_micros(2499), Duration::MAX] }),
        deadline: Duration::from_millis(i64::MAX as u64),
    };
    let text = to_toml(&scenario);
    assert!(
        text.contains("request_timeout_ms = 2  # not exact: the scenario has 1.5ms; the file takes whole"),
        "{text}"
    );
    assert!(text.contains("deadline_ms = 9223372036854775807\n"), "{text}");
    assert!(text.contains("delays_ms = [2, 9223372036854775807]  # not exact: [0]: "), "{text}");
    let loaded = reparse(&text);
    assert_eq!(loaded.s3.request_timeout, Duration::from_millis(2));
    assert_eq!(
        loaded.policies[0].config.inner().map(PolicyConfig::max_delay),
        Some(Duration::from_millis(i64::MAX as u64))
    );
}

#[test]
fn outage_bounds_are_exact_below_2_pow_52_milliseconds() {
    let mut scenario = small_scenario();
    scenario.faults.outages = vec![
        Outage { start_ms: 0, end_ms: 1, kind: FaultKind::Timeout },
        Outage { start_ms: 300_500, end_ms: 301_001, kind: FaultKind::SlowDown },
        Outage { start_ms: (1 << 52) - 2, end_ms: (1 << 52) - 1, kind: FaultKind::ConnectionReset },
    ];
    // Past the loader's bounds (an outage starting after the time limit is refused): the
    // writer's exactness is what is tested here.
    let text = to_toml(&scenario);
    assert!(!text.contains("not exact"), "{text}");
    scenario.faults.outages[2] =
        Outage { start_ms: 1_000_000, end_ms: (1 << 52) - 1, kind: FaultKind::ConnectionReset };
    scenario.limits.simulated_time_max = Duration::from_secs(SIMULATED_TIME_S_MAX_CEILING);
    let text = to_toml(&scenario);
    assert_eq!(reparse(&text), with_written_path(&scenario), "{text}");
    assert!(!text.contains("not exact"), "{text}");

    // Far beyond, an outage bound is written as the nearest bound the loader can produce.
    scenario.faults.outages = vec![Outage { start_ms: 0, end_ms: u64::MAX, kind: FaultKind::InternalError }];
    let text = to_toml(&scenario);
    assert!(text.contains("end_s = ") && text.contains("# not exact: loads as"), "{text}");
    let end_ms = reparse(&text).faults.outages.first().map(|outage| outage.end_ms);
    assert!(end_ms.is_some_and(|end| end >= u64::MAX - 4096), "{end_ms:?}");
}

// ---------------------------------------------------------------------------
// Generated scenarios

/// A finite number >= 0 of any magnitude, with the everyday values and the edges often.
fn non_negative() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{NORMAL, POSITIVE, SUBNORMAL, ZERO};
    prop_oneof![
        3 => 0.0..10_000.0f64,
        2 => POSITIVE | NORMAL | SUBNORMAL | ZERO,
        1 => prop::sample::select(vec![0.0, -0.0, 0.1, 0.5, 1.0, 20.0, 945.0, 1e-7, f64::MAX, f64::MIN_POSITIVE]),
    ]
}

fn positive() -> impl Strategy<Value = f64> {
    non_negative().prop_map(|value| if value > 0.0 { value } else { 1.0 })
}

fn probability() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => 0.0..=1.0f64,
        1 => prop::sample::select(vec![0.0, 1.0, 0.013, 0.0075, 1e-300, 0.999_999_999_999_999_9]),
    ]
}

/// A count in 1..=max (a bound of `retrylab_scenario::bounds`), often small, sometimes the bound.
fn count_to(max: u64) -> impl Strategy<Value = u64> {
    prop_oneof![3 => 1..1_000u64.min(max), 1 => 1..=max, 1 => Just(max)]
}

/// A size in 0..=max, often small, sometimes the bound.
fn size_to(max: u64) -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0..100_000u64.min(max), 1 => 0..=max, 1 => Just(max)]
}

/// Positive whole milliseconds up to `DURATION_MS_MAX` (timeouts and windows).
fn bounded_positive_millis() -> impl Strategy<Value = Duration> {
    count_to(DURATION_MS_MAX).prop_map(Duration::from_millis)
}

fn millis() -> impl Strategy<Value = Duration> {
    prop_oneof![3 => 0..100_000u64, 1 => 0..=i64::MAX as u64].prop_map(Duration::from_millis)
}

fn positive_millis() -> impl Strategy<Value = Duration> {
    prop_oneof![3 => 1..100_000u64, 1 => 1..=i64::MAX as u64].prop_map(Duration::from_millis)
}

/// Text of every kind: printable, control characters, quotes and backslashes, line breaks.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        vec(any::<char>(), 0..12).prop_map(|chars| chars.into_iter().collect()),
        "[\"'\\\\\n\r\t a-zé✓]{0,12}",
    ]
}

fn non_blank(text: String) -> String {
    if text.trim().is_empty() {
        format!("{text}x")
    } else {
        text
    }
}

fn simple_latency() -> impl Strategy<Value = LatencyDist> {
    prop_oneof![
        non_negative().prop_map(|ms| LatencyDist::Constant { ms }),
        (non_negative(), non_negative())
            .prop_map(|(a, b)| LatencyDist::Uniform { low_ms: a.min(b), high_ms: a.max(b) }),
        (non_negative(), non_negative()).prop_map(|(mean_ms, std_dev_ms)| LatencyDist::Normal { mean_ms, std_dev_ms }),
        (positive(), non_negative()).prop_map(|(median_ms, sigma)| LatencyDist::LogNormal { median_ms, sigma }),
        non_negative().prop_map(|mean_ms| LatencyDist::Exponential { mean_ms }),
    ]
}

fn latency() -> impl Strategy<Value = LatencyDist> {
    let component = (non_negative(), simple_latency()).prop_map(|(weight, dist)| MixtureComponent { weight, dist });
    let mixture = vec(component, 1..5).prop_map(|mut components| {
        // The loader refuses a mixture whose weights are all zero.
        let all_zero = components.iter().all(|component| component.weight == 0.0);
        if let Some(first) = components.first_mut().filter(|_| all_zero) {
            first.weight = 1.0;
        }
        LatencyDist::Mixture(components)
    });
    prop_oneof![3 => simple_latency(), 1 => mixture]
}

/// Time limits the file holds exactly: whatever the loader makes of a number of seconds, and whole
/// nanoseconds and milliseconds below 2^23 s, whole seconds up to the loader's ceiling.
fn time_limit() -> impl Strategy<Value = Duration> {
    use proptest::num::f64::{NORMAL, POSITIVE, SUBNORMAL};
    const SECONDS_2_POW_23: u64 = 1 << 23;
    prop_oneof![
        (POSITIVE | NORMAL | SUBNORMAL)
            // The loader refuses a limit that rounds to zero or passes its ceiling.
            .prop_filter_map("beyond the ceiling, or zero", |seconds| {
                Duration::try_from_secs_f64(seconds)
                    .ok()
                    .filter(|limit| !limit.is_zero() && *limit <= Duration::from_secs(SIMULATED_TIME_S_MAX_CEILING))
            }),
        (1..SECONDS_2_POW_23 * 1_000_000_000).prop_map(Duration::from_nanos),
        (1..SECONDS_2_POW_23 * 1000).prop_map(Duration::from_millis),
        (1..=SIMULATED_TIME_S_MAX_CEILING).prop_map(Duration::from_secs),
    ]
}

fn limits() -> impl Strategy<Value = Limits> {
    (time_limit(), count_to(EVENTS_MAX_CEILING))
        .prop_map(|(simulated_time_max, events_max)| Limits { simulated_time_max, events_max })
}

fn network() -> impl Strategy<Value = NetworkSpec> {
    (latency(), probability()).prop_map(|(latency, loss_probability)| NetworkSpec { latency, loss_probability })
}

fn s3() -> impl Strategy<Value = S3Spec> {
    let consistency = prop_oneof![
        Just(Consistency::Strong),
        bounded_positive_millis().prop_map(|window| Consistency::Eventual { window }),
    ];
    (latency(), prop::option::of(latency()), consistency, bounded_positive_millis()).prop_map(
        |(latency, error_latency, consistency, request_timeout)| S3Spec {
            latency,
            error_latency,
            consistency,
            request_timeout,
            capacity: None,
            rate_limits: None,
        },
    )
}

/// Gilbert-Elliott means as the loader makes them (`seconds * 1000.0`): the ones the file holds exactly.
fn mean_ms() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{NORMAL, POSITIVE, SUBNORMAL};
    prop_oneof![
        (0.001..100_000.0f64).prop_map(|seconds| seconds * 1000.0),
        (POSITIVE | NORMAL | SUBNORMAL).prop_filter_map("not finite in ms, or below the minimum mean", |seconds| {
            Some(seconds * 1000.0).filter(|ms| ms.is_finite() && *ms >= BURST_MEAN_MS_MIN)
        }),
    ]
}

fn fault_kind() -> impl Strategy<Value = FaultKind> {
    prop::sample::select(FaultKind::ALL.to_vec())
}

fn faults() -> impl Strategy<Value = FaultModel> {
    let process = prop_oneof![
        Just(FaultProcess::Never),
        probability().prop_map(|failure_probability| FaultProcess::Independent { failure_probability }),
        (mean_ms(), mean_ms(), probability(), probability()).prop_map(
            |(good_mean_ms, bad_mean_ms, good_failure, bad_failure)| {
                FaultProcess::GilbertElliott(BurstParams { good_mean_ms, bad_mean_ms, good_failure, bad_failure })
            }
        ),
    ];
    let mix = (non_negative(), non_negative(), non_negative(), non_negative()).prop_map(
        |(internal_error, slow_down, connection_reset, timeout)| {
            let mut mix = FaultMix { internal_error, slow_down, connection_reset, timeout };
            // The loader refuses a mix whose weights are all zero.
            if [internal_error, slow_down, connection_reset, timeout].iter().all(|weight| *weight == 0.0) {
                mix.timeout = 1.0;
            }
            mix
        },
    );
    // Bounds below 2^52 ms, where outages are exact.
    let outage = (0..1u64 << 51, 1..1u64 << 40, fault_kind()).prop_map(|(start_ms, length_ms, kind)| Outage {
        start_ms,
        end_ms: start_ms + length_ms,
        kind,
    });
    (process, vec(outage, 0..4), prop_oneof![Just(FaultMix::default()), mix], probability()).prop_map(
        |(process, outages, mix, ambiguous_fraction)| FaultModel { process, outages, mix, ambiguous_fraction },
    )
}

fn workload() -> impl Strategy<Value = Workload> {
    let operation = prop_oneof![Just(S3Operation::Put), Just(S3Operation::Get)];
    let weight = || prop_oneof![Just(0.0), 0.0..1e6f64];
    let mix = (weight(), weight(), weight(), weight()).prop_map(|(get, put, delete, list)| {
        // The loader refuses a mix whose weights are all zero.
        let get = if [get, put, delete, list].iter().all(|w| *w == 0.0) { 1.0 } else { get };
        S3Operation::Mixed(OperationMix { get, put, delete, list })
    });
    prop_oneof![
        (count_to(OPERATIONS_MAX), operation, size_to(FILE_BYTES_MAX), count_to(OPERATIONS_MAX), 1..=CLIENTS_MAX)
            .prop_map(|(operations, operation, object_bytes, keys, clients)| Workload::S3Requests {
                operations,
                operation,
                object_bytes,
                keys,
                clients,
            }),
        (count_to(OPERATIONS_MAX), mix, size_to(FILE_BYTES_MAX), 1..=MIXED_KEYS_MAX, 1..=CLIENTS_MAX).prop_map(
            |(operations, operation, object_bytes, keys, clients)| Workload::S3Requests {
                operations,
                operation,
                object_bytes,
                keys,
                clients,
            }
        ),
        (count_to(MUTABLE_WRITES_MAX), size_to(FILE_BYTES_MAX), 0u64..=100).prop_map(
            |(puts, line_bytes, reads_per_write)| Workload::MutablePuts { puts, line_bytes, reads_per_write }
        ),
        (count_to(MUTABLE_WRITES_MAX), 0u64..=100, 1u64..=4).prop_map(
            |(appends, reads_per_write, writers_per_file)| {
                Workload::MutableAppends { appends, reads_per_write, writers_per_file }
            }
        ),
        (vec(count_to(FILES_PER_BACKUP_MAX), 1..5), size_to(FILE_BYTES_MAX))
            .prop_map(|(files, file_bytes_step)| Workload::Backups { files, file_bytes_step }),
    ]
}

fn design() -> impl Strategy<Value = Design> {
    let share_layout = prop_oneof![
        Just(ShareLayout::Whole),
        count_to(FILE_BYTES_MAX).prop_map(|chunk_bytes| ShareLayout::Chunked { chunk_bytes }),
    ];
    let listing = prop_oneof![Just(Listing::Prefixed), Just(Listing::WholeBucketFirstPage)];
    let write_check = prop_oneof![Just(WriteCheck::IfMatch), Just(WriteCheck::Blind)];
    let read_check = prop_oneof![Just(ReadCheck::ListedEtag), Just(ReadCheck::TrustGet)];
    let modify_retry = prop_oneof![Just(ModifyRetry::Reconcile), Just(ModifyRetry::Replay)];
    (share_layout, any::<bool>(), listing, write_check, read_check, modify_retry).prop_map(
        |(share_layout, per_index_lock, listing, write_check, read_check, modify_retry)| Design {
            share_layout,
            per_index_lock,
            listing,
            write_check,
            read_check,
            modify_retry,
        },
    )
}

fn lafs() -> impl Strategy<Value = LafsSpec> {
    // k <= N <= 255; happy <= N and <= servers.
    let encoding = (1..=255u8)
        .prop_flat_map(|k| (Just(k), k..=255u8))
        .prop_flat_map(|(k, n)| (Just(k), Just(n), prop_oneof![1..=20u32, 1..=SERVERS_MAX as u32]))
        .prop_flat_map(|(k, n, servers)| (Just(k), Just(n), Just(servers), 1..=u32::from(n).min(servers)));
    let budgets = prop_oneof![Just(BudgetScope::PerGateway), Just(BudgetScope::Shared)];
    let gateways = u32::try_from(GATEWAYS_MAX).unwrap_or(u32::MAX);
    (encoding, bounded_positive_millis(), 1..=gateways, budgets, design(), server_capacity()).prop_map(
        |((shares_needed, shares_total, servers, happy), rpc_timeout, gateways, gateway_budgets, design, capacity)| {
            LafsSpec {
                shares_needed,
                shares_total,
                servers_of_happiness: u8::try_from(happy).unwrap_or(u8::MAX),
                servers,
                rpc_timeout,
                gateways,
                gateway_budgets,
                design,
                server_capacity: capacity,
            }
        },
    )
}

/// Unlimited (the default), or a concurrency limit with or without a queue bound and timeout.
fn server_capacity() -> impl Strategy<Value = ServerCapacity> {
    let most = u32::try_from(SERVER_QUEUE_MAX).unwrap_or(u32::MAX);
    let limited = (1..=most, proptest::option::of(0..=most), proptest::option::of(bounded_positive_millis())).prop_map(
        |(slots, queue_max, queue_timeout)| ServerCapacity { concurrency_max: Some(slots), queue_max, queue_timeout },
    );
    prop_oneof![Just(ServerCapacity::default()), limited]
}

/// A node of the grid `lafs` describes.
fn grid_node(lafs: &LafsSpec) -> impl Strategy<Value = GridNode> {
    prop_oneof![(0..lafs.servers).prop_map(GridNode::StorageServer), (0..lafs.gateways).prop_map(GridNode::Gateway),]
}

/// A disruption time: whole milliseconds up to the bound, at least 1 ms when `positive`.
fn disruption_time(positive: bool) -> impl Strategy<Value = Duration> {
    (u64::from(positive)..=DISRUPTION_SECONDS_MAX * 1000).prop_map(Duration::from_millis)
}

/// Crashes, partitions (two disjoint groups: servers on one side, gateways
/// on the other, so no node is on both) and corruption on the grid `lafs`.
fn disruptions(lafs: &LafsSpec) -> impl Strategy<Value = Disruptions> {
    let crash = (grid_node(lafs), disruption_time(false), disruption_time(true)).prop_map(|(node, at, down)| Crash {
        node,
        at,
        down,
    });
    let servers = vec((0..lafs.servers).prop_map(GridNode::StorageServer), 1..4);
    let gateways = vec((0..lafs.gateways).prop_map(GridNode::Gateway), 1..3);
    let partition = (servers, gateways, disruption_time(false), disruption_time(true))
        .prop_map(|(side_a, side_b, start, duration)| Partition { side_a, side_b, start, duration });
    let corruption = (probability(), probability(), probability(), probability()).prop_map(
        |(bit_flip, truncate, stale_read, tampered_read)| Corruption { bit_flip, truncate, stale_read, tampered_read },
    );
    let corruption = prop_oneof![Just(Corruption::default()), corruption];
    (vec(crash, 0..3), vec(partition, 0..3), corruption).prop_map(|(crashes, partitions, corruption)| Disruptions {
        crashes,
        partitions,
        corruption,
    })
}

fn aws() -> impl Strategy<Value = AwsRetryConfig> {
    (
        (1..=u32::MAX, millis(), millis(), positive_millis()),
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
    )
        .prop_map(
            |(
                (attempts_max, initial_backoff, non_throttling_initial_backoff, max_backoff),
                (quota_capacity, retry_cost, timeout_retry_cost, throttling_retry_cost, first_try_reward),
            )| AwsRetryConfig {
                attempts_max,
                initial_backoff,
                non_throttling_initial_backoff,
                max_backoff,
                quota_capacity,
                retry_cost,
                timeout_retry_cost,
                throttling_retry_cost,
                first_try_reward,
            },
        )
}

/// The policies that wrap none.
fn leaf_policy() -> impl Strategy<Value = PolicyConfig> {
    let jitter = prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated)];
    let exponential =
        (1..1u64 << 40, 0..1u64 << 40, 1..=u32::MAX, jitter).prop_map(|(base_ms, extra_ms, attempts_max, jitter)| {
            PolicyConfig::Exponential {
                base: Duration::from_millis(base_ms),
                cap: Duration::from_millis(base_ms + extra_ms),
                attempts_max,
                jitter,
            }
        });
    let base = prop_oneof![1.0..10.0f64, Just(1.0), positive().prop_map(|base| base.max(1.0))];
    let object_store = (1..1u64 << 40, 0..1u64 << 40, base, any::<u32>(), millis()).prop_map(
        |(init_ms, extra_ms, base, max_retries, retry_timeout)| {
            PolicyConfig::ObjectStore(ObjectStoreConfig {
                init_backoff: Duration::from_millis(init_ms),
                max_backoff: Duration::from_millis(init_ms + extra_ms),
                base,
                max_retries,
                retry_timeout,
            })
        },
    );
    prop_oneof![
        Just(PolicyConfig::None),
        any::<u32>().prop_map(|retries| PolicyConfig::Immediate { retries }),
        vec(millis(), 0..4).prop_map(|delays| PolicyConfig::Schedule { delays }),
        exponential,
        aws().prop_map(PolicyConfig::AwsStandard),
        aws().prop_map(PolicyConfig::AwsAdaptive),
        Just(PolicyConfig::aws_standard_v2_1()),
        object_store,
        (vec(millis(), 0..4), any::<bool>())
            .prop_map(|(delays, return_first_error)| PolicyConfig::Tahoe { delays, return_first_error }),
    ]
}

/// Any policy, wrappers nested up to four deep; `hedging`: whether a layer may hedge (a gateway's may not).
fn policy(hedging: bool) -> impl Strategy<Value = PolicyConfig> {
    leaf_policy().prop_recursive(4, 12, 1, move |inner| {
        let token_ratio = prop_oneof![0.001..10.0f64, Just(0.1), positive().prop_map(|ratio| ratio.max(0.001))];
        let percent_can_retry = prop_oneof![0.0..=1000.0f64, Just(0.2)];
        let grpc = (inner.clone(), 1..=u32::MAX, token_ratio).prop_map(|(inner, max_tokens, token_ratio)| {
            PolicyConfig::GrpcThrottled { inner: Box::new(inner), max_tokens, token_ratio }
        });
        let budget = (inner.clone(), 1000..=60_000u64, any::<u32>(), percent_can_retry).prop_map(
            |(inner, ttl_ms, min_retries_per_sec, percent_can_retry)| PolicyConfig::RetryBudget {
                inner: Box::new(inner),
                ttl: Duration::from_millis(ttl_ms),
                min_retries_per_sec,
                percent_can_retry,
            },
        );
        let deadline = (inner.clone(), positive_millis())
            .prop_map(|(inner, deadline)| PolicyConfig::Deadline { inner: Box::new(inner), deadline });
        let calls = || count_to(u64::from(BREAKER_CALLS_MAX)).prop_map(|calls| calls as u32);
        let threshold = probability().prop_map(|rate| if rate > 0.0 { rate } else { 0.5 });
        let breaker =
            (inner.clone(), bounded_positive_millis(), calls(), threshold, bounded_positive_millis(), calls())
                .prop_map(|(inner, window, minimum_calls, failure_rate_threshold, open, half_open_calls)| {
                    PolicyConfig::CircuitBreaker {
                        inner: Box::new(inner),
                        breaker: CircuitBreakerConfig {
                            window,
                            minimum_calls,
                            failure_rate_threshold,
                            open,
                            half_open_calls,
                        },
                    }
                });
        let k = prop_oneof![Just(2.0), 1.0..=1000.0f64];
        let throttle = (inner.clone(), bounded_positive_millis(), k).prop_map(|(inner, window, k)| {
            PolicyConfig::ClientThrottle { inner: Box::new(inner), throttle: ClientThrottleConfig { window, k } }
        });
        let hedged = (inner, millis(), proptest::option::of(0.01..0.999f64))
            .prop_map(|(inner, delay, quantile)| PolicyConfig::Hedged { inner: Box::new(inner), delay, quantile });
        if hedging {
            prop_oneof![grpc, budget, deadline, breaker, throttle, hedged].boxed()
        } else {
            prop_oneof![grpc, budget, deadline, breaker, throttle].boxed()
        }
    })
}

/// One to four policies with unique names; a gateway layer only on a grid.
fn policies(grid: bool) -> impl Strategy<Value = Vec<NamedPolicy>> {
    let gateway = if grid { prop::option::of(policy(false)).boxed() } else { Just(None).boxed() };
    vec((text(), policy(true), gateway), 1..4).prop_map(|entries| {
        entries
            .into_iter()
            .enumerate()
            // The index after the last `#` makes every name unique (and not blank).
            .map(|(i, (name, config, gateway))| NamedPolicy { name: format!("{name}#{i}"), config, gateway })
            .collect()
    })
}

prop_compose! {
    fn scenario()(
        name in text().prop_map(non_blank),
        description in text(),
        seeds_default in count_to(SEEDS_MAX),
        limits in limits(),
        network in network(),
        s3 in s3(),
        faults in faults(),
        (workload, (lafs, disruptions), policies) in workload().prop_flat_map(|workload| {
            let grid = workload.needs_lafs();
            let lafs = if grid {
                lafs().prop_flat_map(|lafs| (Just(Some(lafs.clone())), disruptions(&lafs))).boxed()
            } else {
                Just((None, Disruptions::default())).boxed()
            };
            (Just(workload), lafs, policies(grid))
        }),
    ) -> Scenario {
        fit(Scenario {
            name,
            description,
            path: PathBuf::from(WRITTEN_PATH),
            seeds_default,
            limits,
            network,
            s3,
            faults,
            disruptions,
            workload,
            traffic: retrylab_scenario::Traffic::default(),
            policies,
            lafs,
        })
    }
}

/// `scenario` with its workload halved until it meets the loader's joint bounds (the largest
/// file, the bytes stored, seeds × operations), then its seeds cut to what the records allow.
fn fit(mut scenario: Scenario) -> Scenario {
    // The loader refuses a disruption that starts at or after the time limit: outages start
    // below the ceiling, and the limit reaches past every start.
    let ceiling = Duration::from_secs(SIMULATED_TIME_S_MAX_CEILING);
    scenario.faults.outages.retain(|outage| Duration::from_millis(outage.start_ms) < ceiling);
    let starts = scenario.faults.outages.iter().map(|outage| Duration::from_millis(outage.start_ms));
    let starts = starts
        .chain(scenario.disruptions.crashes.iter().map(|crash| crash.at))
        .chain(scenario.disruptions.partitions.iter().map(|partition| partition.start));
    if let Some(latest) = starts.max().filter(|latest| *latest >= scenario.limits.simulated_time_max) {
        // Whole seconds: exact in the file at any size up to the ceiling.
        scenario.limits.simulated_time_max = Duration::from_secs(latest.as_secs() + 1);
    }
    let gateways = scenario.lafs.as_ref().map_or(1, |lafs| u64::from(lafs.gateways));
    loop {
        let per_run = scenario.workload.operations().saturating_mul(gateways);
        let stored = stored_bytes(&scenario.workload, scenario.lafs.as_ref());
        if per_run <= OPERATION_RECORDS_MAX
            && largest_file(&scenario.workload) <= u128::from(FILE_BYTES_MAX)
            && stored <= u128::from(STORED_BYTES_MAX)
        {
            scenario.seeds_default = scenario.seeds_default.min(OPERATION_RECORDS_MAX / per_run.max(1)).max(1);
            return scenario;
        }
        halve(&mut scenario.workload);
    }
}

/// The largest single file a grid workload writes (0 for S3 workloads, bounded per object).
fn largest_file(workload: &Workload) -> u128 {
    match workload {
        Workload::MutablePuts { puts, line_bytes, .. } => {
            u128::from(*puts) * u128::from(line_width(*puts, *line_bytes))
        }
        Workload::Backups { files, file_bytes_step } => {
            files.iter().map(|count| u128::from(count - 1) * u128::from(*file_bytes_step)).max().unwrap_or(0)
        }
        Workload::S3Requests { .. } | Workload::MutableAppends { .. } => 0,
    }
}

fn halve(workload: &mut Workload) {
    let half = |count: &mut u64| *count = (*count / 2).max(1);
    match workload {
        Workload::S3Requests { operations, object_bytes, keys, .. } => {
            half(operations);
            half(keys);
            *object_bytes /= 2;
        }
        Workload::MutablePuts { puts, line_bytes, .. } => {
            half(puts);
            *line_bytes /= 2;
        }
        Workload::MutableAppends { appends, .. } => half(appends),
        Workload::Backups { files, file_bytes_step } => {
            files.iter_mut().for_each(half);
            *file_bytes_step /= 2;
        }
    }
}

include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/proptest_seed.rs"));

proptest! {
    #![proptest_config(ProptestConfig { rng_seed: proptest_rng_seed(),
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../proptest-regressions/scenario-roundtrip.txt"
        )))),
        ..Default::default()
    })]

    #[test]
    fn generated_scenarios_round_trip(scenario in scenario()) {
        let text = to_toml(&scenario);
        let loaded = parse(&text, Path::new(WRITTEN_PATH));
        prop_assert!(loaded.is_ok(), "written text does not load: {:?}\n{}", loaded.err(), text);
        prop_assert_eq!(loaded.ok(), Some(scenario), "written as:\n{}", text);
        prop_assert!(!text.contains("# not exact"), "{}", text);
    }
}
