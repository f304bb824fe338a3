//! The simulated network: nodes that can crash and restart, links with
//! latency and loss from the scenario, and request/response calls.
//!
//! There is no message queue and no network task: a call sleeps its own
//! request latency, runs the server's handler at arrival, and sleeps the
//! service time plus the response latency, all in the caller's task. That
//! is exact (latencies are the scenario's, with no per-message floor such as
//! madsim's `net::Endpoint` adds) and costs one timer per request.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use rand::Rng;
use retrylab_faults::{slot_rng, sub_seed, LatencyDist, LatencySampler};

use crate::clock::SimClock;
use crate::trace::{EventKind, Trace};

/// A node of the world (storage server, gateway, S3 service, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    /// Node `index` of a host outside any world (real mode names its nodes
    /// as a grid in a world would); inside a world, `Network::add_node`.
    pub fn of_index(index: u32) -> NodeId {
        NodeId(index)
    }

    pub fn index(self) -> u32 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// Latency and loss of messages on a link (or on every link by default).
#[derive(Clone, Debug, PartialEq)]
pub struct LinkSpec {
    pub latency: LatencyDist,
    pub loss_probability: f64,
}

impl Default for LinkSpec {
    fn default() -> Self {
        LinkSpec { latency: LatencyDist::constant_ms(0.0), loss_probability: 0.0 }
    }
}

/// Why a call failed at the network level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    /// The target node is down: the connection is refused.
    Refused,
    /// The target crashed while handling the request: the connection drops
    /// with no answer, and the request may or may not have taken effect.
    Reset,
    /// No answer within the caller's timeout (slow, lost or never answered).
    Timeout,
}

impl NetError {
    pub fn name(self) -> &'static str {
        match self {
            NetError::Refused => "connection_refused",
            NetError::Reset => "connection_reset",
            NetError::Timeout => "timeout",
        }
    }
}

/// A synchronous handler's answer: a response after a service time, or
/// none at all (the caller will time out).
#[derive(Debug)]
pub enum Reply<T> {
    After(T, Duration),
    Never,
}

/// The network of one world. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct Network {
    inner: Rc<RefCell<NetState>>,
    clock: SimClock,
    trace: Trace,
}

struct NetState {
    nodes: Vec<NodeState>,
    default_link: Link,
    links: BTreeMap<(NodeId, NodeId), Link>,
    partitions: BTreeSet<(NodeId, NodeId)>,
    /// Message slots: message n's latency and loss come from slot n's stream.
    messages_sent: u64,
    loss_seed: u64,
    latency_seed: u64,
}

struct Link {
    latency: LatencySampler,
    loss_probability: f64,
}

struct NodeState {
    name: String,
    up: bool,
    incarnation: u64,
    /// Handlers running on this node, aborted when it crashes.
    running: BTreeMap<u64, futures::future::AbortHandle>,
    next_handler: u64,
}

impl Network {
    pub(crate) fn new(seed: u64, default_link: LinkSpec, trace: Trace) -> Self {
        let latency_seed = sub_seed(seed, "net.latency");
        Network {
            inner: Rc::new(RefCell::new(NetState {
                nodes: Vec::new(),
                default_link: Link {
                    latency: LatencySampler::new(default_link.latency, latency_seed),
                    loss_probability: default_link.loss_probability,
                },
                links: BTreeMap::new(),
                partitions: BTreeSet::new(),
                messages_sent: 0,
                loss_seed: sub_seed(seed, "net.loss"),
                latency_seed,
            })),
            clock: SimClock,
            trace,
        }
    }

    /// Adds a node, up.
    pub fn add_node(&self, name: &str) -> NodeId {
        let mut state = self.inner.borrow_mut();
        let id = NodeId(u32::try_from(state.nodes.len()).unwrap_or(u32::MAX));
        state.nodes.push(NodeState {
            name: name.to_owned(),
            up: true,
            incarnation: 0,
            running: BTreeMap::new(),
            next_handler: 0,
        });
        id
    }

    pub fn node_name(&self, node: NodeId) -> String {
        self.inner.borrow().nodes.get(node.0 as usize).map_or_else(|| node.to_string(), |n| n.name.clone())
    }

    /// Every node's name, by id: the registry a trace names nodes from.
    pub fn node_names(&self) -> crate::NodeNames {
        crate::NodeNames(self.inner.borrow().nodes.iter().map(|n| n.name.clone()).collect())
    }

    /// Request handlers still running on `node` (calls whose callers may
    /// have given up: a server goes on working after a timeout).
    pub fn handlers_running(&self, node: NodeId) -> usize {
        self.inner.borrow().nodes.get(node.0 as usize).map_or(0, |n| n.running.len())
    }

    pub fn is_up(&self, node: NodeId) -> bool {
        self.inner.borrow().nodes.get(node.0 as usize).is_some_and(|n| n.up)
    }

    fn incarnation(&self, node: NodeId) -> Option<u64> {
        let state = self.inner.borrow();
        state.nodes.get(node.0 as usize).filter(|n| n.up).map(|n| n.incarnation)
    }

    /// Overrides latency and loss of messages from `from` to `to`.
    pub fn set_link(&self, from: NodeId, to: NodeId, spec: LinkSpec) {
        let mut state = self.inner.borrow_mut();
        let seed = sub_seed(state.latency_seed, &format!("link {from} {to}"));
        state.links.insert(
            (from, to),
            Link { latency: LatencySampler::new(spec.latency, seed), loss_probability: spec.loss_probability },
        );
    }

    /// No message is lost from now on, on any link (quiescence: no more faults).
    pub fn stop_losses(&self) {
        let mut state = self.inner.borrow_mut();
        state.default_link.loss_probability = 0.0;
        for link in state.links.values_mut() {
            link.loss_probability = 0.0;
        }
    }

    /// Every message between `a` and `b`, either way, is lost until [`Network::heal`].
    pub fn partition(&self, a: NodeId, b: NodeId) {
        let mut state = self.inner.borrow_mut();
        state.partitions.insert((a, b));
        state.partitions.insert((b, a));
    }

    pub fn heal(&self, a: NodeId, b: NodeId) {
        let mut state = self.inner.borrow_mut();
        state.partitions.remove(&(a, b));
        state.partitions.remove(&(b, a));
    }

    /// Crashes `node`: its running handlers stop where they are, calls to it
    /// are refused, calls it was serving end in [`NetError::Reset`], and
    /// so do calls it was making (it sends nothing until it restarts).
    pub fn crash(&self, node: NodeId) {
        let running = {
            let mut state = self.inner.borrow_mut();
            let Some(node_state) = state.nodes.get_mut(node.0 as usize) else { return };
            node_state.up = false;
            node_state.incarnation += 1;
            std::mem::take(&mut node_state.running)
        };
        for handle in running.values() {
            handle.abort();
        }
        self.trace.record(node, EventKind::NodeCrashed);
    }

    /// Brings a crashed node back (with whatever state its owner kept durable).
    pub fn restart(&self, node: NodeId) {
        if let Some(node_state) = self.inner.borrow_mut().nodes.get_mut(node.0 as usize) {
            node_state.up = true;
        }
        self.trace.record(node, EventKind::NodeRestarted);
    }

    /// Latency of the next message from `from` to `to`, or `None` if it is lost.
    fn message(&self, from: NodeId, to: NodeId) -> Option<Duration> {
        let mut state = self.inner.borrow_mut();
        let slot = state.messages_sent;
        state.messages_sent += 1;
        if state.partitions.contains(&(from, to)) {
            return None;
        }
        let link = state.links.get(&(from, to)).unwrap_or(&state.default_link);
        if link.loss_probability > 0.0 && slot_rng(state.loss_seed, slot).gen::<f64>() < link.loss_probability {
            return None;
        }
        Some(link.latency.sample(slot))
    }

    fn lost(&self, from: NodeId, to: NodeId) {
        self.trace.record(from, EventKind::MessageLost { to });
    }

    /// Sends the request leg of a call; `Err` once the caller has waited out
    /// its timeout (a lost request, or one slower than the timeout, which is
    /// then dropped rather than delivered late).
    async fn request_leg(&self, from: NodeId, to: NodeId, timeout: Duration) -> Result<Duration, NetError> {
        match self.message(from, to) {
            Some(latency) if latency < timeout => {
                self.clock.sleep(latency).await;
                return Ok(latency);
            }
            // Slower than the timeout: not lost, but the caller gives up first.
            Some(_) => {}
            None => self.lost(from, to),
        }
        self.clock.sleep(timeout).await;
        Err(NetError::Timeout)
    }

    /// A request from `from` to `to` whose handler answers at once (at the
    /// request's arrival) with a response and a service time.
    pub async fn call_sync<T>(
        &self,
        from: NodeId,
        to: NodeId,
        timeout: Duration,
        serve: impl FnOnce() -> Reply<T>,
    ) -> Result<T, NetError> {
        let caller = self.caller_incarnation(from)?;
        let result = self.call_sync_from_live(from, to, timeout, serve).await;
        self.caller_survived(from, caller)?;
        result
    }

    /// The incarnation of the calling node; a node that is down sends nothing.
    fn caller_incarnation(&self, from: NodeId) -> Result<Option<u64>, NetError> {
        let state = self.inner.borrow();
        match state.nodes.get(from.0 as usize) {
            // A caller the network does not know (a test's bare node id) cannot crash.
            None => Ok(None),
            Some(node) if node.up => Ok(Some(node.incarnation)),
            Some(_) => Err(NetError::Refused),
        }
    }

    /// A caller that crashed while it waited lost the call with its memory:
    /// whatever the answer was, it never saw it.
    fn caller_survived(&self, from: NodeId, incarnation: Option<u64>) -> Result<(), NetError> {
        match incarnation {
            Some(incarnation) if self.incarnation(from) != Some(incarnation) => Err(NetError::Reset),
            _ => Ok(()),
        }
    }

    async fn call_sync_from_live<T>(
        &self,
        from: NodeId,
        to: NodeId,
        timeout: Duration,
        serve: impl FnOnce() -> Reply<T>,
    ) -> Result<T, NetError> {
        let request_latency = self.request_leg(from, to, timeout).await?;
        let Some(incarnation) = self.incarnation(to) else { return Err(NetError::Refused) };
        let remaining = timeout - request_latency;
        let Reply::After(response, service) = serve() else {
            self.clock.sleep(remaining).await;
            return Err(NetError::Timeout);
        };
        match self.message(to, from) {
            Some(response_latency) if service + response_latency < remaining => {
                self.clock.sleep(service + response_latency).await;
            }
            delivered => {
                if delivered.is_none() {
                    self.lost(to, from);
                }
                self.clock.sleep(remaining).await;
                return Err(NetError::Timeout);
            }
        }
        if self.incarnation(to) != Some(incarnation) {
            return Err(NetError::Reset);
        }
        Ok(response)
    }

    /// A request whose handler is itself asynchronous (it may call other
    /// nodes). The handler runs as a task of `to`: it goes on after the
    /// caller times out, as a real server's would, and stops if `to` crashes.
    pub async fn call<T, F>(
        &self,
        from: NodeId,
        to: NodeId,
        timeout: Duration,
        serve: impl FnOnce() -> F,
    ) -> Result<T, NetError>
    where
        T: 'static,
        F: Future<Output = T> + 'static,
    {
        let caller = self.caller_incarnation(from)?;
        let result = self.call_from_live(from, to, timeout, serve).await;
        self.caller_survived(from, caller)?;
        result
    }

    async fn call_from_live<T, F>(
        &self,
        from: NodeId,
        to: NodeId,
        timeout: Duration,
        serve: impl FnOnce() -> F,
    ) -> Result<T, NetError>
    where
        T: 'static,
        F: Future<Output = T> + 'static,
    {
        let start = self.clock.now();
        let request_latency = self.request_leg(from, to, timeout).await?;
        let Some(incarnation) = self.incarnation(to) else { return Err(NetError::Refused) };
        let (abort_handle, registration) = futures::future::AbortHandle::new_pair();
        let handler_id = {
            let mut state = self.inner.borrow_mut();
            let node_state = &mut state.nodes[to.0 as usize];
            let id = node_state.next_handler;
            node_state.next_handler += 1;
            node_state.running.insert(id, abort_handle);
            id
        };
        let net = self.clone();
        // The handler works for the caller's operation: its events say so.
        let handler = crate::context::TaskContext::current().scope(serve());
        let task = madsim::task::spawn_local(async move {
            let result = futures::future::Abortable::new(handler, registration).await;
            if let Some(node_state) = net.inner.borrow_mut().nodes.get_mut(to.0 as usize) {
                node_state.running.remove(&handler_id);
            }
            result.ok()
        });
        let remaining = timeout - request_latency;
        let outcome = madsim::time::timeout(crate::clock::bounded_sleep(self.clock.now(), remaining), task).await;
        let response = match outcome {
            Ok(Ok(Some(response))) if self.incarnation(to) == Some(incarnation) => response,
            Ok(_) => return Err(NetError::Reset),
            Err(_elapsed) => return Err(NetError::Timeout),
        };
        let elapsed = self.clock.now().saturating_sub(start);
        let left = timeout.saturating_sub(elapsed);
        match self.message(to, from) {
            Some(response_latency) if response_latency < left => {
                self.clock.sleep(response_latency).await;
                Ok(response)
            }
            delivered => {
                if delivered.is_none() {
                    self.lost(to, from);
                }
                self.clock.sleep(left).await;
                Err(NetError::Timeout)
            }
        }
    }
}
