//! Loading a scenario file: TOML text → `schema` structs → checked
//! internal [`Scenario`], every error located at a file line and field path.
//!
//! Deserialisation errors take their field path from `serde_path_to_error`
//! and their position from toml's span. Semantic errors are found on the
//! converted values and located afterwards by walking a `toml_edit`
//! document (which keeps spans) along the field path.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use retrylab_faults::{
    BurstParams, Corruption, Crash, Disruptions, FaultKind, FaultMix, FaultModel, FaultProcess, GridNode, LatencyDist,
    MixtureComponent, Outage, Partition, Quantile, DISRUPTION_SECONDS_MAX,
};
use retrylab_retry::{
    AwsRetryConfig, CircuitBreakerConfig, ClientThrottleConfig, Jitter, ObjectStoreConfig, PolicyConfig,
};
use toml_edit::{Array, ArrayOfTables, ImDocument, InlineTable, Item, Table, Value};

use crate::bounds::{
    line_width, stored_bytes, BACKUPS_MAX, BURST_MEAN_MS_MIN, CLIENTS_MAX, DURATION_MS_MAX, EVENTS_MAX_CEILING,
    FILES_PER_BACKUP_MAX, FILE_BYTES_MAX, GATEWAYS_MAX, MIXED_KEYS_MAX, MUTABLE_WRITES_MAX, OPERATIONS_MAX,
    OPERATION_RECORDS_MAX, READS_PER_WRITE_MAX, SEEDS_MAX, SERVERS_MAX, SIMULATED_TIME_S_MAX_CEILING, STORED_BYTES_MAX,
};
use crate::error::{line_column, ErrorKind, ScenarioError};
use crate::model::{
    BudgetScope, Consistency, Design, LafsSpec, Limits, NamedPolicy, NetworkSpec, S3Operation, S3Spec, Scenario,
    ShareLayout, Workload,
};
use crate::schema::{
    BudgetScopeName, ComponentTable, ConsistencyName, DesignTable, FaultKindName, FaultsKind, FaultsTable,
    InnerPolicyTable, JitterName, LafsTable, LatencyKind, LatencyTable, LimitsTable, NetworkTable, OperationName,
    PolicyKind, PolicyTable, S3Table, ScenarioFile, ShareLayoutName, WorkloadKind, WorkloadTable,
};
// The mixed s3-requests workload's types (kept apart so the lists above stay as they were).
use crate::model::OperationMix;
use crate::schema::OperationMixTable;
// Load (issue 12): arrivals, S3's capacity and rate limits.
#[path = "load_traffic.rs"]
mod traffic;
use retrylab_load::Traffic;
// A storage server's capacity (`[lafs]`), likewise kept apart.
use crate::bounds::SERVER_QUEUE_MAX;
use crate::model::ServerCapacity;

/// `seeds` when the file does not say.
const SEEDS_DEFAULT: u64 = 100;
/// `limits.simulated_time_s_max` when the file does not say.
const SIMULATED_TIME_S_MAX_DEFAULT: u64 = 1_000_000;
/// `limits.events_max` when the file does not say.
const EVENTS_MAX_DEFAULT: u64 = 10_000_000;
/// `s3.request_timeout_ms` when the file does not say.
const REQUEST_TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// `s3.latency_ms` when the file does not say: constant, this many ms.
const S3_LATENCY_MS_DEFAULT: f64 = 20.0;
/// `workload.object_bytes` when the file does not say.
const OBJECT_BYTES_DEFAULT: u64 = 1024;
/// `workload.file_bytes_step` (backups) when the file does not say.
const FILE_BYTES_STEP_DEFAULT: u64 = 8;
/// `[lafs]` values when the file does not say: k, N, happy, servers (Tahoe's 3-of-10, happy 7).
const SHARES_NEEDED_DEFAULT: u64 = 3;
const SHARES_TOTAL_DEFAULT: u64 = 10;
const SERVERS_OF_HAPPINESS_DEFAULT: u64 = 7;
const SERVERS_DEFAULT: u64 = 10;
/// `lafs.rpc_timeout_ms` when the file does not say (5 minutes).
const RPC_TIMEOUT_MS_DEFAULT: u64 = 300_000;
/// `lafs.design.chunk_bytes` with share_layout = "chunked" when the file does not say (512 KiB).
const CHUNK_BYTES_DEFAULT: u64 = 512 * 1024;
/// Reads and checks the scenario file at `path`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let source = std::fs::read_to_string(path)
        .map_err(|err| ScenarioError::new(path, ErrorKind::Io, format!("cannot read the file: {err}")))?;
    parse(&source, path)
}

/// Checks the scenario text `source`; `path` names it in errors and is
/// kept in [`Scenario::path`].
pub fn parse(source: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let doc = ImDocument::parse(source).map_err(|err| {
        let offset = err.span().map(|span| span.start);
        let message = match err.message().trim() {
            "" => unexplained_syntax_error(source, offset),
            message => message.to_owned(),
        };
        ScenarioError::new(path, ErrorKind::Syntax, message)
            .with_field(offset.and_then(|offset| guess_field(source, offset)))
            .at_offset(source, offset)
    })?;
    let cx = Cx { source, path, doc };
    let file = cx.deserialize()?;
    cx.scenario(file)
}

// ---------------------------------------------------------------------------
// Field paths

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// A path into the file, rendered as `policies[2].retries`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct FieldPath(Vec<Segment>);

impl FieldPath {
    fn root() -> Self {
        FieldPath(Vec::new())
    }

    fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        FieldPath(segments)
    }

    fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        FieldPath(segments)
    }

    /// The path `text` renders as (`policies[2].inner.retries`); `None`
    /// when it is not one.
    fn parse(text: &str) -> Option<Self> {
        let mut segments = Vec::new();
        for part in text.split('.') {
            let (key, mut indices) = part.split_once('[').map_or((part, ""), |(key, rest)| (key, rest));
            if key.is_empty() {
                return None;
            }
            segments.push(Segment::Key(key.to_owned()));
            while let Some((index, rest)) = indices.split_once(']') {
                segments.push(Segment::Index(index.parse().ok()?));
                indices = rest.strip_prefix('[').unwrap_or(rest);
            }
        }
        Some(FieldPath(segments))
    }
}

/// Byte offset of the key of `field` (as rendered, `policies[2].retries`)
/// in `source`, or of the deepest part of its path present: where a
/// warning about a loaded scenario's field points.
pub(crate) fn locate_field(source: &str, path: &Path, field: &str) -> Option<usize> {
    let doc = ImDocument::parse(source).ok()?;
    let cx = Cx { source, path, doc };
    cx.locate(&FieldPath::parse(field)?, At::Key)
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// Whether an error points at a key (`high_ms` in `high_ms = 3`) or at its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    Key,
    Value,
}

// ---------------------------------------------------------------------------
// Locating fields in the document

/// A node of the `toml_edit` document while walking a field path.
#[derive(Clone)]
enum Node<'d> {
    Table(&'d Table),
    InlineTable(&'d InlineTable),
    Array(&'d Array),
    ArrayOfTables(&'d ArrayOfTables),
    Leaf(Option<Range<usize>>),
}

impl<'d> Node<'d> {
    fn of_item(item: &'d Item) -> Self {
        match item {
            Item::None => Node::Leaf(None),
            Item::Table(table) => Node::Table(table),
            Item::ArrayOfTables(array) => Node::ArrayOfTables(array),
            Item::Value(value) => Node::of_value(value),
        }
    }

    fn of_value(value: &'d Value) -> Self {
        match value {
            Value::InlineTable(table) => Node::InlineTable(table),
            Value::Array(array) => Node::Array(array),
            other => Node::Leaf(other.span()),
        }
    }

    fn span(&self) -> Option<Range<usize>> {
        match self {
            Node::Table(table) => table.span(),
            Node::InlineTable(table) => table.span(),
            Node::Array(array) => array.span(),
            Node::ArrayOfTables(array) => array.span(),
            Node::Leaf(span) => span.clone(),
        }
    }
}

struct Cx<'a> {
    source: &'a str,
    path: &'a Path,
    doc: ImDocument<&'a str>,
}

impl Cx<'_> {
    /// Byte offset of `field` in the file: of its key or value as `at` asks,
    /// or, when the field is absent, of the deepest part of its path present.
    fn locate(&self, field: &FieldPath, at: At) -> Option<usize> {
        let mut best: Option<Range<usize>> = None;
        let mut node = Node::Table(self.doc.as_table());
        let last = field.0.len().saturating_sub(1);
        for (i, segment) in field.0.iter().enumerate() {
            let (key_span, child) = match (segment, &node) {
                (Segment::Key(key), Node::Table(table)) => match table.get_key_value(key) {
                    Some((key, item)) => (key.span(), Node::of_item(item)),
                    None => break,
                },
                (Segment::Key(key), Node::InlineTable(table)) => match table.get_key_value(key) {
                    Some((key, item)) => (key.span(), Node::of_item(item)),
                    None => break,
                },
                (Segment::Index(index), Node::Array(array)) => match array.get(*index) {
                    Some(value) => (None, Node::of_value(value)),
                    None => break,
                },
                (Segment::Index(index), Node::ArrayOfTables(array)) => match array.get(*index) {
                    Some(table) => (None, Node::Table(table)),
                    None => break,
                },
                _ => break,
            };
            let found =
                if i == last && at == At::Key { key_span.or_else(|| child.span()) } else { child.span().or(key_span) };
            best = found.or(best);
            node = child;
        }
        best.map(|span| span.start)
    }

    fn error(&self, kind: ErrorKind, field: &FieldPath, at: At, message: impl Into<String>) -> ScenarioError {
        ScenarioError::new(self.path, kind, message)
            .with_field(Some(field.to_string()))
            .at_offset(self.source, self.locate(field, at))
    }

    /// A value that is not allowed.
    fn invalid(&self, field: &FieldPath, message: impl Into<String>) -> ScenarioError {
        self.error(ErrorKind::Invalid, field, At::Value, message)
    }

    /// A key present where it does not belong.
    fn misplaced(&self, field: &FieldPath, message: impl Into<String>) -> ScenarioError {
        self.error(ErrorKind::Invalid, field, At::Key, message)
    }

    /// A key that the context requires but the file lacks.
    /// A field absent at the top level has no better place than the start
    /// of the file (as for the fields serde finds missing).
    fn missing(&self, field: &FieldPath, message: impl Into<String>) -> ScenarioError {
        ScenarioError::new(self.path, ErrorKind::MissingField, message)
            .with_field(Some(field.to_string()))
            .at_offset(self.source, self.locate(field, At::Value).or(Some(0)))
    }

    // -----------------------------------------------------------------------
    // Deserialisation

    fn deserialize(&self) -> Result<ScenarioFile, ScenarioError> {
        let deserializer = toml::Deserializer::new(self.source);
        serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let mut field = FieldPath::root();
            for segment in err.path() {
                match segment {
                    serde_path_to_error::Segment::Seq { index } => field.0.push(Segment::Index(*index)),
                    serde_path_to_error::Segment::Map { key } => field.0.push(Segment::Key(key.clone())),
                    serde_path_to_error::Segment::Enum { variant } => {
                        field.0.push(Segment::Key(variant.clone()));
                    }
                    serde_path_to_error::Segment::Unknown => break,
                }
            }
            let inner = err.into_inner();
            let message = inner.message().to_owned();
            let (kind, named) = if let Some(name) = quoted_after(&message, "unknown field `") {
                (ErrorKind::UnknownField, Some(name))
            } else if let Some(name) = quoted_after(&message, "missing field `") {
                (ErrorKind::MissingField, Some(name))
            } else {
                (ErrorKind::Type, None)
            };
            // serde names the offending key in the message; make it part of
            // the path unless serde_path_to_error already did.
            if let Some(name) = named {
                if field.0.last() != Some(&Segment::Key(name.to_owned())) {
                    field = field.key(name);
                }
            }
            let offset = match kind {
                // toml points a missing field at its whole table; the table's
                // header line is more useful.
                // A field missing at the top level has no better place than the start.
                ErrorKind::MissingField => self.locate(&field, At::Value).or(Some(0)),
                _ => inner.span().map(|span| span.start).or_else(|| self.locate(&field, At::Key)),
            };
            ScenarioError::new(self.path, kind, message)
                .with_field(Some(field.to_string()))
                .at_offset(self.source, offset)
        })
    }

    // -----------------------------------------------------------------------
    // Conversion into the internal types

    fn scenario(&self, file: ScenarioFile) -> Result<Scenario, ScenarioError> {
        let root = FieldPath::root();
        if file.name.trim().is_empty() {
            return Err(self.invalid(&root.key("name"), "must not be blank"));
        }
        let seeds_default = file.seeds.unwrap_or(SEEDS_DEFAULT);
        if seeds_default == 0 {
            return Err(self.invalid(&root.key("seeds"), "must be at least 1, got 0"));
        }
        self.at_most(&root.key("seeds"), seeds_default, SEEDS_MAX)?;
        let limits = self.limits(file.limits.as_ref(), &root.key("limits"))?;
        let network = self.network(file.network.as_ref(), &root.key("network"))?;
        let s3 = self.s3(file.s3.as_ref(), &root.key("s3"))?;
        let faults = self.faults(file.faults.as_ref(), &root.key("faults"))?;
        let (workload, traffic) = self.workload(&file.workload, &root.key("workload"))?;
        let lafs = self.lafs(file.lafs.as_ref(), file.workload.kind, &root.key("lafs"))?;
        self.stored_bytes(&workload, lafs.as_ref(), &file.workload, &root.key("workload"))?;
        self.operation_records(Given::new(file.seeds, SEEDS_DEFAULT), &workload, lafs.as_ref(), &root.key("seeds"))?;
        let disruptions =
            self.disruptions(file.faults.as_ref(), lafs.as_ref(), file.workload.kind, &root.key("faults"))?;
        self.disruptions_start_in_time(&limits, &faults, &disruptions, &root.key("faults"))?;
        let grid = file.workload.kind != WorkloadKind::S3Requests;
        let policies = self.policies(file.policies, grid, &root.key("policies"))?;
        Ok(Scenario {
            name: file.name,
            description: file.description,
            path: self.path.to_path_buf(),
            seeds_default,
            limits,
            network,
            s3,
            faults,
            disruptions,
            workload,
            traffic,
            policies,
            lafs,
        })
    }

    fn limits(&self, table: Option<&LimitsTable>, at: &FieldPath) -> Result<Limits, ScenarioError> {
        let simulated_time_max = match table.and_then(|t| t.simulated_time_s_max) {
            None => Duration::from_secs(SIMULATED_TIME_S_MAX_DEFAULT),
            Some(seconds) => {
                let field = at.key("simulated_time_s_max");
                if !(seconds.is_finite() && seconds > 0.0) {
                    return Err(self.invalid(&field, format!("must be a finite number of seconds > 0, got {seconds}")));
                }
                let limit = Duration::try_from_secs_f64(seconds)
                    .map_err(|_| self.invalid(&field, format!("is too large, got {seconds:?}")))?;
                if seconds > SIMULATED_TIME_S_MAX_CEILING as f64 {
                    return Err(self.invalid(
                        &field,
                        format!("must be at most {SIMULATED_TIME_S_MAX_CEILING} s (about 32 years), got {seconds:?}"),
                    ));
                }
                // A positive number too small for a nanosecond would stop every run at once.
                if limit.is_zero() {
                    return Err(self.invalid(&field, format!("must be at least 1 ns, got {seconds:?} s")));
                }
                limit
            }
        };
        let events_max = table.and_then(|t| t.events_max).unwrap_or(EVENTS_MAX_DEFAULT);
        if events_max == 0 {
            return Err(self.invalid(&at.key("events_max"), "must be at least 1, got 0"));
        }
        self.at_most(&at.key("events_max"), events_max, EVENTS_MAX_CEILING)?;
        Ok(Limits { simulated_time_max, events_max })
    }

    fn network(&self, table: Option<&NetworkTable>, at: &FieldPath) -> Result<NetworkSpec, ScenarioError> {
        let latency = match table.and_then(|t| t.latency_ms.as_ref()) {
            Some(latency) => self.latency(latency, &at.key("latency_ms"))?,
            None => LatencyDist::constant_ms(0.0),
        };
        let loss_probability = table.and_then(|t| t.loss_probability).unwrap_or(0.0);
        self.probability(&at.key("loss_probability"), loss_probability)?;
        Ok(NetworkSpec { latency, loss_probability })
    }

    fn probability(&self, field: &FieldPath, value: f64) -> Result<(), ScenarioError> {
        if (0.0..=1.0).contains(&value) {
            Ok(())
        } else {
            Err(self.invalid(field, format!("must be a probability in [0, 1], got {value}")))
        }
    }

    fn s3(&self, table: Option<&S3Table>, at: &FieldPath) -> Result<S3Spec, ScenarioError> {
        let window_field = at.key("eventual_window_ms");
        let window_ms = table.and_then(|t| t.eventual_window_ms);
        let consistency = match (table.and_then(|t| t.consistency).unwrap_or(ConsistencyName::Strong), window_ms) {
            (ConsistencyName::Strong, None) => Consistency::Strong,
            (ConsistencyName::Strong, Some(_)) => {
                return Err(self.misplaced(&window_field, "only allowed with consistency = \"eventual\""));
            }
            (ConsistencyName::Eventual, None) => {
                return Err(self.missing(&window_field, "required with consistency = \"eventual\""));
            }
            (ConsistencyName::Eventual, Some(0)) => {
                return Err(self.invalid(&window_field, "must be > 0 ms, got 0"));
            }
            (ConsistencyName::Eventual, Some(ms)) => {
                self.at_most(&window_field, ms, DURATION_MS_MAX)?;
                Consistency::Eventual { window: Duration::from_millis(ms) }
            }
        };
        let timeout_ms = table.and_then(|t| t.request_timeout_ms).unwrap_or(REQUEST_TIMEOUT_MS_DEFAULT);
        if timeout_ms == 0 {
            return Err(self.invalid(&at.key("request_timeout_ms"), "must be > 0 ms, got 0"));
        }
        self.at_most(&at.key("request_timeout_ms"), timeout_ms, DURATION_MS_MAX)?;
        let latency = match table.and_then(|t| t.latency_ms.as_ref()) {
            Some(latency) => self.latency(latency, &at.key("latency_ms"))?,
            None => LatencyDist::constant_ms(S3_LATENCY_MS_DEFAULT),
        };
        let error_latency = match table.and_then(|t| t.error_latency_ms.as_ref()) {
            Some(latency) => Some(self.latency(latency, &at.key("error_latency_ms"))?),
            None => None,
        };
        let capacity = match table.and_then(|t| t.capacity.as_ref()) {
            Some(capacity) => Some(self.capacity(capacity, &at.key("capacity"))?),
            None => None,
        };
        let rate_limits = match table.and_then(|t| t.rate_limits.as_ref()) {
            Some(limits) => Some(self.rate_limits(limits, &at.key("rate_limits"))?),
            None => None,
        };
        Ok(S3Spec {
            latency,
            error_latency,
            consistency,
            request_timeout: Duration::from_millis(timeout_ms),
            capacity,
            rate_limits,
        })
    }

    // -----------------------------------------------------------------------
    // Latency distributions

    fn latency(&self, table: &LatencyTable, at: &FieldPath) -> Result<LatencyDist, ScenarioError> {
        if table.kind == LatencyKind::Empirical {
            return self.empirical_latency(table, at);
        }
        if table.quantiles.is_some() {
            return Err(self.not_a_field(at, "quantiles", &kind_what(table.kind), table.kind.fields()));
        }
        if table.kind != LatencyKind::Mixture {
            if table.components.is_some() {
                return Err(self.not_a_field(at, "components", &kind_what(table.kind), table.kind.fields()));
            }
            return self.simple_latency(table.kind, &table.params(), at);
        }
        let params = table.params();
        let present: Vec<_> = params.iter().map(|(name, value)| (*name, value.is_some())).collect();
        self.only_fields(at, &present, LatencyKind::Mixture.fields(), &kind_what(LatencyKind::Mixture))?;
        let components_field = at.key("components");
        let Some(components) = &table.components else {
            return Err(self.missing(&components_field, "required for a \"mixture\" latency"));
        };
        if components.is_empty() {
            return Err(self.invalid(&components_field, "a mixture needs at least one component"));
        }
        let mut parts = Vec::with_capacity(components.len());
        for (i, component) in components.iter().enumerate() {
            parts.push(self.component(component, &components_field.index(i))?);
        }
        let dist = LatencyDist::Mixture(parts);
        dist.validate().map_err(|err| {
            // Per-component problems were caught above: what is left is about
            // the mixture as a whole (e.g. every weight zero).
            let field = match err.field {
                "weight" | "components" => components_field.clone(),
                other => at.key(other),
            };
            self.invalid(&field, err.message)
        })?;
        Ok(dist)
    }

    /// An `"empirical"` latency: its quantile table.
    fn empirical_latency(&self, table: &LatencyTable, at: &FieldPath) -> Result<LatencyDist, ScenarioError> {
        let what = kind_what(LatencyKind::Empirical);
        let params = table.params();
        let mut present: Vec<_> = params.iter().map(|(name, value)| (*name, value.is_some())).collect();
        present.push(("components", table.components.is_some()));
        self.only_fields(at, &present, LatencyKind::Empirical.fields(), &what)?;
        let field = at.key("quantiles");
        let Some(points) = &table.quantiles else {
            return Err(self.missing(&field, format!("required for {what} ([probability, ms] points from 0 to 1)")));
        };
        let quantiles = points.iter().map(|[probability, ms]| Quantile { probability: *probability, ms: *ms });
        let dist = LatencyDist::Empirical(quantiles.collect());
        dist.validate().map_err(|err| self.invalid(&field, err.message))?;
        Ok(dist)
    }

    fn component(&self, component: &ComponentTable, at: &FieldPath) -> Result<MixtureComponent, ScenarioError> {
        if component.kind == LatencyKind::Mixture {
            return Err(self.invalid(&at.key("kind"), "a mixture component cannot itself be a mixture"));
        }
        let weight = component.weight;
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(self.invalid(&at.key("weight"), format!("must be a finite number >= 0, got {weight}")));
        }
        let dist = self.simple_latency(component.kind, &component.params(), at)?;
        Ok(MixtureComponent { weight, dist })
    }

    /// A non-mixture distribution from its parameters.
    fn simple_latency(
        &self,
        kind: LatencyKind,
        params: &[(&'static str, Option<f64>)],
        at: &FieldPath,
    ) -> Result<LatencyDist, ScenarioError> {
        let what = kind_what(kind);
        let present: Vec<_> = params.iter().map(|(name, value)| (*name, value.is_some())).collect();
        self.only_fields(at, &present, kind.fields(), &what)?;
        let get = |name: &str| {
            params.iter().find(|(n, _)| *n == name).and_then(|(_, value)| *value).ok_or_else(|| {
                self.missing(&at.key(name), format!("required for {what} (it takes {})", kind.fields().join(", ")))
            })
        };
        let dist = match kind {
            LatencyKind::Constant => LatencyDist::Constant { ms: get("ms")? },
            LatencyKind::Uniform => LatencyDist::Uniform { low_ms: get("low_ms")?, high_ms: get("high_ms")? },
            LatencyKind::Normal => LatencyDist::Normal { mean_ms: get("mean_ms")?, std_dev_ms: get("std_dev_ms")? },
            LatencyKind::LogNormal => LatencyDist::LogNormal { median_ms: get("median_ms")?, sigma: get("sigma")? },
            LatencyKind::Exponential => LatencyDist::Exponential { mean_ms: get("mean_ms")? },
            LatencyKind::Mixture => {
                return Err(self.invalid(&at.key("kind"), "a mixture cannot be nested in a mixture"));
            }
            LatencyKind::Empirical => {
                return Err(self.invalid(&at.key("kind"), "an empirical table cannot be a mixture component"));
            }
        };
        dist.validate().map_err(|err| self.invalid(&at.key(err.field), err.message))?;
        Ok(dist)
    }

    // -----------------------------------------------------------------------
    // Per-kind fields

    /// Fails on the first field in `present` that `allowed` lacks.
    fn only_fields(
        &self,
        at: &FieldPath,
        present: &[(&'static str, bool)],
        allowed: &[&str],
        what: &str,
    ) -> Result<(), ScenarioError> {
        // Report the offending key that comes first in the file.
        let offending = present
            .iter()
            .filter(|(name, is_present)| *is_present && !allowed.contains(name))
            .min_by_key(|(name, _)| self.locate(&at.key(name), At::Key).unwrap_or(usize::MAX));
        match offending {
            Some((name, _)) => Err(self.not_a_field(at, name, what, allowed)),
            None => Ok(()),
        }
    }

    fn not_a_field(&self, at: &FieldPath, name: &str, what: &str, allowed: &[&str]) -> ScenarioError {
        let takes = if allowed.is_empty() {
            "it takes no parameters".to_owned()
        } else {
            format!("it takes {}", allowed.join(", "))
        };
        self.misplaced(&at.key(name), format!("not a field of {what} ({takes})"))
    }

    // -----------------------------------------------------------------------
    // Faults

    fn faults(&self, table: Option<&FaultsTable>, at: &FieldPath) -> Result<FaultModel, ScenarioError> {
        let Some(table) = table else {
            return Ok(FaultModel::default());
        };
        let what = format!("\"{}\" faults", table.kind.name());
        let present = [
            ("failure_probability", table.failure_probability.is_some()),
            ("good_mean_s", table.good_mean_s.is_some()),
            ("bad_mean_s", table.bad_mean_s.is_some()),
            ("good_failure", table.good_failure.is_some()),
            ("bad_failure", table.bad_failure.is_some()),
        ];
        let allowed: &[&str] = match table.kind {
            FaultsKind::None => &[],
            FaultsKind::Independent => &["failure_probability"],
            FaultsKind::GilbertElliott => &["good_mean_s", "bad_mean_s", "good_failure", "bad_failure"],
        };
        self.only_fields(at, &present, allowed, &what)?;
        let required = |name: &str, value: Option<f64>| {
            value.ok_or_else(|| {
                self.missing(&at.key(name), format!("required for {what} (it takes {})", allowed.join(", ")))
            })
        };
        let process = match table.kind {
            FaultsKind::None => FaultProcess::Never,
            FaultsKind::Independent => FaultProcess::Independent {
                failure_probability: required("failure_probability", table.failure_probability)?,
            },
            FaultsKind::GilbertElliott => {
                let good_mean_s = required("good_mean_s", table.good_mean_s)?;
                let bad_mean_s = required("bad_mean_s", table.bad_mean_s)?;
                FaultProcess::GilbertElliott(BurstParams {
                    good_mean_ms: self.positive_seconds_as_ms(&at.key("good_mean_s"), good_mean_s)?,
                    bad_mean_ms: self.positive_seconds_as_ms(&at.key("bad_mean_s"), bad_mean_s)?,
                    good_failure: required("good_failure", table.good_failure)?,
                    bad_failure: required("bad_failure", table.bad_failure)?,
                })
            }
        };
        let mix = match &table.mix {
            None => FaultMix::default(),
            Some(mix) => FaultMix {
                internal_error: mix.internal_error.unwrap_or(0.0),
                slow_down: mix.slow_down.unwrap_or(0.0),
                connection_reset: mix.connection_reset.unwrap_or(0.0),
                timeout: mix.timeout.unwrap_or(0.0),
            },
        };
        let mut outages = Vec::with_capacity(table.outages.len());
        for (i, outage) in table.outages.iter().enumerate() {
            let outage_at = at.key("outages").index(i);
            let start_ms = self.seconds_as_whole_ms(&outage_at.key("start_s"), outage.start_s)?;
            let end_ms = self.seconds_as_whole_ms(&outage_at.key("end_s"), outage.end_s)?;
            if outage.end_s <= outage.start_s {
                return Err(self.invalid(
                    &outage_at.key("end_s"),
                    format!("an outage must end after it starts (start_s {}), got {}", outage.start_s, outage.end_s),
                ));
            }
            if end_ms <= start_ms {
                return Err(self.invalid(
                    &outage_at.key("end_s"),
                    format!(
                        "an outage must last at least 1 ms once rounded to whole milliseconds \
                         (start_s {}, end_s {})",
                        outage.start_s, outage.end_s
                    ),
                ));
            }
            let kind = match outage.kind.unwrap_or(FaultKindName::InternalError) {
                FaultKindName::InternalError => FaultKind::InternalError,
                FaultKindName::SlowDown => FaultKind::SlowDown,
                FaultKindName::ConnectionReset => FaultKind::ConnectionReset,
                FaultKindName::Timeout => FaultKind::Timeout,
            };
            outages.push(Outage { start_ms, end_ms, kind });
        }
        let model = FaultModel { process, outages, mix, ambiguous_fraction: table.ambiguous_fraction.unwrap_or(0.0) };
        model.validate().map_err(|err| {
            let field = match err.field {
                "good_mean_ms" => at.key("good_mean_s"),
                "bad_mean_ms" => at.key("bad_mean_s"),
                "end_ms" => at.key("outages"),
                "mix" => at.key("mix"),
                name if FaultKind::ALL.iter().any(|kind| kind.name() == name) => at.key("mix").key(name),
                name => at.key(name),
            };
            self.invalid(&field, err.message)
        })?;
        Ok(model)
    }

    // -----------------------------------------------------------------------
    // Crashes, partitions and corruption

    /// `faults.crashes`, `faults.partitions` and `faults.corruption`, which
    /// need a grid (`lafs`) to name nodes of and to run on.
    fn disruptions(
        &self,
        table: Option<&FaultsTable>,
        lafs: Option<&LafsSpec>,
        workload: WorkloadKind,
        at: &FieldPath,
    ) -> Result<Disruptions, ScenarioError> {
        let Some(table) = table else {
            return Ok(Disruptions::default());
        };
        let given = [
            ("crashes", !table.crashes.is_empty()),
            ("partitions", !table.partitions.is_empty()),
            ("corruption", table.corruption.is_some()),
        ];
        let Some(lafs) = lafs else {
            return match given.iter().find(|(_, present)| *present) {
                Some((name, _)) => Err(self.misplaced(
                    &at.key(name),
                    format!(
                        "not allowed with {} (it has no Tahoe-LAFS grid whose nodes could crash, be cut off \
                         or store corrupt shares; use a workload kind {})",
                        workload_what(workload),
                        lafs_kinds()
                    ),
                )),
                None => Ok(Disruptions::default()),
            };
        };
        let mut crashes = Vec::with_capacity(table.crashes.len());
        for (i, crash) in table.crashes.iter().enumerate() {
            let crash_at = at.key("crashes").index(i);
            crashes.push(Crash {
                node: self.grid_node(&crash_at.key("node"), &crash.node, lafs)?,
                at: self.disruption_time(&crash_at.key("at_s"), crash.at_s, false)?,
                down: self.disruption_time(&crash_at.key("down_s"), crash.down_s, true)?,
            });
        }
        let mut partitions = Vec::with_capacity(table.partitions.len());
        for (i, partition) in table.partitions.iter().enumerate() {
            let partition_at = at.key("partitions").index(i);
            let between_at = partition_at.key("between");
            let [side_a, side_b] = partition.between.as_slice() else {
                return Err(self.invalid(
                    &between_at,
                    format!(
                        "must be two groups of node names, such as [[\"gateway.0\"], [\"storage-server.0\"]], got {} group(s)",
                        partition.between.len()
                    ),
                ));
            };
            let mut sides = Vec::with_capacity(2);
            for (s, side) in [side_a, side_b].into_iter().enumerate() {
                if side.is_empty() {
                    return Err(self.invalid(&between_at.index(s), "a group needs at least one node name"));
                }
                let mut nodes = Vec::with_capacity(side.len());
                for (j, name) in side.iter().enumerate() {
                    let node = self.grid_node(&between_at.index(s).index(j), name, lafs)?;
                    if s == 1 && sides.first().is_some_and(|a: &Vec<GridNode>| a.contains(&node)) {
                        return Err(self.invalid(
                            &between_at.index(s).index(j),
                            format!("{node} is in both groups (a node cannot be cut off from itself)"),
                        ));
                    }
                    nodes.push(node);
                }
                sides.push(nodes);
            }
            let side_b = sides.pop().unwrap_or_default();
            let side_a = sides.pop().unwrap_or_default();
            partitions.push(Partition {
                side_a,
                side_b,
                start: self.disruption_time(&partition_at.key("start_s"), partition.start_s, false)?,
                duration: self.disruption_time(&partition_at.key("duration_s"), partition.duration_s, true)?,
            });
        }
        let corruption = match &table.corruption {
            None => Corruption::default(),
            Some(corruption) => Corruption {
                bit_flip: corruption.bit_flip.unwrap_or(0.0),
                truncate: corruption.truncate.unwrap_or(0.0),
                stale_read: corruption.stale_read.unwrap_or(0.0),
                tampered_read: corruption.tampered_read.unwrap_or(0.0),
            },
        };
        for (name, p) in corruption.fields() {
            self.probability(&at.key("corruption").key(name), p)?;
        }
        let disruptions = Disruptions { crashes, partitions, corruption };
        // Everything was checked above at its own field; this is the
        // simulator's own guard, kept in step with the loader.
        disruptions
            .validate(lafs.servers, lafs.gateways)
            .map_err(|err| self.invalid(at, format!("{}: {}", err.field, err.message)))?;
        Ok(disruptions)
    }

    /// Refuses an outage, crash or partition that starts at or after
    /// `limits.simulated_time_s_max`: no run lasts until then, so it cannot
    /// be meant. (One that starts after a run's workload ends is only known
    /// after the run: `retrylab_harness::warnings_after_run`.)
    fn disruptions_start_in_time(
        &self,
        limits: &Limits,
        faults: &FaultModel,
        disruptions: &Disruptions,
        at: &FieldPath,
    ) -> Result<(), ScenarioError> {
        let limit = limits.simulated_time_max;
        let starts = faults
            .outages
            .iter()
            .enumerate()
            .map(|(i, outage)| (at.key("outages").index(i).key("start_s"), Duration::from_millis(outage.start_ms)))
            .chain(
                disruptions
                    .crashes
                    .iter()
                    .enumerate()
                    .map(|(i, crash)| (at.key("crashes").index(i).key("at_s"), crash.at)),
            )
            .chain(
                disruptions
                    .partitions
                    .iter()
                    .enumerate()
                    .map(|(i, partition)| (at.key("partitions").index(i).key("start_s"), partition.start)),
            );
        for (field, start) in starts {
            if start >= limit {
                return Err(self.invalid(
                    &field,
                    format!(
                        "starts at {} s, at or after limits.simulated_time_s_max ({} s): no run lasts until then",
                        start.as_secs_f64(),
                        limit.as_secs_f64()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A node of the grid by name: `storage-server.<i>` or `gateway.<g>`.
    fn grid_node(&self, field: &FieldPath, name: &str, lafs: &LafsSpec) -> Result<GridNode, ScenarioError> {
        let node = GridNode::parse(name).ok_or_else(|| {
            self.invalid(field, format!("\"{name}\" is not a node name (\"storage-server.<i>\" or \"gateway.<g>\")"))
        })?;
        if !node.exists_in(lafs.servers, lafs.gateways) {
            let (what, count, key) = match node {
                GridNode::StorageServer(_) => ("storage-server", lafs.servers, "servers"),
                GridNode::Gateway(_) => ("gateway", lafs.gateways, "gateways"),
            };
            return Err(self.invalid(
                field,
                format!(
                    "no node \"{name}\" in this grid: lafs.{key} = {count}, so {what}.0 to {what}.{}",
                    count.saturating_sub(1)
                ),
            ));
        }
        Ok(node)
    }

    /// A disruption's time in seconds (finite, >= 0, and > 0 when
    /// `positive`), as whole milliseconds.
    fn disruption_time(&self, field: &FieldPath, seconds: f64, positive: bool) -> Result<Duration, ScenarioError> {
        if positive && !(seconds.is_finite() && seconds > 0.0) {
            return Err(self.invalid(field, format!("must be a finite number of seconds > 0, got {seconds}")));
        }
        let ms = self.seconds_as_whole_ms(field, seconds)?;
        if ms > DISRUPTION_SECONDS_MAX * 1000 {
            return Err(self.invalid(field, format!("must be at most {DISRUPTION_SECONDS_MAX} s, got {seconds}")));
        }
        if positive && ms == 0 {
            return Err(self
                .invalid(field, format!("must be at least 1 ms once rounded to whole milliseconds, got {seconds} s")));
        }
        Ok(Duration::from_millis(ms))
    }

    /// Seconds (finite, > 0) as milliseconds, for `BurstParams`.
    fn positive_seconds_as_ms(&self, field: &FieldPath, seconds: f64) -> Result<f64, ScenarioError> {
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(self.invalid(field, format!("must be a finite number of seconds > 0, got {seconds}")));
        }
        let ms = seconds * 1000.0;
        if !ms.is_finite() {
            return Err(self.invalid(field, format!("is too large, got {seconds:?}")));
        }
        if ms < BURST_MEAN_MS_MIN {
            return Err(self.invalid(
                field,
                format!(
                    "must be at least {} s (the simulator's 1 ms resolution: a chain switching many times \
                     between two requests is independent faults at its stationary rate, kind = \"independent\"), \
                     got {seconds:?}",
                    BURST_MEAN_MS_MIN / 1000.0
                ),
            ));
        }
        Ok(ms)
    }

    /// Seconds (finite, >= 0) as whole milliseconds, rounded to nearest.
    fn seconds_as_whole_ms(&self, field: &FieldPath, seconds: f64) -> Result<u64, ScenarioError> {
        if !(seconds.is_finite() && seconds >= 0.0) {
            return Err(self.invalid(field, format!("must be a finite number of seconds >= 0, got {seconds}")));
        }
        let ms = (seconds * 1000.0).round();
        // 2^64 is exact as an f64; every smaller float converts without loss of range.
        if ms >= 18_446_744_073_709_551_616.0 {
            return Err(self.invalid(field, format!("is too large, got {seconds:?}")));
        }
        Ok(ms as u64)
    }

    // -----------------------------------------------------------------------
    // Workload

    fn workload(&self, table: &WorkloadTable, at: &FieldPath) -> Result<(Workload, Traffic), ScenarioError> {
        let traffic_given = [
            ("arrivals", table.arrivals.is_some()),
            ("think_time_ms", table.think_time_ms.is_some()),
            ("deadline_ms", table.deadline_ms.is_some()),
            ("concurrency_max", table.concurrency_max.is_some()),
            ("zipf_exponent", table.zipf_exponent.is_some()),
            ("prefixes", table.prefixes.is_some()),
        ];
        // Mutable files on the grid take open-loop arrivals too: each
        // arrival a put (or append) or a read of a file chosen by popularity.
        let grid_files = matches!(table.kind, WorkloadKind::MutablePuts | WorkloadKind::MutableAppends);
        let allowed: &[&str] =
            if grid_files { &["arrivals", "deadline_ms", "concurrency_max", "zipf_exponent"] } else { &[] };
        if table.kind != WorkloadKind::S3Requests {
            // Named before the generic "not a field" error, to say why.
            if let Some((name, _)) = traffic_given.iter().find(|(name, given)| *given && !allowed.contains(name)) {
                let takes = if grid_files {
                    "; mutable files on the grid take arrivals, deadline_ms, concurrency_max and zipf_exponent"
                } else {
                    ""
                };
                return Err(self.misplaced(
                    &at.key(name),
                    format!(
                        "load settings (arrivals, deadlines, key popularity) apply to \"s3-requests\" workloads{takes}, \
                         not to {}",
                        workload_what(table.kind)
                    ),
                ));
            }
            if grid_files && table.arrivals.is_none() {
                if let Some((name, _)) = traffic_given.iter().find(|(_, given)| *given) {
                    return Err(self.misplaced(
                        &at.key(name),
                        "only allowed with [workload.arrivals] (a closed loop's gateways each write their own file)",
                    ));
                }
            }
        }
        if grid_files && table.arrivals.is_some() {
            return self.grid_open_loop(table, at);
        }
        let workload = self.workload_kind(table, at)?;
        if let Workload::S3Requests { operation, object_bytes, keys, clients, .. } = workload {
            let (traffic, operations) = self.s3_traffic(table, operation, at)?;
            return Ok((Workload::S3Requests { operations, operation, object_bytes, keys, clients }, traffic));
        }
        Ok((workload, Traffic::default()))
    }

    /// A mutable-file workload under open-loop arrivals: `puts` or
    /// `appends` come from the arrivals (the expected number of writes, a
    /// bound on any one file's), not from the file.
    fn grid_open_loop(&self, table: &WorkloadTable, at: &FieldPath) -> Result<(Workload, Traffic), ScenarioError> {
        let writes_field = if table.kind == WorkloadKind::MutablePuts { "puts" } else { "appends" };
        if table.puts.is_some() || table.appends.is_some() {
            return Err(self.misplaced(
                &at.key(writes_field),
                "not allowed with [workload.arrivals]: the arrivals set how many writes a run has",
            ));
        }
        let (traffic, arrivals_expected) = self.s3_traffic(table, S3Operation::Put, at)?;
        let reads_per_write = self.reads_per_write(table, at)?;
        // Each arrival is a write with probability 1 / (1 + reads_per_write).
        let writes_expected = arrivals_expected.div_ceil(reads_per_write + 1).max(1);
        let mut closed = table.clone();
        closed.arrivals = None;
        match table.kind {
            WorkloadKind::MutablePuts => closed.puts = Some(writes_expected),
            _ => closed.appends = Some(writes_expected),
        }
        // The bounds on the writes, named by what sets them here.
        let line_bytes = table.line_bytes.unwrap_or(0);
        let last_put_bytes = if table.kind == WorkloadKind::MutablePuts {
            u128::from(writes_expected) * u128::from(line_width(writes_expected, line_bytes))
        } else {
            0
        };
        if writes_expected > MUTABLE_WRITES_MAX || last_put_bytes > u128::from(FILE_BYTES_MAX) {
            return Err(self.invalid(
                &at.key("arrivals"),
                format!(
                    "about {writes_expected} writes would arrive in a run; at most {MUTABLE_WRITES_MAX} are allowed, \
                     and a put's file at most {FILE_BYTES_MAX} bytes (lower the rate or the duration)"
                ),
            ));
        }
        let workload = self.workload_kind(&closed, at)?;
        Ok((workload, traffic))
    }

    fn workload_kind(&self, table: &WorkloadTable, at: &FieldPath) -> Result<Workload, ScenarioError> {
        let what = workload_what(table.kind);
        let present = [
            ("operations", table.operations.is_some()),
            ("operation", table.operation.is_some()),
            ("mix", table.mix.is_some()),
            ("object_bytes", table.object_bytes.is_some()),
            ("keys", table.keys.is_some()),
            ("clients", table.clients.is_some()),
            ("puts", table.puts.is_some()),
            ("line_bytes", table.line_bytes.is_some()),
            ("appends", table.appends.is_some()),
            ("reads_per_write", table.reads_per_write.is_some()),
            ("writers_per_file", table.writers_per_file.is_some()),
            ("files", table.files.is_some()),
            ("file_bytes_step", table.file_bytes_step.is_some()),
        ];
        let allowed = table.kind.fields();
        self.only_fields(at, &present, allowed, &what)?;
        let required = |name: &str, value: Option<u64>| {
            value.ok_or_else(|| {
                self.missing(&at.key(name), format!("required for {what} (it takes {})", allowed.join(", ")))
            })
        };
        match table.kind {
            WorkloadKind::S3Requests => {
                // `s3_traffic` checks `operations` (absent with open-loop arrivals).
                let operations = table.operations.unwrap_or(1);
                let operation = self.s3_operation(table, at, &what)?;
                let keys = table.keys.unwrap_or(1);
                self.at_least_one(&at.key("keys"), keys)?;
                self.at_most(&at.key("keys"), keys, OPERATIONS_MAX)?;
                let object_bytes = table.object_bytes.unwrap_or(OBJECT_BYTES_DEFAULT);
                self.at_most(&at.key("object_bytes"), object_bytes, FILE_BYTES_MAX)?;
                if matches!(operation, S3Operation::Mixed(_)) && keys > MIXED_KEYS_MAX {
                    return Err(self.invalid(
                        &at.key("keys"),
                        format!("must be at most {MIXED_KEYS_MAX} with operation = \"mixed\", got {keys}"),
                    ));
                }
                let clients = table.clients.unwrap_or(1);
                self.at_least_one(&at.key("clients"), clients)?;
                if clients > CLIENTS_MAX {
                    return Err(
                        self.invalid(&at.key("clients"), format!("must be at most {CLIENTS_MAX}, got {clients}"))
                    );
                }
                Ok(Workload::S3Requests { operations, operation, object_bytes, keys, clients })
            }
            WorkloadKind::MutablePuts => {
                let puts = required("puts", table.puts)?;
                self.at_least_one(&at.key("puts"), puts)?;
                self.at_most(&at.key("puts"), puts, MUTABLE_WRITES_MAX)?;
                let line_bytes = table.line_bytes.unwrap_or(0);
                self.at_most(&at.key("line_bytes"), line_bytes, FILE_BYTES_MAX)?;
                // The last put writes every line: the largest file of the run.
                let last_put_bytes = u128::from(puts) * u128::from(line_width(puts, line_bytes));
                if last_put_bytes > u128::from(FILE_BYTES_MAX) {
                    let field = if table.line_bytes.is_some() { "line_bytes" } else { "puts" };
                    return Err(self.invalid(
                        &at.key(field),
                        format!(
                            "the last put writes a file of puts × line width = {puts} × {} = {last_put_bytes} bytes, \
                             at most {FILE_BYTES_MAX} (64 MiB) is allowed",
                            line_width(puts, line_bytes)
                        ),
                    ));
                }
                let reads_per_write = self.reads_per_write(table, at)?;
                Ok(Workload::MutablePuts { puts, line_bytes, reads_per_write })
            }
            WorkloadKind::MutableAppends => {
                let appends = required("appends", table.appends)?;
                self.at_least_one(&at.key("appends"), appends)?;
                self.at_most(&at.key("appends"), appends, MUTABLE_WRITES_MAX)?;
                let reads_per_write = self.reads_per_write(table, at)?;
                let writers_per_file = table.writers_per_file.unwrap_or(1);
                self.at_least_one(&at.key("writers_per_file"), writers_per_file)?;
                if writers_per_file > GATEWAYS_MAX {
                    return Err(self.invalid(
                        &at.key("writers_per_file"),
                        format!(
                            "must be at most {GATEWAYS_MAX} (the most gateways a grid has), got {writers_per_file}"
                        ),
                    ));
                }
                Ok(Workload::MutableAppends { appends, reads_per_write, writers_per_file })
            }
            WorkloadKind::Backups => {
                let files_field = at.key("files");
                let files = table.files.clone().ok_or_else(|| {
                    self.missing(&files_field, format!("required for {what} (it takes {})", allowed.join(", ")))
                })?;
                if files.is_empty() {
                    return Err(self.invalid(&files_field, "at least one backup is required"));
                }
                self.at_most(&files_field, files.len() as u64, BACKUPS_MAX)?;
                let file_bytes_step = table.file_bytes_step.unwrap_or(FILE_BYTES_STEP_DEFAULT);
                self.at_most(&at.key("file_bytes_step"), file_bytes_step, FILE_BYTES_MAX)?;
                for (i, count) in files.iter().enumerate() {
                    let field = files_field.index(i);
                    self.at_least_one(&field, *count)?;
                    self.at_most(&field, *count, FILES_PER_BACKUP_MAX)?;
                    // Files of 0, step, .. bytes: the last is the largest.
                    let largest = u128::from(*count - 1) * u128::from(file_bytes_step);
                    if largest > u128::from(FILE_BYTES_MAX) {
                        return Err(self.invalid(
                            &field,
                            format!(
                                "the largest file of this backup is (files - 1) × file_bytes_step = \
                                 {} × {file_bytes_step} = {largest} bytes, at most {FILE_BYTES_MAX} (64 MiB) \
                                 is allowed",
                                count - 1
                            ),
                        ));
                    }
                }
                Ok(Workload::Backups { files, file_bytes_step })
            }
        }
    }

    fn reads_per_write(&self, table: &WorkloadTable, at: &FieldPath) -> Result<u64, ScenarioError> {
        let reads = table.reads_per_write.unwrap_or(0);
        if reads > READS_PER_WRITE_MAX {
            return Err(
                self.invalid(&at.key("reads_per_write"), format!("must be at most {READS_PER_WRITE_MAX}, got {reads}"))
            );
        }
        Ok(reads)
    }

    /// `workload.operation`, with `workload.mix` when it is "mixed" (and only then).
    fn s3_operation(&self, table: &WorkloadTable, at: &FieldPath, what: &str) -> Result<S3Operation, ScenarioError> {
        let mix_field = at.key("mix");
        match (table.operation, &table.mix) {
            (None, _) => {
                Err(self.missing(&at.key("operation"), format!("required for {what} (\"put\", \"get\" or \"mixed\")")))
            }
            (Some(OperationName::Mixed), Some(mix)) => Ok(S3Operation::Mixed(self.operation_mix(mix, &mix_field)?)),
            (Some(OperationName::Mixed), None) => Err(self.missing(
                &mix_field,
                "required with operation = \"mixed\" (e.g. mix = { get = 0.4, put = 0.3, delete = 0.1, list = 0.2 })",
            )),
            (Some(_), Some(_)) => Err(self.misplaced(&mix_field, "only allowed with operation = \"mixed\"")),
            (Some(OperationName::Put), None) => Ok(S3Operation::Put),
            (Some(OperationName::Get), None) => Ok(S3Operation::Get),
        }
    }

    fn operation_mix(&self, table: &OperationMixTable, at: &FieldPath) -> Result<OperationMix, ScenarioError> {
        let weight = |name: &str, value: Option<f64>| {
            let value = value.unwrap_or(0.0);
            if value.is_finite() && value >= 0.0 {
                Ok(value)
            } else {
                Err(self.invalid(&at.key(name), format!("must be a finite number >= 0, got {value}")))
            }
        };
        let mix = OperationMix {
            get: weight("get", table.get)?,
            put: weight("put", table.put)?,
            delete: weight("delete", table.delete)?,
            list: weight("list", table.list)?,
        };
        if [mix.get, mix.put, mix.delete, mix.list].iter().all(|w| *w == 0.0) {
            return Err(self.invalid(at, "at least one of get, put, delete and list must weigh more than 0"));
        }
        Ok(mix)
    }

    fn at_least_one(&self, field: &FieldPath, value: u64) -> Result<(), ScenarioError> {
        if value == 0 {
            return Err(self.invalid(field, "must be at least 1, got 0"));
        }
        Ok(())
    }

    /// Refuses `value` above `max` (one of the bounds of `crate::bounds`).
    fn at_most(&self, field: &FieldPath, value: u64, max: u64) -> Result<(), ScenarioError> {
        if value > max {
            return Err(self.invalid(field, format!("must be at most {max}, got {value}")));
        }
        Ok(())
    }

    /// Refuses a workload whose stored bytes (`bounds::stored_bytes`) pass
    /// `STORED_BYTES_MAX`, at the field that sizes what it stores.
    fn stored_bytes(
        &self,
        workload: &Workload,
        lafs: Option<&LafsSpec>,
        table: &WorkloadTable,
        at: &FieldPath,
    ) -> Result<(), ScenarioError> {
        let bytes = stored_bytes(workload, lafs);
        if bytes <= u128::from(STORED_BYTES_MAX) {
            return Ok(());
        }
        let field = match workload {
            Workload::S3Requests { .. } => "object_bytes",
            Workload::MutablePuts { .. } if table.line_bytes.is_some() => "line_bytes",
            Workload::MutablePuts { .. } => "puts",
            Workload::MutableAppends { .. } => "appends",
            Workload::Backups { .. } => "files",
        };
        let grid = if lafs.is_some() { " (every gateway's files, in N shares of 1/k of each)" } else { "" };
        Err(self.invalid(
            &at.key(field),
            format!(
                "the workload would store about {bytes} bytes{grid}, at most {STORED_BYTES_MAX} (1 GiB) is allowed: \
                 the simulated S3 buckets hold every stored byte in memory"
            ),
        ))
    }

    /// Refuses `seeds` × operations per run above `OPERATION_RECORDS_MAX`
    /// (an estimate keeps every operation's latency and outcome).
    fn operation_records(
        &self,
        seeds: Given,
        workload: &Workload,
        lafs: Option<&LafsSpec>,
        field: &FieldPath,
    ) -> Result<(), ScenarioError> {
        let gateways = lafs.map_or(1, |lafs| u64::from(lafs.gateways));
        let per_run = workload.operations().saturating_mul(gateways);
        if seeds.value.saturating_mul(per_run) > OPERATION_RECORDS_MAX {
            return Err(self.invalid(
                field,
                format!(
                    "seeds × operations per run must be at most {OPERATION_RECORDS_MAX} (an estimate keeps each \
                     operation's latency and outcome), got {seeds} × {per_run}; at most {} seeds",
                    OPERATION_RECORDS_MAX / per_run.max(1)
                ),
            ));
        }
        Ok(())
    }

    // -----------------------------------------------------------------------
    // The Tahoe-LAFS grid

    /// `[lafs]`, which the workload kind requires or refuses.
    fn lafs(
        &self,
        table: Option<&LafsTable>,
        workload: WorkloadKind,
        at: &FieldPath,
    ) -> Result<Option<LafsSpec>, ScenarioError> {
        match (workload, table) {
            (WorkloadKind::S3Requests, None) => Ok(None),
            (WorkloadKind::S3Requests, Some(_)) => Err(self.misplaced(
                at,
                format!(
                    "not allowed with {} (it talks to S3 directly; [lafs] is for the workload kinds {})",
                    workload_what(workload),
                    lafs_kinds()
                ),
            )),
            (kind, None) => {
                Err(self.missing(at, format!("required for {} (it runs on a Tahoe-LAFS grid)", workload_what(kind))))
            }
            (_, Some(table)) => self.lafs_spec(table, at).map(Some),
        }
    }

    fn lafs_spec(&self, table: &LafsTable, at: &FieldPath) -> Result<LafsSpec, ScenarioError> {
        let k_field = at.key("shares_needed");
        let k = Given::new(table.shares_needed, SHARES_NEEDED_DEFAULT);
        if !(1..=255).contains(&k.value) {
            return Err(self.invalid(&k_field, format!("must be in 1..=255, got {k}")));
        }
        let n_field = at.key("shares_total");
        let n = Given::new(table.shares_total, SHARES_TOTAL_DEFAULT);
        if n.value < k.value {
            return Err(self.invalid(&n_field, format!("must be >= shares_needed ({k}), got {n}")));
        }
        if n.value > 255 {
            return Err(self.invalid(&n_field, format!("must be at most 255, got {n}")));
        }
        let servers_field = at.key("servers");
        let servers = Given::new(table.servers, SERVERS_DEFAULT);
        if servers.value == 0 {
            return Err(self.invalid(&servers_field, "must be at least 1, got 0"));
        }
        self.at_most(&servers_field, servers.value, SERVERS_MAX)?;
        // In range: checked above.
        let servers_u32 = u32::try_from(servers.value).unwrap_or(u32::MAX);
        let happy_field = at.key("servers_of_happiness");
        let happy = Given::new(table.servers_of_happiness, SERVERS_OF_HAPPINESS_DEFAULT);
        if happy.value == 0 {
            return Err(self.invalid(&happy_field, "must be at least 1, got 0"));
        }
        if happy.value > n.value {
            return Err(self.invalid(&happy_field, format!("must be at most shares_total ({n}), got {happy}")));
        }
        if happy.value > servers.value {
            return Err(self.invalid(&happy_field, format!("must be at most servers ({servers}), got {happy}")));
        }
        let rpc_timeout_ms = table.rpc_timeout_ms.unwrap_or(RPC_TIMEOUT_MS_DEFAULT);
        if rpc_timeout_ms == 0 {
            return Err(self.invalid(&at.key("rpc_timeout_ms"), "must be > 0 ms, got 0"));
        }
        self.at_most(&at.key("rpc_timeout_ms"), rpc_timeout_ms, DURATION_MS_MAX)?;
        let gateways = table.gateways.unwrap_or(1);
        if !(1..=GATEWAYS_MAX).contains(&gateways) {
            return Err(self.invalid(&at.key("gateways"), format!("must be in 1..={GATEWAYS_MAX}, got {gateways}")));
        }
        let gateway_budgets = match table.gateway_budgets {
            None | Some(BudgetScopeName::PerGateway) => BudgetScope::PerGateway,
            Some(BudgetScopeName::Shared) => BudgetScope::Shared,
        };
        let design = match &table.design {
            None => Design::default(),
            Some(design) => self.design(design, &at.key("design"))?,
        };
        let server_capacity = self.server_capacity(table, at)?;
        // In range: checked above (k, n and happy <= 255, servers <= u32::MAX).
        let small = |value: u64| u8::try_from(value).unwrap_or(u8::MAX);
        Ok(LafsSpec {
            shares_needed: small(k.value),
            shares_total: small(n.value),
            servers_of_happiness: small(happy.value),
            servers: servers_u32,
            rpc_timeout: Duration::from_millis(rpc_timeout_ms),
            // In range: checked above.
            gateways: u32::try_from(gateways).unwrap_or(u32::MAX),
            gateway_budgets,
            design,
            server_capacity,
        })
    }

    /// `lafs.server_concurrency_max`, `server_queue_max`,
    /// `server_queue_timeout_ms`: absent, a server admits every request at once.
    fn server_capacity(&self, table: &LafsTable, at: &FieldPath) -> Result<ServerCapacity, ScenarioError> {
        let slots_field = at.key("server_concurrency_max");
        if let Some(slots) = table.server_concurrency_max {
            if slots == 0 {
                return Err(self.invalid(&slots_field, "must be at least 1, got 0"));
            }
            self.at_most(&slots_field, slots, SERVER_QUEUE_MAX)?;
        }
        let needs_slots = |field: &str| {
            self.misplaced(
                &at.key(field),
                "needs lafs.server_concurrency_max (a queue forms only behind a concurrency limit)",
            )
        };
        if let Some(queue_max) = table.server_queue_max {
            if table.server_concurrency_max.is_none() {
                return Err(needs_slots("server_queue_max"));
            }
            self.at_most(&at.key("server_queue_max"), queue_max, SERVER_QUEUE_MAX)?;
        }
        if let Some(timeout_ms) = table.server_queue_timeout_ms {
            let field = at.key("server_queue_timeout_ms");
            if table.server_concurrency_max.is_none() {
                return Err(needs_slots("server_queue_timeout_ms"));
            }
            if timeout_ms == 0 {
                return Err(self.invalid(&field, "must be > 0 ms, got 0 (server_queue_max = 0 refuses any wait)"));
            }
            self.at_most(&field, timeout_ms, DURATION_MS_MAX)?;
        }
        // In range: checked above (at most SERVER_QUEUE_MAX).
        let count = |value: u64| u32::try_from(value).unwrap_or(u32::MAX);
        Ok(ServerCapacity {
            concurrency_max: table.server_concurrency_max.map(count),
            queue_max: table.server_queue_max.map(count),
            queue_timeout: table.server_queue_timeout_ms.map(Duration::from_millis),
        })
    }

    /// `[lafs.design]`: each switch absent is the safe choice.
    fn design(&self, table: &DesignTable, at: &FieldPath) -> Result<Design, ScenarioError> {
        let safe = Design::default();
        let chunk_field = at.key("chunk_bytes");
        let share_layout = match (table.share_layout.unwrap_or(ShareLayoutName::Whole), table.chunk_bytes) {
            (ShareLayoutName::Whole, None) => ShareLayout::Whole,
            (ShareLayoutName::Whole, Some(_)) => {
                let default = if table.share_layout.is_none() { " (share_layout is \"whole\" by default)" } else { "" };
                return Err(
                    self.misplaced(&chunk_field, format!("only allowed with share_layout = \"chunked\"{default}"))
                );
            }
            (ShareLayoutName::Chunked, Some(0)) => {
                return Err(self.invalid(&chunk_field, "must be > 0 bytes, got 0"));
            }
            (ShareLayoutName::Chunked, chunk_bytes) => {
                let chunk_bytes = chunk_bytes.unwrap_or(CHUNK_BYTES_DEFAULT);
                self.at_most(&chunk_field, chunk_bytes, FILE_BYTES_MAX)?;
                ShareLayout::Chunked { chunk_bytes }
            }
        };
        Ok(Design {
            share_layout,
            per_index_lock: table.per_index_lock.unwrap_or(safe.per_index_lock),
            listing: table.listing.map_or(safe.listing, |switch| switch.0),
            write_check: table.write_check.map_or(safe.write_check, |switch| switch.0),
            read_check: table.read_check.map_or(safe.read_check, |switch| switch.0),
            modify_retry: table.modify_retry.map_or(safe.modify_retry, |switch| switch.0),
        })
    }

    // -----------------------------------------------------------------------
    // Policies

    /// `[[policies]]`; `grid`: whether the workload runs on a Tahoe-LAFS
    /// grid (only then may a policy name a gateway layer).
    fn policies(
        &self,
        tables: Vec<PolicyTable>,
        grid: bool,
        at: &FieldPath,
    ) -> Result<Vec<NamedPolicy>, ScenarioError> {
        if tables.is_empty() {
            return Err(self.invalid(at, "at least one policy is required"));
        }
        let mut first_index: BTreeMap<String, usize> = BTreeMap::new();
        let mut policies = Vec::with_capacity(tables.len());
        for (i, table) in tables.into_iter().enumerate() {
            let policy_at = at.index(i);
            let (name, gateway, body) = table.split();
            if name.trim().is_empty() {
                return Err(self.invalid(&policy_at.key("name"), "must not be blank"));
            }
            if let Some(first) = first_index.insert(name.clone(), i) {
                return Err(self.invalid(
                    &policy_at.key("name"),
                    format!("duplicate policy name \"{name}\" (also the name of policies[{first}])"),
                ));
            }
            let config = self.policy(&body, &policy_at)?;
            let gateway_at = policy_at.key("gateway");
            let gateway = match gateway {
                None => None,
                Some(_) if !grid => {
                    return Err(self.misplaced(
                        &gateway_at,
                        "only allowed with a workload on a Tahoe-LAFS grid (an s3-requests workload has no gateway)",
                    ));
                }
                Some(table) => {
                    let config = self.policy(&table, &gateway_at)?;
                    if is_hedged(&config) {
                        return Err(self.invalid(
                            &gateway_at.key("kind"),
                            "a gateway does not hedge: hedging sends a request twice at once, and a whole put \
                             or backup sent twice is two writes racing each other (hedge S3 requests instead)",
                        ));
                    }
                    Some(config)
                }
            };
            policies.push(NamedPolicy { name, config, gateway });
        }
        Ok(policies)
    }

    /// One policy (a `[[policies]]` entry or an `inner` table at `at`): the
    /// published defaults of its kind, overridden by the fields given.
    fn policy(&self, table: &InnerPolicyTable, at: &FieldPath) -> Result<PolicyConfig, ScenarioError> {
        let kind = table.kind;
        let what = policy_what(kind);
        let allowed = kind.fields();
        let present = table.present();
        self.only_fields(at, &present, allowed, &what)?;
        let missing =
            |name: &str| self.missing(&at.key(name), format!("required for {what} (it takes {})", allowed.join(", ")));
        let ms = |given: Option<u64>, default: Duration| given.map_or(default, Duration::from_millis);
        // The wrapped policy, checked where it is written; `default` when absent
        // (`None`: the kind requires one).
        let inner = |default: Option<PolicyConfig>| match &table.inner {
            Some(inner) => self.policy(inner, &at.key("inner")).map(Box::new),
            None => default.map(Box::new).ok_or_else(|| missing("inner")),
        };
        let aws = |defaults: AwsRetryConfig| AwsRetryConfig {
            attempts_max: table.attempts_max.unwrap_or(defaults.attempts_max),
            initial_backoff: ms(table.initial_backoff_ms, defaults.initial_backoff),
            non_throttling_initial_backoff: ms(
                table.non_throttling_initial_backoff_ms,
                defaults.non_throttling_initial_backoff,
            ),
            max_backoff: ms(table.max_backoff_ms, defaults.max_backoff),
            quota_capacity: table.quota_capacity.unwrap_or(defaults.quota_capacity),
            retry_cost: table.retry_cost.unwrap_or(defaults.retry_cost),
            timeout_retry_cost: table.timeout_retry_cost.unwrap_or(defaults.timeout_retry_cost),
            throttling_retry_cost: table.throttling_retry_cost.unwrap_or(defaults.throttling_retry_cost),
            first_try_reward: table.first_try_reward.unwrap_or(defaults.first_try_reward),
        };
        let delays = |delays_ms: &[u64]| delays_ms.iter().map(|ms| Duration::from_millis(*ms)).collect();
        let config = match kind {
            PolicyKind::None => PolicyConfig::None,
            PolicyKind::Immediate => {
                PolicyConfig::Immediate { retries: table.retries.ok_or_else(|| missing("retries"))? }
            }
            PolicyKind::Schedule => PolicyConfig::Schedule {
                delays: delays(table.delays_ms.as_deref().ok_or_else(|| missing("delays_ms"))?),
            },
            PolicyKind::Exponential => PolicyConfig::Exponential {
                base: Duration::from_millis(table.base_ms.ok_or_else(|| missing("base_ms"))?),
                cap: Duration::from_millis(table.cap_ms.ok_or_else(|| missing("cap_ms"))?),
                attempts_max: table.attempts_max.ok_or_else(|| missing("attempts_max"))?,
                jitter: match table.jitter.unwrap_or(JitterName::Full) {
                    JitterName::None => Jitter::None,
                    JitterName::Full => Jitter::Full,
                    JitterName::Equal => Jitter::Equal,
                    JitterName::Decorrelated => Jitter::Decorrelated,
                },
            },
            PolicyKind::AwsStandard => PolicyConfig::AwsStandard(aws(AwsRetryConfig::v2_0())),
            PolicyKind::AwsStandardV2_1 => PolicyConfig::AwsStandard(aws(AwsRetryConfig::v2_1())),
            PolicyKind::AwsAdaptive => PolicyConfig::AwsAdaptive(aws(AwsRetryConfig::v2_0())),
            PolicyKind::ObjectStore => {
                let defaults = ObjectStoreConfig::default();
                PolicyConfig::ObjectStore(ObjectStoreConfig {
                    init_backoff: ms(table.init_backoff_ms, defaults.init_backoff),
                    max_backoff: ms(table.max_backoff_ms, defaults.max_backoff),
                    base: table.base.unwrap_or(defaults.base),
                    max_retries: table.max_retries.unwrap_or(defaults.max_retries),
                    retry_timeout: ms(table.retry_timeout_ms, defaults.retry_timeout),
                })
            }
            PolicyKind::GrpcThrottled => match PolicyConfig::grpc() {
                PolicyConfig::GrpcThrottled { inner: default_inner, max_tokens, token_ratio } => {
                    PolicyConfig::GrpcThrottled {
                        inner: inner(Some(*default_inner))?,
                        max_tokens: table.max_tokens.unwrap_or(max_tokens),
                        token_ratio: table.token_ratio.unwrap_or(token_ratio),
                    }
                }
                other => other,
            },
            PolicyKind::RetryBudget => match PolicyConfig::finagle() {
                PolicyConfig::RetryBudget { inner: default_inner, ttl, min_retries_per_sec, percent_can_retry } => {
                    PolicyConfig::RetryBudget {
                        inner: inner(Some(*default_inner))?,
                        ttl: ms(table.ttl_ms, ttl),
                        min_retries_per_sec: table.min_retries_per_sec.unwrap_or(min_retries_per_sec),
                        percent_can_retry: table.percent_can_retry.unwrap_or(percent_can_retry),
                    }
                }
                other => other,
            },
            PolicyKind::Hedged => {
                let delay = Duration::from_millis(table.delay_ms.ok_or_else(|| missing("delay_ms"))?);
                PolicyConfig::Hedged { inner: inner(Some(PolicyConfig::None))?, delay, quantile: table.quantile }
            }
            PolicyKind::TahoeCloud => match PolicyConfig::tahoe_cloud() {
                PolicyConfig::Tahoe { delays: default_delays, return_first_error } => PolicyConfig::Tahoe {
                    delays: table.delays_ms.as_deref().map_or(default_delays, delays),
                    return_first_error: table.return_first_error.unwrap_or(return_first_error),
                },
                other => other,
            },
            PolicyKind::Deadline => {
                let deadline = Duration::from_millis(table.deadline_ms.ok_or_else(|| missing("deadline_ms"))?);
                PolicyConfig::Deadline { inner: inner(None)?, deadline }
            }
            PolicyKind::CircuitBreaker => {
                let defaults = CircuitBreakerConfig::default();
                PolicyConfig::CircuitBreaker {
                    inner: inner(Some(PolicyConfig::aws_standard()))?,
                    breaker: CircuitBreakerConfig {
                        window: ms(table.window_ms, defaults.window),
                        minimum_calls: table.minimum_calls.unwrap_or(defaults.minimum_calls),
                        failure_rate_threshold: table.failure_rate_threshold.unwrap_or(defaults.failure_rate_threshold),
                        open: ms(table.open_ms, defaults.open),
                        half_open_calls: table.half_open_calls.unwrap_or(defaults.half_open_calls),
                    },
                }
            }
            PolicyKind::ClientThrottle => {
                let defaults = ClientThrottleConfig::default();
                PolicyConfig::ClientThrottle {
                    inner: inner(Some(PolicyConfig::aws_standard()))?,
                    throttle: ClientThrottleConfig {
                        window: ms(table.window_ms, defaults.window),
                        k: table.k.unwrap_or(defaults.k),
                    },
                }
            }
        };
        // The policy's field names are the file's (`cap_ms`, `max_backoff_ms`,
        // ...). A wrapper's inner policy passed its own check above, at its
        // own path, so what is left is about this level's fields.
        config.validate().map_err(|err| {
            let defaulted = present.iter().any(|(name, given)| *name == err.field && !given);
            let message =
                if defaulted { format!("{} (not given: the default of {what})", err.message) } else { err.message };
            self.invalid(&at.key(err.field), message)
        })?;
        Ok(config)
    }
}

/// Whether `config` hedges, at any depth of wrapping.
fn is_hedged(config: &PolicyConfig) -> bool {
    match config {
        PolicyConfig::Hedged { .. } => true,
        PolicyConfig::GrpcThrottled { inner, .. }
        | PolicyConfig::RetryBudget { inner, .. }
        | PolicyConfig::Deadline { inner, .. }
        | PolicyConfig::CircuitBreaker { inner, .. }
        | PolicyConfig::ClientThrottle { inner, .. } => is_hedged(inner),
        _ => false,
    }
}

/// `an "exponential" policy`, for messages.
fn policy_what(kind: PolicyKind) -> String {
    let article = if kind.name().starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} \"{}\" policy", kind.name())
}

/// `a "mutable-puts" workload`, for messages.
fn workload_what(kind: WorkloadKind) -> String {
    let article = if kind == WorkloadKind::S3Requests { "an" } else { "a" };
    format!("{article} \"{}\" workload", kind.name())
}

/// The workload kinds that run on a Tahoe-LAFS grid, quoted: `"a", "b" or "c"`.
fn lafs_kinds() -> String {
    let quoted: Vec<String> = WorkloadKind::NAMES
        .iter()
        .filter(|name| **name != WorkloadKind::S3Requests.name())
        .map(|name| format!("\"{name}\""))
        .collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// A value that may have come from a default, shown as `the default 7`
/// when it did, so that a message about a field the file lacks makes sense.
#[derive(Clone, Copy)]
struct Given {
    value: u64,
    defaulted: bool,
}

impl Given {
    fn new(value: Option<u64>, default: u64) -> Self {
        Given { value: value.unwrap_or(default), defaulted: value.is_none() }
    }
}

impl fmt::Display for Given {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.defaulted {
            f.write_str("the default ")?;
        }
        write!(f, "{}", self.value)
    }
}

/// `a "constant" latency`, for messages.
fn kind_what(kind: LatencyKind) -> String {
    let article = if matches!(kind, LatencyKind::Exponential | LatencyKind::Empirical) { "an" } else { "a" };
    format!("{article} \"{}\" latency", kind.name())
}

/// The text between `prefix` and the next backquote, if `message` starts so.
fn quoted_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?;
    rest.find('`').map(|end| &rest[..end])
}

// ---------------------------------------------------------------------------
// Syntax errors

/// A message for the syntax errors that toml leaves without one (a control
/// character, a value missing at the end of the file).
fn unexplained_syntax_error(source: &str, offset: Option<usize>) -> String {
    let rest = offset.and_then(|offset| source.get(offset..)).unwrap_or("");
    match rest.chars().next() {
        None => "unexpected end of file".to_owned(),
        Some(c) if c.is_control() => format!("invalid control character U+{:04X}", u32::from(c)),
        Some(c) => format!("invalid TOML at {c:?}"),
    }
}

/// Best-effort field path of the key on the line holding `offset` of a
/// file that does not parse: the last table header before it plus the bare
/// key of that line (or of the multi-line value it is part of). `None`
/// whenever a guess could be wrong (quoted keys, strange headers).
fn guess_field(source: &str, offset: usize) -> Option<String> {
    let (error_line, _) = line_column(source, offset);
    let mut table = String::new();
    let mut array_counts: BTreeMap<String, usize> = BTreeMap::new();
    // The key whose value continues on later lines (multi-line string or array).
    let mut open_key: Option<String> = None;
    let mut open = Open::default();
    for (index, line) in source.lines().enumerate() {
        let is_error_line = index + 1 == error_line;
        if open.is_open() {
            if is_error_line {
                return open_key;
            }
            open.scan(line);
            if !open.is_open() {
                open_key = None;
            }
            continue;
        }
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("[[") {
            let name = dotted_bare_key(rest.split("]]").next()?)?;
            let count = array_counts.entry(name.clone()).or_insert(0);
            table = format!("{name}[{count}]");
            *count += 1;
            if is_error_line {
                return Some(table);
            }
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            table = dotted_bare_key(rest.split(']').next()?)?;
            if is_error_line {
                return Some(table);
            }
            continue;
        }
        let key = trimmed.split_once('=').and_then(|(key, _)| dotted_bare_key(key));
        if is_error_line {
            let key = key?;
            return Some(if table.is_empty() { key } else { format!("{table}.{key}") });
        }
        if let (Some(key), Some((_, value))) = (key, trimmed.split_once('=')) {
            open.scan(value);
            if open.is_open() {
                open_key = Some(if table.is_empty() { key } else { format!("{table}.{key}") });
            }
        }
    }
    None
}

/// A dotted key of bare parts (`faults.mix`), normalised without spaces.
fn dotted_bare_key(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split('.').map(str::trim).collect();
    let bare =
        |part: &&str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    parts.iter().all(bare).then(|| parts.join("."))
}

/// What a value left open at the end of a line: brackets or a multi-line string.
#[derive(Default)]
struct Open {
    depth: usize,
    multiline: Option<&'static str>,
}

impl Open {
    fn is_open(&self) -> bool {
        self.depth > 0 || self.multiline.is_some()
    }

    /// Follows one line of value text (roughly: enough for a guess).
    fn scan(&mut self, line: &str) {
        let mut rest = line;
        while !rest.is_empty() {
            if let Some(delimiter) = self.multiline {
                match rest.find(delimiter) {
                    Some(end) => {
                        rest = &rest[end + delimiter.len()..];
                        self.multiline = None;
                    }
                    None => return,
                }
                continue;
            }
            if let Some(after) = rest.strip_prefix("\"\"\"") {
                self.multiline = Some("\"\"\"");
                rest = after;
                continue;
            }
            if let Some(after) = rest.strip_prefix("'''") {
                self.multiline = Some("'''");
                rest = after;
                continue;
            }
            let mut chars = rest.chars();
            let Some(c) = chars.next() else { return };
            rest = chars.as_str();
            match c {
                '#' => return,
                '[' | '{' => self.depth += 1,
                ']' | '}' => self.depth = self.depth.saturating_sub(1),
                '"' => rest = skip_string(rest, '"'),
                '\'' => rest = skip_string(rest, '\''),
                _ => {}
            }
        }
    }
}

/// The text after a one-line string's closing `quote` (basic strings escape with `\`).
fn skip_string(text: &str, quote: char) -> &str {
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' && quote == '"' {
            chars.next();
        } else if c == quote {
            return &text[i + c.len_utf8()..];
        }
    }
    ""
}
