//! `--shard K/N` parts and `retrylab merge`: a sharded run's `--json` output
//! carries its exact state, and the merge turns every shard's state into the
//! output one machine running every seed would have printed.
//!
//! A part is the command's normal JSON with two fields added last: `shard`
//! (which command, shard and seed range, the retrylab version, and the
//! scenario file's text with its SHA-256, so the merge needs no checkout and
//! can refuse parts of another file) and `state` (the harness's
//! `EstimateState`, `ComparisonState` or `ExplorationState`). The merge
//! prints through the same functions as the unsharded commands
//! (`crate::emit_estimate` and its siblings), so the two cannot drift.

use std::path::{Path, PathBuf};

use retrylab_harness::{
    merge_order, ComparisonState, EstimateState, ExplorationState, MergeError, Seeds, Shard, ShardError,
};
use retrylab_scenario::Scenario;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::args::{MergeArgs, SeedsArgs};
use crate::Failure;

/// The version of the part format: a merge refuses parts of another.
const PART_FORMAT: u32 = 1;

/// Which command wrote a part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PartKind {
    Estimate,
    Compare,
    Explore,
}

impl PartKind {
    fn name(self) -> &'static str {
        match self {
            PartKind::Estimate => "estimate",
            PartKind::Compare => "compare",
            PartKind::Explore => "explore",
        }
    }
}

/// A part's `shard` object: field names are a stable interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartHeader {
    format: u32,
    command: PartKind,
    /// 1-based.
    index: u64,
    count: u64,
    /// The whole seed range the N shards split (this part ran its block of it).
    first_seed: u64,
    seeds: u64,
    retrylab_version: String,
    /// The scenario file as given on the command line (named in the output and the replay commands).
    scenario_path: String,
    scenario_sha256: String,
    /// The file's text, so that `merge` needs no copy of it.
    scenario_toml: String,
}

/// For a `--shard` run: narrows `first_seed` and `seeds` (the whole range)
/// to the shard's block and gives the header of the part to write; without
/// `--shard`, leaves them and gives `None`.
pub(crate) fn shard_seeds(
    args: &SeedsArgs,
    command: PartKind,
    first_seed: &mut u64,
    seeds: &mut u64,
) -> Result<Option<PartHeader>, Failure> {
    let Some(shard) = args.shard else { return Ok(None) };
    // The range was checked already (crate::seeds); this cannot fail.
    let whole = Seeds::new(*first_seed, *seeds).map_err(Failure::usage)?;
    let block = shard.seeds_of(whole).map_err(|error| shard_failure(shard, &error))?;
    let text = std::fs::read_to_string(&args.scenario)
        .map_err(|error| Failure::usage(format!("{}: cannot read the file: {error}", args.scenario.display())))?;
    (*first_seed, *seeds) = (block.first(), block.count());
    Ok(Some(PartHeader {
        format: PART_FORMAT,
        command,
        index: shard.index(),
        count: shard.count(),
        first_seed: whole.first(),
        seeds: whole.count(),
        retrylab_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario_path: args.scenario.to_string_lossy().into_owned(),
        scenario_sha256: sha256_hex(&text),
        scenario_toml: text,
    }))
}

fn shard_failure(shard: Shard, error: &ShardError) -> Failure {
    Failure::usage(format!("--shard {shard}: {error}"))
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The fields a part adds after the command's normal output: its header
/// (pretty, for people) and its state (one line: it is for `merge`).
pub(crate) fn part_fields(header: &PartHeader, state: &impl Serialize) -> String {
    let header = serde_json::to_string_pretty(header).unwrap_or_default().replace('\n', "\n  ");
    let state = serde_json::to_string(state).unwrap_or_default();
    format!("\"shard\": {header},\n  \"state\": {state}")
}

/// `json` (one pretty-printed object) with a part's fields added last; as
/// it is without a part.
pub(crate) fn with_part(json: &str, part: Option<&str>) -> String {
    let Some(fields) = part else { return json.to_owned() };
    let body = json.trim_end();
    let Some(open) = body.strip_suffix('}') else { return json.to_owned() };
    let open = open.trim_end();
    let separator = if open.ends_with('{') { "" } else { "," };
    format!("{open}{separator}\n  {fields}\n}}\n")
}

/// A part as read back: the header and the state, still to be typed by command.
#[derive(Deserialize)]
struct PartFile {
    shard: PartHeader,
    state: serde_json::Value,
}

/// One part read from `path`.
struct Part {
    path: PathBuf,
    header: PartHeader,
    state: serde_json::Value,
}

fn read_part(path: &Path) -> Result<Part, Failure> {
    let name = path.display();
    let text =
        std::fs::read_to_string(path).map_err(|error| Failure::usage(format!("{name}: cannot read: {error}")))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|error| {
        Failure::usage(format!("{name}: not JSON ({error}): a part is the --json output of a --shard run"))
    })?;
    if value.get("shard").is_none() {
        let why = match value.get("error").and_then(|error| error.as_str()) {
            Some(error) => format!("it holds the error its run ended with: {error}"),
            None => "it has no \"shard\" object: write parts with --shard K/N --json".to_owned(),
        };
        return Err(Failure::usage(format!("{name}: not a part: {why}")));
    }
    let part: PartFile = serde_json::from_value(value)
        .map_err(|error| Failure::usage(format!("{name}: not a readable part: {error}")))?;
    if part.shard.format != PART_FORMAT {
        return Err(Failure::usage(format!(
            "{name}: part format {} (this retrylab reads format {PART_FORMAT}): merge with the retrylab that wrote it",
            part.shard.format
        )));
    }
    if sha256_hex(&part.shard.scenario_toml) != part.shard.scenario_sha256 {
        return Err(Failure::usage(format!(
            "{name}: its scenario text does not match its SHA-256: the part was altered after it was written"
        )));
    }
    Ok(Part { path: path.to_owned(), header: part.shard, state: part.state })
}

/// The first way `part` differs from `first` in what must be the same for
/// every part of one run (everything but the shard index), if any.
fn difference(first: &PartHeader, part: &PartHeader) -> Option<String> {
    if part.command != first.command {
        return Some(format!("it is a part of `{}`, not of `{}`", part.command.name(), first.command.name()));
    }
    if part.scenario_sha256 != first.scenario_sha256 {
        return Some(format!(
            "its scenario file ({}, SHA-256 {}) is not the same text as {} (SHA-256 {})",
            part.scenario_path,
            &part.scenario_sha256[..part.scenario_sha256.len().min(16)],
            first.scenario_path,
            &first.scenario_sha256[..first.scenario_sha256.len().min(16)]
        ));
    }
    if part.scenario_path != first.scenario_path {
        return Some(format!(
            "it names the scenario {} where the others name {} (the replay commands would differ)",
            part.scenario_path, first.scenario_path
        ));
    }
    if part.retrylab_version != first.retrylab_version {
        return Some(format!(
            "it was written by retrylab {}, the others by {}",
            part.retrylab_version, first.retrylab_version
        ));
    }
    if (part.first_seed, part.seeds) != (first.first_seed, first.seeds) {
        return Some(format!(
            "it splits {} seeds from {}, the others {} seeds from {}",
            part.seeds, part.first_seed, first.seeds, first.first_seed
        ));
    }
    None
}

/// `retrylab merge`: the parts' states merged in seed order and printed as
/// the unsharded command prints them, with its exit status.
pub(crate) fn run(args: &MergeArgs) -> Result<(), Failure> {
    let parts: Vec<Part> = args.parts.iter().map(|path| read_part(path)).collect::<Result<_, _>>()?;
    let first = &parts[0].header;
    for part in &parts[1..] {
        if let Some(difference) = difference(first, &part.header) {
            return Err(Failure::usage(format!(
                "{} cannot be merged with {}: {difference}",
                part.path.display(),
                parts[0].path.display()
            )));
        }
    }
    let shards: Vec<Shard> = parts
        .iter()
        .map(|part| {
            Shard::new(part.header.index, part.header.count)
                .map_err(|error| Failure::usage(format!("{}: {error}", part.path.display())))
        })
        .collect::<Result<_, _>>()?;
    let order = merge_order(&shards).map_err(Failure::usage)?;
    let whole = Seeds::new(first.first_seed, first.seeds)
        .map_err(|error| Failure::usage(format!("{}: {error}", parts[0].path.display())))?;
    let ordered: Vec<&Part> = order.iter().map(|&i| &parts[i]).collect();
    let scenario = scenario_of(first)?;
    crate::report::check(args.report.as_deref())?;
    let emit = crate::Emit::new(args.json, None, args.report.as_deref(), &first.scenario_toml);
    match first.command {
        PartKind::Estimate => {
            let state: EstimateState = merged(&ordered, &shards, whole, |s: &EstimateState| (s.first_seed, s.seeds))?;
            crate::emit_estimate(&scenario, &state.finish(&scenario), &emit)
        }
        PartKind::Compare => {
            let state: ComparisonState =
                merged(&ordered, &shards, whole, |s: &ComparisonState| (s.estimate.first_seed, s.estimate.seeds))?;
            crate::emit_compare(&scenario, &state.finish(&scenario), &emit)
        }
        PartKind::Explore => {
            let state: ExplorationState =
                merged(&ordered, &shards, whole, |s: &ExplorationState| (s.first_seed, s.seeds))?;
            crate::emit_explore(&scenario, &state.finish(&scenario), &emit)
        }
    }
}

/// The states every merged kind has: merged with the next shard's.
trait Mergeable: DeserializeOwned {
    fn merge_next(&mut self, next: Self) -> Result<(), MergeError>;
}

impl Mergeable for EstimateState {
    fn merge_next(&mut self, next: Self) -> Result<(), MergeError> {
        self.merge(next)
    }
}

impl Mergeable for ComparisonState {
    fn merge_next(&mut self, next: Self) -> Result<(), MergeError> {
        self.merge(next)
    }
}

impl Mergeable for ExplorationState {
    fn merge_next(&mut self, next: Self) -> Result<(), MergeError> {
        self.merge(next)
    }
}

/// The parts' states (in shard order) read, each checked to hold exactly
/// its shard's block of `whole` (`range` gives a state's first seed and
/// count), and merged.
fn merged<S: Mergeable>(
    ordered: &[&Part],
    shards: &[Shard],
    whole: Seeds,
    range: impl Fn(&S) -> (u64, u64),
) -> Result<S, Failure> {
    let count = shards[0].count();
    let mut merged: Option<S> = None;
    for part in ordered {
        let name = part.path.display();
        let state: S = serde_json::from_value(part.state.clone())
            .map_err(|error| Failure::usage(format!("{name}: its state is not readable: {error}")))?;
        let shard = Shard::new(part.header.index, count).map_err(|error| Failure::usage(format!("{name}: {error}")))?;
        let block = shard.seeds_of(whole).map_err(|error| Failure::usage(format!("{name}: {error}")))?;
        if range(&state) != (block.first(), block.count()) {
            let (first_seed, seeds) = range(&state);
            return Err(Failure::usage(format!(
                "{name}: shard {shard} should hold seeds {}..={}, its state holds {seeds} from {first_seed}",
                block.first(),
                block.last()
            )));
        }
        match merged.as_mut() {
            None => merged = Some(state),
            Some(so_far) => {
                so_far.merge_next(state).map_err(|error| Failure::usage(format!("{name}: {error}")))?;
            }
        }
    }
    merged.ok_or_else(|| Failure::usage(MergeError::Empty))
}

/// The scenario the parts ran, from the text they carry (checked against
/// its hash by `read_part`), named by the path it was run as; its warnings
/// go to stderr as when a command loads a file.
fn scenario_of(header: &PartHeader) -> Result<Scenario, Failure> {
    let scenario = retrylab_scenario::parse(&header.scenario_toml, Path::new(&header.scenario_path))
        .map_err(|error| Failure::scenario(&error))?;
    crate::print_scenario_warnings(&scenario);
    Ok(scenario)
}
