//! The RTT scatter of one run: each operation's round-trip time against its start, as the
//! 2012 figure (`docs/img/rttimes-2012.png`) drew it.

use std::collections::BTreeSet;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::colours::{FAILED, PLAIN, RETRIED, WORST};
use crate::figure::{decade_label, drawing, font, padded, render, spans_decades, Figure, Format, PlotError};

/// One operation of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RttPoint {
    /// When the operation started, in virtual seconds since the run began.
    pub start_s: f64,
    /// From its first request to its final answer, in milliseconds.
    pub rtt_ms: f64,
    /// Whether it was retried at least once (drawn red, as in 2012).
    pub retried: bool,
    /// Whether its final answer was an error (a black cross).
    pub failed: bool,
}

/// The operations of one run and what names it.
#[derive(Clone, Debug, PartialEq)]
pub struct RttInput {
    pub scenario: String,
    pub policy: String,
    pub seed: u64,
    pub points: Vec<RttPoint>,
}

/// Draws `input` as the RTT scatter. The y axis is logarithmic when the round-trip times
/// span two decades or more; otherwise linear from zero, as in 2012 (0.9 s to 7 s).
pub fn rtt(input: &RttInput, format: Format) -> Result<Vec<u8>, PlotError> {
    render(input, format)
}

/// Points with finite coordinates only: a NaN cannot be placed.
fn finite_points(input: &RttInput) -> Vec<RttPoint> {
    input.points.iter().copied().filter(|p| p.start_s.is_finite() && p.rtt_ms.is_finite()).collect()
}

/// The longest operation (the first of equals).
fn worst(points: &[RttPoint]) -> Option<RttPoint> {
    points.iter().copied().fold(None, |best: Option<RttPoint>, p| match best {
        Some(b) if b.rtt_ms >= p.rtt_ms => Some(b),
        _ => Some(p),
    })
}

impl Figure for RttInput {
    fn size(&self) -> (u32, u32) {
        (1000, 780)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let points = finite_points(self);
        let start_s_max = points.iter().map(|p| p.start_s).fold(0.0, f64::max);
        let rtt_ms_min = points.iter().map(|p| p.rtt_ms).filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
        let rtt_ms_max = points.iter().map(|p| p.rtt_ms).fold(0.0, f64::max);
        let log_y = spans_decades(rtt_ms_min, rtt_ms_max, 2.0);
        // On a log axis a point is placed at log10 of its value; zero sits at the floor.
        let y_of = |rtt_ms: f64| if log_y { rtt_ms.max(rtt_ms_min).log10() } else { rtt_ms };
        let (y_low, y_high) = if log_y {
            (rtt_ms_min.log10().floor(), rtt_ms_max.log10().ceil())
        } else {
            (0.0, if rtt_ms_max > 0.0 { rtt_ms_max * 1.05 } else { 1.0 })
        };
        let (x_low, x_high) = padded(0.0, start_s_max.max(1.0));
        let title =
            format!("Round-trip time of each operation: {}, policy {}, seed {}", self.scenario, self.policy, self.seed);
        let (plot_area, legend_area) = root.split_vertically(root.dim_in_pixel().1 - 40);
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(title, font(22.0))
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(80)
            .build_cartesian_2d(x_low..x_high, y_low..y_high)
            .map_err(drawing)?;
        let decades = (y_high - y_low).round() as usize + 1;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("start time (s)")
            .y_desc(if log_y { "round-trip time (ms, log scale)" } else { "round-trip time (ms)" })
            .label_style(font(15.0))
            .axis_desc_style(font(17.0))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_labels(if log_y { decades } else { 10 })
            .y_label_formatter(&|y| if log_y { decade_label(*y) } else { format!("{y:.0}") })
            .draw()
            .map_err(drawing)?;

        // Plain points, one mark per pixel: 10,000 operations mostly share a few hundred
        // pixels, and the SVG stays small without changing the picture.
        let mut plain_pixels = BTreeSet::new();
        let plain: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| !p.retried && !p.failed)
            .map(|p| (p.start_s, y_of(p.rtt_ms)))
            .filter(|coord| plain_pixels.insert(chart.backend_coord(coord)))
            .collect();
        chart.draw_series(plain.iter().map(|&c| Circle::new(c, 1, PLAIN.filled()))).map_err(drawing)?;
        let retried: Vec<(f64, f64)> =
            points.iter().filter(|p| p.retried).map(|p| (p.start_s, y_of(p.rtt_ms))).collect();
        chart
            .draw_series(retried.iter().map(|&c| {
                EmptyElement::at(c)
                    + Circle::new((0, 0), 4, RETRIED.filled())
                    + Circle::new((0, 0), 4, BLACK.stroke_width(1))
            }))
            .map_err(drawing)?;
        let failed: Vec<(f64, f64)> = points.iter().filter(|p| p.failed).map(|p| (p.start_s, y_of(p.rtt_ms))).collect();
        chart.draw_series(failed.iter().map(|&c| Cross::new(c, 5, FAILED.stroke_width(2)))).map_err(drawing)?;
        let worst = worst(&points);
        if let Some(w) = worst {
            // A downward triangle centred on the point, as matplotlib's 'v' marker in 2012.
            let triangle = [(-9, -6), (9, -6), (0, 12)];
            let outline = vec![(-9, -6), (9, -6), (0, 12), (-9, -6)];
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((w.start_s, y_of(w.rtt_ms)))
                        + Polygon::new(triangle.to_vec(), WORST.filled())
                        + PathElement::new(outline, BLACK.stroke_width(1)),
                ))
                .map_err(drawing)?;
        }
        draw_legend(&legend_area, &legend_lines(&points, worst))
    }
}

/// Legend lines: a symbol, its colour and what it stands for, with counts.
fn legend_lines(points: &[RttPoint], worst: Option<RttPoint>) -> Vec<(&'static str, RGBColor, String)> {
    let plain = points.iter().filter(|p| !p.retried && !p.failed).count();
    let retried = points.iter().filter(|p| p.retried).count();
    let failed = points.iter().filter(|p| p.failed).count();
    let mut lines = vec![
        ("•", PLAIN, format!("no retry ({plain})")),
        ("●", RETRIED, format!("retried at least once ({retried})")),
        ("×", FAILED, format!("failed ({failed})")),
    ];
    if let Some(w) = worst {
        lines.push(("▼", WORST, format!("worst: {:.0} ms at {:.0} s", w.rtt_ms, w.start_s)));
    }
    lines
}

/// The legend as one row of entries centred in `area` (a strip under the plot, so that it
/// hides no point), as text only: its symbols are glyphs, so the plot's own marks can be
/// counted in the SVG.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lines: &[(&'static str, RGBColor, String)],
) -> Result<(), PlotError> {
    let gap = 30;
    let symbol_width = 20;
    let widths: Vec<i32> = lines
        .iter()
        .map(|(_, _, label)| area.estimate_text_size(label, &font(15.0)).map(|(w, _)| w as i32).map_err(drawing))
        .collect::<Result<_, _>>()?;
    let total: i32 = widths.iter().map(|w| w + symbol_width + gap).sum::<i32>() - gap;
    let (width, height) = area.dim_in_pixel();
    let mut x = ((width as i32 - total) / 2).max(0);
    let y = height as i32 / 2;
    let centred = |size| font(size).pos(Pos::new(HPos::Left, VPos::Center));
    for ((symbol, colour, label), label_width) in lines.iter().zip(widths) {
        area.draw(&Text::new(symbol.to_string(), (x, y), centred(18.0).color(colour))).map_err(drawing)?;
        area.draw(&Text::new(label.clone(), (x + symbol_width, y), centred(15.0))).map_err(drawing)?;
        x += symbol_width + label_width + gap;
    }
    Ok(())
}
