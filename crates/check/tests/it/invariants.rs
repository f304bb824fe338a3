//! One minimal violating history per invariant, each next to a close variant that is fine.
//!
//! Every "bad" test asserts the exact invariant name is reported, and every
//! "fine" test asserts nothing at all is, so a checker that goes silent or
//! starts crying wolf fails here.

use retrylab_check::{
    check_final_read_at_rest, check_immutable, check_mutable_appends, check_mutable_overwrites, check_versions_at_rest,
    invariant, summarize, FileWriters, FinalRead, ImmutableUpload, MutableOp, MutableOpKind, Outcome, ReadValue,
    ShareCheck, SharesAtRest, Violation,
};

use Outcome::{Fail, Info, Ok};

/// Builds a sequential single-writer history: ids 1, 2, 3, ... and each op
/// completing before the next is invoked.
#[derive(Default)]
struct History {
    ops: Vec<MutableOp>,
}

impl History {
    fn push(&mut self, kind: MutableOpKind, outcome: Outcome, seqnum: Option<u64>) -> &mut Self {
        let id = self.ops.len() as u64 + 1;
        self.ops.push(MutableOp {
            id,
            process: 0,
            kind,
            outcome,
            invoked_us: id * 10,
            completed_us: id * 10 + 5,
            seqnum,
        });
        self
    }
    fn write(&mut self, value: u64, outcome: Outcome, seqnum: Option<u64>) -> &mut Self {
        self.push(MutableOpKind::Write { value }, outcome, seqnum)
    }
    fn append(&mut self, value: u64, outcome: Outcome, seqnum: Option<u64>) -> &mut Self {
        self.push(MutableOpKind::Append { value }, outcome, seqnum)
    }
    fn read(&mut self, seqnum: u64, values: &[u64]) -> &mut Self {
        let observed = Some(ReadValue { seqnum, values: values.to_vec() });
        self.push(MutableOpKind::Read { observed }, Ok, None)
    }
    fn failed_read(&mut self, outcome: Outcome) -> &mut Self {
        self.push(MutableOpKind::Read { observed: None }, outcome, None)
    }
}

fn value(seqnum: u64, values: &[u64]) -> FinalRead {
    FinalRead::Value(ReadValue { seqnum, values: values.to_vec() })
}

fn error(status: u16, name: &str) -> FinalRead {
    FinalRead::Error { status, error: name.to_string() }
}

/// Ten verified shares at one seqnum: a healthy file at rest.
fn healthy(seqnum: u64) -> SharesAtRest {
    SharesAtRest {
        shares: (0..10).map(|i| ShareCheck::Valid { server: i, share: i, seqnum, root_hash: [0; 32] }).collect(),
        shares_needed: 0,
    }
}

fn names(vs: &[Violation]) -> Vec<&'static str> {
    vs.iter().map(|v| v.invariant).collect()
}

#[track_caller]
fn assert_exactly(vs: &[Violation], expected: &[&str]) {
    assert_eq!(names(vs), expected, "{vs:#?}");
}

#[track_caller]
fn assert_reports(vs: &[Violation], name: &str) {
    assert!(names(vs).contains(&name), "expected {name} in {vs:#?}");
}

#[track_caller]
fn assert_clean(vs: &[Violation]) {
    assert!(vs.is_empty(), "expected no violations, got {vs:#?}");
}

// ---- overwrites: acknowledged-write-lost ----

#[test]
fn final_read_of_an_older_acknowledged_write_loses_the_newer_one() {
    let mut h = History::default();
    h.write(1, Ok, Some(1)).write(2, Ok, None);
    let vs = check_mutable_overwrites(&h.ops, &value(1, &[1]), &healthy(1));
    assert_exactly(&vs, &[invariant::ACKNOWLEDGED_WRITE_LOST]);
}

#[test]
fn final_read_of_the_newest_acknowledged_write_is_fine() {
    let mut h = History::default();
    h.write(1, Ok, Some(1)).write(2, Ok, None);
    assert_clean(&check_mutable_overwrites(&h.ops, &value(2, &[2]), &healthy(2)));
}

#[test]
fn a_later_info_write_that_landed_is_fine() {
    let mut h = History::default();
    h.write(1, Ok, Some(1)).write(2, Info, None);
    assert_clean(&check_mutable_overwrites(&h.ops, &value(2, &[2]), &healthy(2)));
}

#[test]
fn a_later_info_write_that_did_not_land_is_fine() {
    let mut h = History::default();
    h.write(1, Ok, Some(1)).write(2, Info, None);
    assert_clean(&check_mutable_overwrites(&h.ops, &value(1, &[1]), &healthy(1)));
}

#[test]
fn an_earlier_info_write_cannot_excuse_losing_a_later_acknowledged_one() {
    let mut h = History::default();
    h.write(1, Info, None).write(2, Ok, None);
    let vs = check_mutable_overwrites(&h.ops, &value(1, &[1]), &healthy(1));
    assert_exactly(&vs, &[invariant::ACKNOWLEDGED_WRITE_LOST]);
}

#[test]
fn an_unreadable_file_after_an_acknowledged_write_is_a_lost_write_naming_the_error() {
    let mut h = History::default();
    h.write(1, Ok, Some(1));
    let vs = check_mutable_overwrites(&h.ops, &error(410, "NotEnoughSharesError"), &healthy(1));
    assert_exactly(&vs, &[invariant::ACKNOWLEDGED_WRITE_LOST]);
    assert!(vs[0].detail.contains("410 NotEnoughSharesError"), "{}", vs[0].detail);
}

#[test]
fn no_shares_after_only_failed_writes_is_fine() {
    let mut h = History::default();
    h.write(1, Fail, None).write(2, Fail, None);
    let none = SharesAtRest::default();
    assert_clean(&check_mutable_overwrites(&h.ops, &error(410, "NoSharesError"), &none));
    assert_clean(&check_mutable_overwrites(&[], &error(410, "NoSharesError"), &none));
}

#[test]
fn no_shares_after_only_an_info_write_is_fine() {
    let mut h = History::default();
    h.write(1, Info, None);
    let vs = check_mutable_overwrites(&h.ops, &error(410, "NoSharesError"), &SharesAtRest::default());
    assert_clean(&vs);
}

// ---- overwrites: failed-write-visible ----

#[test]
fn a_failed_write_seen_by_a_read_during_the_run_is_a_violation() {
    let mut h = History::default();
    h.write(1, Fail, None).read(1, &[1]);
    let vs = check_mutable_overwrites(&h.ops, &error(410, "NoSharesError"), &healthy(1));
    assert_exactly(&vs, &[invariant::FAILED_WRITE_VISIBLE]);
}

#[test]
fn a_failed_write_seen_by_the_final_read_is_a_violation() {
    let mut h = History::default();
    h.write(1, Ok, Some(1)).write(2, Fail, None);
    let vs = check_mutable_overwrites(&h.ops, &value(2, &[2]), &healthy(2));
    assert_reports(&vs, invariant::FAILED_WRITE_VISIBLE);
}

#[test]
fn a_failed_write_that_stayed_invisible_is_fine() {
    let mut h = History::default();
    h.write(1, Ok, Some(1)).write(2, Fail, None).read(1, &[1]);
    assert_clean(&check_mutable_overwrites(&h.ops, &value(1, &[1]), &healthy(1)));
}

#[test]
fn a_failed_attempt_at_a_value_another_write_carried_proves_nothing() {
    // The harness retried value 1 as a fresh op after a definite failure.
    let mut h = History::default();
    h.write(1, Fail, None).write(1, Ok, Some(1));
    assert_clean(&check_mutable_overwrites(&h.ops, &value(1, &[1]), &healthy(1)));
}

// ---- overwrites: seqnum-decreased ----

#[test]
fn reads_going_back_in_seqnum_is_a_violation() {
    let mut h = History::default();
    h.write(1, Ok, Some(1)).write(2, Ok, Some(2)).read(2, &[2]).read(1, &[1]);
    let vs = check_mutable_overwrites(&h.ops, &value(2, &[2]), &healthy(2));
    // The second read also missed write 2, acknowledged before it began.
    assert_exactly(&vs, &[invariant::SEQNUM_DECREASED, invariant::STALE_READ]);
}

#[test]
fn reads_with_steady_or_rising_seqnums_are_fine() {
    let mut h = History::default();
    h.write(1, Ok, None).read(1, &[1]).read(1, &[1]).write(2, Ok, None).read(2, &[2]);
    assert_clean(&check_mutable_overwrites(&h.ops, &value(2, &[2]), &healthy(2)));
}

#[test]
fn reads_are_ordered_by_completion_not_by_id() {
    // Read 3 completes after read 4: in completion order the seqnums are 1, 2.
    // Write 2 is acknowledged only after read 4 began, so read 4 may miss it.
    let mut h = History::default();
    h.write(1, Ok, None).write(2, Ok, None).read(2, &[2]).read(1, &[1]);
    h.ops[1].completed_us = 45;
    h.ops[2].completed_us = 100;
    h.ops[3].completed_us = 50;
    h.ops[2].invoked_us = 35;
    h.ops[3].invoked_us = 40;
    assert_clean(&check_mutable_overwrites(&h.ops, &value(2, &[2]), &healthy(2)));
}

#[test]
fn a_final_read_behind_an_acknowledged_seqnum_is_a_violation() {
    let mut h = History::default();
    h.write(1, Ok, Some(5));
    let vs = check_mutable_overwrites(&h.ops, &value(4, &[1]), &healthy(4));
    assert_exactly(&vs, &[invariant::SEQNUM_DECREASED]);
}

#[test]
fn a_final_read_at_the_acknowledged_seqnum_is_fine() {
    let mut h = History::default();
    h.write(1, Ok, Some(5));
    assert_clean(&check_mutable_overwrites(&h.ops, &value(5, &[1]), &healthy(5)));
}

#[test]
fn a_final_read_behind_an_acknowledged_version_a_read_saw_is_a_violation() {
    let mut h = History::default();
    h.write(1, Ok, Some(3)).read(3, &[1]);
    let vs = check_mutable_overwrites(&h.ops, &value(2, &[1]), &healthy(2));
    assert_exactly(&vs, &[invariant::SEQNUM_DECREASED]);
}

// ---- overwrites: seqnum-reused ----

#[test]
fn two_acknowledged_writes_at_one_seqnum_is_a_violation() {
    let mut h = History::default();
    h.write(1, Ok, Some(1)).write(2, Ok, Some(1));
    let vs = check_mutable_overwrites(&h.ops, &value(1, &[2]), &healthy(1));
    assert_exactly(&vs, &[invariant::SEQNUM_REUSED]);
}

#[test]
fn two_reads_seeing_different_values_at_one_seqnum_is_a_violation() {
    let mut h = History::default();
    h.write(1, Ok, None).read(1, &[1]).write(2, Ok, None);
    let vs = check_mutable_overwrites(&h.ops, &value(1, &[2]), &healthy(1));
    assert_exactly(&vs, &[invariant::SEQNUM_REUSED]);
}

#[test]
fn a_write_and_reads_agreeing_on_a_seqnum_is_fine() {
    let mut h = History::default();
    h.write(1, Ok, Some(1)).read(1, &[1]).write(2, Ok, Some(2)).read(2, &[2]);
    assert_clean(&check_mutable_overwrites(&h.ops, &value(2, &[2]), &healthy(2)));
}

// ---- corrupt-share-at-rest ----

#[test]
fn a_corrupt_share_at_rest_is_a_violation_naming_server_share_and_reason() {
    let mut h = History::default();
    h.write(1, Ok, Some(1));
    let mut rest = healthy(1);
    rest.shares.push(ShareCheck::Corrupt { server: 7, share: 3, reason: "block hash tree mismatch".to_string() });
    let vs = check_mutable_overwrites(&h.ops, &value(1, &[1]), &rest);
    assert_exactly(&vs, &[invariant::CORRUPT_SHARE_AT_REST]);
    let d = &vs[0].detail;
    assert!(d.contains("server 7") && d.contains("share 3") && d.contains("block hash tree"), "{d}");
}

#[test]
fn transient_read_errors_with_clean_shares_at_rest_are_fine() {
    let mut h = History::default();
    h.write(1, Ok, Some(1)).failed_read(Fail).failed_read(Info).read(1, &[1]);
    // Stale but valid shares from an older version are not corruption either.
    let mut rest = healthy(1);
    rest.shares.push(ShareCheck::Valid { server: 11, share: 0, seqnum: 0, root_hash: [0; 32] });
    assert_clean(&check_mutable_overwrites(&h.ops, &value(1, &[1]), &rest));
}

#[test]
fn corrupt_shares_are_checked_for_appends_too() {
    let mut h = History::default();
    h.append(1, Ok, Some(2));
    let rest = SharesAtRest {
        shares: vec![ShareCheck::Corrupt { server: 0, share: 0, reason: "bad signature".to_string() }],
        shares_needed: 0,
    };
    let vs = check_mutable_appends(&h.ops, &value(2, &[1]), &rest);
    assert_exactly(&vs, &[invariant::CORRUPT_SHARE_AT_REST]);
    assert_clean(&check_mutable_appends(&h.ops, &value(2, &[1]), &healthy(2)));
}

// ---- unwritten-value-visible and malformed-history ----

#[test]
fn a_value_no_write_carried_is_a_violation() {
    let mut h = History::default();
    h.write(1, Info, None).read(1, &[99]);
    let vs = check_mutable_overwrites(&h.ops, &value(1, &[99]), &healthy(1));
    assert_exactly(&vs, &[invariant::UNWRITTEN_VALUE_VISIBLE]);
    assert_clean(&check_mutable_overwrites(&h.ops[..1], &value(1, &[1]), &healthy(1)));
}

#[test]
fn a_line_no_append_carried_is_a_violation() {
    let mut h = History::default();
    h.append(1, Ok, None);
    let vs = check_mutable_appends(&h.ops, &value(2, &[1, 42]), &healthy(2));
    assert_exactly(&vs, &[invariant::UNWRITTEN_VALUE_VISIBLE]);
}

#[test]
fn malformed_histories_are_reported_not_trusted() {
    let mut h = History::default();
    h.write(1, Ok, None).append(2, Ok, None);
    h.push(MutableOpKind::Read { observed: None }, Ok, None);
    h.ops[0].completed_us = 0;
    let vs = check_mutable_overwrites(&h.ops, &value(1, &[1]), &healthy(1));
    assert_exactly(&vs, &[invariant::MALFORMED_HISTORY, invariant::MALFORMED_HISTORY, invariant::MALFORMED_HISTORY]);
    let mut a = History::default();
    a.append(1, Ok, None).write(2, Ok, None);
    let vs = check_mutable_appends(&a.ops, &value(1, &[1]), &healthy(1));
    assert_exactly(&vs, &[invariant::MALFORMED_HISTORY]);
}

// ---- appends ----

#[test]
fn a_duplicated_line_is_reported_once_and_only_as_duplication() {
    let mut h = History::default();
    h.append(1, Ok, None).append(2, Info, None).read(3, &[1, 2, 2]);
    let vs = check_mutable_appends(&h.ops, &value(3, &[1, 2, 2]), &healthy(3));
    assert_exactly(&vs, &[invariant::APPEND_DUPLICATED]);
}

#[test]
fn distinct_lines_are_fine() {
    let mut h = History::default();
    h.append(1, Ok, None).append(2, Info, None).read(3, &[1, 2]);
    assert_clean(&check_mutable_appends(&h.ops, &value(3, &[1, 2]), &healthy(3)));
}

#[test]
fn an_acknowledged_line_missing_at_the_end_is_lost() {
    let mut h = History::default();
    h.append(1, Ok, Some(2)).append(2, Ok, Some(3));
    let vs = check_mutable_appends(&h.ops, &value(3, &[2]), &healthy(3));
    assert_exactly(&vs, &[invariant::ACKNOWLEDGED_APPEND_LOST]);
    assert!(vs[0].detail.contains("line 1"), "{}", vs[0].detail);
}

#[test]
fn an_unreadable_file_after_an_acknowledged_append_is_lost() {
    let mut h = History::default();
    h.append(1, Ok, None);
    let vs = check_mutable_appends(&h.ops, &error(500, "UnrecoverableFileError"), &healthy(2));
    assert_exactly(&vs, &[invariant::ACKNOWLEDGED_APPEND_LOST]);
    assert!(vs[0].detail.contains("UnrecoverableFileError"), "{}", vs[0].detail);
}

#[test]
fn info_appends_may_land_or_not() {
    let mut h = History::default();
    h.append(1, Ok, Some(2)).append(2, Info, None).append(3, Ok, None);
    assert_clean(&check_mutable_appends(&h.ops, &value(3, &[1, 3]), &healthy(3)));
    assert_clean(&check_mutable_appends(&h.ops, &value(4, &[1, 2, 3]), &healthy(4)));
}

#[test]
fn a_failed_append_seen_by_any_read_is_a_violation() {
    let mut h = History::default();
    h.append(1, Ok, None).append(2, Fail, None).read(3, &[1, 2]).append(3, Ok, None);
    let vs = check_mutable_appends(&h.ops, &value(4, &[1, 2, 3]), &healthy(4));
    assert_exactly(&vs, &[invariant::FAILED_APPEND_VISIBLE]);
}

#[test]
fn a_failed_append_that_stayed_invisible_is_fine() {
    let mut h = History::default();
    h.append(1, Ok, None).append(2, Fail, None).read(2, &[1]).append(3, Ok, None);
    assert_clean(&check_mutable_appends(&h.ops, &value(3, &[1, 3]), &healthy(3)));
}

#[test]
fn lines_in_the_wrong_order_are_a_violation() {
    let mut h = History::default();
    h.append(1, Ok, None).append(2, Ok, None);
    let vs = check_mutable_appends(&h.ops, &value(3, &[2, 1]), &healthy(3));
    assert_exactly(&vs, &[invariant::APPENDS_OUT_OF_ORDER]);
    assert_clean(&check_mutable_appends(&h.ops, &value(3, &[1, 2]), &healthy(3)));
}

#[test]
fn append_order_is_invocation_order() {
    // Line ids need not be numeric order if the harness numbers them otherwise.
    let mut h = History::default();
    h.append(5, Ok, None).append(3, Ok, None);
    assert_clean(&check_mutable_appends(&h.ops, &value(3, &[5, 3]), &healthy(3)));
    let vs = check_mutable_appends(&h.ops, &value(3, &[3, 5]), &healthy(3));
    assert_exactly(&vs, &[invariant::APPENDS_OUT_OF_ORDER]);
}

#[test]
fn append_seqnums_must_not_go_back() {
    let mut h = History::default();
    h.append(1, Ok, Some(2)).read(2, &[1]).append(2, Ok, Some(3));
    let vs = check_mutable_appends(&h.ops, &value(2, &[1, 2]), &healthy(2));
    assert_reports(&vs, invariant::SEQNUM_DECREASED);
    assert_clean(&check_mutable_appends(&h.ops, &value(3, &[1, 2]), &healthy(3)));
}

#[test]
fn append_reads_disagreeing_at_one_seqnum_reuse_it() {
    let mut h = History::default();
    h.append(1, Ok, None).append(2, Info, None).read(2, &[1]);
    let vs = check_mutable_appends(&h.ops, &value(2, &[1, 2]), &healthy(2));
    assert_exactly(&vs, &[invariant::SEQNUM_REUSED]);
    assert_clean(&check_mutable_appends(&h.ops, &value(3, &[1, 2]), &healthy(3)));
}

// ---- immutable ----

fn upload(id: u64, outcome: Outcome, downloaded: Option<Result<[u8; 32], String>>) -> ImmutableUpload {
    ImmutableUpload { id, outcome, expected_digest: [id as u8; 32], downloaded }
}

#[test]
fn an_acknowledged_upload_that_will_not_download_is_unreadable() {
    let vs = check_immutable(&[upload(1, Ok, Some(Err("NotEnoughSharesError".into())))]);
    assert_exactly(&vs, &[invariant::ACKNOWLEDGED_UPLOAD_UNREADABLE]);
    assert!(vs[0].detail.contains("NotEnoughSharesError"));
}

#[test]
fn an_acknowledged_upload_with_the_wrong_digest_is_corrupt() {
    let vs = check_immutable(&[upload(1, Ok, Some(Result::Ok([9; 32])))]);
    assert_exactly(&vs, &[invariant::ACKNOWLEDGED_UPLOAD_CORRUPT]);
}

#[test]
fn acknowledged_uploads_that_download_intact_are_fine_and_others_are_unchecked() {
    let vs = check_immutable(&[
        upload(1, Ok, Some(Result::Ok([1; 32]))),
        upload(2, Fail, Some(Err("gone".into()))),
        upload(3, Info, Some(Result::Ok([0; 32]))),
        upload(4, Info, None),
    ]);
    assert_clean(&vs);
}

#[test]
fn an_acknowledged_upload_never_downloaded_is_malformed() {
    let vs = check_immutable(&[upload(1, Ok, None)]);
    assert_exactly(&vs, &[invariant::MALFORMED_HISTORY]);
}

#[test]
fn summaries_count_what_the_checkers_found() {
    let mut h = History::default();
    h.append(1, Ok, None).append(2, Ok, None).append(3, Ok, None);
    let vs = check_mutable_appends(&h.ops, &value(1, &[]), &healthy(1));
    let s = summarize(&vs);
    assert_eq!(s.get(invariant::ACKNOWLEDGED_APPEND_LOST), Some(&3));
    assert_eq!(s.len(), 1);
}

// ---- reads during the run: stale-read (Jepsen's register) ----

#[test]
fn a_read_that_misses_a_write_acknowledged_before_it_began_is_stale() {
    let mut h = History::default();
    h.write(1, Ok, Some(1)).write(2, Ok, Some(2)).read(1, &[1]);
    h.ops[2].process = 3;
    let vs = check_mutable_overwrites(&h.ops, &value(2, &[2]), &healthy(2));
    assert_exactly(&vs, &[invariant::STALE_READ]);
    assert!(vs[0].detail.contains("process 3"), "{}", vs[0].detail);
}

#[test]
fn a_read_overlapping_a_write_may_return_either_version() {
    let mut h = History::default();
    h.write(1, Ok, Some(1)).write(2, Ok, Some(2)).read(1, &[1]);
    // Write 2 is acknowledged at 25 ms; the read began at 24 ms, before it.
    h.ops[2].process = 1;
    h.ops[2].invoked_us = 24;
    assert_clean(&check_mutable_overwrites(&h.ops, &value(2, &[2]), &healthy(2)));
}

#[test]
fn concurrent_readers_may_see_versions_out_of_completion_order() {
    // Two processes: one sees the new version, the other (started earlier,
    // while the write was in flight) finishes later with the old one.
    let mut h = History::default();
    h.write(1, Ok, Some(1)).write(2, Ok, Some(2)).read(2, &[2]).read(1, &[1]);
    h.ops[1].completed_us = 60;
    h.ops[2].process = 1;
    (h.ops[2].invoked_us, h.ops[2].completed_us) = (30, 70);
    h.ops[3].process = 2;
    (h.ops[3].invoked_us, h.ops[3].completed_us) = (22, 80);
    assert_clean(&check_mutable_overwrites(&h.ops, &value(2, &[2]), &healthy(2)));
    // The same two reads by one process are a rollback.
    h.ops[3].process = 1;
    (h.ops[3].invoked_us, h.ops[3].completed_us) = (71, 80);
    let vs = check_mutable_overwrites(&h.ops, &value(2, &[2]), &healthy(2));
    assert!(vs.iter().any(|v| v.invariant == invariant::SEQNUM_DECREASED), "{vs:?}");
}

#[test]
fn an_append_read_must_hold_every_line_acknowledged_before_it_began() {
    let mut h = History::default();
    h.append(1, Ok, Some(2)).append(2, Ok, Some(3)).read(3, &[1]);
    let vs = check_mutable_appends(&h.ops, &value(3, &[1, 2]), &healthy(3));
    assert!(vs.iter().any(|v| v.invariant == invariant::STALE_READ), "{vs:?}");
    let mut h = History::default();
    h.append(1, Ok, Some(2)).append(2, Ok, Some(3)).read(3, &[1, 2]);
    assert_clean(&check_mutable_appends(&h.ops, &value(3, &[1, 2]), &healthy(3)));
}

#[test]
fn a_failed_write_one_read_met_may_be_missed_by_later_ones() {
    // Write 2's outcome is unknown: some of its shares landed. One read met
    // enough of them; the final read did not. No acknowledged version was
    // passed, so this is no rollback (Jepsen's register allows it).
    let mut h = History::default();
    h.write(1, Ok, Some(1)).write(2, Info, None).read(2, &[2]);
    assert_clean(&check_mutable_overwrites(&h.ops, &value(1, &[1]), &healthy(1)));
    // Had write 2 been acknowledged at seqnum 2, the final read would be behind it.
    h.ops[1].outcome = Ok;
    h.ops[1].seqnum = Some(2);
    let vs = check_mutable_overwrites(&h.ops, &value(1, &[1]), &healthy(1));
    assert!(vs.iter().any(|v| v.invariant == invariant::SEQNUM_DECREASED), "{vs:?}");
}

#[test]
fn a_process_may_go_down_to_an_acknowledged_version_but_not_past_it() {
    // Process 1 saw seqnum 5 (an indeterminate write), then seqnum 3, which
    // is the newest acknowledged version: no acknowledged version was passed.
    let mut h = History::default();
    h.write(1, Ok, Some(3)).write(2, Info, None).read(5, &[2]).read(3, &[1]);
    for op in &mut h.ops[2..] {
        op.process = 1;
    }
    h.ops[2].invoked_us = 1;
    assert_clean(&check_mutable_overwrites(&h.ops, &value(5, &[2]), &healthy(5)));
}

#[test]
fn the_writer_reading_at_the_instant_its_write_completed_must_see_it() {
    // Same process, same microsecond: its own write came first.
    let mut h = History::default();
    h.write(1, Ok, Some(1)).write(2, Ok, Some(2)).read(1, &[1]);
    h.ops[2].invoked_us = h.ops[1].completed_us;
    let vs = check_mutable_overwrites(&h.ops, &value(2, &[2]), &healthy(2));
    assert!(vs.iter().any(|v| v.invariant == invariant::STALE_READ), "{vs:?}");
    // Another process at the same microsecond gets the benefit of the doubt.
    h.ops[2].process = 4;
    let vs = check_mutable_overwrites(&h.ops, &value(2, &[2]), &healthy(2));
    assert!(!vs.iter().any(|v| v.invariant == invariant::STALE_READ), "{vs:?}");
}

// ---- at rest: versions and the final read against them ----

fn valid(server: u32, share: u32, seqnum: u64, root: u8) -> ShareCheck {
    ShareCheck::Valid { server, share, seqnum, root_hash: [root; 32] }
}

#[test]
fn one_seqnum_naming_two_versions_at_rest_is_reused() {
    let rest = SharesAtRest { shares: vec![valid(0, 0, 5, 0xab), valid(1, 1, 5, 0xcd)], shares_needed: 1 };
    let mut out = Vec::new();
    check_versions_at_rest(&rest, 1, FileWriters::One, &mut out);
    assert_exactly(&out, &[invariant::SEQNUM_REUSED]);
    assert!(out[0].detail.contains("abababab") && out[0].detail.contains("cdcdcdcd"), "{}", out[0].detail);
    // The same version on two servers is one version.
    let rest = SharesAtRest { shares: vec![valid(0, 0, 5, 0xab), valid(1, 1, 5, 0xab)], shares_needed: 1 };
    let mut out = Vec::new();
    check_versions_at_rest(&rest, 1, FileWriters::One, &mut out);
    assert_clean(&out);
}

#[test]
fn writers_taking_turns_may_leave_a_superseded_collision_but_not_a_current_one() {
    // Two versions at seqnum 5 (a late write of the last writer met the
    // next writer's publish), superseded by version 6 on a write quorum.
    let mut shares = vec![valid(0, 0, 5, 0xab), valid(1, 1, 5, 0xcd)];
    shares.extend((2..5).map(|s| valid(s, s, 6, 0xef)));
    let rest = SharesAtRest { shares: shares.clone(), shares_needed: 1 };
    let mut out = Vec::new();
    assert_eq!(check_versions_at_rest(&rest, 3, FileWriters::TakingTurns, &mut out), Some((6, [0xef; 32])));
    assert_clean(&out);
    // One writer must never do it, superseded or not.
    check_versions_at_rest(&rest, 3, FileWriters::One, &mut out);
    assert_exactly(&out, &[invariant::SEQNUM_REUSED]);
    // Not superseded: version 6 is on too few shares to be durable.
    let rest = SharesAtRest { shares, shares_needed: 1 };
    let mut out = Vec::new();
    assert_eq!(check_versions_at_rest(&rest, 4, FileWriters::TakingTurns, &mut out), None);
    assert_exactly(&out, &[invariant::SEQNUM_REUSED]);
}

#[test]
fn the_durable_version_at_rest_needs_that_many_distinct_shares() {
    // Version 5 on shares 0, 1, 2 (share 2 twice); version 6 on share 3 only.
    let shares = vec![valid(0, 0, 5, 1), valid(1, 1, 5, 1), valid(2, 2, 5, 1), valid(3, 2, 5, 1), valid(4, 3, 6, 2)];
    let rest = SharesAtRest { shares, shares_needed: 2 };
    let mut out = Vec::new();
    assert_eq!(check_versions_at_rest(&rest, 3, FileWriters::One, &mut out), Some((5, [1; 32])));
    assert_eq!(check_versions_at_rest(&rest, 1, FileWriters::One, &mut out), Some((6, [2; 32])));
    assert_eq!(check_versions_at_rest(&rest, 4, FileWriters::One, &mut out), None);
    assert_clean(&out);
}

#[test]
fn the_final_read_is_judged_against_the_durable_version_at_rest() {
    let judge = |final_read: &FinalRead, newest| {
        let mut out = Vec::new();
        check_final_read_at_rest(final_read, newest, &mut out);
        out
    };
    let durable = Some((5, [1; 32]));
    assert_exactly(&judge(&value(4, &[1]), durable), &[invariant::STALE_READ]);
    assert_clean(&judge(&value(5, &[1]), durable));
    assert_clean(&judge(&value(6, &[1]), durable));
    let failed = FinalRead::Error { status: 410, error: "UnrecoverableFileError".into() };
    assert_exactly(&judge(&failed, durable), &[invariant::READ_FAILED_AT_QUIESCENCE]);
    assert_clean(&judge(&failed, None));
    assert_clean(&judge(&value(0, &[]), None));
}

#[test]
fn violation_details_name_the_reads() {
    let mut h = History::default();
    h.write(1, Ok, Some(1)).write(2, Ok, Some(2)).read(1, &[1]);
    let vs = check_mutable_overwrites(&h.ops, &value(2, &[2]), &healthy(2));
    assert!(vs.iter().any(|v| v.detail.starts_with("read 3 ")), "{vs:?}");
}

#[test]
fn a_line_appended_earlier_after_a_later_one_is_out_of_order_wherever_it_sits() {
    // [1, 3, 2]: line 2 comes after line 3, which was appended later.
    let mut h = History::default();
    h.append(1, Ok, Some(2)).append(2, Ok, Some(3)).append(3, Ok, Some(4));
    let vs = check_mutable_appends(&h.ops, &value(4, &[1, 3, 2]), &healthy(4));
    assert!(vs.iter().any(|v| v.invariant == invariant::APPENDS_OUT_OF_ORDER), "{vs:?}");
}
