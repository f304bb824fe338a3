//! The HTML page: inline CSS, inline SVG, no script and nothing fetched, every text escaped.

use std::fmt::Write;

use crate::table::{tables, Table};
use crate::{notes, Context, Plot, Results};

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1600px;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}\
table{border-collapse:collapse;margin:1em 0}caption{text-align:left;font-style:italic;padding:.3em 0}\
th,td{border:1px solid #ccc;padding:.25em .6em}td.number{text-align:right;font-variant-numeric:tabular-nums}\
th{background:#f3f3f3}pre{background:#f6f6f6;padding:.8em;overflow-x:auto}\
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}dd{margin:0}\
figure{margin:1em 0}figure svg{max-width:100%;height:auto}.warning{color:#a40}";

/// The whole page.
pub fn html(results: Results<'_>, context: &Context) -> String {
    let scenario = escape(results.scenario());
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>retrylab {command}: {scenario}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>retrylab {command}: {scenario}</h1>\n",
        command = results.command(),
    );
    about(&mut page, &results, context);
    for table in tables(&results) {
        table_html(&mut page, &table);
    }
    lists(&mut page, "Notes", "notes", notes(&results), "");
    lists(&mut page, "Warnings", "warnings", &context.warnings, " class=\"warning\"");
    if let Results::Exploration(x) = results {
        if x.violations.is_empty() {
            let _ = writeln!(page, "<p id=\"clean\">No invariant violation in {} runs.</p>", x.runs);
        }
    }
    for plot in &context.plots {
        plot_html(&mut page, plot);
    }
    trace_hashes(&mut page, context);
    let _ = write!(
        page,
        "<h2>Scenario file</h2>\n<p><code>{}</code></p>\n<pre id=\"scenario-file\"><code>{}</code></pre>\n</body>\n</html>\n",
        escape(&context.scenario_path),
        escape(&context.scenario_text)
    );
    page
}

/// What was run, by which version, and how to run it again.
fn about(page: &mut String, results: &Results<'_>, context: &Context) {
    let (first, count) = results.seeds();
    let last = first.saturating_add(count.saturating_sub(1));
    let _ = write!(
        page,
        "<dl id=\"about\">\n<dt>scenario</dt><dd>{}</dd>\n<dt>file</dt><dd><code>{}</code></dd>\n\
         <dt>seeds</dt><dd>{count} per policy ({first} to {last})</dd>\n\
         <dt>retrylab</dt><dd>{}</dd>\n<dt>regenerate with</dt><dd><code id=\"command\">{}</code></dd>\n</dl>\n",
        escape(results.scenario()),
        escape(&context.scenario_path),
        escape(&context.retrylab_version),
        escape(&context.command),
    );
    if let Results::Exploration(x) = results {
        let policies: Vec<String> = x.policies.iter().map(|p| escape(p)).collect();
        let _ = writeln!(page, "<p>{} runs of policies {}.</p>", x.runs, policies.join(", "));
    }
}

fn table_html(page: &mut String, table: &Table) {
    let _ = write!(page, "<table id=\"{}\">\n<caption>{}</caption>\n<thead><tr>", table.id, escape(&table.caption));
    for column in &table.columns {
        let _ = write!(page, "<th data-key=\"{}\">{}</th>", column.key, escape(column.header));
    }
    page.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        page.push_str("<tr>");
        for (column, cell) in table.columns.iter().zip(row) {
            match &cell.value {
                Some(value) => {
                    let _ = write!(
                        page,
                        "<td class=\"number\" data-key=\"{}\" data-value=\"{}\">{}</td>",
                        column.key,
                        escape(value),
                        escape(&cell.text)
                    );
                }
                None => {
                    let _ = write!(page, "<td data-key=\"{}\">{}</td>", column.key, escape(&cell.text));
                }
            }
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody>\n</table>\n");
}

fn lists(page: &mut String, title: &str, id: &str, items: &[String], attributes: &str) {
    if items.is_empty() {
        return;
    }
    let _ = write!(page, "<h2>{title}</h2>\n<ul id=\"{id}\"{attributes}>\n");
    for item in items {
        let _ = writeln!(page, "<li>{}</li>", escape(item));
    }
    page.push_str("</ul>\n");
}

/// An SVG inline, when it is one and carries nothing active; otherwise a note saying why not.
fn plot_html(page: &mut String, plot: &Plot) {
    let _ = write!(page, "<h2>{}</h2>\n<figure>\n", escape(&plot.title));
    match inline_svg(&plot.svg) {
        Ok(svg) => page.push_str(svg),
        Err(why) => {
            let _ = write!(page, "<p class=\"warning\">plot omitted: {}</p>", escape(why));
        }
    }
    page.push_str("\n</figure>\n");
}

/// The `<svg>` element of an SVG document, without its XML declaration; refused if it
/// holds script, event handlers or foreign HTML (a report is opened from mail and reviews).
fn inline_svg(svg: &str) -> Result<&str, &'static str> {
    let mut body = svg.trim_start();
    if body.starts_with("<?xml") {
        body = body.find("?>").map(|end| body[end + 2..].trim_start()).unwrap_or("");
    }
    if !body.starts_with("<svg") {
        return Err("not an SVG document");
    }
    let lower = body.to_ascii_lowercase();
    let script = ["<script", "javascript:", "<foreignobject"].iter().any(|bad| lower.contains(bad));
    if script || has_event_handler(&lower) {
        return Err("the SVG holds script or event handlers");
    }
    Ok(body.trim_end())
}

/// Whether an element has an event handler attribute (`onload=`): " on" followed by
/// letters and `=`, not the word "on" in a text.
fn has_event_handler(lower: &str) -> bool {
    lower.match_indices(" on").any(|(at, _)| {
        let rest = &lower[at + 3..];
        let name_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
        name_len > 0 && rest[name_len..].trim_start().starts_with('=')
    })
}

fn trace_hashes(page: &mut String, context: &Context) {
    page.push_str("<h2>Trace hashes</h2>\n");
    if context.trace_hashes.is_empty() {
        page.push_str(
            "<p id=\"trace-hashes\">n/a: this command does not keep per-seed trace hashes; \
             <code>retrylab run SCENARIO --seed S --policy P</code> prints one seed's.</p>\n",
        );
        return;
    }
    page.push_str("<table id=\"trace-hashes\">\n<thead><tr><th>policy</th><th>seed</th><th>trace hash</th></tr></thead>\n<tbody>\n");
    for hash in &context.trace_hashes {
        let text = hash.hash.map_or_else(|| "n/a".to_owned(), |h| format!("{h:016x}"));
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td><code>{text}</code></td></tr>",
            escape(&hash.policy),
            hash.seed
        );
    }
    page.push_str("</tbody>\n</table>\n");
    if !context.trace_hash_digests.is_empty() {
        page.push_str("<table id=\"trace-hash-digests\">\n<thead><tr><th>policy</th><th>digest of every seed's trace hash</th></tr></thead>\n<tbody>\n");
        for (policy, digest) in &context.trace_hash_digests {
            let _ = writeln!(page, "<tr><td>{}</td><td><code>{digest:016x}</code></td></tr>", escape(policy));
        }
        page.push_str("</tbody>\n</table>\n");
    }
}
