//! The rendered plots say what their data says: the SVG is parsed and its marks counted and
//! placed through the axes' own tick labels; the PNG is decoded and its pixels looked at.

use retrylab_plot::colours::{self, svg};
use retrylab_plot::{
    compare, rtt, timeline, ChainSpan, CompareInput, Format, PolicySummary, RequestMark, RequestOutcome, RttInput,
    RttPoint, TimelineInput,
};

fn parse(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("SVG is UTF-8")
}

/// Elements named `tag` whose attribute `key` is `value`.
fn count(doc: &roxmltree::Document<'_>, tag: &str, key: &str, value: &str) -> usize {
    doc.descendants().filter(|n| n.has_tag_name(tag) && n.attribute(key) == Some(value)).count()
}

fn texts(doc: &roxmltree::Document<'_>) -> Vec<String> {
    doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text().map(|t| t.trim().to_owned())).collect()
}

fn attr(node: &roxmltree::Node<'_, '_>, key: &str) -> f64 {
    node.attribute(key).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// The data -> pixel map of an axis, fitted through its numeric tick labels: `anchor` is
/// `end` for the y axis (labels right-aligned left of it), `middle` for the x axis.
fn axis(doc: &roxmltree::Document<'_>, anchor: &str, pixel: &str) -> impl Fn(f64) -> f64 {
    let ticks: Vec<(f64, f64)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text") && n.attribute("text-anchor") == Some(anchor))
        .filter_map(|n| n.text().and_then(|t| t.trim().parse::<f64>().ok()).map(|v| (v, attr(&n, pixel))))
        .collect();
    assert!(ticks.len() >= 3, "the {anchor} axis has tick labels: {ticks:?}");
    let (low, high) = (ticks[0], ticks[ticks.len() - 1]);
    let slope = (high.1 - low.1) / (high.0 - low.0);
    // Every tick on one line: the labels are where the values are.
    for &(value, at) in &ticks {
        assert!((low.1 + slope * (value - low.0) - at).abs() <= 1.5, "tick {value} at {at} is off the axis line");
    }
    move |value| low.1 + slope * (value - low.0)
}

/// 300 operations about a second apart, a few retried (some of those failed), a few failed
/// without retry, and one slow one in the middle.
fn run_points() -> RttInput {
    let mut points: Vec<RttPoint> = (0..300)
        .map(|i| RttPoint {
            start_s: i as f64 * 1.1,
            rtt_ms: 900.0 + (i * 37 % 200) as f64,
            retried: i % 41 == 5,
            failed: i % 97 == 3 || i % 82 == 5,
        })
        .collect();
    points[150].rtt_ms = 6500.0;
    RttInput { scenario: "s3-10k-requests".to_owned(), policy: "retry-once".to_owned(), seed: 7, points }
}

#[test]
fn the_rtt_svg_has_a_red_mark_per_retried_operation_and_the_triangle_at_the_worst() {
    let input = run_points();
    let retried = input.points.iter().filter(|p| p.retried).count();
    let failed = input.points.iter().filter(|p| p.failed).count();
    assert!(retried >= 5 && failed >= 4 && input.points.iter().any(|p| p.retried && p.failed));
    let text = parse(&rtt(&input, Format::Svg).unwrap());
    let doc = roxmltree::Document::parse(&text).unwrap();

    assert_eq!(count(&doc, "circle", "fill", &svg(colours::RETRIED)), retried);
    // A cross is two strokes of width 2, in black; the axes are drawn 1 wide.
    let crosses = doc
        .descendants()
        .filter(|n| {
            n.attribute("stroke") == Some(&svg(colours::FAILED)[..]) && n.attribute("stroke-width") == Some("2")
        })
        .count();
    assert_eq!(crosses, 2 * failed);

    let x = axis(&doc, "middle", "x");
    let y = axis(&doc, "end", "y");
    let triangles: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polygon") && n.attribute("fill") == Some(&svg(colours::WORST)[..]))
        .collect();
    assert_eq!(triangles.len(), 1);
    let corners: Vec<(f64, f64)> = triangles[0]
        .attribute("points")
        .unwrap()
        .split_whitespace()
        .map(|pair| {
            let (a, b) = pair.split_once(',').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    let centroid = (
        corners.iter().map(|c| c.0).sum::<f64>() / corners.len() as f64,
        corners.iter().map(|c| c.1).sum::<f64>() / corners.len() as f64,
    );
    let worst = input.points[150];
    assert!((centroid.0 - x(worst.start_s)).abs() <= 3.0, "triangle x {} vs {}", centroid.0, x(worst.start_s));
    assert!((centroid.1 - y(worst.rtt_ms)).abs() <= 3.0, "triangle y {} vs {}", centroid.1, y(worst.rtt_ms));

    let all = texts(&doc).join("\n");
    for expected in ["s3-10k-requests", "policy retry-once", "seed 7", "start time (s)", "round-trip time (ms)"] {
        assert!(all.contains(expected), "{expected:?} in {all}");
    }
    assert!(all.contains(&format!("retried at least once ({retried})")), "{all}");
    assert!(all.contains("worst: 6500 ms at 165 s"), "{all}");
}

#[test]
fn rtt_times_spanning_decades_get_a_log_axis_with_decade_labels() {
    let points = [2.0, 30.0, 400.0, 5000.0]
        .iter()
        .enumerate()
        .map(|(i, &rtt_ms)| RttPoint { start_s: i as f64, rtt_ms, retried: false, failed: false })
        .collect();
    let input = RttInput { scenario: "s".to_owned(), policy: "p".to_owned(), seed: 1, points };
    let doc_text = parse(&rtt(&input, Format::Svg).unwrap());
    let doc = roxmltree::Document::parse(&doc_text).unwrap();
    let all = texts(&doc);
    assert!(all.iter().any(|t| t == "round-trip time (ms, log scale)"), "{all:?}");
    for decade in ["1", "10", "100", "1000", "10000"] {
        assert!(all.iter().any(|t| t == decade), "decade {decade} labelled: {all:?}");
    }
}

/// Pixels of the decoded PNG close to `colour`.
fn pixels_like(png_bytes: &[u8], colour: plotters::style::RGBColor) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let close = |a: u8, b: u8| a.abs_diff(b) <= 8;
    let matching = buffer[..info.buffer_size()]
        .chunks(3)
        .filter(|p| close(p[0], colour.0) && close(p[1], colour.1) && close(p[2], colour.2))
        .count();
    (info.width, info.height, matching)
}

#[test]
fn the_rtt_png_decodes_with_red_marks_only_when_something_was_retried() {
    let input = run_points();
    let (width, height, red) = pixels_like(&rtt(&input, Format::Png).unwrap(), colours::RETRIED);
    assert_eq!((width, height), (1000, 780));
    assert!(red > 50, "red pixels: {red}");
    let calm =
        RttInput { points: input.points.iter().map(|p| RttPoint { retried: false, ..*p }).collect(), ..input.clone() };
    let (_, _, red) = pixels_like(&rtt(&calm, Format::Png).unwrap(), colours::RETRIED);
    // Only the legend's red symbol remains.
    assert!(red < 60, "red pixels without retries: {red}");
}

#[test]
fn png_text_is_drawn_from_the_embedded_font() {
    let input = run_points();
    let bytes = rtt(&input, Format::Png).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(&bytes[..]));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    // The title band (top 45 rows) holds nothing but the title's glyphs.
    let row = info.width as usize * 3;
    let dark = buffer[..45 * row].chunks(3).filter(|p| p[0] < 100 && p[1] < 100 && p[2] < 100).count();
    assert!(dark > 500, "dark title pixels: {dark}");
}

fn policy(name: &str, failure_rate: f64, ci_low: f64, ci_high: f64) -> PolicySummary {
    PolicySummary {
        name: name.to_owned(),
        failure_rate,
        ci_low,
        ci_high,
        attempts_per_op: 1.0 + failure_rate,
        latency_cdf: vec![(900.0, 0.0), (950.0, 0.5), (2900.0, 0.99), (7000.0, 1.0)],
    }
}

#[test]
fn compare_draws_every_policy_and_the_upper_bound_of_zero_failures_on_a_log_axis() {
    let input = CompareInput {
        scenario: "s3-10k-requests".to_owned(),
        seeds: 200,
        confidence: 0.95,
        policies: vec![
            policy("none", 0.0132, 0.0125, 0.014),
            policy("retry-once", 0.0009, 0.0007, 0.0012),
            policy("multi-retry", 0.0, 0.0, 0.0000015),
        ],
        cdf_note: Some("a sketch".to_owned()),
    };
    let text = parse(&compare(&input, Format::Svg).unwrap());
    let doc = roxmltree::Document::parse(&text).unwrap();
    let all = texts(&doc).join("\n");
    assert!(all.contains("failure rate (log scale)"), "{all}");
    assert!(all.contains("0 failures: rate ≤ 0.0001%") || all.contains("0 failures: rate ≤ 0.0002%"), "{all}");
    assert!(all.contains("1.32%") && all.contains("0.090%"), "{all}");
    for (index, p) in input.policies.iter().enumerate() {
        let colour = svg(colours::POLICIES[index]);
        // A rate marker, except for zero failures (an arrow head instead), and a bar.
        let markers = count(&doc, "circle", "fill", &colour);
        assert_eq!(markers, usize::from(p.failure_rate > 0.0), "{}", p.name);
        assert_eq!(count(&doc, "rect", "fill", &colour), 1, "{} bar", p.name);
        let arrow_heads = count(&doc, "polygon", "fill", &colour);
        assert_eq!(arrow_heads, usize::from(p.failure_rate == 0.0), "{}", p.name);
        // Its CDF line (and its legend swatch).
        assert!(count(&doc, "polyline", "stroke", &colour) >= 2, "{} CDF", p.name);
        assert!(all.contains(&p.name));
    }
    assert!(all.contains("a sketch"));
}

#[test]
fn compare_on_rates_within_a_decade_is_linear_with_the_zero_at_zero() {
    let input = CompareInput {
        scenario: "s".to_owned(),
        seeds: 10,
        confidence: 0.95,
        policies: vec![policy("a", 0.0, 0.0, 0.02), policy("b", 0.01, 0.005, 0.02)],
        cdf_note: None,
    };
    let text = parse(&compare(&input, Format::Svg).unwrap());
    let doc = roxmltree::Document::parse(&text).unwrap();
    let all = texts(&doc).join("\n");
    assert!(!all.contains("log scale"), "{all}");
    assert!(all.contains("0 failures (≤ 2.00%)"), "{all}");
    assert_eq!(count(&doc, "circle", "fill", &svg(colours::POLICIES[0])), 1);
}

fn timeline_input(window: Option<(f64, f64)>) -> TimelineInput {
    let requests = (0..100)
        .map(|i| {
            let at_s = i as f64;
            let outcome = match i {
                40..=44 if i % 2 == 0 => RequestOutcome::FaultRetried,
                41 | 43 => RequestOutcome::Failed,
                80 => RequestOutcome::FaultRetried,
                _ => RequestOutcome::Ok,
            };
            RequestMark { at_s, outcome, operation: Some(i) }
        })
        .collect();
    TimelineInput {
        scenario: "s3-10k-requests".to_owned(),
        policy: "retry-once".to_owned(),
        seed: 7,
        chain: ChainSpan::from_requests(&(0..100).map(|i| (i as f64, (39..46).contains(&i))).collect::<Vec<_>>()),
        outages: vec![(70.0, 75.0)],
        requests,
        window,
        note: None,
    }
}

#[test]
fn the_chain_state_merges_into_spans() {
    let spans = ChainSpan::from_requests(&[(0.0, false), (1.0, false), (2.0, true), (3.0, true), (4.0, false)]);
    assert_eq!(
        spans,
        vec![
            ChainSpan { start_s: 0.0, end_s: 2.0, bad: false },
            ChainSpan { start_s: 2.0, end_s: 4.0, bad: true },
            ChainSpan { start_s: 4.0, end_s: 4.0, bad: false },
        ]
    );
}

#[test]
fn the_timeline_shows_the_burst_and_the_requests_of_its_window() {
    let whole = parse(&timeline(&timeline_input(None), Format::Svg).unwrap());
    let doc = roxmltree::Document::parse(&whole).unwrap();
    assert_eq!(count(&doc, "circle", "fill", &svg(colours::RETRIED)), 4);
    assert_eq!(count(&doc, "rect", "fill", &svg(colours::BAD_STATE)), 1);
    assert_eq!(count(&doc, "rect", "fill", &svg(colours::OUTAGE)), 1);
    let all = texts(&doc).join("\n");
    assert!(all.contains("op 41") && all.contains("fault, operation failed (2)"), "{all}");

    // Zoomed on 60-90 s: the burst and its failures are out of view, the outage and request 80 in.
    let zoomed = parse(&timeline(&timeline_input(Some((60.0, 90.0))), Format::Svg).unwrap());
    let doc = roxmltree::Document::parse(&zoomed).unwrap();
    assert_eq!(count(&doc, "circle", "fill", &svg(colours::RETRIED)), 1);
    assert_eq!(count(&doc, "rect", "fill", &svg(colours::BAD_STATE)), 0);
    assert_eq!(count(&doc, "rect", "fill", &svg(colours::OUTAGE)), 1);
    assert_eq!(count(&doc, "circle", "fill", &svg(colours::PLAIN)), 30);
    let x = axis(&doc, "middle", "x");
    assert!((x(60.0) - x(90.0)).abs() > 800.0, "the window fills the width");
}

use retrylab_plot::{load, LoadInput, LoadPolicySeries};

/// 60 one-second windows, a trigger from 20 s to 30 s. The first policy's goodput falls in
/// the trigger and no operation succeeds in windows 22-25 (a gap in its latency); it recovers
/// 5 s after. The second keeps its goodput and never recovers its latency.
fn load_input() -> LoadInput {
    let windows = 60;
    let in_trigger = |i: usize| (20..30).contains(&i);
    let storm = LoadPolicySeries {
        name: "retry-storm".to_owned(),
        offered_per_s: vec![100.0; windows],
        goodput_per_s: (0..windows).map(|i| if in_trigger(i) { 10.0 } else { 100.0 }).collect(),
        attempts_per_s: (0..windows).map(|i| if in_trigger(i) { 400.0 } else { 101.0 }).collect(),
        retries_per_s: (0..windows).map(|i| if in_trigger(i) { 300.0 } else { 1.0 }).collect(),
        latency_ms_p99: (0..windows).map(|i| if (22..26).contains(&i) { None } else { Some(40.0) }).collect(),
        recovery_s: Some(5.0),
    };
    let bucket = LoadPolicySeries {
        name: "token-bucket".to_owned(),
        offered_per_s: vec![100.0; windows],
        goodput_per_s: vec![95.0; windows],
        attempts_per_s: vec![110.0; windows],
        retries_per_s: vec![10.0; windows],
        latency_ms_p99: vec![Some(60.0); windows],
        recovery_s: None,
    };
    LoadInput {
        title: "metastable: 100 ops/s, S3 slowed 20-30 s".to_owned(),
        window_s: 1.0,
        triggers: vec![(20.0, 30.0)],
        policies: vec![storm, bucket],
    }
}

/// Solid lines (stroke width 2) of `colour` with at least two points.
fn solid_lines(doc: &roxmltree::Document<'_>, colour: plotters::style::RGBColor) -> usize {
    doc.descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some(&svg(colour)[..]))
        .filter(|n| n.attribute("stroke-width") == Some("2"))
        .filter(|n| n.attribute("points").is_some_and(|p| p.split_whitespace().count() >= 2))
        .count()
}

#[test]
fn the_load_figure_draws_each_policy_in_three_panels_with_the_trigger_and_the_recovery() {
    let input = load_input();
    let text = parse(&load(&input, Format::Svg).unwrap());
    let doc = roxmltree::Document::parse(&text).unwrap();
    let all = texts(&doc).join("\n");
    for expected in [
        "metastable: 100 ops/s, S3 slowed 20-30 s",
        "retry-storm: recovered 5.0 s after the trigger (▼)",
        "token-bucket: did not recover",
        "operations/s",
        "requests/s",
        "p99 latency (ms)",
        "trigger",
    ] {
        assert!(all.contains(expected), "{expected:?} in {all}");
    }
    assert!(!all.contains("log scale"), "40-60 ms is linear: {all}");
    // The trigger shaded once per panel.
    assert_eq!(count(&doc, "rect", "fill", &svg(colours::OUTAGE)), 3);
    // Goodput, retries, and latency in two runs around its gap; the other policy has no gap.
    assert_eq!(solid_lines(&doc, colours::POLICIES[0]), 4);
    assert_eq!(solid_lines(&doc, colours::POLICIES[1]), 3);
    for index in 0..2 {
        let colour = svg(colours::POLICIES[index]);
        let dashes = doc
            .descendants()
            .filter(|n| n.attribute("stroke") == Some(&colour[..]) && n.attribute("stroke-width") == Some("1"))
            .count();
        assert!(dashes > 20, "offered load dashed: {dashes} dashes");
        assert!(count(&doc, "circle", "fill", &colour) > 20, "attempts dotted");
    }
    // One recovery marker, 5 s after the trigger's end.
    assert_eq!(count(&doc, "polygon", "fill", &svg(colours::POLICIES[1])), 0);
    let markers: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polygon") && n.attribute("fill") == Some(&svg(colours::POLICIES[0])[..]))
        .collect();
    assert_eq!(markers.len(), 1);
    let xs: Vec<f64> = markers[0]
        .attribute("points")
        .unwrap()
        .split_whitespace()
        .map(|pair| pair.split_once(',').unwrap().0.parse().unwrap())
        .collect();
    let centre = xs.iter().sum::<f64>() / xs.len() as f64;
    let x = axis(&doc, "middle", "x");
    assert!((centre - x(35.0)).abs() <= 2.0, "marker at {centre}, 35 s at {}", x(35.0));
}

#[test]
fn load_latency_spanning_a_decade_is_drawn_on_a_log_axis() {
    let mut input = load_input();
    input.policies[1].latency_ms_p99 = (0..60).map(|i| Some(if i < 30 { 10.0 } else { 5000.0 })).collect();
    let text = parse(&load(&input, Format::Svg).unwrap());
    let doc = roxmltree::Document::parse(&text).unwrap();
    let all = texts(&doc);
    assert!(all.iter().any(|t| t == "p99 latency (ms, log scale)"), "{all:?}");
    for decade in ["10", "100", "1000", "10000"] {
        assert!(all.iter().any(|t| t == decade), "decade {decade} labelled: {all:?}");
    }
}

#[test]
fn the_load_figure_draws_bad_input_without_panicking_and_its_png_decodes() {
    let empty = LoadPolicySeries {
        name: "empty".to_owned(),
        offered_per_s: vec![],
        goodput_per_s: vec![],
        attempts_per_s: vec![],
        retries_per_s: vec![],
        latency_ms_p99: vec![],
        recovery_s: None,
    };
    let odd = LoadPolicySeries {
        name: "odd".to_owned(),
        offered_per_s: vec![f64::NAN, -3.0, f64::INFINITY],
        goodput_per_s: vec![0.0],
        attempts_per_s: vec![0.0, 0.0],
        retries_per_s: vec![f64::NEG_INFINITY],
        latency_ms_p99: vec![Some(f64::NAN), Some(0.0), Some(-1.0), None],
        recovery_s: Some(f64::NAN),
    };
    let one_window = LoadPolicySeries {
        name: "one".to_owned(),
        offered_per_s: vec![5.0],
        goodput_per_s: vec![5.0],
        attempts_per_s: vec![5.0],
        retries_per_s: vec![0.0],
        latency_ms_p99: vec![Some(12.0)],
        recovery_s: Some(-2.0),
    };
    let inputs = [
        LoadInput { title: String::new(), window_s: 1.0, triggers: vec![], policies: vec![] },
        LoadInput {
            title: "bad".to_owned(),
            window_s: f64::NAN,
            triggers: vec![(f64::NAN, 3.0), (5.0, 2.0), (f64::NEG_INFINITY, f64::INFINITY)],
            policies: vec![empty.clone(), odd.clone()],
        },
        LoadInput { title: "zero".to_owned(), window_s: 0.0, triggers: vec![(0.0, 0.0)], policies: vec![odd] },
        LoadInput { title: "one".to_owned(), window_s: -5.0, triggers: vec![(0.0, 1.0)], policies: vec![one_window] },
        LoadInput { title: "many".to_owned(), window_s: 10.0, triggers: vec![], policies: vec![empty; 9] },
    ];
    for input in &inputs {
        let text = parse(&load(input, Format::Svg).unwrap());
        let doc = roxmltree::Document::parse(&text).unwrap();
        let all = texts(&doc).join("\n");
        for policy in &input.policies {
            assert!(all.contains(&policy.name), "{} named in {all}", policy.name);
        }
    }
    let (width, height, _) = pixels_like(&load(&load_input(), Format::Png).unwrap(), colours::OUTAGE);
    assert_eq!((width, height), (1200, 1050));
    let (_, _, shaded) = pixels_like(&load(&inputs[3], Format::Png).unwrap(), colours::POLICIES[0]);
    assert!(shaded > 0, "the one window's policy is drawn (legend at least)");
}
