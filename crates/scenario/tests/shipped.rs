//! Every scenario shipped in `sim-scenarios/` (recursively) loads without error.

use std::path::{Path, PathBuf};

fn toml_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()));
    for entry in entries {
        let path = entry.unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display())).path();
        if path.is_dir() {
            toml_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            found.push(path);
        }
    }
}

#[test]
fn every_shipped_scenario_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim-scenarios");
    assert!(root.is_dir(), "{} is missing", root.display());
    let mut files = Vec::new();
    toml_files(&root, &mut files);
    files.sort();
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
