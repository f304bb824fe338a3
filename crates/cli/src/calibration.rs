//! The fitter checked against known truth through the whole pipeline: a fault model run by
//! the simulator, its S3 requests written as an access log, the text read back and fitted as
//! `retrylab fit` fits it, and whether each 95% interval holds the true value.
//!
//! The integration test runs a few logs of each case on every `cargo test`; the example
//! `fit-calibration` runs many and draws the calibration plot of docs/fit.md.

use std::fmt;

use retrylab_fit::{FitOptions, Verdict};
use retrylab_harness::{run_seed, TraceMode};
use retrylab_logs::{read_log, ColumnMap, Format, Mode};

/// A fault model whose fit is checked, with the log it makes.
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrationCase {
    pub name: &'static str,
    pub truth: Truth,
    /// Requests in each log.
    pub requests: u64,
    /// Mean S3 latency: one client sends a request as soon as the last is answered, so this is
    /// the mean gap between requests.
    pub latency_ms_mean: u64,
    /// A stretch of the run in which every request fails, as `[start_s, end_s)`.
    pub outage_s: Option<(u64, u64)>,
}

/// The fault process a case simulates.
#[derive(Clone, Debug, PartialEq)]
pub enum Truth {
    Independent { failure_probability: f64 },
    GilbertElliott { good_mean_s: f64, bad_mean_s: f64, good_failure: f64, bad_failure: f64 },
}

impl Truth {
    /// The checked parameters and their true values, in the fit's units.
    pub fn parameters(&self) -> Vec<(&'static str, f64)> {
        match *self {
            Truth::Independent { failure_probability } => vec![("failure_probability", failure_probability)],
            Truth::GilbertElliott { good_mean_s, bad_mean_s, good_failure, bad_failure } => vec![
                ("good_mean_ms", good_mean_s * 1000.0),
                ("bad_mean_ms", bad_mean_s * 1000.0),
                ("good_failure", good_failure),
                ("bad_failure", bad_failure),
            ],
        }
    }

    fn faults_toml(&self) -> String {
        match *self {
            Truth::Independent { failure_probability } => {
                format!("kind = \"independent\"\nfailure_probability = {failure_probability}\n")
            }
            Truth::GilbertElliott { good_mean_s, bad_mean_s, good_failure, bad_failure } => format!(
                "kind = \"gilbert-elliott\"\ngood_mean_s = {good_mean_s:?}\nbad_mean_s = {bad_mean_s:?}\n\
                 good_failure = {good_failure}\nbad_failure = {bad_failure}\n"
            ),
        }
    }
}

/// The four cases of docs/fit.md: independent faults, short and long bursts, and short bursts
/// with a ten-minute outage. Each log spans several of its chain's cycles, so that a 95%
/// interval can be expected to be one.
pub fn cases() -> Vec<CalibrationCase> {
    let short = Truth::GilbertElliott { good_mean_s: 120.0, bad_mean_s: 6.0, good_failure: 0.005, bad_failure: 0.5 };
    vec![
        CalibrationCase {
            name: "independent",
            truth: Truth::Independent { failure_probability: 0.013 },
            requests: 3_000,
            latency_ms_mean: 500,
            outage_s: None,
        },
        CalibrationCase {
            name: "short-bursts",
            truth: short.clone(),
            requests: 3_000,
            latency_ms_mean: 500,
            outage_s: None,
        },
        CalibrationCase {
            name: "long-bursts",
            truth: Truth::GilbertElliott { good_mean_s: 900.0, bad_mean_s: 40.0, good_failure: 0.01, bad_failure: 0.3 },
            requests: 8_000,
            latency_ms_mean: 1_000,
            outage_s: None,
        },
        CalibrationCase {
            name: "short-bursts-with-outage",
            truth: short,
            requests: 4_000,
            latency_ms_mean: 500,
            outage_s: Some((1_000, 1_600)),
        },
    ]
}

impl CalibrationCase {
    /// The scenario that makes this case's logs: one client, sequential PUTs, no retry.
    pub fn scenario_toml(&self) -> String {
        let outage = match self.outage_s {
            Some((start, end)) => format!("outages = [{{ start_s = {start}, end_s = {end} }}]\n"),
            None => String::new(),
        };
        let latency = self.latency_ms_mean;
        format!(
            "name = \"calibration-{name}\"\nseeds = 1\n\n[limits]\nsimulated_time_s_max = {time_max}\n\
             events_max = {events_max}\n\n[network]\nlatency_ms = {{ kind = \"constant\", ms = 0 }}\n\n\
             [s3]\nconsistency = \"strong\"\nlatency_ms = {{ kind = \"normal\", mean_ms = {latency}, std_dev_ms = {sd} }}\n\n\
             [faults]\n{faults}ambiguous_fraction = 0.0\n{outage}\n[workload]\nkind = \"s3-requests\"\n\
             operations = {requests}\noperation = \"put\"\nobject_bytes = 16\nkeys = 1\n\n\
             [[policies]]\nname = \"none\"\nkind = \"none\"\n",
            name = self.name,
            time_max = self.requests * latency * 4 / 1000 + 3_600,
            events_max = self.requests * 50 + 10_000,
            sd = latency / 10,
            faults = self.truth.faults_toml(),
            requests = self.requests,
        )
    }
}

/// What one log's fit said about its truth.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundTrip {
    pub seed: u64,
    /// Per parameter of [`Truth::parameters`], in order: whether its interval held the truth.
    pub covered: Vec<bool>,
    pub verdict: Verdict,
    /// Whether a detected outage overlapped the scripted one (None: the case has none).
    pub outage_found: Option<bool>,
    /// Outages detected outside the scripted one.
    pub false_outages: usize,
}

/// Why a round trip could not be made (a defect of this module or of what it calls).
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrationError(pub String);

impl fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CalibrationError {}

/// Simulates `case` on `seed`, writes its access log, reads it back and fits it as `retrylab
/// fit` does (the chain refitted without outages when any are found).
pub fn round_trip(case: &CalibrationCase, seed: u64) -> Result<RoundTrip, CalibrationError> {
    let error = |what: &str, detail: &dyn fmt::Display| {
        CalibrationError(format!("{} seed {seed}: {what}: {detail}", case.name))
    };
    let path = std::path::PathBuf::from(format!("calibration-{}.toml", case.name));
    let scenario = retrylab_scenario::parse(&case.scenario_toml(), &path).map_err(|e| error("scenario", &e))?;
    let report = run_seed(&scenario, &scenario.policies[0], seed, TraceMode::Full).map_err(|e| error("run", &e))?;
    let (text, _) = crate::access_log::lines(&report, "calibration");
    let label = format!("{} seed {seed}", case.name);
    let parsed = read_log(text.as_bytes(), &label, Format::S3Access, &ColumnMap::default(), Mode::Strict)
        .map_err(|e| error("reading the log back", &e))?;
    let observations = crate::fit::observations(&parsed.requests);
    let (process, outages) =
        crate::fit::fault_process_and_outages(&observations, &FitOptions::default()).map_err(|e| error("fit", &e))?;
    let start_ms = parsed.requests.first().map_or(0, |request| request.time_ms);
    let scripted_ms = case.outage_s.map(|(start, end)| {
        // The log's times count from its first request; the outage's from the run's start.
        let origin_ms = (start_ms - crate::access_log::EPOCH_MS) as f64;
        (start as f64 * 1000.0 - origin_ms, end as f64 * 1000.0 - origin_ms)
    });
    let overlaps = |outage: &retrylab_fit::DetectedOutage, (start, end): (f64, f64)| {
        outage.start_ms < end && outage.end_ms >= start
    };
    let outage_found = scripted_ms.map(|window| outages.outages.iter().any(|outage| overlaps(outage, window)));
    let false_outages =
        outages.outages.iter().filter(|outage| scripted_ms.is_none_or(|window| !overlaps(outage, window))).count();
    let model = outages.refit.as_ref().unwrap_or(&process);
    let covered = match &case.truth {
        Truth::Independent { failure_probability } => {
            let interval = &model.independent.interval;
            vec![interval.low <= *failure_probability && *failure_probability <= interval.high]
        }
        truth @ Truth::GilbertElliott { .. } => {
            let intervals = model.gilbert_elliott.as_ref().and_then(|chain| chain.intervals.as_ref());
            let Some(intervals) = intervals else {
                return Err(error("fit", &"the chain was fitted without intervals"));
            };
            intervals
                .as_array()
                .iter()
                .zip(truth.parameters())
                .map(|(interval, (_, value))| interval.contains(value))
                .collect()
        }
    };
    Ok(RoundTrip { seed, covered, verdict: model.verdict, outage_found, false_outages })
}

/// The round trips of one case over consecutive seeds, counted.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseCalibration {
    pub case: CalibrationCase,
    pub first_seed: u64,
    pub logs: u64,
    /// Per parameter of [`Truth::parameters`]: logs whose interval held the truth.
    pub covered: Vec<u64>,
    /// Logs the fit called bursty (by AIC).
    pub bursty: u64,
    /// Logs in which the scripted outage was found (0 when the case has none).
    pub outages_found: u64,
    /// Outages detected where none was scripted, over all logs.
    pub false_outages: u64,
}

impl CaseCalibration {
    /// Each parameter's coverage with its 95% Clopper-Pearson interval, as the plot draws it.
    pub fn rows(&self) -> Vec<retrylab_plot::CoverageRow> {
        self.case
            .truth
            .parameters()
            .into_iter()
            .zip(&self.covered)
            .map(|((parameter, _), &covered)| {
                let interval = retrylab_stats::clopper_pearson(covered, self.logs, 0.95);
                retrylab_plot::CoverageRow {
                    case: self.case.name.to_owned(),
                    parameter: parameter.to_owned(),
                    covered,
                    logs: self.logs,
                    low: interval.low,
                    high: interval.high,
                }
            })
            .collect()
    }
}

/// Round trips of `case` on seeds `first_seed..first_seed + logs`, fitted in parallel (the
/// counts do not depend on the order).
pub fn calibrate(case: &CalibrationCase, first_seed: u64, logs: u64) -> Result<CaseCalibration, CalibrationError> {
    use rayon::prelude::*;
    let trips: Vec<RoundTrip> =
        (first_seed..first_seed + logs).into_par_iter().map(|seed| round_trip(case, seed)).collect::<Result<_, _>>()?;
    let mut covered = vec![0u64; case.truth.parameters().len()];
    for trip in &trips {
        for (count, &held) in covered.iter_mut().zip(&trip.covered) {
            *count += u64::from(held);
        }
    }
    Ok(CaseCalibration {
        case: case.clone(),
        first_seed,
        logs,
        covered,
        bursty: trips.iter().filter(|trip| trip.verdict == Verdict::Bursty).count() as u64,
        outages_found: trips.iter().filter(|trip| trip.outage_found == Some(true)).count() as u64,
        false_outages: trips.iter().map(|trip| trip.false_outages as u64).sum(),
    })
}
