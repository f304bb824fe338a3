//! The report's tables say what `--json` says: the page is parsed with an HTML parser and
//! each row and number checked against the serde JSON of the same results.

use std::path::Path;

use retrylab_harness::{compare, estimate, EstimateOptions, Exploration, Finding};
use retrylab_report::{html, markdown, Context, Plot, Results, TraceHash};
use serde_json::Value;

fn scenario() -> retrylab_scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim-scenarios/lab-notebook/s3-10k-requests.toml");
    retrylab_scenario::load(&path).unwrap()
}

fn options() -> EstimateOptions {
    EstimateOptions {
        seeds: 3,
        first_seed: 5,
        policies: Vec::new(),
        confidence: 0.95,
        jobs: Some(1),
        swarm: false,
        timeout: None,
    }
}

fn context() -> Context {
    Context {
        scenario_path: "sim-scenarios/lab-notebook/s3-10k-requests.toml".to_owned(),
        scenario_text: "name = \"a <b> & 'c'\"\n".to_owned(),
        retrylab_version: "0.1.0".to_owned(),
        command: "retrylab compare x.toml --seeds 3 --report 'r.html'".to_owned(),
        trace_hashes: Vec::new(),
        trace_hash_digests: Vec::new(),
        plots: vec![Plot {
            title: "plot".to_owned(),
            svg: "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"><circle r=\"1\"/></svg>"
                .to_owned(),
        }],
        warnings: vec!["warning with <angle> brackets".to_owned()],
    }
}

/// The cells of each body row of table `id`: (data-key, text, data-value).
fn rows(page: &str, id: &str) -> Vec<Vec<(String, String, Option<String>)>> {
    let dom = tl::parse(page, tl::ParserOptions::new().track_ids()).unwrap();
    let parser = dom.parser();
    let table =
        dom.get_element_by_id(id).unwrap_or_else(|| panic!("table {id}")).get(parser).unwrap().as_tag().unwrap();
    let attribute =
        |tag: &tl::HTMLTag<'_>, key: &str| tag.attributes().get(key).flatten().map(|v| v.as_utf8_str().into_owned());
    table
        .query_selector(parser, "tr")
        .unwrap()
        .map(|row| {
            let row = row.get(parser).unwrap().as_tag().unwrap();
            row.query_selector(parser, "td")
                .unwrap()
                .map(|cell| {
                    let cell = cell.get(parser).unwrap().as_tag().unwrap();
                    let key = attribute(cell, "data-key").expect("every cell names its JSON field");
                    (key, unescape(&cell.inner_text(parser)), attribute(cell, "data-value"))
                })
                .collect::<Vec<_>>()
        })
        // The header row has no td.
        .filter(|cells| !cells.is_empty())
        .collect()
}

/// The text of escaped HTML (tl leaves entities as they are).
fn unescape(html: &str) -> String {
    html.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

/// Half a unit of the last printed digit: how far rounded text may be from the value.
fn printed_tolerance(text: &str) -> f64 {
    let digits = text.split_once('.').map_or(0, |(_, fraction)| fraction.trim_end_matches('%').len());
    0.5 * 10f64.powi(-(digits as i32)) + 1e-12
}

/// Every row of table `id` is the JSON array `id`'s element, in order; every number as printed.
fn check_table(page: &str, json: &Value, id: &str) -> usize {
    let expected = json[id].as_array().unwrap_or_else(|| panic!("JSON {id}"));
    let rows = rows(page, id);
    assert_eq!(rows.len(), expected.len(), "rows of {id}");
    for (row, object) in rows.iter().zip(expected) {
        for (key, text, value) in row {
            let field = &object[key.as_str()];
            match (value, field) {
                (Some(value), Value::Number(number)) => {
                    let exact = number.as_f64().unwrap();
                    assert_eq!(value.parse::<f64>().unwrap(), exact, "{id}.{key} data-value");
                    let (shown, scale) = match text.strip_suffix('%') {
                        Some(percent) => (percent.parse::<f64>().unwrap(), 100.0),
                        None => (text.parse::<f64>().unwrap(), 1.0),
                    };
                    assert!(
                        (shown - exact * scale).abs() <= printed_tolerance(text),
                        "{id}.{key}: printed {text}, JSON {exact}"
                    );
                }
                (Some(value), Value::Bool(b)) => {
                    assert_eq!(value, &b.to_string(), "{id}.{key}");
                    assert_eq!(text, if *b { "yes" } else { "no" });
                }
                (None, Value::String(s)) => assert_eq!(text, s, "{id}.{key}"),
                (None, Value::Null) => assert!(text == "neither" || text == "n/a", "{id}.{key}: {text}"),
                other => panic!("{id}.{key}: cell {other:?}"),
            }
        }
    }
    rows.len()
}

#[test]
fn the_estimate_page_tables_match_its_json() {
    let scenario = scenario();
    let estimate = estimate(&scenario, &options(), &|| {}).unwrap();
    let page = html(Results::Estimate(&estimate), &context());
    let json = serde_json::to_value(&estimate).unwrap();
    assert_eq!(check_table(&page, &json, "policies"), scenario.policies.len());
    let names: Vec<String> = rows(&page, "policies").iter().map(|row| row[0].1.clone()).collect();
    assert_eq!(names, ["none", "retry-once", "multi-retry"]);
}

#[test]
fn the_comparison_page_tables_match_its_json() {
    let scenario = scenario();
    let comparison = compare(&scenario, &options(), &|| {}).unwrap();
    let page = html(Results::Comparison(&comparison), &context());
    let json = serde_json::to_value(&comparison).unwrap();
    assert_eq!(check_table(&page, &json, "policies"), 3);
    assert_eq!(check_table(&page, &json, "pairs"), 3);
    assert_eq!(check_table(&page, &json, "best"), comparison.best.len());
}

#[test]
fn the_page_is_self_contained_escaped_and_says_how_to_regenerate_it() {
    let scenario = scenario();
    let comparison = compare(&scenario, &options(), &|| {}).unwrap();
    let page = html(Results::Comparison(&comparison), &context());
    for fetch in ["<script", "<link", "src=", "href=", "url(", "@import"] {
        assert!(!page.contains(fetch), "{fetch} in the page");
    }
    assert!(page.contains("name = &quot;a &lt;b&gt; &amp; &#39;c&#39;&quot;"));
    assert!(page.contains("warning with &lt;angle&gt; brackets"));
    assert!(page.contains("retrylab compare x.toml --seeds 3 --report &#39;r.html&#39;"));
    assert!(page.contains("<svg xmlns=\"http://www.w3.org/2000/svg\"><circle r=\"1\"/></svg>"), "the SVG inline");
    assert!(!page.contains("<?xml"));
    assert!(page.contains("3 per policy (5 to 7)"));
    assert!(page.contains("n/a: this command does not keep per-seed trace hashes"));
}

#[test]
fn an_svg_with_script_is_not_inlined_and_trace_hashes_render() {
    let exploration = Exploration {
        scenario: "x".to_owned(),
        seeds: 1,
        first_seed: 0,
        policies: vec!["p".to_owned()],
        runs: 1,
        violations: Vec::new(),
    };
    let mut context = context();
    context.plots = vec![Plot { title: "bad".to_owned(), svg: "<svg onload=\"alert(1)\"></svg>".to_owned() }];
    context.trace_hashes = vec![
        TraceHash { policy: "p".to_owned(), seed: 7, hash: Some(0x17fc3deb98766dff) },
        TraceHash { policy: "p".to_owned(), seed: 8, hash: None },
    ];
    let page = html(Results::Exploration(&exploration), &context);
    assert!(!page.contains("onload"), "{page}");
    assert!(page.contains("plot omitted: the SVG holds script or event handlers"));
    assert!(page.contains("<code>17fc3deb98766dff</code>") && page.contains("<code>n/a</code>"));
    assert!(page.contains("No invariant violation in 1 runs."));
}

#[test]
fn violations_are_listed_escaped_with_their_replay_command() {
    let finding = Finding {
        seed: 42,
        policy: "retry-once".to_owned(),
        invariant: "lost-write".to_owned(),
        detail: "<script>alert('x')</script> | pipe".to_owned(),
        reproduce: "retrylab run a.toml --seed 42 --policy retry-once".to_owned(),
    };
    let exploration = Exploration {
        scenario: "known-bad".to_owned(),
        seeds: 100,
        first_seed: 0,
        policies: vec!["retry-once".to_owned()],
        runs: 100,
        violations: vec![finding],
    };
    let page = html(Results::Exploration(&exploration), &context());
    assert!(!page.contains("<script"));
    let json = serde_json::to_value(&exploration).unwrap();
    assert_eq!(check_table(&page, &json, "violations"), 1);
    let md = markdown(Results::Exploration(&exploration), &context());
    assert!(md.contains("| 42 | retry-once | lost-write | &lt;script>alert('x')&lt;/script> \\| pipe |"), "{md}");
}

#[test]
fn the_markdown_has_a_pipe_table_row_per_policy() {
    let scenario = scenario();
    let estimate = estimate(&scenario, &options(), &|| {}).unwrap();
    let md = markdown(Results::Estimate(&estimate), &context());
    let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(table.len(), 2 + estimate.policies.len(), "{md}");
    let columns = table[0].matches(" |").count();
    for (line, policy) in table[2..].iter().zip(&estimate.policies) {
        let start = format!("| {} | {} | {} | {} |", policy.policy, policy.seeds, policy.operations, policy.failures);
        assert!(line.starts_with(&start), "{line}");
        assert_eq!(line.matches(" |").count(), columns, "{line}");
    }
    assert!(md.contains("```toml\nname = \"a <b> & 'c'\"\n```"));
}
