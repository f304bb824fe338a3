//! `retrylab plot` and `--report` as a user runs them: the images and pages are parsed and
//! checked against what `retrylab run --json` and `estimate --json` print for the same seeds.

use std::path::PathBuf;

use serde_json::Value;

use crate::cli::{retrylab, stderr, stdout};
use crate::support::lab_notebook_10k;

fn scenario() -> String {
    lab_notebook_10k().to_string_lossy().into_owned()
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("retrylab-plots-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_rtt_plot_has_a_red_mark_per_retried_operation_of_the_run() {
    let dir = scratch("rtt");
    let svg_path = dir.join("rtt.svg");
    let plot_rtt = |path: &std::path::Path| {
        let args = ["plot", "rtt", &scenario(), "--seed", "7", "--policy", "retry-once", "-o", path.to_str().unwrap()];
        let output = retrylab(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        output
    };
    let output = plot_rtt(&svg_path);
    // Under retry-once an operation is retried at most once: retries = retried operations.
    let run = retrylab(&["run", &scenario(), "--seed", "7", "--policy", "retry-once", "--json"]);
    let run: Value = serde_json::from_str(&stdout(&run)).unwrap();
    let retries = run["retries"].as_u64().unwrap() as usize;
    let failures = run["failures"].as_u64().unwrap();
    assert!(stdout(&output).contains(&format!("{retries} retried, {failures} failed")), "{}", stdout(&output));

    let text = std::fs::read_to_string(&svg_path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let red = retrylab_plot::colours::svg(retrylab_plot::colours::RETRIED);
    let marks = doc.descendants().filter(|n| n.has_tag_name("circle") && n.attribute("fill") == Some(&red[..])).count();
    assert_eq!(marks, retries);
    let title =
        doc.descendants().filter_map(|n| n.text()).any(|t| t.contains("s3-10k-requests, policy retry-once, seed 7"));
    assert!(title);

    let png_path = dir.join("rtt.png");
    plot_rtt(&png_path);
    let decoder = png::Decoder::new(std::io::Cursor::new(std::fs::read(&png_path).unwrap()));
    let reader = decoder.read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (1000, 780));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_html_report_tables_match_the_json_output() {
    let dir = scratch("report");
    let page_path = dir.join("estimate.html");
    let output =
        retrylab(&["estimate", &scenario(), "--seeds", "3", "--json", "--report", page_path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let page = std::fs::read_to_string(&page_path).unwrap();
    let dom = tl::parse(&page, tl::ParserOptions::new().track_ids()).unwrap();
    let parser = dom.parser();
    let table = dom.get_element_by_id("policies").unwrap().get(parser).unwrap().as_tag().unwrap();
    let rows: Vec<_> = table
        .query_selector(parser, "tr")
        .unwrap()
        .map(|row| row.get(parser).unwrap().as_tag().unwrap().query_selector(parser, "td").unwrap().collect::<Vec<_>>())
        .filter(|cells| !cells.is_empty())
        .collect();
    let policies = json["policies"].as_array().unwrap();
    assert_eq!(rows.len(), policies.len());
    let mut numbers = 0;
    for (cells, policy) in rows.iter().zip(policies) {
        for cell in cells {
            let cell = cell.get(parser).unwrap().as_tag().unwrap();
            let attribute = |key: &str| cell.attributes().get(key).flatten().map(|v| v.as_utf8_str().into_owned());
            let key = attribute("data-key").unwrap();
            match attribute("data-value") {
                Some(value) => {
                    assert_eq!(value.parse::<f64>().unwrap(), policy[&key].as_f64().unwrap(), "{key}");
                    numbers += 1;
                }
                None => assert_eq!(cell.inner_text(parser), policy[&key].as_str().unwrap(), "{key}"),
            }
        }
    }
    assert!(numbers >= 10 * policies.len());
    assert!(page.contains("<svg"), "the comparison plot inline");
    assert!(page.contains("--report"), "the regenerating command");

    let refused = retrylab(&["estimate", &scenario(), "--seeds", "1", "--report", dir.join("r.txt").to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));

    // A page that cannot be written is an error, and nothing half-written stays behind.
    let nowhere = dir.join("no-such-directory").join("r.html");
    let unwritable = retrylab(&["estimate", &scenario(), "--seeds", "1", "--report", nowhere.to_str().unwrap()]);
    assert_eq!(unwritable.status.code(), Some(1), "{}", stderr(&unwritable));
    assert!(stderr(&unwritable).contains("cannot write"), "{}", stderr(&unwritable));
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.iter().all(|name| !name.to_string_lossy().contains("partial")), "{left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
