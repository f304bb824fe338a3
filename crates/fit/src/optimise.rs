//! Nelder-Mead (argmin) over an unconstrained parameterisation of the
//! Gilbert-Elliott chain: log means above the simulator's floor, logit
//! failure probabilities.

use std::cell::Cell;

use argmin::core::{CostFunction, Error, Executor, State};
use argmin::solver::neldermead::NelderMead;
use retrylab_faults::{BurstParams, BURST_MEAN_MS_MIN};

/// Bounds of the unconstrained coordinates. A mean of e^30 ms is 340 years
/// (an unbounded mean in practice); a logit of ±25 is a probability within
/// 1.4e-11 of 0 or 1. A coordinate that reaches its bound means the data
/// cannot tell the parameter from that boundary.
pub const LOG_MEAN_MIN: f64 = -10.0;
pub const LOG_MEAN_MAX: f64 = 30.0;
pub const LOGIT_MIN: f64 = -25.0;
pub const LOGIT_MAX: f64 = 25.0;

/// Bounds of coordinate `index` of the transformed parameters.
pub fn coordinate_bounds(index: usize) -> (f64, f64) {
    if index < 2 {
        (LOG_MEAN_MIN, LOG_MEAN_MAX)
    } else {
        (LOGIT_MIN, LOGIT_MAX)
    }
}

fn logistic(y: f64) -> f64 {
    1.0 / (1.0 + (-y).exp())
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// A mean as the floor plus e^x, so every x respects `BURST_MEAN_MS_MIN`.
pub fn mean_from_coordinate(x: f64) -> f64 {
    BURST_MEAN_MS_MIN + x.clamp(LOG_MEAN_MIN, LOG_MEAN_MAX).exp()
}

pub fn probability_from_coordinate(y: f64) -> f64 {
    logistic(y.clamp(LOGIT_MIN, LOGIT_MAX))
}

/// `[ln(good_mean - floor), ln(bad_mean - floor), logit good_failure, logit bad_failure]`, clamped to the bounds.
pub fn to_coordinates(params: &BurstParams) -> Vec<f64> {
    let mean = |m: f64| (m - BURST_MEAN_MS_MIN).max(1e-300).ln().clamp(LOG_MEAN_MIN, LOG_MEAN_MAX);
    let prob = |p: f64| logit(p.clamp(1e-15, 1.0 - 1e-15)).clamp(LOGIT_MIN, LOGIT_MAX);
    vec![mean(params.good_mean_ms), mean(params.bad_mean_ms), prob(params.good_failure), prob(params.bad_failure)]
}

pub fn from_coordinates(x: &[f64]) -> BurstParams {
    BurstParams {
        good_mean_ms: mean_from_coordinate(x[0]),
        bad_mean_ms: mean_from_coordinate(x[1]),
        good_failure: probability_from_coordinate(x[2]),
        bad_failure: probability_from_coordinate(x[3]),
    }
}

/// The outcome of one minimisation.
#[derive(Clone, Debug)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
    pub evaluations: u64,
    /// The simplex's spread of values fell below the tolerance (not the iteration cap).
    pub converged: bool,
}

/// The negated objective for argmin, counting its evaluations. A value that
/// is not finite (impossible data) becomes a large finite penalty so the
/// simplex moves away from it instead of stopping.
struct Objective<'a, F: Fn(&[f64]) -> f64> {
    f: &'a F,
    evaluations: Cell<u64>,
}

const PENALTY: f64 = 1e300;

impl<F: Fn(&[f64]) -> f64> CostFunction for Objective<'_, F> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, x: &Self::Param) -> Result<f64, Error> {
        self.evaluations.set(self.evaluations.get() + 1);
        let value = (self.f)(x);
        Ok(if value.is_finite() { value } else { PENALTY })
    }
}

/// Minimises `f` by Nelder-Mead from `start` with an initial simplex of
/// `step` along each axis, for at most `iterations_max` iterations, until the
/// standard deviation of the simplex's values is below `tolerance`.
pub fn minimise<F: Fn(&[f64]) -> f64>(f: &F, start: &[f64], step: f64, tolerance: f64, iterations_max: u64) -> Minimum {
    let objective = Objective { f, evaluations: Cell::new(0) };
    let mut simplex = vec![start.to_vec()];
    for axis in 0..start.len() {
        let mut vertex = start.to_vec();
        vertex[axis] += step;
        simplex.push(vertex);
    }
    let fallback = |objective: &Objective<F>| Minimum {
        x: start.to_vec(),
        value: objective.cost(&start.to_vec()).unwrap_or(PENALTY),
        evaluations: objective.evaluations.get(),
        converged: false,
    };
    let Ok(solver) = NelderMead::new(simplex).with_sd_tolerance(tolerance) else {
        return fallback(&objective);
    };
    let result =
        Executor::new(&objective, solver).configure(|state| state.max_iters(iterations_max)).timer(false).run();
    match result {
        Ok(result) => {
            let state = result.state();
            let x = state.get_best_param().cloned().unwrap_or_else(|| start.to_vec());
            Minimum {
                value: state.get_best_cost(),
                x,
                evaluations: objective.evaluations.get(),
                converged: state.get_iter() < iterations_max,
            }
        }
        Err(_) => fallback(&objective),
    }
}

impl<F: Fn(&[f64]) -> f64> CostFunction for &Objective<'_, F> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, x: &Self::Param) -> Result<f64, Error> {
        (*self).cost(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_round_trip_and_respect_the_floor() {
        let params = BurstParams { good_mean_ms: 1.9e6, bad_mean_ms: 8000.0, good_failure: 0.0108, bad_failure: 0.6 };
        let back = from_coordinates(&to_coordinates(&params));
        assert!((back.good_mean_ms / params.good_mean_ms - 1.0).abs() < 1e-12);
        assert!((back.bad_failure - 0.6).abs() < 1e-12);
        assert!(from_coordinates(&[-1e9, -1e9, 0.0, 0.0]).bad_mean_ms >= BURST_MEAN_MS_MIN);
    }

    #[test]
    fn nelder_mead_finds_a_quadratic_minimum() {
        let f = |x: &[f64]| (x[0] - 1.0).powi(2) + 3.0 * (x[1] + 2.0).powi(2);
        let minimum = minimise(&f, &[0.0, 0.0], 0.5, 1e-12, 500);
        assert!((minimum.x[0] - 1.0).abs() < 1e-3 && (minimum.x[1] + 2.0).abs() < 1e-3, "{:?}", minimum.x);
        assert!(minimum.converged && minimum.evaluations > 0);
    }
}
