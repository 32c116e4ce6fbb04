//! The report as one self-contained HTML page (spec §7, `--format html` and
//! `GET /report`): the headline sentence, inline SVG charts (13-month trend
//! with the month highlighted, categories with their change, severity,
//! sectors, year to date), the data as a table under each chart for
//! accessibility, and print CSS for A4. No scripts, fonts or network.

use std::fmt::Write as _;

use super::lang::{Lang, Word};
use super::model::MonthlyReport;
use super::render::{Table, sentence, tables};
use super::svg::{Bar, Column, bars, colour, esc, stacked_columns};
use crate::calendar::YearMonth;
use crate::config::{Labels, ReportConfig};

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", Arial, sans-serif; color: #1b1f24; background: #f4f5f7; }
main { max-width: 820px; margin: 0 auto; padding: 24px; background: #fff; }
header h1 { font-size: 1.6rem; margin: 0 0 4px; }
.meta { color: #57606a; margin: 0 0 16px; font-size: .9rem; }
.lede { font-size: 1.08rem; line-height: 1.55; border-left: 4px solid #0072B2; padding: 8px 14px; background: #f0f6fb; }
.figures { display: flex; gap: 12px; margin: 16px 0; }
.figure { flex: 1; border: 1px solid #d0d7de; border-radius: 6px; padding: 10px 12px; }
.figure b { display: block; font-size: 1.5rem; }
.figure span { color: #57606a; font-size: .85rem; }
.up { color: #b42318; } .down { color: #067647; }
section { margin-top: 22px; }
h2 { font-size: 1.15rem; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
svg { display: block; margin: 6px 0; }
svg .grid { stroke: #e5e7eb; stroke-width: 1; }
svg .axis, svg .label, svg .value { font-size: 12px; fill: #3d444d; }
svg .strong { font-weight: 700; fill: #000; }
svg .tick { font-size: 10px; }
.legend { display: flex; flex-wrap: wrap; gap: 12px; font-size: .85rem; margin: 0; padding: 0; list-style: none; }
.legend svg { display: inline-block; margin: 0 4px 0 0; vertical-align: -1px; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; margin-top: 6px; }
caption { text-align: left; color: #57606a; font-size: .8rem; padding-bottom: 2px; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 3px 6px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f6f8fa; }
tr.hl td { font-weight: 700; }
footer { margin-top: 28px; color: #57606a; font-size: .8rem; }
@page { size: A4; margin: 14mm; }
@media print {
  body { background: #fff; }
  main { max-width: none; padding: 0; }
  section { break-inside: avoid; }
  .lede { background: none; }
}
"#;

/// The Content-Security-Policy the page is served with: nothing may load
/// or run but the page's own style sheet, pinned by its hash (the page
/// has no script, no inline style attribute, no image, font or link).
pub fn content_security_policy() -> &'static str {
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        use base64::Engine;
        let digest = ring::digest::digest(&ring::digest::SHA256, CSS.as_bytes());
        let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
    })
}

fn table_html(t: &Table, highlight_first_col: Option<&str>, out: &mut String) {
    let _ = write!(
        out,
        "<table><caption>{}</caption><thead><tr>",
        esc(&t.title)
    );
    for h in &t.headers {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &t.rows {
        let hl = highlight_first_col.is_some_and(|h| row.first().is_some_and(|c| c == h));
        out.push_str(if hl { "<tr class=\"hl\">" } else { "<tr>" });
        for (i, c) in row.iter().enumerate() {
            if i == 0 {
                let _ = write!(out, "<th scope=\"row\">{}</th>", esc(c));
            } else {
                let _ = write!(out, "<td>{}</td>", esc(c));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// A headline figure with its change, coloured up/down.
fn figure(out: &mut String, lang: Lang, value: u64, what: &str, previous: u64) {
    let class = match value.cmp(&previous) {
        _ if previous == 0 => "",
        std::cmp::Ordering::Greater => "up",
        std::cmp::Ordering::Less => "down",
        std::cmp::Ordering::Equal => "",
    };
    let _ = write!(
        out,
        "<div class=\"figure\"><b>{}</b><span>{}</span> <span class=\"{class}\">{}</span></div>",
        esc(&lang.count(value)),
        esc(what),
        esc(&lang.signed_change(value, previous))
    );
}

/// Renders the page.
pub fn render_html(r: &MonthlyReport, lang: Lang, who: &ReportConfig) -> String {
    let mut out = String::with_capacity(64 * 1024);
    head(&mut out, r, lang, who);
    let labels = &who.labels;
    let t = tables(r, lang, labels);
    trend(&mut out, r, lang, labels, &t[5]);
    let categories: Vec<Bar> = r
        .category_changes
        .iter()
        .enumerate()
        .map(|(i, c)| Bar {
            label: super::labels::category(labels, lang, &c.category),
            value: c.total,
            note: lang.signed_change(c.total, c.previous_month),
            colour: colour(i),
        })
        .collect();
    let total = Some(lang.word(Word::Total));
    section(
        &mut out,
        lang,
        Word::ByCategory,
        &categories,
        (&t[0], total),
    );
    let plain = |label: String, n: u64, colour: &'static str| Bar {
        label,
        value: n,
        note: String::new(),
        colour,
    };
    let severities: Vec<Bar> = (r.by_severity.0.iter())
        .map(|(s, n)| plain(super::labels::severity(lang, s), *n, severity_colour(s)))
        .collect();
    section(&mut out, lang, Word::BySeverity, &severities, (&t[1], None));
    let sectors: Vec<Bar> = (r.top_sectors.0.iter().take(10))
        .map(|(s, n)| plain(super::labels::sector(labels, lang, s), *n, "#0072B2"))
        .collect();
    section(&mut out, lang, Word::TopSectors, &sectors, (&t[2], None));
    let provinces: Vec<Bar> = (r.top_provinces.iter())
        .flat_map(|p| p.0.iter().take(10))
        .map(|(s, n)| plain(super::labels::province(labels, lang, s), *n, "#009E73"))
        .collect();
    if r.top_provinces.is_some() {
        section(
            &mut out,
            lang,
            Word::TopProvinces,
            &provinces,
            (&t[3], None),
        );
    }
    section(
        &mut out,
        lang,
        Word::YearToDate,
        &ytd_bars(r, lang),
        (&t[4], None),
    );
    if let (Some(s), Some(table)) = (&r.stages, t.get(6)) {
        let bars: Vec<Bar> = [
            (Word::Recorded, s.recorded.count),
            (Word::Warned, s.warned.count),
            (Word::Handled, s.handled.count),
        ]
        .into_iter()
        .map(|(w, n)| plain(lang.word(w).to_owned(), n, "#CC79A7"))
        .collect();
        section(&mut out, lang, Word::Lifecycle, &bars, (table, None));
    }
    page_end(&mut out, &r.month, &r.timezone);
    out
}

/// The document's head, its title and the lede sentence.
fn page_start(out: &mut String, lang: Lang, title: &str, timezone: &str, said: &str) {
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body><main>",
        lang.code(),
        esc(title)
    );
    let _ = write!(
        out,
        "<header><h1>{}</h1><p class=\"meta\">{}: {}</p></header><p class=\"lede\">{}</p>",
        esc(title),
        esc(lang.word(Word::Timezone)),
        esc(timezone),
        esc(said)
    );
}

/// The footer and the document's end.
fn page_end(out: &mut String, what: &str, timezone: &str) {
    let _ = writeln!(
        out,
        "<footer>incident-monitor · {} · {}</footer></main></body></html>",
        esc(what),
        esc(timezone)
    );
}

/// A legend of the categories' colours.
fn legend(out: &mut String, cats: &[String]) {
    out.push_str("<ul class=\"legend\">");
    for (i, c) in cats.iter().enumerate() {
        let _ = write!(
            out,
            "<li><svg width=\"12\" height=\"12\" aria-hidden=\"true\"><rect width=\"12\" height=\"12\" fill=\"{}\"/></svg>{}</li>",
            colour(i),
            esc(c)
        );
    }
    out.push_str("</ul>");
}

/// The document head, the title, the sentence and the headline figures.
fn head(out: &mut String, r: &MonthlyReport, lang: Lang, who: &ReportConfig) {
    let m = r.ym;
    let title = format!("{} — {}", lang.word(Word::Title), lang.month(m));
    page_start(out, lang, &title, &r.timezone, &sentence(r, lang, who));
    let restated = super::render::restatements_said(r, lang, &who.labels);
    if !restated.is_empty() {
        let _ = write!(out, "<p class=\"restated\">{}</p>", esc(&restated));
    }
    out.push_str("<div class=\"figures\">");
    let (this_month, year_to_date) = match &r.month_to_date {
        Some(mtd) => (
            lang.day_span(m, 1, mtd.day),
            lang.date_span(m.january(), m, mtd.day),
        ),
        None => (
            lang.month(m),
            lang.first_months(r.year_to_date.months, m.year()),
        ),
    };
    figure(out, lang, r.total, &this_month, r.previous_month.total);
    figure(
        out,
        lang,
        r.year_to_date.total,
        &year_to_date,
        r.year_to_date.previous_period.total,
    );
    out.push_str("</div>");
}

/// The trend: stacked columns per month with a legend, and its table.
fn trend(out: &mut String, r: &MonthlyReport, lang: Lang, labels: &Labels, table: &Table) {
    let fmt = |v: u64| lang.count(v);
    let m = r.ym;
    let cats: Vec<String> = (r.by_category.0.iter())
        .map(|(c, _)| super::labels::category(labels, lang, c))
        .collect();
    let cols: Vec<Column> = r
        .trend
        .iter()
        .map(|p| {
            let pm: Option<YearMonth> = p.month.parse().ok();
            Column {
                label: pm.map_or(p.month.clone(), |x| lang.month_short(x)),
                values: p.by_category.0.iter().map(|(_, n)| *n).collect(),
                highlight: pm == Some(m),
            }
        })
        .collect();
    let _ = write!(out, "<section><h2>{}</h2>", esc(lang.word(Word::Trend)));
    legend(out, &cats);
    out.push_str(&stacked_columns(lang.word(Word::Trend), &cats, &cols, &fmt));
    table_html(table, Some(&lang.month_short(m)), out);
    out.push_str("</section>");
}

/// A section of bars under a heading, with its table (and the label of
/// the table's highlighted row, if any).
fn section(
    out: &mut String,
    lang: Lang,
    heading: Word,
    bars_of: &[Bar],
    table: (&Table, Option<&str>),
) {
    let fmt = |v: u64| lang.count(v);
    let _ = write!(out, "<section><h2>{}</h2>", esc(lang.word(heading)));
    out.push_str(&bars(lang.word(heading), bars_of, &fmt));
    table_html(table.0, table.1, out);
    out.push_str("</section>");
}

fn severity_colour(s: &str) -> &'static str {
    match s {
        "critical" => "#B42318",
        "high" => "#D55E00",
        "medium" => "#E69F00",
        "low" => "#56B4E9",
        _ => "#999999",
    }
}

/// This period, the previous one and the same period last year.
fn ytd_bars(r: &MonthlyReport, lang: Lang) -> Vec<Bar> {
    let ytd = &r.year_to_date;
    [
        (lang.word(Word::ThisPeriod), ytd.total, false),
        (
            lang.word(Word::PreviousPeriod),
            ytd.previous_period.total,
            true,
        ),
        (
            lang.word(Word::SamePeriodLastYear),
            ytd.same_period_last_year.total,
            true,
        ),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (label, value, compared))| Bar {
        label: label.to_owned(),
        value,
        note: if compared {
            lang.signed_change(ytd.total, value)
        } else {
            String::new()
        },
        colour: if i == 0 { "#0072B2" } else { "#999999" },
    })
    .collect()
}

/// A period's page: its sentence, the headline figure, the trend at the
/// period's grain as stacked columns, and the tables.
pub fn render_period_html(r: &super::PeriodReport, lang: Lang, who: &ReportConfig) -> String {
    let fy = who.fiscal_year_start_month;
    let labels = &who.labels;
    let words = super::period_words(lang, &r.of, fy);
    let title = format!(
        "{} — {}",
        lang.word(Word::Title),
        super::render::capitalise(&words)
    );
    let mut out = String::with_capacity(32 * 1024);
    page_start(
        &mut out,
        lang,
        &title,
        &r.timezone,
        &super::period_sentence(r, lang, who, fy),
    );
    out.push_str("<div class=\"figures\">");
    figure(&mut out, lang, r.total, &words, r.previous_period.total);
    out.push_str("</div>");
    let tables = super::period::period_tables(r, lang, labels, fy);
    let cats: Vec<String> = (r.by_category.0.iter())
        .map(|(c, _)| super::labels::category(labels, lang, c))
        .collect();
    let cols: Vec<Column> = r
        .trend
        .iter()
        .map(|p| Column {
            label: p.at.parse::<YearMonth>().map_or_else(
                |_| p.at.get(5..).unwrap_or(&p.at).to_owned(),
                |m| lang.month_short(m),
            ),
            values: p.by_category.0.iter().map(|(_, n)| *n).collect(),
            highlight: false,
        })
        .collect();
    let fmt = |v: u64| lang.count(v);
    let _ = write!(out, "<section><h2>{}</h2>", esc(lang.word(Word::Trend)));
    legend(&mut out, &cats);
    out.push_str(&stacked_columns(lang.word(Word::Trend), &cats, &cols, &fmt));
    out.push_str("</section>");
    for t in &tables {
        out.push_str("<section>");
        table_html(t, Some(lang.word(Word::Total)), &mut out);
        out.push_str("</section>");
    }
    page_end(&mut out, &r.period, &r.timezone);
    out
}
