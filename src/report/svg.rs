//! A small SVG writer for the report's charts: stacked columns and
//! horizontal bars, with text escaped and every mark titled (hover and
//! screen readers). Hand-written because the charts are simple and a
//! plotting crate (plotters) would add a large dependency tree for them;
//! tested below.

use std::fmt::Write as _;

/// Escapes text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Category colours (colour-blind-safe, Okabe-Ito), by category index.
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999",
];

pub fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A round axis maximum at or above `v` (1, 2, 2.5, 5 × 10^k).
pub fn nice_max(v: u64) -> u64 {
    if v == 0 {
        return 1;
    }
    let mut base = 1u64;
    while base * 10 <= v {
        base *= 10;
    }
    for m in [1, 2, 5, 10] {
        let candidate = base * m;
        if candidate >= v {
            return candidate;
        }
    }
    base * 10
}

struct Svg {
    w: u32,
    h: u32,
    label: String,
    body: String,
}

impl Svg {
    fn new(w: u32, h: u32, label: &str) -> Svg {
        Svg {
            w,
            h,
            label: label.to_owned(),
            body: String::new(),
        }
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, title: &str) {
        let _ = write!(
            self.body,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}"><title>{}</title></rect>"#,
            esc(title)
        );
    }

    fn text(&mut self, x: f64, y: f64, anchor: &str, class: &str, s: &str) {
        let _ = write!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" class="{class}">{}</text>"#,
            esc(s)
        );
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, class: &str) {
        let _ = write!(
            self.body,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" class="{class}"/>"#
        );
    }

    fn finish(self) -> String {
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{label}">{body}</svg>"#,
            w = self.w,
            h = self.h,
            label = esc(&self.label),
            body = self.body
        )
    }
}

/// One column of a stacked column chart.
pub struct Column {
    pub label: String,
    /// Value per series (same order as the series names).
    pub values: Vec<u64>,
    pub highlight: bool,
}

/// Stacked columns with a y axis; highlighted columns are outlined and their
/// label bold. `fmt` formats numbers for labels.
pub fn stacked_columns(
    title: &str,
    series: &[String],
    cols: &[Column],
    fmt: &dyn Fn(u64) -> String,
) -> String {
    let (w, h) = (760u32, 300u32);
    let (left, right, top, bottom) = (56.0, 10.0, 12.0, 44.0);
    let mut s = Svg::new(w, h, title);
    let max = nice_max(
        cols.iter()
            .map(|c| c.values.iter().sum::<u64>())
            .max()
            .unwrap_or(0),
    );
    let plot_h = f64::from(h) - top - bottom;
    let plot_w = f64::from(w) - left - right;
    for i in 0..=4u64 {
        let v = max * i / 4;
        let y = top + plot_h - plot_h * (v as f64 / max as f64);
        s.line(left, y, f64::from(w) - right, y, "grid");
        s.text(left - 6.0, y + 4.0, "end", "axis", &fmt(v));
    }
    let n = cols.len().max(1) as f64;
    let slot = plot_w / n;
    let bar = slot * 0.7;
    for (i, c) in cols.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let total: u64 = c.values.iter().sum();
        if c.highlight {
            let th = plot_h * (total as f64 / max as f64);
            s.rect(
                x - 3.0,
                top + plot_h - th - 3.0,
                bar + 6.0,
                th + 3.0,
                "#222",
                &format!("{}: {}", c.label, fmt(total)),
            );
        }
        let mut y = top + plot_h;
        for (si, &v) in c.values.iter().enumerate() {
            let bh = plot_h * (v as f64 / max as f64);
            y -= bh;
            let name = series.get(si).map_or("", String::as_str);
            s.rect(
                x,
                y,
                bar,
                bh,
                colour(si),
                &format!("{} — {name}: {}", c.label, fmt(v)),
            );
        }
        let class = if c.highlight { "label strong" } else { "label" };
        s.text(
            x + bar / 2.0,
            f64::from(h) - bottom + 16.0,
            "middle",
            &format!("{class} tick"),
            &c.label,
        );
        if c.highlight {
            s.text(
                x + bar / 2.0,
                top + plot_h - plot_h * (total as f64 / max as f64) - 8.0,
                "middle",
                "value strong",
                &fmt(total),
            );
        }
    }
    s.finish()
}

/// One bar of a horizontal bar chart.
pub struct Bar {
    pub label: String,
    pub value: u64,
    /// Text after the value (e.g. the change against the previous month).
    pub note: String,
    pub colour: &'static str,
}

/// Horizontal bars with their values (and notes) written beside them.
pub fn bars(title: &str, rows: &[Bar], fmt: &dyn Fn(u64) -> String) -> String {
    let row_h = 28.0;
    // Room for the longest label (about 7 px a character at the labels'
    // size: names in the reader's language run longer than codes), within
    // bounds that leave the bars room.
    let longest = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0);
    let label_w = (longest as f64 * 7.0 + 16.0).clamp(150.0, 340.0);
    let (w, value_w) = (760.0, 200.0);
    let h = (rows.len().max(1) as f64 * row_h + 8.0).ceil() as u32;
    let mut s = Svg::new(w as u32, h, title);
    let max = rows.iter().map(|r| r.value).max().unwrap_or(0).max(1);
    let plot_w = w - label_w - value_w;
    for (i, r) in rows.iter().enumerate() {
        let y = 4.0 + row_h * i as f64;
        s.text(label_w - 8.0, y + row_h * 0.62, "end", "label", &r.label);
        let bw = plot_w * (r.value as f64 / max as f64);
        s.rect(
            label_w,
            y + 4.0,
            bw.max(1.0),
            row_h - 8.0,
            r.colour,
            &format!("{}: {}", r.label, fmt(r.value)),
        );
        let text = if r.note.is_empty() {
            fmt(r.value)
        } else {
            format!("{}  ({})", fmt(r.value), r.note)
        };
        s.text(
            label_w + bw + 8.0,
            y + row_h * 0.62,
            "start",
            "value",
            &text,
        );
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_axis() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(1178), 2000);
        assert_eq!(nice_max(1383), 2000);
        assert_eq!(nice_max(4815), 5000);
        assert_eq!(nice_max(500), 500);
        assert_eq!(nice_max(7), 10);
    }

    #[test]
    fn charts_are_well_formed_svg_with_a_mark_per_value() {
        let fmt = |v: u64| v.to_string();
        let cols = vec![
            Column {
                label: "May".into(),
                values: vec![161, 226, 460],
                highlight: false,
            },
            Column {
                label: "Jun <".into(),
                values: vec![766, 83, 329],
                highlight: true,
            },
        ];
        let svg = stacked_columns("trend", &["a".into(), "b".into(), "c".into()], &cols, &fmt);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        // 6 segments + 1 highlight outline.
        assert_eq!(svg.matches("<rect").count(), 7);
        assert!(svg.contains("Jun &lt;") && !svg.contains("Jun <"));
        assert!(svg.contains(">1178<"));
        let b = bars(
            "cats",
            &[Bar {
                label: "phishing".into(),
                value: 766,
                note: "+375.78%".into(),
                colour: colour(0),
            }],
            &fmt,
        );
        assert!(b.contains("766  (+375.78%)"));
        assert_eq!(b.matches("<rect").count(), 1);
    }
}
