//! retrylab-check: invariant checkers over recorded histories and stored state, in Jepsen's vocabulary.
//!
//! The harness records what each client operation did (invocation, completion,
//! outcome) while a simulated run injects faults, then reads everything back at
//! quiescence and inspects every stored share. The checkers here turn that record
//! into a list of [`Violation`]s; an empty list means the run kept every
//! invariant.
//!
//! Outcomes follow Jepsen: [`Outcome::Ok`] definitely took effect,
//! [`Outcome::Fail`] definitely did not, and [`Outcome::Info`] is indeterminate
//! (a timeout, a dropped connection: the operation may or may not have landed).
//! Indeterminate operations are what make retry policies interesting, so every
//! checker accepts both fates for them.
//!
//! Everything is a pure function of its arguments: no clock, no randomness, no
//! hash-ordered collections, so the same history always yields the same
//! violations in the same order. No input panics; a history the harness got
//! wrong (an append inside an overwrite history, an ok read with no value) is
//! reported as [`invariant::MALFORMED_HISTORY`] rather than trusted.
//!
//! - [`mutable`]: the history types for one mutable file and the two mutable
//!   checkers, [`check_mutable_overwrites`] and [`check_mutable_appends`].
//! - [`immutable`]: [`check_immutable`], for immutable uploads read back at
//!   quiescence.
//! - [`kv`]: [`check_kv`], for S3-level histories (GET, PUT, DELETE, LIST on
//!   many keys) under strong or eventual consistency.

pub mod immutable;
pub mod kv;
pub mod mutable;

mod append;
mod overwrite;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use append::check_mutable_appends;
pub use immutable::{check_immutable, ImmutableUpload};
pub use kv::{check_kv, FinalRead as KvFinalRead, KvHistory, KvOp, KvOpKind, Observed, ReadConsistency};
pub use mutable::{
    check_final_read_at_rest, check_versions_at_rest, FileWriters, FinalRead, MutableOp, MutableOpKind, ReadValue,
    ShareCheck, SharesAtRest,
};
pub use overwrite::check_mutable_overwrites;

/// Jepsen's three outcomes of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// The operation definitely took effect (the client got a success).
    Ok,
    /// The operation definitely did not take effect.
    Fail,
    /// The operation may or may not have taken effect.
    Info,
}

/// One broken invariant, with enough detail to find the offending operations.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Violation {
    /// Stable kebab-case name, one of [`invariant::ALL`].
    pub invariant: &'static str,
    /// Human-readable evidence: operation ids, values, seqnums, errors.
    pub detail: String,
}

impl Violation {
    pub(crate) fn new(invariant: &'static str, detail: impl Into<String>) -> Self {
        Violation { invariant, detail: detail.into() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

/// The stable names of every invariant, so reports and tests never spell them by hand.
pub mod invariant {
    /// Overwrites: the final read lost the newest acknowledged write (or could not read at all).
    pub const ACKNOWLEDGED_WRITE_LOST: &str = "acknowledged-write-lost";
    /// Overwrites: a read observed the value of a write that definitely failed.
    pub const FAILED_WRITE_VISIBLE: &str = "failed-write-visible";
    /// Mutable files: reads went back in seqnum, or the final read is behind an acknowledged write.
    pub const SEQNUM_DECREASED: &str = "seqnum-decreased";
    /// Mutable files: a read during the run returned a version older than a
    /// mutation acknowledged before the read began (Jepsen's register).
    pub const STALE_READ: &str = "stale-read";
    /// Mutable files: at quiescence, with no faults, a read failed although
    /// the shares at rest make a version recoverable.
    pub const READ_FAILED_AT_QUIESCENCE: &str = "read-failed-at-quiescence";
    /// Storage servers: after quiescence a server still runs a request
    /// handler (it hangs) or holds a per-index lock no handler owns.
    pub const SERVER_NOT_IDLE: &str = "server-not-idle";
    /// Mutable files: one seqnum named two different contents.
    pub const SEQNUM_REUSED: &str = "seqnum-reused";
    /// Mutable files: a stored share failed verification at quiescence.
    pub const CORRUPT_SHARE_AT_REST: &str = "corrupt-share-at-rest";
    /// Mutable files: a read observed a value (or line) that no operation ever wrote.
    pub const UNWRITTEN_VALUE_VISIBLE: &str = "unwritten-value-visible";
    /// Appends: some line appears more than once in one read.
    pub const APPEND_DUPLICATED: &str = "append-duplicated";
    /// Appends: an acknowledged append is missing from the final contents.
    pub const ACKNOWLEDGED_APPEND_LOST: &str = "acknowledged-append-lost";
    /// Appends: a read observed the line of an append that definitely failed.
    pub const FAILED_APPEND_VISIBLE: &str = "failed-append-visible";
    /// Appends: lines appear in a different order from the one they were appended in.
    pub const APPENDS_OUT_OF_ORDER: &str = "appends-out-of-order";
    /// Immutable files: an acknowledged upload cannot be downloaded at quiescence.
    pub const ACKNOWLEDGED_UPLOAD_UNREADABLE: &str = "acknowledged-upload-unreadable";
    /// Immutable files: an acknowledged upload downloads with the wrong digest.
    pub const ACKNOWLEDGED_UPLOAD_CORRUPT: &str = "acknowledged-upload-corrupt";
    /// The history itself is inconsistent, so part of it could not be checked.
    /// This names a harness bug, not a system bug, but it must not pass silently.
    pub const MALFORMED_HISTORY: &str = "malformed-history";

    // S3-level histories (`kv`): a register with delete per key, and LIST.
    /// S3 keys: a GET or final read returned a value no write to that key carried.
    pub const UNWRITTEN_OBJECT_VISIBLE: &str = "unwritten-object-visible";
    /// S3 keys: a GET or final read returned the value of a PUT that definitely failed.
    pub const FAILED_PUT_VISIBLE: &str = "failed-put-visible";
    /// S3 keys: a GET returned a version older than the consistency model allows.
    pub const STALE_GET: &str = "stale-get";
    /// S3 keys: a LIST lacked a key that certainly existed throughout it.
    pub const LIST_MISSING_KEY: &str = "list-missing-key";
    /// S3 keys: a LIST named a key that was never possibly present during it (or outside its prefix).
    pub const LIST_PHANTOM_KEY: &str = "list-phantom-key";
    /// S3 keys: a LIST named a key more than once.
    pub const LIST_DUPLICATE_KEY: &str = "list-duplicate-key";
    /// S3 keys: a LIST's keys were not in ascending order.
    pub const LIST_OUT_OF_ORDER: &str = "list-out-of-order";
    /// S3 keys: at quiescence a key held neither the newest acknowledged write nor a later indeterminate one.
    pub const FINAL_READ_DISAGREES: &str = "final-read-disagrees";

    /// Every name above, in declaration order.
    pub const ALL: &[&str] = &[
        ACKNOWLEDGED_WRITE_LOST,
        FAILED_WRITE_VISIBLE,
        SEQNUM_DECREASED,
        STALE_READ,
        READ_FAILED_AT_QUIESCENCE,
        SERVER_NOT_IDLE,
        SEQNUM_REUSED,
        CORRUPT_SHARE_AT_REST,
        UNWRITTEN_VALUE_VISIBLE,
        APPEND_DUPLICATED,
        ACKNOWLEDGED_APPEND_LOST,
        FAILED_APPEND_VISIBLE,
        APPENDS_OUT_OF_ORDER,
        ACKNOWLEDGED_UPLOAD_UNREADABLE,
        ACKNOWLEDGED_UPLOAD_CORRUPT,
        MALFORMED_HISTORY,
        UNWRITTEN_OBJECT_VISIBLE,
        FAILED_PUT_VISIBLE,
        STALE_GET,
        LIST_MISSING_KEY,
        LIST_PHANTOM_KEY,
        LIST_DUPLICATE_KEY,
        LIST_OUT_OF_ORDER,
        FINAL_READ_DISAGREES,
    ];
}

/// How many violations each invariant has, for a report table.
///
/// Invariants with no violations are absent, so an empty map means a clean run.
pub fn summarize(violations: &[Violation]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for v in violations {
        *counts.entry(v.invariant).or_insert(0_usize) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarize_counts_per_invariant_and_omits_clean_ones() {
        let vs = vec![
            Violation::new(invariant::SEQNUM_REUSED, "a"),
            Violation::new(invariant::CORRUPT_SHARE_AT_REST, "b"),
            Violation::new(invariant::SEQNUM_REUSED, "c"),
        ];
        let s = summarize(&vs);
        assert_eq!(s.len(), 2);
        assert_eq!(s.get(invariant::SEQNUM_REUSED), Some(&2));
        assert_eq!(s.get(invariant::CORRUPT_SHARE_AT_REST), Some(&1));
        assert!(summarize(&[]).is_empty());
    }

    #[test]
    fn invariant_names_are_distinct_kebab_case() {
        let set: std::collections::BTreeSet<_> = invariant::ALL.iter().collect();
        assert_eq!(set.len(), invariant::ALL.len());
        for name in invariant::ALL {
            assert!(!name.is_empty());
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{name}");
            assert!(!name.starts_with('-') && !name.ends_with('-'), "{name}");
        }
    }

    #[test]
    fn violation_displays_name_then_detail() {
        let v = Violation::new(invariant::SEQNUM_REUSED, "seqnum 3");
        assert_eq!(v.to_string(), "seqnum-reused: seqnum 3");
    }
}
