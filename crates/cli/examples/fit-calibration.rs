//! How often `retrylab fit`'s 95% intervals hold the truth, measured through the whole
//! pipeline (simulate, write the access log, read it back, fit), and the calibration plot of
//! docs/fit.md.
//!
//! ```sh
//! cargo run --release -p retrylab-cli --example fit-calibration -- [LOGS_PER_CASE] [PLOT.png]
//! ```
//!
//! Defaults: 200 logs per case (seeds 0..200), the plot to docs/img/fit-calibration.png.

use retrylab_cli::calibration::{calibrate, cases};
use retrylab_plot::{calibration, CalibrationInput, Format};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let logs: u64 = args.next().map(|text| text.parse()).transpose()?.unwrap_or(200);
    let plot = args.next().unwrap_or_else(|| "docs/img/fit-calibration.png".to_owned());
    let mut rows = Vec::new();
    println!("case                      parameter             covered   share    95% interval");
    for case in cases() {
        let result = calibrate(&case, 0, logs)?;
        for row in result.rows() {
            println!(
                "{:<25} {:<20} {:>4}/{:<4} {:>6.1}%   [{:.1}%, {:.1}%]",
                row.case,
                row.parameter,
                row.covered,
                row.logs,
                100.0 * row.covered as f64 / row.logs as f64,
                100.0 * row.low,
                100.0 * row.high
            );
            rows.push(row);
        }
        let outages = if case.outage_s.is_some() {
            format!(", the outage found in {}", result.outages_found)
        } else {
            String::new()
        };
        println!(
            "  {}: {} requests a log, called bursty in {} of {} logs{}, {} outages detected where none was",
            case.name, case.requests, result.bursty, result.logs, outages, result.false_outages
        );
    }
    let input = CalibrationInput {
        title: format!("retrylab fit: coverage of the 95% intervals over {logs} simulated access logs per case"),
        nominal: 0.95,
        rows,
    };
    let format = if plot.ends_with(".svg") { Format::Svg } else { Format::Png };
    std::fs::write(&plot, calibration(&input, format)?)?;
    println!("wrote {plot}");
    Ok(())
}
