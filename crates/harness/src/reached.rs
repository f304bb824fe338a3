//! Which of a scenario's scripted disruptions (outages, crashes, partitions)
//! its runs reached, and warnings about those none did: a fast workload
//! with `start_s = 60` never meets its outage, and a comparison of
//! policies under it measures nothing.

use retrylab_scenario::Scenario;
use serde::{Deserialize, Serialize};

use crate::report::RunReport;

/// What runs of a scenario met of its scripted disruptions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DisruptionsReached {
    /// S3 requests that arrived inside each `[[faults.outages]]` entry,
    /// summed over the runs, in the file's order.
    pub outage_requests: Vec<u64>,
    /// The longest run in simulated seconds: a crash or partition starting
    /// later was reached by none.
    pub longest_run_s: f64,
    /// The runs drew their own fault models per seed (swarm mode), so the
    /// scenario's outages were not run as written and are not judged.
    pub swarm: bool,
}

impl DisruptionsReached {
    /// Summed over `reports` (one run or many seeds of one policy).
    pub fn of_runs(reports: &[RunReport], swarm: bool) -> Self {
        let mut reached = DisruptionsReached { swarm, ..DisruptionsReached::default() };
        for report in reports {
            reached.add(report);
        }
        reached
    }

    /// Adds one run (runs stream in, seed by seed).
    pub fn add(&mut self, report: &RunReport) {
        let outages = &mut self.outage_requests;
        outages.resize(outages.len().max(report.outage_requests.len()), 0);
        for (sum, count) in outages.iter_mut().zip(&report.outage_requests) {
            *sum = sum.saturating_add(*count);
        }
        self.longest_run_s = self.longest_run_s.max(report.simulated_time.as_secs_f64());
    }

    /// Adds what other runs of the same scenario met (another shard's seeds).
    pub fn merge(&mut self, other: &DisruptionsReached) {
        let outages = &mut self.outage_requests;
        outages.resize(outages.len().max(other.outage_requests.len()), 0);
        for (sum, count) in outages.iter_mut().zip(&other.outage_requests) {
            *sum = sum.saturating_add(*count);
        }
        self.longest_run_s = self.longest_run_s.max(other.longest_run_s);
    }
}

/// Warnings, one sentence each naming its field, about the disruptions of
/// `scenario` that the runs summarised in `reached` never met: an outage
/// no request arrived in, a crash or partition starting after the longest
/// run ended. The CLI prints them after a run, an estimate or a comparison
/// (`PolicyEstimate::disruptions_reached` holds one per policy).
pub fn warnings_after_run(scenario: &Scenario, reached: &DisruptionsReached) -> Vec<String> {
    let ended = reached.longest_run_s;
    let mut warnings = Vec::new();
    if !reached.swarm {
        for (i, outage) in scenario.faults.outages.iter().enumerate() {
            if reached.outage_requests.get(i).copied().unwrap_or(0) > 0 {
                continue;
            }
            let start_s = outage.start_ms as f64 / 1000.0;
            let why = if ended <= start_s {
                format!("the run ended at {ended:.1} s")
            } else {
                format!("no request arrived in [{start_s}, {}) s", outage.end_ms as f64 / 1000.0)
            };
            warnings.push(format!("faults.outages[{i}]: the outage at {start_s} s was never reached ({why})"));
        }
    }
    for (i, crash) in scenario.disruptions.crashes.iter().enumerate() {
        let at_s = crash.at.as_secs_f64();
        if at_s >= ended {
            warnings.push(format!(
                "faults.crashes[{i}]: the crash of {} at {at_s} s was never reached (the run ended at {ended:.1} s)",
                crash.node
            ));
        }
    }
    for (i, partition) in scenario.disruptions.partitions.iter().enumerate() {
        let start_s = partition.start.as_secs_f64();
        if start_s >= ended {
            warnings.push(format!(
                "faults.partitions[{i}]: the partition at {start_s} s was never reached (the run ended at {ended:.1} s)"
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use retrylab_sim::TraceMode;

    use super::*;
    use crate::workload::run_seed;

    fn scenario(text: &str) -> Scenario {
        retrylab_scenario::parse(text, Path::new("reached.toml")).unwrap_or_else(|err| panic!("{err}"))
    }

    /// 100 PUTs of 20 ms each: the run ends at about 2 s.
    const FAST: &str = r#"name = "fast"
[faults]
kind = "none"
[[faults.outages]]
start_s = 0.5
end_s = 1.0
[[faults.outages]]
start_s = 60
end_s = 70
[workload]
kind = "s3-requests"
operations = 100
operation = "put"
[[policies]]
name = "none"
kind = "none"
"#;

    /// Issue 9: a fast workload and `start_s = 60` silently never met its
    /// outage. The run counts the requests inside each outage, and the
    /// unreached one is named.
    #[test]
    fn an_outage_after_the_run_ended_is_named() {
        let scenario = scenario(FAST);
        let report = run_seed(&scenario, &scenario.policies[0], 1, TraceMode::HashOnly).unwrap();
        // 20 ms a request: 25 of them arrive in [0.5, 1.0) s.
        assert_eq!(report.outage_requests, [25, 0]);
        let reached = DisruptionsReached::of_runs(std::slice::from_ref(&report), false);
        let warnings = warnings_after_run(&scenario, &reached);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("faults.outages[1]: the outage at 60 s was never reached (the run ended at 2.0 s)"),
            "{warnings:?}"
        );
        // In swarm mode the seeds ran their own outages: nothing to say about the file's.
        assert!(warnings_after_run(&scenario, &DisruptionsReached { swarm: true, ..reached }).is_empty());
    }

    #[test]
    fn counts_add_up_over_seeds() {
        let mut one = crate::report::RunReport::empty(1, "none");
        one.outage_requests = vec![1, 0];
        one.simulated_time = std::time::Duration::from_secs(3);
        let mut two = one.clone();
        two.outage_requests = vec![2, 5];
        two.simulated_time = std::time::Duration::from_secs(5);
        let reached = DisruptionsReached::of_runs(&[one, two], false);
        assert_eq!(reached, DisruptionsReached { outage_requests: vec![3, 5], longest_run_s: 5.0, swarm: false });
    }

    #[test]
    fn crashes_and_partitions_after_the_longest_run_are_named() {
        let scenario = scenario(
            r#"name = "grid"
[faults]
kind = "none"
[[faults.crashes]]
node = "storage-server.1"
at_s = 50
down_s = 1
[[faults.crashes]]
node = "storage-server.2"
at_s = 1
down_s = 1
[[faults.partitions]]
between = [["gateway.0"], ["storage-server.0"]]
start_s = 40
duration_s = 1
[workload]
kind = "mutable-puts"
puts = 3
[lafs]
[[policies]]
name = "none"
kind = "none"
"#,
        );
        let reached = DisruptionsReached { outage_requests: Vec::new(), longest_run_s: 12.34, swarm: false };
        assert_eq!(
            warnings_after_run(&scenario, &reached),
            [
                "faults.crashes[0]: the crash of storage-server.1 at 50 s was never reached (the run ended at 12.3 s)",
                "faults.partitions[0]: the partition at 40 s was never reached (the run ended at 12.3 s)",
            ]
        );
    }
}
