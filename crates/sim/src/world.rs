//! Running one seed: a fresh madsim runtime, the world's shared parts, and
//! the limits that stop a looping or stalled run with its seed in the error.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{select, Either};
use retrylab_faults::{stream, sub_seed, SimRng};

use crate::clock::{SimClock, SIMULATED_TIME_MAX};
use crate::net::{LinkSpec, Network};
use crate::trace::{Event, Stop, Trace, TraceMode};
use crate::trace_text::NodeNames;

/// When a run is cut short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunLimits {
    pub simulated_time_max: Duration,
    pub events_max: u64,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits { simulated_time_max: Duration::from_secs(1_000_000), events_max: 10_000_000 }
    }
}

/// Everything a world needs besides its workload.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldConfig {
    pub seed: u64,
    pub limits: RunLimits,
    pub trace_mode: TraceMode,
    /// Latency and loss of every link unless overridden.
    pub network: LinkSpec,
    /// A wall-clock budget the code running the world enforces, if any.
    pub wall_budget: Option<WallBudget>,
}

/// A wall-clock budget for one run, kept by the code that runs the world:
/// the world never reads the wall clock (that would break determinism); it
/// asks `expired` every [`WallBudget::CHECK_EVERY_EVENTS`] events and stops
/// with [`RunError::WallTimeLimit`] once it says yes. `expired` runs on the
/// runner's thread, outside the simulated code's view.
#[derive(Clone)]
pub struct WallBudget {
    /// The budget, for the error message.
    pub limit: Duration,
    /// Whether the budget is spent.
    pub expired: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl WallBudget {
    /// Events between two asks (a power of two: the trace tests it with a
    /// mask). A clock read is tens of nanoseconds, an event about a
    /// microsecond, so this costs nothing measurable.
    pub const CHECK_EVERY_EVENTS: u64 = 1024;
}

impl fmt::Debug for WallBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WallBudget").field("limit", &self.limit).finish_non_exhaustive()
    }
}

impl PartialEq for WallBudget {
    fn eq(&self, other: &Self) -> bool {
        self.limit == other.limit && Arc::ptr_eq(&self.expired, &other.expired)
    }
}

impl WorldConfig {
    pub fn new(seed: u64) -> Self {
        WorldConfig {
            seed,
            limits: RunLimits::default(),
            trace_mode: TraceMode::HashOnly,
            network: LinkSpec::default(),
            wall_budget: None,
        }
    }
}

/// The shared parts of one running world, handed to the workload.
#[derive(Clone)]
pub struct World {
    seed: u64,
    trace: Trace,
    net: Network,
}

impl World {
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The sub-seed of the component called `label`.
    pub fn sub_seed(&self, label: &str) -> u64 {
        sub_seed(self.seed, label)
    }

    /// A random stream for the component called `label`. Components never
    /// share a stream, so adding draws to one leaves the others unchanged.
    pub fn rng(&self, label: &str) -> SimRng {
        stream(self.seed, label)
    }

    pub fn clock(&self) -> SimClock {
        SimClock
    }

    pub fn now(&self) -> Duration {
        SimClock.now()
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    pub fn net(&self) -> &Network {
        &self.net
    }
}

/// A finished run.
#[derive(Debug)]
pub struct WorldRun<T> {
    pub output: T,
    pub trace_hash: u64,
    pub events: u64,
    /// Every event, when the trace mode was `Full`.
    pub trace: Option<Vec<Event>>,
    /// The names of the world's nodes, by id (for reading the trace).
    pub node_names: NodeNames,
    /// Virtual time the run took.
    pub elapsed: Duration,
}

/// Why a run did not finish. Every variant names the seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunError {
    /// Simulated time ran out: the workload loops, stalls, or needs a larger limit.
    TimeLimit { seed: u64, limit: Duration, events: u64 },
    /// Too many events: the workload loops, or needs a larger limit.
    EventLimit { seed: u64, limit: u64, at: Duration },
    /// Code in the world panicked: a bug in retrylab or in the system under test.
    Panicked { seed: u64, message: String },
    /// The run's wall-clock budget ([`WallBudget`]) ran out.
    WallTimeLimit { seed: u64, limit: Duration, events: u64, at: Duration },
}

impl RunError {
    pub fn seed(&self) -> u64 {
        match self {
            RunError::TimeLimit { seed, .. }
            | RunError::EventLimit { seed, .. }
            | RunError::Panicked { seed, .. }
            | RunError::WallTimeLimit { seed, .. } => *seed,
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::TimeLimit { seed, limit, events } => write!(
                f,
                "seed {seed}: run did not finish within {} s of simulated time ({events} events): \
                 it loops or stalls, or limits.simulated_time_s_max is too small",
                limit.as_secs()
            ),
            RunError::EventLimit { seed, limit, at } => write!(
                f,
                "seed {seed}: run exceeded {limit} events at {:.3} s of simulated time: \
                 it loops, or limits.events_max is too small",
                at.as_secs_f64()
            ),
            RunError::Panicked { seed, message } => write!(f, "seed {seed}: the simulation panicked: {message}"),
            RunError::WallTimeLimit { seed, limit, events, at } => write!(
                f,
                "seed {seed}: run stopped by its wall-clock budget of {:.3} s (--timeout) after {events} events, \
                 at {:.3} s of simulated time: it is slow, or the budget is too small",
                limit.as_secs_f64(),
                at.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for RunError {}

/// Runs one world: `workload` gets the [`World`] and its output comes back
/// with the trace hash. The same config gives the same result, byte for byte.
pub fn run<T, F, Fut>(config: &WorldConfig, workload: F) -> Result<WorldRun<T>, RunError>
where
    F: FnOnce(World) -> Fut,
    Fut: Future<Output = T>,
{
    let seed = config.seed;
    let limits = config.limits;
    let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            let _clock = crate::clock::ClockGuard::install();
            let (over_limit, over_limit_fired) = oneshot::channel();
            let expired = config.wall_budget.as_ref().map(|budget| budget.expired.clone());
            let trace = Trace::new(config.trace_mode, limits.events_max, expired, over_limit);
            let net = Network::new(seed, config.network.clone(), trace.clone());
            let world = World { seed, trace: trace.clone(), net: net.clone() };
            let work = Box::pin(workload(world));
            // The time limit is a watchdog task with one timer, so a stalled
            // world (every task waiting on something that never comes) also
            // ends here instead of in madsim's "all tasks will block forever"
            // panic. (Wrapping the workload in `time::timeout` would register
            // the limit's timer again at every wake-up of the workload.)
            let (time_up, time_up_fired) = oneshot::channel::<()>();
            // Any limit, however large, is a time the clock can hold: a
            // larger one ends the run at SIMULATED_TIME_MAX (and says so).
            let limit = limits.simulated_time_max.min(SIMULATED_TIME_MAX);
            let watchdog = madsim::task::spawn_local(async move {
                madsim::time::sleep(limit).await;
                let _ = time_up.send(());
            });
            let outcome = select(work, select(over_limit_fired, time_up_fired)).await;
            watchdog.abort();
            let at = SimClock.now();
            let event_limit = RunError::EventLimit { seed, limit: limits.events_max, at };
            let result = match outcome {
                // The last step may pass the event limit with no await after it.
                Either::Left(_) if trace.len() > limits.events_max => Err(event_limit),
                Either::Left((output, _)) => Ok(output),
                Either::Right((Either::Left((Ok(Stop::WallTime), _)), _)) => Err(RunError::WallTimeLimit {
                    seed,
                    limit: config.wall_budget.as_ref().map_or(Duration::ZERO, |budget| budget.limit),
                    events: trace.len(),
                    at,
                }),
                Either::Right((Either::Left(_), _)) => Err(event_limit),
                Either::Right((Either::Right(_), _)) => Err(RunError::TimeLimit { seed, limit, events: trace.len() }),
            };
            result.map(|output| WorldRun {
                output,
                trace_hash: trace.hash(),
                events: trace.len(),
                trace: trace.take_events(),
                node_names: net.node_names(),
                elapsed: at,
            })
        })
    }));
    match outcome {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            Err(RunError::Panicked { seed, message })
        }
    }
}
