//! The checker for whole-file overwrites of one mutable file by one writer.

use std::collections::BTreeMap;

use crate::mutable::{
    check_at_rest, check_failed_visible, check_reads_fresh, check_seqnum_order, check_seqnum_reuse, check_unwritten,
    check_well_formed, in_invocation_order, mutations, observations, FinalRead, MutableOp, MutableOpKind, Mutation,
    SharesAtRest,
};
use crate::{invariant, Outcome, Violation};

/// Checks a single-writer overwrite history against the final read and the shares at rest.
///
/// Invariants: `acknowledged-write-lost`, `failed-write-visible`,
/// `seqnum-decreased`, `stale-read`, `seqnum-reused`, `corrupt-share-at-rest`, plus
/// `unwritten-value-visible` (a read decoded a value no write carried) and
/// `malformed-history`. If the file is created with initial contents, the
/// harness must record the creation as a write, or reads of those contents are
/// reported as unwritten.
pub fn check_mutable_overwrites(
    history: &[MutableOp],
    final_read: &FinalRead,
    at_rest: &SharesAtRest,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let ops = in_invocation_order(history);
    check_well_formed(&ops, "an append", |k| matches!(k, MutableOpKind::Append { .. }), &mut out);
    let writes = mutations(&ops, |k| match k {
        MutableOpKind::Write { value } => Some(*value),
        _ => None,
    });
    let obs = observations(&ops, final_read);

    if !at_rest.excuses_failed_read(final_read) {
        check_acknowledged_write_lost(&writes, final_read, &mut out);
    }
    check_failed_visible(invariant::FAILED_WRITE_VISIBLE, "write", &writes, &obs, &mut out);
    check_unwritten(&writes, &obs, &mut out);
    check_seqnum_order(&writes, &obs, &mut out);
    // A read covers a write when it returned that write's value or a later
    // one (the writer's writes are sequential: invocation order is their order).
    let position: BTreeMap<u64, usize> = writes.iter().enumerate().map(|(i, w)| (w.value, i)).collect();
    let covers =
        |read: &crate::ReadValue, write: &Mutation<'_>| match (read.values.as_slice(), position.get(&write.value)) {
            ([v], Some(&needed)) => position.get(v).is_some_and(|&seen| seen >= needed),
            _ => false,
        };
    check_reads_fresh(&writes, &obs, covers, &mut out);
    // An acknowledged overwrite with a known seqnum names its whole contents.
    let known = writes
        .iter()
        .filter(|w| w.op.outcome == Outcome::Ok)
        .filter_map(|w| w.op.seqnum.map(|s| (s, vec![w.value], format!("write {}", w.op.id))))
        .collect();
    check_seqnum_reuse(known, &obs, &mut out);
    check_at_rest(at_rest, &mut out);
    out
}

/// At quiescence the file holds the newest acknowledged write, or a later
/// indeterminate one (which may have landed after it). Earlier Info writes are
/// not acceptable: landing late they carry a lower seqnum and must lose.
fn check_acknowledged_write_lost(writes: &[Mutation<'_>], final_read: &FinalRead, out: &mut Vec<Violation>) {
    let Some(newest_ok) = writes.iter().rposition(|w| w.op.outcome == Outcome::Ok) else {
        // Nothing was acknowledged, so nothing can be lost: an error (no
        // shares, or none recoverable) or an Info write's value are both
        // consistent. A failed or unwritten value is caught by other checks.
        return;
    };
    let Some(acked) = writes.get(newest_ok) else {
        return;
    };
    let later_info: Vec<u64> = writes
        .iter()
        .skip(newest_ok.saturating_add(1))
        .filter(|w| w.op.outcome == Outcome::Info)
        .map(|w| w.value)
        .collect();
    let expected = if later_info.is_empty() {
        format!("value {} of write {}", acked.value, acked.op.id)
    } else {
        format!(
            "value {} of write {} or one of the later indeterminate values {later_info:?}",
            acked.value, acked.op.id
        )
    };
    match final_read {
        FinalRead::Error { status, error } => out.push(Violation::new(
            invariant::ACKNOWLEDGED_WRITE_LOST,
            format!("the final read failed with {status} {error}; expected {expected}"),
        )),
        FinalRead::Value(read) => {
            let fine = match read.values.as_slice() {
                [v] => *v == acked.value || later_info.contains(v),
                _ => false,
            };
            if !fine {
                out.push(Violation::new(
                    invariant::ACKNOWLEDGED_WRITE_LOST,
                    format!("the final read returned {:?} at seqnum {}; expected {expected}", read.values, read.seqnum),
                ));
            }
        }
    }
}
