//! Wald's sequential probability ratio test (SPRT) for a Bernoulli success rate.
//!
//! Simulating a fixed, large number of seeds wastes time when the answer is
//! obvious after a few hundred. The SPRT looks at the evidence after every
//! batch and stops as soon as it favours one hypothesis strongly enough, while
//! keeping the error rates close to the `alpha` and `beta` asked for (Wald's
//! boundaries are slightly conservative). On average it needs far fewer trials
//! than a fixed-sample test with the same error rates.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the evidence says so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SprtVerdict {
    /// Not enough evidence either way: keep sampling.
    Continue,
    /// The success probability is consistent with `p0` (H1 rejected).
    AcceptH0,
    /// The success probability is consistent with `p1` (H0 rejected).
    AcceptH1,
}

/// Why [`Sprt::new`] or [`Sprt::observe`] refused its arguments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SprtError {
    /// `p0` or `p1` is NaN or not strictly between 0 and 1 (at 0 or 1 one
    /// hypothesis makes some outcome impossible and the log-likelihood ratio
    /// becomes infinite).
    ProbabilityOutOfRange {
        /// Which argument: `"p0"` or `"p1"`.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// `p0 == p1`: the data cannot tell the hypotheses apart.
    IdenticalHypotheses {
        /// The shared value.
        p: f64,
    },
    /// `alpha` or `beta` is NaN or not strictly between 0 and 1.
    ErrorRateOutOfRange {
        /// Which argument: `"alpha"` or `"beta"`.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// `alpha + beta >= 1`: the two boundaries would cross, so the test could
    /// decide before seeing any data.
    ErrorRatesTooLarge {
        /// The type I error rate given.
        alpha: f64,
        /// The type II error rate given.
        beta: f64,
    },
    /// An observation claimed more successes than trials.
    SuccessesExceedTrials {
        /// Successes given.
        successes: u64,
        /// Trials given.
        trials: u64,
    },
}

impl fmt::Display for SprtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SprtError::ProbabilityOutOfRange { name, value } | SprtError::ErrorRateOutOfRange { name, value } => {
                write!(f, "SPRT {name} must be strictly between 0 and 1, got {value}")
            }
            SprtError::IdenticalHypotheses { p } => {
                write!(f, "SPRT p0 and p1 must differ, both are {p}")
            }
            SprtError::ErrorRatesTooLarge { alpha, beta } => {
                write!(f, "SPRT needs alpha + beta < 1, got {alpha} + {beta}")
            }
            SprtError::SuccessesExceedTrials { successes, trials } => {
                write!(f, "SPRT observation has {successes} successes in only {trials} trials")
            }
        }
    }
}

impl std::error::Error for SprtError {}

/// Wald's SPRT of H0: success probability `p0` against H1: `p1`.
///
/// `p1` may be above or below `p0`; the test accepts whichever hypothesis the
/// log-likelihood ratio `ln L(p1) / L(p0)` crosses the boundary for:
/// `ln((1 - beta) / alpha)` for H1 and `ln(beta / (1 - alpha))` for H0.
///
/// The verdict is sticky: once a boundary is crossed it no longer changes,
/// because the error-rate guarantee is for stopping at the first crossing;
/// reading the ratio again later would be a different test. Counts keep
/// accumulating so reports can still show everything observed.
///
/// Observations may arrive in batches; boundaries are checked after each
/// batch. Looking less often only removes chances to stop, so Wald's bounds on
/// the error rates still hold; the price is overshoot (more trials than needed).
///
/// Serialisable for reports; deliberately not deserialisable, since a
/// hand-edited state could break the invariants `new` checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sprt {
    p0: f64,
    p1: f64,
    alpha: f64,
    beta: f64,
    /// Log-likelihood-ratio increment per success: `ln(p1 / p0)`.
    llr_per_success: f64,
    /// Log-likelihood-ratio increment per failure: `ln((1 - p1) / (1 - p0))`.
    llr_per_failure: f64,
    /// Accept H1 at or above this.
    llr_accept_h1: f64,
    /// Accept H0 at or below this.
    llr_accept_h0: f64,
    successes: u64,
    trials: u64,
    llr: f64,
    verdict: SprtVerdict,
    /// Trials observed when the verdict was reached (end of that batch).
    decided_at_trials: Option<u64>,
}

/// True when `value` is strictly inside `(0, 1)` (false for NaN).
fn strictly_unit(value: f64) -> bool {
    value > 0.0 && value < 1.0
}

impl Sprt {
    /// Set up the test of H0: success probability `p0` against H1: `p1`, with
    /// type I error rate `alpha` (accepting H1 when H0 holds) and type II error
    /// rate `beta` (accepting H0 when H1 holds).
    ///
    /// Typical use: `Sprt::new(0.99, 0.999, 0.01, 0.01)` asks "does this
    /// policy reach 99.9% success, or only 99%?".
    ///
    /// # Errors
    ///
    /// [`SprtError`] when a probability or error rate is outside `(0, 1)`,
    /// `p0 == p1`, or `alpha + beta >= 1`.
    pub fn new(p0: f64, p1: f64, alpha: f64, beta: f64) -> Result<Sprt, SprtError> {
        for (name, value) in [("p0", p0), ("p1", p1)] {
            if !strictly_unit(value) {
                return Err(SprtError::ProbabilityOutOfRange { name, value });
            }
        }
        if p0 == p1 {
            return Err(SprtError::IdenticalHypotheses { p: p0 });
        }
        for (name, value) in [("alpha", alpha), ("beta", beta)] {
            if !strictly_unit(value) {
                return Err(SprtError::ErrorRateOutOfRange { name, value });
            }
        }
        if alpha + beta >= 1.0 {
            return Err(SprtError::ErrorRatesTooLarge { alpha, beta });
        }
        Ok(Sprt {
            p0,
            p1,
            alpha,
            beta,
            llr_per_success: (p1 / p0).ln(),
            // ln_1p keeps precision when p0 and p1 are both close to 0.
            llr_per_failure: (-p1).ln_1p() - (-p0).ln_1p(),
            llr_accept_h1: ((1.0 - beta) / alpha).ln(),
            llr_accept_h0: (beta / (1.0 - alpha)).ln(),
            successes: 0,
            trials: 0,
            llr: 0.0,
            verdict: SprtVerdict::Continue,
            decided_at_trials: None,
        })
    }

    /// Add a batch of `trials` Bernoulli outcomes of which `successes`
    /// succeeded, and return the (possibly new) verdict.
    ///
    /// Counts saturate at `u64::MAX` rather than overflow.
    ///
    /// # Errors
    ///
    /// [`SprtError::SuccessesExceedTrials`] when `successes > trials`; the
    /// state is then left unchanged.
    pub fn observe(&mut self, successes: u64, trials: u64) -> Result<SprtVerdict, SprtError> {
        if successes > trials {
            return Err(SprtError::SuccessesExceedTrials { successes, trials });
        }
        let failures = trials - successes;
        self.successes = self.successes.saturating_add(successes);
        self.trials = self.trials.saturating_add(trials);
        self.llr += successes as f64 * self.llr_per_success + failures as f64 * self.llr_per_failure;
        if self.verdict == SprtVerdict::Continue {
            if self.llr >= self.llr_accept_h1 {
                self.verdict = SprtVerdict::AcceptH1;
            } else if self.llr <= self.llr_accept_h0 {
                self.verdict = SprtVerdict::AcceptH0;
            }
            if self.verdict != SprtVerdict::Continue {
                self.decided_at_trials = Some(self.trials);
            }
        }
        Ok(self.verdict)
    }

    /// The current verdict; sticky once a boundary has been crossed.
    #[must_use]
    pub fn verdict(&self) -> SprtVerdict {
        self.verdict
    }

    /// Total trials observed when the verdict was reached, if it has been.
    #[must_use]
    pub fn decided_at_trials(&self) -> Option<u64> {
        self.decided_at_trials
    }

    /// Current log-likelihood ratio `ln L(p1) / L(p0)` (natural log).
    #[must_use]
    pub fn log_likelihood_ratio(&self) -> f64 {
        self.llr
    }

    /// The `(accept H0, accept H1)` boundaries on the log-likelihood ratio.
    #[must_use]
    pub fn boundaries(&self) -> (f64, f64) {
        (self.llr_accept_h0, self.llr_accept_h1)
    }

    /// Successes observed so far.
    #[must_use]
    pub fn successes(&self) -> u64 {
        self.successes
    }

    /// Trials observed so far.
    #[must_use]
    pub fn trials(&self) -> u64 {
        self.trials
    }

    /// The hypotheses and error rates this test was built with:
    /// `(p0, p1, alpha, beta)`.
    #[must_use]
    pub fn parameters(&self) -> (f64, f64, f64, f64) {
        (self.p0, self.p1, self.alpha, self.beta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tol: f64) {
        assert!((actual - expected).abs() <= tol, "expected {expected}, got {actual}");
    }

    #[test]
    fn boundaries_match_wald() {
        let t = Sprt::new(0.5, 0.7, 0.05, 0.1).unwrap();
        let (h0, h1) = t.boundaries();
        close(h1, (0.9_f64 / 0.05).ln(), 1e-15);
        close(h0, (0.1_f64 / 0.95).ln(), 1e-15);
        assert_eq!(t.verdict(), SprtVerdict::Continue);
    }

    #[test]
    fn all_successes_accept_h1_quickly() {
        // H0 p = 0.5, H1 p = 0.9; each success adds ln(1.8) = 0.5878 and the
        // H1 boundary is ln(0.99 / 0.01) = 4.595, so the 8th success decides.
        let mut t = Sprt::new(0.5, 0.9, 0.01, 0.01).unwrap();
        for i in 1..=7 {
            assert_eq!(t.observe(1, 1).unwrap(), SprtVerdict::Continue, "trial {i}");
        }
        assert_eq!(t.observe(1, 1).unwrap(), SprtVerdict::AcceptH1);
        assert_eq!(t.decided_at_trials(), Some(8));
        close(t.log_likelihood_ratio(), 8.0 * 1.8_f64.ln(), 1e-12);
    }

    #[test]
    fn all_failures_accept_h0_quickly() {
        // Each failure adds ln(0.1 / 0.5) = -1.609; H0 boundary is -4.595,
        // so the 3rd failure decides.
        let mut t = Sprt::new(0.5, 0.9, 0.01, 0.01).unwrap();
        assert_eq!(t.observe(0, 2).unwrap(), SprtVerdict::Continue);
        assert_eq!(t.observe(0, 1).unwrap(), SprtVerdict::AcceptH0);
        assert_eq!(t.decided_at_trials(), Some(3));
    }

    #[test]
    fn high_reliability_policy_passes() {
        // Is success 99.9% rather than 99%? 2000 straight successes give
        // LLR = 2000 * ln(0.999 / 0.99) = 18.1 > ln(0.99 / 0.01) = 4.6.
        let mut t = Sprt::new(0.99, 0.999, 0.01, 0.01).unwrap();
        assert_eq!(t.observe(2000, 2000).unwrap(), SprtVerdict::AcceptH1);
        // A policy failing 1 in 50 is clearly at most 99%.
        let mut t = Sprt::new(0.99, 0.999, 0.01, 0.01).unwrap();
        assert_eq!(t.observe(980, 1000).unwrap(), SprtVerdict::AcceptH0);
    }

    #[test]
    fn decreasing_alternative_works() {
        // H1 says the rate dropped from 0.9 to 0.6; mostly failures confirm it.
        let mut t = Sprt::new(0.9, 0.6, 0.05, 0.05).unwrap();
        assert_eq!(t.observe(5, 20).unwrap(), SprtVerdict::AcceptH1);
        let mut t = Sprt::new(0.9, 0.6, 0.05, 0.05).unwrap();
        assert_eq!(t.observe(40, 40).unwrap(), SprtVerdict::AcceptH0);
    }

    #[test]
    fn mixed_data_at_midpoint_stays_undecided() {
        // Successes and failures balancing ln(1.8) vs ln(0.2): about 73% success
        // keeps the LLR near zero.
        let mut t = Sprt::new(0.5, 0.9, 0.01, 0.01).unwrap();
        assert_eq!(t.observe(11, 15).unwrap(), SprtVerdict::Continue);
        close(t.log_likelihood_ratio(), 11.0 * 1.8_f64.ln() + 4.0 * 0.2_f64.ln(), 1e-12);
        assert_eq!((t.successes(), t.trials()), (11, 15));
        assert_eq!(t.decided_at_trials(), None);
    }

    #[test]
    fn verdict_is_sticky() {
        let mut t = Sprt::new(0.5, 0.9, 0.01, 0.01).unwrap();
        assert_eq!(t.observe(10, 10).unwrap(), SprtVerdict::AcceptH1);
        assert_eq!(t.observe(0, 100).unwrap(), SprtVerdict::AcceptH1);
        assert!(t.log_likelihood_ratio() < t.boundaries().0);
        assert_eq!(t.trials(), 110);
        assert_eq!(t.decided_at_trials(), Some(10));
    }

    #[test]
    fn bad_observation_changes_nothing() {
        let mut t = Sprt::new(0.5, 0.9, 0.01, 0.01).unwrap();
        t.observe(1, 2).unwrap();
        let before = t.clone();
        assert_eq!(t.observe(3, 2), Err(SprtError::SuccessesExceedTrials { successes: 3, trials: 2 }));
        assert_eq!(t, before);
    }

    #[test]
    fn constructor_validates() {
        assert!(matches!(Sprt::new(0.0, 0.5, 0.05, 0.05), Err(SprtError::ProbabilityOutOfRange { name: "p0", .. })));
        assert!(matches!(
            Sprt::new(0.5, f64::NAN, 0.05, 0.05),
            Err(SprtError::ProbabilityOutOfRange { name: "p1", .. })
        ));
        assert!(matches!(Sprt::new(0.5, 1.0, 0.05, 0.05), Err(SprtError::ProbabilityOutOfRange { name: "p1", .. })));
        assert_eq!(Sprt::new(0.5, 0.5, 0.05, 0.05), Err(SprtError::IdenticalHypotheses { p: 0.5 }));
        assert!(matches!(Sprt::new(0.5, 0.6, 0.0, 0.05), Err(SprtError::ErrorRateOutOfRange { name: "alpha", .. })));
        assert!(matches!(Sprt::new(0.5, 0.6, 0.05, 1.5), Err(SprtError::ErrorRateOutOfRange { name: "beta", .. })));
        assert_eq!(Sprt::new(0.5, 0.6, 0.5, 0.5), Err(SprtError::ErrorRatesTooLarge { alpha: 0.5, beta: 0.5 }));
    }

    #[test]
    fn errors_display() {
        let e = Sprt::new(0.5, 0.5, 0.05, 0.05).unwrap_err();
        assert_eq!(e.to_string(), "SPRT p0 and p1 must differ, both are 0.5");
        let e = SprtError::SuccessesExceedTrials { successes: 3, trials: 2 };
        assert_eq!(e.to_string(), "SPRT observation has 3 successes in only 2 trials");
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert!(boxed.to_string().contains("3 successes"));
    }
}
