//! `--report FILE.html|FILE.md` on `estimate`, `compare` and `explore`: the page around the
//! results (scenario file, seeds, version, the command that regenerates it, plots).

use std::path::Path;

use retrylab_harness::shell_quote;
use retrylab_report::{Context, Plot, Results};
use retrylab_scenario::Scenario;

use crate::plot::compare_input;
use crate::Failure;

/// The kinds of report, by the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Html,
    Markdown,
}

fn kind(path: &Path) -> Result<Kind, Failure> {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html" | "htm") => Ok(Kind::Html),
        Some("md" | "markdown") => Ok(Kind::Markdown),
        _ => Err(Failure::usage(format!(
            "--report {}: name a .html file (a self-contained page) or a .md file (Markdown)",
            path.display()
        ))),
    }
}

/// Refuses a report file of an unknown kind before any seed runs.
pub(crate) fn check(report: Option<&Path>) -> Result<(), Failure> {
    report.map(kind).transpose().map(|_| ())
}

/// Where a report goes, and the scenario file's text it shows (read from
/// the file, or carried by a shard's part to the machine that merges).
pub(crate) struct ReportTo<'a> {
    pub(crate) path: &'a Path,
    pub(crate) scenario_text: &'a str,
}

/// The scenario file's text for a report, or why it could not be read.
pub(crate) fn scenario_text(scenario: &Scenario) -> String {
    std::fs::read_to_string(&scenario.path)
        .unwrap_or_else(|error| format!("(the scenario file could not be read: {error})"))
}

/// The command line that produced this page, quoted for a POSIX shell.
fn command_line() -> String {
    let words: Vec<String> = std::env::args().skip(1).map(|word| shell_quote(&word)).collect();
    format!("retrylab {}", words.join(" "))
}

/// Writes the report when `--report` asks for one.
pub(crate) fn write(
    report: Option<&ReportTo>,
    scenario: &Scenario,
    results: Results<'_>,
    warnings: &[String],
) -> Result<(), Failure> {
    let Some(ReportTo { path, scenario_text }) = report else { return Ok(()) };
    let kind = kind(path)?;
    let context = Context {
        scenario_path: scenario.path.display().to_string(),
        scenario_text: scenario_text.to_string(),
        retrylab_version: env!("CARGO_PKG_VERSION").to_owned(),
        command: command_line(),
        trace_hashes: trace_hashes(&results),
        trace_hash_digests: policies(&results).iter().map(|p| (p.policy.clone(), p.trace_hashes.digest)).collect(),
        plots: plots(&results)?,
        warnings: warnings.to_vec(),
    };
    let text = match kind {
        Kind::Html => retrylab_report::html(results, &context),
        Kind::Markdown => retrylab_report::markdown(results, &context),
    };
    crate::write_whole(path, text.as_bytes())
}

/// The comparison plot, for the results that have policies.
fn plots(results: &Results<'_>) -> Result<Vec<Plot>, Failure> {
    let input = match *results {
        Results::Estimate(e) => compare_input(&e.scenario, e.seeds, e.confidence, &e.policies),
        Results::Comparison(c) => compare_input(&c.scenario, c.seeds, c.confidence, &c.policies),
        Results::Exploration(_) => return Ok(Vec::new()),
    };
    let svg = retrylab_plot::compare(&input, retrylab_plot::Format::Svg).map_err(Failure::failed)?;
    let svg = String::from_utf8(svg).map_err(|_| Failure::failed("the plot is not UTF-8"))?;
    Ok(vec![Plot { title: "Policies compared".to_owned(), svg }])
}

/// The policies' estimates, for the results that have them.
fn policies<'r>(results: &Results<'r>) -> &'r [retrylab_harness::PolicyEstimate] {
    match *results {
        Results::Estimate(e) => &e.policies,
        Results::Comparison(c) => &c.policies,
        Results::Exploration(_) => &[],
    }
}

/// The first seeds' own trace hashes, per policy.
fn trace_hashes(results: &Results<'_>) -> Vec<retrylab_report::TraceHash> {
    policies(results)
        .iter()
        .flat_map(|p| {
            p.trace_hashes.first.iter().map(|&(seed, hash)| retrylab_report::TraceHash {
                policy: p.policy.clone(),
                seed,
                hash: Some(hash),
            })
        })
        .collect()
}
