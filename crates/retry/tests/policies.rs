//! The policy catalogue against its published numbers (AWS retry behavior
//! 2.0 and 2.1, adaptive mode, Arrow `object_store`, gRPC A6 throttling,
//! Finagle's retry budget, deadlines, Tahoe-LAFS, hedging, shared quotas),
//! and properties every policy keeps: no 4xx retried, attempts within the
//! maximum, delays whole milliseconds within the policy's cap.

use std::time::Duration;

use proptest::prelude::*;
use retrylab_retry::{
    Admit, AwsRetryConfig, CircuitBreakerConfig, ClientThrottleConfig, Decision, ErrorClass, Failure, GiveUp, Jitter,
    ObjectStoreConfig, Policy, PolicyConfig, SharedBudgets,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn failure(attempt: u32, class: ErrorClass) -> Failure {
    Failure { attempt, class, elapsed: Duration::ZERO, previous_delay: Duration::ZERO }
}

fn delay(decision: Decision) -> Duration {
    match decision {
        Decision::RetryAfter(d) => d,
        Decision::GiveUp(reason) => panic!("expected a retry, got give-up {reason:?}"),
    }
}

/// The wait before an attempt the policy admits (every policy here but a
/// breaker or throttle always admits).
fn admitted_after(admit: Admit) -> Duration {
    match admit {
        Admit::After(wait) => wait,
        Admit::Refuse(reason) => panic!("expected the attempt admitted, got {reason:?}"),
    }
}

/// One operation whose first attempt fails with `class`, decided at `now`.
fn first_failure(policy: &mut Policy, now: Duration, class: ErrorClass) -> Decision {
    policy.decide_at(now, &failure(1, class))
}

// ------------------------------------------------------------------ AWS 2.0

#[test]
fn aws_standard_gives_up_on_the_third_failure() {
    let mut policy = Policy::new(PolicyConfig::aws_standard(), 1);
    assert!(matches!(policy.decide(&failure(1, ErrorClass::ServerError)), Decision::RetryAfter(_)));
    assert!(matches!(policy.decide(&failure(2, ErrorClass::ServerError)), Decision::RetryAfter(_)));
    assert_eq!(policy.decide(&failure(3, ErrorClass::ServerError)), Decision::GiveUp(GiveUp::AttemptsExhausted));
}

#[test]
fn aws_standard_delays_are_full_jitter_under_a_doubling_cap() {
    let config = PolicyConfig::AwsStandard(AwsRetryConfig { attempts_max: 10, ..AwsRetryConfig::v2_0() });
    // Cap after attempt i: min(2^(i-1) s, 20 s).
    let caps = [1_000, 2_000, 4_000, 8_000, 16_000, 20_000, 20_000];
    let mut highest = [Duration::ZERO; 7];
    for seed in 0..300 {
        let mut policy = Policy::new(config.clone(), seed);
        for (i, cap) in caps.iter().enumerate() {
            let d = delay(policy.decide(&failure(i as u32 + 1, ErrorClass::ServerError)));
            assert!(d < ms(*cap), "attempt {}: {d:?} >= {cap} ms", i + 1);
            assert_eq!(d.subsec_nanos() % 1_000_000, 0);
            highest[i] = highest[i].max(d);
        }
    }
    for (i, cap) in caps.iter().enumerate() {
        assert!(highest[i] > ms(cap * 9 / 10), "attempt {}: the draws never neared the cap: {:?}", i + 1, highest[i]);
    }
}

#[test]
fn aws_quota_of_500_allows_100_retries_then_refuses() {
    let mut policy = Policy::new(PolicyConfig::aws_standard(), 1);
    for n in 0..100 {
        assert!(matches!(first_failure(&mut policy, ms(n), ErrorClass::ServerError), Decision::RetryAfter(_)), "{n}");
    }
    assert_eq!(policy.shared().aws_quota_available(), Some(0));
    assert_eq!(first_failure(&mut policy, ms(100), ErrorClass::ServerError), Decision::GiveUp(GiveUp::QuotaExhausted));
    assert_eq!(policy.quota_exhausted_count(), 1);
    assert_eq!(policy.shared().quota_exhausted(), 1);
    // A 4xx is not a quota refusal.
    assert_eq!(first_failure(&mut policy, ms(101), ErrorClass::ClientError), Decision::GiveUp(GiveUp::NotRetryable));
    assert_eq!(policy.quota_exhausted_count(), 1);
}

#[test]
fn aws_timeouts_cost_10() {
    let mut policy = Policy::new(PolicyConfig::aws_standard(), 1);
    let allowed = (0..60)
        .take_while(|n| matches!(first_failure(&mut policy, ms(*n), ErrorClass::Timeout), Decision::RetryAfter(_)))
        .count();
    assert_eq!(allowed, 50);
}

#[test]
fn a_successful_retry_refunds_its_cost() {
    let mut policy = Policy::new(PolicyConfig::aws_standard(), 1);
    for n in 0..10 {
        delay(first_failure(&mut policy, ms(n), ErrorClass::ServerError));
    }
    assert_eq!(policy.shared().aws_quota_available(), Some(450));
    // The retry after a timeout costs 10; its success gives the 10 back.
    delay(first_failure(&mut policy, ms(10), ErrorClass::Timeout));
    assert_eq!(policy.shared().aws_quota_available(), Some(440));
    policy.on_success(ms(20), 2);
    assert_eq!(policy.shared().aws_quota_available(), Some(450));
    // A failed operation's retry is not refunded.
    delay(first_failure(&mut policy, ms(30), ErrorClass::ServerError));
    delay(policy.decide_at(ms(40), &failure(2, ErrorClass::ServerError)));
    assert_eq!(
        policy.decide_at(ms(50), &failure(3, ErrorClass::ServerError)),
        Decision::GiveUp(GiveUp::AttemptsExhausted)
    );
    assert_eq!(policy.shared().aws_quota_available(), Some(440));
    // The next first-try success earns 1, not the dropped retry's cost.
    policy.on_success(ms(60), 1);
    assert_eq!(policy.shared().aws_quota_available(), Some(441));
}

#[test]
fn first_try_successes_add_one_token_up_to_500() {
    let mut policy = Policy::new(PolicyConfig::aws_standard(), 1);
    policy.on_success(Duration::ZERO, 1);
    assert_eq!(policy.shared().aws_quota_available(), Some(500), "never above capacity");
    delay(first_failure(&mut policy, ms(1), ErrorClass::ServerError));
    delay(first_failure(&mut policy, ms(2), ErrorClass::ServerError));
    // Giving up drops the held retry tokens, so the next success is a first-try one.
    policy.decide_at(ms(3), &failure(3, ErrorClass::ServerError));
    assert_eq!(policy.shared().aws_quota_available(), Some(490));
    for n in 0..3 {
        policy.on_success(ms(10 + n), 1);
    }
    assert_eq!(policy.shared().aws_quota_available(), Some(493));
    for n in 0..20 {
        policy.on_success(ms(20 + n), 1);
    }
    assert_eq!(policy.shared().aws_quota_available(), Some(500));
}

// ------------------------------------------------------------------ AWS 2.1

#[test]
fn aws_v2_1_has_a_50ms_base_and_costs_14_unless_throttled() {
    let mut highest = (Duration::ZERO, Duration::ZERO);
    for seed in 0..300 {
        let mut policy = Policy::new(PolicyConfig::aws_standard_v2_1(), seed);
        let server = delay(policy.decide(&failure(1, ErrorClass::ServerError)));
        let server_2 = delay(policy.decide(&failure(2, ErrorClass::ServerError)));
        let throttled = delay(policy.decide(&failure(1, ErrorClass::Throttling)));
        assert!(server < ms(50), "{server:?}");
        assert!(server_2 < ms(100), "{server_2:?}");
        assert!(throttled < ms(1_000), "{throttled:?}");
        highest = (highest.0.max(server), highest.1.max(throttled));
    }
    assert!(highest.0 >= ms(45) && highest.1 > ms(900), "{highest:?}");

    let mut policy = Policy::new(PolicyConfig::aws_standard_v2_1(), 1);
    let allowed = (0..50)
        .take_while(|n| matches!(first_failure(&mut policy, ms(*n), ErrorClass::ServerError), Decision::RetryAfter(_)))
        .count();
    assert_eq!(allowed, 35, "500 / 14");
    assert_eq!(policy.shared().aws_quota_available(), Some(10));
    // Throttling costs 5: two more retries fit in the last 10 tokens.
    delay(first_failure(&mut policy, ms(100), ErrorClass::Throttling));
    delay(first_failure(&mut policy, ms(101), ErrorClass::Throttling));
    assert_eq!(first_failure(&mut policy, ms(102), ErrorClass::Throttling), Decision::GiveUp(GiveUp::QuotaExhausted));
}

// ------------------------------------------------------------------ AWS adaptive

#[test]
fn adaptive_mode_waits_only_after_throttling() {
    let mut policy = Policy::new(PolicyConfig::aws_adaptive(), 1);
    // 100 requests per second, none throttled: never a wait.
    for n in 0..300 {
        let now = ms(10 * n);
        assert_eq!(admitted_after(policy.before_attempt(now, 1)), Duration::ZERO);
        policy.on_response(now, false);
        policy.on_success(now, 1);
    }
    assert_eq!(policy.shared().adaptive_fill_rate().map(|(_, on)| on), Some(false));
    policy.on_response(ms(3_000), true);
    let (fill_rate, enabled) = policy.shared().adaptive_fill_rate().unwrap();
    assert!(enabled);
    assert!(fill_rate < 100.0, "CUBIC cut the rate below the send rate: {fill_rate}");
    // Sending at 100 per second again: the bucket (filled while the limiter
    // was off) lets a burst through, then the limiter makes requests wait.
    let mut now = ms(3_000);
    let mut waited = Duration::ZERO;
    for _ in 0..100 {
        let wait = admitted_after(policy.before_attempt(now, 1));
        assert_eq!(wait.subsec_nanos() % 1_000_000, 0, "whole ms: {wait:?}");
        waited += wait;
        now += wait + ms(10);
        policy.on_response(now, false);
    }
    assert!(waited > Duration::ZERO, "no request waited after throttling");
    // Throttled on every answer, the rate falls towards 0.5 per second.
    let start = now;
    let mut sent = Vec::new();
    for _ in 0..60 {
        now += admitted_after(policy.before_attempt(now, 1));
        sent.push(now);
        now += ms(10);
        policy.on_response(now, true);
    }
    let last_20 = sent[59] - sent[39];
    assert!(last_20 > secs(19), "20 requests in {last_20:?} under sustained throttling");
    assert!(now - start > secs(30), "{:?}", now - start);
    // Retries are never limited by before_attempt; their delay is the limiter's.
    assert_eq!(admitted_after(policy.before_attempt(now, 2)), Duration::ZERO);
    policy.on_response(now, true);
    let retry = delay(policy.decide_at(now, &failure(1, ErrorClass::Throttling)));
    assert!(retry > Duration::ZERO && retry <= secs(20), "{retry:?}");
}

// ------------------------------------------------------------------ object_store

#[test]
fn object_store_backoff_is_decorrelated_from_100ms_to_15s() {
    let mut longest = Duration::ZERO;
    for seed in 0..100 {
        let mut policy = Policy::new(PolicyConfig::object_store(), seed);
        let mut previous = Duration::ZERO;
        let mut elapsed = Duration::ZERO;
        for attempt in 1..=10 {
            let d = delay(policy.decide(&Failure {
                attempt,
                class: ErrorClass::ServerError,
                elapsed,
                previous_delay: previous,
            }));
            if attempt == 1 {
                assert_eq!(d, ms(100), "object_store's first backoff is init_backoff");
            } else {
                assert!(
                    d >= ms(100) && d <= secs(15) && d < previous * 2,
                    "attempt {attempt}: {d:?} after {previous:?}"
                );
            }
            longest = longest.max(d);
            previous = d;
            elapsed += d;
        }
        assert_eq!(
            policy.decide(&Failure { attempt: 11, class: ErrorClass::ServerError, elapsed, previous_delay: previous }),
            Decision::GiveUp(GiveUp::AttemptsExhausted),
            "max_retries 10"
        );
    }
    assert!(longest > secs(2), "decorrelated growth never took off: {longest:?}");
    // With a large previous delay the cap binds.
    let mut policy = Policy::new(PolicyConfig::object_store(), 7);
    let capped = (0..200)
        .map(|_| {
            delay(policy.decide(&Failure {
                attempt: 5,
                class: ErrorClass::Timeout,
                elapsed: secs(1),
                previous_delay: secs(15),
            }))
        })
        .filter(|d| *d == secs(15))
        .count();
    // uniform [0.1 s, 30 s) is above 15 s about half the time.
    assert!(capped > 60, "{capped}");
}

#[test]
fn object_store_stops_once_180s_have_passed() {
    let mut policy = Policy::new(PolicyConfig::object_store(), 1);
    let at = |elapsed| Failure { attempt: 3, class: ErrorClass::ServerError, elapsed, previous_delay: ms(150) };
    assert!(matches!(policy.decide(&at(secs(180))), Decision::RetryAfter(_)));
    assert_eq!(policy.decide(&at(secs(180) + ms(1))), Decision::GiveUp(GiveUp::DeadlineExceeded));
    let config =
        PolicyConfig::ObjectStore(ObjectStoreConfig { retry_timeout: secs(1), ..ObjectStoreConfig::default() });
    assert_eq!(Policy::new(config, 1).decide(&at(secs(2))), Decision::GiveUp(GiveUp::DeadlineExceeded));
}

// ------------------------------------------------------------------ gRPC A6

#[test]
fn grpc_stops_retrying_at_half_the_tokens() {
    let mut policy = Policy::new(PolicyConfig::grpc(), 1);
    let decisions: Vec<bool> = (0..6)
        .map(|n| matches!(first_failure(&mut policy, ms(n), ErrorClass::ServerError), Decision::RetryAfter(_)))
        .collect();
    // Tokens 10 -> 9, 8, 7, 6 (retry), 5 (<= 10/2: throttled), 4.
    assert_eq!(decisions, vec![true, true, true, true, false, false]);
    assert_eq!(policy.shared().grpc_tokens(), Some(4.0));
    assert_eq!(policy.quota_exhausted_count(), 2);
    // 20 successes at 0.1 bring 4 to 6: the next failure leaves 5.0, still
    // throttled; one success more and a failure leaves 5.1 > 5.
    for n in 0..20 {
        policy.on_success(ms(100 + n), 1);
    }
    assert_eq!(first_failure(&mut policy, ms(200), ErrorClass::ServerError), Decision::GiveUp(GiveUp::Throttled));
    for n in 0..11 {
        policy.on_success(ms(300 + n), 1);
    }
    assert_eq!(policy.shared().grpc_tokens(), Some(6.1));
    assert!(matches!(first_failure(&mut policy, ms(400), ErrorClass::ServerError), Decision::RetryAfter(_)));
    // A 4xx takes no token.
    first_failure(&mut policy, ms(401), ErrorClass::ClientError);
    assert_eq!(policy.shared().grpc_tokens(), Some(5.1));
}

#[test]
fn grpc_backoff_is_full_jitter_from_100ms_capped_at_1s() {
    for seed in 0..200 {
        let mut policy = Policy::new(PolicyConfig::grpc(), seed);
        for (attempt, cap) in [(1, 100), (2, 200), (3, 400), (4, 800)] {
            policy.on_success(Duration::ZERO, 1); // keep the throttle open
            policy.on_success(Duration::ZERO, 1);
            let d = delay(policy.decide(&failure(attempt, ErrorClass::ConnectionReset)));
            assert!(d < ms(cap), "{d:?}");
        }
        for _ in 0..20 {
            policy.on_success(Duration::ZERO, 1);
        }
        assert_eq!(policy.decide(&failure(5, ErrorClass::ServerError)), Decision::GiveUp(GiveUp::AttemptsExhausted));
    }
}

// ------------------------------------------------------------------ Finagle budget

/// Retries the budget grants at `now` to first failures, up to `limit`.
fn retries_granted(policy: &mut Policy, now: Duration, limit: usize) -> usize {
    (0..limit)
        .take_while(|_| matches!(first_failure(policy, now, ErrorClass::ServerError), Decision::RetryAfter(_)))
        .count()
}

#[test]
fn finagle_budget_allows_ten_per_second_plus_a_fifth_of_requests() {
    // No traffic yet: the reserve, 10 per second over the 10 s ttl.
    let mut idle = Policy::new(PolicyConfig::finagle(), 1);
    assert_eq!(retries_granted(&mut idle, secs(1), 1_000), 100);
    assert_eq!(first_failure(&mut idle, secs(1), ErrorClass::ServerError), Decision::GiveUp(GiveUp::BudgetExhausted));
    // Withdrawals expire with the window: a ttl later the reserve is back.
    assert_eq!(retries_granted(&mut idle, secs(12), 1_000), 100);

    // 1,000 requests in the window: 20% of them more.
    let mut busy = Policy::new(PolicyConfig::finagle(), 1);
    for n in 0..1_000 {
        admitted_after(busy.before_attempt(secs(1) + ms(n), 1));
    }
    // Retries are not deposits.
    admitted_after(busy.before_attempt(secs(2), 2));
    assert_eq!(retries_granted(&mut busy, secs(2), 1_000), 300);
    assert_eq!(busy.quota_exhausted_count(), 1);
}

#[test]
fn finagle_inner_policy_is_decorrelated_5_to_200ms_three_tries() {
    let mut policy = Policy::new(PolicyConfig::finagle(), 3);
    let d = delay(policy.decide(&failure(1, ErrorClass::ServerError)));
    assert!(d >= ms(5) && d <= ms(200), "{d:?}");
    let d2 = delay(policy.decide(&Failure { previous_delay: d, ..failure(2, ErrorClass::ServerError) }));
    assert!(d2 >= ms(5) && d2 <= ms(200), "{d2:?}");
    assert_eq!(policy.decide(&failure(3, ErrorClass::ServerError)), Decision::GiveUp(GiveUp::AttemptsExhausted));
}

// ------------------------------------------------------------------ deadline

#[test]
fn deadline_gives_up_before_passing_the_deadline() {
    let inner = PolicyConfig::Exponential { base: secs(1), cap: secs(60), attempts_max: 10, jitter: Jitter::None };
    let mut policy = Policy::new(PolicyConfig::deadline(inner, secs(5)), 1);
    let at =
        |attempt, elapsed| Failure { attempt, class: ErrorClass::ServerError, elapsed, previous_delay: Duration::ZERO };
    // The delay after attempt 2 is 2 s: 3 s + 2 s reaches the deadline exactly.
    assert_eq!(policy.decide(&at(2, secs(3))), Decision::RetryAfter(secs(2)));
    assert_eq!(policy.decide(&at(2, secs(3) + ms(1))), Decision::GiveUp(GiveUp::DeadlineExceeded));
    assert_eq!(policy.decide(&at(1, secs(6))), Decision::GiveUp(GiveUp::DeadlineExceeded));
    // A 4xx is still a 4xx.
    assert_eq!(
        policy.decide(&Failure { class: ErrorClass::ClientError, ..at(1, secs(6)) }),
        Decision::GiveUp(GiveUp::NotRetryable)
    );
    // Whatever the inner policy, elapsed + delay never passes the deadline.
    for seed in 0..50 {
        let mut policy = Policy::new(PolicyConfig::deadline(PolicyConfig::aws_standard(), secs(2)), seed);
        let mut elapsed = ms(100);
        let mut attempt = 1;
        while let Decision::RetryAfter(d) = policy.decide(&at(attempt, elapsed)) {
            assert!(elapsed + d <= secs(2));
            elapsed += d + ms(300);
            attempt += 1;
        }
    }
}

// ------------------------------------------------------------------ Tahoe, hedging

#[test]
fn tahoe_waits_0_2_10_seconds_retries_5xx_and_returns_the_first_error() {
    let mut policy = Policy::new(PolicyConfig::tahoe_cloud(), 1);
    assert!(policy.returns_first_error());
    assert!(!Policy::new(PolicyConfig::tahoe_cloud_backend(), 1).returns_first_error());
    let classes = [ErrorClass::ServerError, ErrorClass::Throttling, ErrorClass::Timeout, ErrorClass::ConnectionReset];
    for class in classes {
        let delays: Vec<Decision> = (1..=4).map(|n| policy.decide(&failure(n, class))).collect();
        assert_eq!(
            delays,
            vec![
                Decision::RetryAfter(Duration::ZERO),
                Decision::RetryAfter(secs(2)),
                Decision::RetryAfter(secs(10)),
                Decision::GiveUp(GiveUp::AttemptsExhausted),
            ]
        );
    }
    assert_eq!(policy.decide(&failure(1, ErrorClass::ClientError)), Decision::GiveUp(GiveUp::NotRetryable));
}

#[test]
fn hedging_at_an_observed_quantile_learns_the_latency_after_twenty_answers() {
    let config = PolicyConfig::hedged_at_quantile(PolicyConfig::None, 0.95, ms(700));
    config.validate().unwrap();
    let mut policy = Policy::new(config, 1);
    // Latencies 1..=100 ms: the p95 (nearest rank) of the first 20 is 19 ms.
    for latency in 1..=19 {
        policy.observe_latency(ms(latency));
        assert_eq!(policy.hedge_after(), Some(ms(700)), "still the initial delay after {latency}");
    }
    policy.observe_latency(ms(20));
    assert_eq!(policy.hedge_after(), Some(ms(19)));
    for latency in 21..=100 {
        policy.observe_latency(ms(latency));
    }
    assert_eq!(policy.hedge_after(), Some(ms(95)));
    // A slow spell raises it, within the next recomputation.
    for _ in 0..1000 {
        policy.observe_latency(ms(3000));
    }
    assert_eq!(policy.hedge_after(), Some(ms(3000)));
    // A fixed hedge ignores what it observes.
    let mut fixed = Policy::new(PolicyConfig::hedged(PolicyConfig::None, ms(50)), 1);
    for _ in 0..100 {
        fixed.observe_latency(ms(5));
    }
    assert_eq!(fixed.hedge_after(), Some(ms(50)));
    // Quantiles outside (0, 1) are refused, naming the field.
    for bad in [0.0, 1.0, -0.5, f64::NAN] {
        let error = PolicyConfig::hedged_at_quantile(PolicyConfig::None, bad, ms(1)).validate().unwrap_err();
        assert_eq!(error.field, "quantile");
    }
}

#[test]
fn hedging_exposes_its_delay_and_retries_as_its_inner_policy() {
    assert_eq!(Policy::new(PolicyConfig::aws_standard(), 1).hedge_after(), None);
    let alone = PolicyConfig::hedged(PolicyConfig::None, ms(50));
    let mut policy = Policy::new(alone.clone(), 1);
    assert_eq!(policy.hedge_after(), Some(ms(50)));
    assert_eq!(policy.decide(&failure(1, ErrorClass::ServerError)), Decision::GiveUp(GiveUp::AttemptsExhausted));
    let with_retries =
        PolicyConfig::deadline(PolicyConfig::hedged(PolicyConfig::Immediate { retries: 2 }, ms(80)), secs(1));
    let mut policy = Policy::new(with_retries, 1);
    assert_eq!(policy.hedge_after(), Some(ms(80)));
    assert_eq!(policy.decide(&failure(2, ErrorClass::Timeout)), Decision::RetryAfter(Duration::ZERO));
    assert_eq!(policy.decide(&failure(3, ErrorClass::Timeout)), Decision::GiveUp(GiveUp::AttemptsExhausted));
    // A6: while the gRPC throttle is at or below half, no hedges either.
    let throttled = PolicyConfig::GrpcThrottled {
        inner: Box::new(PolicyConfig::hedged(PolicyConfig::Immediate { retries: 3 }, ms(20))),
        max_tokens: 4,
        token_ratio: 0.5,
    };
    let mut policy = Policy::new(throttled, 1);
    assert_eq!(policy.hedge_after(), Some(ms(20)));
    assert_eq!(
        first_failure(&mut policy, Duration::ZERO, ErrorClass::ServerError),
        Decision::RetryAfter(Duration::ZERO)
    );
    assert_eq!(
        first_failure(&mut policy, Duration::ZERO, ErrorClass::ServerError),
        Decision::GiveUp(GiveUp::Throttled)
    );
    assert_eq!(policy.hedge_after(), None);
    policy.on_success(ms(1), 1);
    assert_eq!(policy.hedge_after(), Some(ms(20)), "2.5 tokens of 4: above half again");
    assert_eq!(alone.validate(), Ok(()));
    assert_eq!(
        PolicyConfig::hedged(PolicyConfig::None, Duration::from_micros(1500)).validate().unwrap_err().field,
        "delay_ms"
    );
}

// ------------------------------------------------------------------ shared state

#[test]
fn one_quota_shared_by_a_hundred_clients() {
    let shared = SharedBudgets::new();
    let mut gateways: Vec<Policy> =
        (0..101).map(|seed| Policy::with_shared(PolicyConfig::aws_standard(), seed, &shared)).collect();
    for gateway in &mut gateways[..100] {
        delay(first_failure(gateway, Duration::ZERO, ErrorClass::ServerError));
    }
    assert_eq!(shared.aws_quota_available(), Some(0));
    assert_eq!(
        first_failure(&mut gateways[100], Duration::ZERO, ErrorClass::ServerError),
        Decision::GiveUp(GiveUp::QuotaExhausted)
    );
    assert_eq!(shared.quota_exhausted(), 1);
    assert_eq!(gateways[100].quota_exhausted_count(), 1);
    assert_eq!(gateways[0].quota_exhausted_count(), 0);
    // A success anywhere refunds into the one bucket.
    gateways[7].on_success(ms(1), 2);
    assert_eq!(shared.aws_quota_available(), Some(5));
    // Unshared policies each have their own 500.
    let mut alone = Policy::new(PolicyConfig::aws_standard(), 1);
    delay(first_failure(&mut alone, Duration::ZERO, ErrorClass::ServerError));
    assert_eq!(alone.shared().aws_quota_available(), Some(495));
    assert!(!alone.shared().same_as(&shared));
}

#[test]
fn validation_names_the_bad_field() {
    let bad = |config: PolicyConfig| config.validate().unwrap_err().field;
    assert_eq!(
        bad(PolicyConfig::AwsStandard(AwsRetryConfig { attempts_max: 0, ..AwsRetryConfig::v2_0() })),
        "attempts_max"
    );
    assert_eq!(bad(PolicyConfig::ObjectStore(ObjectStoreConfig { base: 0.5, ..ObjectStoreConfig::default() })), "base");
    assert_eq!(
        bad(PolicyConfig::GrpcThrottled { inner: Box::new(PolicyConfig::None), max_tokens: 10, token_ratio: 0.0 }),
        "token_ratio"
    );
    assert_eq!(
        bad(PolicyConfig::RetryBudget {
            inner: Box::new(PolicyConfig::None),
            ttl: ms(500),
            min_retries_per_sec: 10,
            percent_can_retry: 0.2
        }),
        "ttl_ms"
    );
    assert_eq!(bad(PolicyConfig::deadline(PolicyConfig::None, Duration::ZERO)), "deadline_ms");
    // Wrappers validate what they wrap.
    let broken_inner = PolicyConfig::Exponential { base: ms(0), cap: ms(10), attempts_max: 3, jitter: Jitter::Full };
    assert_eq!(bad(PolicyConfig::deadline(PolicyConfig::retry_budget(broken_inner), secs(1))), "base_ms");
    for config in catalogue() {
        assert_eq!(config.validate(), Ok(()), "{config:?}");
    }
}

// ------------------------------------------------------------------ properties

/// Every constructor of the catalogue.
fn catalogue() -> Vec<PolicyConfig> {
    vec![
        PolicyConfig::tahoe_cloud_backend(),
        PolicyConfig::tahoe_cloud(),
        PolicyConfig::aws_standard(),
        PolicyConfig::aws_standard_v2_1(),
        PolicyConfig::aws_adaptive(),
        PolicyConfig::object_store(),
        PolicyConfig::grpc(),
        PolicyConfig::finagle(),
        PolicyConfig::hedged(PolicyConfig::aws_standard(), ms(50)),
        PolicyConfig::deadline(PolicyConfig::object_store(), secs(30)),
    ]
}

fn any_class() -> impl Strategy<Value = ErrorClass> {
    prop_oneof![
        Just(ErrorClass::ServerError),
        Just(ErrorClass::Throttling),
        Just(ErrorClass::ConnectionReset),
        Just(ErrorClass::Timeout),
        Just(ErrorClass::ClientError),
    ]
}

fn base_config() -> impl Strategy<Value = PolicyConfig> {
    let jitter = prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated)];
    prop_oneof![
        Just(PolicyConfig::None),
        (0u32..5).prop_map(|retries| PolicyConfig::Immediate { retries }),
        proptest::collection::vec(0u64..20_000, 0..5)
            .prop_map(|ms| PolicyConfig::Schedule { delays: ms.into_iter().map(Duration::from_millis).collect() }),
        (1u64..1000, 1u64..100, 1u32..12, jitter).prop_map(|(base, factor, attempts_max, jitter)| {
            PolicyConfig::Exponential { base: ms(base), cap: ms(base * factor), attempts_max, jitter }
        }),
        Just(PolicyConfig::aws_standard()),
        Just(PolicyConfig::aws_standard_v2_1()),
        Just(PolicyConfig::aws_adaptive()),
        (1u32..8, 1u64..5_000).prop_map(|(attempts_max, cap)| PolicyConfig::AwsAdaptive(AwsRetryConfig {
            attempts_max,
            max_backoff: ms(cap),
            quota_capacity: 50,
            ..AwsRetryConfig::v2_1()
        })),
        Just(PolicyConfig::object_store()),
        (1u64..500, 1u64..50, 1.0..4.0f64, 0u32..12, 0u64..10_000).prop_map(
            |(init, factor, base, retries, timeout)| {
                PolicyConfig::ObjectStore(ObjectStoreConfig {
                    init_backoff: ms(init),
                    max_backoff: ms(init * factor),
                    base,
                    max_retries: retries,
                    retry_timeout: ms(timeout),
                })
            }
        ),
        Just(PolicyConfig::tahoe_cloud()),
    ]
}

fn any_config() -> impl Strategy<Value = PolicyConfig> {
    base_config().prop_recursive(2, 8, 1, |inner| {
        prop_oneof![
            (inner.clone(), 1u32..20, 1u32..1000).prop_map(|(inner, max_tokens, ratio)| PolicyConfig::GrpcThrottled {
                inner: Box::new(inner),
                max_tokens,
                token_ratio: f64::from(ratio) / 1000.0,
            }),
            (inner.clone(), 1u64..=60, 0u32..20, 0u32..100).prop_map(|(inner, ttl, min, percent)| {
                PolicyConfig::RetryBudget {
                    inner: Box::new(inner),
                    ttl: secs(ttl),
                    min_retries_per_sec: min,
                    percent_can_retry: f64::from(percent) / 100.0,
                }
            }),
            (inner.clone(), 0u64..500).prop_map(|(inner, delay)| PolicyConfig::hedged(inner, ms(delay))),
            (inner.clone(), 1u64..60_000).prop_map(|(inner, deadline)| PolicyConfig::deadline(inner, ms(deadline))),
            (inner.clone(), 1u64..=60, 1u32..30, 1u32..=10, 1u64..10_000, 1u32..=10).prop_map(
                |(inner, window, minimum_calls, tenths, open, half_open_calls)| PolicyConfig::CircuitBreaker {
                    inner: Box::new(inner),
                    breaker: CircuitBreakerConfig {
                        window: secs(window),
                        minimum_calls,
                        failure_rate_threshold: f64::from(tenths) / 10.0,
                        open: ms(open),
                        half_open_calls,
                    },
                }
            ),
            (inner, 1u64..=120, 10u32..=40).prop_map(|(inner, window, k_tenths)| PolicyConfig::ClientThrottle {
                inner: Box::new(inner),
                throttle: ClientThrottleConfig { window: secs(window), k: f64::from(k_tenths) / 10.0 },
            }),
        ]
    })
}

/// Runs one operation that fails every attempt with `class`, calling every
/// hook as a retry layer does; checks each delay and returns the attempts made.
fn failing_operation(
    policy: &mut Policy,
    start: Duration,
    class: ErrorClass,
) -> Result<(u32, Duration), TestCaseError> {
    let attempts_max = policy.config().attempts_max();
    let cap = policy.config().max_delay();
    let mut now = start;
    let mut attempt = 1;
    let mut previous_delay = Duration::ZERO;
    loop {
        let wait = match policy.before_attempt(now, attempt) {
            Admit::After(wait) => wait,
            Admit::Refuse(reason) => {
                prop_assert!(reason.is_refusal(), "{:?} refused an attempt", reason);
                return Ok((attempt, now));
            }
        };
        prop_assert_eq!(wait.subsec_nanos() % 1_000_000, 0, "wait {:?} is not whole ms", wait);
        now += wait + ms(7);
        policy.on_response(now, class == ErrorClass::Throttling);
        let failure = Failure { attempt, class, elapsed: now - start, previous_delay };
        match policy.decide_at(now, &failure) {
            Decision::RetryAfter(delay) => {
                prop_assert!(class != ErrorClass::ClientError, "a 4xx was retried");
                prop_assert_eq!(delay.subsec_nanos() % 1_000_000, 0, "delay {:?} is not whole ms", delay);
                prop_assert!(delay <= cap, "delay {:?} above the cap {:?}", delay, cap);
                attempt += 1;
                prop_assert!(attempt <= attempts_max, "attempt {} of at most {}", attempt, attempts_max);
                previous_delay = delay;
                now += delay;
            }
            Decision::GiveUp(reason) => {
                if class == ErrorClass::ClientError {
                    prop_assert_eq!(reason, GiveUp::NotRetryable);
                }
                return Ok((attempt, now));
            }
        }
    }
}

include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/proptest_seed.rs"));

proptest! {

    // Failing cases are kept in the workspace's proptest-regressions/ (committed).

    #![proptest_config(ProptestConfig { rng_seed: proptest_rng_seed(), failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proptest-regressions/retry-policies.txt")))), ..ProptestConfig::default() })]
    #[test]
    fn no_policy_ever_retries_a_4xx(config in any_config(), attempt in 1u32..20, seed: u64, prior in 0usize..5) {
        let mut policy = Policy::new(config, seed);
        // Whatever state earlier operations left behind.
        let mut now = Duration::ZERO;
        for _ in 0..prior {
            now = failing_operation(&mut policy, now, ErrorClass::Throttling)?.1;
        }
        prop_assert_eq!(
            policy.decide_at(now, &failure(attempt, ErrorClass::ClientError)),
            Decision::GiveUp(GiveUp::NotRetryable)
        );
    }

    #[test]
    fn attempts_and_delays_stay_within_each_policys_limits(
        config in any_config(),
        classes in proptest::collection::vec(any_class(), 1..12),
        successes in proptest::collection::vec(any::<bool>(), 12),
        seed: u64,
    ) {
        let shared = SharedBudgets::new();
        let mut policies = [
            Policy::with_shared(config.clone(), seed, &shared),
            Policy::with_shared(config, seed ^ 1, &shared),
        ];
        let mut now = Duration::ZERO;
        for (i, class) in classes.into_iter().enumerate() {
            let policy = &mut policies[i % 2];
            let (attempts, end) = failing_operation(policy, now, class)?;
            now = end + ms(3);
            if successes[i] {
                policy.on_success(now, attempts);
            }
        }
    }

    #[test]
    fn catalogue_policies_keep_their_limits(index in 0usize..10, class in any_class(), seed: u64, operations in 1usize..40) {
        let mut policy = Policy::new(catalogue()[index].clone(), seed);
        let mut now = Duration::ZERO;
        for _ in 0..operations {
            now = failing_operation(&mut policy, now, class)?.1 + ms(1);
        }
    }
}

// ------------------------------------------- circuit breaker, client throttle

/// One attempt through every hook: admitted or refused; if admitted it
/// fails with `class` (`None`: succeeds). Returns the refusal, if any.
fn one_attempt(policy: &mut Policy, now: Duration, attempt: u32, class: Option<ErrorClass>) -> Option<GiveUp> {
    match policy.before_attempt(now, attempt) {
        Admit::Refuse(reason) => return Some(reason),
        Admit::After(wait) => assert_eq!(wait, Duration::ZERO),
    }
    match class {
        None => policy.on_success(now, attempt),
        Some(class) => {
            let _ = policy.decide_at(now, &failure(attempt, class));
        }
    }
    None
}

#[test]
fn an_open_breaker_refuses_first_tries_and_retries_for_every_client_sharing_it() {
    let shared = SharedBudgets::new();
    let config = PolicyConfig::circuit_breaker(PolicyConfig::Immediate { retries: 3 });
    let mut first = Policy::with_shared(config.clone(), 1, &shared);
    let mut second = Policy::with_shared(config, 2, &shared);
    // 4xx answers are not failures: 30 of them leave the breaker closed.
    for _ in 0..30 {
        assert_eq!(one_attempt(&mut first, ms(0), 1, Some(ErrorClass::ClientError)), None);
    }
    assert_eq!(shared.breaker_state(), Some("closed"));
    // 20 timeouts among 50 calls (40%) stay closed; 10 more make 30 of 60, 50%: open.
    for _ in 0..20 {
        assert_eq!(one_attempt(&mut first, ms(10), 1, Some(ErrorClass::Timeout)), None);
    }
    assert_eq!(shared.breaker_state(), Some("closed"));
    for _ in 0..9 {
        assert_eq!(one_attempt(&mut first, ms(20), 1, Some(ErrorClass::Throttling)), None);
    }
    assert_eq!(shared.breaker_state(), Some("closed"));
    assert_eq!(one_attempt(&mut first, ms(20), 1, Some(ErrorClass::Throttling)), None);
    assert_eq!(shared.breaker_state(), Some("open"));
    // The other client's first try and retry are refused too.
    assert_eq!(second.before_attempt(ms(30), 1), Admit::Refuse(GiveUp::CircuitOpen));
    assert_eq!(second.before_attempt(ms(31), 2), Admit::Refuse(GiveUp::CircuitOpen));
    assert_eq!(second.quota_exhausted_count(), 2);
    assert_eq!(shared.quota_exhausted(), 2);
    // Open for 5 s from the opening failure at 20 ms.
    assert_eq!(second.before_attempt(ms(5_019), 1), Admit::Refuse(GiveUp::CircuitOpen));
    assert_eq!(second.before_attempt(ms(5_020), 1), Admit::After(Duration::ZERO));
    assert_eq!(shared.breaker_state(), Some("half_open"));
}

#[test]
fn a_client_throttle_refuses_with_the_sre_probability() {
    // Every answer a 503: accepts stay 0 and the probability climbs to
    // requests / (requests + 1); rejected attempts still count as requests.
    let shared = SharedBudgets::new();
    let mut policy = Policy::with_shared(PolicyConfig::client_throttle(PolicyConfig::None), 7, &shared);
    let mut refused = 0;
    for n in 0..1000u64 {
        if one_attempt(&mut policy, ms(n), 1, Some(ErrorClass::Throttling)) == Some(GiveUp::ClientThrottled) {
            refused += 1;
        }
    }
    assert_eq!(shared.client_throttle_counts(ms(1_000)), Some((1000, 0)));
    // p = n / (n + 1) after n requests: about 1000 - ln(1000) - 0.58, i.e. 992.5 refusals expected.
    assert!((980..=999).contains(&refused), "{refused} refused");
    assert_eq!(policy.quota_exhausted_count(), refused);
}

#[test]
fn a_client_throttle_never_refuses_while_the_backend_accepts() {
    let mut policy = Policy::new(PolicyConfig::client_throttle(PolicyConfig::None), 7);
    // Half the answers 4xx (accepted), half successes: p stays 0.
    for n in 0..1000u64 {
        let class = (n % 2 == 0).then_some(ErrorClass::ClientError);
        assert_eq!(one_attempt(&mut policy, ms(n), 1, class), None);
    }
    // With k = 2, a third of failures is still not enough to refuse anything.
    for n in 0..999u64 {
        let class = (n % 3 == 0).then_some(ErrorClass::ServerError);
        assert_eq!(one_attempt(&mut policy, ms(1_000 + n), 1, class), None);
    }
    assert_eq!(policy.quota_exhausted_count(), 0);
}

#[test]
fn breakers_and_throttles_keep_their_inner_policys_decisions() {
    // Only before_attempt refuses: the delays are the inner policy's, with
    // the same random draws while nothing is refused.
    let inner = PolicyConfig::aws_standard();
    let mut plain = Policy::new(inner.clone(), 5);
    let mut breaker = Policy::new(PolicyConfig::circuit_breaker(inner.clone()), 5);
    let mut throttle = Policy::new(PolicyConfig::client_throttle(inner), 5);
    for attempt in 1..=3 {
        let failure = failure(attempt, ErrorClass::ServerError);
        let expected = plain.decide_at(ms(0), &failure);
        assert_eq!(breaker.decide_at(ms(0), &failure), expected);
        assert_eq!(throttle.decide_at(ms(0), &failure), expected);
    }
}
