//! retrylab used from a crate of one's own, as the README's "Use it in your
//! project" section tells: `examples/user-crate/` is built and tested by
//! cargo in a copy outside this repository (so none of this repository's
//! cargo configuration helps it), and the README's snippets are its files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example() -> PathBuf {
    repository().join("examples/user-crate")
}

/// The cargo that runs this test, so the user crate builds with the same toolchain.
fn cargo() -> Command {
    Command::new(option_env!("CARGO").unwrap_or("cargo"))
}

/// Copies `from` into `to` recursively (the example is a handful of small files).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The example crate copied to a fresh directory outside the repository,
/// its path dependency pointed back at this checkout and this repository's
/// `Cargo.lock` beside it (the versions this repository is tested with).
fn user_crate_copy(name: &str, with_cargo_config: bool) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("retrylab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_tree(&example(), &dir);
    if !with_cargo_config {
        std::fs::remove_dir_all(dir.join(".cargo")).unwrap();
    }
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let harness = repository().join("crates/harness");
    let manifest =
        manifest.replace("path = \"../../crates/harness\"", &format!("path = {:?}", harness.display().to_string()));
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(repository().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The user crate's `cargo test`, as the README has a user run it: the
/// passing check passes and the failing one fails with its verdict (the
/// example expects that panic), and `--nocapture` shows what the passing
/// check saw.
#[test]
fn the_example_user_crate_builds_and_its_checks_pass_and_fail_as_the_readme_says() {
    let dir = user_crate_copy("user-crate", true);
    let output = cargo()
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", repository().join("target/user-crate"))
        // The one departure from the README: dependencies are built
        // unoptimised here. The README's profile only makes the user's
        // tests faster; unoptimised, this nested build of the whole
        // dependency tree takes CI about half the time.
        .args([
            "test",
            "--config",
            "profile.test.package.\"*\".opt-level=0",
            "--",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .output()
        .unwrap();
    let text = text(&output);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(output.status.success(), "the user crate's tests failed:\n{text}");
    assert!(text.contains("test result: ok. 2 passed; 0 failed"), "{text}");
    assert!(text.contains("test no_retry_misses_three_nines - should panic ... ok"), "{text}");
    // What a passing check saw, printed under --nocapture.
    assert!(text.contains("policy \"aws-standard\" on ") && text.contains("is at or above the target 0.999"), "{text}");
    // The failing check's message, with its replay command.
    assert!(text.contains("is below the target 0.999") && text.contains("retrylab run "), "{text}");
}

/// Without `--cfg madsim` the build stops with one error that says what to add.
#[test]
fn without_the_cfg_the_build_says_exactly_what_to_add() {
    let dir = user_crate_copy("user-crate-no-cfg", false);
    let output = cargo()
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", repository().join("target/user-crate-no-cfg"))
        // Checked, not built: the error comes before any code is generated,
        // and cargo stops at the first crate that fails (retrylab-sim, on
        // which every other retrylab crate depends).
        .args(["check", "--tests", "--message-format", "short"])
        .output()
        .unwrap();
    let text = text(&output);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!output.status.success(), "{text}");
    let errors: Vec<&str> =
        text.lines().filter(|line| line.contains("error:") && !line.contains("could not compile")).collect();
    assert_eq!(errors.len(), 1, "one error, not a flood:\n{text}");
    assert!(errors[0].contains("needs `--cfg madsim`"), "{text}");
    assert!(
        text.contains(r#"rustflags = [\"--cfg\", \"madsim\"]"#) || text.contains(r#"rustflags = ["--cfg", "madsim"]"#),
        "{text}"
    );
}

/// The README's snippets are the example crate's files, so the section
/// cannot drift from what the test above builds.
#[test]
fn the_readme_section_is_the_example_crate() {
    let readme = std::fs::read_to_string(repository().join("README.md")).unwrap();
    let section = readme.split("## Use it in your project").nth(1).expect("README has the section");
    let section = section.split("\n## ").next().unwrap();
    let blocks: Vec<&str> = section.split("```").skip(1).step_by(2).collect();
    let block = |lang: &str, n: usize| -> String {
        blocks.iter().filter(|b| b.starts_with(lang)).nth(n).unwrap().trim_start_matches(lang).trim().to_owned()
    };
    let manifest = std::fs::read_to_string(example().join("Cargo.toml")).unwrap();
    let readme_manifest = block("toml", 0).replace("../retrylab/crates/harness", "../../crates/harness");
    assert!(
        manifest.contains(&readme_manifest),
        "README's Cargo.toml lines differ from examples/user-crate/Cargo.toml"
    );
    let config = std::fs::read_to_string(example().join(".cargo/config.toml")).unwrap();
    assert!(config.contains(&block("toml", 1)), "README's .cargo/config.toml differs from the example's");
    let test = std::fs::read_to_string(example().join("tests/retry_policy.rs")).unwrap();
    for line in block("rust", 0).lines().filter(|line| !line.trim().is_empty()) {
        assert!(
            test.contains(line.trim()),
            "README's test line {line:?} is not in examples/user-crate/tests/retry_policy.rs"
        );
    }
}
