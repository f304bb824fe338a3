//! Latency shape: an empirical quantile table and a log-normal mixture (EM,
//! k by BIC), chosen by Kolmogorov-Smirnov distance on held-out samples.

use retrylab_faults::{LatencyDist, MixtureComponent};
use serde::{Deserialize, Serialize};

/// A latency of 0 ms (a log's resolution, or the simulator's rounding of
/// anything under 0.5 ms) is taken as 0.25 ms, the middle of [0, 0.5), for
/// the log-normal mixture, whose logarithm it would otherwise break.
pub const ZERO_LATENCY_MS: f64 = 0.25;

/// EM runs on at most this many latencies (an even stride through them):
/// the mixture's few parameters are fixed far more finely by 50,000 samples
/// than the table's tail, and EM costs k exponentials per sample per step.
pub const EM_SAMPLES_MAX: usize = 50_000;

/// The smallest component spread on the log scale: without it a component
/// collapses onto one repeated value (logs in whole milliseconds repeat).
const SIGMA_MIN: f64 = 0.01;
const COMPONENTS_MAX: usize = 4;
const EM_ITERATIONS_MAX: usize = 300;
/// EM stops when a step improves the log-likelihood by less than this per sample.
const EM_TOLERANCE_PER_SAMPLE: f64 = 1e-7;
/// Below this many latencies the held-out test is not run (the table is kept).
const HELD_OUT_MIN: usize = 20;
const QQ_POINTS: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyChoice {
    Empirical,
    Mixture,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixtureFit {
    /// `(weight, median_ms, sigma)` per component, weights summing to 1, by median.
    pub components: Vec<(f64, f64, f64)>,
    /// BIC of each number of components tried, `(k, bic)`; the lowest was kept.
    pub bic: Vec<(usize, f64)>,
    /// Latencies EM ran on (a stride through them above `EM_SAMPLES_MAX`).
    pub samples: usize,
}

impl MixtureFit {
    /// The simulator's distribution: a `Mixture` of `LogNormal`s (None when nothing was fitted).
    pub fn latency_dist(&self) -> Option<LatencyDist> {
        if self.components.is_empty() {
            return None;
        }
        let components = self
            .components
            .iter()
            .map(|&(weight, median_ms, sigma)| MixtureComponent {
                weight,
                dist: LatencyDist::LogNormal { median_ms, sigma },
            })
            .collect();
        Some(LatencyDist::Mixture(components))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QqPoint {
    pub probability: f64,
    pub observed_ms: f64,
    pub mixture_ms: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyFit {
    pub samples: u64,
    /// Latencies that were negative, NaN or infinite, left out.
    pub ignored: u64,
    /// `(probability, ms)`, non-decreasing in both: 0, 0.01, ..., 0.99, then
    /// 0.999 (with >= 1,000 samples), 0.9999 (>= 10,000) and 1 (the maximum).
    pub table: Vec<(f64, f64)>,
    pub mixture: MixtureFit,
    pub choice: LatencyChoice,
    /// Kolmogorov-Smirnov distance and asymptotic p-value of each candidate
    /// fitted to the even-indexed latencies, against the odd-indexed ones (the
    /// table's p-value by the two-sample test: the table is a sample too).
    pub ks_table: f64,
    pub ks_table_p: f64,
    pub ks_mixture: f64,
    pub ks_mixture_p: f64,
    /// Observed quantiles against the mixture's (both fitted to all latencies).
    pub qq: Vec<QqPoint>,
    pub notes: Vec<String>,
}

/// Fits the table and the mixture to `latencies_ms` (in log order; the
/// held-out split alternates samples) and chooses between them: the mixture
/// if its held-out KS distance is at most the table's, else the table.
pub fn fit_latency(latencies_ms: &[f64]) -> LatencyFit {
    let valid: Vec<f64> = latencies_ms.iter().copied().filter(|x| x.is_finite() && *x >= 0.0).collect();
    let ignored = (latencies_ms.len() - valid.len()) as u64;
    let mut notes = Vec::new();
    if ignored > 0 {
        notes.push(format!("{ignored} latencies negative or not finite, left out"));
    }
    let mut sorted = valid.clone();
    sorted.sort_by(f64::total_cmp);
    let table = quantile_table(&sorted);
    let mixture = fit_mixture(&valid);
    let mut fit = LatencyFit {
        samples: valid.len() as u64,
        ignored,
        qq: qq_points(&sorted, &mixture.components),
        table,
        mixture,
        choice: LatencyChoice::Empirical,
        ks_table: 0.0,
        ks_table_p: 1.0,
        ks_mixture: 0.0,
        ks_mixture_p: 1.0,
        notes,
    };
    if valid.len() < HELD_OUT_MIN {
        fit.notes.push(format!("{} latencies: too few for the held-out test; the table is kept", valid.len()));
        return fit;
    }
    let training: Vec<f64> = valid.iter().step_by(2).copied().collect();
    let mut held_out: Vec<f64> = valid.iter().skip(1).step_by(2).copied().collect();
    held_out.sort_by(f64::total_cmp);
    let mut training_sorted = training.clone();
    training_sorted.sort_by(f64::total_cmp);
    let training_table = quantile_table(&training_sorted);
    let training_mixture = fit_mixture(&training);
    fit.ks_table = ks_distance(&held_out, |x| table_cdf(&training_table, x));
    fit.ks_mixture = ks_distance(&held_out, |x| mixture_cdf(&training_mixture.components, x));
    // The table is itself a sample of the same size as the held-out half: its test is the
    // two-sample one (effective size n1 n2 / (n1 + n2)), or the table's own noise would
    // reject it on every large log. The mixture's few parameters carry far less noise.
    let two_sample = training.len() * held_out.len() / (training.len() + held_out.len()).max(1);
    fit.ks_table_p = kolmogorov_p_value(fit.ks_table, two_sample.max(1));
    fit.ks_mixture_p = kolmogorov_p_value(fit.ks_mixture, held_out.len());
    if fit.ks_mixture <= fit.ks_table {
        fit.choice = LatencyChoice::Mixture;
    }
    fit
}

/// The Hyndman-Fan type 7 quantile (linear between order statistics) of sorted values.
fn quantile(sorted: &[f64], probability: f64) -> f64 {
    let position = probability.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let fraction = position - below as f64;
    sorted[below] + fraction * (sorted[above] - sorted[below])
}

fn table_probabilities(samples: usize) -> Vec<f64> {
    let mut grid: Vec<f64> = (0..100).map(|i| f64::from(i) / 100.0).collect();
    if samples >= 1_000 {
        grid.push(0.999);
    }
    if samples >= 10_000 {
        grid.push(0.9999);
    }
    grid.push(1.0);
    grid
}

fn quantile_table(sorted: &[f64]) -> Vec<(f64, f64)> {
    if sorted.is_empty() {
        return Vec::new();
    }
    table_probabilities(sorted.len()).into_iter().map(|p| (p, quantile(sorted, p))).collect()
}

/// The CDF of the distribution the table describes (linear between its points).
fn table_cdf(table: &[(f64, f64)], x: f64) -> f64 {
    let after = table.partition_point(|(_, ms)| *ms <= x);
    if after == 0 {
        return 0.0;
    }
    if after == table.len() {
        return 1.0;
    }
    let (p0, v0) = table[after - 1];
    let (p1, v1) = table[after];
    p0 + (p1 - p0) * (x - v0) / (v1 - v0)
}

/// The standard normal CDF, through erfc (Numerical Recipes' Chebyshev fit,
/// relative error below 1.2e-7: far finer than any KS distance here).
fn normal_cdf(z: f64) -> f64 {
    let x = -z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc_abs = t * poly.exp();
    0.5 * if x >= 0.0 { erfc_abs } else { 2.0 - erfc_abs }
}

fn log_latency(x: f64) -> f64 {
    x.max(ZERO_LATENCY_MS).ln()
}

fn mixture_cdf(components: &[(f64, f64, f64)], x: f64) -> f64 {
    if components.is_empty() {
        return 0.0;
    }
    let y = log_latency(x);
    components.iter().map(|&(weight, median_ms, sigma)| weight * normal_cdf((y - median_ms.ln()) / sigma)).sum()
}

fn mixture_quantile(components: &[(f64, f64, f64)], probability: f64) -> f64 {
    if components.is_empty() {
        return 0.0;
    }
    let mut low = components.iter().map(|&(_, m, s)| m.ln() - 12.0 * s).fold(f64::INFINITY, f64::min);
    let mut high = components.iter().map(|&(_, m, s)| m.ln() + 12.0 * s).fold(f64::NEG_INFINITY, f64::max);
    for _ in 0..100 {
        let middle = (low + high) / 2.0;
        if mixture_cdf(components, middle.exp()) < probability {
            low = middle;
        } else {
            high = middle;
        }
    }
    ((low + high) / 2.0).exp()
}

/// The largest gap between the sample's empirical CDF (`sorted`) and `cdf`,
/// on both sides of every distinct value (ties are one step).
fn ks_distance(sorted: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let m = sorted.len() as f64;
    let mut distance: f64 = 0.0;
    let mut start = 0;
    while start < sorted.len() {
        let value = sorted[start];
        let end = start + sorted[start..].partition_point(|x| *x <= value);
        let model = cdf(value);
        distance = distance.max((start as f64 / m - model).abs()).max((end as f64 / m - model).abs());
        start = end;
    }
    distance
}

/// Kolmogorov's asymptotic p-value of distance `d` with `m` samples
/// (Stephens' small-sample correction of the argument).
fn kolmogorov_p_value(d: f64, m: usize) -> f64 {
    let root = (m as f64).sqrt();
    let lambda = (root + 0.12 + 0.11 / root) * d;
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for j in 1..=100 {
        let j = f64::from(j);
        let term = (-2.0 * j * j * lambda * lambda).exp();
        sum += if j as u32 % 2 == 1 { term } else { -term };
        if term < 1e-12 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

fn qq_points(sorted: &[f64], components: &[(f64, f64, f64)]) -> Vec<QqPoint> {
    if sorted.is_empty() {
        return Vec::new();
    }
    (0..QQ_POINTS)
        .map(|i| {
            let probability = (i as f64 + 0.5) / QQ_POINTS as f64;
            QqPoint {
                probability,
                observed_ms: quantile(sorted, probability),
                mixture_ms: mixture_quantile(components, probability),
            }
        })
        .collect()
}

/// One normal component on the log scale.
#[derive(Clone, Copy, Debug)]
struct Component {
    weight: f64,
    mean: f64,
    sigma: f64,
}

/// EM for a k-component normal mixture of `y`, from components placed at
/// the quantiles (deterministic). Returns the components and the log-likelihood.
fn em(y: &[f64], sorted: &[f64], k: usize) -> (Vec<Component>, f64) {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let spread = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt().max(SIGMA_MIN);
    let mut components: Vec<Component> = (0..k)
        .map(|j| Component {
            weight: 1.0 / k as f64,
            mean: quantile(sorted, (j as f64 + 0.5) / k as f64),
            sigma: (spread / k as f64).max(SIGMA_MIN),
        })
        .collect();
    let mut log_likelihood = f64::NEG_INFINITY;
    let mut responsibilities = vec![0.0; k];
    for _ in 0..EM_ITERATIONS_MAX {
        let mut sums = vec![(0.0, 0.0, 0.0); k];
        let mut total = 0.0;
        for &v in y {
            let mut max_log = f64::NEG_INFINITY;
            for (r, c) in responsibilities.iter_mut().zip(&components) {
                let z = (v - c.mean) / c.sigma;
                *r = c.weight.ln() - c.sigma.ln() - 0.5 * z * z;
                max_log = max_log.max(*r);
            }
            let mut norm = 0.0;
            for r in responsibilities.iter_mut() {
                *r = (*r - max_log).exp();
                norm += *r;
            }
            total += max_log + norm.ln();
            for (s, r) in sums.iter_mut().zip(&responsibilities) {
                let w = r / norm;
                s.0 += w;
                s.1 += w * v;
                s.2 += w * v * v;
            }
        }
        total -= n * 0.5 * (2.0 * std::f64::consts::PI).ln();
        for (c, s) in components.iter_mut().zip(&sums) {
            if s.0 > 0.0 {
                c.weight = s.0 / n;
                c.mean = s.1 / s.0;
                c.sigma = (s.2 / s.0 - c.mean * c.mean).max(0.0).sqrt().max(SIGMA_MIN);
            }
        }
        components.retain(|c| c.weight > 0.0);
        let improvement = total - log_likelihood;
        log_likelihood = total;
        if improvement.abs() < EM_TOLERANCE_PER_SAMPLE * n {
            break;
        }
    }
    (components, log_likelihood)
}

fn fit_mixture(latencies_ms: &[f64]) -> MixtureFit {
    if latencies_ms.is_empty() {
        return MixtureFit { components: Vec::new(), bic: Vec::new(), samples: 0 };
    }
    let stride = latencies_ms.len().div_ceil(EM_SAMPLES_MAX);
    let y: Vec<f64> = latencies_ms.iter().step_by(stride).map(|&x| log_latency(x)).collect();
    let mut sorted = y.clone();
    sorted.sort_by(f64::total_cmp);
    let n = y.len() as f64;
    let mut bic = Vec::new();
    let mut best: Option<(f64, Vec<Component>)> = None;
    for k in 1..=COMPONENTS_MAX.min(y.len()) {
        let (components, log_likelihood) = em(&y, &sorted, k);
        let parameters = (3 * components.len() - 1) as f64;
        let criterion = -2.0 * log_likelihood + parameters * n.ln();
        bic.push((k, criterion));
        if best.as_ref().is_none_or(|(b, _)| criterion < *b) {
            best = Some((criterion, components));
        }
    }
    let mut components: Vec<(f64, f64, f64)> =
        best.map(|(_, cs)| cs.iter().map(|c| (c.weight, c.mean.exp(), c.sigma)).collect()).unwrap_or_default();
    components.sort_by(|a, b| a.1.total_cmp(&b.1));
    MixtureFit { components, bic, samples: y.len() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use retrylab_faults::{draw, stream};

    #[test]
    fn normal_cdf_matches_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_963_985) - 0.975).abs() < 1e-7);
        assert!((normal_cdf(-1.0) - 0.158_655_254).abs() < 1e-7);
    }

    #[test]
    fn table_is_monotone_and_ends_at_the_extremes() {
        let latencies: Vec<f64> = (0..1500).map(|i| f64::from((i * 7919) % 1000)).collect();
        let fit = fit_latency(&latencies);
        assert_eq!(fit.table.first(), Some(&(0.0, 0.0)));
        assert_eq!(fit.table.last(), Some(&(1.0, 999.0)));
        assert!(fit.table.iter().any(|(p, _)| *p == 0.999) && !fit.table.iter().any(|(p, _)| *p == 0.9999));
        assert!(fit.table.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    }

    /// A two-part log-normal body and tail (the 2012 shape) is recovered, and
    /// the held-out test prefers the mixture over a table of the same data.
    #[test]
    fn a_log_normal_mixture_is_recovered_and_chosen() {
        let mut rng = stream(3, "latency");
        let latencies: Vec<f64> = (0..10_000)
            .map(|_| {
                let tail = rand::Rng::gen::<f64>(&mut rng) < 0.1;
                let (median, sigma) = if tail { (900.0, 0.3) } else { (60.0, 0.4) };
                median * (sigma * draw::standard_normal(&mut rng)).exp()
            })
            .collect();
        let fit = fit_latency(&latencies);
        assert_eq!(fit.mixture.components.len(), 2, "{:?}", fit.mixture);
        let (w, median, sigma) = fit.mixture.components[0];
        assert!((w - 0.9).abs() < 0.01 && (median / 60.0 - 1.0).abs() < 0.02 && (sigma - 0.4).abs() < 0.01);
        assert_eq!(fit.choice, LatencyChoice::Mixture, "{} vs {}", fit.ks_mixture, fit.ks_table);
        assert!(fit.ks_mixture_p > 0.01, "{} {} {:?}", fit.ks_mixture_p, fit.ks_mixture, fit.mixture);
        assert!(fit.mixture.latency_dist().is_some_and(|dist| dist.validate().is_ok()));
        let middle = fit.qq[25];
        assert!((middle.mixture_ms / middle.observed_ms - 1.0).abs() < 0.05, "{middle:?}");
    }

    /// A shape no small mixture describes (uniform spikes) goes to the table.
    #[test]
    fn a_spiky_shape_goes_to_the_table() {
        let latencies: Vec<f64> =
            (0..20_000).map(|i| [5.0, 6.0, 500.0, 2000.0][i % 4] + f64::from(i as u16 % 3)).collect();
        let fit = fit_latency(&latencies);
        assert_eq!(fit.choice, LatencyChoice::Empirical, "{} vs {}", fit.ks_mixture, fit.ks_table);
    }

    #[test]
    fn zeros_and_garbage_do_not_break_anything() {
        let fit = fit_latency(&[0.0, 0.0, f64::NAN, -1.0, 3.0]);
        assert_eq!((fit.samples, fit.ignored), (3, 2));
        assert!(fit.mixture.components.iter().all(|c| c.0.is_finite() && c.1 > 0.0 && c.2 > 0.0));
        assert!(fit.qq.iter().all(|q| q.mixture_ms.is_finite()));
        let empty = fit_latency(&[]);
        assert!(empty.table.is_empty() && empty.qq.is_empty());
    }

    #[test]
    fn kolmogorov_p_values() {
        // The 5% critical value of the asymptotic distribution is 1.358 / sqrt(m).
        let m = 10_000;
        let p = kolmogorov_p_value(1.358 / (m as f64).sqrt(), m);
        assert!((p - 0.05).abs() < 0.003, "{p}");
        assert_eq!(kolmogorov_p_value(0.0, m), 1.0);
    }
}
