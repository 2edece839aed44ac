//! The statistics screen's chart: the table's row totals as horizontal
//! bars, drawn as SVG on the server by `plotters` (no script, nothing for
//! the browser to fetch). Suppressed totals have no bar and say so in their
//! label; the SVG carries a text alternative, and the table beside it holds
//! every number.

use plotters::prelude::*;
use trama_proto::stats::ALL;
use trama_proto::v1;

/// One bar: its label and its published count (`None`: suppressed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// What the bar counts (a row of the table).
    pub label: String,
    /// The published count, or `None` when the gateway suppressed it.
    pub count: Option<u64>,
}

/// The bars of an answer: for each value of the first dimension, its
/// total over the others (the margin the gateway published), grand total
/// left out; in the answer's order, which is the table's.
pub fn bars(answer: &v1::AggregateResponse, label: impl Fn(&str) -> String) -> Vec<Bar> {
    let suppressed = v1::CellStatus::Suppressed as i32;
    answer
        .cells
        .iter()
        .filter(|c| {
            c.values.first().is_some_and(|v| v != ALL) && c.values.iter().skip(1).all(|v| v == ALL)
        })
        .map(|c| Bar {
            label: label(&c.values[0]),
            count: (c.status != suppressed).then_some(c.count),
        })
        .collect()
}

/// The bars as an SVG element titled `title`, a suppressed total marked
/// `unpublished`; `None` if there is nothing to draw or drawing fails (the
/// table is still there).
pub fn svg(title: &str, bars: &[Bar], unpublished: &str) -> Option<String> {
    if bars.is_empty() {
        return None;
    }
    let mut out = String::new();
    let height = 60 + 28 * u32::try_from(bars.len()).unwrap_or(100);
    draw(&mut out, (760, height), bars, unpublished)
        .map_err(|e| tracing::warn!(error = %e, "the chart could not be drawn"))
        .ok()?;
    let alternative = alternative(title, bars, unpublished);
    Some(out.replacen(
        "<svg ",
        &format!(
            "<svg role=\"img\" aria-label=\"{}\" ",
            escape_attribute(&alternative)
        ),
        1,
    ))
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(out: &mut String, size: (u32, u32), bars: &[Bar], unpublished: &str) -> DrawResult {
    // The axis counts upwards: the last bar drawn is the top one, so the
    // table's first row is drawn last.
    let bars: Vec<&Bar> = bars.iter().rev().collect();
    let root = SVGBackend::with_string(out, size).into_drawing_area();
    root.fill(&WHITE)?;
    let most = bars
        .iter()
        .filter_map(|b| b.count)
        .max()
        .unwrap_or(0)
        .max(1);
    let n = bars.len();
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(220)
        .build_cartesian_2d(0u64..most + most / 10 + 1, (0..n).into_segmented())?;
    let labels: Vec<String> = bars
        .iter()
        .map(|b| match b.count {
            Some(_) => b.label.clone(),
            None => format!("{} ({unpublished})", b.label),
        })
        .collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                labels.get(*i).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .label_style(("sans-serif", 15).into_font().color(&RGBColor(26, 26, 26)))
        .axis_style(RGBColor(92, 111, 130))
        .draw()?;
    let blue = RGBColor(0, 102, 204);
    chart.draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
        let count = b.count?;
        let mut bar = Rectangle::new(
            [
                (0, SegmentValue::Exact(i)),
                (count, SegmentValue::Exact(i + 1)),
            ],
            blue.filled(),
        );
        bar.set_margin(4, 4, 0, 0);
        Some(bar)
    }))?;
    root.present()?;
    Ok(())
}

/// The chart in words, for screen readers.
fn alternative(title: &str, bars: &[Bar], unpublished: &str) -> String {
    let values: Vec<String> = bars
        .iter()
        .map(|b| match b.count {
            Some(c) => format!("{} {c}", b.label),
            None => format!("{} {unpublished}", b.label),
        })
        .collect();
    format!("{title}: {}", values.join(", "))
}

fn escape_attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(values: &[&str], count: u64, status: v1::CellStatus) -> v1::Cell {
        v1::Cell {
            values: values.iter().map(|v| v.to_string()).collect(),
            count,
            status: status as i32,
            estimated: false,
        }
    }

    #[test]
    fn bars_are_the_row_totals_with_suppressed_ones_marked_and_labels_escaped() {
        let answer = v1::AggregateResponse {
            group_by: vec!["need".into(), "district".into()],
            cells: vec![
                cell(&["housing", "Centro"], 9, v1::CellStatus::Perturbed),
                cell(&["housing", ALL], 40, v1::CellStatus::Perturbed),
                cell(&["<b>food</b>", ALL], 0, v1::CellStatus::Suppressed),
                cell(&[ALL, ALL], 41, v1::CellStatus::Perturbed),
            ],
            ..v1::AggregateResponse::default()
        };
        // In the table's order (the answer's), not sorted by label.
        let bars = bars(&answer, str::to_string);
        assert_eq!(
            bars,
            vec![
                Bar {
                    label: "housing".into(),
                    count: Some(40)
                },
                Bar {
                    label: "<b>food</b>".into(),
                    count: None
                },
            ]
        );
        let Some(svg) = svg("Persone per bisogno", &bars, "non pubblicato") else {
            panic!("drawn")
        };
        assert!(
            svg.starts_with("<svg role=\"img\" aria-label=\"Persone per bisogno: housing"),
            "{svg}"
        );
        assert!(svg.contains("&lt;b&gt;food"));
        assert!(svg.contains("non pubblicato"));
        assert!(!svg.contains("<b>"), "labels are escaped: {svg}");
        assert!(svg.matches("<rect").count() >= 2, "a bar is drawn");
    }
}
