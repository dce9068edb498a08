//! Line charts as SVG (plotters; no font files needed), for the tools that write figures:
//! `economics simulate` and `soak-check`. One file holds one or more panels side by side.

use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One panel: a title, the axes' names, and named series over shared x values.
pub struct Panel<'a> {
    /// Shown above the panel.
    pub title: &'a str,
    /// What x counts (`epoch`, `minute`).
    pub x_desc: &'a str,
    /// What y measures.
    pub unit: &'a str,
    /// The x value of each point.
    pub x: Vec<f64>,
    /// Named series, one value per x.
    pub series: Vec<(&'a str, Vec<f64>)>,
}

fn err(e: &dyn std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Writes `panels` into one SVG at `path`, `columns` panels to a row, each 800x450.
pub fn write(path: &Path, columns: usize, panels: &[Panel<'_>]) -> Result<()> {
    let columns = columns.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(columns).max(1);
    let size = (800 * columns as u32, 450 * rows as u32);
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    for (area, panel) in root.split_evenly((rows, columns)).iter().zip(panels) {
        draw(area, panel)?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

fn draw(area: &DrawingArea<SVGBackend<'_>, Shift>, panel: &Panel<'_>) -> Result<()> {
    let (x_lo, x_hi) = panel
        .x
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        });
    let (x_lo, x_hi) = if x_lo < x_hi {
        (x_lo, x_hi)
    } else {
        (0.0, 1.0)
    };
    let hi = panel
        .series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0f64, f64::max);
    let hi = if hi > 0.0 { hi * 1.1 } else { 1.0 };
    let mut c = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(x_lo..x_hi, 0f64..hi)
        .map_err(|e| err(&e))?;
    c.configure_mesh()
        .x_desc(panel.x_desc)
        .y_desc(panel.unit)
        .draw()
        .map_err(|e| err(&e))?;
    let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for (i, (name, values)) in panel.series.iter().enumerate() {
        let color = colors[i % colors.len()];
        c.draw_series(LineSeries::new(
            panel
                .x
                .iter()
                .zip(values)
                .filter(|(_, y)| y.is_finite())
                .map(|(x, y)| (*x, *y)),
            color.stroke_width(2),
        ))
        .map_err(|e| err(&e))?
        .label(*name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    Ok(())
}
