//! Language-specific wording and number formats (spec §7).
//!
//! English: `1,178`, `39.08%`. Vietnamese: `1.178`, `39,08%` (`.` groups
//! thousands, `,` is the decimal mark). Percentages are rendered from exact
//! integer hundredths, so the two decimals are the rounded-half-away-from-zero
//! value, never a binary-float artefact.

use std::str::FromStr;

use crate::calendar::YearMonth;
use crate::calendar::change::percent_hundredths;

/// Report language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Vi,
}

impl FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Lang, String> {
        match s {
            "en" => Ok(Lang::En),
            "vi" => Ok(Lang::Vi),
            _ => Err(format!("unknown language {s:?}: use en or vi")),
        }
    }
}

const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const EN_NUMBERS: [&str; 13] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve",
];

impl Lang {
    /// `en` or `vi`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Vi => "vi",
        }
    }

    fn group_sep(self) -> char {
        match self {
            Lang::En => ',',
            Lang::Vi => '.',
        }
    }

    fn decimal_mark(self) -> char {
        match self {
            Lang::En => '.',
            Lang::Vi => ',',
        }
    }

    /// `1178` → `1,178` / `1.178`.
    pub fn count(self, n: u64) -> String {
        let digits = n.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(self.group_sep());
            }
            out.push(c);
        }
        out
    }

    /// A duration for a sentence: seconds under 90 s, minutes under 90
    /// min, hours (one decimal when not whole) under 48 h, else days:
    /// `6 h` / `6 giờ`, `1.5 h` / `1,5 giờ`, `3.2 days` / `3,2 ngày`.
    pub fn duration(self, secs: u64) -> String {
        let tenths = |n: u64, unit: u64| -> String {
            // Rounded half up to a tenth.
            let t = (n * 10 + unit / 2) / unit;
            if t.is_multiple_of(10) {
                self.count(t / 10)
            } else {
                format!("{}{}{}", self.count(t / 10), self.decimal_mark(), t % 10)
            }
        };
        let (n, unit) = if secs < 90 {
            (self.count(secs), ("s", "giây"))
        } else if secs < 90 * 60 {
            (self.count((secs + 30) / 60), ("min", "phút"))
        } else if secs < 48 * 3600 {
            (tenths(secs, 3600), ("h", "giờ"))
        } else {
            (tenths(secs, 86_400), ("days", "ngày"))
        };
        match self {
            Lang::En => format!("{n} {}", unit.0),
            Lang::Vi => format!("{n} {}", unit.1),
        }
    }

    /// The lifecycle clause of a sentence: `, of which 1,120 were warned
    /// and 1,050 handled; median time to handle 6 h` / `, trong đó đã
    /// cảnh báo 1.120 và hướng dẫn xử lý 1.050 sự cố; thời gian xử lý
    /// trung vị 6 giờ` (without a median when no time was recorded); empty
    /// when nothing moved past `recorded`.
    pub fn lifecycle(self, s: Option<&super::model::Stages>) -> String {
        let Some(s) = s.filter(|s| s.any_news()) else {
            return String::new();
        };
        let (w, h) = (self.count(s.warned.count), self.count(s.handled.count));
        let median = s.handled.median_secs.map(|m| self.duration(m));
        match self {
            Lang::En => {
                let mut out = format!(", of which {w} were warned and {h} handled");
                if let Some(m) = median {
                    out.push_str(&format!("; median time to handle {m}"));
                }
                out
            }
            Lang::Vi => {
                let mut out = format!(", trong đó đã cảnh báo {w} và hướng dẫn xử lý {h} sự cố");
                if let Some(m) = median {
                    out.push_str(&format!("; thời gian xử lý trung vị {m}"));
                }
                out
            }
        }
    }

    /// Hundredths of a percent, unsigned: `3908` → `39.08%` / `39,08%`.
    pub fn percent(self, hundredths: i64) -> String {
        let h = hundredths.unsigned_abs();
        format!(
            "{}{}{:02}%",
            self.count(h / 100),
            self.decimal_mark(),
            h % 100
        )
    }

    /// Signed percent for tables: `+39.08%`, `-16.55%`, `—` when undefined.
    pub fn signed_percent(self, hundredths: Option<i64>) -> String {
        match hundredths {
            None => "—".to_owned(),
            Some(h) if h > 0 => format!("+{}", self.percent(h)),
            Some(h) if h < 0 => format!("-{}", self.percent(h)),
            Some(_) => self.percent(0),
        }
    }

    /// `June 2022` / `tháng 6/2022`.
    pub fn month(self, m: YearMonth) -> String {
        match self {
            Lang::En => format!("{} {}", EN_MONTHS[usize::from(m.month()) - 1], m.year()),
            Lang::Vi => format!("tháng {}/{}", m.month(), m.year()),
        }
    }

    /// Short month for table headers: `Jun 2022` / `T6/2022`.
    pub fn month_short(self, m: YearMonth) -> String {
        match self {
            Lang::En => format!(
                "{} {}",
                &EN_MONTHS[usize::from(m.month()) - 1][..3],
                m.year()
            ),
            Lang::Vi => format!("T{}/{}", m.month(), m.year()),
        }
    }

    /// A change phrase for `current` against `previous`: `up 39.08% from
    /// May 2022` / `tăng 39,08% so với tháng 5/2022`. Only equal counts
    /// are unchanged: a change that rounds to 0.00% reads "up less than
    /// 0.01%".
    pub fn change(self, current: u64, previous: u64, against: &str) -> String {
        use std::cmp::Ordering::*;
        let h = percent_hundredths(current, previous);
        let pct = |h: i64| match h {
            0 => match self {
                Lang::En => format!("less than {}", self.percent(1)),
                Lang::Vi => format!("chưa đến {}", self.percent(1)),
            },
            h => self.percent(h),
        };
        match (self, h, current.cmp(&previous)) {
            (Lang::En, None, _) => format!("with nothing recorded in {against} to compare against"),
            (Lang::Vi, None, _) => format!("không có số liệu {against} để so sánh"),
            (Lang::En, _, Equal) => format!("unchanged from {against}"),
            (Lang::Vi, _, Equal) => format!("không thay đổi so với {against}"),
            (Lang::En, Some(h), Greater) => format!("up {} from {against}", pct(h)),
            (Lang::En, Some(h), Less) => format!("down {} from {against}", pct(h)),
            (Lang::Vi, Some(h), Greater) => format!("tăng {} so với {against}", pct(h)),
            (Lang::Vi, Some(h), Less) => format!("giảm {} so với {against}", pct(h)),
        }
    }

    /// Signed change for tables: `+39.08%`, `-16.55%`, `0.00%` only for
    /// equal counts (`+<0.01%` for a change that rounds to zero), `—`
    /// when undefined.
    pub fn signed_change(self, current: u64, previous: u64) -> String {
        match percent_hundredths(current, previous) {
            Some(0) if current > previous => format!("+<{}", self.percent(1)),
            Some(0) if current < previous => format!("-<{}", self.percent(1)),
            h => self.signed_percent(h),
        }
    }

    /// The year-to-date period: `the first half of 2022` / `6 tháng đầu năm 2022`.
    pub fn first_months(self, n: u32, year: i32) -> String {
        match (self, n) {
            (Lang::En, 1) => format!("January {year}"),
            (Lang::En, 3) => format!("the first quarter of {year}"),
            (Lang::En, 6) => format!("the first half of {year}"),
            (Lang::En, 12) => format!("the whole of {year}"),
            (Lang::En, n) => format!("the first {} months of {year}", EN_NUMBERS[n as usize % 13]),
            (Lang::Vi, 1) => format!("tháng 1/{year}"),
            (Lang::Vi, 12) => format!("cả năm {year}"),
            (Lang::Vi, n) => format!("{n} tháng đầu năm {year}"),
        }
    }

    /// Days `from` to `to` of a month, for month-to-date spans:
    /// `1 to 14 June 2022` / `từ ngày 1 đến ngày 14/6/2022`.
    pub fn day_span(self, m: YearMonth, from: u8, to: u8) -> String {
        match self {
            Lang::En if from == to => format!("{from} {}", self.month(m)),
            Lang::En => format!("{from} to {to} {}", self.month(m)),
            Lang::Vi if from == to => format!("ngày {from}/{}/{}", m.month(), m.year()),
            Lang::Vi => format!("từ ngày {from} đến ngày {to}/{}/{}", m.month(), m.year()),
        }
    }

    /// The same elapsed span of the previous month:
    /// `the same period of May 2022 (1 to 14 May 2022)` /
    /// `cùng kỳ tháng 5/2022 (từ ngày 1 đến ngày 14/5/2022)`.
    pub fn same_span(self, m: YearMonth, to_day: u8) -> String {
        match self {
            Lang::En => format!(
                "the same period of {} ({})",
                self.month(m),
                self.day_span(m, 1, to_day)
            ),
            Lang::Vi => format!(
                "cùng kỳ {} ({})",
                self.month(m),
                self.day_span(m, 1, to_day)
            ),
        }
    }

    /// A column header for a month-to-date span: `Jun 2022 (1–14)` /
    /// `T6/2022 (1–14)`.
    pub fn span_short(self, m: YearMonth, to_day: u8) -> String {
        format!("{} (1–{to_day})", self.month_short(m))
    }

    /// `14 June 2022` / `14/6/2022`: one day.
    pub fn date(self, m: YearMonth, day: u8) -> String {
        match self {
            Lang::En => format!("{day} {}", self.month(m)),
            Lang::Vi => format!("{day}/{}/{}", m.month(), m.year()),
        }
    }

    /// A span from the first day of month `from` to day `day` of month
    /// `to`, for periods to date: `1 January to 14 June 2022` / `từ ngày
    /// 1/1 đến ngày 14/6/2022`.
    pub fn date_span(self, from: YearMonth, to: YearMonth, day: u8) -> String {
        match self {
            Lang::En if from.year() == to.year() => format!(
                "1 {} to {}",
                EN_MONTHS[usize::from(from.month()) - 1],
                self.date(to, day)
            ),
            Lang::En => format!("{} to {}", self.date(from, 1), self.date(to, day)),
            Lang::Vi if from.year() == to.year() => {
                format!("từ ngày 1/{} đến ngày {}", from.month(), self.date(to, day))
            }
            Lang::Vi => format!(
                "từ ngày {} đến ngày {}",
                self.date(from, 1),
                self.date(to, day)
            ),
        }
    }

    /// The equally long period just before: `the previous six months` / `6 tháng trước`.
    pub fn previous_months(self, n: u32) -> String {
        match (self, n) {
            (Lang::En, 1) => "the previous month".to_owned(),
            (Lang::En, n) => format!("the previous {} months", EN_NUMBERS[n as usize % 13]),
            (Lang::Vi, 1) => "tháng trước".to_owned(),
            (Lang::Vi, n) => format!("{n} tháng trước"),
        }
    }

    /// Table and heading words.
    pub fn word(self, w: Word) -> &'static str {
        use Word::*;
        match (self, w) {
            (Lang::En, Title) => "Cyber incident report",
            (Lang::Vi, Title) => "Báo cáo sự cố an toàn thông tin mạng",
            (Lang::En, Timezone) => "Timezone",
            (Lang::Vi, Timezone) => "Múi giờ",
            (Lang::En, Category) => "Category",
            (Lang::Vi, Category) => "Loại tấn công",
            (Lang::En, Severity) => "Severity",
            (Lang::Vi, Severity) => "Mức độ",
            (Lang::En, Sector) => "Sector",
            (Lang::Vi, Sector) => "Lĩnh vực",
            (Lang::En, Change) => "Change",
            (Lang::Vi, Change) => "Thay đổi",
            (Lang::En, Incidents) => "Incidents",
            (Lang::Vi, Incidents) => "Số sự cố",
            (Lang::En, Total) => "Total",
            (Lang::Vi, Total) => "Tổng",
            (Lang::En, ByCategory) => "By category",
            (Lang::Vi, ByCategory) => "Theo loại tấn công",
            (Lang::En, BySeverity) => "By severity",
            (Lang::Vi, BySeverity) => "Theo mức độ",
            (Lang::En, TopSectors) => "Top sectors",
            (Lang::Vi, TopSectors) => "Lĩnh vực bị tấn công nhiều nhất",
            (Lang::En, Province) => "Province",
            (Lang::Vi, Province) => "Tỉnh, thành phố",
            (Lang::En, TopProvinces) => "Top provinces",
            (Lang::Vi, TopProvinces) => "Tỉnh, thành phố bị tấn công nhiều nhất",
            (Lang::En, Lifecycle) => "Recorded, warned and handled",
            (Lang::Vi, Lifecycle) => "Ghi nhận, cảnh báo và hướng dẫn xử lý",
            (Lang::En, Stage) => "Stage",
            (Lang::Vi, Stage) => "Giai đoạn",
            (Lang::En, Median) => "Median time",
            (Lang::Vi, Median) => "Thời gian trung vị",
            (Lang::En, P90) => "90% within",
            (Lang::Vi, P90) => "90% trong vòng",
            (Lang::En, Longest) => "Longest",
            (Lang::Vi, Longest) => "Lâu nhất",
            (Lang::En, Recorded) => "Recorded",
            (Lang::Vi, Recorded) => "Ghi nhận",
            (Lang::En, Warned) => "Warned",
            (Lang::Vi, Warned) => "Cảnh báo",
            (Lang::En, Handled) => "Handled",
            (Lang::Vi, Handled) => "Hướng dẫn xử lý",
            (Lang::En, YearToDate) => "Year to date",
            (Lang::Vi, YearToDate) => "Lũy kế từ đầu năm",
            (Lang::En, Period) => "Period",
            (Lang::Vi, Period) => "Giai đoạn",
            (Lang::En, Trend) => "Monthly trend",
            (Lang::Vi, Trend) => "Diễn biến theo tháng",
            (Lang::En, Month) => "Month",
            (Lang::Vi, Month) => "Tháng",
            (Lang::En, Months) => "Months",
            (Lang::Vi, Months) => "Số tháng",
            (Lang::En, ThisPeriod) => "This period",
            (Lang::Vi, ThisPeriod) => "Kỳ này",
            (Lang::En, PreviousPeriod) => "Previous period",
            (Lang::Vi, PreviousPeriod) => "Kỳ trước",
            (Lang::En, SamePeriodLastYear) => "Same period last year",
            (Lang::Vi, SamePeriodLastYear) => "Cùng kỳ năm trước",
        }
    }
}

/// Words used in tables and headings.
#[derive(Debug, Clone, Copy)]
pub enum Word {
    Title,
    Timezone,
    Category,
    Severity,
    Sector,
    Change,
    Incidents,
    Total,
    ByCategory,
    BySeverity,
    TopSectors,
    Province,
    TopProvinces,
    Lifecycle,
    Stage,
    Median,
    P90,
    Longest,
    Recorded,
    Warned,
    Handled,
    YearToDate,
    Period,
    Trend,
    Month,
    Months,
    ThisPeriod,
    PreviousPeriod,
    SamePeriodLastYear,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(Lang::En.count(1178), "1,178");
        assert_eq!(Lang::Vi.count(1178), "1.178");
        assert_eq!(Lang::En.count(1_234_567), "1,234,567");
        assert_eq!(Lang::En.count(999), "999");
        assert_eq!(Lang::En.count(0), "0");
        assert_eq!(Lang::En.percent(3908), "39.08%");
        assert_eq!(Lang::Vi.percent(3908), "39,08%");
        assert_eq!(Lang::Vi.percent(-1655), "16,55%");
        assert_eq!(Lang::En.percent(5), "0.05%");
        assert_eq!(Lang::En.percent(123_456), "1,234.56%");
        assert_eq!(Lang::Vi.signed_percent(Some(-1655)), "-16,55%");
        assert_eq!(Lang::En.signed_percent(None), "—");
    }

    #[test]
    fn phrases() {
        let may = Lang::Vi.month("2022-05".parse().unwrap());
        assert_eq!(
            Lang::Vi.change(1178, 847, &may),
            "tăng 39,08% so với tháng 5/2022"
        );
        assert_eq!(
            Lang::Vi.change(983, 1178, &may),
            "giảm 16,55% so với tháng 5/2022"
        );
        assert_eq!(
            Lang::En.change(1178, 847, "May 2022"),
            "up 39.08% from May 2022"
        );
        assert_eq!(
            Lang::En.change(999, 1000, "May 2022"),
            "down 0.10% from May 2022"
        );
        // Only equal counts are unchanged.
        assert_eq!(
            Lang::En.change(40_001, 40_000, "May 2022"),
            "up less than 0.01% from May 2022"
        );
        assert_eq!(
            Lang::Vi.change(39_999, 40_000, &may),
            "giảm chưa đến 0,01% so với tháng 5/2022"
        );
        assert_eq!(
            Lang::En.change(40_000, 40_000, "May 2022"),
            "unchanged from May 2022"
        );
        assert_eq!(Lang::En.signed_change(40_001, 40_000), "+<0.01%");
        assert_eq!(Lang::En.signed_change(5, 5), "0.00%");
        assert_eq!(
            Lang::En.date_span("2022-01".parse().unwrap(), "2022-06".parse().unwrap(), 14),
            "1 January to 14 June 2022"
        );
        assert_eq!(
            Lang::Vi.date_span("2021-07".parse().unwrap(), "2021-12".parse().unwrap(), 14),
            "từ ngày 1/7 đến ngày 14/12/2021"
        );
        assert_eq!(Lang::Vi.first_months(6, 2021), "6 tháng đầu năm 2021");
        assert_eq!(Lang::En.previous_months(6), "the previous six months");
        assert_eq!(Lang::En.first_months(1, 2022), "January 2022");
        assert_eq!(Lang::En.previous_months(1), "the previous month");
        let june = "2022-06".parse().unwrap();
        assert_eq!(Lang::En.day_span(june, 1, 14), "1 to 14 June 2022");
        assert_eq!(
            Lang::Vi.day_span(june, 1, 14),
            "từ ngày 1 đến ngày 14/6/2022"
        );
        assert_eq!(
            Lang::Vi.same_span("2022-05".parse().unwrap(), 14),
            "cùng kỳ tháng 5/2022 (từ ngày 1 đến ngày 14/5/2022)"
        );
    }
}
