//! The tables of a report, once for HTML and Markdown: each column named by its `--json`
//! field, each number cell with its exact value beside the rounded text.

use retrylab_harness::{Best, Finding, PairComparison, PolicyEstimate};

use crate::Results;

/// One cell: what a person reads, and for numbers the exact value as JSON would print it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub value: Option<String>,
}

impl Cell {
    fn text(text: impl Into<String>) -> Self {
        Cell { text: text.into(), value: None }
    }

    fn count(n: u64) -> Self {
        Cell { text: n.to_string(), value: Some(n.to_string()) }
    }

    /// A number rounded to `digits` decimals for reading.
    fn fixed(x: f64, digits: usize) -> Self {
        Cell { text: format!("{x:.digits$}"), value: Some(exact(x)) }
    }

    /// A rate as a percentage: three decimals (`1.297%`), or two significant digits for
    /// rates below 0.1% (`0.0021%`), so a small interval bound does not print as zero.
    fn percent(rate: f64) -> Self {
        let percent = rate * 100.0;
        let digits = if percent > 0.0 && percent < 0.1 { ((-percent.log10()).ceil() as usize + 1).min(12) } else { 3 };
        Cell { text: format!("{percent:.digits$}%"), value: Some(exact(rate)) }
    }

    fn flag(b: bool) -> Self {
        Cell { text: if b { "yes" } else { "no" }.to_owned(), value: Some(b.to_string()) }
    }
}

/// The shortest text that reads back as `x` (what JSON prints, for finite numbers).
fn exact(x: f64) -> String {
    format!("{x:?}")
}

/// A column: its `--json` field name (the key of each row's object) and its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub key: &'static str,
    pub header: &'static str,
}

/// A table: an id for the page's anchors and tests, a caption, columns and rows of cells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// The `--json` array the rows come from (`policies`, `pairs`, `best`, `violations`).
    pub id: &'static str,
    pub caption: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

const fn column(key: &'static str, header: &'static str) -> Column {
    Column { key, header }
}

/// Every table of the results, in the order the page shows them.
pub fn tables(results: &Results<'_>) -> Vec<Table> {
    match *results {
        Results::Estimate(e) => vec![policy_table(&e.policies, e.confidence)],
        Results::Comparison(c) => {
            vec![
                policy_table(&c.policies, c.confidence),
                pair_table(&c.pairs, c.p_value_correction),
                best_table(&c.best),
            ]
        }
        Results::Exploration(x) => vec![violation_table(&x.violations)],
    }
}

fn policy_table(policies: &[PolicyEstimate], confidence: f64) -> Table {
    let columns = vec![
        column("policy", "policy"),
        column("seeds", "seeds"),
        column("operations", "operations"),
        column("failures", "failed"),
        column("failure_rate", "failure rate"),
        column("ci_low", "interval low"),
        column("ci_high", "interval high"),
        column("design_effect", "deff"),
        column("attempts_per_op", "attempts / op"),
        column("latency_ms_p50", "p50 (ms)"),
        column("latency_ms_p99", "p99 (ms)"),
        column("latency_ms_p999", "p99.9 (ms)"),
        column("latency_ms_max", "max (ms)"),
        column("retry_quota_exhausted", "quota exhausted"),
        column("violations", "invariant violations"),
    ];
    let rows = policies
        .iter()
        .map(|p| {
            vec![
                Cell::text(&p.policy),
                Cell::count(p.seeds),
                Cell::count(p.operations),
                Cell::count(p.failures),
                Cell::percent(p.failure_rate),
                Cell::percent(p.ci_low),
                Cell::percent(p.ci_high),
                Cell::fixed(p.design_effect, 2),
                Cell::fixed(p.attempts_per_op, 4),
                Cell::fixed(p.latency_ms_p50, 1),
                Cell::fixed(p.latency_ms_p99, 1),
                Cell::fixed(p.latency_ms_p999, 1),
                Cell::fixed(p.latency_ms_max, 1),
                Cell::count(p.retry_quota_exhausted),
                Cell::count(p.invariants.violations),
            ]
        })
        .collect();
    let caption = format!(
        "Each policy on the same seeds: failure rate per operation with its {:.0}% interval \
         (Clopper-Pearson on operations / deff), S3 attempts per operation, latency",
        confidence * 100.0
    );
    Table { id: "policies", caption, columns, rows }
}

fn pair_table(pairs: &[PairComparison], correction: &str) -> Table {
    let columns = vec![
        column("a", "policy A"),
        column("b", "policy B"),
        column("a_failed_b_succeeded", "A failed, B succeeded"),
        column("a_succeeded_b_failed", "A succeeded, B failed"),
        column("seeds_discordant", "discordant seeds"),
        column("p_value", "p-value"),
        column("fewer_failures", "fewer failures"),
        column("significant", "significant"),
    ];
    let rows = pairs
        .iter()
        .map(|pair| {
            vec![
                Cell::text(&pair.a),
                Cell::text(&pair.b),
                Cell::count(pair.a_failed_b_succeeded),
                Cell::count(pair.a_succeeded_b_failed),
                Cell::count(pair.seeds_discordant),
                Cell::fixed(pair.p_value, 4),
                Cell::text(pair.fewer_failures.as_deref().unwrap_or("neither")),
                Cell::flag(pair.significant),
            ]
        })
        .collect();
    let caption = format!("Pairs of policies on the same operations (McNemar; p-values corrected: {correction})");
    Table { id: "pairs", caption, columns, rows }
}

fn best_table(best: &[Best]) -> Table {
    let columns = vec![
        column("measure", "measure"),
        column("policy", "best policy"),
        column("value", "value"),
        column("significant", "significant"),
    ];
    let rows = best
        .iter()
        .map(|b| {
            let significant = match b.significant {
                Some(s) => Cell::flag(s),
                None => Cell::text("n/a"),
            };
            vec![Cell::text(b.measure), Cell::text(&b.policy), Cell::fixed(b.value, 4), significant]
        })
        .collect();
    Table { id: "best", caption: "The best policy on each measure".to_owned(), columns, rows }
}

fn violation_table(violations: &[Finding]) -> Table {
    let columns = vec![
        column("seed", "seed"),
        column("policy", "policy"),
        column("invariant", "invariant"),
        column("detail", "detail"),
        column("reproduce", "replay with"),
    ];
    let rows = violations
        .iter()
        .map(|f| {
            vec![
                Cell::count(f.seed),
                Cell::text(&f.policy),
                Cell::text(&f.invariant),
                Cell::text(&f.detail),
                Cell::text(&f.reproduce),
            ]
        })
        .collect();
    Table {
        id: "violations",
        caption: "Invariant violations, each with the command that replays it".to_owned(),
        columns,
        rows,
    }
}
