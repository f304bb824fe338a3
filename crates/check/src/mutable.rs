//! History types for one mutable file, and the checks its overwrite and append checkers share.
//!
//! A mutable file here has one writer process whose operations are sequential:
//! whole-file overwrites ([`MutableOpKind::Write`]) or read-modify-write line
//! appends ([`MutableOpKind::Append`]). Reads come from any process (the
//! writer's gateway and others), concurrently with the writes and with each
//! other; each process's own operations are sequential. Contents are named by
//! small integer "value ids" so the checker never needs the bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{invariant, Outcome, Violation};

/// What a successful read decoded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReadValue {
    /// The seqnum of the version the gateway chose.
    pub seqnum: u64,
    /// The value ids the contents decode to: for overwrite workloads a single
    /// value id; for append workloads the appended line ids in file order.
    pub values: Vec<u64>,
}

/// What one mutable-file operation did.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MutableOpKind {
    /// Overwrite with contents `value` (put i writes value i).
    Write { value: u64 },
    /// Append line `value` (read-modify-write).
    Append { value: u64 },
    /// A read; `observed` is what it returned when its outcome is Ok.
    Read { observed: Option<ReadValue> },
}

/// One operation on the file, as the harness recorded it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MutableOp {
    /// Increases in invocation order.
    pub id: u64,
    /// The process (gateway) that made it. Writes all come from one process;
    /// each process's operations are sequential, different processes' are not.
    #[serde(default)]
    pub process: u32,
    pub kind: MutableOpKind,
    pub outcome: Outcome,
    /// Virtual time the client invoked the operation, in microseconds.
    pub invoked_us: u64,
    /// Virtual time the client saw it complete (or gave up on it), in microseconds.
    pub completed_us: u64,
    /// For Ok writes/appends: the seqnum the gateway published, if known.
    pub seqnum: Option<u64>,
}

/// The read made at quiescence (after all operations, no faults).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FinalRead {
    /// The gateway returned contents.
    Value(ReadValue),
    /// The gateway returned an error: web status and error name.
    Error { status: u16, error: String },
}

/// The verdict on one stored share of the file at quiescence.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ShareCheck {
    /// Hash tree, root hash and signature all verified. `root_hash` names
    /// the version's contents (two versions with one seqnum differ in it).
    Valid { server: u32, share: u32, seqnum: u64, root_hash: [u8; 32] },
    /// The share failed verification; `reason` says which check.
    Corrupt { server: u32, share: u32, reason: String },
    /// The share failed verification, and the environment damaged it: the
    /// simulated S3 flipped a bit of it or truncated it at rest (a scenario's
    /// `[faults.corruption]`). Not the design's fault, so not a violation;
    /// the design must still never return its contents as ok.
    CorruptInjected { server: u32, share: u32, reason: String },
}

/// Every stored mutable share of the file, each verified independently of the gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SharesAtRest {
    pub shares: Vec<ShareCheck>,
    /// k of the file's encoding; 0 when unknown (then no failed read is
    /// ever excused by injected corruption).
    #[serde(default)]
    pub shares_needed: u32,
}

/// The gateway errors that say "not enough intact shares": what a correct
/// reader answers when corruption left a version unrecoverable.
const UNRECOVERABLE_ERRORS: [&str; 2] = ["NotEnoughSharesError", "UnrecoverableFileError"];

impl SharesAtRest {
    /// Whether injected corruption at rest explains a final read that failed:
    /// it failed as unrecoverable, some share was damaged by injection, and
    /// fewer than k distinct intact shares of the newest intact version are
    /// left. Narrow on purpose: an error of any other kind, or a file with k
    /// intact shares of its newest version, is still the design's fault, and
    /// a read that returns contents is never excused (wrong data returned as
    /// ok is always a violation).
    pub fn excuses_failed_read(&self, final_read: &FinalRead) -> bool {
        let FinalRead::Error { error, .. } = final_read else { return false };
        if self.shares_needed == 0 || !UNRECOVERABLE_ERRORS.contains(&error.as_str()) {
            return false;
        }
        if !self.shares.iter().any(|share| matches!(share, ShareCheck::CorruptInjected { .. })) {
            return false;
        }
        let valid = || {
            self.shares.iter().filter_map(|share| match share {
                ShareCheck::Valid { share, seqnum, .. } => Some((*seqnum, *share)),
                _ => None,
            })
        };
        let Some(newest) = valid().map(|(seqnum, _)| seqnum).max() else { return true };
        let intact: BTreeSet<u32> = valid().filter(|(seqnum, _)| *seqnum == newest).map(|(_, share)| share).collect();
        (intact.len() as u64) < u64::from(self.shares_needed)
    }
}

/// Where an observation came from, for violation details.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Read(u64),
    Final,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Read(id) => write!(f, "read {id}"),
            Source::Final => f.write_str("the final read"),
        }
    }
}

/// One set of contents some read actually returned.
pub(crate) struct Observation<'a> {
    pub source: Source,
    pub read: &'a ReadValue,
    /// The read operation (`None` for the final read at quiescence).
    pub op: Option<&'a MutableOp>,
}

/// One write or append together with the value it carries.
#[derive(Clone, Copy)]
pub(crate) struct Mutation<'a> {
    pub op: &'a MutableOp,
    pub value: u64,
}

/// The history in invocation order. Ids increase in invocation order by
/// contract; the sort is stable, so a harness that repeats an id keeps its own
/// order rather than getting a panic.
pub(crate) fn in_invocation_order(history: &[MutableOp]) -> Vec<&MutableOp> {
    let mut ops: Vec<&MutableOp> = history.iter().collect();
    ops.sort_by_key(|op| op.id);
    ops
}

/// Every Ok read's contents in completion order, then the final read's.
///
/// Only Ok reads count: a failed or indeterminate read returned nothing the
/// client could trust, so whatever the harness attached to it is ignored.
pub(crate) fn observations<'a>(ops: &[&'a MutableOp], final_read: &'a FinalRead) -> Vec<Observation<'a>> {
    let mut reads: Vec<(&'a MutableOp, &'a ReadValue)> = ops
        .iter()
        .filter_map(|op| match (&op.kind, op.outcome) {
            (MutableOpKind::Read { observed: Some(read) }, Outcome::Ok) => Some((*op, read)),
            _ => None,
        })
        .collect();
    // Completion order; ties fall back to invocation order. Within one
    // process (sequential operations) this is the order it saw versions in.
    reads.sort_by_key(|(op, _)| (op.completed_us, op.invoked_us, op.id));
    let mut out: Vec<Observation<'a>> =
        reads.into_iter().map(|(op, read)| Observation { source: Source::Read(op.id), read, op: Some(op) }).collect();
    if let FinalRead::Value(read) = final_read {
        out.push(Observation { source: Source::Final, read, op: None });
    }
    out
}

/// Harness mistakes that would make the other checks meaningless: an op of the
/// other workload's kind, an Ok read without a value, time running backwards.
pub(crate) fn check_well_formed(
    ops: &[&MutableOp],
    foreign_kind: &str,
    is_foreign: impl Fn(&MutableOpKind) -> bool,
    out: &mut Vec<Violation>,
) {
    for op in ops {
        if is_foreign(&op.kind) {
            out.push(Violation::new(
                invariant::MALFORMED_HISTORY,
                format!("op {} is {foreign_kind} in this history; it was not checked", op.id),
            ));
        }
        if let (MutableOpKind::Read { observed: None }, Outcome::Ok) = (&op.kind, op.outcome) {
            out.push(Violation::new(
                invariant::MALFORMED_HISTORY,
                format!("read {} is Ok but recorded no observed value", op.id),
            ));
        }
        if op.completed_us < op.invoked_us {
            out.push(Violation::new(
                invariant::MALFORMED_HISTORY,
                format!(
                    "op {} completed at {} us, before it was invoked at {} us",
                    op.id, op.completed_us, op.invoked_us
                ),
            ));
        }
    }
}

/// A Fail mutation's value must never be observed.
///
/// A value also carried by some Ok or Info mutation is excluded: seeing it
/// proves nothing about the failed one.
pub(crate) fn check_failed_visible(
    name: &'static str,
    what: &str,
    mutations: &[Mutation<'_>],
    obs: &[Observation<'_>],
    out: &mut Vec<Violation>,
) {
    let maybe_landed: BTreeSet<u64> =
        mutations.iter().filter(|m| m.op.outcome != Outcome::Fail).map(|m| m.value).collect();
    let mut failed: BTreeMap<u64, u64> = BTreeMap::new();
    for m in mutations {
        if m.op.outcome == Outcome::Fail && !maybe_landed.contains(&m.value) {
            failed.entry(m.value).or_insert(m.op.id);
        }
    }
    // Report each failed value once, at its first sighting: later reads of the
    // same version add no new evidence.
    let mut reported = BTreeSet::new();
    for o in obs {
        for v in &o.read.values {
            if let Some(op_id) = failed.get(v) {
                if reported.insert(*v) {
                    out.push(Violation::new(
                        name,
                        format!(
                            "{what} {op_id} failed, but {} (seqnum {}) observed its value {v}",
                            o.source, o.read.seqnum
                        ),
                    ));
                }
            }
        }
    }
}

/// Every observed value must come from some write or append of the history:
/// anything else is contents that decoded but were never written.
pub(crate) fn check_unwritten(mutations: &[Mutation<'_>], obs: &[Observation<'_>], out: &mut Vec<Violation>) {
    let written: BTreeSet<u64> = mutations.iter().map(|m| m.value).collect();
    let mut reported = BTreeSet::new();
    for o in obs {
        for v in &o.read.values {
            if !written.contains(v) && reported.insert(*v) {
                out.push(Violation::new(
                    invariant::UNWRITTEN_VALUE_VISIBLE,
                    format!("{} (seqnum {}) observed value {v}, which no operation wrote", o.source, o.read.seqnum),
                ));
            }
        }
    }
}

/// No process goes back past an acknowledged version: a process's
/// successive reads (reads of different processes overlap, so only a
/// process's own order is known) may go down in seqnum only over versions
/// no mutation acknowledged (a failed write whose shares some reads met and
/// others did not), and the final read is at or past every acknowledged
/// mutation whose seqnum is known.
pub(crate) fn check_seqnum_order(mutations: &[Mutation<'_>], obs: &[Observation<'_>], out: &mut Vec<Violation>) {
    let acked: BTreeMap<u64, u64> = mutations
        .iter()
        .filter(|m| m.op.outcome == Outcome::Ok)
        .filter_map(|m| m.op.seqnum.map(|s| (s, m.op.id)))
        .collect();
    let mut last_by_process: BTreeMap<u32, &Observation<'_>> = BTreeMap::new();
    for o in obs {
        let Some(op) = o.op else { continue };
        if let Some(before) = last_by_process.insert(op.process, o) {
            let passed = (o.read.seqnum < before.read.seqnum)
                .then(|| acked.range(o.read.seqnum + 1..=before.read.seqnum).next_back())
                .flatten();
            if let Some((acked_seqnum, acked_op)) = passed {
                out.push(Violation::new(
                    invariant::SEQNUM_DECREASED,
                    format!(
                        "process {}: {} saw seqnum {}, then {} saw seqnum {}, behind seqnum {acked_seqnum} of \
                         acknowledged op {acked_op}",
                        op.process, before.source, before.read.seqnum, o.source, o.read.seqnum
                    ),
                ));
            }
        }
    }
    let Some(final_obs) = obs.iter().find(|o| o.source == Source::Final) else {
        return;
    };
    // The highest acknowledged seqnum is the tightest bound; report against it
    // once rather than once per acknowledged mutation below the final read.
    if let Some((&acked, &op_id)) = acked.iter().next_back() {
        if final_obs.read.seqnum < acked {
            out.push(Violation::new(
                invariant::SEQNUM_DECREASED,
                format!(
                    "the final read has seqnum {}, behind seqnum {acked} published by acknowledged op {op_id}",
                    final_obs.read.seqnum
                ),
            ));
        }
    }
}

/// Jepsen's register, for reads during the run: a read returns no older a
/// version than the newest mutation acknowledged before the read began. The
/// mutation is found by virtual time: completed strictly before another
/// process invoked the read (at the same microsecond the order is unknown and
/// the read gets the benefit of the doubt), or at or before it in the
/// writer's own process, whose operations are sequential.
///
/// `covers(read, mutation)` says whether the contents a read returned include
/// `mutation` (for overwrites: that write or a later one; for appends: its
/// line). Each read is reported once, against the newest mutation it missed.
pub(crate) fn check_reads_fresh(
    mutations: &[Mutation<'_>],
    obs: &[Observation<'_>],
    covers: impl Fn(&ReadValue, &Mutation<'_>) -> bool,
    out: &mut Vec<Violation>,
) {
    for o in obs {
        let Some(read) = o.op else { continue };
        let missed = mutations
            .iter()
            .filter(|m| m.op.outcome == Outcome::Ok && acknowledged_before(m.op, read))
            .filter(|m| !covers(o.read, m) || m.op.seqnum.is_some_and(|s| o.read.seqnum < s))
            .last();
        if let Some(m) = missed {
            let seqnum = m.op.seqnum.map_or_else(|| "unknown".to_owned(), |s| s.to_string());
            out.push(Violation::new(
                invariant::STALE_READ,
                format!(
                    "{} by process {} began at {} us, after op {} (value {}, seqnum {seqnum}) was acknowledged at \
                     {} us, but returned {:?} at seqnum {}",
                    o.source,
                    read.process,
                    read.invoked_us,
                    m.op.id,
                    m.value,
                    m.op.completed_us,
                    o.read.values,
                    o.read.seqnum
                ),
            ));
        }
    }
}

/// One seqnum must never name two different contents. `known` seeds the map
/// with contents known from acknowledged mutations (seqnum, values, source).
pub(crate) fn check_seqnum_reuse(
    known: Vec<(u64, Vec<u64>, String)>,
    obs: &[Observation<'_>],
    out: &mut Vec<Violation>,
) {
    let observed = obs.iter().map(|o| (o.read.seqnum, o.read.values.clone(), format!("{}", o.source)));
    let mut first: BTreeMap<u64, (Vec<u64>, String)> = BTreeMap::new();
    let mut reported: BTreeSet<(u64, Vec<u64>)> = BTreeSet::new();
    for (seqnum, values, source) in known.into_iter().chain(observed) {
        match first.get(&seqnum) {
            None => {
                first.insert(seqnum, (values, source));
            }
            Some((earlier, earlier_source)) => {
                if *earlier != values && reported.insert((seqnum, values.clone())) {
                    out.push(Violation::new(
                        invariant::SEQNUM_REUSED,
                        format!("seqnum {seqnum} names {earlier:?} ({earlier_source}) and {values:?} ({source})"),
                    ));
                }
            }
        }
    }
}

/// Every stored share must verify. Transient read errors during the run are
/// not violations; only corruption that is still at rest at quiescence is,
/// and only when the design caused it (injected corruption is the environment's).
pub(crate) fn check_at_rest(at_rest: &SharesAtRest, out: &mut Vec<Violation>) {
    for share in &at_rest.shares {
        if let ShareCheck::Corrupt { server, share, reason } = share {
            out.push(Violation::new(
                invariant::CORRUPT_SHARE_AT_REST,
                format!("server {server} share {share}: {reason}"),
            ));
        }
    }
}

/// Whether `mutation` was acknowledged before `read` was invoked.
fn acknowledged_before(mutation: &MutableOp, read: &MutableOp) -> bool {
    if mutation.process == read.process {
        mutation.completed_us <= read.invoked_us
    } else {
        mutation.completed_us < read.invoked_us
    }
}

/// Who writes a mutable file, for the checks at rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileWriters {
    /// One gateway: it must never publish two versions under one seqnum.
    One,
    /// Several gateways taking turns (as Tahoe-LAFS requires). A server can
    /// still apply one writer's late write while the next writer publishes
    /// the same seqnum (Tahoe's uncoordinated write, which the next publish
    /// supersedes), so only a collision a reader could still choose, at or
    /// above the newest durable version, is a violation.
    TakingTurns,
}

/// What the shares at rest hold, checked on their own: one seqnum never
/// names two versions (two root hashes) among the valid shares. Returns the
/// newest version held by at least `shares_durable` distinct valid shares
/// (the design's write quorum: a version every read must meet), as
/// (seqnum, root hash).
pub fn check_versions_at_rest(
    at_rest: &SharesAtRest,
    shares_durable: u32,
    writers: FileWriters,
    out: &mut Vec<Violation>,
) -> Option<(u64, [u8; 32])> {
    let mut versions: BTreeMap<(u64, [u8; 32]), BTreeSet<u32>> = BTreeMap::new();
    for check in &at_rest.shares {
        if let ShareCheck::Valid { share, seqnum, root_hash, .. } = check {
            versions.entry((*seqnum, *root_hash)).or_default().insert(*share);
        }
    }
    let newest = versions
        .iter()
        .rev()
        .find(|(_, shares)| shares.len() >= shares_durable.max(1) as usize)
        .map(|(version, _)| *version);
    let superseded = |seqnum: u64| {
        writers == FileWriters::TakingTurns && newest.is_some_and(|(newest_seqnum, _)| seqnum < newest_seqnum)
    };
    let mut reported = BTreeSet::new();
    for pair in versions.keys().collect::<Vec<_>>().windows(2) {
        if let [(seqnum, a), (next, b)] = pair {
            if seqnum == next && a != b && !superseded(*seqnum) && reported.insert(*seqnum) {
                out.push(Violation::new(
                    invariant::SEQNUM_REUSED,
                    format!("at rest, seqnum {seqnum} names two versions (root hashes {} and {})", hex8(a), hex8(b)),
                ));
            }
        }
    }
    newest
}

/// At quiescence, with no faults, a read returns at least the newest
/// version held by a write quorum of shares at rest (`newest`, from
/// [`check_versions_at_rest`]): anything older is a stale read, and an error
/// is a read that should have worked.
pub fn check_final_read_at_rest(final_read: &FinalRead, newest: Option<(u64, [u8; 32])>, out: &mut Vec<Violation>) {
    let Some((seqnum, _)) = newest else { return };
    match final_read {
        FinalRead::Value(read) if read.seqnum < seqnum => out.push(Violation::new(
            invariant::STALE_READ,
            format!(
                "the final read returned seqnum {}, but a write quorum of shares at rest holds seqnum {seqnum}",
                read.seqnum
            ),
        )),
        FinalRead::Value(_) => {}
        FinalRead::Error { status, error } => out.push(Violation::new(
            invariant::READ_FAILED_AT_QUIESCENCE,
            format!("the final read failed with {status} {error}, but a write quorum of shares at rest holds seqnum {seqnum}"),
        )),
    }
}

fn hex8(hash: &[u8; 32]) -> String {
    hash.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// The mutations of the wanted kind, in invocation order.
pub(crate) fn mutations<'a>(
    ops: &[&'a MutableOp],
    value_of: impl Fn(&MutableOpKind) -> Option<u64>,
) -> Vec<Mutation<'a>> {
    ops.iter().filter_map(|op| value_of(&op.kind).map(|value| Mutation { op, value })).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(error: &str) -> FinalRead {
        FinalRead::Error { status: 410, error: error.to_owned() }
    }

    fn valid(share: u32, seqnum: u64) -> ShareCheck {
        ShareCheck::Valid { server: share, share, seqnum, root_hash: [0; 32] }
    }

    fn injected(share: u32) -> ShareCheck {
        ShareCheck::CorruptInjected { server: share, share, reason: "block hash tree".into() }
    }

    #[test]
    fn injected_corruption_excuses_only_an_unrecoverable_read_with_too_few_intact_shares() {
        // 3-of-10, newest seqnum 5: two intact shares left, eight damaged by injection.
        let mut shares: Vec<ShareCheck> = (0..2).map(|i| valid(i, 5)).collect();
        shares.extend((2..10).map(injected));
        let at_rest = SharesAtRest { shares, shares_needed: 3 };
        assert!(at_rest.excuses_failed_read(&failed("NotEnoughSharesError")));
        assert!(at_rest.excuses_failed_read(&failed("UnrecoverableFileError")));
        // Another kind of error, or a read that returned contents, is never excused.
        assert!(!at_rest.excuses_failed_read(&failed("UncoordinatedWriteError")));
        assert!(!at_rest.excuses_failed_read(&FinalRead::Value(ReadValue { seqnum: 4, values: vec![4] })));
        // k unknown: no excuse.
        assert!(
            !SharesAtRest { shares_needed: 0, ..at_rest.clone() }.excuses_failed_read(&failed("NotEnoughSharesError"))
        );
        // Three intact shares of the newest version: readable, so a failure is the design's.
        let mut readable = at_rest.clone();
        readable.shares[2] = valid(2, 5);
        assert!(!readable.excuses_failed_read(&failed("NotEnoughSharesError")));
        // Design-caused corruption only: no excuse.
        let design_only =
            SharesAtRest {
                shares: (0..10)
                    .map(|i| {
                        if i < 2 {
                            valid(i, 5)
                        } else {
                            ShareCheck::Corrupt { server: i, share: i, reason: "x".into() }
                        }
                    })
                    .collect(),
                shares_needed: 3,
            };
        assert!(!design_only.excuses_failed_read(&failed("NotEnoughSharesError")));
    }

    #[test]
    fn injected_corruption_at_rest_is_not_a_violation_but_design_corruption_is() {
        let mut out = Vec::new();
        let at_rest = SharesAtRest {
            shares: vec![injected(1), ShareCheck::Corrupt { server: 2, share: 2, reason: "bad signature".into() }],
            shares_needed: 3,
        };
        check_at_rest(&at_rest, &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].detail.contains("server 2 share 2"), "{out:?}");
    }
}
