//! Provinces (spec §7 "Slices"): `target.province` as reporters write it
//! ("Hà Nội", "Ha Noi", "HA NOI", "ha-noi", "TP. Hồ Chí Minh") matched to
//! a configured, bounded set of province codes; others count as `other`, a
//! missing province as `unknown`.
//!
//! A name matches a province when the two *fold* to the same key: lower
//! case, diacritics removed (Unicode NFD without its combining marks, and
//! `đ` as `d`), and everything but letters and digits dropped. A province
//! is known by its code, its display names (configured, or the built-in
//! ones of Vietnam's provinces) and its aliases; a name that matches none
//! is tried again without a configured prefix (`Thành phố`, `TP.`,
//! `Tỉnh`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;

use super::{LabelTable, SECTOR_OTHER, SECTOR_UNKNOWN, is_label_safe};

/// Most provinces a configuration may list (the bounded label set).
const MAX_PROVINCES: usize = 256;

/// The 63 provinces and centrally-run cities of Vietnam (2008-2025): code,
/// Vietnamese name, English name. The built-in province set: what the
/// national centre's reports of 2022 count. (From 1 July 2025 Vietnam has
/// 34 provincial units; a centre counting them configures those.)
pub const VIETNAM: [(&str, &str, &str); 63] = [
    ("ha-noi", "Hà Nội", "Hanoi"),
    ("ho-chi-minh", "TP. Hồ Chí Minh", "Ho Chi Minh City"),
    ("hai-phong", "Hải Phòng", "Hai Phong"),
    ("da-nang", "Đà Nẵng", "Da Nang"),
    ("can-tho", "Cần Thơ", "Can Tho"),
    ("an-giang", "An Giang", "An Giang"),
    ("ba-ria-vung-tau", "Bà Rịa - Vũng Tàu", "Ba Ria - Vung Tau"),
    ("bac-giang", "Bắc Giang", "Bac Giang"),
    ("bac-kan", "Bắc Kạn", "Bac Kan"),
    ("bac-lieu", "Bạc Liêu", "Bac Lieu"),
    ("bac-ninh", "Bắc Ninh", "Bac Ninh"),
    ("ben-tre", "Bến Tre", "Ben Tre"),
    ("binh-dinh", "Bình Định", "Binh Dinh"),
    ("binh-duong", "Bình Dương", "Binh Duong"),
    ("binh-phuoc", "Bình Phước", "Binh Phuoc"),
    ("binh-thuan", "Bình Thuận", "Binh Thuan"),
    ("ca-mau", "Cà Mau", "Ca Mau"),
    ("cao-bang", "Cao Bằng", "Cao Bang"),
    ("dak-lak", "Đắk Lắk", "Dak Lak"),
    ("dak-nong", "Đắk Nông", "Dak Nong"),
    ("dien-bien", "Điện Biên", "Dien Bien"),
    ("dong-nai", "Đồng Nai", "Dong Nai"),
    ("dong-thap", "Đồng Tháp", "Dong Thap"),
    ("gia-lai", "Gia Lai", "Gia Lai"),
    ("ha-giang", "Hà Giang", "Ha Giang"),
    ("ha-nam", "Hà Nam", "Ha Nam"),
    ("ha-tinh", "Hà Tĩnh", "Ha Tinh"),
    ("hai-duong", "Hải Dương", "Hai Duong"),
    ("hau-giang", "Hậu Giang", "Hau Giang"),
    ("hoa-binh", "Hòa Bình", "Hoa Binh"),
    ("hung-yen", "Hưng Yên", "Hung Yen"),
    ("khanh-hoa", "Khánh Hòa", "Khanh Hoa"),
    ("kien-giang", "Kiên Giang", "Kien Giang"),
    ("kon-tum", "Kon Tum", "Kon Tum"),
    ("lai-chau", "Lai Châu", "Lai Chau"),
    ("lam-dong", "Lâm Đồng", "Lam Dong"),
    ("lang-son", "Lạng Sơn", "Lang Son"),
    ("lao-cai", "Lào Cai", "Lao Cai"),
    ("long-an", "Long An", "Long An"),
    ("nam-dinh", "Nam Định", "Nam Dinh"),
    ("nghe-an", "Nghệ An", "Nghe An"),
    ("ninh-binh", "Ninh Bình", "Ninh Binh"),
    ("ninh-thuan", "Ninh Thuận", "Ninh Thuan"),
    ("phu-tho", "Phú Thọ", "Phu Tho"),
    ("phu-yen", "Phú Yên", "Phu Yen"),
    ("quang-binh", "Quảng Bình", "Quang Binh"),
    ("quang-nam", "Quảng Nam", "Quang Nam"),
    ("quang-ngai", "Quảng Ngãi", "Quang Ngai"),
    ("quang-ninh", "Quảng Ninh", "Quang Ninh"),
    ("quang-tri", "Quảng Trị", "Quang Tri"),
    ("soc-trang", "Sóc Trăng", "Soc Trang"),
    ("son-la", "Sơn La", "Son La"),
    ("tay-ninh", "Tây Ninh", "Tay Ninh"),
    ("thai-binh", "Thái Bình", "Thai Binh"),
    ("thai-nguyen", "Thái Nguyên", "Thai Nguyen"),
    ("thanh-hoa", "Thanh Hóa", "Thanh Hoa"),
    ("thua-thien-hue", "Thừa Thiên Huế", "Thua Thien Hue"),
    ("tien-giang", "Tiền Giang", "Tien Giang"),
    ("tra-vinh", "Trà Vinh", "Tra Vinh"),
    ("tuyen-quang", "Tuyên Quang", "Tuyen Quang"),
    ("vinh-long", "Vĩnh Long", "Vinh Long"),
    ("vinh-phuc", "Vĩnh Phúc", "Vinh Phuc"),
    ("yen-bai", "Yên Bái", "Yen Bai"),
];

/// Built-in aliases of Vietnam's provinces: the other names reporters
/// use (matched after folding, so `Sai Gon` is `Sài Gòn`).
const VIETNAM_ALIASES: [(&str, &str); 8] = [
    ("ho-chi-minh", "TPHCM"),
    ("ho-chi-minh", "HCM"),
    ("ho-chi-minh", "HCMC"),
    ("ho-chi-minh", "Sài Gòn"),
    ("thua-thien-hue", "Huế"),
    ("ba-ria-vung-tau", "Vũng Tàu"),
    ("bac-kan", "Bắc Cạn"),
    ("dak-lak", "Đắc Lắc"),
];

/// The prefixes dropped by default from a name that matches no province
/// as written.
pub const DEFAULT_PREFIXES: [&str; 3] = ["Thành phố", "TP.", "Tỉnh"];

/// The codes of the built-in province set.
pub fn default_codes() -> Vec<String> {
    VIETNAM.iter().map(|(c, _, _)| (*c).to_owned()).collect()
}

/// The built-in display name of a province code in a language
/// (`vi` or `en`).
pub fn built_in_name(code: &str, lang: &str) -> Option<&'static str> {
    let (_, vi, en) = VIETNAM.iter().find(|(c, _, _)| *c == code)?;
    match lang {
        "vi" => Some(vi),
        "en" => Some(en),
        _ => None,
    }
}

/// Adds the folded form of `s` to `out` (cleared first): lower-case
/// letters and digits only, without diacritics.
pub fn fold(s: &str, out: &mut String) {
    out.clear();
    if s.is_ascii() {
        // The common case, without decomposition.
        out.extend(
            s.bytes()
                .filter(u8::is_ascii_alphanumeric)
                .map(|b| char::from(b.to_ascii_lowercase())),
        );
        return;
    }
    for c in s.nfd() {
        match c {
            // `đ`/`Đ` have no decomposition.
            'đ' | 'Đ' => out.push('d'),
            c if c.is_alphanumeric() => out.extend(c.to_lowercase()),
            // Combining marks, spaces, punctuation.
            _ => {}
        }
    }
}

/// The folded form of `s`.
pub fn folded(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    fold(s, &mut out);
    out
}

/// Names already matched, as written, to their label index: reporters
/// write a province the same way again and again, so most incidents cost
/// one short hash and compare instead of folding (which decomposes
/// non-ASCII text). Direct-mapped: a name hashes to one slot and replaces
/// what was there, so names that collide (by chance or by design) are only
/// folded again, memory is bounded (names longer than
/// [`NameCache::LONGEST`] bytes are not kept), and no input can make a
/// lookup cost more than one compare.
#[derive(Debug, Clone)]
pub struct NameCache {
    slots: Vec<Option<(Box<str>, usize)>>,
    scratch: String,
}

impl Default for NameCache {
    fn default() -> Self {
        NameCache {
            slots: vec![None; Self::SLOTS],
            scratch: String::new(),
        }
    }
}

impl NameCache {
    /// Slots (a power of two).
    pub const SLOTS: usize = 512;
    /// The longest name kept.
    pub const LONGEST: usize = 64;

    fn slot(name: &str) -> usize {
        use std::hash::Hasher;
        let mut h = super::Fnv::default();
        h.write(name.as_bytes());
        (h.finish() as usize) & (Self::SLOTS - 1)
    }
}

/// A configuration of provinces that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvinceError {
    #[error("{0:?} must be 1-32 characters of a-z, 0-9, _ or -")]
    BadCode(String),
    #[error("{0:?} is built in; do not list it")]
    BuiltIn(String),
    #[error("{0:?} is listed twice")]
    Twice(String),
    #[error("at most {MAX_PROVINCES} provinces")]
    TooMany,
    #[error("an alias names {0:?}, which is not a listed province")]
    AliasOfUnknown(String),
    #[error("{name:?} would match both {a:?} and {b:?}; give one of them another name")]
    Ambiguous { name: String, a: String, b: String },
}

/// The compiled province set: its codes (then `other` and `unknown`) and
/// every folded name to its index.
#[derive(Debug, Clone)]
pub struct Provinces {
    names: Arc<[String]>,
    by_name: HashMap<String, usize>,
    prefixes: Vec<String>,
}

impl Provinces {
    /// Compiles `codes` with the names that match each: its display names
    /// (`labels`, and the built-in ones), `aliases` (code to names) and
    /// the built-in aliases; `prefixes` are dropped from a name that
    /// matches nothing as written.
    pub fn compile(
        codes: &[String],
        labels: &LabelTable,
        aliases: &BTreeMap<String, Vec<String>>,
        prefixes: &[String],
    ) -> Result<Provinces, ProvinceError> {
        let mut names: Vec<String> = Vec::with_capacity(codes.len() + 2);
        for c in codes {
            let c = c.trim().to_lowercase();
            if !is_label_safe(&c) {
                return Err(ProvinceError::BadCode(c));
            }
            if c == SECTOR_OTHER || c == SECTOR_UNKNOWN {
                return Err(ProvinceError::BuiltIn(c));
            }
            if names.contains(&c) {
                return Err(ProvinceError::Twice(c));
            }
            names.push(c);
        }
        if names.len() > MAX_PROVINCES {
            return Err(ProvinceError::TooMany);
        }
        for code in aliases.keys() {
            if !names.contains(code) {
                return Err(ProvinceError::AliasOfUnknown(code.clone()));
            }
        }
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let add = |by_name: &mut HashMap<String, usize>, name: &str, i: usize, names: &[String]| {
            let key = folded(name);
            if key.is_empty() {
                return Ok(());
            }
            match by_name.get(&key) {
                Some(&j) if j != i => Err(ProvinceError::Ambiguous {
                    name: name.to_owned(),
                    a: names[j].clone(),
                    b: names[i].clone(),
                }),
                _ => {
                    by_name.insert(key, i);
                    Ok(())
                }
            }
        };
        // Codes and configured names first: they win over built-in ones.
        for (i, code) in names.iter().enumerate() {
            add(&mut by_name, code, i, &names)?;
            for lang in ["vi", "en"] {
                if let Some(n) = labels.get(lang).and_then(|t| t.get(code)) {
                    add(&mut by_name, n, i, &names)?;
                }
            }
            for a in aliases.get(code).into_iter().flatten() {
                add(&mut by_name, a, i, &names)?;
            }
        }
        for (i, code) in names.iter().enumerate() {
            let built_in = VIETNAM
                .iter()
                .filter(|(c, _, _)| c == code)
                .flat_map(|(_, vi, en)| [*vi, *en])
                .chain(
                    VIETNAM_ALIASES
                        .iter()
                        .filter(|(c, _)| c == code)
                        .map(|(_, a)| *a),
                );
            for n in built_in {
                // A configured name of another province keeps its match.
                if !by_name.contains_key(&folded(n)) {
                    add(&mut by_name, n, i, &names)?;
                }
            }
        }
        names.push(SECTOR_OTHER.to_owned());
        names.push(SECTOR_UNKNOWN.to_owned());
        let mut prefixes: Vec<String> = prefixes.iter().map(|p| folded(p)).collect();
        prefixes.retain(|p| !p.is_empty());
        // Longest first: `thanhpho` before a shorter prefix of it.
        prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
        Ok(Provinces {
            names: names.into(),
            by_name,
            prefixes,
        })
    }

    /// The province labels: the configured codes, then `other`, then
    /// `unknown`.
    pub fn names(&self) -> &Arc<[String]> {
        &self.names
    }

    /// The index of the province a name matches, `None` when it matches
    /// none. `scratch` is reused for the folded name.
    pub fn find(&self, name: &str, scratch: &mut String) -> Option<usize> {
        fold(name, scratch);
        if let Some(&i) = self.by_name.get(scratch.as_str()) {
            return Some(i);
        }
        self.prefixes.iter().find_map(|p| {
            let rest = scratch.strip_prefix(p.as_str())?;
            self.by_name.get(rest).copied()
        })
    }

    /// The label index of an incident's `target.province`: a configured
    /// province, else `other`; `unknown` when absent or blank.
    pub fn index(&self, province: Option<&str>, cache: &mut NameCache) -> usize {
        let n = self.names.len();
        let Some(p) = province else {
            return n - 1;
        };
        let slot = NameCache::slot(p);
        if let Some((name, i)) = &cache.slots[slot]
            && **name == *p
        {
            return *i;
        }
        let i = if p.trim().is_empty() {
            n - 1
        } else {
            self.find(p, &mut cache.scratch).unwrap_or(n - 2)
        };
        if p.len() <= NameCache::LONGEST {
            cache.slots[slot] = Some((p.into(), i));
        }
        i
    }

    /// The label (code, `other` or `unknown`) a name given on the command
    /// line or in a URL means: any name that matches a province, or
    /// `other`/`unknown` themselves.
    pub fn resolve(&self, name: &str) -> Option<&str> {
        let n = self.names.len();
        let code = name.trim().to_lowercase();
        if let Some(i) = self.names[n - 2..].iter().position(|s| *s == code) {
            return Some(&self.names[n - 2 + i]);
        }
        let i = self.find(name, &mut String::new())?;
        Some(&self.names[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vietnam() -> Provinces {
        let prefixes: Vec<String> = DEFAULT_PREFIXES.map(str::to_owned).to_vec();
        Provinces::compile(
            &default_codes(),
            &LabelTable::new(),
            &BTreeMap::new(),
            &prefixes,
        )
        .unwrap()
    }

    #[test]
    fn folding_drops_case_marks_and_punctuation() {
        assert_eq!(folded("Hà Nội"), "hanoi");
        assert_eq!(folded("HA-NOI"), "hanoi");
        assert_eq!(folded("Đắk Lắk"), "daklak");
        assert_eq!(folded("Bà Rịa - Vũng Tàu"), "bariavungtau");
        assert_eq!(folded("Hoà Bình"), folded("Hòa Bình"));
        // Decomposed input (NFD) folds like composed.
        assert_eq!(folded("Ha\u{300} No\u{323}\u{302}i"), "hanoi");
    }

    #[test]
    fn names_as_reporters_write_them_match() {
        let p = vietnam();
        let code = |s: &str| {
            let i = p.index(Some(s), &mut NameCache::default());
            p.names()[i].clone()
        };
        for name in [
            "Hà Nội",
            "Ha Noi",
            "HA NOI",
            "ha-noi",
            "Hanoi",
            "Thành phố Hà Nội",
            "TP Hà Nội",
        ] {
            assert_eq!(code(name), "ha-noi", "{name}");
        }
        for name in [
            "TP. Hồ Chí Minh",
            "Hồ Chí Minh",
            "Ho Chi Minh City",
            "HCMC",
            "Sai Gon",
        ] {
            assert_eq!(code(name), "ho-chi-minh", "{name}");
        }
        assert_eq!(code("Hue"), "thua-thien-hue");
        assert_eq!(code("Tỉnh Đắk Lắk"), "dak-lak");
        assert_eq!(code("Atlantis"), "other");
        assert_eq!(code("  "), "unknown");
        assert_eq!(
            p.names()[p.index(None, &mut NameCache::default())],
            "unknown"
        );
        // Remembered names answer the same whatever else passed through,
        // and the cache stays its size.
        let mut cache = NameCache::default();
        for k in 0..4 * NameCache::SLOTS {
            assert_eq!(p.index(Some(&format!("place {k}")), &mut cache), 63);
            assert_eq!(p.names()[p.index(Some("Hà Nội"), &mut cache)], "ha-noi");
            assert_eq!(p.names()[p.index(Some("Ha Noi"), &mut cache)], "ha-noi");
            assert_eq!(p.names()[p.index(Some(" "), &mut cache)], "unknown");
        }
        assert_eq!(cache.slots.len(), NameCache::SLOTS);
        let long = "x".repeat(NameCache::LONGEST + 1);
        assert_eq!(p.index(Some(&long), &mut cache), 63);
        assert!(
            cache
                .slots
                .iter()
                .flatten()
                .all(|(n, _)| n.len() <= NameCache::LONGEST)
        );
        assert_eq!(p.names().len(), 65);
        assert_eq!(p.resolve("Đà Nẵng"), Some("da-nang"));
        assert_eq!(p.resolve("other"), Some("other"));
        assert_eq!(p.resolve("Unknown"), Some("unknown"));
        assert_eq!(p.resolve("Atlantis"), None);
    }

    #[test]
    fn configured_names_and_aliases_match_and_conflicts_are_refused() {
        let codes = vec!["north".to_owned(), "south".to_owned()];
        let mut labels = LabelTable::new();
        labels
            .entry("vi".into())
            .or_default()
            .insert("north".into(), "Miền Bắc".into());
        let mut aliases = BTreeMap::new();
        aliases.insert("south".to_owned(), vec!["Mien Nam".to_owned()]);
        let p = Provinces::compile(&codes, &labels, &aliases, &[]).unwrap();
        assert_eq!(p.resolve("mien bac"), Some("north"));
        assert_eq!(p.resolve("Miền Nam"), Some("south"));
        aliases.insert("north".to_owned(), vec!["Mien-Nam".to_owned()]);
        assert!(matches!(
            Provinces::compile(&codes, &labels, &aliases, &[]),
            Err(ProvinceError::Ambiguous { .. })
        ));
        aliases.clear();
        aliases.insert("east".to_owned(), vec!["x".to_owned()]);
        assert_eq!(
            Provinces::compile(&codes, &labels, &aliases, &[]).unwrap_err(),
            ProvinceError::AliasOfUnknown("east".into())
        );
        let twice = vec!["a".to_owned(), "A".to_owned()];
        assert_eq!(
            Provinces::compile(&twice, &labels, &BTreeMap::new(), &[]).unwrap_err(),
            ProvinceError::Twice("a".into())
        );
    }
}
