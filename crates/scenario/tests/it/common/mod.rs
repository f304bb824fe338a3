//! Helpers the scenario crate's test files share.

use std::path::{Path, PathBuf};

/// Every `.toml` under `sim-scenarios/` (recursively), sorted.
pub fn shipped_scenarios() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim-scenarios");
    assert!(root.is_dir(), "{} is missing", root.display());
    let mut found = Vec::new();
    toml_files(&root, &mut found);
    found.sort();
    found
}

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
