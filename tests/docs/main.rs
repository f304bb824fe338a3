//! Docs that cannot rot: every command README.md and docs/ show is run or checked here.
//!
//! - A ```console block (`$ retrylab ...` then its output) is run by trycmd and its output compared
//!   byte for byte (`...` and `[..]` elide what varies; `? 1` before the output expects exit status
//!   1). A block ends with an empty line: the output's last newline. `TRYCMD=overwrite cargo test
//!   --test docs` rewrites the outputs from real runs; read them before committing.
//! - A ```sh line that runs retrylab (`cargo run --release -- ARGS` or `retrylab ARGS`) is parsed with
//!   the binary's own clap definition, every scenario file it names must load, and it is run with
//!   at most `SH_SEEDS_MAX` seeds (real mode with at most `SH_REAL_REQUESTS_MAX` requests); it must
//!   end with a verdict (status 0 or 1), not bad usage or a panic.
//! - Any other line of a ```sh block must match one of `NOT_RETRYLAB`, and a `$ ` line in any block
//!   but ```console fails: a command nobody checks fails the test, so a new doc cannot slip past.
//!
//! Its own test target (not tests/integration) because trycmd runs documented commands in the
//! process's current directory, which this binary sets to a scratch directory so that `-o rtt.svg`
//! and `--report compare.html` never land in the work tree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Seeds a ```sh command runs with here, whatever it says: the README's commands over 200, 500 or
/// 1,000 seeds (and a million in docs/shards.md) would take minutes, and 100 gateways' `compare`
/// takes 17 s on 20 seeds. This test asks that each command runs and gives a verdict; the
/// statistics are checked by tests/integration.
const SH_SEEDS_MAX: u64 = 5;

/// Scenarios whose one seed is minutes of open-loop traffic (hundreds of thousands of operations):
/// their documented commands run here with one seed, which is enough for a verdict.
const ONE_SEED_SCENARIOS: &str = "sim-scenarios/load/";

/// Command lines of ```sh blocks not run here, each with why: a line containing one of these is
/// accepted (cargo's own commands, shell loops and templates); anything else that is not a retrylab
/// command fails the test.
const NOT_RETRYLAB: &[(&str, &str)] = &[
    ("cargo test", "cargo's own test runs, with or without RETRYLAB_* variables: what CI runs, this test included"),
    ("cargo mutants", "a mutation run of hours (docs/bug-finding.md)"),
    ("cargo install", "installs the binary this test runs"),
    ("cp sim-scenarios/", "copies a shipped scenario (docs/writing-a-scenario.md)"),
    (
        "for f in sim-scenarios/",
        "a sweep of explore over shipped scenarios; tests/integration/check.rs loads every one",
    ),
    (
        "--shard $((JOB_COMPLETION_INDEX",
        "a Kubernetes template; tests/integration/shards.rs renders and runs its Job (docs/examples/)",
    ),
];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md, relative to the repository.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo_root().join("docs"))
        .expect("docs/ is readable")
        .map(|entry| entry.expect("docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| Path::new("docs").join(path.file_name().expect("file name")))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// One fenced block: its info string (`sh`, `console`, empty...) and its lines with line numbers.
struct Block {
    info: String,
    lines: Vec<(usize, String)>,
}

fn fenced_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => open = Some(Block { info: info.trim().to_owned(), lines: Vec::new() }),
            (Some(_), Some(_)) => blocks.push(open.take().expect("open block")),
            (Some(block), None) => block.lines.push((line_number, line.to_owned())),
            (None, None) => {}
        }
    }
    blocks
}

/// Splits a shell line into words: quotes group, `#` outside them starts a comment.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '#') if !in_word => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// A retrylab command of a ```sh line: its arguments (after the program), where its stdout goes.
struct ShCommand {
    place: String,
    args: Vec<String>,
    stdout_file: Option<String>,
}

/// The retrylab arguments of a shell line, or None when it does not run retrylab.
fn retrylab_command(place: &str, line: &str) -> Option<ShCommand> {
    let words = shell_words(line);
    let args_start = if words.first().map(String::as_str) == Some("retrylab") {
        1
    } else if words.starts_with(&["cargo".into(), "run".into(), "--release".into(), "--".into()]) {
        4
    } else {
        return None;
    };
    let mut args = Vec::new();
    let mut stdout_file = None;
    let mut rest = words[args_start..].iter();
    while let Some(word) = rest.next() {
        match word.as_str() {
            // `| less`, `| head`: the pipe's reader is not retrylab; the command's output is read whole.
            "|" => break,
            ">" => stdout_file = rest.next().cloned(),
            _ => args.push(word.clone()),
        }
    }
    Some(ShCommand { place: place.to_owned(), args, stdout_file })
}

/// The command lines of a ```sh block, `\` continuations joined, comments and blank lines dropped.
fn sh_lines(block: &Block) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (number, line) in &block.lines {
        let (start, mut joined) = pending.take().unwrap_or((*number, String::new()));
        let trimmed = line.trim();
        if let Some(head) = trimmed.strip_suffix('\\') {
            joined.push_str(head);
            joined.push(' ');
            pending = Some((start, joined));
            continue;
        }
        joined.push_str(trimmed);
        if !joined.is_empty() && !joined.starts_with('#') {
            lines.push((start, joined));
        }
    }
    lines
}

/// The ```sh commands of every file, the lines nobody would check, and the `NOT_RETRYLAB` patterns
/// some line matched.
fn sh_commands() -> (Vec<ShCommand>, Vec<String>, BTreeSet<&'static str>) {
    let mut commands = Vec::new();
    let mut unchecked = Vec::new();
    let mut patterns_used = BTreeSet::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(repo_root().join(&file)).expect("markdown is readable");
        for block in fenced_blocks(&text) {
            match block.info.as_str() {
                "sh" | "bash" | "shell" => {
                    for (number, line) in sh_lines(&block) {
                        let place = format!("{}:{number}", file.display());
                        if let Some((pattern, _)) = NOT_RETRYLAB.iter().find(|(pattern, _)| line.contains(pattern)) {
                            patterns_used.insert(*pattern);
                            continue;
                        }
                        match retrylab_command(&place, &line) {
                            Some(command) => commands.push(command),
                            None => unchecked.push(format!("{place}: `{line}`")),
                        }
                    }
                }
                // trycmd runs ```console blocks; a `$ ` line anywhere else would be run by nobody.
                "console" => {}
                _ => {
                    for (number, line) in &block.lines {
                        if line.starts_with("$ ") {
                            unchecked.push(format!("{}:{number}: `{line}` (use a ```console block)", file.display()));
                        }
                    }
                }
            }
        }
    }
    (commands, unchecked, patterns_used)
}

/// Real mode's requests at most: a documented `retrylab real` runs this small (its time is
/// real time), so the README's and docs/validation.md's runs are the same run, made once.
const SH_REAL_REQUESTS_MAX: u64 = 200;

/// The arguments with `--seeds` at most `SH_SEEDS_MAX` (1 on `ONE_SEED_SCENARIOS`), and given where
/// the command takes seeds; `--requests` at most `SH_REAL_REQUESTS_MAX`.
fn made_small(args: &[String]) -> Vec<String> {
    let most = if args.iter().any(|arg| arg.contains(ONE_SEED_SCENARIOS)) { 1 } else { SH_SEEDS_MAX };
    let mut reduced = Vec::new();
    let mut words = args.iter();
    let mut seeds_given = false;
    while let Some(word) = words.next() {
        reduced.push(word.clone());
        if word == "--seeds" {
            seeds_given = true;
            let seeds: u64 = words.next().and_then(|n| n.parse().ok()).expect("--seeds takes a number");
            reduced.push(seeds.min(most).to_string());
        } else if word == "--requests" {
            let requests: u64 = words.next().and_then(|n| n.parse().ok()).expect("--requests takes a number");
            reduced.push(requests.min(SH_REAL_REQUESTS_MAX).to_string());
        }
    }
    if !seeds_given {
        let mut with_seeds = reduced.clone();
        with_seeds.extend(["--seeds".to_owned(), most.to_string()]);
        if retrylab_cli::parse_args(std::iter::once("retrylab".to_owned()).chain(with_seeds.clone())).is_ok() {
            return with_seeds;
        }
    }
    reduced
}

/// A scratch directory holding links to the repository's scenarios and docs, so documented
/// commands find `sim-scenarios/...` and write their files there.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("retrylab-docs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    for linked in ["sim-scenarios", "docs"] {
        std::os::unix::fs::symlink(repo_root().join(linked), dir.join(linked)).expect("link into scratch directory");
    }
    dir
}

#[test]
fn every_command_in_sh_blocks_is_checked() {
    let (_, unchecked, patterns_used) = sh_commands();
    // An exception no doc needs any more is removed, so the list says only what is true.
    let unused: Vec<&str> =
        NOT_RETRYLAB.iter().map(|(pattern, _)| *pattern).filter(|pattern| !patterns_used.contains(pattern)).collect();
    assert!(unused.is_empty(), "NOT_RETRYLAB patterns no line of README.md or docs/ matches: {unused:?}");
    assert!(
        unchecked.is_empty(),
        "commands in README.md or docs/ that no test runs or checks (put retrylab commands in a ```console \
         block, or add a line to NOT_RETRYLAB saying why not):\n{}",
        unchecked.join("\n")
    );
}

#[test]
// The wall clock times the documented commands for the reader of --nocapture; it is outside every
// simulated world.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn sh_commands_parse_name_loadable_scenarios_and_run() {
    let (commands, _, _) = sh_commands();
    assert!(commands.len() >= 20, "found only {} retrylab commands in ```sh blocks", commands.len());
    let scratch = scratch_dir("sh");
    // A command shown in several places (the README and a guide) runs once, as does one that
    // runs the same once made small.
    let mut seen = BTreeSet::new();
    for command in &commands {
        if !seen.insert((made_small(&command.args), command.stdout_file.clone())) {
            continue;
        }
        let place = &command.place;
        let argv = std::iter::once("retrylab".to_owned()).chain(command.args.clone());
        if let Err(error) = retrylab_cli::parse_args(argv) {
            panic!("{place}: `retrylab {}` does not parse:\n{error}", command.args.join(" "));
        }
        // A `.toml` after `-o` is a file the command writes (`retrylab fit -o mine.toml`), not one it reads.
        let written = |i: usize| i > 0 && matches!(command.args[i - 1].as_str(), "-o" | "--output");
        let read = command.args.iter().enumerate().filter(|(i, arg)| arg.ends_with(".toml") && !written(*i));
        for (_, scenario) in read {
            // A scenario an earlier command of the docs wrote (`fit -o`) is read from the scratch directory.
            let written_before = scratch.join(scenario);
            let path = if written_before.is_file() { written_before } else { repo_root().join(scenario) };
            if let Err(error) = retrylab_scenario::load(&path) {
                panic!("{place}: scenario {scenario} does not load: {error}");
            }
        }
        let args = made_small(&command.args);
        let started = std::time::Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_retrylab"))
            .args(&args)
            .current_dir(&scratch)
            .output()
            .expect("retrylab runs");
        // Shown with --nocapture: which documented command is slow.
        println!("{place}: {:.1} s: retrylab {}", started.elapsed().as_secs_f64(), args.join(" "));
        if let Some(file) = &command.stdout_file {
            std::fs::write(scratch.join(file), &output.stdout).expect("redirected stdout");
        }
        // 0 and 1 are verdicts (1: a violation or a failed rate, as `explore` of a known-bad design
        // must give); 2 is bad usage and 101 a panic.
        let status = output.status.code();
        assert!(
            matches!(status, Some(0 | 1)),
            "{place}: `retrylab {}` ended with {status:?}:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn console_blocks_print_what_the_docs_say() {
    let files: Vec<PathBuf> = markdown_files()
        .into_iter()
        .filter(|file| {
            let text = std::fs::read_to_string(repo_root().join(file)).expect("markdown is readable");
            fenced_blocks(&text).iter().any(|block| block.info == "console")
        })
        .collect();
    assert!(files.len() >= 5, "expected the guides' ```console blocks, found {files:?}");
    for file in &files {
        let text = std::fs::read_to_string(repo_root().join(file)).expect("markdown is readable");
        // trycmd would take a bare ``` block for commands too: the file must name every block's kind.
        let bare: Vec<usize> = fenced_blocks(&text)
            .iter()
            .filter(|block| block.info.is_empty())
            .map(|block| block.lines.first().map_or(0, |(number, _)| number - 1))
            .collect();
        assert!(bare.is_empty(), "{}: bare ``` blocks at lines {bare:?}: write ```text", file.display());
    }
    let scratch = scratch_dir("console");
    std::env::set_current_dir(&scratch).expect("enter the scratch directory");
    let cases = trycmd::TestCases::new();
    cases.register_bin("retrylab", trycmd::cargo::cargo_bin!("retrylab"));
    for file in &files {
        cases.case(repo_root().join(file));
    }
    cases.run();
    std::env::set_current_dir(repo_root()).expect("leave the scratch directory");
    let _ = std::fs::remove_dir_all(&scratch);
}

/// The scenario of the plots in docs/img/ (docs/choosing-a-policy.md).
const IMG_SCENARIO: &str = "sim-scenarios/lab-notebook/s3-10k-requests.toml";

/// Inputs the images below read, made first in the scratch directory: the access log of
/// seed 3 of the 2012 scenario, whose fit docs/fit.md shows.
const IMAGE_INPUTS: &[&[&str]] = &[&["run", IMG_SCENARIO, "--seed", "3", "--access-log", "seed3-access.log"]];

/// Every plot in docs/img/ with the `retrylab` arguments that draw it (then `-o FILE`, or
/// the file alone after a final `--plot`).
const IMAGES: &[(&str, &[&str])] = &[
    ("fit-seed3.svg", &["fit", "seed3-access.log", "--plot"]),
    ("rtt-seed7-none.svg", &["plot", "rtt", IMG_SCENARIO, "--seed", "7", "--policy", "none"]),
    ("rtt-seed7-retry-once.svg", &["plot", "rtt", IMG_SCENARIO, "--seed", "7", "--policy", "retry-once"]),
    ("rtt-seed7-multi-retry.svg", &["plot", "rtt", IMG_SCENARIO, "--seed", "7", "--policy", "multi-retry"]),
    (
        "timeline-seed7-retry-once.svg",
        &["plot", "timeline", IMG_SCENARIO, "--seed", "7", "--policy", "retry-once", "--from", "3320", "--to", "3370"],
    ),
    (
        "timeline-seed7-multi-retry.svg",
        &["plot", "timeline", IMG_SCENARIO, "--seed", "7", "--policy", "multi-retry", "--from", "3320", "--to", "3370"],
    ),
    ("compare-s3-10k.svg", &["plot", "compare", IMG_SCENARIO, "--seeds", "100"]),
    (
        "load-storm.svg",
        &[
            "plot",
            "load",
            "sim-scenarios/load/metastable-retry-storm.toml",
            "--seeds",
            "1",
            "--policy",
            "none",
            "--policy",
            "naive-immediate",
            "--policy",
            "aws-standard",
            "--policy",
            "circuit-breaker",
        ],
    ),
];

/// The plots the guides show are what retrylab draws today: redrawn and compared byte for byte
/// (seeds make them exact; the font is embedded), so a change to the plots or the simulation
/// that leaves a stale picture in docs/ fails here with the command that redraws it.
#[test]
fn plots_in_docs_img_are_what_retrylab_draws() {
    let img = repo_root().join("docs/img");
    let mut svgs: Vec<String> = std::fs::read_dir(&img)
        .expect("docs/img is readable")
        .map(|entry| entry.expect("docs/img entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".svg"))
        .collect();
    svgs.sort();
    let mut listed: Vec<String> = IMAGES.iter().map(|(name, _)| (*name).to_owned()).collect();
    listed.sort();
    assert_eq!(svgs, listed, "every SVG in docs/img/ is drawn by a command in IMAGES");
    let scratch = scratch_dir("img");
    for args in IMAGE_INPUTS {
        let output = Command::new(env!("CARGO_BIN_EXE_retrylab"))
            .args(*args)
            .current_dir(&scratch)
            .output()
            .expect("retrylab runs");
        assert!(output.status.success(), "retrylab {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    }
    let mut stale = Vec::new();
    for (name, args) in IMAGES {
        // `plot` subcommands write to -o; `fit` writes its scenario there and its figure to --plot.
        let destination: &[&str] = if args.last() == Some(&"--plot") { &[name] } else { &["-o", name] };
        let output = Command::new(env!("CARGO_BIN_EXE_retrylab"))
            .args(*args)
            .args(destination)
            .current_dir(&scratch)
            .output()
            .expect("retrylab runs");
        assert!(output.status.success(), "retrylab {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
        let drawn = std::fs::read(scratch.join(name)).expect("the plot was written");
        if drawn != std::fs::read(img.join(name)).expect("docs/img file") {
            stale.push(format!("retrylab {} -o docs/img/{name}", args.join(" ")));
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(stale.is_empty(), "plots in docs/img/ differ from what retrylab draws; redraw them:\n{}", stale.join("\n"));
}
