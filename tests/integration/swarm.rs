//! Swarm mode on a grid scenario: every seed draws its own environment
//! (consistency, timeouts, network, grid shape, gateways, reads) and the safe
//! design must stay clean under all of them.

use std::collections::BTreeSet;
use std::path::PathBuf;

use retrylab_harness::{explore, swarm_scenario, ExploreOptions};
use retrylab_scenario::Consistency;

#[test]
fn swarm_over_the_grid_environment_finds_no_violation_in_the_safe_design() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios/grid/puts-3of10-eventual.toml");
    let scenario = retrylab_scenario::load(&path).unwrap();
    let seeds = 40;
    let options = ExploreOptions {
        seeds,
        first_seed: 0,
        policies: vec!["aws-standard".into()],
        jobs: None,
        swarm: true,
        timeout: None,
    };
    let exploration = explore(&scenario, &options, &|| {}).unwrap();
    assert_eq!(exploration.runs, seeds);
    assert!(exploration.violations.is_empty(), "{:#?}", &exploration.violations[..exploration.violations.len().min(3)]);

    // What those seeds ran: swarm_scenario is what explore --swarm runs.
    let drawn: Vec<_> = (0..seeds).map(|seed| swarm_scenario(&scenario, seed)).collect();
    let eventual = drawn.iter().filter(|s| matches!(s.s3.consistency, Consistency::Eventual { .. })).count();
    assert!(eventual >= 5 && eventual < drawn.len(), "{eventual} of {} eventual", drawn.len());
    let shapes: BTreeSet<_> = drawn
        .iter()
        .filter_map(|s| s.lafs.as_ref())
        .map(|lafs| (lafs.shares_needed, lafs.shares_total, lafs.servers_of_happiness, lafs.servers))
        .collect();
    assert!(shapes.len() >= 3, "{shapes:?}");
}
