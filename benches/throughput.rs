//! Throughput of the simulator: simulated S3 requests per wall-second on the 10,000-request scenario, against a bare madsim request/response loop, and seeds per second on 1 and 2 threads.
//!
//! Run with `cargo bench --bench throughput` (bench profile = release with
//! line tables; `--cfg madsim` comes from `.cargo/config.toml`). It prints:
//!
//! 1. `retrylab`: `retrylab_harness::run_seed` on
//!    `sim-scenarios/lab-notebook/s3-10k-requests.toml`, one seed at a time,
//!    for the policies `none` and `multi-retry`: wall milliseconds per seed and
//!    S3 requests (the report's `attempts`) per wall-second.
//! 2. `bare madsim`: the same number of round trips between a client task and
//!    a server task over `futures` channels (mpsc + oneshot), each with one
//!    `madsim::time::sleep` of 950 ms of virtual time, in a fresh runtime per
//!    seed as `run_seed` makes: what madsim itself costs per round trip. Also
//!    `madsim 1 task, sleep`: one sleep per request in one task, the floor of
//!    retrylab's design (`Network::call_sync` runs a call inline in the
//!    caller's task with one timer).
//! 3. The ratio of (1)'s rate to (2)'s (target >= 0.7) and the verdict on
//!    milliseconds per seed (target < 50).
//! 4. `scaling`: `retrylab_harness::estimate` over 40 seeds with 1 worker
//!    thread, 2 worker threads and one per core: seeds per wall-second,
//!    speed-up over 1 thread, and the CPUs the process really got.
//! 5. The per-request costs of retrylab's own work, micro-timed one by one,
//!    against the measured time per request.
//!
//! 6. `load`: one seed of `sim-scenarios/load/metastable-retry-storm.toml`
//!    (open loop, 1,400 operations a second for 3 minutes of virtual time)
//!    per policy: wall seconds per simulated minute (target < 1) and S3
//!    requests per wall-second.
//!
//! Rates are medians over repetitions (the best beside them). Wall time is
//! only ever read outside madsim runtimes: inside one, madsim answers
//! `clock_gettime` with virtual time. See docs/performance.md.

use std::path::Path;
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::{SinkExt, StreamExt};
use retrylab_harness::{estimate, run_seed, EstimateOptions, TraceMode};
use retrylab_scenario::{NamedPolicy, Scenario};
use retrylab_sim::{EventKind, NodeId, SimClock, World, WorldConfig};

/// The scenario measured, relative to the root package.
const SCENARIO: &str = "sim-scenarios/lab-notebook/s3-10k-requests.toml";
/// Policies measured in part 1.
const POLICIES: [&str; 2] = ["none", "multi-retry"];
/// Seeds per repetition in parts 1 and 2.
const SEEDS: u64 = 20;
/// Repetitions of parts 1 and 2 (interleaved, so drift hits both alike).
const REPETITIONS: usize = 5;
/// Seeds per `estimate` call in part 4, and repetitions of it.
const SCALING_SEEDS: u64 = 40;
const SCALING_REPETITIONS: usize = 3;
/// Virtual service time of one bare round trip: the 10k scenario's usual S3 latency.
const BARE_SERVICE: Duration = Duration::from_millis(950);

/// Targets (docs/performance.md).
const TARGET_RATIO: f64 = 0.7;
const TARGET_MS_PER_SEED: f64 = 50.0;

/// Runs `f` and returns its result with the wall time it took.
///
/// The workspace's clippy.toml bans the wall clock because simulated code
/// must stay deterministic. A benchmark measures the simulator from outside
/// it, so reading the wall clock here is the point, and changes no result.
/// Call it only outside madsim runtimes: inside one, madsim answers
/// `clock_gettime` with virtual time.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = std::time::Instant::now();
    let output = f();
    (output, start.elapsed())
}

/// CPU time this process has used so far, all threads (user + system), from
/// /proc/self/stat; `None` off Linux. Dividing a run's CPU time by its wall
/// time gives the cores it really had: below the thread count, other
/// processes took the rest, and a poor speed-up is the machine's, not the code's.
fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses: state is
    // field 3, utime 14 and stime 15, in clock ticks (USER_HZ, 100 on Linux).
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The 1-minute load average, to warn when other processes share the cores.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

/// One seed of retrylab: (S3 requests sent, wall time).
fn retrylab_seed(scenario: &Scenario, policy: &NamedPolicy, seed: u64) -> (u64, Duration) {
    let (report, wall) = timed(|| run_seed(scenario, policy, seed, TraceMode::HashOnly));
    let report = report.unwrap_or_else(|error| panic!("{SCENARIO} policy {}: {error}", policy.name));
    (report.attempts, wall)
}

struct Request {
    id: u64,
    reply: oneshot::Sender<u64>,
}

/// One seed of the bare loop: `round_trips` request/response exchanges
/// between a client task and a server task, each with one `service` sleep,
/// in a fresh runtime (as `retrylab_sim::run` makes one per seed).
fn bare_seed(seed: u64, round_trips: u64, service: Duration) -> Duration {
    let (sum, wall) = timed(|| {
        let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
        runtime.block_on(async move {
            let (mut requests, mut incoming) = mpsc::channel::<Request>(1);
            let server = madsim::task::spawn(async move {
                while let Some(request) = incoming.next().await {
                    madsim::time::sleep(service).await;
                    // The client waits for every answer, so it is never gone.
                    let _ = request.reply.send(request.id);
                }
            });
            let client = madsim::task::spawn(async move {
                let mut sum = 0u64;
                for id in 0..round_trips {
                    let (reply, answer) = oneshot::channel();
                    requests.send(Request { id, reply }).await.expect("server task is alive");
                    sum += answer.await.expect("server answers every request");
                }
                sum
                // `requests` drops here: the server's loop ends.
            });
            let sum = client.await.expect("client task finishes");
            server.await.expect("server task finishes");
            assert!(madsim::time::TimeHandle::current().elapsed() >= service * round_trips as u32, "every sleep slept");
            sum
        })
    });
    assert_eq!(sum, round_trips * round_trips.saturating_sub(1) / 2, "every round trip answered");
    wall
}

/// madsim's floor for retrylab's design: `Network::call_sync` runs a request
/// inline in the caller's task with one timer, so the cheapest possible
/// request is one `sleep` in one task.
fn sleep_only_seed(seed: u64, requests: u64, service: Duration) -> Duration {
    let ((), wall) = timed(|| {
        let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
        runtime.block_on(async move {
            for _ in 0..requests {
                madsim::time::sleep(service).await;
            }
            assert!(madsim::time::TimeHandle::current().elapsed() >= service * requests as u32, "every sleep slept");
        });
    });
    wall
}

/// The harness's private `body(i, size)` (crates/harness/src/workload.rs),
/// copied here so that its cost can be timed on its own.
fn ns_per_call(n: u64, mut f: impl FnMut(u64)) -> f64 {
    (0..5)
        .map(|_| {
            let ((), wall) = timed(|| (0..n).for_each(&mut f));
            wall.as_secs_f64() * 1e9 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Like [`ns_per_call`] for code that needs a running world: a world making
/// `n` calls, minus an empty world, timed from outside. (Inside a runtime,
/// madsim answers `clock_gettime` with virtual time, so `Instant` there is
/// not the wall clock.)
fn world_ns_per_call(n: u64, f: impl Fn(&World, NodeId, u64)) -> f64 {
    let config = WorldConfig::new(0);
    let run = |count: u64| {
        let (result, wall) = timed(|| {
            retrylab_sim::run(&config, |world| {
                let f = &f;
                async move {
                    let node = world.net().add_node("bench");
                    (0..count).for_each(|i| f(&world, node, i));
                }
            })
        });
        result.unwrap_or_else(|error| panic!("{error}"));
        wall
    };
    (0..5).map(|_| (run(n).saturating_sub(run(0))).as_secs_f64() * 1e9 / n as f64).fold(f64::INFINITY, f64::min)
}

/// A rate and a time per seed summarised over repetitions.
struct Row {
    label: String,
    /// Per repetition: round trips (S3 requests) per wall-second.
    rates: Vec<f64>,
    /// Per seed run: wall milliseconds.
    seed_ms: Vec<f64>,
    requests_per_seed: f64,
}

impl Row {
    fn new(label: &str) -> Self {
        Row { label: label.to_owned(), rates: Vec::new(), seed_ms: Vec::new(), requests_per_seed: 0.0 }
    }

    fn print(&self) {
        println!(
            "  {:<22} {:>9.0} {:>11.1} {:>9.1} {:>9.1} {:>13.0} {:>13.0}",
            self.label,
            self.requests_per_seed,
            median(&self.seed_ms),
            min(&self.seed_ms),
            max(&self.seed_ms),
            median(&self.rates),
            max(&self.rates),
        );
    }
}

fn main() {
    let ((), total) = timed(|| {
        run_all();
        load_storm();
    });
    println!();
    println!(
        "benchmark wall time {:.1} s; load average {:.2} at the end",
        total.as_secs_f64(),
        load_average().unwrap_or(f64::NAN)
    );
}

fn run_all() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCENARIO);
    let scenario = retrylab_scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
    let policies: Vec<&NamedPolicy> = POLICIES
        .iter()
        .map(|name| scenario.policy(name).unwrap_or_else(|| panic!("{SCENARIO} has no policy {name:?}")))
        .collect();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("model name"))?;
            Some(line.split_once(':')?.1.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("retrylab throughput benchmark");
    println!("  {SCENARIO}: {SEEDS} seeds x {REPETITIONS} repetitions");
    println!("  CPU: {cpu}, {cores} cores");
    if let Some(load) = load_average() {
        println!(
            "  load average {load:.2} at start{}",
            if load > 1.0 { ": other processes compete for the cores, expect noise" } else { "" }
        );
    }
    if cfg!(debug_assertions) {
        println!("  WARNING: debug assertions on: not the bench profile, figures are not comparable");
    }

    // Warm-up: page in code and data, let the CPU settle.
    let (round_trips, _) = retrylab_seed(&scenario, policies[0], 0);
    for policy in &policies {
        retrylab_seed(&scenario, policy, 1);
    }
    bare_seed(1, round_trips, BARE_SERVICE);
    sleep_only_seed(1, round_trips, BARE_SERVICE);

    // Parts 1 and 2, interleaved repetition by repetition so that drift and
    // other load on the machine hit every row alike.
    let mut rows: Vec<Row> = POLICIES.iter().map(|name| Row::new(&format!("retrylab {name}"))).collect();
    let mut bare = Row::new("bare madsim");
    let mut floor = Row::new("madsim 1 task, sleep");
    bare.requests_per_seed = round_trips as f64;
    floor.requests_per_seed = round_trips as f64;
    for _ in 0..REPETITIONS {
        for (row, policy) in rows.iter_mut().zip(&policies) {
            let (mut requests, mut wall) = (0u64, Duration::ZERO);
            for seed in 0..SEEDS {
                let (attempts, seed_wall) = retrylab_seed(&scenario, policy, seed);
                requests += attempts;
                wall += seed_wall;
                row.seed_ms.push(seed_wall.as_secs_f64() * 1e3);
            }
            row.rates.push(requests as f64 / wall.as_secs_f64());
            row.requests_per_seed = requests as f64 / SEEDS as f64;
        }
        for (row, one_seed) in
            [(&mut bare, bare_seed as fn(u64, u64, Duration) -> Duration), (&mut floor, sleep_only_seed)]
        {
            let mut wall = Duration::ZERO;
            for seed in 0..SEEDS {
                let seed_wall = one_seed(seed, round_trips, BARE_SERVICE);
                wall += seed_wall;
                row.seed_ms.push(seed_wall.as_secs_f64() * 1e3);
            }
            row.rates.push((round_trips * SEEDS) as f64 / wall.as_secs_f64());
        }
    }

    println!();
    println!("1-2. S3 requests (round trips) per wall-second; one seed = one fresh madsim runtime");
    println!(
        "  {:<22} {:>9} {:>11} {:>9} {:>9} {:>13} {:>13}",
        "", "req/seed", "ms/seed med", "min", "max", "req/s median", "req/s best"
    );
    for row in rows.iter().chain([&bare, &floor]) {
        row.print();
    }
    let bare_rate = median(&bare.rates);
    let floor_rate = median(&floor.rates);
    println!(
        "  madsim's cost: {:.2} us per bare round trip (2 tasks, mpsc + oneshot, 1 timer); \
         {:.2} us per sleep in 1 task",
        1e6 / bare_rate,
        1e6 / floor_rate
    );

    println!();
    println!(
        "3. retrylab rate / bare madsim rate (target >= {TARGET_RATIO}); ms per seed (target < {TARGET_MS_PER_SEED})"
    );
    for row in &rows {
        let rate = median(&row.rates);
        let ratio = rate / bare_rate;
        let ms = median(&row.seed_ms);
        println!(
            "  {:<22} ratio {:>5.2} {:<4} (best {:.2})  {:>5.2} us/request  {:>5.1} ms/seed {}",
            row.label,
            ratio,
            if ratio >= TARGET_RATIO { "ok" } else { "LOW" },
            max(&row.rates) / max(&bare.rates),
            1e6 / rate,
            ms,
            if ms < TARGET_MS_PER_SEED { "ok" } else { "SLOW" },
        );
    }

    // Part 4: seeds across cores.
    println!();
    println!("4. scaling: estimate() over {SCALING_SEEDS} seeds of policy \"none\", {SCALING_REPETITIONS} repetitions");
    let configurations: [(&str, Option<usize>); 3] =
        [("1 thread", Some(1)), ("2 threads", Some(2)), ("all cores", None)];
    let options = |jobs| EstimateOptions {
        seeds: SCALING_SEEDS,
        first_seed: 0,
        policies: vec!["none".to_owned()],
        jobs,
        ..EstimateOptions::default()
    };
    // Warm up rayon's global pool (used by `None`) so that its start is not timed.
    let warm = EstimateOptions { seeds: 2, ..options(None) };
    estimate(&scenario, &warm, &|| {}).unwrap_or_else(|error| panic!("{error}"));
    let mut seeds_per_s: Vec<Vec<f64>> = vec![Vec::new(); configurations.len()];
    let mut cores_used: Vec<Vec<f64>> = vec![Vec::new(); configurations.len()];
    for _ in 0..SCALING_REPETITIONS {
        for (((_, jobs), rates), used) in configurations.iter().zip(&mut seeds_per_s).zip(&mut cores_used) {
            let cpu_before = process_cpu_time();
            let (result, wall) = timed(|| estimate(&scenario, &options(*jobs), &|| {}));
            let cpu = process_cpu_time().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
            let estimate = result.unwrap_or_else(|error| panic!("{error}"));
            assert_eq!(estimate.policies[0].seeds, SCALING_SEEDS);
            rates.push(SCALING_SEEDS as f64 / wall.as_secs_f64());
            used.push(cpu.map_or(f64::NAN, |cpu| cpu.as_secs_f64() / wall.as_secs_f64()));
        }
    }
    println!(
        "  {:<12} {:>14} {:>12} {:>16} {:>14} {:>14}",
        "", "seeds/s median", "seeds/s best", "speed-up median", "speed-up best", "CPUs used med"
    );
    for (((label, _), rates), used) in configurations.iter().zip(&seeds_per_s).zip(&cores_used) {
        println!(
            "  {:<12} {:>14.1} {:>12.1} {:>15.2}x {:>13.2}x {:>14.2}",
            label,
            median(rates),
            max(rates),
            median(rates) / median(&seeds_per_s[0]),
            max(rates) / max(&seeds_per_s[0]),
            median(used),
        );
    }
    println!("  (CPUs used = process CPU time / wall time: below the thread count, other processes had the rest)");

    // Part 5: what retrylab does per request besides madsim's own work.
    println!();
    println!("5. per-request work besides madsim, micro-timed (best of 5; calls per request of policy \"none\")");
    let body = vec![7u8; 1024];
    let n = 20_000;
    let parts: [(&str, f64, f64); 3] = [
        (
            "MD5 ETag of a 1 KiB body (lazy: only when read)",
            ns_per_call(n, |_| {
                std::hint::black_box(retrylab_s3::service::etag_of(std::hint::black_box(&body)));
            }),
            0.0,
        ),
        (
            "Trace::record, HashOnly (4 events/request)",
            world_ns_per_call(n, |world, node, i| {
                world.trace().record(node, EventKind::Note { what: "bench", value: i });
            }),
            4.0,
        ),
        (
            "SimClock::now outside Trace::record",
            world_ns_per_call(n, |_, _, _| {
                std::hint::black_box(SimClock.now());
            }),
            4.0,
        ),
    ];
    let measured_us = 1e6 / median(&rows[0].rates);
    println!("  {:<52} {:>8} {:>9} {:>10} {:>8}", "", "ns/call", "calls/req", "us/request", "share");
    let mut accounted = 0.0;
    for (label, ns, calls) in parts {
        let us = ns * calls / 1e3;
        accounted += us;
        println!("  {label:<52} {ns:>8.0} {calls:>9.0} {us:>10.2} {:>7.0}%", 100.0 * us / measured_us);
    }
    let floor_us = 1e6 / floor_rate;
    println!(
        "  {:<52} {:>8} {:>9} {:>10.2} {:>7.0}%",
        "madsim floor: 1 sleep in 1 task (row above)",
        "",
        "1",
        floor_us,
        100.0 * floor_us / measured_us
    );
    let rest = measured_us - accounted - floor_us;
    println!(
        "  {:<52} {:>8} {:>9} {:>10.2} {:>7.0}%",
        "rest (sampling, faults, S3 state, retry layer, ...)",
        "",
        "",
        rest,
        100.0 * rest / measured_us
    );
    println!("  {:<52} {:>8} {:>9} {:>10.2} {:>7}%", "measured: retrylab none", "", "", measured_us, 100);
}

/// The storm scenario measured in part 6, and its target (docs/performance.md).
const LOAD_SCENARIO: &str = "sim-scenarios/load/metastable-retry-storm.toml";
const LOAD_SEEDS: u64 = 3;
const TARGET_WALL_S_PER_SIMULATED_MINUTE: f64 = 1.0;

/// Part 6: one seed of the storm at a time, per policy.
fn load_storm() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(LOAD_SCENARIO);
    let scenario = retrylab_scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
    println!();
    println!("load: {LOAD_SCENARIO}, {LOAD_SEEDS} seeds per policy, one at a time");
    println!("  (wall s/min: wall seconds per minute of arrivals, the median over seeds; simulated s: the whole run with its drain)");
    println!(
        "  {:<24} {:>12} {:>14} {:>16} {:>12}",
        "policy", "wall s/seed", "simulated s", "wall s/min", "requests/s"
    );
    let arrivals_s = scenario.traffic.open_loop.as_ref().map_or(60.0, |open| open.duration.as_secs_f64());
    let mut worst: f64 = 0.0;
    for policy in &scenario.policies {
        let mut per_minute = Vec::new();
        let (mut wall_s, mut simulated_s, mut requests) = (0.0, 0.0, 0u64);
        for seed in 0..LOAD_SEEDS {
            let (report, wall) = timed(|| {
                run_seed(&scenario, policy, seed, TraceMode::HashOnly).unwrap_or_else(|error| panic!("{error}"))
            });
            let simulated = report.simulated_time.as_secs_f64();
            // Per minute of arrivals, not of the whole run: the drain after
            // arrivals stop is cheap and would flatter the figure.
            per_minute.push(wall.as_secs_f64() / (arrivals_s / 60.0));
            wall_s += wall.as_secs_f64();
            simulated_s += simulated;
            requests += report.attempts;
        }
        let median_per_minute = median(&per_minute);
        worst = worst.max(median_per_minute);
        println!(
            "  {:<24} {:>12.2} {:>14.0} {:>16.3} {:>12.0}",
            policy.name,
            wall_s / LOAD_SEEDS as f64,
            simulated_s / LOAD_SEEDS as f64,
            median_per_minute,
            requests as f64 / wall_s
        );
    }
    println!(
        "  worst policy: {worst:.3} wall s per minute of arrivals (target < {TARGET_WALL_S_PER_SIMULATED_MINUTE}): {}",
        if worst < TARGET_WALL_S_PER_SIMULATED_MINUTE { "met" } else { "MISSED" }
    );
}
