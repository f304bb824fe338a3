//! The checker for S3-level histories: per key, a register with delete (GET, PUT, DELETE), and LIST.
//!
//! Every operation takes effect, if at all, at one or more instants inside its interval (a retried PUT
//! may land more than once, each time with the same value). The checker judges each read on its own
//! against the writes that could be current at some instant of the read's interval:
//!
//! - A write `w` could be current for a read `r` unless it definitely failed, it started after `r`
//!   ended, or some acknowledged write definitely followed `w` and definitely preceded `r`.
//! - "Definitely precedes" is real time (`a.completed < b.invoked`) or program order (the same
//!   process, a lower id): a process's operations never overlap, so its next operation follows even
//!   when the clock did not advance in between.
//! - Under [`ReadConsistency::Eventual`] a GET may also return the version just before a write `x`
//!   that could be the newest version, when `x` completed less than the window before the GET was
//!   invoked (the model's stale read: S3 applied `x` no later than its completion). A key's first
//!   version has no previous one (new keys are read-after-write), so a stale read never shows the
//!   key as absent before its first write. A DELETE of an absent key makes no version, so only
//!   acknowledged PUTs are taken to hide older versions from this allowance.
//! - LISTs get no allowance: listings are always current in the model.
//!
//! Reads that ignore these rules are reported under the `invariant` names listed on [`check_kv`].
//! The checker is pure: the same history always gives the same violations in the same order.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{invariant, Outcome, Violation};

/// What the store promises a GET (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadConsistency {
    /// Read-after-write, overwrite and delete.
    Strong,
    /// 2012 S3: for `window` after an overwrite or delete, a GET may see the version before it.
    Eventual { window: Duration },
}

/// What a successful GET or final read returned.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Observed {
    /// A body naming the PUT (by its operation id, or an initial value id) that wrote it.
    Value(u64),
    /// `404 NoSuchKey`.
    Absent,
    /// A body that names no write, described for the report.
    Unrecognized(String),
}

/// What one operation was and, for reads that succeeded, what they returned.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KvOpKind {
    /// Writes the value named by the operation's own id.
    Put {
        key: String,
    },
    Delete {
        key: String,
    },
    /// `observed` is `Some` exactly when the outcome is Ok.
    Get {
        key: String,
        observed: Option<Observed>,
    },
    /// Every page under `prefix`, in the order received; `Some` exactly when the outcome is Ok.
    List {
        prefix: String,
        observed: Option<Vec<String>>,
    },
}

/// One client operation, as the harness recorded it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KvOp {
    /// Unique; increases in invocation order within a process.
    pub id: u64,
    /// The client stream that ran it: a process's operations are sequential.
    pub process: u64,
    pub kind: KvOpKind,
    pub outcome: Outcome,
    /// Virtual time of the invocation and of the answer (or give-up).
    pub invoked: Duration,
    pub completed: Duration,
}

/// A read of one key made at quiescence (after every operation, with no faults and, under eventual
/// consistency, after the window), through the normal code path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FinalRead {
    pub key: String,
    /// The observation, or the error the read failed with.
    pub result: Result<Observed, String>,
}

/// A whole run: the state before it, the operations, and the reads at quiescence.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvHistory {
    /// Keys holding a value before the first operation: key to value id (distinct from every op id).
    pub initial: BTreeMap<String, u64>,
    pub ops: Vec<KvOp>,
    pub final_reads: Vec<FinalRead>,
}

/// Violations of one invariant past this many are counted in one summary violation instead, so a
/// systematic bug does not bury the report.
const VIOLATIONS_PER_INVARIANT_MAX: usize = 10;

/// Checks `history` against the register-with-delete and listing rules of `consistency`.
///
/// Invariants: `unwritten-object-visible` (a read returned a value no write to that key carried, or a
/// LIST a key never possibly written), `failed-put-visible`, `stale-get`, `list-missing-key`,
/// `list-phantom-key`, `list-duplicate-key`, `list-out-of-order`, `final-read-disagrees`, and
/// `malformed-history` for a history the harness got wrong.
pub fn check_kv(history: &KvHistory, consistency: ReadConsistency) -> Vec<Violation> {
    let mut sink = Sink::default();
    let mut ops: Vec<&KvOp> = history.ops.iter().collect();
    ops.sort_by_key(|op| op.id);
    if check_well_formed(history, &ops, &mut sink) {
        let keys = KeyIndex::new(history, &ops);
        for op in &ops {
            match &op.kind {
                KvOpKind::Get { key, observed: Some(observed) } if op.outcome == Outcome::Ok => {
                    check_get(&keys, op, key, observed, consistency, &mut sink);
                }
                KvOpKind::List { prefix, observed: Some(listed) } if op.outcome == Outcome::Ok => {
                    check_list(&keys, op, prefix, listed, &mut sink);
                }
                _ => {}
            }
        }
        for read in &history.final_reads {
            check_final_read(&keys, read, &mut sink);
        }
    }
    sink.finish()
}

// ---------------------------------------------------------------------------
// Intervals and who precedes whom

/// Where an interval sits: the initial state precedes every operation, the final reads follow them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Initial,
    Op { id: u64, process: u64, invoked: Duration, completed: Duration },
    Final,
}

impl Place {
    fn of(op: &KvOp) -> Self {
        Place::Op { id: op.id, process: op.process, invoked: op.invoked, completed: op.completed }
    }
}

/// Whether `a` certainly ended before `b` began.
fn precedes(a: Place, b: Place) -> bool {
    match (a, b) {
        (Place::Final, _) | (_, Place::Initial) => false,
        (Place::Initial, _) | (_, Place::Final) => true,
        (
            Place::Op { id: a_id, process: a_process, completed: a_completed, .. },
            Place::Op { id: b_id, process: b_process, invoked: b_invoked, .. },
        ) => (a_process == b_process && a_id < b_id) || a_completed < b_invoked,
    }
}

/// One write to a key (or the key's initial state).
#[derive(Clone, Copy, Debug)]
struct Write {
    place: Place,
    /// The value id written; `None` is a delete (or the initial absence).
    value: Option<u64>,
    outcome: Outcome,
    /// An acknowledged PUT always makes a new version; a DELETE of an absent key makes none.
    is_put: bool,
}

impl Write {
    fn is_initial_absence(&self) -> bool {
        self.place == Place::Initial && self.value.is_none()
    }

    fn describe(&self) -> String {
        let what = match (self.place, self.value) {
            (Place::Initial, Some(value)) => return format!("the initial value {value}"),
            (Place::Initial, None) => return "the initial absence".to_owned(),
            (Place::Final, _) => return "a final read".to_owned(),
            (Place::Op { .. }, Some(_)) => "put",
            (Place::Op { .. }, None) => "delete",
        };
        match self.place {
            Place::Op { id, process, invoked, completed } => format!(
                "{what} {id} ({}, process {process}, {}-{})",
                outcome_name(self.outcome),
                ms(invoked),
                ms(completed)
            ),
            _ => what.to_owned(),
        }
    }
}

/// The acknowledged writes that certainly precede a read, reduced to what decides whether they hide
/// an older write: the latest invocation among them, and each process's highest op id.
#[derive(Default)]
struct Frontier {
    invoked_max: Option<Duration>,
    /// (process, highest id): few processes, so a list beats a map.
    id_max_by_process: Vec<(u64, u64)>,
    newest: Option<Write>,
}

impl Frontier {
    /// The frontier of the acknowledged writes in `writes` (PUTs only if `puts_only`) before `target`.
    fn before(writes: &[Write], target: Place, puts_only: bool) -> Self {
        let mut frontier = Frontier::default();
        for write in writes {
            let Place::Op { id, process, invoked, .. } = write.place else { continue };
            if write.outcome != Outcome::Ok || (puts_only && !write.is_put) || !precedes(write.place, target) {
                continue;
            }
            if frontier.invoked_max.is_none_or(|max| invoked > max) {
                frontier.invoked_max = Some(invoked);
                frontier.newest = Some(*write);
            }
            match frontier.id_max_by_process.iter_mut().find(|(p, _)| *p == process) {
                Some((_, max)) => *max = (*max).max(id),
                None => frontier.id_max_by_process.push((process, id)),
            }
        }
        frontier
    }

    /// Whether some write of the frontier certainly followed `write` (so hides it).
    fn hides(&self, write: &Write) -> bool {
        match write.place {
            Place::Initial => self.invoked_max.is_some(),
            Place::Op { id, process, completed, .. } => {
                self.invoked_max.is_some_and(|max| max > completed)
                    || self.id_max_by_process.iter().any(|(p, max)| *p == process && *max > id)
            }
            Place::Final => false,
        }
    }
}

/// Whether `write` could be the current version at some instant of `target`'s interval.
fn could_be_current(write: &Write, target: Place, frontier: &Frontier) -> bool {
    write.outcome != Outcome::Fail && !precedes(target, write.place) && !frontier.hides(write)
}

/// Every key's writes, the initial state first.
struct KeyIndex {
    writes: BTreeMap<String, Vec<Write>>,
}

impl KeyIndex {
    fn new(history: &KvHistory, ops: &[&KvOp]) -> Self {
        let mut writes: BTreeMap<String, Vec<Write>> = BTreeMap::new();
        let initial = |value| Write { place: Place::Initial, value, outcome: Outcome::Ok, is_put: value.is_some() };
        for (key, value) in &history.initial {
            writes.entry(key.clone()).or_default().push(initial(Some(*value)));
        }
        for op in ops {
            let (key, value, is_put) = match &op.kind {
                KvOpKind::Put { key } => (key, Some(op.id), true),
                KvOpKind::Delete { key } => (key, None, false),
                _ => continue,
            };
            let entry = match writes.get_mut(key) {
                Some(entry) => entry,
                None => writes.entry(key.clone()).or_insert_with(|| vec![initial(None)]),
            };
            entry.push(Write { place: Place::of(op), value, outcome: op.outcome, is_put });
        }
        KeyIndex { writes }
    }

    fn of(&self, key: &str) -> &[Write] {
        self.writes.get(key).map_or(&[], Vec::as_slice)
    }
}

// ---------------------------------------------------------------------------
// GETs and final reads

/// Reports an observed value no write to `key` carried, or one whose PUT definitely failed; returns
/// whether the value is a possible one (so staleness is worth judging).
fn check_value(writes: &[Write], key: &str, observed: &Observed, reader: &str, sink: &mut Sink) -> bool {
    let value = match observed {
        Observed::Absent => return true,
        Observed::Value(value) => *value,
        Observed::Unrecognized(body) => {
            sink.push(invariant::UNWRITTEN_OBJECT_VISIBLE, format!("{reader} of {key} returned {body}"));
            return false;
        }
    };
    match writes.iter().find(|w| w.value == Some(value)) {
        None => {
            sink.push(
                invariant::UNWRITTEN_OBJECT_VISIBLE,
                format!("{reader} of {key} returned value {value}, which no write to {key} carried"),
            );
            false
        }
        Some(write) if write.outcome == Outcome::Fail => {
            sink.push(
                invariant::FAILED_PUT_VISIBLE,
                format!("{reader} of {key} returned the value of {}", write.describe()),
            );
            false
        }
        Some(_) => true,
    }
}

fn observed_value(observed: &Observed) -> Option<Option<u64>> {
    match observed {
        Observed::Value(value) => Some(Some(*value)),
        Observed::Absent => Some(None),
        Observed::Unrecognized(_) => None,
    }
}

fn check_get(
    keys: &KeyIndex,
    op: &KvOp,
    key: &str,
    observed: &Observed,
    consistency: ReadConsistency,
    sink: &mut Sink,
) {
    let writes = keys.of(key);
    let reader = format!("get {} (process {}, {}-{})", op.id, op.process, ms(op.invoked), ms(op.completed));
    if !check_value(writes, key, observed, &reader, sink) {
        return;
    }
    let Some(value) = observed_value(observed) else { return };
    let target = Place::of(op);
    let frontier = Frontier::before(writes, target, false);
    if writes.iter().any(|w| w.value == value && could_be_current(w, target, &frontier)) {
        return;
    }
    if let ReadConsistency::Eventual { window } = consistency {
        if stale_allowed(writes, op, value, window) {
            return;
        }
    }
    let newest = frontier.newest.map_or_else(|| "none".to_owned(), |w| w.describe());
    sink.push(
        invariant::STALE_GET,
        format!(
            "{reader} of {key} returned {}, older than the consistency model allows; newest acknowledged write \
             before it: {newest}",
            describe_value(value)
        ),
    );
}

/// Whether an eventually consistent GET `op` may return `value` as the version before a write `x`
/// that could be the newest version and completed less than `window` before the GET began.
fn stale_allowed(writes: &[Write], op: &KvOp, value: Option<u64>, window: Duration) -> bool {
    let target = Place::of(op);
    let versions = Frontier::before(writes, target, true);
    writes.iter().enumerate().any(|(x_index, x)| {
        let Place::Op { completed, .. } = x.place else { return false };
        if x.outcome == Outcome::Fail
            || precedes(target, x.place)
            || versions.hides(x)
            || completed.saturating_add(window) <= op.invoked
        {
            return false;
        }
        let before_x = Frontier::before(writes, x.place, false);
        writes.iter().enumerate().any(|(w_index, w)| {
            w_index != x_index && w.value == value && !w.is_initial_absence() && could_be_current(w, x.place, &before_x)
        })
    })
}

fn check_final_read(keys: &KeyIndex, read: &FinalRead, sink: &mut Sink) {
    let writes = keys.of(&read.key);
    let frontier = Frontier::before(writes, Place::Final, false);
    let expected = || {
        let possible: Vec<String> = writes
            .iter()
            .filter(|w| could_be_current(w, Place::Final, &frontier))
            .map(|w| format!("{} ({})", describe_value(w.value), w.describe()))
            .collect();
        possible.join(" or ")
    };
    let observed = match &read.result {
        Ok(observed) => observed,
        Err(error) => {
            let message = format!("the final read of {} failed with {error}; expected {}", read.key, expected());
            sink.push(invariant::FINAL_READ_DISAGREES, message);
            return;
        }
    };
    if !check_value(writes, &read.key, observed, "the final read", sink) {
        return;
    }
    let Some(value) = observed_value(observed) else { return };
    if !writes.iter().any(|w| w.value == value && could_be_current(w, Place::Final, &frontier)) {
        let message =
            format!("the final read of {} returned {}; expected {}", read.key, describe_value(value), expected());
        sink.push(invariant::FINAL_READ_DISAGREES, message);
    }
}

// ---------------------------------------------------------------------------
// LISTs

fn check_list(keys: &KeyIndex, op: &KvOp, prefix: &str, listed: &[String], sink: &mut Sink) {
    let lister =
        format!("list {} (process {}, {}-{}) of {prefix:?}", op.id, op.process, ms(op.invoked), ms(op.completed));
    check_list_order(&lister, listed, sink);
    let target = Place::of(op);
    // Walk the listing and the keys under the prefix side by side, both in order (a listing out of
    // order or with duplicates, already reported, is sorted first).
    let sorted: Vec<&str> = if listed.windows(2).all(|pair| pair[0] < pair[1]) {
        listed.iter().map(String::as_str).collect()
    } else {
        listed.iter().map(String::as_str).collect::<BTreeSet<_>>().into_iter().collect()
    };
    let mut phantom: Vec<&str> = sorted.iter().copied().filter(|key| !key.starts_with(prefix)).collect();
    let mut missing = Vec::new();
    let mut listed_keys = sorted.iter().copied().filter(|key| key.starts_with(prefix)).peekable();
    let mut known = keys
        .writes
        .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
        .take_while(|(key, _)| key.starts_with(prefix))
        .peekable();
    loop {
        match (known.peek(), listed_keys.peek()) {
            (None, None) => break,
            (Some((key, writes)), Some(listed_key)) if key.as_str() == *listed_key => {
                if !may_be(writes, target, true) {
                    phantom.push(listed_key);
                }
                known.next();
                listed_keys.next();
            }
            (Some((key, writes)), next_listed) if next_listed.is_none_or(|listed_key| key.as_str() < *listed_key) => {
                if !may_be(writes, target, false) {
                    missing.push(key.as_str());
                }
                known.next();
            }
            (_, Some(listed_key)) => {
                phantom.push(listed_key);
                listed_keys.next();
            }
            (Some(_), None) => break,
        }
    }
    if !phantom.is_empty() {
        let message = format!(
            "{lister} listed {} key(s) that were never possibly present then: {}",
            phantom.len(),
            first_few(&phantom)
        );
        sink.push(invariant::LIST_PHANTOM_KEY, message);
    }
    if !missing.is_empty() {
        let message =
            format!("{lister} lacked {} key(s) that certainly existed then: {}", missing.len(), first_few(&missing));
        sink.push(invariant::LIST_MISSING_KEY, message);
    }
}

/// Whether a key with `writes` may be present (or, with `present` false, absent) at some instant of
/// `target`.
fn may_be(writes: &[Write], target: Place, present: bool) -> bool {
    if let [only] = writes {
        // Never written during the run (most keys of most listings): its initial state.
        return only.value.is_some() == present;
    }
    let frontier = Frontier::before(writes, target, false);
    writes.iter().any(|w| w.value.is_some() == present && could_be_current(w, target, &frontier))
}

fn check_list_order(lister: &str, listed: &[String], sink: &mut Sink) {
    if listed.windows(2).all(|pair| pair[0] < pair[1]) {
        // Strictly ascending: in order and no key twice (the common case, checked without a set).
        return;
    }
    let mut seen = BTreeSet::new();
    let duplicated: Vec<&str> = listed.iter().filter(|key| !seen.insert(key.as_str())).map(String::as_str).collect();
    if !duplicated.is_empty() {
        let message = format!("{lister} listed {} key(s) twice: {}", duplicated.len(), first_few(&duplicated));
        sink.push(invariant::LIST_DUPLICATE_KEY, message);
    }
    if let Some(pair) = listed.windows(2).find(|pair| pair[0] > pair[1]) {
        let message = format!("{lister} listed {:?} after {:?}", pair[1], pair[0]);
        sink.push(invariant::LIST_OUT_OF_ORDER, message);
    }
}

// ---------------------------------------------------------------------------
// Well-formedness

/// Reports what makes the history uncheckable; returns whether it can be checked.
fn check_well_formed(history: &KvHistory, ops: &[&KvOp], sink: &mut Sink) -> bool {
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    for op in ops {
        if !ids.insert(op.id) {
            problems.push(format!("op id {} appears twice", op.id));
        }
        if op.completed < op.invoked {
            problems.push(format!("op {} completed before it was invoked", op.id));
        }
        let observed = match &op.kind {
            KvOpKind::Get { observed, .. } => observed.is_some(),
            KvOpKind::List { observed, .. } => observed.is_some(),
            KvOpKind::Put { .. } | KvOpKind::Delete { .. } => continue,
        };
        if observed != (op.outcome == Outcome::Ok) {
            problems.push(format!("read {} is {} but has an observation: {observed}", op.id, outcome_name(op.outcome)));
        }
    }
    for value in history.initial.values() {
        if ids.contains(value) {
            problems.push(format!("initial value id {value} is also an op id"));
        }
    }
    let mut last_by_process: BTreeMap<u64, &KvOp> = BTreeMap::new();
    for op in ops {
        if let Some(previous) = last_by_process.insert(op.process, op) {
            if previous.completed > op.invoked {
                problems.push(format!("ops {} and {} of process {} overlap", previous.id, op.id, op.process));
            }
        }
    }
    for problem in &problems {
        sink.push(invariant::MALFORMED_HISTORY, problem.clone());
    }
    problems.is_empty()
}

// ---------------------------------------------------------------------------
// Reporting

/// Collects violations, at most [`VIOLATIONS_PER_INVARIANT_MAX`] per invariant plus a count of the rest.
#[derive(Default)]
struct Sink {
    violations: Vec<Violation>,
    counts: BTreeMap<&'static str, usize>,
}

impl Sink {
    fn push(&mut self, invariant: &'static str, detail: String) {
        let count = self.counts.entry(invariant).or_default();
        *count += 1;
        if *count <= VIOLATIONS_PER_INVARIANT_MAX {
            self.violations.push(Violation::new(invariant, detail));
        }
    }

    fn finish(mut self) -> Vec<Violation> {
        for (invariant, count) in self.counts {
            if count > VIOLATIONS_PER_INVARIANT_MAX {
                let more = count - VIOLATIONS_PER_INVARIANT_MAX;
                self.violations.push(Violation::new(invariant, format!("... and {more} more like the above")));
            }
        }
        self.violations
    }
}

fn describe_value(value: Option<u64>) -> String {
    match value {
        Some(value) => format!("value {value}"),
        None => "NoSuchKey".to_owned(),
    }
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::Fail => "fail",
        Outcome::Info => "info",
    }
}

fn ms(at: Duration) -> String {
    format!("{:.3}ms", at.as_secs_f64() * 1000.0)
}

fn first_few(keys: &[&str]) -> String {
    const SHOWN: usize = 5;
    let shown: Vec<&str> = keys.iter().take(SHOWN).copied().collect();
    if keys.len() > SHOWN {
        format!("{} ..", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &str = "data/00000";
    const WINDOW: ReadConsistency = ReadConsistency::Eventual { window: Duration::from_millis(100) };

    fn op(id: u64, process: u64, kind: KvOpKind, outcome: Outcome, span_ms: (u64, u64)) -> KvOp {
        let (invoked, completed) = (Duration::from_millis(span_ms.0), Duration::from_millis(span_ms.1));
        KvOp { id, process, kind, outcome, invoked, completed }
    }

    fn put(id: u64, process: u64, outcome: Outcome, span_ms: (u64, u64)) -> KvOp {
        op(id, process, KvOpKind::Put { key: K.into() }, outcome, span_ms)
    }

    fn put_to(key: &str, id: u64, span_ms: (u64, u64)) -> KvOp {
        op(id, 0, KvOpKind::Put { key: key.into() }, Outcome::Ok, span_ms)
    }

    fn delete(id: u64, process: u64, outcome: Outcome, span_ms: (u64, u64)) -> KvOp {
        op(id, process, KvOpKind::Delete { key: K.into() }, outcome, span_ms)
    }

    fn get(id: u64, process: u64, observed: Observed, span_ms: (u64, u64)) -> KvOp {
        op(id, process, KvOpKind::Get { key: K.into(), observed: Some(observed) }, Outcome::Ok, span_ms)
    }

    fn list(id: u64, process: u64, keys: &[&str], span_ms: (u64, u64)) -> KvOp {
        let observed = Some(keys.iter().map(|k| (*k).to_owned()).collect());
        op(id, process, KvOpKind::List { prefix: "data/".into(), observed }, Outcome::Ok, span_ms)
    }

    fn history(ops: Vec<KvOp>) -> KvHistory {
        KvHistory { initial: BTreeMap::new(), ops, final_reads: Vec::new() }
    }

    fn with_final(ops: Vec<KvOp>, result: Result<Observed, String>) -> KvHistory {
        KvHistory { final_reads: vec![FinalRead { key: K.into(), result }], ..history(ops) }
    }

    fn names(history: &KvHistory, consistency: ReadConsistency) -> Vec<&'static str> {
        check_kv(history, consistency).into_iter().map(|v| v.invariant).collect()
    }

    fn clean(history: &KvHistory, consistency: ReadConsistency) {
        let violations = check_kv(history, consistency);
        assert!(violations.is_empty(), "{violations:#?}");
    }

    use Observed::{Absent, Value};
    use Outcome::{Fail, Info, Ok};

    #[test]
    fn a_sequential_register_with_delete_is_clean() {
        let ops = vec![
            get(0, 0, Absent, (0, 5)),
            put(1, 0, Ok, (5, 10)),
            get(2, 0, Value(1), (10, 15)),
            list(3, 0, &[K], (15, 20)),
            delete(4, 0, Ok, (20, 25)),
            get(5, 0, Absent, (25, 30)),
            list(6, 0, &[], (30, 35)),
            put(7, 0, Ok, (35, 40)),
        ];
        for consistency in [ReadConsistency::Strong, WINDOW] {
            clean(&with_final(ops.clone(), Result::Ok(Value(7))), consistency);
        }
    }

    #[test]
    fn a_value_never_written_to_the_key_is_reported() {
        let ops = vec![
            put(1, 0, Ok, (0, 10)),
            put_to("data/00001", 2, (10, 20)),
            get(3, 0, Value(99), (20, 30)),
            get(4, 0, Value(2), (30, 40)),
            get(5, 0, Observed::Unrecognized("12 bytes \"garbage\"".into()), (40, 50)),
        ];
        assert_eq!(names(&history(ops), ReadConsistency::Strong), [invariant::UNWRITTEN_OBJECT_VISIBLE; 3]);
    }

    #[test]
    fn the_value_of_a_failed_put_is_reported_and_an_indeterminate_one_is_not() {
        let failed = vec![put(1, 0, Fail, (0, 10)), get(2, 1, Value(1), (20, 30))];
        assert_eq!(names(&history(failed), ReadConsistency::Strong), [invariant::FAILED_PUT_VISIBLE]);
        // Info: it may have landed, or not; both reads are fine, and so is either final value.
        let info = vec![get(0, 1, Absent, (0, 1)), put(1, 0, Info, (0, 10)), get(2, 1, Value(1), (20, 30))];
        clean(&with_final(info.clone(), Result::Ok(Value(1))), ReadConsistency::Strong);
        let not_landed = vec![put(1, 0, Info, (0, 10)), get(2, 1, Absent, (20, 30))];
        clean(&with_final(not_landed, Result::Ok(Absent)), ReadConsistency::Strong);
    }

    #[test]
    fn a_get_older_than_an_acknowledged_write_is_stale_under_strong_consistency() {
        let stale = vec![put(1, 0, Ok, (0, 10)), put(2, 0, Ok, (20, 30)), get(3, 1, Value(1), (40, 50))];
        assert_eq!(names(&history(stale), ReadConsistency::Strong), [invariant::STALE_GET]);
        // Concurrent with the newer write: either value is fine.
        let concurrent = vec![put(1, 0, Ok, (0, 10)), put(2, 0, Ok, (20, 45)), get(3, 1, Value(1), (40, 50))];
        clean(&history(concurrent), ReadConsistency::Strong);
        // The same process invoking at the very instant the write completed: program order decides.
        let same_process = vec![put(1, 0, Ok, (0, 10)), put(2, 0, Ok, (20, 30)), get(3, 0, Value(1), (30, 40))];
        assert_eq!(names(&history(same_process), ReadConsistency::Strong), [invariant::STALE_GET]);
        // Another process at that instant may have run first: not certainly after.
        let other_process = vec![put(1, 0, Ok, (0, 10)), put(2, 0, Ok, (20, 30)), get(3, 1, Value(1), (30, 40))];
        clean(&history(other_process), ReadConsistency::Strong);
    }

    #[test]
    fn no_such_key_needs_a_delete_or_no_acknowledged_put() {
        let after_put = vec![put(1, 0, Ok, (0, 10)), get(2, 0, Absent, (20, 30))];
        assert_eq!(names(&history(after_put), ReadConsistency::Strong), [invariant::STALE_GET]);
        let info_delete = vec![put(1, 0, Ok, (0, 10)), delete(2, 1, Info, (10, 15)), get(3, 0, Absent, (20, 30))];
        clean(&history(info_delete), ReadConsistency::Strong);
        let failed_delete = vec![put(1, 0, Ok, (0, 10)), delete(2, 1, Fail, (10, 15)), get(3, 0, Absent, (20, 30))];
        assert_eq!(names(&history(failed_delete), ReadConsistency::Strong), [invariant::STALE_GET]);
        let info_put_only = vec![put(1, 0, Info, (0, 10)), get(2, 0, Absent, (20, 30))];
        clean(&history(info_put_only), ReadConsistency::Strong);
        // A key that starts with a value is not absent until deleted.
        let mut preloaded = history(vec![get(1, 0, Absent, (0, 10))]);
        preloaded.initial.insert(K.into(), 1_000);
        assert_eq!(names(&preloaded, ReadConsistency::Strong), [invariant::STALE_GET]);
        preloaded.ops = vec![get(1, 0, Value(1_000), (0, 10))];
        clean(&preloaded, ReadConsistency::Strong);
    }

    #[test]
    fn eventual_consistency_allows_the_previous_version_until_the_window_ends() {
        // put 2 completes at 30 ms; the window is 100 ms: a GET invoked before 130 ms may see put 1.
        let inside = vec![put(1, 0, Ok, (0, 10)), put(2, 0, Ok, (20, 30)), get(3, 0, Value(1), (129, 140))];
        clean(&history(inside.clone()), WINDOW);
        assert_eq!(names(&history(inside), ReadConsistency::Strong), [invariant::STALE_GET]);
        let edge = vec![put(1, 0, Ok, (0, 10)), put(2, 0, Ok, (20, 30)), get(3, 0, Value(1), (130, 140))];
        assert_eq!(names(&history(edge), WINDOW), [invariant::STALE_GET]);
        // After a delete the previous version is the deleted value; after a re-put, the absence.
        let deleted = vec![put(1, 0, Ok, (0, 10)), delete(2, 0, Ok, (20, 30)), get(3, 0, Value(1), (40, 50))];
        clean(&history(deleted), WINDOW);
        let reput = vec![
            put(1, 0, Ok, (0, 10)),
            delete(2, 0, Ok, (20, 30)),
            put(4, 0, Ok, (40, 50)),
            get(5, 0, Absent, (60, 70)),
        ];
        clean(&history(reput), WINDOW);
    }

    #[test]
    fn eventual_consistency_goes_back_one_version_and_never_before_a_new_keys_first() {
        let two_back = vec![
            put(1, 0, Ok, (0, 10)),
            put(2, 0, Ok, (20, 30)),
            put(3, 0, Ok, (40, 50)),
            get(4, 0, Value(1), (60, 70)),
        ];
        assert_eq!(names(&history(two_back), WINDOW), [invariant::STALE_GET]);
        // New keys are read-after-write: no stale absence after the first PUT.
        let new_key = vec![put(1, 0, Ok, (0, 10)), get(2, 0, Absent, (20, 30))];
        assert_eq!(names(&history(new_key), WINDOW), [invariant::STALE_GET]);
        // A DELETE of an absent key makes no version: the marker before it is still the newest.
        let noop_delete = vec![
            put(1, 0, Ok, (0, 10)),
            delete(2, 0, Ok, (20, 30)),
            delete(3, 0, Ok, (40, 50)),
            get(4, 0, Value(1), (60, 70)),
        ];
        clean(&history(noop_delete), WINDOW);
    }

    #[test]
    fn a_list_holds_every_certain_key_once_in_order_and_nothing_else() {
        let b = "data/00001";
        let base = || vec![put(1, 0, Ok, (0, 10)), put_to(b, 2, (10, 20))];
        let good = [base(), vec![list(3, 0, &[K, b], (30, 40))]].concat();
        clean(&history(good), ReadConsistency::Strong);
        let missing = [base(), vec![list(3, 0, &[b], (30, 40))]].concat();
        assert_eq!(names(&history(missing), ReadConsistency::Strong), [invariant::LIST_MISSING_KEY]);
        // Missing is fine if a delete may have landed before the page was read.
        let info_delete = [base(), vec![delete(4, 1, Info, (20, 25)), list(3, 0, &[b], (30, 40))]].concat();
        clean(&history(info_delete), ReadConsistency::Strong);
        let concurrent_delete = [base(), vec![delete(4, 1, Ok, (35, 45)), list(3, 0, &[b], (30, 40))]].concat();
        clean(&history(concurrent_delete), ReadConsistency::Strong);
        let phantom = [base(), vec![list(3, 0, &[K, b, "data/00002"], (30, 40))]].concat();
        assert_eq!(names(&history(phantom), ReadConsistency::Strong), [invariant::LIST_PHANTOM_KEY]);
        let deleted = [base(), vec![delete(4, 1, Ok, (20, 25)), list(3, 0, &[K, b], (30, 40))]].concat();
        assert_eq!(names(&history(deleted), ReadConsistency::Strong), [invariant::LIST_PHANTOM_KEY]);
        let twice = [base(), vec![list(3, 0, &[K, b, b], (30, 40))]].concat();
        assert_eq!(names(&history(twice), ReadConsistency::Strong), [invariant::LIST_DUPLICATE_KEY]);
        let unordered = [base(), vec![list(3, 0, &[b, K], (30, 40))]].concat();
        assert_eq!(names(&history(unordered), ReadConsistency::Strong), [invariant::LIST_OUT_OF_ORDER]);
        // Listings are always current: no eventual allowance.
        let missing_eventual = [base(), vec![list(3, 0, &[b], (30, 40))]].concat();
        assert_eq!(names(&history(missing_eventual), WINDOW), [invariant::LIST_MISSING_KEY]);
    }

    #[test]
    fn the_final_read_holds_the_newest_acknowledged_write_or_a_later_indeterminate_one() {
        let ops = || vec![put(1, 0, Ok, (0, 10)), put(2, 0, Ok, (20, 30)), put(3, 0, Info, (40, 50))];
        clean(&with_final(ops(), Result::Ok(Value(2))), ReadConsistency::Strong);
        clean(&with_final(ops(), Result::Ok(Value(3))), ReadConsistency::Strong);
        // The final read has no eventual allowance: the harness waits out the window.
        assert_eq!(names(&with_final(ops(), Result::Ok(Value(1))), WINDOW), [invariant::FINAL_READ_DISAGREES]);
        assert_eq!(
            names(&with_final(ops(), Result::Ok(Absent)), ReadConsistency::Strong),
            [invariant::FINAL_READ_DISAGREES]
        );
        assert_eq!(
            names(&with_final(ops(), Err("500 InternalError".into())), ReadConsistency::Strong),
            [invariant::FINAL_READ_DISAGREES]
        );
        let deleted = vec![put(1, 0, Ok, (0, 10)), delete(2, 0, Ok, (20, 30))];
        clean(&with_final(deleted, Result::Ok(Absent)), ReadConsistency::Strong);
    }

    #[test]
    fn a_malformed_history_is_reported_not_trusted() {
        let no_observation = op(1, 0, KvOpKind::Get { key: K.into(), observed: None }, Ok, (0, 10));
        assert_eq!(names(&history(vec![no_observation]), ReadConsistency::Strong), [invariant::MALFORMED_HISTORY]);
        let overlapping = vec![put(1, 0, Ok, (0, 10)), put(2, 0, Ok, (5, 15))];
        assert_eq!(names(&history(overlapping), ReadConsistency::Strong), [invariant::MALFORMED_HISTORY]);
        let backwards = vec![put(1, 0, Ok, (10, 5))];
        assert_eq!(names(&history(backwards), ReadConsistency::Strong), [invariant::MALFORMED_HISTORY]);
    }

    #[test]
    fn a_systematic_bug_is_summarised_after_ten_violations() {
        let mut ops = vec![put(1, 0, Ok, (0, 10)), put(2, 0, Ok, (20, 30))];
        ops.extend((0..15).map(|i| get(10 + i, 0, Value(1), (40 + 10 * i, 45 + 10 * i))));
        let violations = check_kv(&history(ops), ReadConsistency::Strong);
        assert_eq!(violations.len(), VIOLATIONS_PER_INVARIANT_MAX + 1);
        assert!(violations.iter().all(|v| v.invariant == invariant::STALE_GET));
        assert_eq!(violations.last().map(|v| v.detail.as_str()), Some("... and 5 more like the above"));
    }
}
