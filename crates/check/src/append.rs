//! The checker for read-modify-write line appends to one mutable file, by one writer or several.

use std::collections::{BTreeMap, BTreeSet};

use crate::mutable::{
    check_at_rest, check_failed_visible, check_reads_fresh, check_seqnum_order, check_seqnum_reuse, check_unwritten,
    check_well_formed, in_invocation_order, mutations, observations, FinalRead, MutableOp, MutableOpKind, Mutation,
    Observation, SharesAtRest,
};
use crate::{invariant, Outcome, Violation};

/// Checks an append history (one writer or several) against the final read and the shares at rest.
///
/// Invariants: `append-duplicated`, `acknowledged-append-lost`,
/// `failed-append-visible`, `appends-out-of-order`, `seqnum-decreased`, `stale-read`,
/// `corrupt-share-at-rest`, plus `seqnum-reused` (two reads at one seqnum
/// with different contents), `unwritten-value-visible` (a line no append
/// carried) and `malformed-history`.
///
/// Duplication and order are checked in every observed contents, not only the
/// final ones: an append-only file that ever showed a duplicate or a reordering
/// was wrong then, whatever it shows at the end. Each anomaly is reported once.
pub fn check_mutable_appends(history: &[MutableOp], final_read: &FinalRead, at_rest: &SharesAtRest) -> Vec<Violation> {
    let mut out = Vec::new();
    let ops = in_invocation_order(history);
    check_well_formed(&ops, "an overwrite", |k| matches!(k, MutableOpKind::Write { .. }), &mut out);
    let appends = mutations(&ops, |k| match k {
        MutableOpKind::Append { value } => Some(*value),
        _ => None,
    });
    let obs = observations(&ops, final_read);

    check_duplicated(&obs, &mut out);
    if !at_rest.excuses_failed_read(final_read) {
        check_acknowledged_append_lost(&appends, final_read, &mut out);
    }
    check_failed_visible(invariant::FAILED_APPEND_VISIBLE, "append", &appends, &obs, &mut out);
    check_out_of_order(&appends, &obs, &mut out);
    check_unwritten(&appends, &obs, &mut out);
    check_seqnum_order(&appends, &obs, &mut out);
    check_reads_fresh(&appends, &obs, |read, append| read.values.contains(&append.value), &mut out);
    // An append's own record does not say the whole contents it published, so
    // only reads name contents here.
    check_seqnum_reuse(Vec::new(), &obs, &mut out);
    check_at_rest(at_rest, &mut out);
    out
}

fn check_duplicated(obs: &[Observation<'_>], out: &mut Vec<Violation>) {
    let mut reported = BTreeSet::new();
    for o in obs {
        let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
        for v in &o.read.values {
            *counts.entry(*v).or_insert(0) += 1;
        }
        for (line, n) in counts {
            if n > 1 && reported.insert(line) {
                out.push(Violation::new(
                    invariant::APPEND_DUPLICATED,
                    format!("{} (seqnum {}) holds line {line} {n} times", o.source, o.read.seqnum),
                ));
            }
        }
    }
}

/// Every acknowledged line is in the final contents; a final read that fails
/// while any append was acknowledged lost them all.
fn check_acknowledged_append_lost(appends: &[Mutation<'_>], final_read: &FinalRead, out: &mut Vec<Violation>) {
    let acked: Vec<&Mutation<'_>> = appends.iter().filter(|a| a.op.outcome == Outcome::Ok).collect();
    match final_read {
        FinalRead::Error { status, error } => {
            if !acked.is_empty() {
                let lines: Vec<u64> = acked.iter().map(|a| a.value).collect();
                out.push(Violation::new(
                    invariant::ACKNOWLEDGED_APPEND_LOST,
                    format!("the final read failed with {status} {error}; acknowledged lines {lines:?} are unreadable"),
                ));
            }
        }
        FinalRead::Value(read) => {
            let present: BTreeSet<u64> = read.values.iter().copied().collect();
            for a in acked {
                if !present.contains(&a.value) {
                    out.push(Violation::new(
                        invariant::ACKNOWLEDGED_APPEND_LOST,
                        format!(
                            "append {} (line {}) was acknowledged but the final read (seqnum {}) lacks it",
                            a.op.id, a.value, read.seqnum
                        ),
                    ));
                }
            }
        }
    }
}

/// Lines must appear in the order they were appended: a process's lines in
/// its invocation order (lines 1, 2, 3, ... by contract, so numeric order
/// too), and a line whose append was acknowledged before another process
/// invoked its append ahead of that one (real-time order, as in Jepsen's
/// linearizability). Appends of different processes that overlapped may land
/// in either order. Equal neighbours are `append-duplicated`, not reported
/// again here; lines no append carried are `unwritten-value-visible` and have
/// no place in the order.
fn check_out_of_order(appends: &[Mutation<'_>], obs: &[Observation<'_>], out: &mut Vec<Violation>) {
    let mut by_line: BTreeMap<u64, (usize, &MutableOp)> = BTreeMap::new();
    for (i, a) in appends.iter().enumerate() {
        by_line.entry(a.value).or_insert((i, a.op));
    }
    let mut reported = BTreeSet::new();
    let mut report = |o: &Observation<'_>, earlier: u64, later: u64, why: &str| {
        if reported.insert((later, earlier)) {
            out.push(Violation::new(
                invariant::APPENDS_OUT_OF_ORDER,
                format!(
                    "{} (seqnum {}) has line {earlier} after line {later}, which was appended later ({why})",
                    o.source, o.read.seqnum
                ),
            ));
        }
    };
    for o in obs {
        let known: Vec<(u64, usize, &MutableOp)> =
            o.read.values.iter().filter_map(|v| by_line.get(v).map(|&(rank, op)| (*v, rank, op))).collect();
        // Per process: the latest-appended line seen so far, as (rank, line).
        let mut latest: BTreeMap<u32, (usize, u64)> = BTreeMap::new();
        for &(line, rank, op) in &known {
            match latest.get(&op.process) {
                Some(&(latest_rank, latest_line)) if rank < latest_rank => {
                    report(o, line, latest_line, "by the same process");
                }
                Some(&(latest_rank, _)) if rank == latest_rank => {}
                _ => {
                    latest.insert(op.process, (rank, line));
                }
            }
        }
        // Across processes, from the back: the acknowledged line after this
        // position that completed first.
        let mut first_completed_after: Option<(u64, &MutableOp)> = None;
        for &(line, _, op) in known.iter().rev() {
            if let Some((after, after_op)) = first_completed_after {
                if after_op.process != op.process && after_op.completed_us < op.invoked_us {
                    report(o, after, line, "acknowledged before it was invoked");
                }
            }
            let acked = op.outcome == Outcome::Ok;
            if acked && first_completed_after.is_none_or(|(_, first)| op.completed_us < first.completed_us) {
                first_completed_after = Some((line, op));
            }
        }
    }
}
