//! What a nightly run may raise from the environment, for tests written with
//! [`crate::Check`] and [`crate::Property`], as `PROPTEST_CASES` does for proptest:
//! `RETRYLAB_SEEDS`, `RETRYLAB_CASES` and `RETRYLAB_FAILURES_DIR`.
//!
//! Read here, by the test-side APIs, never by the simulated world: a run
//! still depends on its scenario and seed alone.

use std::path::{Path, PathBuf};

/// Seeds a [`crate::Check`] runs at most, instead of the number in the test.
pub const SEEDS_VAR: &str = "RETRYLAB_SEEDS";
/// Cases a [`crate::Property`] generates, instead of the number in the test.
pub const CASES_VAR: &str = "RETRYLAB_CASES";
/// Where a [`crate::Property`] writes shrunk failing cases, instead of its default.
pub const FAILURES_DIR_VAR: &str = "RETRYLAB_FAILURES_DIR";

/// A whole number from `var`, if set. A value that is not one is a
/// mistake in the CI configuration: the test says so rather than run with
/// a number nobody asked for.
pub(crate) fn count_from_env(var: &str) -> Result<Option<u64>, String> {
    // The test's configuration, outside the simulated world (see the module doc).
    #[allow(clippy::disallowed_methods)]
    let Some(value) = std::env::var_os(var) else {
        return Ok(None);
    };
    let text = value.to_string_lossy();
    match text.trim().parse::<u64>() {
        Ok(0) | Err(_) => Err(format!("{var}={text:?} is not a whole number of at least 1")),
        Ok(count) => Ok(Some(count)),
    }
}

/// Where shrunk cases go: `RETRYLAB_FAILURES_DIR` if set; else
/// `retrylab-failures` in the cargo target directory the test binary was
/// built in (CI keeps `target/` between steps and can upload it as an
/// artifact); else in the system's temporary directory.
pub(crate) fn default_failures_dir() -> PathBuf {
    #[allow(clippy::disallowed_methods)]
    if let Some(dir) = std::env::var_os(FAILURES_DIR_VAR).filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    let target = std::env::current_exe().ok().as_deref().and_then(cargo_target_dir);
    target.unwrap_or_else(std::env::temp_dir).join("retrylab-failures")
}

/// The cargo target directory holding `exe` (`target/debug/deps/test-…`):
/// the nearest ancestor with cargo's `CACHEDIR.TAG` in it.
fn cargo_target_dir(exe: &Path) -> Option<PathBuf> {
    exe.ancestors().skip(1).find(|dir| dir.join("CACHEDIR.TAG").is_file()).map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_directory_is_found_from_a_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let target = cargo_target_dir(&exe).expect("a cargo test binary lives under a target directory");
        assert!(exe.starts_with(&target));
        assert!(target.join("CACHEDIR.TAG").is_file());
    }

    #[test]
    fn no_target_directory_outside_one() {
        assert_eq!(cargo_target_dir(Path::new("/")), None);
    }
}
