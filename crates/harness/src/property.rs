//! [`Property`]: "no run ever breaks an invariant" as a proptest over fault
//! models, workload sizes, policy parameters and seeds; a failure is shrunk
//! to a minimal case and written as a scenario file `retrylab run` replays.

use std::fmt;
use std::path::{Path, PathBuf};

use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner};
use retrylab_scenario::Scenario;

use retrylab_sim::{RunError, WallBudget};

use crate::runner::RunTimeout;
use crate::strategies::{case, Case, Variation};
use crate::workload::run_seed_within;
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
    timeout: Option<RunTimeout>,
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
    /// A case ran out of its wall-clock budget (the message names its seed).
    TimedOut(String),
}

impl fmt::Display for PropertyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyError::Scenario(message) => write!(f, "{message}"),
            PropertyError::UnknownPolicy(name) => write!(f, "no policy named {name:?} in the scenario"),
            PropertyError::Aborted(reason) => write!(f, "proptest aborted: {reason}"),
            PropertyError::TimedOut(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for PropertyError {}

impl Property {
    /// A property test of the scenario in `path`.
    pub fn scenario(path: impl AsRef<Path>) -> Property {
        Property::with(crate::check::load_for_test(path.as_ref()))
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
            failures_dir: crate::nightly::default_failures_dir(),
            regressions: None,
            timeout: None,
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

    /// Cases to generate [default 64]. `RETRYLAB_CASES` in the environment
    /// replaces it in [`Property::run`], for a nightly run.
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

    /// Where failing cases are written [default: `RETRYLAB_FAILURES_DIR` if
    /// set, else `retrylab-failures` in the cargo target directory the test
    /// was built in (`target/retrylab-failures`, where a CI job can keep it
    /// as an artifact), else in the system's temporary directory].
    pub fn write_failures_to(mut self, dir: impl Into<PathBuf>) -> Property {
        self.failures_dir = dir.into();
        self
    }

    /// A wall-clock budget per case [default: none]: a case past it ends
    /// the property test with [`PropertyError::TimedOut`], naming its seed
    /// (a slow case is not a broken invariant, and is not shrunk).
    pub fn timeout(mut self, timeout: RunTimeout) -> Property {
        self.timeout = Some(timeout);
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
        // The first case out of wall-clock time; the cases after it pass
        // without running, so proptest ends at once.
        let timed_out: std::cell::RefCell<Option<RunError>> = std::cell::RefCell::new(None);
        let outcome = runner.run(&strategy, |case| {
            if timed_out.borrow().is_some() {
                return Ok(());
            }
            let budget = self.timeout.map(|timeout| timeout.start());
            match run_case(&case, budget) {
                Err(CaseError::TimedOut(error)) => {
                    *timed_out.borrow_mut() = Some(error);
                    Ok(())
                }
                Err(CaseError::Broken(reason)) => Err(TestCaseError::fail(reason)),
                Ok(()) => Ok(()),
            }
        });
        if let Some(error) = timed_out.into_inner() {
            return Err(PropertyError::TimedOut(error.to_string()));
        }
        match outcome {
            Ok(()) => Ok(None),
            Err(TestError::Abort(reason)) => Err(PropertyError::Aborted(reason.to_string())),
            Err(TestError::Fail(reason, case)) => Ok(Some(self.failure(case, reason.to_string()))),
        }
    }

    /// Runs the cases and panics with the shrunk failing case's file and
    /// replay command if one breaks an invariant: for `#[test]` functions.
    ///
    /// `RETRYLAB_CASES` in the environment replaces the number of cases
    /// (`evaluate` keeps the number given: the CLI's `--cases` is not
    /// overridden).
    pub fn run(mut self) {
        match crate::nightly::count_from_env(crate::nightly::CASES_VAR) {
            Ok(Some(cases)) => self.cases = u32::try_from(cases).unwrap_or(u32::MAX),
            Ok(None) => {}
            Err(message) => panic!("the property test could not run: {message}"),
        }
        match self.evaluate() {
            Ok(None) => {}
            Ok(Some(failure)) => panic!("{failure}"),
            Err(error) => panic!("the property test could not run: {error}"),
        }
    }

    /// Writes the shrunk case (never over an existing file: `-2`, `-3`, ...
    /// are appended to the name) and builds the report.
    fn failure(&self, mut case: Case, reason: String) -> PropertyFailure {
        // The base's description no longer fits the shrunk case.
        case.scenario.description = format!("A minimal case shrunk by proptest from {}.", case.scenario.path.display());
        let policy = case.policy().name.clone();
        let stem = format!("{}-{}-seed-{}", file_safe(&case.scenario.name), file_safe(&policy), case.seed);
        let text_for = |file: &Path| {
            let reproduce = crate::explore::run_command(file, &policy, case.seed);
            let comment = format!(
                "A case proptest shrank from {} that breaks an invariant:\n  {reason}\nReplay it with:\n  {reproduce}",
                case.scenario.path.display()
            );
            retrylab_scenario::to_toml_with_comment(&case.scenario, &comment)
        };
        match write_new(&self.failures_dir, &stem, text_for) {
            Ok(file) => {
                let reproduce = crate::explore::run_command(&file, &policy, case.seed);
                PropertyFailure { case, reason, file: Some(file), write_error: None, reproduce }
            }
            Err(error) => {
                let file = self.failures_dir.join(format!("{stem}.toml"));
                let reproduce = crate::explore::run_command(&file, &policy, case.seed);
                PropertyFailure { case, reason, file: None, write_error: Some(error), reproduce }
            }
        }
    }
}

/// Runs one case: `Err` with what broke if a checker found a violation or
/// the run hit a limit.
pub fn check_case(case: &Case) -> Result<(), String> {
    run_case(case, None).map_err(|error| match error {
        CaseError::Broken(reason) => reason,
        CaseError::TimedOut(error) => error.to_string(),
    })
}

/// Why a case did not pass.
enum CaseError {
    /// A violation, or a simulated limit hit: the property is broken.
    Broken(String),
    /// The wall-clock budget ran out: nothing is known about the property.
    TimedOut(RunError),
}

fn run_case(case: &Case, budget: Option<WallBudget>) -> Result<(), CaseError> {
    let report = match run_seed_within(&case.scenario, case.policy(), case.seed, TraceMode::HashOnly, budget) {
        Ok(report) => report,
        Err(error @ RunError::WallTimeLimit { .. }) => return Err(CaseError::TimedOut(error)),
        Err(error) => return Err(CaseError::Broken(error.to_string())),
    };
    match report.violations.first() {
        None => Ok(()),
        Some(first) => Err(CaseError::Broken(format!(
            "{} violation{}; first: {}: {}",
            report.violations.len(),
            if report.violations.len() == 1 { "" } else { "s" },
            first.invariant,
            first.detail
        ))),
    }
}

/// `name` with anything but letters, digits, `-` and `_` replaced by `_`.
fn file_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// Numbered names tried (`stem.toml`, `stem-2.toml`, ...) before giving up.
const NUMBERED_FILES_MAX: u32 = 1000;

/// Writes a new file `dir/stem.toml` (or `stem-2.toml`, ... if taken) whole
/// or not at all, and returns its path: the text (which may name the file)
/// goes to a temporary file beside it, then is linked to the name, which
/// fails rather than replace a file that exists.
fn write_new(dir: &Path, stem: &str, text_for: impl Fn(&Path) -> String) -> Result<PathBuf, String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{} is not a directory: name a directory for the shrunk cases", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|error| format!("{}: cannot create the directory: {error}", dir.display()))?;
    for n in 1..=NUMBERED_FILES_MAX {
        let name = if n == 1 { format!("{stem}.toml") } else { format!("{stem}-{n}.toml") };
        let file = dir.join(name);
        if file.exists() {
            continue;
        }
        let temporary = dir.join(format!(".{stem}-{}.toml.partial", std::process::id()));
        let written = std::fs::write(&temporary, text_for(&file)).and_then(|()| std::fs::hard_link(&temporary, &file));
        let _ = std::fs::remove_file(&temporary);
        match written {
            Ok(()) => return Ok(file),
            // Taken since the check: try the next number.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(format!("{}: {error}", file.display())),
        }
    }
    Err(format!("{}: {stem}.toml and {NUMBERED_FILES_MAX} numbered copies exist already", dir.display()))
}
