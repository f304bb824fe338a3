//! Property tests: histories from an ideal single-writer file never violate anything, and each breakage is named.
//!
//! A tiny ideal model (a register for overwrites, a line list for appends)
//! decides for each mutation whether it landed, then gives it an outcome
//! consistent with that: landed ops are Ok or Info, lost ops are Fail or Info.
//! Reads return the model's current version. Whatever the mix, the checkers
//! must stay silent; then one targeted mutation of the record must make the
//! matching invariant fire.

use proptest::prelude::*;
use retrylab_check::{
    check_immutable, check_mutable_appends, check_mutable_overwrites, invariant, summarize, FinalRead, ImmutableUpload,
    MutableOp, MutableOpKind, Outcome, ReadValue, ShareCheck, SharesAtRest, Violation,
};

/// One step of the single writer.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// A write or append: whether it landed, whether the client learned the
    /// outcome (else Info), and whether an Ok reports its seqnum.
    Mutate { landed: bool, indeterminate: bool, report_seqnum: bool },
    /// A read: Ok (when there is something to read) or a transient failure.
    Read { transient_failure: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (any::<bool>(), prop::bool::weighted(0.3), any::<bool>()).prop_map(
            |(landed, indeterminate, report_seqnum)| Step::Mutate { landed, indeterminate, report_seqnum }
        ),
        2 => prop::bool::weighted(0.2).prop_map(|transient_failure| Step::Read { transient_failure }),
    ]
}

/// A run as the harness would hand it to a checker.
#[derive(Clone, Debug)]
struct Run {
    history: Vec<MutableOp>,
    final_read: FinalRead,
    at_rest: SharesAtRest,
}

impl Run {
    fn next_id(&self) -> u64 {
        self.history.len() as u64 + 1
    }
    fn push(&mut self, kind: MutableOpKind, outcome: Outcome, seqnum: Option<u64>) {
        let id = self.next_id();
        self.history.push(MutableOp {
            id,
            process: 0,
            kind,
            outcome,
            invoked_us: id * 100,
            // Varying latency; ops stay sequential since each takes < 100 ms.
            completed_us: id * 100 + (id * 37) % 90,
            seqnum,
        });
    }
    fn final_value(&self) -> Option<&ReadValue> {
        match &self.final_read {
            FinalRead::Value(v) => Some(v),
            FinalRead::Error { .. } => None,
        }
    }
}

fn outcome_of(landed: bool, indeterminate: bool) -> Outcome {
    match (landed, indeterminate) {
        (_, true) => Outcome::Info,
        (true, false) => Outcome::Ok,
        (false, false) => Outcome::Fail,
    }
}

fn shares(seqnum: u64) -> SharesAtRest {
    SharesAtRest {
        shares: (0..10).map(|i| ShareCheck::Valid { server: i % 4, share: i, seqnum, root_hash: [0; 32] }).collect(),
        shares_needed: 0,
    }
}

/// An ideal register: starts with no file (no shares); each landed write
/// publishes the next seqnum with value = its op id.
fn overwrite_run(steps: &[Step]) -> Run {
    let mut run = Run {
        history: Vec::new(),
        final_read: FinalRead::Error { status: 410, error: "NoSharesError".to_string() },
        at_rest: SharesAtRest::default(),
    };
    let mut current: Option<ReadValue> = None;
    for s in steps {
        match *s {
            Step::Mutate { landed, indeterminate, report_seqnum } => {
                let value = run.next_id();
                let mut seqnum = None;
                if landed {
                    let next = current.as_ref().map_or(1, |c| c.seqnum + 1);
                    current = Some(ReadValue { seqnum: next, values: vec![value] });
                    seqnum = Some(next);
                }
                let outcome = outcome_of(landed, indeterminate);
                let reported = seqnum.filter(|_| report_seqnum && outcome == Outcome::Ok);
                run.push(MutableOpKind::Write { value }, outcome, reported);
            }
            Step::Read { transient_failure } => match (&current, transient_failure) {
                (Some(c), false) => run.push(MutableOpKind::Read { observed: Some(c.clone()) }, Outcome::Ok, None),
                // Nothing to read yet is a definite NoShares failure.
                (None, false) => run.push(MutableOpKind::Read { observed: None }, Outcome::Fail, None),
                (_, true) => run.push(MutableOpKind::Read { observed: None }, Outcome::Info, None),
            },
        }
    }
    if let Some(c) = current {
        run.at_rest = shares(c.seqnum);
        run.final_read = FinalRead::Value(c);
    }
    run
}

/// An ideal line list: the file is created empty at seqnum 1; each landed
/// append publishes the next seqnum with its line added. Lines are 1, 2, 3, ...
/// in append order, whether or not they land.
fn append_run(steps: &[Step]) -> Run {
    let mut run = Run {
        history: Vec::new(),
        final_read: FinalRead::Error { status: 500, error: "unset".to_string() },
        at_rest: SharesAtRest::default(),
    };
    let mut current = ReadValue { seqnum: 1, values: Vec::new() };
    let mut next_line = 1;
    for s in steps {
        match *s {
            Step::Mutate { landed, indeterminate, report_seqnum } => {
                let value = next_line;
                next_line += 1;
                let mut seqnum = None;
                if landed {
                    current.seqnum += 1;
                    current.values.push(value);
                    seqnum = Some(current.seqnum);
                }
                let outcome = outcome_of(landed, indeterminate);
                let reported = seqnum.filter(|_| report_seqnum && outcome == Outcome::Ok);
                run.push(MutableOpKind::Append { value }, outcome, reported);
            }
            Step::Read { transient_failure } => {
                if transient_failure {
                    run.push(MutableOpKind::Read { observed: None }, Outcome::Fail, None);
                } else {
                    let observed = Some(current.clone());
                    run.push(MutableOpKind::Read { observed }, Outcome::Ok, None);
                }
            }
        }
    }
    run.at_rest = shares(current.seqnum);
    run.final_read = FinalRead::Value(current);
    run
}

/// A run guaranteed to have acknowledged mutations to break: two landed Ok
/// mutations with known seqnums first, then the random steps.
fn with_acked_prefix(steps: &[Step]) -> Vec<Step> {
    let acked = Step::Mutate { landed: true, indeterminate: false, report_seqnum: true };
    let mut all = vec![acked, acked];
    all.extend_from_slice(steps);
    all
}

fn names(vs: &[Violation]) -> Vec<&'static str> {
    vs.iter().map(|v| v.invariant).collect()
}

/// How a mutation tampers with a clean run, and what it must trigger.
#[derive(Clone, Copy, Debug)]
enum Breakage {
    LoseAcknowledged,
    FailedVisible,
    SeqnumDecreased,
    SeqnumReused,
    CorruptShare,
    Duplicate,
    OutOfOrder,
    UnreadableAtEnd,
}

fn overwrite_breakage() -> impl Strategy<Value = Breakage> {
    prop_oneof![
        Just(Breakage::LoseAcknowledged),
        Just(Breakage::FailedVisible),
        Just(Breakage::SeqnumDecreased),
        Just(Breakage::SeqnumReused),
        Just(Breakage::CorruptShare),
        Just(Breakage::UnreadableAtEnd),
    ]
}

fn append_breakage() -> impl Strategy<Value = Breakage> {
    prop_oneof![
        Just(Breakage::LoseAcknowledged),
        Just(Breakage::FailedVisible),
        Just(Breakage::SeqnumDecreased),
        Just(Breakage::SeqnumReused),
        Just(Breakage::CorruptShare),
        Just(Breakage::Duplicate),
        Just(Breakage::OutOfOrder),
        Just(Breakage::UnreadableAtEnd),
    ]
}

/// A read op appended at the very end of the history (before the final read).
fn push_read(run: &mut Run, read: ReadValue) {
    run.push(MutableOpKind::Read { observed: Some(read) }, Outcome::Ok, None);
}

/// Tampers with a run built from [`with_acked_prefix`]; returns the invariant
/// that must now be reported.
fn break_overwrites(run: &mut Run, how: Breakage) -> &'static str {
    let last = run.final_value().cloned().unwrap_or(ReadValue { seqnum: 0, values: vec![] });
    match how {
        // Claim one more write was acknowledged though the file never got it.
        Breakage::LoseAcknowledged => {
            let value = run.next_id();
            run.push(MutableOpKind::Write { value }, Outcome::Ok, None);
            invariant::ACKNOWLEDGED_WRITE_LOST
        }
        // A definitely failed write whose value a later read nonetheless saw.
        Breakage::FailedVisible => {
            let value = run.next_id();
            run.push(MutableOpKind::Write { value }, Outcome::Fail, None);
            push_read(run, ReadValue { seqnum: last.seqnum + 1, values: vec![value] });
            invariant::FAILED_WRITE_VISIBLE
        }
        // A newer version, acknowledged and read, that the final read is behind.
        Breakage::SeqnumDecreased => {
            let value = run.next_id();
            run.push(MutableOpKind::Write { value }, Outcome::Ok, Some(last.seqnum + 1));
            push_read(run, ReadValue { seqnum: last.seqnum + 1, values: vec![value] });
            invariant::SEQNUM_DECREASED
        }
        // The final read's seqnum, seen earlier with the first write's value.
        Breakage::SeqnumReused => {
            let other = if last.values == [1] { 2 } else { 1 };
            push_read(run, ReadValue { seqnum: last.seqnum, values: vec![other] });
            invariant::SEQNUM_REUSED
        }
        Breakage::CorruptShare => {
            run.at_rest.shares.push(ShareCheck::Corrupt {
                server: 2,
                share: 5,
                reason: "root hash mismatch".to_string(),
            });
            invariant::CORRUPT_SHARE_AT_REST
        }
        Breakage::UnreadableAtEnd => {
            run.final_read = FinalRead::Error { status: 410, error: "NotEnoughSharesError".to_string() };
            invariant::ACKNOWLEDGED_WRITE_LOST
        }
        Breakage::Duplicate | Breakage::OutOfOrder => unreachable!("not an overwrite breakage"),
    }
}

/// Tampers with an append run built from [`with_acked_prefix`] (so lines 1
/// and 2 are acknowledged and in the final contents); returns the invariant
/// that must now be reported.
fn break_appends(run: &mut Run, how: Breakage) -> &'static str {
    let Some(last) = run.final_value().cloned() else { unreachable!("append runs always end readable") };
    let next_line = run.history.iter().filter(|op| matches!(op.kind, MutableOpKind::Append { .. })).count() as u64 + 1;
    let set_final = |run: &mut Run, values: Vec<u64>| {
        run.final_read = FinalRead::Value(ReadValue { seqnum: last.seqnum, values });
    };
    match how {
        Breakage::LoseAcknowledged => {
            set_final(run, last.values.iter().copied().filter(|v| *v != 1).collect());
            invariant::ACKNOWLEDGED_APPEND_LOST
        }
        Breakage::FailedVisible => {
            run.push(MutableOpKind::Append { value: next_line }, Outcome::Fail, None);
            let mut values = last.values.clone();
            values.push(next_line);
            set_final(run, values);
            invariant::FAILED_APPEND_VISIBLE
        }
        // A newer version, acknowledged and read, that the final read is behind.
        Breakage::SeqnumDecreased => {
            let value = run.next_id();
            run.push(MutableOpKind::Append { value }, Outcome::Ok, Some(last.seqnum + 1));
            let mut values = last.values;
            values.push(value);
            push_read(run, ReadValue { seqnum: last.seqnum + 1, values });
            invariant::SEQNUM_DECREASED
        }
        Breakage::SeqnumReused => {
            push_read(run, ReadValue { seqnum: last.seqnum, values: vec![1] });
            invariant::SEQNUM_REUSED
        }
        Breakage::CorruptShare => {
            run.at_rest.shares.push(ShareCheck::Corrupt {
                server: 0,
                share: 9,
                reason: "signature does not verify".to_string(),
            });
            invariant::CORRUPT_SHARE_AT_REST
        }
        Breakage::Duplicate => {
            let mut values = last.values.clone();
            values.push(1);
            set_final(run, values);
            invariant::APPEND_DUPLICATED
        }
        Breakage::OutOfOrder => {
            let mut values = last.values.clone();
            values.swap(0, 1);
            set_final(run, values);
            invariant::APPENDS_OUT_OF_ORDER
        }
        Breakage::UnreadableAtEnd => {
            run.final_read = FinalRead::Error { status: 500, error: "UnrecoverableFileError".to_string() };
            invariant::ACKNOWLEDGED_APPEND_LOST
        }
    }
}

include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/proptest_seed.rs"));

proptest! {
    #![proptest_config(ProptestConfig { rng_seed: proptest_rng_seed(), cases: 512, failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proptest-regressions/check-properties.txt")))), ..ProptestConfig::default() })]

    #[test]
    fn ideal_overwrite_histories_are_clean(steps in prop::collection::vec(step(), 0..60)) {
        let run = overwrite_run(&steps);
        let vs = check_mutable_overwrites(&run.history, &run.final_read, &run.at_rest);
        prop_assert!(vs.is_empty(), "{vs:#?}\n{run:#?}");
    }

    #[test]
    fn ideal_append_histories_are_clean(steps in prop::collection::vec(step(), 0..60)) {
        let run = append_run(&steps);
        let vs = check_mutable_appends(&run.history, &run.final_read, &run.at_rest);
        prop_assert!(vs.is_empty(), "{vs:#?}\n{run:#?}");
    }

    #[test]
    fn each_overwrite_breakage_is_named(
        steps in prop::collection::vec(step(), 0..40),
        how in overwrite_breakage(),
    ) {
        let mut run = overwrite_run(&with_acked_prefix(&steps));
        let expected = break_overwrites(&mut run, how);
        let vs = check_mutable_overwrites(&run.history, &run.final_read, &run.at_rest);
        prop_assert!(names(&vs).contains(&expected), "{how:?}: expected {expected} in {vs:#?}\n{run:#?}");
    }

    #[test]
    fn each_append_breakage_is_named(
        steps in prop::collection::vec(step(), 0..40),
        how in append_breakage(),
    ) {
        let mut run = append_run(&with_acked_prefix(&steps));
        let expected = break_appends(&mut run, how);
        let vs = check_mutable_appends(&run.history, &run.final_read, &run.at_rest);
        prop_assert!(names(&vs).contains(&expected), "{how:?}: expected {expected} in {vs:#?}\n{run:#?}");
    }

    #[test]
    fn acknowledged_uploads_that_download_intact_are_clean_and_a_flipped_byte_is_corrupt(
        uploads in prop::collection::vec((0_u8..3, any::<[u8; 32]>(), any::<bool>()), 1..20),
        victim in any::<prop::sample::Index>(),
        byte in 0_usize..32,
    ) {
        let mut all: Vec<ImmutableUpload> = uploads
            .iter()
            .enumerate()
            .map(|(i, &(o, digest, fetched))| {
                let outcome = [Outcome::Ok, Outcome::Fail, Outcome::Info][o as usize];
                // Only Ok uploads are promised; others may download anything or nothing.
                let downloaded = match outcome {
                    Outcome::Ok => Some(Ok(digest)),
                    _ if fetched => Some(Err("NoSharesError".to_string())),
                    _ => None,
                };
                ImmutableUpload { id: i as u64, outcome, expected_digest: digest, downloaded }
            })
            .collect();
        let vs = check_immutable(&all);
        prop_assert!(vs.is_empty(), "{vs:#?}");

        let Some(first_ok) = all.iter().position(|u| u.outcome == Outcome::Ok) else {
            return Ok(());
        };
        let acked: Vec<usize> = all.iter().enumerate().filter(|(_, u)| u.outcome == Outcome::Ok).map(|(i, _)| i).collect();
        let target = acked.get(victim.index(acked.len())).copied().unwrap_or(first_ok);
        if let Some(Ok(d)) = &mut all[target].downloaded {
            d[byte] ^= 0x01;
        }
        let vs = check_immutable(&all);
        prop_assert_eq!(names(&vs), vec![invariant::ACKNOWLEDGED_UPLOAD_CORRUPT]);
    }
}

/// Cycles through every kind of step deterministically, long enough to cross
/// every combination of neighbours several times.
fn long_steps() -> Vec<Step> {
    (0..600_u32)
        .map(|i| match i % 11 {
            0 | 4 | 8 => Step::Read { transient_failure: i % 3 == 0 },
            k => Step::Mutate {
                landed: (i / 11) % 2 == 0 || k % 2 == 0,
                indeterminate: k % 3 == 0,
                report_seqnum: k % 4 != 1,
            },
        })
        .collect()
}

#[test]
fn a_long_clean_overwrite_history_has_no_violations() {
    let run = overwrite_run(&long_steps());
    assert!(run.history.iter().any(|op| op.outcome == Outcome::Info));
    assert!(run.history.iter().any(|op| op.outcome == Outcome::Fail));
    let vs = check_mutable_overwrites(&run.history, &run.final_read, &run.at_rest);
    assert!(summarize(&vs).is_empty(), "{vs:#?}");
}

#[test]
fn a_long_clean_append_history_has_no_violations() {
    let run = append_run(&long_steps());
    let vs = check_mutable_appends(&run.history, &run.final_read, &run.at_rest);
    assert!(summarize(&vs).is_empty(), "{vs:#?}");
}

#[test]
fn the_model_is_not_trivially_clean() {
    // Guard against a model so timid the property tests prove nothing: the
    // long run must acknowledge, fail and leave indeterminate both kinds.
    let run = append_run(&long_steps());
    let count = |o: Outcome| {
        run.history.iter().filter(|op| op.outcome == o && matches!(op.kind, MutableOpKind::Append { .. })).count()
    };
    assert!(count(Outcome::Ok) > 50 && count(Outcome::Fail) > 10 && count(Outcome::Info) > 50);
    let Some(v) = run.final_value() else { panic!("append runs end readable") };
    assert!(v.values.len() > 100);
}

fn arbitrary_op() -> impl Strategy<Value = MutableOp> {
    let kind = prop_oneof![
        (0_u64..8).prop_map(|value| MutableOpKind::Write { value }),
        (0_u64..8).prop_map(|value| MutableOpKind::Append { value }),
        prop::option::of((0_u64..5, prop::collection::vec(0_u64..8, 0..5)))
            .prop_map(|o| { MutableOpKind::Read { observed: o.map(|(seqnum, values)| ReadValue { seqnum, values }) } }),
    ];
    let outcome = prop_oneof![Just(Outcome::Ok), Just(Outcome::Fail), Just(Outcome::Info)];
    (0_u64..10, kind, outcome, any::<u64>(), any::<u64>(), prop::option::of(0_u64..5)).prop_map(
        |(id, kind, outcome, invoked_us, completed_us, seqnum)| MutableOp {
            id,
            process: 0,
            kind,
            outcome,
            invoked_us,
            completed_us,
            seqnum,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { rng_seed: proptest_rng_seed(), ..ProptestConfig::default() })]
    /// Garbage in, violations out: never a panic, and the same answer twice.
    #[test]
    fn arbitrary_input_never_panics_and_is_deterministic(
        history in prop::collection::vec(arbitrary_op(), 0..20),
        final_seq in prop::option::of((any::<u64>(), prop::collection::vec(any::<u64>(), 0..4))),
        corrupt in prop::collection::vec((any::<u32>(), any::<u32>(), any::<u64>(), any::<bool>()), 0..4),
    ) {
        let final_read = match final_seq {
            Some((seqnum, values)) => FinalRead::Value(ReadValue { seqnum, values }),
            None => FinalRead::Error { status: 0, error: String::new() },
        };
        let at_rest = SharesAtRest {
            shares: corrupt
                .into_iter()
                .map(|(server, share, seqnum, bad)| if bad {
                    ShareCheck::Corrupt { server, share, reason: String::new() }
                } else {
                    ShareCheck::Valid { server, share, seqnum, root_hash: [0; 32] }
                })
                .collect(),
            shares_needed: 0,
        };
        let a = check_mutable_overwrites(&history, &final_read, &at_rest);
        prop_assert_eq!(&a, &check_mutable_overwrites(&history, &final_read, &at_rest));
        let b = check_mutable_appends(&history, &final_read, &at_rest);
        prop_assert_eq!(&b, &check_mutable_appends(&history, &final_read, &at_rest));
        for v in a.iter().chain(&b) {
            prop_assert!(invariant::ALL.contains(&v.invariant), "{v}");
        }
    }
}
