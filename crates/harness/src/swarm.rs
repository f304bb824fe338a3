//! Swarm testing (as TigerBeetle's VOPR does): each seed draws its own fault
//! model from wide ranges, so that failures a single fault setting hides
//! (a rare mix, a long bad spell, writes applied behind 500s) show up.

use rand::Rng;
use retrylab_faults::{stream, BurstParams, FaultKind, FaultMix, FaultModel, FaultProcess, Outage};
use retrylab_scenario::Scenario;

/// The fault model of `seed` in swarm mode. A function of the seed only, so
/// `retrylab run --swarm --seed S` replays exactly what `explore --swarm` ran.
///
/// Ranges: long-run failure rate 0.1% to 5% (log-uniform); half the seeds
/// independent, half bursty (bad spells 1 s to 60 s failing 30% to 90% of
/// requests, the good state failing half the long-run rate); each fault kind
/// but InternalError present with probability 1/2 and random weight;
/// ambiguous writes (applied but failed) on half the seeds, up to 50%; one
/// scripted outage of 5 s to 60 s within the first hour on a quarter.
pub fn swarm_faults(seed: u64) -> FaultModel {
    let mut rng = stream(seed, "swarm");
    let rate = 10f64.powf(rng.gen_range(-3.0..(0.05f64).log10()));
    let process = if rng.gen_bool(0.5) {
        FaultProcess::Independent { failure_probability: rate }
    } else {
        let bad_failure = rng.gen_range(0.3..0.9);
        let bad_mean_ms = 10f64.powf(rng.gen_range(3.0..(60_000f64).log10()));
        let good_failure = rate / 2.0;
        // Solve for the good sojourn that gives the long-run rate.
        let bad_fraction = (rate - good_failure) / (bad_failure - good_failure);
        let good_mean_ms = bad_mean_ms * (1.0 - bad_fraction) / bad_fraction;
        FaultProcess::GilbertElliott(BurstParams { good_mean_ms, bad_mean_ms, good_failure, bad_failure })
    };
    let weight = |rng: &mut retrylab_faults::SimRng| if rng.gen_bool(0.5) { rng.gen_range(0.01..1.0) } else { 0.0 };
    let mix = FaultMix {
        internal_error: rng.gen_range(0.1..1.0),
        slow_down: weight(&mut rng),
        connection_reset: weight(&mut rng),
        timeout: weight(&mut rng),
    };
    let ambiguous_fraction = if rng.gen_bool(0.5) { rng.gen_range(0.0..0.5) } else { 0.0 };
    let outages = if rng.gen_bool(0.25) {
        let start_ms = rng.gen_range(0..3_600_000);
        let length_ms = rng.gen_range(5_000..60_000);
        vec![Outage { start_ms, end_ms: start_ms + length_ms, kind: FaultKind::InternalError }]
    } else {
        Vec::new()
    };
    FaultModel { process, outages, mix, ambiguous_fraction }
}

/// `scenario` with the fault model of `seed` in swarm mode.
pub fn swarm_scenario(scenario: &Scenario, seed: u64) -> Scenario {
    let mut swarmed = scenario.clone();
    swarmed.faults = swarm_faults(seed);
    swarmed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_models_are_valid_varied_and_replayable() {
        let models: Vec<FaultModel> = (0..200).map(swarm_faults).collect();
        for model in &models {
            model.validate().unwrap();
            let rate = model.process.stationary_failure_rate();
            assert!((0.0009..0.051).contains(&rate), "{rate}");
        }
        assert_eq!(swarm_faults(17), swarm_faults(17));
        let bursty = models.iter().filter(|m| matches!(m.process, FaultProcess::GilbertElliott(_))).count();
        assert!((60..140).contains(&bursty), "{bursty}");
        assert!(models.iter().any(|m| m.mix.timeout > 0.0) && models.iter().any(|m| m.mix.timeout == 0.0));
        assert!(models.iter().any(|m| !m.outages.is_empty()));
        assert!(models.iter().any(|m| m.ambiguous_fraction > 0.0));
    }
}
