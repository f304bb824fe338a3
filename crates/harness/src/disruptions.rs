//! A scenario's crashes, partitions and corruption applied to a running
//! grid, and the view of injected corruption the at-rest checks need.
//!
//! Crashes and partitions run on one madsim task that sleeps until each
//! scheduled change; [`Disrupting::end`] stops it at quiescence and brings
//! every node back (restarted, partitions healed), so the checks read through
//! a whole grid. Corruption is drawn inside each S3 service (per request
//! slot, from its own stream) and stops when the services are healed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use retrylab_check::{ShareCheck, SharesAtRest};
use retrylab_faults::{Disruptions, GridNode};
use retrylab_lafs::container::parse_share_key;
use retrylab_lafs::{Grid, MutableCap, ShareVerdict, StorageServer};
use retrylab_sim::{EventKind, Network, NodeId, SimClock, Trace, World};

/// One change of the schedule, at a virtual time.
#[derive(Clone, Debug)]
enum Change {
    Crash(usize),
    Restart(usize),
    Partition(usize),
    Heal(usize),
}

/// What is down or cut off right now, counted so that overlapping
/// disruptions of one node or link end only when the last one does.
#[derive(Default)]
struct Active {
    down: BTreeMap<NodeId, u32>,
    cut: BTreeMap<(NodeId, NodeId), u32>,
}

/// The grid's parts a disruption acts on, by node.
#[derive(Clone)]
struct Target {
    net: Network,
    trace: Trace,
    servers: BTreeMap<NodeId, Rc<StorageServer>>,
}

impl Target {
    fn crash(&self, active: &mut Active, node: NodeId) {
        let count = active.down.entry(node).or_default();
        *count += 1;
        if *count == 1 {
            self.net.crash(node);
        }
    }

    fn restart(&self, active: &mut Active, node: NodeId) {
        let Some(count) = active.down.get_mut(&node) else { return };
        *count -= 1;
        if *count == 0 {
            active.down.remove(&node);
            if let Some(server) = self.servers.get(&node) {
                server.restart();
            }
            self.net.restart(node);
        }
    }

    fn cut(&self, active: &mut Active, a: NodeId, b: NodeId) {
        let count = active.cut.entry((a, b)).or_default();
        *count += 1;
        if *count == 1 {
            self.net.partition(a, b);
        }
    }

    fn mend(&self, active: &mut Active, a: NodeId, b: NodeId) {
        let Some(count) = active.cut.get_mut(&(a, b)) else { return };
        *count -= 1;
        if *count == 0 {
            active.cut.remove(&(a, b));
            self.net.heal(a, b);
        }
    }
}

/// The disruptions of a running world; [`Disrupting::end`] stops them.
pub(crate) struct Disrupting {
    task: Option<madsim::task::JoinHandle<()>>,
    target: Target,
    active: Rc<RefCell<Active>>,
}

fn node_of(grid: &Grid, node: GridNode) -> NodeId {
    match node {
        GridNode::StorageServer(i) => grid.servers()[i as usize].node(),
        GridNode::Gateway(g) => grid.gateways()[g as usize].node(),
    }
}

/// Starts `disruptions` on `grid`: corruption in every S3 service, and a
/// task for the crashes and partitions (none when there are none, so a
/// scenario without them runs exactly as before).
pub(crate) fn start(world: &World, grid: &Grid, disruptions: &Disruptions) -> Disrupting {
    if disruptions.corruption.any() {
        for service in grid.s3_services() {
            service.borrow_mut().set_corruption(disruptions.corruption.clone());
        }
    }
    let target = Target {
        net: world.net().clone(),
        trace: world.trace().clone(),
        servers: grid.servers().iter().map(|server| (server.node(), server.clone())).collect(),
    };
    let active = Rc::new(RefCell::new(Active::default()));
    if !disruptions.schedules_any() {
        return Disrupting { task: None, target, active };
    }
    let crashes: Vec<NodeId> = disruptions.crashes.iter().map(|crash| node_of(grid, crash.node)).collect();
    let pairs: Vec<Vec<(NodeId, NodeId)>> = disruptions
        .partitions
        .iter()
        .map(|partition| {
            let side_b: Vec<NodeId> = partition.side_b.iter().map(|node| node_of(grid, *node)).collect();
            partition.side_a.iter().flat_map(|a| side_b.iter().map(move |b| (node_of(grid, *a), *b))).collect()
        })
        .collect();
    let mut schedule: Vec<(Duration, Change)> = Vec::new();
    for (i, crash) in disruptions.crashes.iter().enumerate() {
        schedule.push((crash.at, Change::Crash(i)));
        schedule.push((crash.at + crash.down, Change::Restart(i)));
    }
    for (i, partition) in disruptions.partitions.iter().enumerate() {
        schedule.push((partition.start, Change::Partition(i)));
        schedule.push((partition.start + partition.duration, Change::Heal(i)));
    }
    // Stable: changes at one instant apply in the file's order.
    schedule.sort_by_key(|(at, _)| *at);
    let task = {
        let (target, active) = (target.clone(), active.clone());
        madsim::task::spawn_local(async move {
            for (at, change) in schedule {
                let now = SimClock.now();
                if at > now {
                    SimClock.sleep(at - now).await;
                }
                let mut active = active.borrow_mut();
                match change {
                    Change::Crash(i) => target.crash(&mut active, crashes[i]),
                    Change::Restart(i) => target.restart(&mut active, crashes[i]),
                    Change::Partition(i) => {
                        let note = EventKind::Note { what: "partition", value: i as u64 };
                        target.trace.record_with(pairs[i][0].0, note, || partition_detail(&target.net, &pairs[i]));
                        for &(a, b) in &pairs[i] {
                            target.cut(&mut active, a, b);
                        }
                    }
                    Change::Heal(i) => {
                        let note = EventKind::Note { what: "partition-healed", value: i as u64 };
                        target.trace.record_with(pairs[i][0].0, note, || partition_detail(&target.net, &pairs[i]));
                        for &(a, b) in &pairs[i] {
                            target.mend(&mut active, a, b);
                        }
                    }
                }
            }
        })
    };
    Disrupting { task: Some(task), target, active }
}

/// A partition's trace detail: the node pairs it cuts, by name (`a|b`, comma-separated).
fn partition_detail(net: &retrylab_sim::Network, pairs: &[(NodeId, NodeId)]) -> retrylab_sim::Detail {
    let cut: Vec<String> = pairs.iter().map(|&(a, b)| format!("{}|{}", net.node_name(a), net.node_name(b))).collect();
    vec![("cut", cut.join(",").into())]
}

impl Disrupting {
    /// Quiescence: no more crashes or partitions; every node still down
    /// restarts and every cut link heals, so the checks see the whole grid.
    pub(crate) fn end(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let mut active = self.active.borrow_mut();
        let down: Vec<NodeId> = active.down.keys().copied().collect();
        for node in down {
            active.down.insert(node, 1);
            self.target.restart(&mut active, node);
        }
        let cut: Vec<(NodeId, NodeId)> = active.cut.keys().copied().collect();
        for (a, b) in cut {
            active.cut.insert((a, b), 1);
            self.target.mend(&mut active, a, b);
        }
    }
}

/// Whether share `share` of `cap` on `server` has an object that S3
/// corrupted at rest by injection.
fn injected(grid: &Grid, server: u32, cap: &MutableCap, share: u8) -> bool {
    let prefix = cap.storage_index.share_prefix();
    let Some(service) = grid.s3_services().get(server as usize) else { return false };
    let service = service.borrow();
    let hit = service.corrupted_keys().any(|key| parse_share_key(&prefix, key).is_some_and(|(s, _)| s == share));
    hit
}

/// Every stored share of `cap` verified at rest; a corrupt share whose
/// objects injection damaged is the environment's fault, told apart so the
/// checkers report only what the design did.
pub(crate) fn shares_at_rest(grid: &Grid, cap: &MutableCap) -> SharesAtRest {
    let shares_needed = grid.gateway().config().shares_needed;
    shares_checked(grid.verify_mutable_at_rest(cap), shares_needed, |server, share| injected(grid, server, cap, share))
}

/// The checkers' view of share verdicts: `injected(server, share)` tells
/// whether the environment (corruption injected at rest) damaged a share.
/// Simulation and real mode (no injection at rest) share it.
pub fn shares_checked(
    verdicts: Vec<ShareVerdict>,
    shares_needed: u8,
    injected: impl Fn(u32, u8) -> bool,
) -> SharesAtRest {
    let shares = verdicts
        .into_iter()
        .map(|verdict| match verdict {
            ShareVerdict::Valid { server, share, seqnum, root_hash, .. } => {
                ShareCheck::Valid { server, share: u32::from(share), seqnum, root_hash }
            }
            ShareVerdict::Corrupt { server, share, reason } if injected(server, share) => {
                ShareCheck::CorruptInjected { server, share: u32::from(share), reason }
            }
            ShareVerdict::Corrupt { server, share, reason } => {
                ShareCheck::Corrupt { server, share: u32::from(share), reason }
            }
        })
        .collect();
    SharesAtRest { shares, shares_needed: u32::from(shares_needed) }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use retrylab_scenario::Scenario;
    use retrylab_sim::{EventKind, TraceMode};

    use crate::{run_seed, RunReport};

    fn shipped(name: &str) -> Scenario {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sim-scenarios/faults").join(name);
        retrylab_scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    fn run(scenario: &Scenario, seed: u64) -> RunReport {
        run_seed(scenario, &scenario.policies[0], seed, TraceMode::Full).unwrap_or_else(|e| panic!("{e}"))
    }

    /// How many events of the seeds' traces `count` picks out, with every run checked clean.
    fn count_events(scenario: &Scenario, seeds: u64, count: impl Fn(&EventKind) -> bool) -> usize {
        (0..seeds)
            .map(|seed| {
                let report = run(scenario, seed);
                assert!(report.violations.is_empty(), "seed {seed}: {:?}", report.violations);
                report.trace.as_deref().unwrap_or_default().iter().filter(|event| count(&event.kind)).count()
            })
            .sum()
    }

    #[test]
    fn crashes_happen_and_every_node_comes_back() {
        let scenario = shipped("crash-restart.toml");
        let crashed = count_events(&scenario, 5, |kind| matches!(kind, EventKind::NodeCrashed));
        let restarted = count_events(&scenario, 5, |kind| matches!(kind, EventKind::NodeRestarted));
        // Four crashes a run, each followed by its restart.
        assert_eq!((crashed, restarted), (20, 20));
    }

    #[test]
    fn partitions_happen_and_lose_messages() {
        let scenario = shipped("partition.toml");
        let partitions = count_events(&scenario, 5, |kind| matches!(kind, EventKind::Note { what: "partition", .. }));
        assert_eq!(partitions, 25, "five partitions a run");
        let lost = count_events(&scenario, 5, |kind| matches!(kind, EventKind::MessageLost { .. }));
        assert!(lost > 0, "no message was lost to a partition");
    }

    #[test]
    fn every_kind_of_corruption_happens() {
        let scenario = shipped("corruption.toml");
        for name in ["bit_flip", "truncate", "stale_read", "tampered_read"] {
            let seen = count_events(
                &scenario,
                3,
                |kind| matches!(kind, EventKind::FaultInjected { kind, .. } if *kind == name),
            );
            assert!(seen > 0, "no {name} in three runs");
        }
    }

    #[test]
    fn each_disruption_scenario_replays_exactly() {
        for name in ["crash-restart.toml", "crash-restart-backups.toml", "partition.toml", "corruption.toml"] {
            let scenario = shipped(name);
            for seed in [3, 11] {
                let (first, second) = (run(&scenario, seed), run(&scenario, seed));
                assert_eq!(first, second, "{name} seed {seed}");
            }
            assert_ne!(run(&scenario, 3).trace_hash, run(&scenario, 11).trace_hash, "{name}");
        }
    }
}
