//! Plots of retrylab runs as SVG or PNG, from plain input data: the RTT scatter of one run
//! (as the 2012 figure), a comparison of policies, the fault chain's timeline, the load
//! figure of an incident review (throughput, retries and p99 latency over time, per policy),
//! and the goodness of fit of `retrylab fit` with the fitter's calibration.
//!
//! Each plot takes its own input struct and returns the encoded image. The crate knows
//! nothing of the harness: the CLI turns run reports into these inputs, so the pictures
//! can be tested on data made by hand.
//!
//! Text is laid out (and, in PNG, drawn) with Liberation Sans (SIL Open Font License 1.1,
//! `fonts/`), embedded in the binary: a machine without any font installed renders the same
//! picture. SVG names the family `sans-serif`, so a browser uses its own sans-serif face.

mod calibration;
mod compare;
mod figure;
mod fit;
mod load;
mod rtt;
mod timeline;

pub use calibration::{calibration, CalibrationInput, CoverageRow};
pub use compare::{compare, CompareInput, PolicySummary};
pub use figure::{Format, PlotError};
pub use fit::{fit, Band, ConditionalRow, FitInput, QqSeries, RunLengthRow};
pub use load::{load, LoadInput, LoadPolicySeries};
pub use rtt::{rtt, RttInput, RttPoint};
pub use timeline::{timeline, ChainSpan, RequestMark, RequestOutcome, TimelineInput};

/// The colours of the marks, public so that tests (and readers of the SVG) can find them.
pub mod colours {
    use plotters::style::RGBColor;

    /// An operation that needed no retry: small and dark, as the 2012 figure's dots.
    pub const PLAIN: RGBColor = RGBColor(25, 45, 150);
    /// An operation retried at least once.
    pub const RETRIED: RGBColor = RGBColor(220, 20, 20);
    /// An operation whose final answer was an error.
    pub const FAILED: RGBColor = RGBColor(0, 0, 0);
    /// The worst (longest) operation.
    pub const WORST: RGBColor = RGBColor(20, 150, 50);
    /// The fault chain's bad state, shaded behind the requests.
    pub const BAD_STATE: RGBColor = RGBColor(250, 200, 200);
    /// A scripted outage, shaded behind the requests.
    pub const OUTAGE: RGBColor = RGBColor(200, 200, 200);
    /// One colour per policy, in order, repeating after the last.
    pub const POLICIES: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        // Tableau 10's last four: a comparison of seven to ten policies keeps one colour each.
        RGBColor(214, 39, 40),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];

    /// The colour as SVG writes it (`#DC1414`).
    pub fn svg(colour: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", colour.0, colour.1, colour.2)
    }
}
