//! Reports of `estimate`, `compare` and `explore` runs: one self-contained HTML page (inline
//! CSS and SVG plots, no script, nothing fetched) to attach to a design review, and Markdown
//! to paste into a pull request.
//!
//! Both are rendered from one table model ([`table`]), so they say the same numbers. Every
//! number cell carries its exact value (`data-value`, as `--json` prints it) beside the
//! rounded text a person reads, so a test (or a script) can check the page against the JSON.

mod html;
mod markdown;
pub mod table;

use retrylab_harness::{Comparison, Estimate, Exploration};

pub use html::html;
pub use markdown::markdown;

/// The results a report shows.
#[derive(Clone, Copy, Debug)]
pub enum Results<'a> {
    Estimate(&'a Estimate),
    Comparison(&'a Comparison),
    Exploration(&'a Exploration),
}

impl Results<'_> {
    /// The command that produced them (`estimate`, `compare`, `explore`).
    pub fn command(&self) -> &'static str {
        match self {
            Results::Estimate(_) => "estimate",
            Results::Comparison(_) => "compare",
            Results::Exploration(_) => "explore",
        }
    }

    fn scenario(&self) -> &str {
        match self {
            Results::Estimate(e) => &e.scenario,
            Results::Comparison(c) => &c.scenario,
            Results::Exploration(x) => &x.scenario,
        }
    }

    /// (first seed, seeds per policy).
    fn seeds(&self) -> (u64, u64) {
        match self {
            Results::Estimate(e) => (e.first_seed, e.seeds),
            Results::Comparison(c) => (c.first_seed, c.seeds),
            Results::Exploration(x) => (x.first_seed, x.seeds),
        }
    }
}

/// The trace hash of one seed under one policy; `None` where the command did not keep it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceHash {
    pub policy: String,
    pub seed: u64,
    pub hash: Option<u64>,
}

/// A plot to show inline: an SVG document as text (e.g. from `retrylab-plot`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plot {
    pub title: String,
    pub svg: String,
}

/// Everything around the results that makes the page reproducible.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The scenario file's path as given on the command line.
    pub scenario_path: String,
    /// The scenario file itself.
    pub scenario_text: String,
    pub retrylab_version: String,
    /// The command line that regenerates the page.
    pub command: String,
    /// Per-seed trace hashes; empty when the command does not keep them (shown as "n/a").
    pub trace_hashes: Vec<TraceHash>,
    /// Per policy, a digest of every seed's trace hash (the same on every
    /// machine, sharded or not, when every run replayed the same).
    pub trace_hash_digests: Vec<(String, u64)>,
    pub plots: Vec<Plot>,
    /// The warnings the command printed.
    pub warnings: Vec<String>,
}

/// The notes the results carry (Estimate and Comparison; none for Exploration).
fn notes<'a>(results: &Results<'a>) -> &'a [String] {
    match *results {
        Results::Estimate(e) => &e.notes,
        Results::Comparison(c) => &c.notes,
        Results::Exploration(_) => &[],
    }
}
