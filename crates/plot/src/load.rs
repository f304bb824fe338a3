//! The load figure of an incident review: per policy, over virtual time, offered load and
//! goodput, retries and attempts per second, and p99 latency, in three panels sharing the x
//! axis, with the trigger shaded and each policy's recovery marked.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::colours::{OUTAGE, POLICIES};
use crate::figure::{decade_label, drawing, font, render, spans_decades, Figure, Format, PlotError};
use crate::rtt::draw_legend;

/// One policy's measures per window.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadPolicySeries {
    pub name: String,
    /// Per window, means over seeds (operations per second).
    pub offered_per_s: Vec<f64>,
    pub goodput_per_s: Vec<f64>,
    pub attempts_per_s: Vec<f64>,
    pub retries_per_s: Vec<f64>,
    /// Per window; None where no operation succeeded.
    pub latency_ms_p99: Vec<Option<f64>>,
    /// Seconds after the trigger ended that goodput recovered (mean over seeds), or None (did
    /// not recover): drawn as a marker/annotation.
    pub recovery_s: Option<f64>,
}

/// What the load figure shows.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadInput {
    pub title: String,
    /// Window length in seconds (x of window i is i * window_s).
    pub window_s: f64,
    /// Shaded stretches [start_s, end_s) (the trigger: slowdowns, outages, bursts).
    pub triggers: Vec<(f64, f64)>,
    pub policies: Vec<LoadPolicySeries>,
}

/// Draws the three stacked panels.
pub fn load(input: &LoadInput, format: Format) -> Result<Vec<u8>, PlotError> {
    render(input, format)
}

/// Latency spanning this many decades gets a log axis.
const LATENCY_LOG_DECADES: f64 = 1.0;

fn colour(index: usize) -> RGBColor {
    POLICIES[index % POLICIES.len()]
}

/// A rate or latency that can be drawn: finite and not negative. Anything else is a gap.
fn drawable(value: f64) -> Option<f64> {
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// The largest drawable value, or 0.
fn max_of<'a>(values: impl Iterator<Item = &'a f64>) -> f64 {
    values.filter_map(|&v| drawable(v)).fold(0.0, f64::max)
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

impl LoadInput {
    /// The window length, 1 s when the input's is not a positive number.
    fn window_len_s(&self) -> f64 {
        drawable(self.window_s).filter(|&w| w > 0.0).unwrap_or(1.0)
    }

    /// The triggers that are stretches of time, in input order.
    fn trigger_spans(&self) -> Vec<(f64, f64)> {
        self.triggers.iter().copied().filter(|&(a, b)| a.is_finite() && b.is_finite() && b > a).collect()
    }

    /// Where each policy's recovery is drawn: that many seconds after the last trigger ended
    /// (after 0 s when there is no trigger).
    fn recovery_at_s(&self, policy: &LoadPolicySeries) -> Option<f64> {
        let anchor = self.trigger_spans().iter().map(|&(_, end)| end).fold(0.0, f64::max);
        policy.recovery_s.and_then(drawable).map(|after| anchor + after)
    }

    /// The time shown: every window, trigger and recovery marker.
    fn range_s(&self) -> (f64, f64) {
        let windows = self
            .policies
            .iter()
            .map(|p| {
                [p.offered_per_s.len(), p.goodput_per_s.len(), p.attempts_per_s.len(), p.retries_per_s.len()]
                    .into_iter()
                    .chain([p.latency_ms_p99.len()])
                    .max()
                    .unwrap_or(0)
            })
            .max()
            .unwrap_or(0);
        let high = self
            .trigger_spans()
            .iter()
            .map(|&(_, end)| end)
            .chain(self.policies.iter().filter_map(|p| self.recovery_at_s(p)))
            .fold(windows as f64 * self.window_len_s(), f64::max);
        let low = self.trigger_spans().iter().map(|&(start, _)| start).fold(0.0, f64::min);
        if high > low {
            (low, high)
        } else {
            (low, low + 1.0)
        }
    }

    /// The series as (x s, value) runs, broken where a value is missing or not drawable.
    fn runs(&self, values: impl Iterator<Item = Option<f64>>) -> Vec<Vec<(f64, f64)>> {
        let window_s = self.window_len_s();
        let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut open = false;
        for (index, value) in values.enumerate() {
            match value.and_then(drawable) {
                Some(v) if open => runs.last_mut().expect("an open run exists").push((index as f64 * window_s, v)),
                Some(v) => {
                    runs.push(vec![(index as f64 * window_s, v)]);
                    open = true;
                }
                None => open = false,
            }
        }
        runs
    }
}

impl Figure for LoadInput {
    fn size(&self) -> (u32, u32) {
        (1200, 970 + legend_height(self))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let body = root.titled(&self.title, font(22.0)).map_err(drawing)?;
        let (panels_area, legend_area) = body.split_vertically(body.dim_in_pixel().1 - legend_height(self));
        let panels = panels_area.split_evenly((3, 1));
        let x_range = self.range_s();
        throughput_panel(self, &panels[0], x_range)?;
        retries_panel(self, &panels[1], x_range)?;
        latency_panel(self, &panels[2], x_range)?;
        legend(self, &legend_area)
    }
}

/// A panel's axes, mesh and shaded triggers; the caller draws the series.
fn panel<'a, DB: DrawingBackend>(
    input: &LoadInput,
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    x_range: (f64, f64),
    y_range: (f64, f64),
    y_desc: &str,
    y_label: &dyn Fn(&f64) -> String,
) -> Result<Chart<'a, DB>, PlotError> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, font(17.0))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(75)
        .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc("virtual time (s)")
        .y_desc(y_desc)
        .label_style(font(14.0))
        .axis_desc_style(font(15.0))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(y_label)
        .draw()
        .map_err(drawing)?;
    let spans = input.trigger_spans();
    chart
        .draw_series(spans.iter().map(|&(a, b)| {
            Rectangle::new([(a.max(x_range.0), y_range.0), (b.min(x_range.1), y_range.1)], OUTAGE.filled())
        }))
        .map_err(drawing)?;
    Ok(chart)
}

/// Solid lines of `style`, one per run of drawable values.
fn solid<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    runs: Vec<Vec<(f64, f64)>>,
    style: ShapeStyle,
) -> Result<(), PlotError> {
    for run in runs {
        chart.draw_series(LineSeries::new(run, style)).map_err(drawing)?;
    }
    Ok(())
}

/// The top of a linear axis that holds `max` with headroom (1 when there is nothing to show).
fn linear_top(max: f64) -> f64 {
    if max > 0.0 {
        max * 1.1
    } else {
        1.0
    }
}

/// Offered load (dashed) and goodput (solid), with a marker where each policy recovered.
fn throughput_panel<DB: DrawingBackend>(
    input: &LoadInput,
    area: &DrawingArea<DB, Shift>,
    x_range: (f64, f64),
) -> Result<(), PlotError> {
    let max = input.policies.iter().map(|p| max_of(p.offered_per_s.iter()).max(max_of(p.goodput_per_s.iter())));
    let y_top = linear_top(max.fold(0.0, f64::max));
    let mut chart =
        panel(input, area, "offered load (dashed) and goodput (solid)", x_range, (0.0, y_top), "operations/s", &|y| {
            format!("{y:.0}")
        })?;
    for (index, policy) in input.policies.iter().enumerate() {
        let style = colour(index).stroke_width(2);
        for run in input.runs(policy.offered_per_s.iter().map(|&v| Some(v))) {
            chart.draw_series(DashedLineSeries::new(run, 8, 5, colour(index).stroke_width(1))).map_err(drawing)?;
        }
        solid(&mut chart, input.runs(policy.goodput_per_s.iter().map(|&v| Some(v))), style)?;
        if let Some(at_s) = input.recovery_at_s(policy) {
            // A triangle hanging from the top of the panel, pointing down at the moment.
            let head = vec![(-7, 0), (7, 0), (0, 12)];
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((at_s, y_top)) + Polygon::new(head, colour(index).filled()),
                ))
                .map_err(drawing)?;
        }
    }
    Ok(())
}

/// Retries per second (solid) and attempts per second (dotted).
fn retries_panel<DB: DrawingBackend>(
    input: &LoadInput,
    area: &DrawingArea<DB, Shift>,
    x_range: (f64, f64),
) -> Result<(), PlotError> {
    let max = input.policies.iter().map(|p| max_of(p.attempts_per_s.iter()).max(max_of(p.retries_per_s.iter())));
    let y_top = linear_top(max.fold(0.0, f64::max));
    let mut chart = panel(
        input,
        area,
        "retries (solid) and attempts (dotted) per second",
        x_range,
        (0.0, y_top),
        "requests/s",
        &|y| format!("{y:.0}"),
    )?;
    for (index, policy) in input.policies.iter().enumerate() {
        let dot = colour(index);
        for run in input.runs(policy.attempts_per_s.iter().map(|&v| Some(v))) {
            let dots = DottedLineSeries::new(run, 0, 6, move |c| Circle::new(c, 1, dot.filled()));
            chart.draw_series(dots).map_err(drawing)?;
        }
        solid(&mut chart, input.runs(policy.retries_per_s.iter().map(|&v| Some(v))), dot.stroke_width(2))?;
    }
    Ok(())
}

/// p99 latency per window, broken where a window had no success; log scale when wide.
fn latency_panel<DB: DrawingBackend>(
    input: &LoadInput,
    area: &DrawingArea<DB, Shift>,
    x_range: (f64, f64),
) -> Result<(), PlotError> {
    let latencies = || input.policies.iter().flat_map(|p| p.latency_ms_p99.iter().filter_map(|v| v.and_then(drawable)));
    let positive_min = latencies().filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
    let max = latencies().fold(0.0, f64::max);
    let log_y = spans_decades(positive_min, max, LATENCY_LOG_DECADES);
    let y_range = if log_y { (positive_min.log10().floor(), max.log10().ceil()) } else { (0.0, linear_top(max)) };
    let y_of = |ms: f64| if log_y { ms.max(positive_min).log10() } else { ms };
    let desc = if log_y { "p99 latency (ms, log scale)" } else { "p99 latency (ms)" };
    let label = move |y: &f64| if log_y { decade_label(*y) } else { format!("{y:.0}") };
    let mut chart = panel(input, area, "p99 latency (gaps: no success in the window)", x_range, y_range, desc, &label)?;
    for (index, policy) in input.policies.iter().enumerate() {
        let runs = input.runs(policy.latency_ms_p99.iter().copied());
        let runs = runs.into_iter().map(|run| run.into_iter().map(|(x, ms)| (x, y_of(ms))).collect()).collect();
        solid(&mut chart, runs, colour(index).stroke_width(2))?;
    }
    Ok(())
}

/// Policies per legend row: their labels carry the recovery, and must fit the width.
const LEGEND_POLICIES_PER_ROW: usize = 3;
const LEGEND_ROW_PX: u32 = 40;

/// A row per three policies, then a row of what the marks mean.
fn legend_height(input: &LoadInput) -> u32 {
    let rows = input.policies.len().div_ceil(LEGEND_POLICIES_PER_ROW).max(1) + 1;
    LEGEND_ROW_PX * rows as u32
}

/// The policies (with their recovery), three a row, then what the marks mean.
fn legend<DB: DrawingBackend>(input: &LoadInput, area: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
    let has_trigger = !input.trigger_spans().is_empty();
    let policies: Vec<(&'static str, RGBColor, String)> = input
        .policies
        .iter()
        .enumerate()
        .map(|(index, policy)| {
            let label = match policy.recovery_s.and_then(drawable) {
                Some(after) => format!("{}: recovered {after:.1} s after the trigger (▼)", policy.name),
                None if has_trigger => format!("{}: did not recover", policy.name),
                None => policy.name.clone(),
            };
            ("■", colour(index), label)
        })
        .collect();
    let mut keys = vec![
        ("—", BLACK, "solid: goodput, retries, p99 latency".to_owned()),
        ("-", BLACK, "dashed: offered load".to_owned()),
        ("·", BLACK, "dotted: attempts".to_owned()),
    ];
    if has_trigger {
        keys.push(("■", OUTAGE, "trigger".to_owned()));
    }
    let mut rest = area.clone();
    for row in policies.chunks(LEGEND_POLICIES_PER_ROW) {
        let (this, below) = rest.split_vertically(LEGEND_ROW_PX);
        draw_legend(&this, row)?;
        rest = below;
    }
    draw_legend(&rest, &keys)
}
