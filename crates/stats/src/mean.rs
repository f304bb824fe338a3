//! A confidence interval for a mean over independent runs (Student's t), for
//! measures that are not rates: a queue's mean wait, a recovery time.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// A mean and its two-sided `confidence` interval `[low, high]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanInterval {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// Student's t interval of the mean of `values` (one per independent run).
/// `None` for fewer than two values, a non-finite value or a confidence
/// outside (0, 1); with zero spread the interval is the mean itself.
pub fn mean_interval(values: &[f64], confidence: f64) -> Option<MeanInterval> {
    if values.len() < 2 || !(confidence > 0.0 && confidence < 1.0) || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    let t = StudentsT::new(0.0, 1.0, n - 1.0).ok()?.inverse_cdf(0.5 + confidence / 2.0);
    let half = t * (variance / n).sqrt();
    Some(MeanInterval { mean, low: mean - half, high: mean + half })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_interval() {
        // Mean 5, sample sd 1.5811, n 5: t(0.975, 4) = 2.7764, half = 1.9632.
        let interval = mean_interval(&[3.0, 4.0, 5.0, 6.0, 7.0], 0.95).unwrap();
        assert!((interval.mean - 5.0).abs() < 1e-12);
        assert!((interval.high - interval.mean - 1.9632).abs() < 1e-3, "{interval:?}");
        assert!((interval.mean - interval.low - 1.9632).abs() < 1e-3);
    }

    #[test]
    fn refuses_what_it_cannot_bound() {
        assert_eq!(mean_interval(&[1.0], 0.95), None);
        assert_eq!(mean_interval(&[1.0, f64::NAN], 0.95), None);
        assert_eq!(mean_interval(&[1.0, 2.0], 1.0), None);
        let flat = mean_interval(&[2.0, 2.0, 2.0], 0.99).unwrap();
        assert_eq!((flat.low, flat.high), (2.0, 2.0));
    }
}
