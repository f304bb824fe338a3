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
        // unoptimised, without debug info or incremental caches. The
        // README's profile only makes the user's tests faster; this nested
        // one-off build of the whole dependency tree takes CI about half the
        // time without them.
        .args([
            "test",
            "--config",
            "profile.test.package.\"*\".opt-level=0",
            "--config",
            "profile.test.debug=false",
            "--config",
            "profile.test.incremental=false",
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
///
/// The error is retrylab-sim's `compile_error!`, compiled here exactly as cargo compiles that
/// file without the cfg (everything else in it is behind the cfg, so no dependency is needed
/// to reach it; a nested `cargo check` of the whole tree without the cfg costs CI over a
/// minute for the same message). That it is the only error follows from the graph: cargo
/// stops at the first crate that fails, and every other crate that uses madsim, the only
/// thing the cfg changes, depends on retrylab-sim, so none is compiled first.
#[test]
fn without_the_cfg_the_build_says_exactly_what_to_add() {
    let rustc = Path::new(option_env!("CARGO").unwrap_or("cargo")).with_file_name("rustc");
    let rustc = if rustc.is_file() { rustc } else { PathBuf::from("rustc") };
    let out = std::env::temp_dir().join(format!("retrylab-no-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let output = Command::new(rustc)
        .args(["--edition", "2021", "--crate-type", "lib", "--crate-name", "retrylab_sim", "--emit", "metadata"])
        .args(["--error-format", "short", "--out-dir"])
        .arg(&out)
        .arg(repository().join("crates/sim/src/lib.rs"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&out);
    let text = text(&output);
    assert!(!output.status.success(), "{text}");
    let errors: Vec<&str> = text.lines().filter(|line| line.contains("error")).collect();
    assert_eq!(errors.len(), 2, "one error (and rustc's count of them), not a flood:\n{text}");
    assert!(errors[0].contains("needs `--cfg madsim`"), "{text}");
    assert!(
        text.contains(r#"rustflags = [\"--cfg\", \"madsim\"]"#) || text.contains(r#"rustflags = ["--cfg", "madsim"]"#),
        "{text}"
    );
    // Every other crate that uses madsim waits for retrylab-sim.
    for entry in std::fs::read_dir(repository().join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else { continue };
        let uses_madsim = manifest.lines().any(|line| line.starts_with("madsim"));
        if uses_madsim && !dir.ends_with("sim") {
            assert!(
                manifest.lines().any(|line| line.starts_with("retrylab-sim")),
                "{} uses madsim but does not depend on retrylab-sim: without the cfg it would fail on its own",
                dir.display()
            );
        }
    }
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
