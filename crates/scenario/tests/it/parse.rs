//! Valid scenario files parse into the exact expected internal `Scenario`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use retrylab_faults::{
    BurstParams, Disruptions, FaultKind, FaultMix, FaultModel, FaultProcess, LatencyDist, MixtureComponent, Outage,
};
use retrylab_retry::{
    AwsRetryConfig, CircuitBreakerConfig, ClientThrottleConfig, Jitter, ObjectStoreConfig, PolicyConfig,
};
use retrylab_scenario::ServerCapacity;
use retrylab_scenario::{
    load, parse, BudgetScope, Consistency, Design, ErrorKind, LafsSpec, Limits, Listing, ModifyRetry, NamedPolicy,
    NetworkSpec, ReadCheck, S3Operation, S3Spec, Scenario, ShareLayout, Workload, WriteCheck,
};

const FULL: &str = include_str!("../data/full.toml");
const LAFS: &str = include_str!("../data/lafs.toml");

const MINIMAL: &str = r#"
name = "minimal"

[workload]
kind = "s3-requests"
operations = 1
operation = "put"

[[policies]]
name = "none"
kind = "none"
"#;

fn full_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/full.toml")
}

fn expected_full(path: &Path) -> Scenario {
    Scenario {
        name: "s3-10k-requests".into(),
        description: "Ten thousand PUTs against bursty 2012-style S3 faults.".into(),
        path: path.to_path_buf(),
        seeds_default: 200,
        limits: Limits { simulated_time_max: Duration::from_secs(200_000), events_max: 2_000_000 },
        network: NetworkSpec { latency: LatencyDist::Uniform { low_ms: 1.0, high_ms: 3.5 }, loss_probability: 0.001 },
        s3: S3Spec {
            latency: LatencyDist::Mixture(vec![
                MixtureComponent { weight: 0.99, dist: LatencyDist::LogNormal { median_ms: 20.0, sigma: 0.5 } },
                MixtureComponent { weight: 0.01, dist: LatencyDist::Exponential { mean_ms: 950.0 } },
            ]),
            error_latency: Some(LatencyDist::Normal { mean_ms: 40.0, std_dev_ms: 10.0 }),
            consistency: Consistency::Eventual { window: Duration::from_millis(2000) },
            request_timeout: Duration::from_millis(15_000),
            capacity: None,
            rate_limits: None,
        },
        faults: FaultModel {
            process: FaultProcess::GilbertElliott(BurstParams {
                good_mean_ms: 2_000_000.0,
                bad_mean_ms: 5_000.0,
                good_failure: 0.0115,
                bad_failure: 0.6,
            }),
            outages: vec![
                Outage { start_ms: 100_000, end_ms: 160_000, kind: FaultKind::InternalError },
                Outage { start_ms: 300_500, end_ms: 301_000, kind: FaultKind::SlowDown },
            ],
            mix: FaultMix { internal_error: 0.98, slow_down: 0.0, connection_reset: 0.02, timeout: 0.0 },
            ambiguous_fraction: 0.25,
        },
        disruptions: Disruptions::default(),
        workload: Workload::S3Requests {
            operations: 10_000,
            operation: S3Operation::Get,
            object_bytes: 4096,
            keys: 16,
            clients: 1,
        },
        traffic: retrylab_scenario::Traffic::default(),
        policies: vec![
            NamedPolicy { name: "none".into(), config: PolicyConfig::None, gateway: None },
            NamedPolicy { name: "retry-once".into(), config: PolicyConfig::Immediate { retries: 1 }, gateway: None },
            NamedPolicy { name: "multi-retry".into(), config: PolicyConfig::tahoe_cloud_backend(), gateway: None },
            NamedPolicy {
                name: "expo".into(),
                config: PolicyConfig::Exponential {
                    base: Duration::from_millis(100),
                    cap: Duration::from_millis(20_000),
                    attempts_max: 5,
                    jitter: Jitter::Decorrelated,
                },
                gateway: None,
            },
        ],
        lafs: None,
    }
}

#[test]
fn full_file_parses_into_the_expected_scenario() {
    let path = Path::new("sim-scenarios/full.toml");
    let scenario = parse(FULL, path).unwrap();
    let expected = expected_full(path);
    // Field by field first, for readable failures; then the whole.
    assert_eq!(scenario.name, expected.name);
    assert_eq!(scenario.description, expected.description);
    assert_eq!(scenario.path, expected.path);
    assert_eq!(scenario.seeds_default, expected.seeds_default);
    assert_eq!(scenario.limits, expected.limits);
    assert_eq!(scenario.network, expected.network);
    assert_eq!(scenario.s3, expected.s3);
    assert_eq!(scenario.faults, expected.faults);
    assert_eq!(scenario.workload, expected.workload);
    assert_eq!(scenario.policies, expected.policies);
    assert_eq!(scenario.lafs, expected.lafs);
    assert_eq!(scenario, expected);
    assert_eq!(scenario.policy("expo"), expected.policies.get(3));
}

#[test]
fn load_reads_the_file_and_keeps_its_path() {
    let path = full_path();
    assert_eq!(load(&path).unwrap(), expected_full(&path));
}

#[test]
fn load_names_an_unreadable_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/no-such-file.toml");
    let err = load(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(err.path(), path);
    assert_eq!((err.line(), err.field()), (None, None));
    let rendered = err.to_string();
    assert!(rendered.starts_with(&format!("{}: cannot read the file: ", path.display())), "{rendered}");
    assert!(!rendered.contains('\n'));
}

#[test]
fn minimal_file_gets_the_documented_defaults() {
    let scenario = parse(MINIMAL, Path::new("minimal.toml")).unwrap();
    let expected = Scenario {
        name: "minimal".into(),
        description: String::new(),
        path: PathBuf::from("minimal.toml"),
        seeds_default: 100,
        limits: Limits { simulated_time_max: Duration::from_secs(1_000_000), events_max: 10_000_000 },
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
        workload: Workload::S3Requests {
            operations: 1,
            operation: S3Operation::Put,
            object_bytes: 1024,
            keys: 1,
            clients: 1,
        },
        traffic: retrylab_scenario::Traffic::default(),
        policies: vec![NamedPolicy { name: "none".into(), config: PolicyConfig::None, gateway: None }],
        lafs: None,
    };
    assert_eq!(scenario, expected);
}

/// MINIMAL with `tables` (starting with a header) appended.
fn with(tables: &str) -> Scenario {
    parse(&format!("{MINIMAL}\n{tables}"), Path::new("t.toml")).unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn independent_faults_with_defaults() {
    let scenario = with("[faults]\nkind = \"independent\"\nfailure_probability = 0.013\n");
    assert_eq!(scenario.faults, FaultModel::independent(0.013));
}

#[test]
fn faults_of_kind_none_may_still_have_outages() {
    let scenario =
        with("[faults]\nkind = \"none\"\n[[faults.outages]]\nstart_s = 0\nend_s = 0.001\nkind = \"timeout\"\n");
    assert_eq!(scenario.faults.process, FaultProcess::Never);
    assert_eq!(scenario.faults.outages, vec![Outage { start_ms: 0, end_ms: 1, kind: FaultKind::Timeout }]);
}

#[test]
fn a_given_mix_defaults_unlisted_weights_to_zero() {
    let scenario = with("[faults]\nkind = \"none\"\n[faults.mix]\nslow_down = 2\n");
    assert_eq!(
        scenario.faults.mix,
        FaultMix { internal_error: 0.0, slow_down: 2.0, connection_reset: 0.0, timeout: 0.0 }
    );
}

#[test]
fn dotted_keys_and_inline_tables_are_the_same_file() {
    let root_keys = "s3.latency_ms.kind = \"constant\"\ns3.latency_ms.ms = 7.5\n\
                     network = { latency_ms = { kind = \"exponential\", mean_ms = 3 } }\n";
    let scenario = parse(&format!("{root_keys}{MINIMAL}"), Path::new("t.toml")).unwrap();
    assert_eq!(scenario.s3.latency, LatencyDist::Constant { ms: 7.5 });
    assert_eq!(scenario.network.latency, LatencyDist::Exponential { mean_ms: 3.0 });
}

#[test]
fn exponential_jitter_defaults_to_full() {
    let scenario =
        with("[[policies]]\nname = \"expo\"\nkind = \"exponential\"\nbase_ms = 1\ncap_ms = 1\nattempts_max = 1\n");
    assert_eq!(
        scenario.policy("expo").unwrap().config,
        PolicyConfig::Exponential {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(1),
            attempts_max: 1,
            jitter: Jitter::Full,
        }
    );
}

#[test]
fn every_latency_kind_parses() {
    let cases = [
        ("{ kind = \"constant\", ms = 3 }", LatencyDist::Constant { ms: 3.0 }),
        ("{ kind = \"uniform\", low_ms = 2, high_ms = 2 }", LatencyDist::Uniform { low_ms: 2.0, high_ms: 2.0 }),
        ("{ kind = \"normal\", mean_ms = 5, std_dev_ms = 0 }", LatencyDist::Normal { mean_ms: 5.0, std_dev_ms: 0.0 }),
        ("{ kind = \"lognormal\", median_ms = 5, sigma = 1 }", LatencyDist::LogNormal { median_ms: 5.0, sigma: 1.0 }),
        ("{ kind = \"exponential\", mean_ms = 0.5 }", LatencyDist::Exponential { mean_ms: 0.5 }),
        (
            "{ kind = \"mixture\", components = [{ weight = 0, kind = \"constant\", ms = 1 }, { weight = 2, kind = \"uniform\", low_ms = 1, high_ms = 9 }] }",
            LatencyDist::Mixture(vec![
                MixtureComponent { weight: 0.0, dist: LatencyDist::Constant { ms: 1.0 } },
                MixtureComponent { weight: 2.0, dist: LatencyDist::Uniform { low_ms: 1.0, high_ms: 9.0 } },
            ]),
        ),
    ];
    for (text, dist) in cases {
        let scenario = with(&format!("[s3]\nerror_latency_ms = {text}\n"));
        assert_eq!(scenario.s3.error_latency, Some(dist), "{text}");
    }
}

// ---------------------------------------------------------------------------
// Workloads on a Tahoe-LAFS grid

#[test]
fn lafs_file_parses_into_the_expected_scenario() {
    let path = Path::new("sim-scenarios/write-hole.toml");
    let scenario = parse(LAFS, path).unwrap_or_else(|err| panic!("{err}"));
    let expected = Scenario {
        name: "write-hole".into(),
        description: String::new(),
        path: path.to_path_buf(),
        seeds_default: 50,
        limits: Limits { simulated_time_max: Duration::from_secs(1_000_000), events_max: 10_000_000 },
        network: NetworkSpec { latency: LatencyDist::Constant { ms: 0.0 }, loss_probability: 0.0 },
        s3: S3Spec {
            latency: LatencyDist::Constant { ms: 20.0 },
            error_latency: None,
            consistency: Consistency::Eventual { window: Duration::from_millis(1500) },
            request_timeout: Duration::from_secs(30),
            capacity: None,
            rate_limits: None,
        },
        faults: FaultModel::independent(0.013),
        disruptions: Disruptions::default(),
        workload: Workload::MutablePuts { puts: 10_000, line_bytes: 4096, reads_per_write: 0 },
        traffic: retrylab_scenario::Traffic::default(),
        policies: vec![NamedPolicy {
            name: "multi-retry".into(),
            config: PolicyConfig::tahoe_cloud_backend(),
            gateway: None,
        }],
        lafs: Some(LafsSpec {
            shares_needed: 2,
            shares_total: 4,
            servers_of_happiness: 3,
            servers: 5,
            rpc_timeout: Duration::from_secs(60),
            gateways: 1,
            gateway_budgets: BudgetScope::PerGateway,
            design: Design {
                share_layout: ShareLayout::Chunked { chunk_bytes: 65_536 },
                per_index_lock: false,
                listing: Listing::WholeBucketFirstPage,
                write_check: WriteCheck::Blind,
                read_check: ReadCheck::ListedEtag,
                modify_retry: ModifyRetry::Replay,
            },
            server_capacity: ServerCapacity::default(),
        }),
    };
    assert_eq!(scenario.workload, expected.workload);
    assert_eq!(scenario.lafs, expected.lafs);
    assert_eq!(scenario, expected);
    assert!(scenario.workload.needs_lafs());
}

/// A minimal file with the given `[workload]` body and `[lafs]`-and-after text.
fn lafs_scenario(workload: &str, lafs: &str) -> Scenario {
    let source =
        format!("name = \"grid\"\n[workload]\n{workload}\n{lafs}\n[[policies]]\nname = \"none\"\nkind = \"none\"\n");
    parse(&source, Path::new("grid.toml")).unwrap_or_else(|err| panic!("{err}\n{source}"))
}

/// `[lafs]` with every field left out.
fn default_lafs() -> LafsSpec {
    LafsSpec {
        shares_needed: 3,
        shares_total: 10,
        servers_of_happiness: 7,
        servers: 10,
        rpc_timeout: Duration::from_secs(300),
        gateways: 1,
        gateway_budgets: BudgetScope::PerGateway,
        design: Design::default(),
        server_capacity: ServerCapacity::default(),
    }
}

#[test]
fn a_storage_servers_capacity_is_read_from_lafs() {
    let workload = "kind = \"mutable-puts\"\nputs = 1";
    let limited = lafs_scenario(
        workload,
        "[lafs]\nserver_concurrency_max = 4\nserver_queue_max = 0\nserver_queue_timeout_ms = 250",
    );
    let expected = ServerCapacity {
        concurrency_max: Some(4),
        queue_max: Some(0),
        queue_timeout: Some(Duration::from_millis(250)),
    };
    assert_eq!(limited.lafs.map(|lafs| lafs.server_capacity), Some(expected));
    let slots_only = lafs_scenario(workload, "[lafs]\nserver_concurrency_max = 1");
    let expected = ServerCapacity { concurrency_max: Some(1), ..ServerCapacity::default() };
    assert_eq!(slots_only.lafs.map(|lafs| lafs.server_capacity), Some(expected));
    let unlimited = lafs_scenario(workload, "[lafs]");
    assert_eq!(unlimited.lafs.map(|lafs| lafs.server_capacity.is_unlimited()), Some(true));
}

#[test]
fn an_empty_lafs_table_gets_the_documented_defaults() {
    let scenario = lafs_scenario("kind = \"mutable-puts\"\nputs = 1", "[lafs]");
    assert_eq!(scenario.lafs, Some(default_lafs()));
    let design = scenario.lafs.unwrap().design;
    assert_eq!(
        design,
        Design {
            share_layout: ShareLayout::Whole,
            per_index_lock: true,
            listing: Listing::Prefixed,
            write_check: WriteCheck::IfMatch,
            read_check: ReadCheck::ListedEtag,
            modify_retry: ModifyRetry::Reconcile,
        }
    );
}

#[test]
fn each_lafs_workload_kind_parses_with_its_defaults() {
    let cases = [
        (
            "kind = \"mutable-puts\"\nputs = 10000",
            Workload::MutablePuts { puts: 10_000, line_bytes: 0, reads_per_write: 0 },
        ),
        (
            "kind = \"mutable-puts\"\nputs = 3\nline_bytes = 0",
            Workload::MutablePuts { puts: 3, line_bytes: 0, reads_per_write: 0 },
        ),
        (
            "kind = \"mutable-appends\"\nappends = 200",
            Workload::MutableAppends { appends: 200, reads_per_write: 0, writers_per_file: 1 },
        ),
        ("kind = \"backups\"\nfiles = [101]", Workload::Backups { files: vec![101], file_bytes_step: 8 }),
        (
            "kind = \"backups\"\nfiles = [101, 201, 301]\nfile_bytes_step = 0",
            Workload::Backups { files: vec![101, 201, 301], file_bytes_step: 0 },
        ),
    ];
    for (text, workload) in cases {
        let scenario = lafs_scenario(text, "[lafs]");
        assert_eq!(scenario.workload, workload, "{text}");
        assert_eq!(scenario.lafs, Some(default_lafs()), "{text}");
        assert!(scenario.workload.needs_lafs());
    }
    assert_eq!(lafs_scenario("kind = \"backups\"\nfiles = [1, 2, 3]", "[lafs]").workload.operations(), 3);
}

#[test]
fn the_2012_grid_is_one_of_one_on_one_server() {
    let scenario = lafs_scenario(
        "kind = \"mutable-appends\"\nappends = 1",
        "[lafs]\nshares_needed = 1\nshares_total = 1\nservers_of_happiness = 1\nservers = 1",
    );
    let lafs = scenario.lafs.unwrap();
    assert_eq!((lafs.shares_needed, lafs.shares_total, lafs.servers_of_happiness, lafs.servers), (1, 1, 1, 1));
    assert_eq!(lafs.design, Design::default());
}

#[test]
fn lafs_counts_reach_the_ends_of_their_ranges() {
    let scenario = lafs_scenario(
        "kind = \"mutable-puts\"\nputs = 1",
        "[lafs]\nshares_needed = 255\nshares_total = 255\nservers_of_happiness = 255\nservers = 10000",
    );
    let lafs = scenario.lafs.unwrap();
    assert_eq!(
        (lafs.shares_needed, lafs.shares_total, lafs.servers_of_happiness, lafs.servers),
        (255, 255, 255, 10_000)
    );
}

#[test]
fn chunked_layout_defaults_to_512_kib_chunks() {
    let scenario =
        lafs_scenario("kind = \"mutable-puts\"\nputs = 1", "[lafs]\n[lafs.design]\nshare_layout = \"chunked\"");
    let design = scenario.lafs.unwrap().design;
    assert_eq!(design, Design { share_layout: ShareLayout::Chunked { chunk_bytes: 524_288 }, ..Design::default() });
}

#[test]
fn each_design_switch_is_independent() {
    let cases = [
        ("share_layout = \"whole\"", Design::default()),
        ("per_index_lock = false", Design { per_index_lock: false, ..Design::default() }),
        (
            "listing = \"whole-bucket-first-page\"",
            Design { listing: Listing::WholeBucketFirstPage, ..Design::default() },
        ),
        ("listing = \"prefixed\"", Design::default()),
        ("write_check = \"blind\"", Design { write_check: WriteCheck::Blind, ..Design::default() }),
        ("write_check = \"if-match\"", Design::default()),
        ("read_check = \"trust-get\"", Design { read_check: ReadCheck::TrustGet, ..Design::default() }),
        ("read_check = \"listed-etag\"", Design::default()),
        ("modify_retry = \"replay\"", Design { modify_retry: ModifyRetry::Replay, ..Design::default() }),
        ("modify_retry = \"reconcile\"", Design::default()),
        ("", Design::default()),
    ];
    for (text, design) in cases {
        let scenario = lafs_scenario("kind = \"mutable-appends\"\nappends = 1", &format!("[lafs.design]\n{text}"));
        assert_eq!(scenario.lafs.map(|lafs| lafs.design), Some(design), "{text}");
    }
}

#[test]
fn lafs_may_be_written_inline_or_with_dotted_keys() {
    let tail = "[workload]\nkind = \"mutable-puts\"\nputs = 1\n[[policies]]\nname = \"none\"\nkind = \"none\"\n";
    let inline =
        "name = \"grid\"\nlafs = { servers = 3, servers_of_happiness = 3, design = { write_check = \"blind\" } }\n";
    let dotted =
        "name = \"grid\"\nlafs.servers = 3\nlafs.servers_of_happiness = 3\nlafs.design.write_check = \"blind\"\n";
    let mixed = "name = \"grid\"\n[lafs]\nservers = 3\nservers_of_happiness = 3\ndesign.write_check = \"blind\"\n";
    let expected = LafsSpec {
        servers: 3,
        servers_of_happiness: 3,
        design: Design { write_check: WriteCheck::Blind, ..Design::default() },
        ..default_lafs()
    };
    for head in [inline, dotted, mixed] {
        let source = format!("{head}{tail}");
        let scenario = parse(&source, Path::new("grid.toml")).unwrap_or_else(|err| panic!("{err}\n{source}"));
        assert_eq!(scenario.lafs, Some(expected.clone()), "{source}");
    }
}

#[test]
fn s3_requests_have_no_grid() {
    let scenario = parse(FULL, Path::new("full.toml")).unwrap();
    assert_eq!(scenario.lafs, None);
    assert!(!scenario.workload.needs_lafs());
}

// ---------------------------------------------------------------------------
// Policy kinds

const POLICIES: &str = include_str!("../data/policies.toml");

/// `data/policies.toml`'s policies, in order.
fn expected_policies() -> Vec<NamedPolicy> {
    let ms = Duration::from_millis;
    let aws_standard = PolicyConfig::aws_standard();
    let named = |name: &str, config: PolicyConfig| NamedPolicy { name: name.into(), config, gateway: None };
    vec![
        named("none", PolicyConfig::None),
        named("tahoe", PolicyConfig::tahoe_cloud()),
        named("aws-standard", aws_standard.clone()),
        named("aws-standard-2.1", PolicyConfig::aws_standard_v2_1()),
        named("aws-adaptive", PolicyConfig::aws_adaptive()),
        named("object-store", PolicyConfig::object_store()),
        named("grpc", PolicyConfig::grpc()),
        named("finagle", PolicyConfig::finagle()),
        named("hedged", PolicyConfig::hedged(PolicyConfig::None, ms(1200))),
        named("aws-with-deadline", PolicyConfig::deadline(aws_standard.clone(), ms(5000))),
        named("tahoe-last-error", PolicyConfig::Tahoe { delays: vec![ms(0), ms(500)], return_first_error: false }),
        named(
            "aws-tuned",
            PolicyConfig::AwsStandard(AwsRetryConfig {
                attempts_max: 5,
                initial_backoff: ms(2000),
                non_throttling_initial_backoff: ms(100),
                max_backoff: ms(10_000),
                quota_capacity: 100,
                retry_cost: 7,
                timeout_retry_cost: 12,
                throttling_retry_cost: 3,
                first_try_reward: 2,
            }),
        ),
        named(
            "aws-2.1-more-attempts",
            PolicyConfig::AwsStandard(AwsRetryConfig { attempts_max: 4, ..AwsRetryConfig::v2_1() }),
        ),
        named(
            "adaptive-small-quota",
            PolicyConfig::AwsAdaptive(AwsRetryConfig { quota_capacity: 50, ..AwsRetryConfig::v2_0() }),
        ),
        named(
            "object-store-tuned",
            PolicyConfig::ObjectStore(ObjectStoreConfig {
                init_backoff: ms(50),
                max_backoff: ms(5000),
                base: 3.0,
                max_retries: 4,
                retry_timeout: ms(60_000),
            }),
        ),
        named(
            "grpc-tuned",
            PolicyConfig::GrpcThrottled {
                inner: Box::new(PolicyConfig::Exponential {
                    base: ms(50),
                    cap: ms(2000),
                    attempts_max: 4,
                    jitter: Jitter::Equal,
                }),
                max_tokens: 20,
                token_ratio: 0.5,
            },
        ),
        named(
            "budget-around-aws",
            PolicyConfig::RetryBudget {
                inner: Box::new(PolicyConfig::AwsStandard(AwsRetryConfig {
                    attempts_max: 4,
                    ..AwsRetryConfig::v2_0()
                })),
                ttl: ms(5000),
                min_retries_per_sec: 2,
                percent_can_retry: 0.1,
            },
        ),
        named("hedged-aws", PolicyConfig::hedged(PolicyConfig::aws_standard_v2_1(), ms(800))),
        named(
            "nested",
            PolicyConfig::deadline(
                match PolicyConfig::retry_budget(PolicyConfig::hedged(PolicyConfig::Immediate { retries: 2 }, ms(300)))
                {
                    PolicyConfig::RetryBudget { inner, ttl, min_retries_per_sec, .. } => {
                        PolicyConfig::RetryBudget { inner, ttl, min_retries_per_sec, percent_can_retry: 0.5 }
                    }
                    other => panic!("retry_budget gave {other:?}"),
                },
                ms(30_000),
            ),
        ),
        named(
            "deadline-schedule",
            PolicyConfig::deadline(PolicyConfig::Schedule { delays: vec![ms(100), ms(1000), ms(2000)] }, ms(2500)),
        ),
        // resilience4j's and Polly's defaults around AWS standard.
        named("breaker-defaults", PolicyConfig::circuit_breaker(PolicyConfig::aws_standard())),
        named(
            "breaker-tuned",
            PolicyConfig::CircuitBreaker {
                inner: Box::new(PolicyConfig::Exponential {
                    base: ms(50),
                    cap: ms(2000),
                    attempts_max: 4,
                    jitter: Jitter::Full,
                }),
                breaker: CircuitBreakerConfig {
                    window: ms(30_000),
                    minimum_calls: 5,
                    failure_rate_threshold: 0.25,
                    open: ms(2000),
                    half_open_calls: 3,
                },
            },
        ),
        // The SRE book's K = 2 over two minutes.
        named("throttle-defaults", PolicyConfig::client_throttle(PolicyConfig::aws_standard())),
        named(
            "throttle-tuned",
            PolicyConfig::ClientThrottle {
                inner: Box::new(PolicyConfig::aws_adaptive()),
                throttle: ClientThrottleConfig { window: ms(60_000), k: 1.5 },
            },
        ),
    ]
}

#[test]
fn breaker_and_throttle_defaults_are_resilience4j_polly_and_the_sre_book() {
    let ms = Duration::from_millis;
    let breaker = CircuitBreakerConfig::default();
    assert_eq!(
        (breaker.window, breaker.minimum_calls, breaker.failure_rate_threshold, breaker.open, breaker.half_open_calls),
        (ms(10_000), 20, 0.5, ms(5_000), 10)
    );
    let throttle = ClientThrottleConfig::default();
    assert_eq!((throttle.window, throttle.k), (ms(120_000), 2.0));
}

#[test]
fn every_policy_kind_parses_with_its_published_defaults_and_overrides() {
    let scenario = parse(POLICIES, Path::new("policies.toml")).unwrap_or_else(|err| panic!("{err}"));
    let expected = expected_policies();
    assert_eq!(scenario.policies.len(), expected.len());
    for (got, want) in scenario.policies.iter().zip(&expected) {
        assert_eq!(got, want);
    }
    // Every kind the format knows appears in the fixture.
    for kind in [
        "none",
        "immediate",
        "schedule",
        "exponential",
        "aws-standard",
        "aws-standard-2.1",
        "aws-adaptive",
        "object-store",
        "grpc-throttled",
        "retry-budget",
        "hedged",
        "tahoe-cloud",
        "deadline",
        "circuit-breaker",
        "client-throttle",
    ] {
        assert!(POLICIES.contains(&format!("kind = \"{kind}\"")), "{kind} is not in data/policies.toml");
    }
}

#[test]
fn inner_policies_may_be_inline_dotted_or_subtables() {
    let expected = PolicyConfig::deadline(PolicyConfig::aws_standard_v2_1(), Duration::from_millis(900));
    for text in [
        "inner = { kind = \"aws-standard-2.1\" }",
        "inner.kind = \"aws-standard-2.1\"",
        "[policies.inner]\nkind = \"aws-standard-2.1\"",
    ] {
        let scenario = with(&format!("[[policies]]\nname = \"d\"\nkind = \"deadline\"\ndeadline_ms = 900\n{text}\n"));
        assert_eq!(scenario.policy("d").unwrap().config, expected, "{text}");
    }
}

#[test]
fn wrappers_nest_in_any_order() {
    let scenario = with(
        "[[policies]]\nname = \"w\"\nkind = \"hedged\"\ndelay_ms = 5\n\
         inner = { kind = \"grpc-throttled\", inner = { kind = \"deadline\", deadline_ms = 7, inner = { kind = \"tahoe-cloud\" } } }\n",
    );
    let PolicyConfig::GrpcThrottled { max_tokens, token_ratio, .. } = PolicyConfig::grpc() else { unreachable!() };
    let expected = PolicyConfig::hedged(
        PolicyConfig::GrpcThrottled {
            inner: Box::new(PolicyConfig::deadline(PolicyConfig::tahoe_cloud(), Duration::from_millis(7))),
            max_tokens,
            token_ratio,
        },
        Duration::from_millis(5),
    );
    assert_eq!(scenario.policy("w").unwrap().config, expected);
    assert_eq!(scenario.policy("w").unwrap().config.layers().count(), 4);
}
