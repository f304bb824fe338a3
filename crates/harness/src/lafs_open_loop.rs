//! Open-loop arrivals on the grid's mutable files (issue 12): each arrival
//! a put (or append) or a read of a file chosen by popularity, issued by a
//! gateway as its own task, so a slow grid does not slow the arrivals.
//!
//! Writes to one file still take turns at the client, as Tahoe-LAFS
//! requires of a mutable file's writers (the Prime Coordination Directive):
//! an arrival waits for its file's turn, so the history checkers stay sound
//! however the arrivals bunch. A write whose deadline passes is abandoned
//! where it stands: before its turn it never happened; after, it is
//! indeterminate (its shares may still land), as a user who gave up on it
//! would have to assume. Reads take no turn.
//!
//! Common random numbers hold across policies: arrival times, each
//! arrival's kind, file and gateway are drawn before the run from streams
//! no policy touches, and operations are booked in arrival order.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use futures::future::{select, Either};
use rand::{Rng, RngCore};
use retrylab_check::{MutableOp, MutableOpKind, Outcome, ReadValue};
use retrylab_faults::SimRng;
use retrylab_lafs::{AppendLine, GatewayError};
use retrylab_load::{Arrivals, KeyPopularity, KeySampler, LoadSeries};
use retrylab_s3::service::OverloadCounts;
use retrylab_scenario::Scenario;
use retrylab_sim::{EventKind, SimClock, TaskContext, World};

use super::{append_line, book, outcome_of, read_under, us, write_under, Client, Decode, Files, Written};
use crate::load_workload::{load_report, window_of, LoadReport, Refusals};

/// One arrival, drawn before the run.
#[derive(Clone, Copy, Debug)]
struct Arrival {
    at: Duration,
    file: usize,
    /// The gateway that issues it: one of the file's writers for a write.
    gateway: usize,
    write: bool,
}

/// How one arrival ended.
#[derive(Clone, Debug)]
enum Ended {
    Done(Option<GatewayError>),
    /// The deadline passed first.
    GaveUp,
    /// Refused by the concurrency limit.
    Rejected,
}

/// A write in progress: what the history needs if its deadline abandons it.
#[derive(Clone, Copy)]
struct Invoked {
    id: u64,
    value: u64,
    append: bool,
    started: Duration,
}

impl Invoked {
    fn kind(self) -> MutableOpKind {
        if self.append {
            MutableOpKind::Append { value: self.value }
        } else {
            MutableOpKind::Write { value: self.value }
        }
    }
}

struct Shared {
    world: World,
    clients: Vec<Client>,
    files: Rc<Files>,
    decode: Decode,
    deadline: Option<Duration>,
    series: RefCell<LoadSeries>,
    /// Each file's contents as its last put wrote them, and its last value
    /// (put i writes lines 1..=i; append i writes line i).
    contents: RefCell<Vec<BytesMut>>,
    last_values: RefCell<Vec<u64>>,
    in_flight: Cell<u64>,
    /// Each arrival's latency and end, booked in arrival order afterwards.
    results: RefCell<Vec<Option<(Duration, Ended)>>>,
}

/// The run's arrivals: times from the schedule, and for each its kind
/// (a write with probability 1 / (1 + reads_per_write)), its file (by
/// popularity) and its gateway.
fn draw_arrivals(world: &World, scenario: &Scenario, files: &Files, gateways: usize) -> Vec<Arrival> {
    let Some(open) = &scenario.traffic.open_loop else { return Vec::new() };
    let times: Vec<Duration> =
        Arrivals::new(open.schedule.clone(), open.duration, world.sub_seed("arrivals")).collect();
    let reads_per_write = match scenario.workload {
        retrylab_scenario::Workload::MutablePuts { reads_per_write, .. }
        | retrylab_scenario::Workload::MutableAppends { reads_per_write, .. } => reads_per_write,
        _ => 0,
    };
    let file_count = files.caps.len() as u64;
    let sampler = KeySampler::new(scenario.traffic.popularity, file_count);
    let mut files_rng: SimRng = world.rng("keys");
    let mut kinds_rng: SimRng = world.rng("grid-arrivals");
    times
        .into_iter()
        .enumerate()
        .map(|(i, at)| {
            let file = match scenario.traffic.popularity {
                // Uniform cycles over the files, as `s3-requests` cycles over keys.
                KeyPopularity::Uniform => i as u64 % file_count,
                KeyPopularity::Zipf { .. } => sampler.sample(&mut files_rng),
            } as usize;
            let write = kinds_rng.gen_range(0..=reads_per_write) == 0;
            let pick = kinds_rng.next_u64() as usize;
            let gateway = if write { file * files.writers + pick % files.writers } else { pick % gateways };
            Arrival { at, file, gateway: gateway.min(gateways - 1), write }
        })
        .collect()
}

/// Runs the open-loop arrivals on `clients`' gateways; gives the clients
/// back (their tallies booked in arrival order) for the checks at
/// quiescence, and the run's load measures.
pub(super) async fn drive(
    world: &World,
    scenario: &Scenario,
    clients: Vec<Client>,
    files: Rc<Files>,
) -> (Vec<(Client, Written)>, LoadReport) {
    let arrivals = draw_arrivals(world, scenario, &files, clients.len());
    let decode = Decode::of(&scenario.workload).unwrap_or(Decode::Appends);
    let file_count = files.caps.len();
    let shared = Rc::new(Shared {
        world: world.clone(),
        clients,
        files,
        decode,
        deadline: scenario.traffic.deadline,
        series: RefCell::new(LoadSeries::new(window_of(scenario))),
        contents: RefCell::new(vec![BytesMut::new(); file_count]),
        last_values: RefCell::new(vec![0; file_count]),
        in_flight: Cell::new(0),
        results: RefCell::new(vec![None; arrivals.len()]),
    });
    let mut tasks = Vec::with_capacity(arrivals.len());
    let mut rejected = 0;
    for (i, arrival) in arrivals.iter().enumerate() {
        let now = world.now();
        if arrival.at > now {
            SimClock.sleep(arrival.at - now).await;
        }
        let now = world.now();
        shared.series.borrow_mut().add_offered(now);
        if scenario.traffic.concurrency_max.is_some_and(|limit| shared.in_flight.get() >= limit) {
            rejected += 1;
            shared.series.borrow_mut().add_rejected(now);
            shared.results.borrow_mut()[i] = Some((Duration::ZERO, Ended::Rejected));
            continue;
        }
        shared.in_flight.set(shared.in_flight.get() + 1);
        tasks.push(madsim::task::spawn_local(operation(shared.clone(), i, *arrival)));
    }
    for task in tasks {
        if let Err(error) = task.await {
            std::panic::resume_unwind(Box::new(format!("an arrival's task ended abnormally: {error}")));
        }
    }
    let Ok(shared) = Rc::try_unwrap(shared) else {
        unreachable!("every arrival's task has ended, and with it its handle on the run")
    };
    let Shared { mut clients, results, series, .. } = shared;
    // Booked in arrival order, each to its gateway's tally: the same
    // arrival lands on the same gateway under every policy.
    let mut gave_up = 0;
    for (arrival, result) in arrivals.iter().zip(results.into_inner()) {
        let Some((latency, ended)) = result else { continue };
        let failure = match &ended {
            Ended::Done(None) => None,
            Ended::Done(Some(error)) => Some((error.name(), error.web_status().to_string())),
            Ended::GaveUp => {
                gave_up += 1;
                Some(("deadline", "none".to_owned()))
            }
            Ended::Rejected => Some(("rejected", "none".to_owned())),
        };
        book(&mut clients[arrival.gateway].tally, latency, failure);
    }
    let overload =
        clients[0].grid.s3_services().iter().map(|s| s.borrow().overload()).fold(OverloadCounts::default(), |a, b| {
            OverloadCounts {
                throttled: a.throttled + b.throttled,
                shed: a.shed + b.shed,
                queue_timeouts: a.queue_timeouts + b.queue_timeouts,
                served: a.served + b.served,
                wait_us: a.wait_us + b.wait_us,
                busy_us: a.busy_us + b.busy_us,
                splits: a.splits + b.splits,
            }
        });
    let load = load_report(scenario, series.into_inner(), world.now(), overload, Refusals { rejected, gave_up });
    (clients.into_iter().map(|client| (client, Written::File)).collect(), load)
}

/// Runs arrival `i` to its end (or its deadline) and records it in its
/// file's history.
async fn operation(shared: Rc<Shared>, i: usize, arrival: Arrival) {
    let world = &shared.world;
    let client = &shared.clients[arrival.gateway];
    let operation = i as u64 + 1;
    let what = match (arrival.write, shared.decode) {
        (false, _) => "read",
        (true, Decode::Puts { .. }) => "put",
        (true, Decode::Appends) => "append",
    };
    let start = EventKind::OperationStart { operation, what };
    world.trace().record_with(client.node(), start, || vec![("key", format!("file.{}", arrival.file).into())]);
    let started = world.now();
    let invoked: Cell<Option<Invoked>> = Cell::new(None);
    let run = async {
        if arrival.write {
            write(&shared, client, arrival.file, operation, &invoked).await
        } else {
            read(&shared, client, arrival.file, operation).await
        }
    };
    let ended = match shared.deadline {
        None => Ended::Done(run.await),
        Some(deadline) => {
            let run = std::pin::pin!(run);
            let timer = std::pin::pin!(SimClock.sleep(deadline));
            match select(run, timer).await {
                Either::Left((error, _)) => Ended::Done(error),
                Either::Right(((), _)) => {
                    // Abandoned where it stood: a write already sent may
                    // still land, so it is indeterminate; one still waiting
                    // for its turn never happened.
                    if let Some(write) = invoked.get() {
                        let op = MutableOp {
                            id: write.id,
                            process: client.process(),
                            kind: write.kind(),
                            outcome: Outcome::Info,
                            invoked_us: us(write.started),
                            completed_us: us(world.now()),
                            seqnum: None,
                        };
                        shared.files.record_traced(arrival.file, op, operation);
                    }
                    Ended::GaveUp
                }
            }
        }
    };
    let now = world.now();
    let status = match &ended {
        Ended::Done(None) => 200,
        Ended::Done(Some(error)) => error.web_status(),
        Ended::GaveUp | Ended::Rejected => 0,
    };
    world.trace().record_with(client.node(), EventKind::OperationEnd { operation, status }, || {
        let name = match &ended {
            Ended::Done(Some(error)) => Some(error.name()),
            Ended::GaveUp => Some("deadline"),
            _ => None,
        };
        crate::trace_records::end_detail(name)
    });
    {
        let mut series = shared.series.borrow_mut();
        match &ended {
            Ended::Done(None) => series.add_success(now, us(now.saturating_sub(started))),
            Ended::Done(Some(_)) => series.add_failure(now),
            Ended::GaveUp => series.add_gave_up(now),
            Ended::Rejected => {}
        }
    }
    shared.in_flight.set(shared.in_flight.get() - 1);
    shared.results.borrow_mut()[i] = Some((now.saturating_sub(started), ended));
}

/// A put or append to `file`, once its turn comes: the file's next value.
async fn write(
    shared: &Shared,
    client: &Client,
    file: usize,
    operation: u64,
    invoked: &Cell<Option<Invoked>>,
) -> Option<GatewayError> {
    let files = &shared.files;
    let _turn = files.turns[file].lock().await;
    let world = &shared.world;
    let value = {
        let mut last = shared.last_values.borrow_mut();
        last[file] += 1;
        last[file]
    };
    let id = files.invoke(file);
    let started = world.now();
    let cap = files.caps[file];
    let gateway = client.gateway();
    let attempts = Cell::new(0u32);
    // Counts each try of the operation (a gateway-level retry is a retry).
    let count_attempt = || {
        attempts.set(attempts.get() + 1);
        shared.series.borrow_mut().add_attempt(world.now(), attempts.get() > 1);
    };
    let (kind, result) = match shared.decode {
        Decode::Puts { line_bytes } => {
            let body = {
                let mut contents = shared.contents.borrow_mut();
                append_line(&mut contents[file], value, line_bytes);
                contents[file].clone().freeze()
            };
            let write = Invoked { id, value, append: false, started };
            invoked.set(Some(write));
            let put = write_under(client.layer.as_ref(), |_maybe_landed| {
                count_attempt();
                gateway.put(&cap, body.clone())
            });
            (write.kind(), TaskContext::operation(operation).scope(put).await)
        }
        Decode::Appends => {
            let line = AppendLine::numbered(value);
            let write = Invoked { id, value, append: true, started };
            invoked.set(Some(write));
            let append = write_under(client.layer.as_ref(), |maybe_landed| {
                count_attempt();
                gateway.modify_again(&cap, &line, maybe_landed)
            });
            (write.kind(), TaskContext::operation(operation).scope(append).await.map(|modified| modified.seqnum))
        }
    };
    let (outcome, seqnum) = match &result {
        Ok(seqnum) => (Outcome::Ok, Some(*seqnum)),
        Err(error) => (outcome_of(error), None),
    };
    let op = MutableOp {
        id,
        process: client.process(),
        kind,
        outcome,
        invoked_us: us(started),
        completed_us: us(world.now()),
        seqnum,
    };
    files.record_traced(file, op, operation);
    result.err().map(|error| error.error)
}

/// A read of `file`. Its process is its own: reads overlap each other and
/// the writes of their gateway, and the checkers take each process's
/// operations to be sequential.
async fn read(shared: &Shared, client: &Client, file: usize, operation: u64) -> Option<GatewayError> {
    let world = &shared.world;
    let files = &shared.files;
    let id = files.invoke(file);
    let started = world.now();
    shared.series.borrow_mut().add_attempt(started, false);
    let read = read_under(client.layer.as_ref(), client.gateway(), &files.caps[file]);
    let result = TaskContext::operation(operation).scope(read).await;
    let (outcome, observed) = match &result {
        Ok(read) => {
            (Outcome::Ok, Some(ReadValue { seqnum: read.seqnum, values: shared.decode.values(&read.contents) }))
        }
        Err(_) => (Outcome::Fail, None),
    };
    let process = u32::try_from(shared.clients.len() as u64 + operation).unwrap_or(u32::MAX);
    let op = MutableOp {
        id,
        process,
        kind: MutableOpKind::Read { observed },
        outcome,
        invoked_us: us(started),
        completed_us: us(world.now()),
        seqnum: None,
    };
    files.record_traced(file, op, operation);
    result.err()
}
