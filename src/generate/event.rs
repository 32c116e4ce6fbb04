//! Writes one synthetic incident as a JSON line (about 450 bytes, like real
//! sensor output, with the fields of spec §2 and a few unknown ones).

use std::fmt::Write as _;

use super::rng::Rng;
use crate::config::DEFAULT_SECTORS;

/// What to write for one incident.
#[derive(Debug, Clone)]
pub struct EventSpec {
    pub id: String,
    /// RFC 3339 text, already formatted.
    pub time: String,
    pub kind: String,
    pub status: &'static str,
    /// When the status was reached (RFC 3339), for an update.
    pub updated: Option<String>,
}

/// Target sectors: the default configuration's, and two it lacks so that
/// `other` is exercised.
const SECTORS: [&str; DEFAULT_SECTORS.len() + 2] = {
    let mut all = [""; DEFAULT_SECTORS.len() + 2];
    let mut i = 0;
    while i < DEFAULT_SECTORS.len() {
        all[i] = DEFAULT_SECTORS[i];
        i += 1;
    }
    all[i] = "media";
    all[i + 1] = "logistics";
    all
};
/// Provinces as reporters write them: with and without diacritics, with
/// a prefix, by a short name, and one outside the country (`other`).
const PROVINCES: &[&str] = &[
    "Hà Nội",
    "Ho Chi Minh",
    "Đà Nẵng",
    "Hai Phong",
    "TP. Cần Thơ",
    "Hue",
    "Nghệ An",
    "Vientiane",
];
const COUNTRIES: &[&str] = &["CN", "RU", "US", "KP", "IR", "NL", "BR", "VN", "SG", "DE"];
const SENSORS: &[&str] = &[
    "ids-hn-01",
    "ids-hcm-02",
    "waf-edge-03",
    "edr-fleet",
    "cert-partner",
    "honeypot-7",
];

/// Writes `spec` as JSON with realistic optional fields drawn from `rng`.
/// `quirky` adds optional fields of the wrong type (still a valid incident).
pub fn write_event(spec: &EventSpec, rng: &mut Rng, quirky: bool) -> String {
    let mut s = String::with_capacity(512);
    let sector = *rng.pick(&SECTORS);
    let org_n = rng.below(900) + 100;
    let severity = match rng.below(10) {
        0..=3 => format!(
            "\"{}\"",
            rng.pick(&["low", "Medium", "HIGH", "critical", "medium", "high"])
        ),
        4..=8 => rng.range(1, 11).to_string(),
        _ => String::new(),
    };
    let _ = write!(
        s,
        r#"{{"id":"{}","time":"{}","type":"{}""#,
        spec.id, spec.time, spec.kind
    );
    if quirky {
        s.push_str(r#","severity":true,"tags":"not-an-array","target":"not-an-object""#);
    } else {
        if !severity.is_empty() {
            let _ = write!(s, r#","severity":{severity}"#);
        }
        let _ = write!(
            s,
            r#","target":{{"ip":"203.0.{}.{}","domain":"portal{}.{}.example.vn","sector":"{}","organization":"{} unit {}","province":"{}"}}"#,
            rng.below(256),
            rng.below(256),
            rng.below(50),
            sector,
            sector,
            sector,
            org_n,
            rng.pick(PROVINCES),
        );
        let _ = write!(
            s,
            r#","tags":["{}","{}"]"#,
            rng.pick(&["external", "internal", "email", "web", "endpoint"]),
            rng.pick(&["triaged", "auto", "partner", "escalated"])
        );
    }
    if let Some(u) = &spec.updated {
        let _ = write!(s, r#","updated":"{u}""#);
    }
    let _ = write!(
        s,
        r#","status":"{}","source":{{"ip":"198.51.{}.{}","country":"{}"}},"sensor":"{}","signature":"SIG-{:04} {} activity","mitre":"T1{:03}","reporter":"soc-shift-{}"}}"#,
        spec.status,
        rng.below(256),
        rng.below(256),
        rng.pick(COUNTRIES),
        rng.pick(SENSORS),
        rng.below(10_000),
        spec.kind.to_lowercase(),
        rng.below(700),
        rng.below(4) + 1,
    );
    s
}
