//! target/soak/soak.svg: one panel per series (resident memory, open
//! descriptors, open tunnels) over the soak's minutes, reloads as thin
//! vertical lines and backend restarts as dashed ones, the axis of each
//! panel from zero so that "flat" looks flat. SVG written by hand, as the
//! bench chart is (no plotting crate for three lines).

use std::fmt::Write as _;

const WIDTH: f64 = 900.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const PANEL: f64 = 170.0;
const GAP: f64 = 50.0;
const TOP: f64 = 40.0;

/// One panel: a title and its points (seconds, value).
pub struct Series<'a> {
    pub title: &'a str,
    pub points: Vec<(f64, f64)>,
}

pub fn render(title: &str, series: &[Series], reloads: &[f64], restarts: &[f64]) -> String {
    let end = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0_f64, f64::max);
    let height = TOP + series.len() as f64 * (PANEL + GAP);
    let x = |t: f64| LEFT + (WIDTH - LEFT - RIGHT) * (t / end);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n\
         <text x=\"{LEFT}\" y=\"22\" font-size=\"15\">{}</text>\n",
        escape(title)
    );
    for (i, s) in series.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL + GAP) + 20.0;
        let bottom = top + PANEL;
        let highest = s.points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
        let axis = if highest > 0.0 { highest * 1.15 } else { 1.0 };
        let y = |v: f64| bottom - PANEL * (v / axis);
        let _ = writeln!(
            svg,
            "<text x=\"{LEFT}\" y=\"{:.1}\" font-weight=\"bold\">{}</text>\n\
             <line x1=\"{LEFT}\" y1=\"{bottom:.1}\" x2=\"{:.1}\" y2=\"{bottom:.1}\" stroke=\"#333\"/>\n\
             <line x1=\"{LEFT}\" y1=\"{top:.1}\" x2=\"{LEFT}\" y2=\"{bottom:.1}\" stroke=\"#333\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">0</text>",
            top - 6.0,
            escape(s.title),
            WIDTH - RIGHT,
            LEFT - 6.0,
            top + 4.0,
            number(axis),
            LEFT - 6.0,
            bottom + 4.0,
        );
        for (marks, dash) in [(reloads, ""), (restarts, " stroke-dasharray=\"4 3\"")] {
            for &t in marks {
                let _ = writeln!(
                    svg,
                    "<line class=\"mark\" x1=\"{0:.1}\" y1=\"{top:.1}\" x2=\"{0:.1}\" y2=\"{bottom:.1}\" stroke=\"#bbb\"{dash}/>",
                    x(t)
                );
            }
        }
        let path: Vec<String> = s
            .points
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline class=\"series\" fill=\"none\" stroke=\"#1f6fb2\" stroke-width=\"1.5\" points=\"{}\"/>",
            path.join(" ")
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.0} min</text>",
            WIDTH - RIGHT,
            bottom + 16.0,
            end / 60.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn number(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_series_and_one_mark_per_event_and_panel() {
        let series = [
            Series {
                title: "RSS MiB",
                points: vec![(0.0, 10.0), (60.0, 11.0), (120.0, 10.5)],
            },
            Series {
                title: "fds <all>",
                points: vec![(0.0, 100.0), (120.0, 100.0)],
            },
        ];
        let svg = render("soak", &series, &[30.0, 90.0], &[45.0]);
        assert_eq!(svg.matches("<polyline class=\"series\"").count(), 2);
        assert_eq!(svg.matches("class=\"mark\"").count(), 2 * 3);
        assert!(svg.contains("fds &lt;all>"));
        assert!(svg.ends_with("</svg>\n"));
    }

    #[test]
    fn an_empty_series_still_renders() {
        let svg = render(
            "soak",
            &[Series {
                title: "x",
                points: vec![],
            }],
            &[],
            &[],
        );
        assert!(svg.contains("<polyline"));
    }
}
