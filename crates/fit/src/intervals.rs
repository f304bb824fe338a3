//! 95% intervals for the chain's four parameters: profile likelihood, or
//! Wald from the observed information on large inputs.

use retrylab_faults::BurstParams;
use serde::{Deserialize, Serialize};

use crate::likelihood::gilbert_elliott_log_likelihood;
use crate::optimise::{
    coordinate_bounds, from_coordinates, mean_from_coordinate, minimise, probability_from_coordinate, to_coordinates,
};
use crate::process::CHI_SQUARE_1_95;
use crate::Observation;

/// Above this many observations intervals are Wald: a profile costs a few
/// thousand likelihood evaluations (about 10 ms each per million requests).
pub const PROFILE_OBSERVATIONS_MAX: usize = 200_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalMethod {
    /// The set where 2 (ll_max - ll_profile) <= 3.841 (χ²₁, 95%).
    ProfileLikelihood,
    /// Estimate ± 1.96 standard errors on the log / logit scale, mapped back.
    Wald,
}

/// A 95% interval; `None` at an end means the interval is open there: it runs
/// into the parameter's boundary (0 or 1 for a probability,
/// `BURST_MEAN_MS_MIN` or infinity for a mean) and the data cannot exclude it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParameterInterval {
    pub low: Option<f64>,
    pub high: Option<f64>,
}

impl ParameterInterval {
    /// Whether `value` is inside (an open end contains everything beyond it).
    pub fn contains(&self, value: f64) -> bool {
        self.low.is_none_or(|low| low <= value) && self.high.is_none_or(|high| value <= high)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BurstIntervals {
    pub method: IntervalMethod,
    pub good_mean_ms: ParameterInterval,
    pub bad_mean_ms: ParameterInterval,
    pub good_failure: ParameterInterval,
    pub bad_failure: ParameterInterval,
    /// Likelihood evaluations spent on the intervals.
    pub evaluations: u64,
    pub notes: Vec<String>,
}

impl BurstIntervals {
    /// The intervals in `BurstParams` order (good_mean, bad_mean, good_failure, bad_failure).
    pub fn as_array(&self) -> [ParameterInterval; 4] {
        [self.good_mean_ms, self.bad_mean_ms, self.good_failure, self.bad_failure]
    }
}

/// Intervals for the maximum-likelihood `fitted` chain.
pub(crate) fn burst_intervals(
    observations: &[Observation],
    fitted: &BurstParams,
    profile_observations_max: usize,
) -> BurstIntervals {
    let x_hat = to_coordinates(fitted);
    let (ends, method, evaluations, notes) = if observations.len() <= profile_observations_max {
        let (ends, evaluations) = profile_intervals(observations, &x_hat);
        (ends, IntervalMethod::ProfileLikelihood, evaluations, Vec::new())
    } else {
        let (ends, evaluations, notes) = wald_intervals(observations, &x_hat);
        (ends, IntervalMethod::Wald, evaluations, notes)
    };
    let natural = |index: usize, end: Option<f64>| {
        end.map(|x| if index < 2 { mean_from_coordinate(x) } else { probability_from_coordinate(x) })
    };
    let interval = |index: usize| {
        let (low, high) = ends[index];
        ParameterInterval { low: natural(index, low), high: natural(index, high) }
    };
    BurstIntervals {
        method,
        good_mean_ms: interval(0),
        bad_mean_ms: interval(1),
        good_failure: interval(2),
        bad_failure: interval(3),
        evaluations,
        notes,
    }
}

type Ends = [(Option<f64>, Option<f64>); 4];

fn log_likelihood_at(observations: &[Observation], x: &[f64]) -> f64 {
    gilbert_elliott_log_likelihood(observations, &from_coordinates(x))
}

/// Nelder-Mead's tolerance (sd of the simplex's log-likelihoods) for a
/// profile point: far below the 1.92 the interval's ends are defined by.
const PROFILE_TOLERANCE: f64 = 1e-4;

/// Coordinates of the failure probabilities (logits) in the transformed parameters.
const GOOD_FAILURE: usize = 2;
const BAD_FAILURE: usize = 3;

/// The profile: the best log-likelihood with coordinate `index` fixed at
/// `value`, the others free, started from `nuisance` (the other coordinates
/// of a nearby point). Returns the value and the maximising nuisance.
///
/// The maximisation keeps the labels (bad_failure >= good_failure): without
/// that, a profile walked far enough meets the estimate again with the
/// states' names swapped (good_failure fixed at the bad state's rate, say)
/// and the interval would swallow both.
fn profile_at(
    observations: &[Observation],
    index: usize,
    value: f64,
    nuisance: &[f64],
    evaluations: &mut u64,
) -> (f64, Vec<f64>) {
    let full = |free: &[f64]| {
        let mut x = free.to_vec();
        x.insert(index, value);
        x
    };
    let negative = |free: &[f64]| {
        let x = full(free);
        if x[BAD_FAILURE] < x[GOOD_FAILURE] {
            return f64::INFINITY;
        }
        -log_likelihood_at(observations, &x)
    };
    // A warm start outside the labelled region (the fixed probability moved
    // past the free one) is moved onto its edge, so the simplex starts feasible.
    let mut start = full(nuisance);
    if start[BAD_FAILURE] < start[GOOD_FAILURE] {
        if index == GOOD_FAILURE {
            start[BAD_FAILURE] = start[GOOD_FAILURE];
        } else {
            start[GOOD_FAILURE] = start[BAD_FAILURE];
        }
    }
    let minimum = minimise(&negative, &without(&start, index), 0.3, PROFILE_TOLERANCE, 400);
    *evaluations += minimum.evaluations;
    (-minimum.value, minimum.x)
}

fn without(x: &[f64], index: usize) -> Vec<f64> {
    let mut free = x.to_vec();
    free.remove(index);
    free
}

fn profile_intervals(observations: &[Observation], x_hat: &[f64]) -> (Ends, u64) {
    let mut evaluations = 0;
    let ll_hat = log_likelihood_at(observations, x_hat);
    let target = ll_hat - CHI_SQUARE_1_95 / 2.0;
    let mut ends: Ends = [(None, None); 4];
    for (index, end) in ends.iter_mut().enumerate() {
        let low = profile_end(observations, x_hat, index, -1.0, target, &mut evaluations);
        let high = profile_end(observations, x_hat, index, 1.0, target, &mut evaluations);
        *end = (low, high);
    }
    (ends, evaluations)
}

/// Where the profile of coordinate `index` falls to `target`, walking from the
/// estimate in `direction`: steps that double until the profile drops below
/// the target (None if the coordinate's bound comes first), then regula falsi
/// (Illinois) on the bracket, each profile warm-started from the last one.
fn profile_end(
    observations: &[Observation],
    x_hat: &[f64],
    index: usize,
    direction: f64,
    target: f64,
    evaluations: &mut u64,
) -> Option<f64> {
    const EXPANSIONS_MAX: usize = 16;
    const ROOT_STEPS_MAX: usize = 12;
    // On the log / logit scale: an end to within about 2%.
    const TOLERANCE: f64 = 0.02;
    // Doubling steps stop growing here (log / logit units), so a walk cannot
    // leap over a narrow dip of the profile.
    const STEP_MAX: f64 = 2.0;
    let (bound_low, bound_high) = coordinate_bounds(index);
    let bound = if direction > 0.0 { bound_high } else { bound_low };
    let mut inside = (x_hat[index], log_likelihood_at(observations, x_hat) - target, without(x_hat, index));
    let mut step = 0.25;
    let mut outside = None;
    for _ in 0..EXPANSIONS_MAX {
        if (inside.0 - bound) * direction >= 0.0 {
            return None;
        }
        let value = if direction > 0.0 { (inside.0 + step).min(bound) } else { (inside.0 - step).max(bound) };
        let (ll, nuisance) = profile_at(observations, index, value, &inside.2, evaluations);
        if ll - target < 0.0 {
            outside = Some((value, ll - target));
            break;
        }
        inside = (value, ll - target, nuisance);
        step = (step * 2.0).min(STEP_MAX);
    }
    let (mut out_value, mut out_excess) = outside?;
    let (mut in_value, mut in_excess) = (inside.0, inside.1);
    let mut warm = inside.2.clone();
    let mut side_kept = 0i8;
    for _ in 0..ROOT_STEPS_MAX {
        let width = out_value - in_value;
        if width.abs() < TOLERANCE {
            break;
        }
        // Illinois: when the same end has moved twice running, the stale
        // end's excess is halved (for good), pulling the next point its way.
        if side_kept >= 2 {
            out_excess /= 2.0;
        } else if side_kept <= -2 {
            in_excess /= 2.0;
        }
        let fraction = in_excess / (in_excess - out_excess);
        // Safeguard: a point hugging either end (a profile far below the
        // target on the outside, say) shrinks the bracket too slowly: bisect.
        let fraction = if fraction.is_finite() && (0.1..=0.9).contains(&fraction) { fraction } else { 0.5 };
        let value = in_value + fraction * width;
        let (ll, nuisance) = profile_at(observations, index, value, &warm, evaluations);
        if ll - target >= 0.0 {
            (in_value, in_excess) = (value, ll - target);
            warm = nuisance;
            side_kept = if side_kept > 0 { side_kept + 1 } else { 1 };
        } else {
            (out_value, out_excess) = (value, ll - target);
            side_kept = if side_kept < 0 { side_kept - 1 } else { -1 };
        }
    }
    // Linear interpolation inside the final bracket.
    let fraction = in_excess / (in_excess - out_excess);
    let value =
        if fraction.is_finite() { in_value + fraction.clamp(0.0, 1.0) * (out_value - in_value) } else { in_value };
    Some(value)
}

/// Step of the central differences on the log / logit scale.
const HESSIAN_STEP: f64 = 1e-3;

// Indices name the Hessian's entries, filled symmetrically (i, j) and (j, i).
#[allow(clippy::needless_range_loop)]
fn wald_intervals(observations: &[Observation], x_hat: &[f64]) -> (Ends, u64, Vec<String>) {
    let dimension = x_hat.len();
    let mut evaluations = 1;
    let f = |x: &[f64]| log_likelihood_at(observations, x);
    let center = f(x_hat);
    let h = HESSIAN_STEP;
    let shifted = |moves: &[(usize, f64)]| {
        let mut x = x_hat.to_vec();
        for &(axis, delta) in moves {
            x[axis] += delta;
        }
        x
    };
    let mut information = vec![vec![0.0; dimension]; dimension];
    for i in 0..dimension {
        let plus = f(&shifted(&[(i, h)]));
        let minus = f(&shifted(&[(i, -h)]));
        evaluations += 2;
        information[i][i] = -(plus - 2.0 * center + minus) / (h * h);
        for j in 0..i {
            let pp = f(&shifted(&[(i, h), (j, h)]));
            let pm = f(&shifted(&[(i, h), (j, -h)]));
            let mp = f(&shifted(&[(i, -h), (j, h)]));
            let mm = f(&shifted(&[(i, -h), (j, -h)]));
            evaluations += 4;
            let value = -(pp - pm - mp + mm) / (4.0 * h * h);
            information[i][j] = value;
            information[j][i] = value;
        }
    }
    let mut ends: Ends = [(None, None); 4];
    let mut notes = Vec::new();
    // A coordinate at its bound has (almost) no curvature there and would
    // make the whole matrix singular: it is left out (its interval open on
    // both sides, the data pinning it to the boundary) and the others are
    // inverted without it.
    let interior: Vec<usize> = (0..dimension)
        .filter(|&index| {
            let (low, high) = coordinate_bounds(index);
            let at_bound = x_hat[index] - low < BOUND_MARGIN || high - x_hat[index] < BOUND_MARGIN;
            if at_bound {
                notes.push(format!("{}: the estimate is at the boundary; Wald interval open", PARAMETER_NAMES[index]));
            }
            !at_bound
        })
        .collect();
    let block: Vec<Vec<f64>> =
        interior.iter().map(|&i| interior.iter().map(|&j| information[i][j]).collect()).collect();
    let Some(covariance) = invert(&block) else {
        notes.push("the observed information is singular: Wald intervals are open".to_string());
        return (ends, evaluations, notes);
    };
    for (position, &index) in interior.iter().enumerate() {
        let variance = covariance[position][position];
        if !(variance.is_finite() && variance > 0.0) {
            notes.push(format!(
                "{}: the observed information is not positive definite there; Wald interval open",
                PARAMETER_NAMES[index]
            ));
            continue;
        }
        let half_width = 1.959_963_984_540_054 * variance.sqrt();
        let (bound_low, bound_high) = coordinate_bounds(index);
        let low = x_hat[index] - half_width;
        let high = x_hat[index] + half_width;
        ends[index] = ((low > bound_low).then_some(low), (high < bound_high).then_some(high));
    }
    (ends, evaluations, notes)
}

/// How close to a coordinate's bound an estimate counts as on it (in log or logit units).
const BOUND_MARGIN: f64 = 0.5;

const PARAMETER_NAMES: [&str; 4] = ["good_mean_ms", "bad_mean_ms", "good_failure", "bad_failure"];

/// Gauss-Jordan inversion with partial pivoting; None if singular.
fn invert(matrix: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = matrix.len();
    let mut a: Vec<Vec<f64>> = matrix.to_vec();
    let mut inverse: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect()).collect();
    let scale = matrix.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    if !(scale.is_finite() && scale > 0.0) {
        return None;
    }
    for column in 0..n {
        let pivot = (column..n).max_by(|&r, &s| a[r][column].abs().total_cmp(&a[s][column].abs()))?;
        if a[pivot][column].abs() <= scale * 1e-14 {
            return None;
        }
        a.swap(column, pivot);
        inverse.swap(column, pivot);
        let divisor = a[column][column];
        for k in 0..n {
            a[column][k] /= divisor;
            inverse[column][k] /= divisor;
        }
        for row in 0..n {
            if row != column {
                let factor = a[row][column];
                for k in 0..n {
                    a[row][k] -= factor * a[column][k];
                    inverse[row][k] -= factor * inverse[column][k];
                }
            }
        }
    }
    Some(inverse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inversion_of_a_small_matrix() {
        let m = vec![vec![4.0, 1.0], vec![1.0, 3.0]];
        let inv = invert(&m).unwrap();
        // det 11: [[3, -1], [-1, 4]] / 11.
        assert!((inv[0][0] - 3.0 / 11.0).abs() < 1e-14 && (inv[0][1] + 1.0 / 11.0).abs() < 1e-14);
        assert!(invert(&[vec![1.0, 2.0], vec![2.0, 4.0]]).is_none());
    }
}
