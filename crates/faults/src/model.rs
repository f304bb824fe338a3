//! S3 fault models: which request fails, how, and whether it was applied.

use std::fmt;
use std::time::Duration;

use rand::Rng;

use crate::rng::{slot_rng, stream, sub_seed, SimRng};

/// How a faulted S3 request fails, as the client sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// `500 InternalError: We encountered an internal error. Please try again.`
    InternalError,
    /// `503 SlowDown`: throttling; S3 rejects before applying anything.
    SlowDown,
    /// The connection drops with no status line (2012's `BadStatusLine: ''`).
    ConnectionReset,
    /// No answer at all: the client waits until its request timeout.
    Timeout,
}

impl FaultKind {
    pub const ALL: [FaultKind; 4] =
        [FaultKind::InternalError, FaultKind::SlowDown, FaultKind::ConnectionReset, FaultKind::Timeout];

    /// Stable lower-case name used in reports, traces and scenario files.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::InternalError => "internal_error",
            FaultKind::SlowDown => "slow_down",
            FaultKind::ConnectionReset => "connection_reset",
            FaultKind::Timeout => "timeout",
        }
    }

    /// Whether S3 may have applied the request before this fault hid the
    /// answer. Throttling rejects up front, so a SlowDown is never applied.
    pub fn may_be_applied(self) -> bool {
        !matches!(self, FaultKind::SlowDown)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Relative weights of the fault kinds; they need not sum to 1.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultMix {
    pub internal_error: f64,
    pub slow_down: f64,
    pub connection_reset: f64,
    pub timeout: f64,
}

impl Default for FaultMix {
    /// Every fault a 500 InternalError, as in 2012.
    fn default() -> Self {
        FaultMix { internal_error: 1.0, slow_down: 0.0, connection_reset: 0.0, timeout: 0.0 }
    }
}

impl FaultMix {
    fn weights(&self) -> [(FaultKind, f64); 4] {
        [
            (FaultKind::InternalError, self.internal_error),
            (FaultKind::SlowDown, self.slow_down),
            (FaultKind::ConnectionReset, self.connection_reset),
            (FaultKind::Timeout, self.timeout),
        ]
    }

    /// The fraction of faults that are of `kind`.
    pub fn fraction(&self, kind: FaultKind) -> f64 {
        let total: f64 = self.weights().iter().map(|(_, w)| w).sum();
        let weight = self.weights().iter().find(|(k, _)| *k == kind).map_or(0.0, |(_, w)| *w);
        if total > 0.0 {
            weight / total
        } else {
            0.0
        }
    }

    /// The kind picked by a uniform draw `u` in [0, 1).
    pub fn pick(&self, u: f64) -> FaultKind {
        let total: f64 = self.weights().iter().map(|(_, w)| w).sum();
        let mut remaining = u * total;
        for (kind, weight) in self.weights() {
            if remaining < weight {
                return kind;
            }
            remaining -= weight;
        }
        FaultKind::InternalError
    }
}

/// The shortest mean sojourn of a Gilbert-Elliott state, in milliseconds:
/// the simulator's clock resolution (every latency and delay is whole
/// milliseconds). A chain that switches many times between two requests is
/// in its stationary distribution at each of them, which is independent
/// faults at the stationary rate; shorter means describe no burst the
/// simulator could show.
pub const BURST_MEAN_MS_MIN: f64 = 1.0;

/// Transitions of the Gilbert-Elliott chain stepped one at a time between
/// two requests before the chain jumps to its state at the request's time
/// in closed form (`Chain::jump_to`). Shipped scenarios switch every few
/// seconds at most, far below this between two requests, so their draws
/// are those of plain stepping; a chain switching much faster than requests
/// arrive costs at most this many steps per request instead of one per
/// transition (means of 1e-9 s cost 10 wall-seconds per simulated second,
/// and 1e-320 s never advanced at all).
const CHAIN_STEPS_MAX: u32 = 256;

/// A two-state Gilbert-Elliott chain in continuous virtual time: the service
/// alternates between a good and a bad state with exponentially distributed
/// sojourns, and fails each request with the probability of its state.
#[derive(Clone, Debug, PartialEq)]
pub struct BurstParams {
    pub good_mean_ms: f64,
    pub bad_mean_ms: f64,
    pub good_failure: f64,
    pub bad_failure: f64,
}

impl BurstParams {
    /// Long-run fraction of time spent in the bad state.
    pub fn stationary_bad_fraction(&self) -> f64 {
        self.bad_mean_ms / (self.good_mean_ms + self.bad_mean_ms)
    }

    /// Long-run failure probability of a request arriving at a random time.
    pub fn stationary_failure_rate(&self) -> f64 {
        let bad = self.stationary_bad_fraction();
        (1.0 - bad) * self.good_failure + bad * self.bad_failure
    }

    /// Probability that a request `gap_ms` after a failed one fails too, for
    /// arrivals at stationary random times (used by the calibration docs).
    pub fn failure_after_failure(&self, gap_ms: f64) -> f64 {
        let bad = self.stationary_bad_fraction();
        let rate = 1.0 / self.good_mean_ms + 1.0 / self.bad_mean_ms;
        let decay = libm::exp(-rate * gap_ms);
        // P(bad at t+gap | bad at t) and P(bad at t+gap | good at t).
        let stay_bad = bad + (1.0 - bad) * decay;
        let become_bad = bad * (1.0 - decay);
        let p_fail = self.stationary_failure_rate();
        let fail_then_fail =
            (1.0 - bad) * self.good_failure * ((1.0 - become_bad) * self.good_failure + become_bad * self.bad_failure)
                + bad * self.bad_failure * ((1.0 - stay_bad) * self.good_failure + stay_bad * self.bad_failure);
        if p_fail > 0.0 {
            fail_then_fail / p_fail
        } else {
            0.0
        }
    }
}

/// Which requests fail, before the outages and the mix are applied.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultProcess {
    Never,
    /// Each request fails with probability `failure_probability`.
    Independent {
        failure_probability: f64,
    },
    /// Bursty faults (see [`BurstParams`]).
    GilbertElliott(BurstParams),
}

impl FaultProcess {
    pub fn stationary_failure_rate(&self) -> f64 {
        match self {
            FaultProcess::Never => 0.0,
            FaultProcess::Independent { failure_probability } => *failure_probability,
            FaultProcess::GilbertElliott(burst) => burst.stationary_failure_rate(),
        }
    }
}

/// A scripted outage: every request arriving in `[start, end)` of virtual
/// time (measured from the world's start) fails with `kind`.
#[derive(Clone, Debug, PartialEq)]
pub struct Outage {
    pub start_ms: u64,
    pub end_ms: u64,
    pub kind: FaultKind,
}

/// The complete fault model of one S3 service.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultModel {
    pub process: FaultProcess,
    pub outages: Vec<Outage>,
    pub mix: FaultMix,
    /// Of the faults that may be applied (not SlowDown), the fraction where
    /// S3 did apply a mutating request before the client saw the failure.
    /// S3 documents that a 500 InternalError may leave the write done.
    pub ambiguous_fraction: f64,
}

impl Default for FaultModel {
    fn default() -> Self {
        FaultModel {
            process: FaultProcess::Never,
            outages: Vec::new(),
            mix: FaultMix::default(),
            ambiguous_fraction: 0.0,
        }
    }
}

/// Why a fault model cannot be used; `field` names the parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelError {
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ModelError {}

fn probability(field: &'static str, value: f64) -> Result<(), ModelError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(ModelError { field, message: format!("must be a probability in [0, 1], got {value}") })
    }
}

fn positive(field: &'static str, value: f64) -> Result<(), ModelError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ModelError { field, message: format!("must be a finite number > 0, got {value}") })
    }
}

fn burst_mean(field: &'static str, value: f64) -> Result<(), ModelError> {
    positive(field, value)?;
    if value < BURST_MEAN_MS_MIN {
        return Err(ModelError {
            field,
            message: format!(
                "must be at least {BURST_MEAN_MS_MIN} ms (the simulator's resolution; a faster chain is \
                 independent faults at its stationary rate), got {value}"
            ),
        });
    }
    Ok(())
}

impl FaultModel {
    /// Independent faults with probability `p`, all 500 InternalError.
    pub fn independent(p: f64) -> Self {
        FaultModel { process: FaultProcess::Independent { failure_probability: p }, ..FaultModel::default() }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        match &self.process {
            FaultProcess::Never => {}
            FaultProcess::Independent { failure_probability } => {
                probability("failure_probability", *failure_probability)?;
            }
            FaultProcess::GilbertElliott(burst) => {
                burst_mean("good_mean_ms", burst.good_mean_ms)?;
                burst_mean("bad_mean_ms", burst.bad_mean_ms)?;
                probability("good_failure", burst.good_failure)?;
                probability("bad_failure", burst.bad_failure)?;
            }
        }
        for outage in &self.outages {
            if outage.end_ms <= outage.start_ms {
                return Err(ModelError {
                    field: "end_ms",
                    message: format!(
                        "an outage must end after it starts (start_ms {}, end_ms {})",
                        outage.start_ms, outage.end_ms
                    ),
                });
            }
        }
        for (kind, weight) in self.mix.weights() {
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(ModelError {
                    field: kind.name(),
                    message: format!("a fault mix weight must be >= 0, got {weight}"),
                });
            }
        }
        if self.mix.weights().iter().all(|(_, w)| *w == 0.0) {
            return Err(ModelError { field: "mix", message: "at least one fault kind needs a weight > 0".into() });
        }
        probability("ambiguous_fraction", self.ambiguous_fraction)
    }
}

/// The verdict on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultDecision {
    pub kind: FaultKind,
    /// The request took effect at S3 although the client sees `kind`.
    pub applied: bool,
}

/// A [`FaultModel`] bound to a seed: answers, request by request in
/// non-decreasing virtual time, whether that request fails.
#[derive(Clone, Debug)]
pub struct FaultSchedule {
    model: FaultModel,
    slot_seed: u64,
    chain: Option<Chain>,
    /// Requests that arrived inside each of `model.outages`, in its order:
    /// an outage no request reached cannot have affected the run.
    outage_requests: Vec<u64>,
}

#[derive(Clone, Debug)]
struct Chain {
    rng: SimRng,
    params: BurstParams,
    bad: bool,
    /// Virtual time, in ms, of the next state change.
    next_switch_ms: f64,
}

impl Chain {
    fn new(params: BurstParams, mut rng: SimRng) -> Self {
        // Start in the stationary distribution so that short runs are not
        // biased towards the good state.
        let bad = rng.gen::<f64>() < params.stationary_bad_fraction();
        let mut chain = Chain { rng, params, bad, next_switch_ms: 0.0 };
        chain.next_switch_ms = chain.sojourn_ms();
        chain
    }

    fn sojourn_ms(&mut self) -> f64 {
        let mean = if self.bad { self.params.bad_mean_ms } else { self.params.good_mean_ms };
        crate::draw::exponential(&mut self.rng, mean)
    }

    fn failure_probability_at(&mut self, now_ms: f64) -> f64 {
        let mut steps = 0;
        while self.next_switch_ms <= now_ms {
            if steps == CHAIN_STEPS_MAX {
                self.jump_to(now_ms);
                break;
            }
            self.bad = !self.bad;
            self.next_switch_ms += self.sojourn_ms();
            steps += 1;
        }
        if self.bad {
            self.params.bad_failure
        } else {
            self.params.good_failure
        }
    }
}

impl Chain {
    /// Draws the state at `now_ms` (at or after the switch due at
    /// `next_switch_ms`) without stepping through the transitions between.
    /// From the state entered at that switch, a two-state chain with rates
    /// a = 1/good_mean (good to bad) and b = 1/bad_mean is bad at `t` later
    /// with probability pi_bad + (p0 - pi_bad) e^{-(a+b) t}, where
    /// pi_bad = a / (a + b) and p0 is 1 when it entered bad, 0 otherwise.
    /// Sojourns are memoryless, so the time left in the drawn state is a
    /// fresh sojourn: the chain's law is exactly that of stepping.
    fn jump_to(&mut self, now_ms: f64) {
        let entered_bad = !self.bad;
        let elapsed_ms = now_ms - self.next_switch_ms;
        let pi_bad = self.params.stationary_bad_fraction();
        let rate = 1.0 / self.params.good_mean_ms + 1.0 / self.params.bad_mean_ms;
        // An infinite rate (absurdly short means) has forgotten its start at any t > 0.
        let decay = if elapsed_ms > 0.0 { libm::exp(-rate * elapsed_ms) } else { 1.0 };
        let p0 = if entered_bad { 1.0 } else { 0.0 };
        let p_bad = pi_bad + (p0 - pi_bad) * decay;
        self.bad = self.rng.gen::<f64>() < p_bad;
        self.next_switch_ms = now_ms + self.sojourn_ms();
    }
}

impl FaultSchedule {
    /// `seed` is the component's sub-seed; the chain and the per-slot draws
    /// get streams of their own derived from it.
    pub fn new(model: FaultModel, seed: u64) -> Self {
        let chain = match &model.process {
            FaultProcess::GilbertElliott(params) => Some(Chain::new(params.clone(), stream(seed, "chain"))),
            _ => None,
        };
        let outage_requests = vec![0; model.outages.len()];
        FaultSchedule { slot_seed: sub_seed(seed, "slots"), model, chain, outage_requests }
    }

    pub fn model(&self) -> &FaultModel {
        &self.model
    }

    /// Requests that arrived inside each outage of the model so far, in the
    /// model's order (a request inside two overlapping outages counts for
    /// the first, whose kind it fails with).
    pub fn outage_requests(&self) -> &[u64] {
        &self.outage_requests
    }

    /// The burst chain's state as of the last [`FaultSchedule::decide`]:
    /// `Some(true)` in the bad state, `None` when the process is not
    /// Gilbert-Elliott. Reading it draws nothing.
    pub fn chain_bad(&self) -> Option<bool> {
        self.chain.as_ref().map(|chain| chain.bad)
    }

    /// The scripted outage (index in the model's `outages`) covering
    /// virtual time `now`, the one [`FaultSchedule::decide`] fails a request
    /// with. Reading it draws nothing.
    pub fn outage_at(&self, now: Duration) -> Option<usize> {
        let now_ms = now.as_millis() as u64;
        self.model.outages.iter().position(|o| o.start_ms <= now_ms && now_ms < o.end_ms)
    }

    /// Whether the request in slot `slot`, arriving at virtual time `now`
    /// since the world's start, fails. Calls must come in non-decreasing
    /// `now`; the slot's draws do not depend on earlier slots.
    pub fn decide(&mut self, slot: u64, now: Duration) -> Option<FaultDecision> {
        let now_ms = now.as_secs_f64() * 1000.0;
        let p_fail = match (&self.model.process, &mut self.chain) {
            (FaultProcess::Never, _) => 0.0,
            (FaultProcess::Independent { failure_probability }, _) => *failure_probability,
            (FaultProcess::GilbertElliott(_), Some(chain)) => chain.failure_probability_at(now_ms),
            (FaultProcess::GilbertElliott(_), None) => 0.0,
        };
        let outage_index = self.outage_at(now);
        if let Some(index) = outage_index {
            self.outage_requests[index] += 1;
        }
        let outage = outage_index.map(|index| &self.model.outages[index]);
        if outage.is_none() && p_fail <= 0.0 {
            return None;
        }
        // Always three draws per slot, in this order, so that the slot's luck
        // is the same whatever the outcome.
        let mut rng = slot_rng(self.slot_seed, slot);
        let (u_fail, u_kind, u_applied): (f64, f64, f64) = (rng.gen(), rng.gen(), rng.gen());
        let kind = match outage {
            Some(outage) => outage.kind,
            None if u_fail < p_fail => self.model.mix.pick(u_kind),
            None => return None,
        };
        let applied = kind.may_be_applied() && u_applied < self.model.ambiguous_fraction;
        Some(FaultDecision { kind, applied })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burst() -> BurstParams {
        BurstParams { good_mean_ms: 2_000_000.0, bad_mean_ms: 5_000.0, good_failure: 0.0115, bad_failure: 0.6 }
    }

    #[test]
    fn independent_rate_matches_p() {
        let mut schedule = FaultSchedule::new(FaultModel::independent(0.013), 1);
        let n = 200_000u64;
        let failures =
            (0..n).filter(|&slot| schedule.decide(slot, Duration::from_millis(slot)).is_some()).count() as f64;
        // sd = sqrt(n p (1-p)) ~ 50.6; allow 5 sd.
        assert!((failures - 2600.0).abs() < 253.0, "{failures}");
    }

    #[test]
    fn gilbert_elliott_long_run_rate_is_stationary() {
        let params = burst();
        let expected = params.stationary_failure_rate();
        let model = FaultModel { process: FaultProcess::GilbertElliott(params), ..FaultModel::default() };
        let mut failures = 0u64;
        let n = 400_000u64;
        let mut schedule = FaultSchedule::new(model, 11);
        for slot in 0..n {
            // One request a second over 400,000 s: ~200 bad episodes.
            if schedule.decide(slot, Duration::from_secs(slot)).is_some() {
                failures += 1;
            }
        }
        let rate = failures as f64 / n as f64;
        assert!((rate - expected).abs() < 0.15 * expected, "rate {rate} expected {expected}");
    }

    #[test]
    fn outage_fails_everything_inside_only() {
        let model = FaultModel {
            outages: vec![Outage { start_ms: 1000, end_ms: 2000, kind: FaultKind::SlowDown }],
            ..FaultModel::default()
        };
        let mut schedule = FaultSchedule::new(model, 3);
        assert!(schedule.decide(0, Duration::from_millis(999)).is_none());
        let inside = schedule.decide(1, Duration::from_millis(1000)).unwrap();
        assert_eq!(inside, FaultDecision { kind: FaultKind::SlowDown, applied: false });
        assert!(schedule.decide(2, Duration::from_millis(1999)).is_some());
        assert!(schedule.decide(3, Duration::from_millis(2000)).is_none());
        assert_eq!(schedule.outage_requests(), [2]);
    }

    #[test]
    fn ambiguous_fraction_and_mix_are_respected() {
        let model = FaultModel {
            process: FaultProcess::Independent { failure_probability: 1.0 },
            mix: FaultMix { internal_error: 1.0, slow_down: 1.0, connection_reset: 0.0, timeout: 0.0 },
            ambiguous_fraction: 0.5,
            ..FaultModel::default()
        };
        let mut schedule = FaultSchedule::new(model, 5);
        let decisions: Vec<_> = (0..10_000).map(|slot| schedule.decide(slot, Duration::ZERO).unwrap()).collect();
        let slow = decisions.iter().filter(|d| d.kind == FaultKind::SlowDown).count();
        assert!((4_700..5_300).contains(&slow), "{slow}");
        assert!(decisions.iter().filter(|d| d.kind == FaultKind::SlowDown).all(|d| !d.applied));
        let applied = decisions.iter().filter(|d| d.applied).count();
        assert!((2_300..2_700).contains(&applied), "{applied}");
    }

    #[test]
    fn validation_names_the_field() {
        let bad = FaultModel::independent(1.5);
        assert_eq!(bad.validate().unwrap_err().field, "failure_probability");
        let model = FaultModel { ambiguous_fraction: -0.1, ..FaultModel::default() };
        assert_eq!(model.validate().unwrap_err().field, "ambiguous_fraction");
    }

    /// Issue 9: means of 1e-320 s looped forever in the chain's advance
    /// (each sojourn added nothing to the switch time); 1e-9 s cost about
    /// 10 wall-seconds per simulated second. The simulator's own guard
    /// refuses them, and the chain never steps more than CHAIN_STEPS_MAX
    /// times per request whatever it is given.
    #[test]
    fn absurdly_short_means_are_refused_and_cannot_hang_the_chain() {
        for mean_ms in [1e-317, 1e-6] {
            let params =
                BurstParams { good_mean_ms: mean_ms, bad_mean_ms: mean_ms, good_failure: 0.0, bad_failure: 1.0 };
            let model = FaultModel { process: FaultProcess::GilbertElliott(params), ..FaultModel::default() };
            assert_eq!(model.validate().unwrap_err().field, "good_mean_ms");
            let mut schedule = FaultSchedule::new(model, 3);
            // 200 simulated seconds, a request every 10 ms: stationary, half fail.
            let n = 20_000u64;
            let failures = (0..n).filter(|&slot| schedule.decide(slot, Duration::from_millis(slot * 10)).is_some());
            let rate = failures.count() as f64 / n as f64;
            // sd = 0.5 / sqrt(n) ~ 0.0035; allow 5 sd.
            assert!((rate - 0.5).abs() < 0.018, "{mean_ms} ms: {rate}");
        }
    }

    /// The closed-form jump draws the state with the two-state chain's
    /// transition probabilities, from either starting state.
    #[test]
    fn the_jump_draws_the_chains_transient_law() {
        let params = BurstParams { good_mean_ms: 4.0, bad_mean_ms: 1.0, good_failure: 0.0, bad_failure: 1.0 };
        let pi_bad = params.stationary_bad_fraction();
        let rate = 1.0 / 4.0 + 1.0 / 1.0;
        for (entered_bad, elapsed_ms) in [(true, 0.0), (true, 0.5), (false, 0.5), (true, 3.0), (false, 1.0)] {
            let mut chain = Chain::new(params.clone(), stream(5, "jump"));
            let n = 200_000;
            let mut bad = 0;
            for _ in 0..n {
                chain.bad = !entered_bad;
                chain.next_switch_ms = 10.0;
                chain.jump_to(10.0 + elapsed_ms);
                bad += u32::from(chain.bad);
            }
            let p0 = if entered_bad { 1.0 } else { 0.0 };
            let expected = pi_bad + (p0 - pi_bad) * f64::exp(-rate * elapsed_ms);
            let observed = f64::from(bad) / f64::from(n);
            // sd <= 0.5 / sqrt(n) ~ 0.0011; allow 5 sd.
            assert!((observed - expected).abs() < 0.0056, "{entered_bad} {elapsed_ms}: {observed} vs {expected}");
        }
    }

    /// Stepping and jumping agree: a chain whose requests are far apart
    /// (every gap past CHAIN_STEPS_MAX transitions) fails at the stationary rate.
    #[test]
    fn a_chain_that_jumps_fails_at_the_stationary_rate() {
        let params = BurstParams { good_mean_ms: 3.0, bad_mean_ms: 1.0, good_failure: 0.1, bad_failure: 0.9 };
        let expected = params.stationary_failure_rate();
        let model = FaultModel { process: FaultProcess::GilbertElliott(params), ..FaultModel::default() };
        let mut schedule = FaultSchedule::new(model, 17);
        let n = 100_000u64;
        // 5 s between requests: about 2,500 transitions each.
        let failures = (0..n).filter(|&slot| schedule.decide(slot, Duration::from_secs(slot * 5)).is_some());
        let rate = failures.count() as f64 / n as f64;
        assert!((rate - expected).abs() < 0.01, "{rate} vs {expected}");
    }

    #[test]
    fn failure_after_failure_limits() {
        let params = burst();
        // Long gaps forget the state: conditional rate tends to the stationary one.
        let far = params.failure_after_failure(1e12);
        assert!((far - params.stationary_failure_rate()).abs() < 1e-9);
        // Immediately after a failure, bursts make a second failure far likelier.
        assert!(params.failure_after_failure(0.0) > 4.0 * params.stationary_failure_rate());
    }
}
