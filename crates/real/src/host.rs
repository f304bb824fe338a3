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

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("runtime")
    }

    /// Virtual time is wall time divided by the scale, and a virtual sleep
    /// lasts its duration times the scale (tokio's paused clock makes it exact).
    #[test]
    fn the_clock_scales_wall_time_to_virtual_time_and_back() {
        runtime().block_on(async {
            let clock = RealClock::start(0.01);
            clock.sleep(Duration::from_secs(10)).await;
            let wall = tokio::time::Instant::now() - clock.start;
            assert_eq!(wall, Duration::from_millis(100));
            assert_eq!(clock.now(), Duration::from_secs(10));
            assert_eq!(clock.wall(Duration::from_millis(945)), Duration::from_micros(9450));
        });
    }

    #[test]
    fn a_call_that_outlives_its_timeout_times_out_and_its_handler_goes_on() {
        runtime().block_on(tokio::task::LocalSet::new().run_until(async {
            let host = RealHost::<retrylab_s3::SimS3Client>::new(1, RealClock::start(0.5));
            let finished = Rc::new(Cell::new(false));
            let flag = finished.clone();
            let slow =
                host.call(NodeId::of_index(0), NodeId::of_index(1), Duration::from_secs(2), move || async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    flag.set(true);
                });
            assert!(matches!(slow.await, Err(NetError::Timeout)));
            assert_eq!(host.handlers_running(), 1);
            tokio::time::sleep(Duration::from_secs(10)).await;
            assert!(finished.get(), "the handler went on after its caller gave up");
            assert_eq!(host.handlers_running(), 0);
            let quick = host.call(NodeId::of_index(0), NodeId::of_index(1), Duration::from_secs(2), || async { 7 });
            assert_eq!(quick.await.ok(), Some(7));
        }));
    }

    #[test]
    fn the_hosts_random_streams_are_the_worlds() {
        use rand::RngCore;
        let host = RealHost::<retrylab_s3::SimS3Client>::new(42, RealClock::start(1.0));
        assert_eq!(host.rng("lafs.gateway").next_u64(), stream(42, "lafs.gateway").next_u64());
        assert_ne!(host.rng("lafs.gateway").next_u64(), stream(43, "lafs.gateway").next_u64());
    }
}
