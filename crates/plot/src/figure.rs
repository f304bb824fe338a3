//! Rendering a figure to SVG or PNG: the backend, the embedded font and the PNG encoder.

use std::fmt;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

/// Liberation Sans Regular (SIL OFL 1.1, see `fonts/LICENSE-LiberationSans.txt`).
static FONT_REGULAR: &[u8] = include_bytes!("../fonts/LiberationSans-Regular.ttf");

/// The family every text of the plots uses; SVG viewers substitute their own sans-serif.
pub(crate) const FONT_FAMILY: &str = "sans-serif";

/// The image format of a plot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Scalable, text as text, diffable: the default.
    #[default]
    Svg,
    /// A bitmap, for places that take no SVG.
    Png,
}

impl Format {
    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Svg => "svg",
            Format::Png => "png",
        }
    }
}

/// Why a plot could not be drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlotError(pub String);

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot draw the plot: {}", self.0)
    }
}

impl std::error::Error for PlotError {}

/// A drawing error of plotters, of whichever backend.
pub(crate) fn drawing<E: fmt::Debug>(error: E) -> PlotError {
    PlotError(format!("{error:?}"))
}

/// A picture that can be drawn on any plotters backend.
pub(crate) trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>;
}

/// Registers the embedded font once per process (plotters keeps fonts in a global table).
fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<Result<(), PlotError>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT_REGULAR)
                .map_err(|_| PlotError("the embedded font could not be read".to_owned()))
        })
        .clone()
}

/// Draws `figure` and encodes it in `format`.
pub(crate) fn render(figure: &impl Figure, format: Format) -> Result<Vec<u8>, PlotError> {
    ensure_font()?;
    let (width, height) = figure.size();
    match format {
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
                root.fill(&WHITE).map_err(drawing)?;
                figure.draw(&root)?;
                root.present().map_err(drawing)?;
            }
            Ok(svg.into_bytes())
        }
        Format::Png => {
            let mut rgb = vec![0u8; width as usize * height as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
                root.fill(&WHITE).map_err(drawing)?;
                figure.draw(&root)?;
                root.present().map_err(drawing)?;
            }
            encode_png(&rgb, width, height)
        }
    }
}

/// Encodes an RGB buffer as PNG with the `png` crate (lighter than plotters' `image`-based encoder).
fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let png_error = |error: png::EncodingError| PlotError(format!("PNG encoding: {error}"));
    let mut writer = encoder.write_header().map_err(png_error)?;
    writer.write_image_data(rgb).map_err(png_error)?;
    writer.finish().map_err(png_error)?;
    Ok(out)
}

/// The text style of the plots at `size` pixels.
pub(crate) fn font(size: f64) -> TextStyle<'static> {
    (FONT_FAMILY, size).into_font().color(&BLACK)
}

/// Nice bounds for an axis that must hold `low..=high`: a little headroom, never an empty range.
pub(crate) fn padded(low: f64, high: f64) -> (f64, f64) {
    if !(low.is_finite() && high.is_finite()) {
        return (0.0, 1.0);
    }
    if high <= low {
        return (low - 0.5, low + 0.5);
    }
    let pad = (high - low) * 0.03;
    (low - pad, high + pad)
}

/// Whether positive values from `low` to `high` span at least `decades` powers of ten.
pub(crate) fn spans_decades(low: f64, high: f64, decades: f64) -> bool {
    low > 0.0 && high > 0.0 && (high / low).log10() >= decades
}

/// A log10 axis value printed as the number it stands for (`3` -> `1000`), only at whole decades.
pub(crate) fn decade_label(exponent: f64) -> String {
    if (exponent - exponent.round()).abs() > 1e-9 {
        return String::new();
    }
    let value = 10f64.powi(exponent.round() as i32);
    if value >= 1.0 {
        format!("{value:.0}")
    } else {
        let digits = (-exponent.round()) as usize;
        format!("{value:.digits$}")
    }
}

/// An axis of categories at 0, 1, 2, ...: each whole position labelled with its category,
/// positions between them left blank.
pub(crate) fn category_label(labels: Vec<String>) -> impl Fn(&f64) -> String {
    move |position: &f64| {
        let index = position.round();
        if (position - index).abs() < 1e-9 && index >= 0.0 {
            labels.get(index as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    }
}
