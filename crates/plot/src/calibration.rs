//! The calibration plot of a fitter: for each parameter of each known model, the share of
//! simulated logs whose 95% interval held the true value, with its own interval, against the
//! nominal level.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::colours::POLICIES;
use crate::figure::{category_label, drawing, font, render, Figure, Format, PlotError};

/// One parameter of one case: how often its interval covered the truth.
#[derive(Clone, Debug, PartialEq)]
pub struct CoverageRow {
    /// The case ("short-bursts"); rows of one case share a colour.
    pub case: String,
    /// The parameter ("bad_mean_ms").
    pub parameter: String,
    pub covered: u64,
    pub logs: u64,
    /// The 95% interval of the coverage itself (Clopper-Pearson).
    pub low: f64,
    pub high: f64,
}

/// What the calibration plot shows.
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrationInput {
    pub title: String,
    /// The intervals' nominal coverage (0.95), drawn as a line.
    pub nominal: f64,
    pub rows: Vec<CoverageRow>,
}

/// Draws one row per parameter, the coverage with its interval on a shared axis.
pub fn calibration(input: &CalibrationInput, format: Format) -> Result<Vec<u8>, PlotError> {
    render(input, format)
}

const ROW_PX: u32 = 34;

impl Figure for CalibrationInput {
    fn size(&self) -> (u32, u32) {
        (1000, 150 + ROW_PX * self.rows.len().max(1) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let body = root.titled(&self.title, font(20.0)).map_err(drawing)?;
        let rows = self.rows.len().max(1) as f64;
        let finite = |v: f64| if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
        let x_low = self.rows.iter().map(|row| finite(row.low)).fold(finite(self.nominal), f64::min);
        let x_low = ((x_low * 10.0).floor() / 10.0).min(0.8);
        let y_label = category_label(self.rows.iter().map(|row| format!("{}: {}", row.case, row.parameter)).collect());
        let mut chart = ChartBuilder::on(&body)
            .margin(14)
            .x_label_area_size(45)
            .y_label_area_size(330)
            .build_cartesian_2d(x_low..1.0, (rows - 0.5)..-0.5)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .x_desc("share of logs whose 95% interval held the true value")
            .label_style(font(14.0))
            .axis_desc_style(font(15.0))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .y_labels(self.rows.len().max(1) * 2 + 1)
            .x_label_formatter(&|x| format!("{:.0}%", x * 100.0))
            .y_label_formatter(&y_label)
            .draw()
            .map_err(drawing)?;
        let nominal = finite(self.nominal);
        chart
            .draw_series(DashedLineSeries::new([(nominal, -0.5), (nominal, rows - 0.5)], 6, 4, BLACK.stroke_width(1)))
            .map_err(drawing)?;
        let mut cases: Vec<&str> = Vec::new();
        for (index, row) in self.rows.iter().enumerate() {
            if !cases.contains(&row.case.as_str()) {
                cases.push(&row.case);
            }
            let colour = POLICIES[cases.len().saturating_sub(1) % POLICIES.len()];
            let y = index as f64;
            let share = if row.logs > 0 { row.covered as f64 / row.logs as f64 } else { 0.0 };
            let (low, high) = (finite(row.low).min(share), finite(row.high).max(share));
            let style = colour.stroke_width(2);
            let cap = |x: f64| EmptyElement::at((x, y)) + PathElement::new(vec![(0, -6), (0, 6)], style);
            chart.draw_series(std::iter::once(PathElement::new(vec![(low, y), (high, y)], style))).map_err(drawing)?;
            chart.draw_series([cap(low), cap(high)]).map_err(drawing)?;
            chart.draw_series(std::iter::once(Circle::new((share, y), 5, colour.filled()))).map_err(drawing)?;
            let text = format!("{} / {}", row.covered, row.logs);
            chart
                .draw_series(std::iter::once(Text::new(text, (x_low + 0.005, y - 0.15), font(13.0))))
                .map_err(drawing)?;
        }
        Ok(())
    }
}
