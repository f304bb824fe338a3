// The RNG seed of every proptest suite in the workspace: one definition,
// `include!`d by each suite (they live in different crates' tests, which
// share no test-only crate).
//
// Fixed by default, so a red CI run replays exactly, case for case. Fresh
// seeds on request: `RETRYLAB_FRESH_SEEDS=1 cargo test` draws one per suite
// and prints it (shown with a failing test), and `PROPTEST_RNG_SEED=N` with
// it replays that run. docs/bug-finding.md has the commands.

/// proptest's RNG seed for this suite: fixed unless `RETRYLAB_FRESH_SEEDS=1`.
// Test code, not simulated code: reading the environment and drawing an
// unseeded number is the point here.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn proptest_rng_seed() -> proptest::test_runner::RngSeed {
    use proptest::test_runner::RngSeed;
    use std::hash::BuildHasher;
    const FIXED_SEED: u64 = 0x2026_0009;
    if !std::env::var("RETRYLAB_FRESH_SEEDS").is_ok_and(|value| value == "1") {
        return RngSeed::Fixed(FIXED_SEED);
    }
    // proptest's default reads PROPTEST_RNG_SEED, to replay a fresh run.
    let seed = match proptest::test_runner::Config::default().rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => std::collections::hash_map::RandomState::new().hash_one(std::process::id()),
    };
    eprintln!("proptest RNG seed {seed}: replay with RETRYLAB_FRESH_SEEDS=1 PROPTEST_RNG_SEED={seed}");
    RngSeed::Fixed(seed)
}
