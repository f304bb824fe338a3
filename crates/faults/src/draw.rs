//! Draws from continuous distributions for simulated code, with every
//! transcendental function from the pure-Rust `libm` crate: the platform's
//! own `ln`, `exp` and `cos` (glibc, musl, macOS) may differ in the last
//! bit, and one bit of a latency or a sojourn can change a whole trace.
//! Simulated code takes its math from here or from [`libm`] directly.

use rand::Rng;

use crate::rng::SimRng;

/// An exponential draw of mean `mean` by inverse CDF (`1 - u` is in
/// (0, 1], so the logarithm never sees 0).
pub fn exponential(rng: &mut SimRng, mean: f64) -> f64 {
    -mean * libm::log(1.0 - rng.gen::<f64>())
}

/// A standard normal draw (Box-Muller, one of the pair): two uniforms, the
/// first as `1 - u` so the logarithm never sees 0.
pub fn standard_normal(rng: &mut SimRng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn moments_are_those_of_the_distributions() {
        let mut rng = stream(1, "draw");
        let n = 200_000;
        let exp: Vec<f64> = (0..n).map(|_| exponential(&mut rng, 3.0)).collect();
        let mean = exp.iter().sum::<f64>() / n as f64;
        // sd of the mean = 3 / sqrt(n) ~ 0.0067; allow 5 sd.
        assert!((mean - 3.0).abs() < 0.034, "{mean}");
        assert!(exp.iter().all(|x| x.is_finite() && *x >= 0.0));
        let normal: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let mean = normal.iter().sum::<f64>() / n as f64;
        let variance = normal.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.012, "{mean}");
        assert!((variance - 1.0).abs() < 0.016, "{variance}");
    }

    /// The bits are libm's, fixed: the same on every platform (a change
    /// here changes every trace hash).
    #[test]
    fn draws_are_pinned_bit_for_bit() {
        let mut rng = stream(7, "pinned");
        let draws = [exponential(&mut rng, 1.0), standard_normal(&mut rng)];
        let bits: Vec<u64> = draws.iter().map(|x| x.to_bits()).collect();
        assert_eq!(bits, PINNED, "{draws:?}");
    }

    // 0.14230152173633373 and -0.6402976110790679.
    const PINNED: [u64; 2] = [4_594_294_972_932_663_481, 13_827_314_544_565_376_042];
}
