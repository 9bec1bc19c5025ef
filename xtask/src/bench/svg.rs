//! The chart the README shows (docs/bench/latest.svg): a horizontal bar per
//! figure of upgate / nginx, with nginx's 1.0 as a line across and the
//! figure's goal as a tick on its bar's track; green where the goal is met,
//! red where not, grey where a figure has none; the ratio and the goal in
//! a column of their own, where no bar or tick covers them. Written as SVG text by hand
//! (no plotting crate for one chart), from the rows alone, so that
//! `--svg-from` redraws it from a saved JSON.

use super::figures::Op;
use super::report::{Report, Row, ratio};

const WIDTH: f64 = 980.0;
const LABEL_END: f64 = 470.0;
const BAR_START: f64 = 480.0;
const BAR_END: f64 = 830.0;
const NUMBERS: f64 = 842.0;
const TOP: f64 = 64.0;
const ROW: f64 = 26.0;
const BAR: f64 = 16.0;

/// The chart of every row that has a ratio.
pub fn render(report: &Report) -> String {
    let rows: Vec<&Row> = report.rows.iter().filter(|r| r.ratio.is_some()).collect();
    // The axis covers nginx's 1.0, every goal and every bar, up to 3x (past
    // the highest goal, 2.0): a bar beyond (a guarded location where nginx
    // hashes a password per request) is cut with a ▸, so that the rows
    // near 1.0, which the goals are about, keep their resolution.
    let highest = rows
        .iter()
        .flat_map(|r| [r.ratio.unwrap_or(0.0), r.goal.map_or(0.0, |g| g.value)])
        .fold(1.0_f64, f64::max);
    let axis = (highest * 1.08).clamp(1.5, 3.0);
    let x = |v: f64| BAR_START + (BAR_END - BAR_START) * (v.min(axis) / axis);
    let height = TOP + ROW * rows.len() as f64 + 36.0;

    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <style>.bar.met{{fill:#2e9d49}}.bar.missed{{fill:#d0453b}}.bar.none{{fill:#8a8f98}}\
         .goal{{stroke:#111;stroke-width:2}}.one{{stroke:#555;stroke-dasharray:4 3}}</style>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n\
         <text x=\"12\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>\n\
         <text x=\"12\" y=\"42\" fill=\"#444\">{}</text>\n",
        escape(&format!(
            "upgate / nginx, same machine, same nginx.conf ({})",
            report.timestamp
        )),
        escape(&format!(
            "medians of {} passes, `cargo xtask {}`{}; nginx = 1.0 (dashed); black tick = goal; \
             green: goal met, red: not met",
            report.passes,
            report.command,
            // How busy the shared machine was: a figure is only as good.
            report
                .load_average
                .as_deref()
                .map_or(String::new(), |l| format!(", load average {l}")),
        )),
    );
    let one = x(1.0);
    svg.push_str(&format!(
        "<line class=\"one\" x1=\"{one:.1}\" y1=\"{:.1}\" x2=\"{one:.1}\" y2=\"{:.1}\"/>\n\
         <text x=\"{one:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">nginx 1.0</text>\n",
        TOP - 6.0,
        height - 24.0,
        height - 10.0,
    ));
    for (i, r) in rows.iter().enumerate() {
        let top = TOP + ROW * i as f64;
        let mid = top + ROW / 2.0;
        let value = r.ratio.unwrap_or(0.0);
        let class = match r.met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "none",
        };
        let lower = matches!(r.goal.map(|g| g.op), Some(Op::AtMost));
        let label = format!(
            "{}{}",
            r.name,
            if lower { " (lower is better)" } else { "" }
        );
        let end = x(value);
        svg.push_str(&format!(
            "<text x=\"{LABEL_END}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n\
             <rect class=\"bar {class}\" x=\"{BAR_START}\" y=\"{:.1}\" width=\"{:.1}\" \
             height=\"{BAR}\"><title>{}</title></rect>\n\
             <text x=\"{NUMBERS}\" y=\"{:.1}\">{}</text>\n",
            mid + 4.0,
            escape(&label),
            mid - BAR / 2.0,
            (end - BAR_START).max(1.0),
            escape(&format!("{}: {}", r.name, ratio(value))),
            mid + 4.0,
            escape(&format!(
                "{}{}{}",
                ratio(value),
                if value > axis { " ▸" } else { "" },
                r.goal.map_or(String::new(), |g| format!(" (goal {g})")),
            )),
        ));
        if let Some(goal) = r.goal {
            let g = x(goal.value);
            svg.push_str(&format!(
                "<line class=\"goal\" x1=\"{g:.1}\" y1=\"{:.1}\" x2=\"{g:.1}\" y2=\"{:.1}\"/>\n",
                mid - BAR / 2.0 - 3.0,
                mid + BAR / 2.0 + 3.0,
            ));
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::figures::{Goal, Op};
    use crate::bench::report::report_of;

    fn row(name: &str, ratio: Option<f64>, goal: Option<Goal>) -> Row {
        Row {
            id: name.to_string(),
            name: name.to_string(),
            unit: "req/s".into(),
            upgate: None,
            nginx: None,
            direct: None,
            ratio,
            goal,
            met: goal.zip(ratio).map(|(g, r)| g.met(r)),
        }
    }

    const AT_LEAST: Option<Goal> = Some(Goal {
        op: Op::AtLeast,
        value: 1.2,
    });
    const AT_MOST: Option<Goal> = Some(Goal {
        op: Op::AtMost,
        value: 0.2,
    });

    #[test]
    fn one_bar_per_row_with_a_ratio() {
        let svg = render(&report_of(vec![
            row("HTTP <GET> & co", Some(0.63), AT_LEAST),
            row("idle", Some(0.23), AT_MOST),
            row("guarded", Some(24.0), None),
            row("no nginx figure", None, AT_LEAST),
        ]));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<rect class=\"bar ").count(), 3);
        assert_eq!(svg.matches("class=\"goal\"").count(), 2);
        assert_eq!(svg.matches("bar missed").count(), 2);
        assert_eq!(svg.matches("bar none").count(), 1);
        assert!(svg.contains("HTTP &lt;GET&gt; &amp; co"));
        assert!(svg.contains("idle (lower is better)"));
        assert!(svg.contains("24.0 ▸"), "a cut bar says so");
    }

    #[test]
    fn the_markup_is_balanced() {
        let svg = render(&report_of(vec![row("a", Some(1.5), AT_LEAST)]));
        for tag in ["svg", "text", "rect", "title", "style"] {
            let open = svg.matches(&format!("<{tag}")).count();
            let closed =
                svg.matches(&format!("</{tag}>")).count() + if tag == "rect" { 1 } else { 0 }; // the background is self-closed
            assert_eq!(open, closed, "<{tag}> in\n{svg}");
        }
        // Every & starts an entity.
        assert!(svg.match_indices('&').all(|(i, _)| {
            ["&amp;", "&lt;", "&gt;", "&quot;"]
                .iter()
                .any(|e| svg[i..].starts_with(e))
        }));
    }
}
