//! proptest strategies over what a retry-policy test varies: fault rates,
//! burstiness, fault mixes and ambiguous writes; workload sizes; policy
//! parameters; and whole cases (a scenario with one policy, plus a seed).
//!
//! Every strategy shrinks toward the simplest failure: lower fault rates,
//! independent before bursty faults, plain 500s before other kinds, no
//! ambiguous writes, fewer operations, fewer retries, seed 0. Values stay
//! inside what the scenario loader accepts, so a shrunk case can always be
//! written as a scenario file (`retrylab_scenario::to_toml`) and replayed.

use std::ops::RangeInclusive;
use std::time::Duration;

use proptest::prelude::*;
use retrylab_faults::{BurstParams, FaultMix, FaultModel, FaultProcess};
use retrylab_retry::{AwsRetryConfig, Jitter, ObjectStoreConfig, PolicyConfig};
use retrylab_scenario::{NamedPolicy, Scenario, Workload};

/// One property-test case: `scenario` (with exactly one policy) on `seed`.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub scenario: Scenario,
    pub seed: u64,
}

impl Case {
    /// The policy under test.
    pub fn policy(&self) -> &NamedPolicy {
        // `case()` always leaves exactly one.
        &self.scenario.policies[0]
    }
}

/// What [`case`] varies around a base scenario. Each `None` keeps the base's value.
#[derive(Clone, Debug, PartialEq)]
pub struct Variation {
    /// Long-run fault probability per S3 request.
    pub failure_rate: Option<RangeInclusive<f64>>,
    /// Whether faults may come in Gilbert-Elliott bursts (else independent only).
    pub bursty: bool,
    /// Whether the fault mix varies (else every fault is the base's mix).
    pub fault_mix: bool,
    /// Fraction of failed writes that S3 applied anyway.
    pub ambiguous_fraction: Option<RangeInclusive<f64>>,
    /// Operations per gateway (puts, appends; backups' count).
    pub operations: Option<RangeInclusive<u64>>,
    /// On a grid, whether the workload's kind varies too (puts, appends or
    /// backups, sized by `operations`, 1..=30 if that is `None`).
    pub workload_kinds: bool,
    /// Whether the policy's parameters vary (its kind stays the base's).
    pub policy_parameters: bool,
    /// Seeds drawn from.
    pub seeds: RangeInclusive<u64>,
}

impl Default for Variation {
    /// Faults from 0 to 5% of requests, bursty or not, any mix, up to half
    /// of failed writes applied; the base's workload size and policy.
    fn default() -> Self {
        Variation {
            failure_rate: Some(0.0..=0.05),
            bursty: true,
            fault_mix: true,
            ambiguous_fraction: Some(0.0..=0.5),
            operations: None,
            workload_kinds: false,
            policy_parameters: false,
            seeds: 0..=u64::from(u32::MAX),
        }
    }
}

/// Fault models with a long-run rate in `rate`: independent, or (when
/// `bursty`) Gilbert-Elliott bad spells of 1 s to 60 s failing 30% to 90%
/// of requests, spaced to give the same long-run rate.
pub fn fault_process(rate: RangeInclusive<f64>, bursty: bool) -> BoxedStrategy<FaultProcess> {
    let independent = rate.clone().prop_map(|p| FaultProcess::Independent { failure_probability: p });
    if !bursty {
        return independent.boxed();
    }
    let burst = (rate, 1_000.0..=60_000.0f64, 0.3..=0.9f64).prop_map(|(p, bad_mean_ms, bad_failure)| {
        let good_failure = p / 2.0;
        // The fraction of time in bad spells that gives the long-run rate.
        let bad_fraction = if p <= 0.0 { 0.0 } else { (p - good_failure) / (bad_failure - good_failure) };
        let good_mean_ms = if bad_fraction <= 0.0 {
            // No bad spells worth the name: one a century.
            3.15e12
        } else {
            (bad_mean_ms * (1.0 - bad_fraction) / bad_fraction).clamp(1.0, 3.15e12)
        };
        FaultProcess::GilbertElliott(BurstParams { good_mean_ms, bad_mean_ms, good_failure, bad_failure })
    });
    // Listed first, independent faults are what a failure shrinks to.
    prop_oneof![independent, burst].boxed()
}

/// Fault mixes: 500 InternalError always possible, each other kind absent
/// or weighted up to 1.
pub fn fault_mix() -> impl Strategy<Value = FaultMix> {
    let weight = || prop_oneof![Just(0.0), 0.01..=1.0f64];
    (0.1..=1.0f64, weight(), weight(), weight()).prop_map(|(internal_error, slow_down, connection_reset, timeout)| {
        FaultMix { internal_error, slow_down, connection_reset, timeout }
    })
}

/// Fault models around `base` as `variation` says (outages kept).
pub fn fault_model(base: &FaultModel, variation: &Variation) -> BoxedStrategy<FaultModel> {
    let process = match &variation.failure_rate {
        Some(rate) => fault_process(rate.clone(), variation.bursty),
        None => Just(base.process.clone()).boxed(),
    };
    let mix = if variation.fault_mix { fault_mix().boxed() } else { Just(base.mix.clone()).boxed() };
    let ambiguous = match &variation.ambiguous_fraction {
        Some(range) => range.clone().boxed(),
        None => Just(base.ambiguous_fraction).boxed(),
    };
    let outages = base.outages.clone();
    (process, mix, ambiguous)
        .prop_map(move |(process, mix, ambiguous_fraction)| FaultModel {
            process,
            outages: outages.clone(),
            mix,
            ambiguous_fraction,
        })
        .boxed()
}

/// `base` with its size (operations per gateway) drawn from `operations`.
pub fn workload(base: &Workload, operations: RangeInclusive<u64>) -> BoxedStrategy<Workload> {
    let operations = (*operations.start()).max(1)..=(*operations.end()).max(1);
    let base = base.clone();
    operations
        .prop_map(move |n| match &base {
            Workload::S3Requests { operation, object_bytes, keys, clients, .. } => Workload::S3Requests {
                operations: n,
                operation: *operation,
                object_bytes: *object_bytes,
                keys: *keys,
                clients: *clients,
            },
            Workload::MutablePuts { line_bytes, reads_per_write, .. } => {
                Workload::MutablePuts { puts: n, line_bytes: *line_bytes, reads_per_write: *reads_per_write }
            }
            Workload::MutableAppends { reads_per_write, writers_per_file, .. } => Workload::MutableAppends {
                appends: n,
                reads_per_write: *reads_per_write,
                writers_per_file: *writers_per_file,
            },
            Workload::Backups { files, file_bytes_step } => Workload::Backups {
                // n backups, cycling over the base's file counts.
                files: (0..n as usize).map(|i| files[i % files.len().max(1)]).collect(),
                file_bytes_step: *file_bytes_step,
            },
        })
        .boxed()
}

/// Grid workloads of every kind with `operations` writes: overwrites,
/// appends (each with up to two reads after every write) (listed first: what a failure shrinks to) or backups of up to 20
/// small files each.
pub fn grid_workload(operations: RangeInclusive<u64>) -> BoxedStrategy<Workload> {
    let operations = (*operations.start()).max(1)..=(*operations.end()).max(1);
    prop_oneof![
        (operations.clone(), 0u64..=2).prop_map(|(puts, reads_per_write)| Workload::MutablePuts {
            puts,
            line_bytes: 0,
            reads_per_write
        }),
        (operations.clone(), 0u64..=2).prop_map(|(appends, reads_per_write)| Workload::MutableAppends {
            appends,
            reads_per_write,
            writers_per_file: 1
        }),
        (operations, 1u64..=20, 1u64..=64).prop_map(|(backups, files, file_bytes_step)| Workload::Backups {
            files: vec![files; backups as usize],
            file_bytes_step,
        }),
    ]
    .boxed()
}

fn ms(range: RangeInclusive<u64>) -> impl Strategy<Value = Duration> {
    range.prop_map(Duration::from_millis)
}

/// Policies of `base`'s kind with their parameters drawn from ranges around
/// the published defaults (a wrapper's inner policy is kept).
pub fn policy_parameters(base: &PolicyConfig) -> BoxedStrategy<PolicyConfig> {
    match base {
        PolicyConfig::None => Just(PolicyConfig::None).boxed(),
        PolicyConfig::Immediate { .. } => (0u32..=5).prop_map(|retries| PolicyConfig::Immediate { retries }).boxed(),
        PolicyConfig::Schedule { .. } => proptest::collection::vec(ms(0..=10_000), 0..=4)
            .prop_map(|delays| PolicyConfig::Schedule { delays })
            .boxed(),
        PolicyConfig::Exponential { jitter, .. } => {
            let jitter = *jitter;
            (ms(1..=1_000), 1u64..=64, 1u32..=6)
                .prop_map(move |(base, factor, attempts_max)| PolicyConfig::Exponential {
                    base,
                    cap: base * u32::try_from(factor).unwrap_or(1),
                    attempts_max,
                    jitter,
                })
                .boxed()
        }
        PolicyConfig::AwsStandard(config) | PolicyConfig::AwsAdaptive(config) => {
            let adaptive = matches!(base, PolicyConfig::AwsAdaptive(_));
            let config = *config;
            (1u32..=5, 0u32..=1_000)
                .prop_map(move |(attempts_max, quota_capacity)| {
                    let config = AwsRetryConfig { attempts_max, quota_capacity, ..config };
                    if adaptive {
                        PolicyConfig::AwsAdaptive(config)
                    } else {
                        PolicyConfig::AwsStandard(config)
                    }
                })
                .boxed()
        }
        PolicyConfig::ObjectStore(config) => {
            let config = *config;
            (0u32..=10, ms(1_000..=180_000))
                .prop_map(move |(max_retries, retry_timeout)| {
                    PolicyConfig::ObjectStore(ObjectStoreConfig { max_retries, retry_timeout, ..config })
                })
                .boxed()
        }
        PolicyConfig::Tahoe { return_first_error, .. } => {
            let return_first_error = *return_first_error;
            proptest::collection::vec(ms(0..=10_000), 0..=4)
                .prop_map(move |delays| PolicyConfig::Tahoe { delays, return_first_error })
                .boxed()
        }
        // Wrappers (throttles, budgets, hedging, deadlines) keep their
        // settings: their parameters are about load, not one run's luck.
        other => Just(other.clone()).boxed(),
    }
}

/// Jitter kinds, plainest first.
pub fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated)]
}

/// Cases around `base` under its policy `policy`, as `variation` says: the
/// scenario keeps only that policy, its faults, workload size and policy
/// parameters drawn, and a seed.
pub fn case(base: &Scenario, policy: &NamedPolicy, variation: &Variation) -> BoxedStrategy<Case> {
    let faults = fault_model(&base.faults, variation);
    let workload = match (&variation.operations, variation.workload_kinds && base.workload.needs_lafs()) {
        (range, true) => grid_workload(range.clone().unwrap_or(1..=30)),
        (Some(range), false) => workload(&base.workload, range.clone()),
        (None, false) => Just(base.workload.clone()).boxed(),
    };
    let config = if variation.policy_parameters {
        policy_parameters(&policy.config)
    } else {
        Just(policy.config.clone()).boxed()
    };
    let (base, name, gateway) = (base.clone(), policy.name.clone(), policy.gateway.clone());
    (faults, workload, config, variation.seeds.clone())
        .prop_map(move |(faults, workload, config, seed)| {
            let mut scenario = base.clone();
            scenario.faults = faults;
            scenario.workload = workload;
            scenario.policies = vec![NamedPolicy { name: name.clone(), config, gateway: gateway.clone() }];
            Case { scenario, seed }
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngSeed, TestRunner};

    use super::*;

    fn runner() -> TestRunner {
        TestRunner::new(Config { rng_seed: RngSeed::Fixed(7), ..Config::default() })
    }

    #[test]
    fn fault_models_are_valid_and_near_their_rate() {
        let mut runner = runner();
        let strategy = fault_model(&FaultModel::default(), &Variation::default());
        for _ in 0..500 {
            let model = strategy.new_tree(&mut runner).unwrap().current();
            model.validate().unwrap();
            let rate = model.process.stationary_failure_rate();
            assert!((0.0..=0.05 + 1e-9).contains(&rate), "{model:?}");
        }
    }

    #[test]
    fn grid_workloads_come_in_every_kind_and_size() {
        let mut runner = runner();
        let strategy = grid_workload(1..=10);
        let mut kinds = std::collections::BTreeSet::new();
        let kind = |workload: &Workload| match workload {
            Workload::MutablePuts { .. } => "puts",
            Workload::MutableAppends { .. } => "appends",
            Workload::Backups { .. } => "backups",
            Workload::S3Requests { .. } => "s3",
        };
        for _ in 0..100 {
            let workload = strategy.new_tree(&mut runner).unwrap().current();
            // 1 to 10 writes, each followed by up to two reads.
            assert!((1..=30).contains(&workload.operations()), "{workload:?}");
            kinds.insert(kind(&workload));
        }
        assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["appends", "backups", "puts"]);
    }

    #[test]
    fn policies_keep_their_kind_and_validate() {
        let mut runner = runner();
        for base in [
            PolicyConfig::Immediate { retries: 1 },
            PolicyConfig::tahoe_cloud(),
            PolicyConfig::aws_standard(),
            PolicyConfig::aws_adaptive(),
            PolicyConfig::object_store(),
            PolicyConfig::Exponential {
                base: Duration::from_millis(100),
                cap: Duration::from_secs(20),
                attempts_max: 3,
                jitter: Jitter::Full,
            },
        ] {
            let strategy = policy_parameters(&base);
            for _ in 0..100 {
                let policy = strategy.new_tree(&mut runner).unwrap().current();
                policy.validate().unwrap();
                assert_eq!(std::mem::discriminant(&policy), std::mem::discriminant(&base));
            }
        }
    }
}
