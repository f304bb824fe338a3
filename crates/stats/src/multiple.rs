//! Corrections for testing many hypotheses at once: Holm's step-down
//! adjustment of p-values.

/// Holm's step-down adjusted p-values (Holm 1979), in the order given.
///
/// With m tests, the i-th smallest raw p-value (i from 0) is multiplied by
/// m - i, made no smaller than the adjusted value before it (so the order
/// is kept) and capped at 1. Rejecting every hypothesis whose adjusted
/// p-value is below alpha keeps the chance of any false rejection at most
/// alpha, whatever the dependence between the tests; it is never less
/// powerful than Bonferroni's correction. A NaN p-value is taken as 1 (no
/// evidence), and an empty list gives an empty list.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let clean = |p: f64| if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) };
    let mut order: Vec<usize> = (0..m).collect();
    // Stable: equal p-values keep their given order, so the result is
    // the same on every run.
    order.sort_by(|&x, &y| clean(p_values[x]).total_cmp(&clean(p_values[y])));
    let mut adjusted = vec![1.0; m];
    let mut running_max: f64 = 0.0;
    for (rank, &index) in order.iter().enumerate() {
        let scaled = (clean(p_values[index]) * (m - rank) as f64).min(1.0);
        running_max = running_max.max(scaled);
        adjusted[index] = running_max;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_worked_example() {
        // R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") = 0.03 0.06 0.06 0.02
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        let expected = [0.03, 0.06, 0.06, 0.02];
        for (got, want) in adjusted.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{adjusted:?}");
        }
    }

    #[test]
    fn one_test_is_left_alone_and_values_cap_at_one() {
        assert_eq!(holm(&[0.2]), [0.2]);
        assert_eq!(holm(&[0.6, 0.7]), [1.0, 1.0]);
        assert_eq!(holm(&[]), Vec::<f64>::new());
        assert_eq!(holm(&[f64::NAN, 0.01]), [1.0, 0.02]);
    }

    #[test]
    fn sixty_six_pairs_at_the_edge_are_no_longer_significant() {
        // 66 pairs (12 policies), one at p = 0.04: alone it passes 0.05;
        // among 66 tests it does not.
        let mut p = vec![0.9; 66];
        p[17] = 0.04;
        let adjusted = holm(&p);
        assert!(adjusted[17] > 0.05);
        assert!(adjusted.iter().zip(&p).all(|(a, raw)| a >= raw));
    }
}
