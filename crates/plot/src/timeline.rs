//! The fault chain's timeline: its good and bad states over virtual time as shaded bands,
//! scripted outages, and each S3 request's outcome as a mark in its lane, so a reader sees
//! why retrying once, at once, fails inside a burst.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::colours::{BAD_STATE, FAILED, OUTAGE, PLAIN, RETRIED};
use crate::figure::{drawing, font, padded, render, Figure, Format, PlotError};
use crate::rtt::draw_legend;

/// A stretch of virtual time in one state of the fault chain.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChainSpan {
    pub start_s: f64,
    pub end_s: f64,
    /// In the bad (bursty) state.
    pub bad: bool,
}

impl ChainSpan {
    /// The chain's spans from each request's time and the chain's state then (ascending
    /// times): a state holds from one request to the next, and runs of one state merge.
    pub fn from_requests(states: &[(f64, bool)]) -> Vec<ChainSpan> {
        let mut spans: Vec<ChainSpan> = Vec::new();
        for (index, &(at_s, bad)) in states.iter().enumerate() {
            let end_s = states.get(index + 1).map_or(at_s, |&(next, _)| next);
            match spans.last_mut() {
                Some(last) if last.bad == bad => last.end_s = end_s,
                _ => spans.push(ChainSpan { start_s: at_s, end_s, bad }),
            }
        }
        spans
    }
}

/// What became of one S3 request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RequestOutcome {
    /// Answered 200 with no fault injected.
    Ok,
    /// A fault was injected and the operation retried it.
    FaultRetried,
    /// A fault was injected and it was the operation's final answer.
    Failed,
}

impl RequestOutcome {
    /// The lane of the timeline, bottom to top.
    fn lane(self) -> f64 {
        match self {
            RequestOutcome::Ok => 0.0,
            RequestOutcome::FaultRetried => 1.0,
            RequestOutcome::Failed => 2.0,
        }
    }
}

/// One S3 request at a virtual time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestMark {
    pub at_s: f64,
    pub outcome: RequestOutcome,
    /// The operation it served, when known (labelled on failures when zoomed in).
    pub operation: Option<u64>,
}

/// What the timeline shows.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineInput {
    pub scenario: String,
    pub policy: String,
    pub seed: u64,
    /// The chain's states; empty when the run did not record them.
    pub chain: Vec<ChainSpan>,
    /// Scripted outages as (start s, end s).
    pub outages: Vec<(f64, f64)>,
    pub requests: Vec<RequestMark>,
    /// Only this stretch of virtual time (from s, to s); the whole run when `None`.
    pub window: Option<(f64, f64)>,
    /// Said under the plot (e.g. that the chain state is not available).
    pub note: Option<String>,
}

/// Draws the timeline.
pub fn timeline(input: &TimelineInput, format: Format) -> Result<Vec<u8>, PlotError> {
    render(input, format)
}

/// Failures are labelled with their operation only when this few are in view.
const FAILURE_LABELS_MAX: usize = 20;

/// The room one failure's label takes, in pixels.
const FAILURE_LABEL_WIDTH_PX: i32 = 70;

impl TimelineInput {
    /// The stretch of time shown: the window, or everything the input holds.
    fn range_s(&self) -> (f64, f64) {
        if let Some((from, to)) = self.window {
            return if to > from { (from, to) } else { (from, from + 1.0) };
        }
        let times = self
            .requests
            .iter()
            .map(|r| r.at_s)
            .chain(self.chain.iter().flat_map(|s| [s.start_s, s.end_s]))
            .chain(self.outages.iter().flat_map(|&(a, b)| [a, b]))
            .filter(|t| t.is_finite());
        let (low, high) = times.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), t| (l.min(t), h.max(t)));
        if low.is_finite() {
            padded(low, high)
        } else {
            (0.0, 1.0)
        }
    }
}

impl Figure for TimelineInput {
    fn size(&self) -> (u32, u32) {
        (1200, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (from, to) = self.range_s();
        let in_view = |t: f64| t >= from && t <= to;
        let title =
            format!("Fault chain and S3 requests: {}, policy {}, seed {}", self.scenario, self.policy, self.seed);
        let (plot_area, below) = root.split_vertically(root.dim_in_pixel().1 - 70);
        let (legend_area, note_area) = below.split_vertically(40);
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(title, font(22.0))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(190)
            .build_cartesian_2d(from..to, -0.6..2.6)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("virtual time (s)")
            .label_style(font(15.0))
            .axis_desc_style(font(17.0))
            .y_labels(0)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(drawing)?;
        // Bands first, behind the marks, clipped to the window.
        let band = |start: f64, end: f64| (start.max(from), end.min(to));
        let bad: Vec<(f64, f64)> = self
            .chain
            .iter()
            .filter(|s| s.bad && s.end_s >= from && s.start_s <= to)
            .map(|s| band(s.start_s, s.end_s))
            .collect();
        let outages: Vec<(f64, f64)> =
            self.outages.iter().filter(|&&(a, b)| b >= from && a <= to).map(|&(a, b)| band(a, b)).collect();
        chart
            .draw_series(outages.iter().map(|&(a, b)| Rectangle::new([(a, -0.6), (b, 2.6)], OUTAGE.filled())))
            .map_err(drawing)?;
        chart
            .draw_series(bad.iter().map(|&(a, b)| Rectangle::new([(a, -0.6), (b, 2.6)], BAD_STATE.filled())))
            .map_err(drawing)?;
        let visible: Vec<RequestMark> = self.requests.iter().copied().filter(|r| in_view(r.at_s)).collect();
        let of = |outcome: RequestOutcome| visible.iter().filter(move |r| r.outcome == outcome);
        chart
            .draw_series(of(RequestOutcome::Ok).map(|r| Circle::new((r.at_s, r.outcome.lane()), 2, PLAIN.filled())))
            .map_err(drawing)?;
        chart
            .draw_series(of(RequestOutcome::FaultRetried).map(|r| {
                EmptyElement::at((r.at_s, r.outcome.lane()))
                    + Circle::new((0, 0), 4, RETRIED.filled())
                    + Circle::new((0, 0), 4, BLACK.stroke_width(1))
            }))
            .map_err(drawing)?;
        chart
            .draw_series(
                of(RequestOutcome::Failed).map(|r| Cross::new((r.at_s, r.outcome.lane()), 5, FAILED.stroke_width(2))),
            )
            .map_err(drawing)?;
        let failures = of(RequestOutcome::Failed).count();
        if failures <= FAILURE_LABELS_MAX {
            // Labels that would overlap the previous one are left out.
            let mut next_free_x = i32::MIN;
            let mut labelled = Vec::new();
            for r in of(RequestOutcome::Failed) {
                let Some(op) = r.operation else { continue };
                let (x, _) = chart.backend_coord(&(r.at_s, r.outcome.lane()));
                if x >= next_free_x {
                    labelled.push((r.at_s, r.outcome.lane(), format!("op {op}")));
                    next_free_x = x + FAILURE_LABEL_WIDTH_PX;
                }
            }
            chart
                .draw_series(labelled.into_iter().map(|(at_s, lane, label)| {
                    EmptyElement::at((at_s, lane)) + Text::new(label, (-8, -24), font(13.0))
                }))
                .map_err(drawing)?;
        }
        lane_labels(&chart, &plot_area)?;
        let spans = bad.len();
        let mut legend = vec![
            ("■", BAD_STATE, format!("chain in its bad state ({spans} span{})", if spans == 1 { "" } else { "s" })),
            ("●", PLAIN, format!("ok ({})", of(RequestOutcome::Ok).count())),
            ("●", RETRIED, format!("fault, retried ({})", of(RequestOutcome::FaultRetried).count())),
            ("×", FAILED, format!("fault, operation failed ({failures})")),
        ];
        if !outages.is_empty() {
            legend.insert(1, ("■", OUTAGE, format!("outage ({})", outages.len())));
        }
        draw_legend(&legend_area, &legend)?;
        if let Some(note) = &self.note {
            note_area.draw(&Text::new(note.clone(), (20, 4), font(14.0).color(&BLACK.mix(0.7)))).map_err(drawing)?;
        }
        Ok(())
    }
}

/// The lanes' names left of the plot.
fn lane_labels<DB: DrawingBackend>(
    chart: &ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    area: &DrawingArea<DB, Shift>,
) -> Result<(), PlotError> {
    let (x_pixels, _) = chart.plotting_area().get_pixel_range();
    let origin = area.get_base_pixel();
    let lanes = [
        (RequestOutcome::Ok, "request ok"),
        (RequestOutcome::FaultRetried, "fault, retried"),
        (RequestOutcome::Failed, "fault, op failed"),
    ];
    for (outcome, name) in lanes {
        let (_, y) = chart.backend_coord(&(0.0, outcome.lane()));
        let style = font(15.0).pos(Pos::new(HPos::Right, VPos::Center));
        area.draw(&Text::new(name, (x_pixels.start - origin.0 - 10, y - origin.1), style)).map_err(drawing)?;
    }
    Ok(())
}
