//! What a report calls a category, a severity, a sector or a province, in
//! its language
//! (spec §7; issue 33): the configured display names first
//! (`[classification.labels.vi]`, `[ledger.labels.vi]`), else the built-in
//! names in the centre's wording, else the code. Machine-readable forms
//! (JSON keys, metric labels) keep the codes.

use super::lang::Lang;
use crate::config::{LabelTable, Labels};

/// The built-in Vietnamese names of the default categories, as the centre
/// writes them ("tấn công lừa đảo (Phishing)", ...).
fn category_vi(code: &str) -> Option<&'static str> {
    Some(match code {
        "phishing" => "Tấn công lừa đảo (Phishing)",
        "deface" => "Tấn công thay đổi giao diện (Deface)",
        "malware" => "Tấn công cài mã độc (Malware)",
        "ddos" => "Tấn công từ chối dịch vụ (DDoS)",
        "intrusion" => "Xâm nhập trái phép",
        "other" => "Khác",
        _ => return None,
    })
}

/// The built-in names of severities.
fn severity_name(lang: Lang, code: &str) -> Option<&'static str> {
    Some(match (lang, code) {
        (Lang::Vi, "low") => "Thấp",
        (Lang::Vi, "medium") => "Trung bình",
        (Lang::Vi, "high") => "Cao",
        (Lang::Vi, "critical") => "Nghiêm trọng",
        (Lang::Vi, "unknown") => "Không xác định",
        _ => return None,
    })
}

/// The built-in Vietnamese names of the default sectors and of `other`
/// and `unknown`.
fn sector_vi(code: &str) -> Option<&'static str> {
    Some(match code {
        "government" => "Cơ quan nhà nước",
        "finance" => "Tài chính - Ngân hàng",
        "education" => "Giáo dục",
        "healthcare" => "Y tế",
        "energy" => "Năng lượng",
        "telecom" => "Viễn thông",
        "transport" => "Giao thông vận tải",
        "manufacturing" => "Sản xuất",
        "retail" => "Bán lẻ",
        "other" => "Khác",
        "unknown" => "Không xác định",
        _ => return None,
    })
}

fn configured<'a>(table: &'a LabelTable, lang: Lang, code: &str) -> Option<&'a str> {
    table.get(lang.code())?.get(code).map(String::as_str)
}

/// The display name of a category.
pub fn category(labels: &Labels, lang: Lang, code: &str) -> String {
    configured(&labels.categories, lang, code)
        .or(match lang {
            Lang::Vi => category_vi(code),
            Lang::En => None,
        })
        .unwrap_or(code)
        .to_owned()
}

/// The display name of a severity.
pub fn severity(lang: Lang, code: &str) -> String {
    severity_name(lang, code).unwrap_or(code).to_owned()
}

/// The display name of a sector.
pub fn sector(labels: &Labels, lang: Lang, code: &str) -> String {
    configured(&labels.sectors, lang, code)
        .or(match lang {
            Lang::Vi => sector_vi(code),
            Lang::En => None,
        })
        .unwrap_or(code)
        .to_owned()
}

/// The display name of a province: configured, else built in (Vietnam's
/// provinces in both languages; `other`/`unknown` in Vietnamese), else the
/// code.
pub fn province(labels: &Labels, lang: Lang, code: &str) -> String {
    configured(&labels.provinces, lang, code)
        .or_else(|| crate::classify::province_built_in_name(code, lang.code()))
        .or(match lang {
            Lang::Vi => sector_vi(code).filter(|_| code == "other" || code == "unknown"),
            Lang::En => None,
        })
        .unwrap_or(code)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_names_then_built_in_then_the_code() {
        let mut labels = Labels::default();
        labels
            .categories
            .entry("vi".into())
            .or_default()
            .insert("phishing".into(), "Lừa đảo".into());
        assert_eq!(category(&labels, Lang::Vi, "phishing"), "Lừa đảo");
        assert_eq!(
            category(&labels, Lang::Vi, "deface"),
            "Tấn công thay đổi giao diện (Deface)"
        );
        assert_eq!(category(&labels, Lang::Vi, "ransomware"), "ransomware");
        assert_eq!(category(&labels, Lang::En, "phishing"), "phishing");
        assert_eq!(severity(Lang::Vi, "critical"), "Nghiêm trọng");
        assert_eq!(severity(Lang::En, "critical"), "critical");
        assert_eq!(sector(&labels, Lang::Vi, "unknown"), "Không xác định");
        assert_eq!(sector(&labels, Lang::En, "finance"), "finance");
        assert_eq!(province(&labels, Lang::Vi, "da-nang"), "Đà Nẵng");
        assert_eq!(
            province(&labels, Lang::En, "ho-chi-minh"),
            "Ho Chi Minh City"
        );
        assert_eq!(province(&labels, Lang::Vi, "other"), "Khác");
        assert_eq!(province(&labels, Lang::En, "atlantis"), "atlantis");
    }
}
