//! The goodness-of-fit figure of `retrylab fit`: failure-run lengths and P(fail | previous
//! failed within Δ), observed against bands of the fitted models, and the latency QQ plot.
//!
//! Shown, not asserted: the reader judges whether the observed marks sit inside the fitted
//! chain's bands (and outside independent faults' when the log is bursty).

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::colours::POLICIES;
use crate::figure::{category_label, decade_label, drawing, font, render, spans_decades, Figure, Format, PlotError};
use crate::rtt::draw_legend;

/// A model's replicas summarised: their mean and central 95%.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Band {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// Failure runs of one length: how many the log has and how many each model makes.
#[derive(Clone, Debug, PartialEq)]
pub struct RunLengthRow {
    /// The length as shown under the axis ("3", or "8+" for the last bin).
    pub label: String,
    pub observed: f64,
    /// The fitted chain's band; None when the log was judged independent.
    pub bursty: Option<Band>,
    pub independent: Band,
}

/// P(fail | the previous request failed at most `gap_s` earlier).
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionalRow {
    pub gap_s: f64,
    /// The log's proportion and its 95% interval; None when no request followed a failure that
    /// closely.
    pub observed: Option<Band>,
    pub bursty: Option<Band>,
    pub independent: Band,
}

/// One latency distribution's QQ points: (observed quantile, fitted quantile), in ms.
#[derive(Clone, Debug, PartialEq)]
pub struct QqSeries {
    /// What the latencies are ("successes", "errors").
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// What the goodness-of-fit figure shows.
#[derive(Clone, Debug, PartialEq)]
pub struct FitInput {
    pub title: String,
    pub run_lengths: Vec<RunLengthRow>,
    pub conditional: Vec<ConditionalRow>,
    pub qq: Vec<QqSeries>,
    /// Said under the figure: how many replicas the bands come from.
    pub note: String,
}

/// Draws the three panels side by side.
pub fn fit(input: &FitInput, format: Format) -> Result<Vec<u8>, PlotError> {
    render(input, format)
}

/// The fitted chain's colour, independent faults' colour, and the log's.
const BURSTY: RGBColor = POLICIES[0];
const INDEPENDENT: RGBColor = POLICIES[1];
const OBSERVED: RGBColor = RGBColor(0, 0, 0);

/// How far each model's mark sits from the observed one, in units of the x axis's step.
const MODEL_OFFSET: f64 = 0.18;

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

/// A band whose numbers can all be drawn, with low <= mean <= high.
fn drawable(band: &Band) -> Option<(f64, f64, f64)> {
    let (low, mean, high) = (finite(band.low)?, finite(band.mean)?, finite(band.high)?);
    Some((low.min(mean), mean, high.max(mean)))
}

impl Figure for FitInput {
    fn size(&self) -> (u32, u32) {
        (1500, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let body = root.titled(&self.title, font(22.0)).map_err(drawing)?;
        let (panels_area, below) = body.split_vertically(body.dim_in_pixel().1 - 70);
        let panels = panels_area.split_evenly((1, 3));
        run_length_panel(self, &panels[0])?;
        conditional_panel(self, &panels[1])?;
        qq_panel(self, &panels[2])?;
        let (legend_area, note_area) = below.split_vertically(40);
        let mut keys = vec![("●", OBSERVED, "the log (with its 95% interval)".to_owned())];
        if self.run_lengths.iter().any(|row| row.bursty.is_some())
            || self.conditional.iter().any(|r| r.bursty.is_some())
        {
            keys.push(("■", BURSTY, "fitted Gilbert-Elliott chain (mean, 95% of replicas)".to_owned()));
        }
        keys.push(("■", INDEPENDENT, "independent faults at the log's rate".to_owned()));
        draw_legend(&legend_area, &keys)?;
        let (width, height) = note_area.dim_in_pixel();
        let style = font(14.0).pos(Pos::new(HPos::Center, VPos::Center));
        note_area.draw(&Text::new(self.note.clone(), (width as i32 / 2, height as i32 / 2), style)).map_err(drawing)
    }
}

/// A panel's axes and mesh.
#[allow(clippy::too_many_arguments)] // One call per panel; a struct would only rename these.
fn panel<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    x_range: (f64, f64),
    y_range: (f64, f64),
    x_desc: &str,
    y_desc: &str,
    x_label: &dyn Fn(&f64) -> String,
    y_label: &dyn Fn(&f64) -> String,
) -> Result<Chart<'a, DB>, PlotError> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, font(17.0))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(font(14.0))
        .axis_desc_style(font(15.0))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .x_label_formatter(x_label)
        .y_label_formatter(y_label)
        .draw()
        .map_err(drawing)?;
    Ok(chart)
}

/// A vertical error bar from `low` to `high` with a filled mark at `mean`.
fn bar<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    x: f64,
    (low, mean, high): (f64, f64, f64),
    colour: RGBColor,
    mark: u32,
) -> Result<(), PlotError> {
    let style = colour.stroke_width(2);
    let cap = |y: f64| EmptyElement::at((x, y)) + PathElement::new(vec![(-5, 0), (5, 0)], style);
    chart.draw_series(std::iter::once(PathElement::new(vec![(x, low), (x, high)], style))).map_err(drawing)?;
    chart.draw_series([cap(low), cap(high)]).map_err(drawing)?;
    chart.draw_series(std::iter::once(Circle::new((x, mean), mark, colour.filled()))).map_err(drawing)?;
    Ok(())
}

/// Counts on a log axis: zero sits on the axis floor (half a run), drawn hollow.
const COUNT_FLOOR: f64 = 0.5;

/// Observed failure-run counts per length against each model's band, counts on a log axis.
fn run_length_panel<DB: DrawingBackend>(input: &FitInput, area: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
    let rows = &input.run_lengths;
    let values = rows.iter().flat_map(|row| {
        let bursty = row.bursty.iter().flat_map(|b| [b.high, b.mean]);
        [row.observed, row.independent.high].into_iter().chain(bursty)
    });
    let max = values.filter_map(finite).fold(1.0, f64::max);
    let y_of = |count: f64| count.max(COUNT_FLOOR).log10();
    let y_range = (COUNT_FLOOR.log10(), max.log10().ceil().max(1.0));
    let x_label = category_label(rows.iter().map(|row| row.label.clone()).collect());
    let mut chart = panel(
        area,
        "failure runs by length",
        (-0.6, rows.len().max(1) as f64 - 0.4),
        y_range,
        "consecutive failed requests",
        "runs (log scale)",
        &x_label,
        &|y| decade_label(*y),
    )?;
    let log_band = |band: &Band| drawable(band).map(|(low, mean, high)| (y_of(low), y_of(mean), y_of(high)));
    for (index, row) in rows.iter().enumerate() {
        let x = index as f64;
        if let Some(band) = row.bursty.as_ref().and_then(log_band) {
            bar(&mut chart, x - MODEL_OFFSET, band, BURSTY, 3)?;
        }
        if let Some(band) = log_band(&row.independent) {
            bar(&mut chart, x + MODEL_OFFSET, band, INDEPENDENT, 3)?;
        }
        if let Some(observed) = finite(row.observed) {
            let centre = (x, y_of(observed));
            let style = if observed > 0.0 { OBSERVED.filled() } else { OBSERVED.stroke_width(2) };
            chart.draw_series(std::iter::once(Circle::new(centre, 5, style))).map_err(drawing)?;
        }
    }
    Ok(())
}

/// P(fail | previous failed within Δ) per Δ, Δ on a log axis.
fn conditional_panel<DB: DrawingBackend>(input: &FitInput, area: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
    let rows: Vec<&ConditionalRow> =
        input.conditional.iter().filter(|row| row.gap_s.is_finite() && row.gap_s > 0.0).collect();
    let x_of = |gap_s: f64| gap_s.log10();
    let (x_low, x_high) = rows.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), row| {
        (low.min(x_of(row.gap_s)), high.max(x_of(row.gap_s)))
    });
    let x_range = if x_low.is_finite() { (x_low - 0.3, x_high + 0.3) } else { (0.0, 1.0) };
    let bands = rows.iter().flat_map(|row| {
        let observed = row.observed.iter().map(|b| b.high);
        observed.chain(row.bursty.iter().map(|b| b.high)).chain([row.independent.high])
    });
    let y_top = bands.filter_map(finite).fold(0.0, f64::max).clamp(0.0, 1.0);
    let y_top = if y_top > 0.0 { (y_top * 1.1).min(1.0) } else { 1.0 };
    let step = 0.12 * (x_range.1 - x_range.0) / rows.len().max(1) as f64;
    let mut chart = panel(
        area,
        "P(fail | previous failed within Δ)",
        x_range,
        (0.0, y_top),
        "Δ (s, log scale)",
        "probability",
        &|x| decade_label(*x),
        &|y| format!("{y:.2}"),
    )?;
    for row in &rows {
        let x = x_of(row.gap_s);
        if let Some(band) = row.bursty.as_ref().and_then(drawable) {
            bar(&mut chart, x - step, band, BURSTY, 3)?;
        }
        if let Some(band) = drawable(&row.independent) {
            bar(&mut chart, x + step, band, INDEPENDENT, 3)?;
        }
        if let Some(band) = row.observed.as_ref().and_then(drawable) {
            bar(&mut chart, x, band, OBSERVED, 5)?;
        }
        // The axis labels only decades; each Δ is also named above its marks (60 s is not one).
        let label = format!("{} s", row.gap_s);
        chart.draw_series(std::iter::once(Text::new(label, (x, y_top * 0.97), font(13.0)))).map_err(drawing)?;
    }
    Ok(())
}

/// Latency spanning this many decades gets log axes.
const QQ_LOG_DECADES: f64 = 1.0;

/// Observed against fitted quantiles, per series, with the diagonal they should follow.
fn qq_panel<DB: DrawingBackend>(input: &FitInput, area: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
    let points =
        || input.qq.iter().flat_map(|series| series.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let positive_min = points().flat_map(|&(x, y)| [x, y]).filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
    let max = points().flat_map(|&(x, y)| [x, y]).fold(0.0, f64::max);
    let log = spans_decades(positive_min, max, QQ_LOG_DECADES);
    let of = move |ms: f64| if log { ms.max(positive_min).log10() } else { ms };
    let range = if log {
        (positive_min.log10().floor(), max.log10().ceil())
    } else if max > 0.0 {
        (0.0, max * 1.05)
    } else {
        (0.0, 1.0)
    };
    let label = move |v: &f64| if log { decade_label(*v) } else { format!("{v:.0}") };
    let (x_desc, y_desc) = if log {
        ("observed quantile (ms, log scale)", "fitted mixture's quantile (ms, log scale)")
    } else {
        ("observed quantile (ms)", "fitted mixture's quantile (ms)")
    };
    let mut chart = panel(area, "latency QQ", range, range, x_desc, y_desc, &label, &label)?;
    chart
        .draw_series(DashedLineSeries::new(
            [(range.0, range.0), (range.1, range.1)],
            6,
            4,
            BLACK.mix(0.5).stroke_width(1),
        ))
        .map_err(drawing)?;
    for (index, series) in input.qq.iter().enumerate() {
        // Green and purple: black and the models' blue and orange mean something else here.
        let colour = POLICIES[(index + 2) % POLICIES.len()];
        let marks = series.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite());
        chart.draw_series(marks.map(|&(x, y)| Circle::new((of(x), of(y)), 3, colour.filled()))).map_err(drawing)?;
        if let Some(&(x, y)) = series.points.iter().rev().find(|(x, y)| x.is_finite() && y.is_finite()) {
            let at = (of(x), of(y));
            // Left of the last (largest) point, which sits at the panel's top right.
            let style = font(13.0).color(&colour).pos(Pos::new(HPos::Right, VPos::Center));
            let label = EmptyElement::at(at) + Text::new(format!("{} ", series.name), (-6, 0), style);
            chart.draw_series(std::iter::once(label)).map_err(drawing)?;
        }
    }
    Ok(())
}
