//! How much to trust a fit, said in the report: the checks a careful reader of `retrylab
//! fit`'s numbers would make (enough faults, enough of the chain's cycles, closed intervals,
//! observed statistics inside the fitted model's bands, latencies that match held-out data),
//! each passed or flagged with the reason.

use retrylab_fit::{FaultProcessFit, GoodnessOfFit, LatencyChoice, LatencyFit, ModelBand, Verdict};
use serde::Serialize;

/// One check of a fit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrustCheck {
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Faults below which a fault rate is known to a factor, not a percentage.
const FAULTS_MIN: u64 = 30;
/// The chain's cycles (a good and a bad sojourn) a log must span for its intervals to mean
/// what they say (docs/fit.md: the calibration's logs hold 8 to 16).
const CYCLES_MIN: f64 = 5.0;
/// Latency shape's held-out Kolmogorov-Smirnov p-value below which the written latency is
/// flagged.
const KS_P_MIN: f64 = 0.01;

/// What the checks look at.
pub struct FitSummary<'a> {
    pub requests: u64,
    pub faults: u64,
    pub span_s: f64,
    /// The fit the scenario is written from (the refit without outages when there were any).
    pub process: &'a FaultProcessFit,
    pub goodness: &'a GoodnessOfFit,
    pub latency_success: Option<&'a LatencyFit>,
}

/// The checks, in the order the report prints them.
pub fn checks(fit: &FitSummary<'_>) -> Vec<TrustCheck> {
    let mut checks = vec![TrustCheck {
        check: "enough faults",
        ok: fit.faults >= FAULTS_MIN,
        detail: format!(
            "{} faults in {} requests ({} or more pin a rate down to tens of percent)",
            fit.faults, fit.requests, FAULTS_MIN
        ),
    }];
    let chain = fit.process.gilbert_elliott.as_ref().filter(|_| fit.process.verdict == Verdict::Bursty);
    match chain {
        Some(chain) => {
            let cycle_s = (chain.good_mean_ms + chain.bad_mean_ms) / 1000.0;
            let cycles = if cycle_s > 0.0 { fit.span_s / cycle_s } else { 0.0 };
            checks.push(TrustCheck {
                check: "bursts seen",
                ok: cycles >= CYCLES_MIN,
                detail: format!(
                    "the log spans about {cycles:.1} cycles of the fitted chain (a bad spell about every {cycle_s:.0} \
                     s); its intervals mean what they say from about {CYCLES_MIN:.0}"
                ),
            });
            let open = chain.intervals.as_ref().map_or(4, |intervals| {
                intervals.as_array().iter().filter(|interval| interval.low.is_none() || interval.high.is_none()).count()
            });
            checks.push(TrustCheck {
                check: "intervals closed",
                ok: open == 0,
                detail: if open == 0 {
                    "every parameter of the chain is bounded on both sides".to_owned()
                } else {
                    format!("{open} of the chain's 4 intervals run into a boundary: the log cannot bound them")
                },
            });
        }
        None => checks.push(TrustCheck {
            check: "bursts seen",
            ok: true,
            detail: "independent faults explain the log as well as a chain does (AIC); a longer log may still show \
                     bursts"
                .to_owned(),
        }),
    }
    let (outside, rows) = rows_outside(fit.goodness, chain.is_some());
    checks.push(TrustCheck {
        check: "goodness of fit",
        ok: outside <= 1,
        detail: format!(
            "the log is outside the fitted model's 95% band in {outside} of {rows} statistics (about 1 in 20 by \
             chance)"
        ),
    });
    if let Some(latency) = fit.latency_success {
        let (name, p) = match latency.choice {
            LatencyChoice::Empirical => ("the quantile table", latency.ks_table_p),
            LatencyChoice::Mixture => ("the log-normal mixture", latency.ks_mixture_p),
        };
        checks.push(if latency.samples < 20 {
            TrustCheck {
                check: "latency shape",
                ok: false,
                detail: format!("{} latencies of successes: too few to test the written shape", latency.samples),
            }
        } else {
            TrustCheck {
                check: "latency shape",
                ok: p >= KS_P_MIN,
                detail: format!(
                    "{name} against the held-out half of the latencies: Kolmogorov-Smirnov p = {p:.3} (flagged below \
                     {KS_P_MIN})"
                ),
            }
        });
    }
    checks
}

/// Statistics of the goodness of fit whose observed value lies outside the chosen model's
/// band, and how many were compared (rows the model has no band for are left out).
fn rows_outside(goodness: &GoodnessOfFit, bursty: bool) -> (usize, usize) {
    let band = |chain: Option<&ModelBand>, independent: &ModelBand| -> Option<ModelBand> {
        if bursty {
            chain.copied()
        } else {
            Some(*independent)
        }
    };
    let mut outside = 0;
    let mut rows = 0;
    for bin in &goodness.run_lengths {
        if let Some(band) = band(bin.gilbert_elliott.as_ref(), &bin.independent) {
            rows += 1;
            let observed = bin.observed as f64;
            outside += usize::from(observed < band.low || observed > band.high);
        }
    }
    for row in goodness.conditional.iter().filter(|row| row.requests > 0) {
        if let Some(band) = band(row.gilbert_elliott.as_ref(), &row.independent) {
            rows += 1;
            // The observed proportion's own interval overlapping the band is agreement.
            let (low, high) = (row.observed_interval.low, row.observed_interval.high);
            outside += usize::from(high < band.low || low > band.high);
        }
    }
    (outside, rows)
}

/// The checks as the human report prints them.
pub fn text(checks: &[TrustCheck]) -> String {
    let flagged = checks.iter().filter(|check| !check.ok).count();
    let mut out = format!(
        "\nhow much to trust this fit: {}\n",
        match flagged {
            0 => "every check passed".to_owned(),
            1 => "1 check flagged".to_owned(),
            n => format!("{n} checks flagged"),
        }
    );
    for check in checks {
        out.push_str(&format!("  {:<8} {}: {}\n", if check.ok { "ok" } else { "CAUTION" }, check.check, check.detail));
    }
    out
}
