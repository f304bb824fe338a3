//! Every scenario shipped in `sim-scenarios/` (recursively) loads without error.

#[test]
fn every_shipped_scenario_loads() {
    let files = crate::common::shipped_scenarios();
    let errors: Vec<String> =
        files.iter().filter_map(|file| retrylab_scenario::load(file).err().map(|err| err.to_string())).collect();
    assert!(
        errors.is_empty(),
        "{} of {} shipped scenarios fail to load:\n{}",
        errors.len(),
        files.len(),
        errors.join("\n")
    );
}
