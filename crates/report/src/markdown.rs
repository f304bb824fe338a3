//! The Markdown report: the same tables as pipe tables, fit to paste into a pull request.

use std::fmt::Write;

use crate::table::{tables, Table};
use crate::{notes, Context, Results};

/// Escapes a table cell: pipes would end the cell, newlines the row, and `<` could open HTML.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\").replace('|', "\\|").replace('<', "&lt;").replace(['\n', '\r'], " ")
}

/// A code span that holds `text` whatever backticks it contains.
fn code(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    format!("{fence} {} {fence}", text.replace(['\n', '\r'], " "))
}

/// The whole report.
pub fn markdown(results: Results<'_>, context: &Context) -> String {
    let mut out = String::new();
    let (first, count) = results.seeds();
    let last = first.saturating_add(count.saturating_sub(1));
    let _ = write!(
        out,
        "### retrylab {}: {}\n\n- seeds: {count} per policy ({first} to {last})\n- retrylab {}\n- scenario file: {}\n- regenerate with: {}\n",
        results.command(),
        cell(results.scenario()),
        cell(&context.retrylab_version),
        code(&context.scenario_path),
        code(&context.command),
    );
    let hashes: Vec<String> = context
        .trace_hashes
        .iter()
        .map(|h| {
            format!(
                "{} seed {}: {}",
                cell(&h.policy),
                h.seed,
                h.hash.map_or("n/a".to_owned(), |h| format!("`{h:016x}`"))
            )
        })
        .collect();
    let _ = writeln!(out, "- trace hashes: {}", if hashes.is_empty() { "n/a".to_owned() } else { hashes.join(", ") });
    if !context.trace_hash_digests.is_empty() {
        let digests: Vec<String> = context
            .trace_hash_digests
            .iter()
            .map(|(policy, digest)| format!("{} `{digest:016x}`", cell(policy)))
            .collect();
        let _ = writeln!(out, "- digest of every seed's trace hash: {}", digests.join(", "));
    }
    for table in tables(&results) {
        table_markdown(&mut out, &table);
    }
    if let Results::Exploration(x) = results {
        if x.violations.is_empty() {
            let _ = write!(out, "\nNo invariant violation in {} runs.\n", x.runs);
        }
    }
    for (title, items) in [("Notes", notes(&results)), ("Warnings", &context.warnings[..])] {
        if !items.is_empty() {
            let _ = write!(out, "\n**{title}**\n\n");
            for item in items {
                let _ = writeln!(out, "- {}", cell(item));
            }
        }
    }
    let fence = "`".repeat(3.max(longest_backtick_run(&context.scenario_text) + 1));
    let _ = write!(
        out,
        "\n<details><summary>scenario file</summary>\n\n{fence}toml\n{}\n{fence}\n\n</details>\n",
        context.scenario_text.trim_end()
    );
    out
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

fn table_markdown(out: &mut String, table: &Table) {
    let _ = write!(out, "\n*{}*\n\n|", cell(&table.caption));
    for column in &table.columns {
        let _ = write!(out, " {} |", cell(column.header));
    }
    out.push_str("\n|");
    for column in &table.columns {
        out.push_str(
            if table
                .rows
                .iter()
                .any(|row| row.iter().zip(&table.columns).any(|(c, col)| col.key == column.key && c.value.is_some()))
            {
                " ---: |"
            } else {
                " --- |"
            },
        );
    }
    out.push('\n');
    for row in &table.rows {
        out.push('|');
        for c in row {
            let _ = write!(out, " {} |", cell(&c.text));
        }
        out.push('\n');
    }
}
