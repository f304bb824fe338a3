//! Read-modify-write of a mutable file (Tahoe-LAFS's `modify`, used for
//! appends and mutable directories), with its retry after uncoordinated
//! writes and the design's choice after an ambiguous 500.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use retrylab_s3::Clock;
use retrylab_sim::EventKind;

use super::mutable::Mode;
use super::Gateway;
use crate::cap::MutableCap;
use crate::config::ModifyRetry;
use crate::error::{GatewayError, Outcome, WriteError};
use crate::host::Host;

/// Tahoe-LAFS's `BackoffAgent`: the delay starts at 1 s and is multiplied by
/// e (with normal jitter of 0.1196 x the delay) before each wait; the 4th
/// failure is final. So the waits are about e, e^2 and e^3 seconds.
const BACKOFF_INITIAL_S: f64 = 1.0;
const BACKOFF_FACTOR: f64 = std::f64::consts::E;
const BACKOFF_JITTER: f64 = 0.119_626_564_92;
pub const MODIFY_TRIES_MAX: u32 = 4;

/// The trace note of a modify's own retry (its value: the try that failed).
pub const MODIFY_RETRY_NOTE: &str = "lafs.modify.retry.attempt";

/// A change to a mutable file's contents.
pub trait Modifier {
    /// The new contents from the current ones; `None` when nothing needs to change.
    fn apply(&self, current: &Bytes) -> Result<Option<Bytes>, GatewayError>;
    /// Whether `current` already carries this change (its identity is
    /// there). `ModifyRetry::Reconcile` asks before re-applying a change
    /// whose earlier attempt may have landed.
    fn is_applied(&self, current: &Bytes) -> bool;
}

/// Appends one line; its identity is the line itself (so lines must be
/// unique, e.g. carry an operation id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendLine {
    /// The line with its trailing `\n`.
    pub line: Bytes,
}

impl AppendLine {
    /// The line `"{id}\n"`.
    pub fn numbered(id: u64) -> Self {
        AppendLine { line: Bytes::from(format!("{id}\n")) }
    }
}

impl Modifier for AppendLine {
    fn apply(&self, current: &Bytes) -> Result<Option<Bytes>, GatewayError> {
        let mut out = BytesMut::with_capacity(current.len() + self.line.len());
        out.extend_from_slice(current);
        out.extend_from_slice(&self.line);
        Ok(Some(out.freeze()))
    }

    fn is_applied(&self, current: &Bytes) -> bool {
        let line = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
        current.split(|b| *b == b'\n').any(|l| l == line)
    }
}

/// A modify that succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Modified {
    /// The version that carries the change.
    pub seqnum: u64,
    /// Whether this modify published (false: nothing to change, or the
    /// change was found already applied).
    pub published: bool,
    /// Read-modify-write rounds run (1 unless retried).
    pub attempts: u32,
}

impl<H: Host> Gateway<H> {
    /// Read-modify-write: a servermap update (MODE_WRITE), retrieve, apply
    /// `modifier`, publish. An `UncoordinatedWriteError`, or any 500 whose
    /// write may have landed, is retried after Tahoe-LAFS's backoff, up to
    /// [`MODIFY_TRIES_MAX`] tries. What the retry does depends on the design:
    /// `Replay` re-runs the read-modify-write as it is (so a change that did
    /// land is applied again); `Reconcile`, once any attempt may have
    /// landed, first checks whether the re-read contents already carry the
    /// change and, if so, stops there.
    pub async fn modify(&self, cap: &MutableCap, modifier: &dyn Modifier) -> Result<Modified, WriteError> {
        self.modify_again(cap, modifier, false).await
    }

    /// [`Gateway::modify`] for a client retrying a modify of its own that
    /// failed: `maybe_landed` says whether the earlier try may have landed
    /// (its outcome was indeterminate), which `Reconcile` then checks first,
    /// exactly as it does between its own tries.
    pub async fn modify_again(
        &self,
        cap: &MutableCap,
        modifier: &dyn Modifier,
        maybe_landed: bool,
    ) -> Result<Modified, WriteError> {
        let mut maybe_landed = maybe_landed;
        let mut delay_s = BACKOFF_INITIAL_S;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome_so_far = if maybe_landed { Outcome::Indeterminate } else { Outcome::NotApplied };
            let mut map = self.update_servermap(cap, Mode::Write).await;
            let current =
                self.retrieve(cap, &mut map).await.map_err(|error| WriteError { error, outcome: outcome_so_far })?;
            let reconciling = maybe_landed && self.config.design.modify_retry == ModifyRetry::Reconcile;
            let changed = if reconciling && modifier.is_applied(&current.contents) {
                None
            } else {
                modifier.apply(&current.contents).map_err(|error| WriteError { error, outcome: outcome_so_far })?
            };
            let new_contents = match changed {
                Some(contents) => contents,
                // Nothing to change (or the change landed). That counts only
                // once a write quorum holds the version: one on fewer shares
                // is one later reads may not meet, and the next write may
                // build on an older one. Otherwise publish it again.
                None if self.shares_of_version(&map, current.seqnum) >= self.write_quorum() => {
                    if let Some(verinfo) = map.best_recoverable() {
                        self.acknowledge(cap, &verinfo);
                    }
                    return Ok(Modified { seqnum: current.seqnum, published: false, attempts: attempt });
                }
                None => current.contents.clone(),
            };
            match self.publish(cap, &map, new_contents).await {
                Ok(seqnum) => return Ok(Modified { seqnum, published: true, attempts: attempt }),
                Err(failure) => {
                    maybe_landed |= failure.outcome == Outcome::Indeterminate;
                    let retryable = matches!(failure.error, GatewayError::UncoordinatedWrite { .. })
                        || (failure.outcome == Outcome::Indeterminate && failure.web_status() == 500);
                    if !retryable || attempt >= MODIFY_TRIES_MAX {
                        let outcome = if maybe_landed { Outcome::Indeterminate } else { failure.outcome };
                        return Err(WriteError { error: failure.error, outcome });
                    }
                    delay_s *= BACKOFF_FACTOR;
                    let wait_s = (delay_s + delay_s * BACKOFF_JITTER * self.standard_normal()).max(0.0);
                    let note = EventKind::Note { what: MODIFY_RETRY_NOTE, value: u64::from(attempt) };
                    if let Some(trace) = self.host.trace() {
                        trace.record_with(self.node, note, || {
                            vec![
                                ("delay_ms", Duration::from_secs_f64(wait_s).into()),
                                ("error", failure.error.name().into()),
                                ("attempts_max", MODIFY_TRIES_MAX.into()),
                            ]
                        });
                    }
                    self.host.clock().sleep(Duration::from_secs_f64(wait_s)).await;
                }
            }
        }
    }

    /// A standard normal draw (Box-Muller) from the backoff stream.
    fn standard_normal(&self) -> f64 {
        retrylab_faults::draw::standard_normal(&mut self.backoff_rng.borrow_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_line_identity() {
        let append = AppendLine::numbered(12);
        let current = Bytes::from_static(b"1\n2\n");
        let after = append.apply(&current).unwrap().unwrap();
        assert_eq!(&after[..], b"1\n2\n12\n");
        assert!(!append.is_applied(&current));
        assert!(append.is_applied(&after));
        assert!(!AppendLine::numbered(2).is_applied(&Bytes::from_static(b"12\n")));
    }
}
