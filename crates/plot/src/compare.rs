//! The comparison of policies on the same seeds: failure rate with its interval, attempts per
//! operation, and latency CDFs on shared axes.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::colours::POLICIES;
use crate::figure::{decade_label, drawing, font, render, spans_decades, Figure, Format, PlotError};

/// One policy's results.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicySummary {
    pub name: String,
    /// Failed operations / operations.
    pub failure_rate: f64,
    /// The interval of the failure rate (the harness's Clopper-Pearson on effective operations).
    pub ci_low: f64,
    pub ci_high: f64,
    /// S3 attempts per operation (request amplification).
    pub attempts_per_op: f64,
    /// The latency CDF as (latency in ms, fraction of operations at most that), ascending.
    pub latency_cdf: Vec<(f64, f64)>,
}

/// Policies run on the same seeds of one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareInput {
    pub scenario: String,
    pub seeds: u64,
    /// The interval's confidence (0.95).
    pub confidence: f64,
    pub policies: Vec<PolicySummary>,
    /// Said under the CDF panel, e.g. how the CDF points were obtained.
    pub cdf_note: Option<String>,
}

/// Draws the three panels side by side.
pub fn compare(input: &CompareInput, format: Format) -> Result<Vec<u8>, PlotError> {
    render(input, format)
}

fn colour(index: usize) -> RGBColor {
    POLICIES[index % POLICIES.len()]
}

/// A rate as a percentage with enough digits to tell small rates apart.
fn percent(rate: f64) -> String {
    let percent = rate * 100.0;
    if percent == 0.0 {
        "0%".to_owned()
    } else if percent < 0.01 {
        format!("{percent:.4}%")
    } else if percent < 1.0 {
        format!("{percent:.3}%")
    } else {
        format!("{percent:.2}%")
    }
}

/// A log10 rate axis value as a percentage (`-3` -> `0.1%`), only at whole decades.
fn rate_decade_label(exponent: f64) -> String {
    if (exponent - exponent.round()).abs() > 1e-9 {
        return String::new();
    }
    let exponent = exponent.round() as i32 + 2;
    if exponent >= 0 {
        format!("{}%", 10f64.powi(exponent))
    } else {
        let digits = (-exponent) as usize;
        format!("{:.digits$}%", 10f64.powi(exponent))
    }
}

impl Figure for CompareInput {
    fn size(&self) -> (u32, u32) {
        (1500, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let title = format!(
            "Policies compared: {}, {} seeds each, {:.0}% intervals",
            self.scenario,
            self.seeds,
            self.confidence * 100.0
        );
        let body = root.titled(&title, font(22.0)).map_err(drawing)?;
        let panels = body.split_evenly((1, 3));
        failure_panel(&panels[0], &self.policies)?;
        attempts_panel(&panels[1], &self.policies)?;
        cdf_panel(&panels[2], &self.policies, self.cdf_note.as_deref())
    }
}

/// Policy names under a categorical axis, one per integer position.
fn category_labels<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
    area: &DrawingArea<DB, Shift>,
    policies: &[PolicySummary],
    y_bottom: f64,
) -> Result<(), PlotError> {
    let origin = area.get_base_pixel();
    for (index, policy) in policies.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(index as f64, y_bottom));
        let style = font(14.0).pos(Pos::new(HPos::Center, VPos::Top));
        area.draw(&Text::new(policy.name.clone(), (x - origin.0, y - origin.1 + 8), style)).map_err(drawing)?;
    }
    Ok(())
}

/// Failure rate per policy with its interval. Log scale when the values span a decade or
/// more; a policy with no failure cannot sit on a log axis, so its interval's upper bound is
/// drawn as a downward arrow and labelled as such.
fn failure_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    policies: &[PolicySummary],
) -> Result<(), PlotError> {
    let values = policies.iter().flat_map(|p| [p.failure_rate, p.ci_low, p.ci_high]);
    let positive_min = values.clone().filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
    let max = values.fold(0.0, f64::max);
    let log_y = spans_decades(positive_min, max, 1.0);
    let (y_low, y_high) = if log_y {
        (positive_min.log10().floor(), max.log10().ceil())
    } else {
        (0.0, if max > 0.0 { max * 1.15 } else { 0.01 })
    };
    let y_of = |rate: f64| if log_y { rate.max(10f64.powf(y_low)).log10() } else { rate };
    let count = policies.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption("failure rate per operation", font(17.0))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(75)
        .build_cartesian_2d(-0.5..count - 0.5, y_low..y_high)
        .map_err(drawing)?;
    let decades = (y_high - y_low).round() as usize + 1;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(if log_y { "failure rate (log scale)" } else { "failure rate" })
        .label_style(font(14.0))
        .axis_desc_style(font(15.0))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .y_labels(if log_y { decades } else { 10 })
        .y_label_formatter(&|y| if log_y { rate_decade_label(*y) } else { percent(*y) })
        .draw()
        .map_err(drawing)?;
    for (index, policy) in policies.iter().enumerate() {
        let x = index as f64;
        let style = colour(index).stroke_width(2);
        if policy.failure_rate > 0.0 || !log_y {
            let bar = vec![(x, y_of(policy.ci_low)), (x, y_of(policy.ci_high))];
            chart.draw_series(std::iter::once(PathElement::new(bar, style))).map_err(drawing)?;
            for bound in [policy.ci_low, policy.ci_high] {
                let cap = vec![(x - 0.08, y_of(bound)), (x + 0.08, y_of(bound))];
                chart.draw_series(std::iter::once(PathElement::new(cap, style))).map_err(drawing)?;
            }
            let centre = (x, y_of(policy.failure_rate));
            chart.draw_series(std::iter::once(Circle::new(centre, 6, colour(index).filled()))).map_err(drawing)?;
            let label = if policy.failure_rate > 0.0 {
                percent(policy.failure_rate)
            } else {
                format!("0 failures (≤ {})", percent(policy.ci_high))
            };
            chart
                .draw_series(std::iter::once(EmptyElement::at(centre) + Text::new(label, (30, -8), font(13.0))))
                .map_err(drawing)?;
        } else {
            // Upper bound only: a cap at the bound and an arrow down to the axis.
            let top = (x, y_of(policy.ci_high));
            let shaft = vec![top, (x, y_low)];
            chart.draw_series(std::iter::once(PathElement::new(shaft, style))).map_err(drawing)?;
            let cap = vec![(x - 0.08, top.1), (x + 0.08, top.1)];
            chart.draw_series(std::iter::once(PathElement::new(cap, style))).map_err(drawing)?;
            let bottom = (x, y_low);
            let head = vec![(-7, -12), (7, -12), (0, 0)];
            chart
                .draw_series(std::iter::once(EmptyElement::at(bottom) + Polygon::new(head, colour(index).filled())))
                .map_err(drawing)?;
            let label = format!("0 failures: rate ≤ {}", percent(policy.ci_high));
            chart
                .draw_series(std::iter::once(EmptyElement::at(top) + Text::new(label, (30, -8), font(13.0))))
                .map_err(drawing)?;
        }
    }
    category_labels(&chart, area, policies, y_low)
}

/// S3 attempts per operation per policy, as bars from zero with their values.
fn attempts_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    policies: &[PolicySummary],
) -> Result<(), PlotError> {
    let max = policies.iter().map(|p| p.attempts_per_op).filter(|v| v.is_finite()).fold(0.0, f64::max);
    let count = policies.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption("S3 attempts per operation", font(17.0))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..count - 0.5, 0.0..(max * 1.2).max(1.0))
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("attempts per operation")
        .label_style(font(14.0))
        .axis_desc_style(font(15.0))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(drawing)?;
    for (index, policy) in policies.iter().enumerate() {
        let x = index as f64;
        let value = if policy.attempts_per_op.is_finite() { policy.attempts_per_op } else { 0.0 };
        chart
            .draw_series(std::iter::once(Rectangle::new([(x - 0.3, 0.0), (x + 0.3, value)], colour(index).filled())))
            .map_err(drawing)?;
        let style = font(13.0).pos(Pos::new(HPos::Center, VPos::Bottom));
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((x, value)) + Text::new(format!("{value:.4}"), (0, -4), style),
            ))
            .map_err(drawing)?;
    }
    category_labels(&chart, area, policies, 0.0)
}

/// Every policy's latency CDF on one pair of axes; log latency when it spans two decades.
fn cdf_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    policies: &[PolicySummary],
    note: Option<&str>,
) -> Result<(), PlotError> {
    let latencies = || policies.iter().flat_map(|p| p.latency_cdf.iter().map(|&(ms, _)| ms)).filter(|v| v.is_finite());
    let positive_min = latencies().filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
    let max = latencies().fold(0.0, f64::max);
    let log_x = spans_decades(positive_min, max, 2.0);
    let (x_low, x_high) =
        if log_x { (positive_min.log10().floor(), max.log10().ceil()) } else { (0.0, (max * 1.05).max(1.0)) };
    let x_of = |ms: f64| if log_x { ms.max(positive_min).log10() } else { ms };
    let (chart_area, note_area) = area.split_vertically(area.dim_in_pixel().1 - 30);
    let mut chart = ChartBuilder::on(&chart_area)
        .caption("latency CDF", font(17.0))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(x_low..x_high, 0.0..1.0)
        .map_err(drawing)?;
    let decades = (x_high - x_low).round() as usize + 1;
    chart
        .configure_mesh()
        .x_desc(if log_x { "latency (ms, log scale)" } else { "latency (ms)" })
        .y_desc("fraction of operations")
        .label_style(font(14.0))
        .axis_desc_style(font(15.0))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .x_labels(if log_x { decades } else { 10 })
        .x_label_formatter(&|x| if log_x { decade_label(*x) } else { format!("{x:.0}") })
        .draw()
        .map_err(drawing)?;
    for (index, policy) in policies.iter().enumerate() {
        let line: Vec<(f64, f64)> = policy
            .latency_cdf
            .iter()
            .filter(|(ms, fraction)| ms.is_finite() && fraction.is_finite())
            .map(|&(ms, fraction)| (x_of(ms), fraction))
            .collect();
        let style = colour(index).stroke_width(2);
        chart
            .draw_series(LineSeries::new(line, style))
            .map_err(drawing)?
            .label(policy.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(font(14.0))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .draw()
        .map_err(drawing)?;
    if let Some(note) = note {
        note_area.draw(&Text::new(note.to_owned(), (15, 5), font(13.0).color(&BLACK.mix(0.7)))).map_err(drawing)?;
    }
    Ok(())
}
