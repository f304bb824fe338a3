//! The tokio side of the seam ([`retrylab_lafs::Host`]): wall time scaled
//! to virtual time ([`RealClock`]), and the host real mode's storage servers
//! and gateway run on ([`RealHost`]).

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::Duration;

use retrylab_faults::{stream, SimRng};
use retrylab_lafs::Host;
use retrylab_s3::{Clock, ObjectStore};
use retrylab_sim::{NetError, NodeId, Trace};

/// Virtual time in real mode: wall time since the run started divided by
/// `time_scale`, and sleeps of `d` virtual that last `d x time_scale` of wall
/// time. With `time_scale` 0.01 a 945 ms S3 latency is 9.45 ms of wall time,
/// a 10 s retry delay 100 ms, and what the code above reads from `now()` is
/// the virtual time, as in the simulator (deadline policies, lease expiry,
/// latencies in reports).
#[derive(Clone, Copy, Debug)]
pub struct RealClock {
    start: tokio::time::Instant,
    time_scale: f64,
}

impl RealClock {
    /// A clock whose virtual time starts at zero now. `time_scale` must be
    /// positive and finite (the CLI and [`crate::RealOptions`] check it).
    pub fn start(time_scale: f64) -> RealClock {
        // Real mode is wall-clock by design; tokio's Instant is the runtime's clock.
        RealClock { start: tokio::time::Instant::now(), time_scale }
    }

    /// A clock sharing `start` (every lane's servers and clients count from one origin).
    pub fn starting_at(start: tokio::time::Instant, time_scale: f64) -> RealClock {
        RealClock { start, time_scale }
    }

    pub fn time_scale(&self) -> f64 {
        self.time_scale
    }

    /// The wall time that `virtual_time` lasts.
    pub fn wall(&self, virtual_time: Duration) -> Duration {
        scale(virtual_time, self.time_scale)
    }
}

/// `duration x factor`, saturating instead of panicking on overflow.
pub(crate) fn scale(duration: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(duration.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

impl Clock for RealClock {
    fn now(&self) -> Duration {
        scale(self.start.elapsed(), 1.0 / self.time_scale)
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        let wall = self.wall(duration);
        async move {
            // As in the simulator, a zero delay costs nothing.
            if !wall.is_zero() {
                tokio::time::sleep(wall).await;
            }
        }
    }
}

/// Real mode's host: storage servers whose S3 client is `S` (HTTP to a real
/// server), the [`RealClock`], the run seed's random streams (the same
/// names as in a world, so a gateway draws the same caps and salts), no
/// trace, and gateway-to-server calls made in-process: the request runs as
/// a task of its own (`spawn_local`, so a handler whose caller timed out
/// goes on, as in the simulator) and the caller waits at most the timeout.
///
/// Must be used inside a tokio `LocalSet`: storage servers hold `Rc`s.
pub struct RealHost<S> {
    seed: u64,
    clock: RealClock,
    /// Handlers started and not yet finished (for quiescence).
    handlers_running: Rc<Cell<u64>>,
    store: PhantomData<fn() -> S>,
}

impl<S> Clone for RealHost<S> {
    fn clone(&self) -> Self {
        RealHost {
            seed: self.seed,
            clock: self.clock,
            handlers_running: self.handlers_running.clone(),
            store: PhantomData,
        }
    }
}

impl<S> RealHost<S> {
    pub fn new(seed: u64, clock: RealClock) -> Self {
        RealHost { seed, clock, handlers_running: Rc::new(Cell::new(0)), store: PhantomData }
    }

    /// Request handlers still running (a handler goes on after its caller gave up).
    pub fn handlers_running(&self) -> u64 {
        self.handlers_running.get()
    }
}

/// Counts a handler as running for as long as it lives (even if dropped unfinished).
struct Running(Rc<Cell<u64>>);

impl Running {
    fn start(count: &Rc<Cell<u64>>) -> Running {
        count.set(count.get() + 1);
        Running(count.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

impl<S: ObjectStore + 'static> Host for RealHost<S> {
    type S3 = S;
    type Clock = RealClock;

    fn clock(&self) -> RealClock {
        self.clock
    }

    fn rng(&self, label: &str) -> SimRng {
        stream(self.seed, label)
    }

    fn trace(&self) -> Option<&Trace> {
        None
    }

    fn call<T, F>(
        &self,
        _from: NodeId,
        _to: NodeId,
        timeout: Duration,
        serve: impl FnOnce() -> F + 'static,
    ) -> impl Future<Output = Result<T, NetError>>
    where
        T: 'static,
        F: Future<Output = T> + 'static,
    {
        let wall = self.clock.wall(timeout);
        let running = Running::start(&self.handlers_running);
        let handler = tokio::task::spawn_local(async move {
            let _running = running;
            serve().await
        });
        async move {
            match tokio::time::timeout(wall, handler).await {
                Ok(Ok(value)) => Ok(value),
                // The handler panicked: the connection dropped with no answer.
                Ok(Err(_)) => Err(NetError::Reset),
                Err(_elapsed) => Err(NetError::Timeout),
            }
        }
    }
}
