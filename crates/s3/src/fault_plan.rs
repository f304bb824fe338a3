//! How one request meets S3's fault model: the fault it draws, the fault
//! process's state at its arrival and its latency, per request slot. The
//! simulated service ([`crate::S3Service`]) and the real server's wire layer
//! (`retrylab-s3-server`) both decide through this one type, so a seed gives
//! the same fault in the same slot in both worlds.

use std::time::Duration;

use retrylab_faults::{sub_seed, FaultDecision, FaultModel, FaultSchedule, LatencyDist, LatencySampler};

/// The state of the fault process a request met at its arrival.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultState {
    /// The Gilbert-Elliott chain was bad (`None`: not a bursty process, or healed).
    pub chain_bad: Option<bool>,
    /// The scripted outage (index in `faults.outages`) the request fell in.
    pub outage: Option<usize>,
    /// The service was healed (quiescence): no fault could be drawn.
    pub healed: bool,
}

/// What a request met on arrival: its fault, if any, and the process's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Encounter {
    pub fault: Option<FaultDecision>,
    pub met: FaultState,
}

/// A fault model and latency distributions bound to a service seed. Faults
/// come from the stream `sub_seed(seed, "faults")`, latencies from
/// `"latency"` and `"error_latency"`; each slot's draws depend on its slot
/// (and, for bursts, its arrival time) only.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    faults: FaultSchedule,
    latency: LatencySampler,
    error_latency: LatencySampler,
    faults_injected: u64,
    /// Quiescence: no more faults (checkers read through the real code paths).
    healed: bool,
}

impl FaultPlan {
    /// `seed` is the service's sub-seed (what `S3Service::new` gets); an
    /// error latency of `None` is the success latency.
    pub fn new(faults: FaultModel, latency: LatencyDist, error_latency: Option<LatencyDist>, seed: u64) -> Self {
        let error_latency = error_latency.unwrap_or_else(|| latency.clone());
        FaultPlan {
            faults: FaultSchedule::new(faults, sub_seed(seed, "faults")),
            latency: LatencySampler::new(latency, sub_seed(seed, "latency")),
            error_latency: LatencySampler::new(error_latency, sub_seed(seed, "error_latency")),
            faults_injected: 0,
            healed: false,
        }
    }

    /// Decides the fate of the request in `slot` arriving at virtual time
    /// `now` (calls in non-decreasing `now`), and counts it if it faults.
    pub fn meet(&mut self, slot: u64, now: Duration) -> Encounter {
        if self.healed {
            return Encounter { fault: None, met: FaultState { healed: true, ..FaultState::default() } };
        }
        let fault = self.faults.decide(slot, now);
        let met = FaultState { chain_bad: self.faults.chain_bad(), outage: self.faults.outage_at(now), healed: false };
        if fault.is_some() {
            self.faults_injected += 1;
        }
        Encounter { fault, met }
    }

    /// The service time of slot `slot` when it succeeds.
    pub fn latency(&self, slot: u64) -> Duration {
        self.latency.sample(slot)
    }

    /// The service time of slot `slot` when it answers with an error (an
    /// S3 error code or an injected fault).
    pub fn error_latency(&self, slot: u64) -> Duration {
        self.error_latency.sample(slot)
    }

    /// Stops injecting faults from now on.
    pub fn heal(&mut self) {
        self.healed = true;
    }

    pub fn healed(&self) -> bool {
        self.healed
    }

    /// Requests that met a fault so far (healing stops the count growing).
    pub fn faults_injected(&self) -> u64 {
        self.faults_injected
    }

    /// Requests that arrived inside each scripted outage, in the fault
    /// model's order (before healing; a healed plan draws no faults).
    pub fn outage_requests(&self) -> &[u64] {
        self.faults.outage_requests()
    }
}

#[cfg(test)]
mod tests {
    use retrylab_faults::FaultKind;

    use super::*;

    #[test]
    fn healing_stops_faults_and_their_count() {
        let mut plan = FaultPlan::new(FaultModel::independent(1.0), LatencyDist::constant_ms(5.0), None, 9);
        let first = plan.meet(0, Duration::ZERO);
        assert_eq!(first.fault.map(|f| f.kind), Some(FaultKind::InternalError));
        assert!(!first.met.healed);
        plan.heal();
        let after = plan.meet(1, Duration::from_millis(1));
        assert_eq!(after, Encounter { fault: None, met: FaultState { healed: true, ..FaultState::default() } });
        assert_eq!(plan.faults_injected(), 1);
        assert!(plan.healed());
    }

    #[test]
    fn error_latency_defaults_to_the_success_latency_distribution() {
        let plan = FaultPlan::new(FaultModel::default(), LatencyDist::constant_ms(7.0), None, 1);
        assert_eq!(plan.error_latency(3), Duration::from_millis(7));
        let plan = FaultPlan::new(
            FaultModel::default(),
            LatencyDist::constant_ms(7.0),
            Some(LatencyDist::constant_ms(40.0)),
            1,
        );
        assert_eq!((plan.latency(3), plan.error_latency(3)), (Duration::from_millis(7), Duration::from_millis(40)));
    }
}
