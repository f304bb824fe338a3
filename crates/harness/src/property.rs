//! [`Property`]: "no run ever breaks an invariant" as a proptest over fault
//! models, workload sizes, policy parameters and seeds; a failure is shrunk
//! to a minimal case and written as a scenario file `retrylab run` replays.

use std::fmt;
use std::path::{Path, PathBuf};

use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner};
use retrylab_scenario::Scenario;

use crate::strategies::{case, Case, Variation};
use crate::workload::run_seed;
use crate::TraceMode;

/// A property test of one scenario's policy against the invariant checkers.
///
/// ```no_run
/// use retrylab_harness::{Property, Variation};
///
/// Property::scenario("sim-scenarios/policies/mutable-bursty.toml")
///     .policy("aws-standard")
///     .vary(Variation { operations: Some(1..=30), ..Variation::default() })
///     .cases(64)
///     .run(); // panics with the shrunk case's file and replay command
/// ```
pub struct Property {
    scenario: Result<Scenario, String>,
    policy: Option<String>,
    variation: Variation,
    cases: u32,
    /// proptest's own seed: fixed, so a test run is the same every time.
    proptest_seed: u64,
    shrink_iterations_max: u32,
    failures_dir: PathBuf,
    regressions: Option<&'static str>,
}

/// A case that broke an invariant (or could not run), shrunk.
#[derive(Clone, Debug)]
pub struct PropertyFailure {
    /// The minimal case proptest found.
    pub case: Case,
    /// What went wrong: the violations, or the run's error.
    pub reason: String,
    /// The scenario file written for the case.
    pub file: Option<PathBuf>,
    /// Why the file could not be written, if it could not.
    pub write_error: Option<String>,
    /// `retrylab run FILE --seed S --policy P`.
    pub reproduce: String,
}

impl fmt::Display for PropertyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invariant broken (shrunk case, seed {}, policy {}):", self.case.seed, self.case.policy().name)?;
        writeln!(f, "  {}", self.reason)?;
        match (&self.file, &self.write_error) {
            (Some(file), _) => writeln!(f, "  case written to {}", file.display())?,
            (None, Some(error)) => writeln!(f, "  the case could not be written: {error}")?,
            (None, None) => {}
        }
        write!(f, "  replay: {}", self.reproduce)
    }
}

/// Why a property test could not run at all.
#[derive(Clone, Debug, PartialEq)]
pub enum PropertyError {
    Scenario(String),
    UnknownPolicy(String),
    /// proptest gave up (e.g. too many rejected cases).
    Aborted(String),
}

impl fmt::Display for PropertyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyError::Scenario(message) => write!(f, "{message}"),
            PropertyError::UnknownPolicy(name) => write!(f, "no policy named {name:?} in the scenario"),
            PropertyError::Aborted(reason) => write!(f, "proptest aborted: {reason}"),
        }
    }
}

impl std::error::Error for PropertyError {}

impl Property {
    /// A property test of the scenario in `path`.
    pub fn scenario(path: impl AsRef<Path>) -> Property {
        Property::with(retrylab_scenario::load(path.as_ref()).map_err(|error| error.to_string()))
    }

    /// A property test of a scenario built in code.
    pub fn from_scenario(scenario: Scenario) -> Property {
        Property::with(Ok(scenario))
    }

    fn with(scenario: Result<Scenario, String>) -> Property {
        Property {
            scenario,
            policy: None,
            variation: Variation::default(),
            cases: 64,
            proptest_seed: 0,
            shrink_iterations_max: 512,
            failures_dir: std::env::temp_dir().join("retrylab-failures"),
            regressions: None,
        }
    }

    /// The policy to test, by name [default: the scenario's first].
    pub fn policy(mut self, name: &str) -> Property {
        self.policy = Some(name.to_owned());
        self
    }

    /// What varies from case to case [default: `Variation::default()`].
    pub fn vary(mut self, variation: Variation) -> Property {
        self.variation = variation;
        self
    }

    /// Cases to generate [default 64].
    pub fn cases(mut self, cases: u32) -> Property {
        self.cases = cases;
        self
    }

    /// The seed of proptest's own generator [default 0]. Fixed, so that a
    /// test finds the same cases on every machine; change it to look elsewhere.
    pub fn proptest_seed(mut self, seed: u64) -> Property {
        self.proptest_seed = seed;
        self
    }

    /// Where failing cases are written [default: `retrylab-failures` in the
    /// system's temporary directory]. Integration tests can pass
    /// `env!("CARGO_TARGET_TMPDIR")`.
    pub fn write_failures_to(mut self, dir: impl Into<PathBuf>) -> Property {
        self.failures_dir = dir.into();
        self
    }

    /// proptest's regression file (commit it): failing cases found before
    /// are tried first. proptest wants a `&'static str`, e.g.
    /// `concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/mine.txt")`.
    pub fn regressions(mut self, file: &'static str) -> Property {
        self.regressions = Some(file);
        self
    }

    /// Runs the cases; `Ok(None)` if every one held, `Ok(Some(failure))`
    /// with the shrunk case (already written to a file) if one did not.
    pub fn evaluate(&self) -> Result<Option<PropertyFailure>, PropertyError> {
        let base = self.scenario.as_ref().map_err(|message| PropertyError::Scenario(message.clone()))?;
        let policy = match &self.policy {
            Some(name) => base.policy(name).ok_or_else(|| PropertyError::UnknownPolicy(name.clone()))?,
            None => base.policies.first().ok_or_else(|| PropertyError::UnknownPolicy(String::new()))?,
        };
        let config = Config {
            cases: self.cases,
            max_shrink_iters: self.shrink_iterations_max,
            rng_seed: RngSeed::Fixed(self.proptest_seed),
            failure_persistence: self.regressions.map(|file| Box::new(FileFailurePersistence::Direct(file)) as Box<_>),
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        let strategy = case(base, policy, &self.variation);
        match runner.run(&strategy, |case| check_case(&case).map_err(TestCaseError::fail)) {
            Ok(()) => Ok(None),
            Err(TestError::Abort(reason)) => Err(PropertyError::Aborted(reason.to_string())),
            Err(TestError::Fail(reason, case)) => Ok(Some(self.failure(case, reason.to_string()))),
        }
    }

    /// Runs the cases and panics with the shrunk failing case's file and
    /// replay command if one breaks an invariant: for `#[test]` functions.
    pub fn run(self) {
        match self.evaluate() {
            Ok(None) => {}
            Ok(Some(failure)) => panic!("{failure}"),
            Err(error) => panic!("the property test could not run: {error}"),
        }
    }

    /// Writes the shrunk case and builds the report.
    fn failure(&self, mut case: Case, reason: String) -> PropertyFailure {
        // The base's description no longer fits the shrunk case.
        case.scenario.description = format!("A minimal case shrunk by proptest from {}.", case.scenario.path.display());
        let policy = case.policy().name.clone();
        let stem = format!("{}-{}-seed-{}", file_safe(&case.scenario.name), file_safe(&policy), case.seed);
        let file = self.failures_dir.join(format!("{stem}.toml"));
        let reproduce = format!("retrylab run {} --seed {} --policy {policy}", file.display(), case.seed);
        let comment = format!(
            "A case proptest shrank from {} that breaks an invariant:\n  {reason}\nReplay it with:\n  {reproduce}",
            case.scenario.path.display()
        );
        let text = retrylab_scenario::to_toml_with_comment(&case.scenario, &comment);
        match write_whole(&file, &text) {
            Ok(()) => PropertyFailure { case, reason, file: Some(file), write_error: None, reproduce },
            Err(error) => PropertyFailure {
                case,
                reason,
                file: None,
                write_error: Some(format!("{}: {error}", file.display())),
                reproduce,
            },
        }
    }
}

/// Runs one case: `Err` with what broke if a checker found a violation or
/// the run hit a limit.
pub fn check_case(case: &Case) -> Result<(), String> {
    let report = run_seed(&case.scenario, case.policy(), case.seed, TraceMode::HashOnly).map_err(|e| e.to_string())?;
    match report.violations.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "{} violation{}; first: {}: {}",
            report.violations.len(),
            if report.violations.len() == 1 { "" } else { "s" },
            first.invariant,
            first.detail
        )),
    }
}

/// `name` with anything but letters, digits, `-` and `_` replaced by `_`.
fn file_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// Writes `text` to `path` whole or not at all: a temporary file beside it,
/// then a rename.
fn write_whole(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("toml.partial");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}
