//! Many (policy, seed) runs over worker threads, a chunk of seeds at a time,
//! with the bounds every many-seed command shares: the seed range, the
//! number of worker threads and the wall-clock budget of one run.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use rayon::prelude::*;
use retrylab_scenario::{NamedPolicy, Scenario};
use retrylab_sim::{RunError, TraceMode, WallBudget};

use crate::estimate::EstimateError;
use crate::report::RunReport;
use crate::workload::run_seed_within;

/// The most seeds one command runs per policy, from `--seeds` or from a
/// scenario's `seeds`: the scenario crate's bound, one definition for both.
/// Runs stream through the summaries a chunk at a time, so memory grows with
/// what each summary keeps per seed (a latency per operation, a count pair
/// per seed), not with a run's whole report.
pub use retrylab_scenario::bounds::SEEDS_MAX;

/// The most worker threads (`--jobs`): beyond a few per core they only add
/// memory (one world each) and scheduling, never speed.
pub const JOBS_MAX: usize = 256;

/// The most wall-clock seconds one run may be given (`--timeout`): a day.
pub const TIMEOUT_S_MAX: f64 = 86_400.0;

/// Seeds run between two hand-overs of results, per policy: large enough
/// to keep every worker busy, small enough that no result list grows with
/// the number of seeds.
const CHUNK_SEEDS: u64 = 256;

/// Seeds `first ..= first + count - 1`: at least one, at most
/// [`SEEDS_MAX`], and never past `u64::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    first: u64,
    count: u64,
}

/// Why a seed range was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedsError {
    None,
    AboveMax { count: u64 },
    PastLastSeed { first: u64, count: u64 },
}

impl std::fmt::Display for SeedsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            SeedsError::None => write!(f, "seeds must be at least 1"),
            SeedsError::AboveMax { count } => write!(f, "seeds = {count} is above the maximum, {SEEDS_MAX}"),
            SeedsError::PastLastSeed { first, count } => write!(
                f,
                "first seed {first} + {count} seeds runs past the last seed, {}: the first seed can be at most {}",
                u64::MAX,
                u64::MAX - (count - 1)
            ),
        }
    }
}

impl std::error::Error for SeedsError {}

impl Seeds {
    pub fn new(first: u64, count: u64) -> Result<Seeds, SeedsError> {
        if count == 0 {
            return Err(SeedsError::None);
        }
        if count > SEEDS_MAX {
            return Err(SeedsError::AboveMax { count });
        }
        if first.checked_add(count - 1).is_none() {
            return Err(SeedsError::PastLastSeed { first, count });
        }
        Ok(Seeds { first, count })
    }

    pub fn first(&self) -> u64 {
        self.first
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The last seed (cannot overflow: checked on construction).
    pub fn last(&self) -> u64 {
        self.first + (self.count - 1)
    }

    pub fn iter(&self) -> std::ops::RangeInclusive<u64> {
        self.first..=self.last()
    }

    /// The seeds in consecutive runs of at most `size`.
    fn chunks(&self, size: u64) -> impl Iterator<Item = Seeds> {
        let (first, count) = (self.first, self.count);
        (0..count.div_ceil(size)).map(move |i| {
            let offset = i * size;
            Seeds { first: first + offset, count: size.min(count - offset) }
        })
    }
}

/// A wall-clock budget per run, checked from [`WallBudget`]: measured on the
/// runner's thread, never seen by simulated code.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunTimeout(Duration);

impl RunTimeout {
    /// A budget of `seconds` (finite, above 0, at most [`TIMEOUT_S_MAX`]).
    pub fn seconds(seconds: f64) -> Result<RunTimeout, String> {
        if !(seconds > 0.0 && seconds <= TIMEOUT_S_MAX) {
            return Err(format!("the timeout must be above 0 and at most {TIMEOUT_S_MAX} s, got {seconds}"));
        }
        Ok(RunTimeout(Duration::from_secs_f64(seconds)))
    }

    pub fn duration(&self) -> Duration {
        self.0
    }

    /// A fresh budget for one run, starting now.
    ///
    /// The budget cannot read the clock when the trace asks: that question
    /// comes from inside madsim's runtime, where madsim answers every clock
    /// read (`Instant::now`, `clock_gettime`) with *simulated* time. So a
    /// ticker thread outside the runtime keeps the real time since it
    /// started in an atomic, and the budget compares with that.
    pub fn start(&self) -> WallBudget {
        let deadline_ms = wall_ms().saturating_add(u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX));
        let expired = move || wall_ms() >= deadline_ms;
        WallBudget { limit: self.0, expired: Arc::new(expired) }
    }
}

/// How often the wall-clock ticker reads the real clock: the resolution of
/// `--timeout`.
const WALL_TICK: Duration = Duration::from_millis(2);

/// Real milliseconds since the ticker started (started on first use). The
/// ticker is a thread of the runner, never of a simulated world: it only
/// writes the atomic that budgets read, and a run it does not stop is the
/// same run, byte for byte.
fn wall_ms() -> u64 {
    static ELAPSED_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    static TICKER: std::sync::Once = std::sync::Once::new();
    TICKER.call_once(|| {
        // Outside the simulation: see above.
        #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
        let started = std::time::Instant::now();
        #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
        let tick = move || loop {
            std::thread::sleep(WALL_TICK);
            let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            ELAPSED_MS.store(elapsed, std::sync::atomic::Ordering::Relaxed);
        };
        // Without the ticker no budget ever expires: runs still end at
        // their simulated-time and event limits.
        #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
        let _ = std::thread::Builder::new().name("retrylab-wall-clock".into()).spawn(tick);
    });
    ELAPSED_MS.load(std::sync::atomic::Ordering::Relaxed)
}

/// One chunk's results: per policy (in the order given), per seed in order.
pub(crate) type Chunk = Vec<Vec<Result<RunReport, RunError>>>;

/// Runs (policy, seed) pairs on a thread pool built once.
pub(crate) struct Runner<'a> {
    scenario: &'a Scenario,
    policies: &'a [&'a NamedPolicy],
    swarm: bool,
    timeout: Option<RunTimeout>,
    pool: Option<rayon::ThreadPool>,
}

impl<'a> Runner<'a> {
    /// `jobs`: worker threads, 1 to [`JOBS_MAX`]; `None`: rayon's default (one per core).
    pub(crate) fn new(
        scenario: &'a Scenario,
        policies: &'a [&'a NamedPolicy],
        jobs: Option<usize>,
        swarm: bool,
        timeout: Option<RunTimeout>,
    ) -> Result<Runner<'a>, EstimateError> {
        let pool = match jobs {
            None => None,
            Some(jobs) if jobs == 0 || jobs > JOBS_MAX => return Err(EstimateError::Jobs(jobs)),
            Some(jobs) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(jobs)
                    .build()
                    .map_err(|error| EstimateError::Threads(error.to_string()))?,
            ),
        };
        Ok(Runner { scenario, policies, swarm, timeout, pool })
    }

    /// Runs every policy on `seeds`, a chunk of seeds at a time, and hands
    /// each chunk's results to `on_chunk` in (policy, seed) order, whatever
    /// the threads' timing; stops after a chunk when `on_chunk` says so.
    /// `progress` is called once per finished run (from worker threads).
    pub(crate) fn run(
        &self,
        seeds: Seeds,
        progress: &(dyn Fn() + Sync),
        on_chunk: &mut dyn FnMut(Chunk) -> ControlFlow<()>,
    ) {
        for chunk in seeds.chunks(CHUNK_SEEDS) {
            let results = self.run_chunk(chunk, progress);
            if on_chunk(results).is_break() {
                return;
            }
        }
    }

    fn run_chunk(&self, seeds: Seeds, progress: &(dyn Fn() + Sync)) -> Chunk {
        let per_policy = seeds.count as usize;
        let run_all = || -> Vec<Result<RunReport, RunError>> {
            (0..self.policies.len() * per_policy)
                .into_par_iter()
                .map(|index| {
                    let policy = self.policies[index / per_policy];
                    let seed = seeds.first + (index % per_policy) as u64;
                    let report = self.run_one(policy, seed);
                    progress();
                    report
                })
                .collect()
        };
        let mut flat = match &self.pool {
            None => run_all(),
            Some(pool) => pool.install(run_all),
        }
        .into_iter();
        self.policies.iter().map(|_| flat.by_ref().take(per_policy).collect()).collect()
    }

    fn run_one(&self, policy: &NamedPolicy, seed: u64) -> Result<RunReport, RunError> {
        let budget = self.timeout.map(|timeout| timeout.start());
        if self.swarm {
            run_seed_within(
                &crate::swarm::swarm_scenario(self.scenario, seed),
                policy,
                seed,
                TraceMode::HashOnly,
                budget,
            )
        } else {
            run_seed_within(self.scenario, policy, seed, TraceMode::HashOnly, budget)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_are_bounded_and_never_wrap() {
        assert_eq!(Seeds::new(0, 0), Err(SeedsError::None));
        assert_eq!(Seeds::new(0, SEEDS_MAX + 1), Err(SeedsError::AboveMax { count: SEEDS_MAX + 1 }));
        assert_eq!(Seeds::new(u64::MAX, 2), Err(SeedsError::PastLastSeed { first: u64::MAX, count: 2 }));
        let top = Seeds::new(u64::MAX - 1, 2).unwrap();
        assert_eq!(top.iter().collect::<Vec<_>>(), [u64::MAX - 1, u64::MAX]);
        let chunks: Vec<Seeds> = top.chunks(1).collect();
        assert_eq!(chunks, [Seeds { first: u64::MAX - 1, count: 1 }, Seeds { first: u64::MAX, count: 1 }]);
        let many = Seeds::new(10, 600).unwrap();
        let chunks: Vec<(u64, u64)> = many.chunks(256).map(|c| (c.first, c.count)).collect();
        assert_eq!(chunks, [(10, 256), (266, 256), (522, 88)]);
    }

    #[test]
    fn timeouts_are_bounded() {
        assert!(RunTimeout::seconds(0.0).is_err());
        assert!(RunTimeout::seconds(f64::NAN).is_err());
        assert!(RunTimeout::seconds(f64::INFINITY).is_err());
        assert!(RunTimeout::seconds(TIMEOUT_S_MAX * 2.0).is_err());
        assert_eq!(RunTimeout::seconds(1.5).unwrap().duration(), Duration::from_millis(1500));
    }
}
