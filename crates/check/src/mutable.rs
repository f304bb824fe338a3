//! History types for one mutable file, and the checks its overwrite and append checkers share.
//!
//! A mutable file here has one writer process whose operations are sequential:
//! whole-file overwrites ([`MutableOpKind::Write`]) or read-modify-write line
//! appends ([`MutableOpKind::Append`]), interleaved with reads. Contents are
//! named by small integer "value ids" so the checker never needs the bytes.

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

/// One operation of the single writer process, as the harness recorded it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MutableOp {
    /// Increases in invocation order.
    pub id: u64,
    pub kind: MutableOpKind,
    pub outcome: Outcome,
    /// Virtual time the client invoked the operation.
    pub invoked_ms: u64,
    /// Virtual time the client saw it complete (or gave up on it).
    pub completed_ms: u64,
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
    /// Hash tree, root hash and signature all verified.
    Valid { server: u32, share: u32, seqnum: u64 },
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
    // One process, sequential operations: completion order is the order the
    // client saw the versions in. Ties fall back to invocation order.
    reads.sort_by_key(|(op, _)| (op.completed_ms, op.invoked_ms, op.id));
    let mut out: Vec<Observation<'a>> =
        reads.into_iter().map(|(op, read)| Observation { source: Source::Read(op.id), read }).collect();
    if let FinalRead::Value(read) = final_read {
        out.push(Observation { source: Source::Final, read });
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
        if op.completed_ms < op.invoked_ms {
            out.push(Violation::new(
                invariant::MALFORMED_HISTORY,
                format!(
                    "op {} completed at {} ms, before it was invoked at {} ms",
                    op.id, op.completed_ms, op.invoked_ms
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

/// Seqnums seen by successive reads never decrease, and the final read is at
/// or past every acknowledged mutation whose seqnum is known.
pub(crate) fn check_seqnum_order(mutations: &[Mutation<'_>], obs: &[Observation<'_>], out: &mut Vec<Violation>) {
    for pair in obs.windows(2) {
        if let [before, after] = pair {
            if after.read.seqnum < before.read.seqnum {
                out.push(Violation::new(
                    invariant::SEQNUM_DECREASED,
                    format!(
                        "{} saw seqnum {}, then {} saw seqnum {}",
                        before.source, before.read.seqnum, after.source, after.read.seqnum
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
    let newest_acked = mutations
        .iter()
        .filter(|m| m.op.outcome == Outcome::Ok)
        .filter_map(|m| m.op.seqnum.map(|s| (s, m.op.id)))
        .max_by_key(|(s, _)| *s);
    if let Some((acked, op_id)) = newest_acked {
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
        ShareCheck::Valid { server: share, share, seqnum }
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
