//! The checkers prove their worth in both directions: every known-bad design
//! is caught on the shipped scenario, and the same scenario with the safe
//! design is clean.

use std::path::PathBuf;

use retrylab_harness::{explore, ExploreOptions};
use retrylab_scenario::{Design, Scenario, Workload};

fn known_bad(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios/known-bad").join(name);
    retrylab_scenario::load(&path).unwrap()
}

fn options(seeds: u64) -> ExploreOptions {
    ExploreOptions { seeds, first_seed: 0, policies: Vec::new(), jobs: None, swarm: false, timeout: None }
}

/// The invariants found on seeds 0..seeds, and how many seeds found any.
fn findings(scenario: &Scenario, seeds: u64) -> (std::collections::BTreeSet<String>, usize) {
    let exploration = explore(scenario, &options(seeds), &|| {}).unwrap();
    let seeds_with: std::collections::BTreeSet<u64> = exploration.violations.iter().map(|v| v.seed).collect();
    for violation in &exploration.violations {
        assert!(violation.reproduce.contains(&format!("--seed {}", violation.seed)), "{}", violation.reproduce);
    }
    (exploration.violations.iter().map(|v| v.invariant.clone()).collect(), seeds_with.len())
}

fn with_safe_design(mut scenario: Scenario) -> Scenario {
    if let Some(lafs) = &mut scenario.lafs {
        lafs.design = Design::default();
    }
    scenario
}

fn check_both_ways(file: &str, seeds: u64, expected: &str) {
    let bad = known_bad(file);
    let (invariants, seeds_with) = findings(&bad, seeds);
    assert!(invariants.contains(expected), "{file}: expected {expected}, found {invariants:?}");
    assert!(seeds_with > 0);
    let (invariants, _) = findings(&with_safe_design(bad), seeds);
    assert!(invariants.is_empty(), "{file} with the safe design: {invariants:?}");
}

#[test]
fn the_write_hole_is_found_and_the_whole_share_layout_is_clean() {
    check_both_ways("write-hole.toml", 40, "corrupt-share-at-rest");
}

#[test]
fn blind_overwrites_under_eventual_consistency_are_found_and_if_match_is_clean() {
    check_both_ways("blind-overwrite.toml", 40, "acknowledged-append-lost");
}

#[test]
fn unprefixed_first_page_listing_is_found_and_prefixed_listing_is_clean() {
    check_both_ways("unprefixed-listing.toml", 6, "acknowledged-write-lost");
}

#[test]
fn replayed_appends_are_found_and_reconciled_appends_are_clean() {
    check_both_ways("replayed-append.toml", 40, "append-duplicated");
}

#[test]
fn stale_gets_served_to_readers_are_found_and_listed_etag_reads_are_clean() {
    check_both_ways("stale-get.toml", 20, "stale-read");
}

/// Every grid and fault scenario that ships (outside known-bad/) is clean
/// for the safe design on its first seeds under every policy; `retrylab
/// explore FILE --seeds 2000` is the heavier sweep (docs/bug-finding.md).
#[test]
fn shipped_grid_and_fault_scenarios_are_clean_under_the_safe_design() {
    assert_shipped_clean(&["grid", "faults"], 9, 12);
}

/// Every scenario file in `dirs` of `sim-scenarios/` (at least `files_min`
/// of them) explored on its first `seeds` seeds under every policy: no violation.
fn assert_shipped_clean(dirs: &[&str], files_min: usize, seeds: u64) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios");
    let mut files: Vec<PathBuf> =
        dirs.iter().flat_map(|dir| std::fs::read_dir(root.join(dir)).unwrap().map(|e| e.unwrap().path())).collect();
    files.sort();
    assert!(files.len() >= files_min, "{files:?}");
    for file in files {
        let scenario = retrylab_scenario::load(&file).unwrap();
        let exploration = explore(&scenario, &options(seeds), &|| {}).unwrap();
        assert!(exploration.violations.is_empty(), "{}: {:?}", scenario.name, exploration.violations.first());
    }
}

#[test]
fn lab_notebook_scenarios_are_clean_under_the_safe_design() {
    // The full 2,000-seed runs are in docs/lafs-model.md; here a shortened
    // expt03 (the same S3 and faults, fewer puts) and expt01 in full.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios/lab-notebook");
    let mut expt03 = retrylab_scenario::load(&root.join("expt03-mutable-put-10k.toml")).unwrap();
    expt03.workload = Workload::MutablePuts { puts: 300, line_bytes: 0, reads_per_write: 0 };
    let expt01 = retrylab_scenario::load(&root.join("expt01-backup-101-files.toml")).unwrap();
    for (scenario, seeds) in [(expt03, 60), (expt01, 60)] {
        let exploration = explore(&scenario, &options(seeds), &|| {}).unwrap();
        assert!(exploration.violations.is_empty(), "{}: {:?}", scenario.name, exploration.violations.first());
        assert_eq!(exploration.runs, seeds * 3);
    }
}

/// The S3-level scenarios (mixed GET/PUT/DELETE/LIST over thousands of keys,
/// strong and 2012 eventual consistency) are clean on their first seeds: the
/// simulated S3 keeps its own register semantics, listing pages included.
#[test]
fn shipped_s3_scenarios_are_clean() {
    assert_shipped_clean(&["s3"], 2, 4);
}
