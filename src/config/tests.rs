use super::*;

const SHIPPED: &str = include_str!("../../config/incident-monitor.toml");
const NCSC: &str = include_str!("../../config/ncsc-vietnam.toml");

#[test]
fn shipped_file_is_exactly_the_built_in_defaults() {
    assert_eq!(Config::from_toml(SHIPPED).unwrap(), Config::default());
}

#[test]
fn defaults_and_ncsc_example_validate() {
    Config::default().validate().unwrap();
    let s = Config::from_toml(NCSC).unwrap().validate().unwrap();
    assert_eq!(s.config.timezone, "Asia/Ho_Chi_Minh");
    assert!(s.config.report.organization_vi.contains("NCSC"));
    assert_eq!(s.sectors.last().map(String::as_str), Some("unknown"));
}

#[test]
fn unknown_keys_are_named() {
    let err = Config::from_toml("timezone = \"UTC\"\n[dedup]\nhorizon_dayz = 3\n").unwrap_err();
    assert!(err.contains("horizon_dayz"), "{err}");
    assert!(err.starts_with("line 3"), "{err}");
    let err = Config::from_toml("colour = 1").unwrap_err();
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn bad_values_say_what_to_fix() {
    let check = |toml: &str, needle: &str| {
        let err = Config::from_toml(toml)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{toml}: {err}");
    };
    check("timezone = \"Mars/Olympus\"", "Mars/Olympus");
    check(
        "[windows]\nwindows = [{ name = \"w\", length_secs = 100, slide_secs = 30 }]",
        "multiple of slide_secs",
    );
    check(
        "[windows]\nwindows = [{ name = \"w\", length_secs = 60, slide_secs = 1 }, { name = \"w\", length_secs = 60, slide_secs = 1 }]",
        "used twice",
    );
    check("[ledger]\nsectors = [\"other\"]", "built in");
    check("[ledger]\nsectors = [\"Has Space\"]", "a-z");
    check("[[classification.rules]]\ncategory = \"x\"", "no condition");
    check("[dedup]\nhorizon_days = 0", "dedup.horizon_days");
}

#[test]
fn an_unknown_event_format_is_named_with_the_known_ones() {
    let c = Config::from_toml("[events]\nformat = \"native\"\n").unwrap();
    assert_eq!(c.events.format, crate::decode::Format::Native);
    let err = Config::from_toml("[events]\nformat = \"suricata\"\n").unwrap_err();
    assert!(err.starts_with("line 2"), "{err}");
    assert!(err.contains("suricata") && err.contains("native"), "{err}");
}

#[test]
fn the_environment_gives_each_pod_its_group_instance_id() {
    let mut c = Config::default();
    c.apply_env(|_| None);
    assert_eq!(c.kafka.group_instance_id, "");
    c.apply_env(|k| (k == ENV_GROUP_INSTANCE_ID).then(|| "incident-monitor-1".to_owned()));
    assert_eq!(c.kafka.group_instance_id, "incident-monitor-1");
    c.apply_env(|_| Some(String::new()));
    assert_eq!(
        c.kafka.group_instance_id, "incident-monitor-1",
        "empty: no override"
    );
}
