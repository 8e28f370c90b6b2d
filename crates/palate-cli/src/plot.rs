//! SVG plots for the CLI's reports (plotters, SVG backend only).

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use crate::CliError;

/// Accuracy vs number of answers, one line per strategy.
pub fn accuracy_curves(path: &Path, curves: &BTreeMap<&'static str, Vec<f64>>) -> Result<(), CliError> {
    let err = |e: String| CliError::Io { file: path.display().to_string(), detail: e };
    let max_k = curves.values().map(|c| c.len().saturating_sub(1)).max().unwrap_or(1).max(1);
    let lo = curves.values().flatten().copied().filter(|v| v.is_finite()).fold(1.0f64, f64::min);
    let lo = ((lo * 10.0).floor() / 10.0).clamp(0.0, 0.9);
    let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Test accuracy after k answers", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0usize..max_k, lo..1.0f64)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("answers (k)")
        .y_desc("accuracy")
        .draw()
        .map_err(|e| err(e.to_string()))?;
    let colours = [RGBColor(0xd6, 0x27, 0x28), RGBColor(0x1f, 0x77, 0xb4), RGBColor(0x7f, 0x7f, 0x7f)];
    for (i, (name, curve)) in curves.iter().enumerate() {
        let colour = colours[i % colours.len()];
        chart
            .draw_series(LineSeries::new(curve.iter().enumerate().map(|(k, &a)| (k, a)), colour.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}
