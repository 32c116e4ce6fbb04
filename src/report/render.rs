//! Renders a [`MonthlyReport`] as text, Markdown or JSON.

use super::lang::{Lang, Word};
use super::model::{Change, MonthlyReport, Restatement};
use crate::calendar::YearMonth;
use crate::calendar::change::share_hundredths;
use crate::config::{Labels, ReportConfig};
use crate::text::shown;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
    Html,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "text" => Ok(Format::Text),
            "markdown" | "md" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            "html" => Ok(Format::Html),
            _ => Err(format!(
                "unknown format {s:?}: use text, markdown, json or html"
            )),
        }
    }
}

/// The headline in the centre's own style.
pub fn sentence(r: &MonthlyReport, lang: Lang, who: &ReportConfig) -> String {
    let m = r.ym;
    // The running month: month to date, against the same span of the month
    // before ("From 1 to 14 June 2022 at 12:34 (month to date), ... up
    // 3.20% from the same period of May 2022 (1 to 14 May 2022)").
    let (when, prev) = match &r.month_to_date {
        Some(mtd) => (
            match lang {
                Lang::En => format!(
                    "From {} at {} (month to date)",
                    lang.day_span(m, 1, mtd.day),
                    mtd.time
                ),
                Lang::Vi => format!(
                    "{}, lúc {} (lũy kế đến nay)",
                    capitalise(&lang.day_span(m, 1, mtd.day)),
                    mtd.time
                ),
            },
            lang.same_span(m.plus(-1), mtd.previous_day),
        ),
        None => (
            match lang {
                Lang::En => format!("In {}", lang.month(m)),
                Lang::Vi => format!("Trong {}", lang.month(m)),
            },
            lang.month(m.plus(-1)),
        ),
    };
    let ytd = &r.year_to_date;
    let n = ytd.months;
    let (p, l) = (&ytd.previous_period, &ytd.same_period_last_year);
    // The year to date and what it is compared with: whole months, or for
    // the running month, to date on every side.
    let (first, previous, last_year) = match &r.month_to_date {
        Some(mtd) => {
            let (from, prev_from, ly_from) = (
                m.january(),
                m.january().plus(-(n as i32)),
                m.january().plus(-12),
            );
            let december = m.january().plus(-1);
            match lang {
                Lang::En => (
                    format!("From {} (year to date)", lang.date_span(from, m, mtd.day)),
                    format!(
                        "the same span of the previous {} ({})",
                        lang.previous_months(n).trim_start_matches("the previous "),
                        lang.date_span(prev_from, december, mtd.previous_period_day)
                    ),
                    format!(
                        "the same period of {} ({})",
                        m.year() - 1,
                        lang.date_span(ly_from, m.plus(-12), mtd.last_year_day)
                    ),
                ),
                Lang::Vi => (
                    format!(
                        "Tính chung {} (lũy kế từ đầu năm đến nay)",
                        lang.date_span(from, m, mtd.day)
                    ),
                    format!(
                        "cùng kỳ {} ({})",
                        lang.previous_months(n),
                        lang.date_span(prev_from, december, mtd.previous_period_day)
                    ),
                    format!(
                        "cùng kỳ năm {} ({})",
                        m.year() - 1,
                        lang.date_span(ly_from, m.plus(-12), mtd.last_year_day)
                    ),
                ),
            }
        }
        None => match lang {
            Lang::En => (
                format!("In {}", lang.first_months(n, m.year())),
                lang.previous_months(n),
                lang.first_months(n, m.year() - 1),
            ),
            Lang::Vi => (
                format!("Tính chung {}", lang.first_months(n, m.year())),
                lang.previous_months(n),
                lang.first_months(n, m.year() - 1),
            ),
        },
    };
    let scope = |s: &str| {
        scoped(
            s,
            r.sector.as_deref(),
            r.province.as_deref(),
            lang,
            &who.labels,
        )
    };
    let prev_total = r.previous_month.total;
    let stages = lang.lifecycle(r.stages.as_ref());
    match lang {
        Lang::En => {
            let mut s = format!(
                "{when}, {} recorded {} cyber attacks causing incidents{}, {}{stages}.",
                shown(&who.organization_en),
                lang.count(r.total),
                scope(&who.scope_en),
                lang.change(r.total, prev_total, &prev),
            );
            if n > 1 {
                s.push_str(&format!(
                    " {first}, it recorded {} cyber attacks causing incidents, {} and {}.",
                    lang.count(ytd.total),
                    lang.change(ytd.total, p.total, &previous),
                    lang.change(ytd.total, l.total, &last_year),
                ));
            }
            s
        }
        Lang::Vi => {
            let mut s = format!(
                "{when}, {} đã ghi nhận {} cuộc tấn công mạng gây sự cố{}, {}{stages}.",
                shown(&who.organization_vi),
                lang.count(r.total),
                scope(&who.scope_vi),
                lang.change(r.total, prev_total, &prev),
            );
            if n > 1 {
                s.push_str(&format!(
                    " {first}, đã ghi nhận {} cuộc tấn công mạng gây sự cố, {} và {}.",
                    lang.count(ytd.total),
                    lang.change(ytd.total, p.total, &previous),
                    lang.change(ytd.total, l.total, &last_year),
                ));
            }
            s
        }
    }
}

/// The scope of a sentence (` on information systems in Vietnam`), and
/// for a sector's slice the sector (` in the Finance sector` / ` thuộc lĩnh
/// vực Tài chính - Ngân hàng`).
pub(super) fn scoped(
    scope: &str,
    sector: Option<&str>,
    province: Option<&str>,
    lang: Lang,
    labels: &Labels,
) -> String {
    let mut out = if scope.is_empty() {
        String::new()
    } else {
        format!(" {}", shown(scope))
    };
    if let Some(code) = sector {
        let name = super::labels::sector(labels, lang, code);
        out.push_str(&match lang {
            Lang::En => format!(" in the {name} sector"),
            Lang::Vi => format!(" thuộc lĩnh vực {name}"),
        });
    }
    if let Some(code) = province {
        let name = super::labels::province(labels, lang, code);
        out.push_str(&match (lang, code) {
            (Lang::En, "other") => " in other provinces".to_owned(),
            (Lang::En, "unknown") => " in an unknown province".to_owned(),
            (Lang::Vi, "other") => " tại các tỉnh, thành phố khác".to_owned(),
            (Lang::Vi, "unknown") => " tại tỉnh, thành phố không xác định".to_owned(),
            (Lang::En, _) => format!(" in {name}"),
            (Lang::Vi, _) => format!(" tại {name}"),
        });
    }
    out
}

/// A restatement in the centre's style: "May 2022 revised from 847 to
/// 850." / "Số liệu tháng 5/2022 được điều chỉnh từ 847 lên 850.", then
/// the categories that moved.
pub fn restatement_sentence(r: &Restatement, lang: Lang, labels: &Labels) -> String {
    let month = r
        .month
        .parse::<YearMonth>()
        .map_or_else(|_| shown(&r.month).into_owned(), |m| lang.month(m));
    let moved = |c: Change| match (lang, c.to.cmp(&c.from)) {
        (Lang::En, _) => format!("from {} to {}", lang.count(c.from), lang.count(c.to)),
        (Lang::Vi, std::cmp::Ordering::Less) => {
            format!("từ {} xuống {}", lang.count(c.from), lang.count(c.to))
        }
        (Lang::Vi, _) => format!("từ {} lên {}", lang.count(c.from), lang.count(c.to)),
    };
    let t = r.total;
    let mut s = match (lang, t.from == t.to) {
        (Lang::En, false) => format!("{} revised {}.", capitalise(&month), moved(t)),
        (Lang::En, true) => format!(
            "{} revised: the total stays {}.",
            capitalise(&month),
            lang.count(t.to)
        ),
        (Lang::Vi, false) => format!("Số liệu {month} được điều chỉnh {}.", moved(t)),
        (Lang::Vi, true) => format!(
            "Số liệu {month} được điều chỉnh: tổng số giữ nguyên {}.",
            lang.count(t.to)
        ),
    };
    if !r.by_category.is_empty() {
        let parts: Vec<String> = r
            .by_category
            .iter()
            .map(|(c, ch)| {
                format!(
                    "{} {}",
                    super::labels::category(labels, lang, c),
                    moved(*ch)
                )
            })
            .collect();
        let head = match lang {
            Lang::En => "By category",
            Lang::Vi => "Theo loại tấn công",
        };
        s.push_str(&format!(" {head}: {}.", parts.join("; ")));
    }
    s
}

/// The report's restatements, one after the other (empty without any).
pub(super) fn restatements_said(r: &MonthlyReport, lang: Lang, labels: &Labels) -> String {
    let said: Vec<String> = r
        .restatements
        .iter()
        .map(|x| restatement_sentence(x, lang, labels))
        .collect();
    said.join(" ")
}

/// The first letter in upper case.
pub(super) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A table: headers and rows; the first column is left-aligned, the others
/// right-aligned.
pub(super) struct Table {
    pub(super) title: String,
    pub(super) headers: Vec<String>,
    pub(super) rows: Vec<Vec<String>>,
}

impl Table {
    pub(super) fn text(&self, out: &mut String) {
        let cols = self.headers.len();
        let mut width = vec![0; cols];
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        out.push_str(&self.title);
        out.push('\n');
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&width).enumerate() {
                let pad = w - cell.chars().count();
                if i == 0 {
                    line.push_str("  ");
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                } else {
                    line.push_str(&" ".repeat(pad + 3));
                    line.push_str(cell);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push('\n');
    }

    pub(super) fn markdown(&self, out: &mut String) {
        out.push_str(&format!("## {}\n\n", self.title));
        out.push_str(&format!("| {} |\n", self.headers.join(" | ")));
        let align: Vec<&str> = (0..self.headers.len())
            .map(|i| if i == 0 { "---" } else { "---:" })
            .collect();
        out.push_str(&format!("| {} |\n", align.join(" | ")));
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out.push('\n');
    }
}

/// The report's tables: by category, by severity, top sectors, top
/// provinces, year to date, monthly trend (in that order).
/// Categories, severities and sectors by their display names in the
/// report's language (`labels`).
pub(super) fn tables(r: &MonthlyReport, lang: Lang, labels: &Labels) -> Vec<Table> {
    let severities: Vec<(String, u64)> = (r.by_severity.0.iter())
        .map(|(s, n)| (super::labels::severity(lang, s), *n))
        .collect();
    let sectors: Vec<(String, u64)> = (r.top_sectors.0.iter().take(10))
        .map(|(s, n)| (super::labels::sector(labels, lang, s), *n))
        .collect();
    let provinces: Vec<(String, u64)> = (r.top_provinces.iter())
        .flat_map(|p| p.0.iter().take(10))
        .map(|(s, n)| (super::labels::province(labels, lang, s), *n))
        .collect();
    let mut out = vec![
        category_table(r, lang, labels),
        share_table(r, lang, Word::BySeverity, Word::Severity, &severities),
        share_table(r, lang, Word::TopSectors, Word::Sector, &sectors),
        share_table(r, lang, Word::TopProvinces, Word::Province, &provinces),
        ytd_table(r, lang),
        trend_table(r, lang, labels),
    ];
    out.extend(
        r.stages
            .as_ref()
            .filter(|s| s.any_news())
            .map(|s| stage_table(s, lang)),
    );
    out
}

/// The lifecycle: each stage's incidents, their share, and the times to
/// it (median, 90th percentile, longest).
pub(super) fn stage_table(s: &super::model::Stages, lang: Lang) -> Table {
    let total = s.recorded.count;
    let time = |t: Option<u64>| t.map_or_else(|| "—".to_owned(), |v| lang.duration(v));
    let row = |w: Word, f: &super::model::StageFigure| {
        vec![
            lang.word(w).to_owned(),
            lang.count(f.count),
            share_hundredths(f.count, total).map_or_else(|| "—".to_owned(), |h| lang.percent(h)),
            time(f.median_secs),
            time(f.p90_secs),
            time(f.max_secs),
        ]
    };
    Table {
        title: lang.word(Word::Lifecycle).to_owned(),
        headers: vec![
            lang.word(Word::Stage).to_owned(),
            lang.word(Word::Incidents).to_owned(),
            "%".to_owned(),
            lang.word(Word::Median).to_owned(),
            lang.word(Word::P90).to_owned(),
            lang.word(Word::Longest).to_owned(),
        ],
        rows: vec![
            row(Word::Recorded, &s.recorded),
            row(Word::Warned, &s.warned),
            row(Word::Handled, &s.handled),
        ],
    }
}

/// Each category this month against the previous month, and the total.
fn category_table(r: &MonthlyReport, lang: Lang, labels: &Labels) -> Table {
    let (m, prev) = (r.ym, r.ym.plus(-1));
    let mut rows: Vec<Vec<String>> = r
        .category_changes
        .iter()
        .map(|c| {
            vec![
                super::labels::category(labels, lang, &c.category),
                lang.count(c.total),
                lang.count(c.previous_month),
                lang.signed_change(c.total, c.previous_month),
            ]
        })
        .collect();
    rows.push(vec![
        lang.word(Word::Total).to_owned(),
        lang.count(r.total),
        lang.count(r.previous_month.total),
        lang.signed_change(r.total, r.previous_month.total),
    ]);
    let (this_col, prev_col) = match &r.month_to_date {
        Some(mtd) => (
            lang.span_short(m, mtd.day),
            lang.span_short(prev, mtd.previous_day),
        ),
        None => (lang.month_short(m), lang.month_short(prev)),
    };
    Table {
        title: lang.word(Word::ByCategory).to_owned(),
        headers: vec![
            lang.word(Word::Category).to_owned(),
            this_col,
            prev_col,
            lang.word(Word::Change).to_owned(),
        ],
        rows,
    }
}

/// Counts with their share of the month's total.
fn share_table(
    r: &MonthlyReport,
    lang: Lang,
    title: Word,
    first: Word,
    counts: &[(String, u64)],
) -> Table {
    let share = |n: u64| match share_hundredths(n, r.total) {
        Some(h) => lang.percent(h),
        None => "—".to_owned(),
    };
    Table {
        title: lang.word(title).to_owned(),
        headers: vec![
            lang.word(first).to_owned(),
            lang.word(Word::Incidents).to_owned(),
            "%".to_owned(),
        ],
        rows: counts
            .iter()
            .map(|(s, n)| vec![s.clone(), lang.count(*n), share(*n)])
            .collect(),
    }
}

/// This period so far, the previous period and the same period last year.
fn ytd_table(r: &MonthlyReport, lang: Lang) -> Table {
    let ytd = &r.year_to_date;
    let period = |from: &str, to: &str| -> String {
        let f: Option<YearMonth> = from.parse().ok();
        let t: Option<YearMonth> = to.parse().ok();
        match (f, t) {
            (Some(f), Some(t)) if f == t => lang.month_short(f),
            (Some(f), Some(t)) => format!("{} – {}", lang.month_short(f), lang.month_short(t)),
            _ => format!("{from} – {to}"),
        }
    };
    let row = |word: Word, from: &str, to: &str, total: u64, change: String| {
        vec![
            format!("{} ({})", lang.word(word), period(from, to)),
            ytd.months.to_string(),
            lang.count(total),
            change,
        ]
    };
    let (p, l) = (&ytd.previous_period, &ytd.same_period_last_year);
    Table {
        title: lang.word(Word::YearToDate).to_owned(),
        headers: vec![
            lang.word(Word::Period).to_owned(),
            lang.word(Word::Months).to_owned(),
            lang.word(Word::Incidents).to_owned(),
            lang.word(Word::Change).to_owned(),
        ],
        rows: vec![
            row(
                Word::ThisPeriod,
                &ytd.from,
                &ytd.to,
                ytd.total,
                String::new(),
            ),
            row(
                Word::PreviousPeriod,
                &p.from,
                &p.to,
                p.total,
                lang.signed_change(ytd.total, p.total),
            ),
            row(
                Word::SamePeriodLastYear,
                &l.from,
                &l.to,
                l.total,
                lang.signed_change(ytd.total, l.total),
            ),
        ],
    }
}

/// Month by month, the total and each category.
fn trend_table(r: &MonthlyReport, lang: Lang, labels: &Labels) -> Table {
    let mut headers = vec![
        lang.word(Word::Month).to_owned(),
        lang.word(Word::Total).to_owned(),
    ];
    headers.extend((r.by_category.0.iter()).map(|(c, _)| super::labels::category(labels, lang, c)));
    Table {
        title: lang.word(Word::Trend).to_owned(),
        headers,
        rows: r
            .trend
            .iter()
            .map(|p| {
                let label = p
                    .month
                    .parse::<YearMonth>()
                    .map_or(p.month.clone(), |m| lang.month_short(m));
                let mut row = vec![label, lang.count(p.total)];
                row.extend(p.by_category.0.iter().map(|(_, n)| lang.count(*n)));
                row
            })
            .collect(),
    }
}

/// The report as JSON, with its sentence.
pub(super) fn render_json(r: &MonthlyReport, lang: Lang, who: &ReportConfig) -> String {
    /// The codes' names in the report's language, beside the codes the
    /// figures are keyed by.
    #[derive(serde::Serialize)]
    struct DisplayNames {
        categories: std::collections::BTreeMap<String, String>,
        severities: std::collections::BTreeMap<String, String>,
        sectors: std::collections::BTreeMap<String, String>,
        provinces: std::collections::BTreeMap<String, String>,
    }
    #[derive(serde::Serialize)]
    struct WithSentence<'a> {
        #[serde(flatten)]
        report: &'a MonthlyReport,
        lang: &'static str,
        sentence: String,
        /// Each of `restatements` in the report's language.
        restatement_sentences: Vec<String>,
        display_names: DisplayNames,
    }
    let l = &who.labels;
    let doc = WithSentence {
        report: r,
        lang: lang.code(),
        sentence: sentence(r, lang, who),
        restatement_sentences: (r.restatements.iter())
            .map(|x| restatement_sentence(x, lang, l))
            .collect(),
        display_names: DisplayNames {
            categories: (r.by_category.0.iter())
                .map(|(c, _)| (c.clone(), super::labels::category(l, lang, c)))
                .collect(),
            severities: (r.by_severity.0.iter())
                .map(|(c, _)| (c.clone(), super::labels::severity(lang, c)))
                .collect(),
            sectors: (r.top_sectors.0.iter())
                .map(|(c, _)| (c.clone(), super::labels::sector(l, lang, c)))
                .collect(),
            provinces: (r.top_provinces.iter())
                .flat_map(|p| p.0.iter())
                .map(|(c, _)| (c.clone(), super::labels::province(l, lang, c)))
                .collect(),
        },
    };
    // Serialising plain structs, strings and numbers cannot fail.
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// The report as plain text (`markdown` false) or Markdown.
pub(super) fn render_text(
    r: &MonthlyReport,
    lang: Lang,
    markdown: bool,
    who: &ReportConfig,
) -> String {
    let title = format!("{} — {}", lang.word(Word::Title), lang.month(r.ym));
    let head = format!("{}: {}", lang.word(Word::Timezone), shown(&r.timezone));
    let restated = restatements_said(r, lang, &who.labels);
    let mut out = if markdown {
        let (head, said) = (
            crate::text::markdown(&head),
            crate::text::markdown(&sentence(r, lang, who)),
        );
        format!("# {title}\n\n_{head}_\n\n{said}\n\n")
    } else {
        format!("{title}\n{head}\n\n{}\n\n", sentence(r, lang, who))
    };
    if !restated.is_empty() {
        let restated = if markdown {
            crate::text::markdown(&restated)
        } else {
            restated
        };
        out.push_str(&format!("{restated}\n\n"));
    }
    finish_document(&mut out, &tables(r, lang, &who.labels), markdown);
    out
}

/// A period's report as JSON, with its sentence.
pub(super) fn render_period_json(
    r: &super::PeriodReport,
    lang: Lang,
    who: &ReportConfig,
) -> String {
    #[derive(serde::Serialize)]
    struct WithSentence<'a> {
        #[serde(flatten)]
        report: &'a super::PeriodReport,
        lang: &'static str,
        sentence: String,
        display_names: std::collections::BTreeMap<String, String>,
    }
    let doc = WithSentence {
        report: r,
        lang: lang.code(),
        sentence: super::period_sentence(r, lang, who, who.fiscal_year_start_month),
        display_names: (r.by_category.0.iter())
            .map(|(c, _)| (c.clone(), super::labels::category(&who.labels, lang, c)))
            .collect(),
    };
    // Serialising plain structs, strings and numbers cannot fail.
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// A period's report as plain text (`markdown` false) or Markdown.
pub(super) fn render_period_text(
    r: &super::PeriodReport,
    lang: Lang,
    markdown: bool,
    who: &ReportConfig,
) -> String {
    let fy = who.fiscal_year_start_month;
    let title = format!(
        "{} — {}",
        lang.word(Word::Title),
        capitalise(&super::period_words(lang, &r.of, fy))
    );
    let head = format!("{}: {}", lang.word(Word::Timezone), shown(&r.timezone));
    let said = super::period_sentence(r, lang, who, fy);
    let mut out = if markdown {
        format!(
            "# {}\n\n_{}_\n\n{}\n\n",
            crate::text::markdown(&title),
            crate::text::markdown(&head),
            crate::text::markdown(&said)
        )
    } else {
        format!("{title}\n{head}\n\n{said}\n\n")
    };
    finish_document(
        &mut out,
        &super::period::period_tables(r, lang, &who.labels, fy),
        markdown,
    );
    out
}

/// The tables after a document's head, then one final newline.
fn finish_document(out: &mut String, tables: &[Table], markdown: bool) {
    for t in tables {
        if markdown {
            t.markdown(out);
        } else {
            t.text(out);
        }
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
}
