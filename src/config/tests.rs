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

/// Asserts a configuration is refused with a message containing `needle`.
fn check(toml: &str, needle: &str) {
    let err = Config::from_toml(toml)
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains(needle), "{toml}: {err}");
}

#[test]
fn bad_values_say_what_to_fix() {
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
    check(
        "[lifecycle]\nwarned = [\"Done\"]\nhandled = [\"done\"]",
        "also a `warned` word",
    );
    check("[lifecycle]\nhandled = [\" \"]", "lifecycle.handled");
    check("[lifecycle]\nremember_days = 0", "lifecycle.remember_days");
    check("[lifecycle]\nmax_time_days = 0", "lifecycle.max_time_days");
    check("[lifecycle]\noverdue_hours = 0", "lifecycle.overdue_hours");
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

const FOUR_INPUTS: &str = r#"
[events]
format = "native"
naive_time_zone = "Asia/Ho_Chi_Minh"

[[inputs]]
name = "ids"
topic = "suricata-alerts"
format = "suricata-eve"

[[inputs]]
topic = "wazuh-alerts"
format = "wazuh"
wazuh_min_level = 10
naive_time_zone = "UTC"

[[inputs]]
name = "edr"
topic = "edr-findings"
format = "custom"
[inputs.mapping]
id = "/finding/uid"
time = "finding.created"
type = "finding.kind"

[[inputs]]
topic = "incidents"
"#;

#[test]
fn inputs_take_the_events_settings_unless_they_override_them() {
    use crate::decode::Format;
    let s = Config::from_toml(FOUR_INPUTS).unwrap().validate().unwrap();
    let names: Vec<(&str, &str, Format)> = s
        .inputs
        .iter()
        .map(|i| (i.name.as_str(), i.topic.as_str(), i.format))
        .collect();
    assert_eq!(
        names,
        [
            ("ids", "suricata-alerts", Format::SuricataEve),
            ("wazuh-alerts", "wazuh-alerts", Format::Wazuh),
            ("edr", "edr-findings", Format::Custom),
            ("incidents", "incidents", Format::Native),
        ]
    );
    let hcm = jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap();
    assert_eq!(s.inputs[0].tools.naive_zone, hcm);
    assert_eq!(s.inputs[0].tools.wazuh_min_level, 7);
    assert_eq!(s.inputs[1].tools.naive_zone, jiff::tz::TimeZone::UTC);
    assert_eq!(s.inputs[1].tools.wazuh_min_level, 10);
    assert!(s.inputs[2].mapping.is_some());
    assert!(s.inputs[0].mapping.is_none());
    // A consumer group per input, named after the base group.
    let groups: Vec<&str> = s.inputs.iter().map(|i| i.group.as_str()).collect();
    assert_eq!(
        groups,
        [
            "incident-monitor.ids",
            "incident-monitor.wazuh-alerts",
            "incident-monitor.edr",
            "incident-monitor.incidents"
        ]
    );
    // A file run reads [events]'s format, named "file" in the metrics.
    assert_eq!(s.events_input.name, FILE_INPUT);
    assert_eq!(s.events_input.format, Format::Native);
    // Without [[inputs]]: kafka.topic in events.format, named by its topic.
    let one = Config::default().validate().unwrap();
    assert_eq!(one.inputs.len(), 1);
    assert_eq!(one.inputs[0].name, "incidents");
    assert_eq!(one.inputs[0].group, "incident-monitor");
}

#[test]
fn bad_inputs_are_named() {
    let two = |a: &str, b: &str| format!("[[inputs]]\n{a}\n[[inputs]]\n{b}\n");
    check(&two("topic = \"a\"", "topic = \"a\""), "listed twice");
    check(
        &two("topic = \"a\"\nname = \"x\"", "topic = \"b\"\nname = \"x\""),
        "used twice",
    );
    check(
        "[[inputs]]\ntopic = \"has space\"",
        "not a Kafka topic name",
    );
    check(
        "[[inputs]]\ntopic = \"a\"\nname = \"no/slash\"",
        "name \"no/slash\"",
    );
    check("[[inputs]]\ntopic = \"a\"\ngroup_id = \"\"", "group_id");
    check(
        "[[inputs]]\ntopic = \"a\"\nwazuh_min_level = 16",
        "inputs.wazuh_min_level",
    );
    check(
        "[[inputs]]\ntopic = \"a\"\nnaive_time_zone = \"Mars/Base\"",
        "Mars/Base",
    );
    check(
        "[[inputs]]\ntopic = \"a\"\nformat = \"custom\"",
        "events.mapping.id",
    );
    check(
        "[[inputs]]\ntopic = \"a\"\n[inputs.mapping]\nid = \"id\"",
        "only with format = \"custom\"",
    );
    check(
        "[kafka]\ntopic = \"other\"\n[[inputs]]\ntopic = \"a\"",
        "kafka.topic",
    );
    check(
        "[state]\ntopic = \"a\"\n[[inputs]]\ntopic = \"b\"\n[[inputs]]\ntopic = \"a\"",
        "is an input topic",
    );
    let many: String = (0..=MAX_INPUTS)
        .map(|i| format!("[[inputs]]\ntopic = \"t{i}\"\n"))
        .collect();
    check(&many, "at most 16");
    let err = Config::from_toml("[[inputs]]\ntopic = \"a\"\nformat = \"zeek\"").unwrap_err();
    assert!(
        err.contains("zeek") && err.contains("suricata-eve"),
        "{err}"
    );
}

#[test]
fn topic_and_format_flags_name_a_single_input() {
    use crate::decode::Format;
    let inputs = |c: &Config| -> Vec<(String, Format)> {
        let s = c.clone().validate().unwrap();
        s.inputs
            .iter()
            .map(|i| (i.topic.clone(), i.format))
            .collect()
    };
    let four = Config::from_toml(FOUR_INPUTS).unwrap();
    // --topic of a configured input: that input alone, with its settings.
    let mut c = four.clone();
    c.single_input(Some("wazuh-alerts".into()), None).unwrap();
    assert_eq!(inputs(&c), [("wazuh-alerts".into(), Format::Wazuh)]);
    assert_eq!(
        c.clone().validate().unwrap().inputs[0]
            .tools
            .wazuh_min_level,
        10
    );
    // ... and --format replaces its format.
    let mut c = four.clone();
    c.single_input(Some("wazuh-alerts".into()), Some(Format::Ecs))
        .unwrap();
    assert_eq!(inputs(&c), [("wazuh-alerts".into(), Format::Ecs)]);
    // Another topic: a new input in events.format or --format.
    let mut c = four.clone();
    c.single_input(Some("other".into()), Some(Format::Ocsf))
        .unwrap();
    assert_eq!(inputs(&c), [("other".into(), Format::Ocsf)]);
    // --format alone: which of four?
    let mut c = four.clone();
    let err = c.single_input(None, Some(Format::Ocsf)).unwrap_err();
    assert!(err.to_string().contains("--topic"), "{err}");
    // Without [[inputs]]: kafka.topic and events.format.
    let mut c = Config::default();
    c.single_input(Some("t".into()), Some(Format::Wazuh))
        .unwrap();
    assert_eq!(inputs(&c), [("t".into(), Format::Wazuh)]);
    let mut c = Config::default();
    c.single_input(None, Some(Format::Ecs)).unwrap();
    assert_eq!(inputs(&c), [("incidents".into(), Format::Ecs)]);
}

#[test]
fn secrets_come_from_files_and_the_environment_never_twice() {
    let base =
        "[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.username\" = \"alice\"\n";
    let read = |p: &Path| -> std::io::Result<String> {
        match p.to_str() {
            Some("/run/secrets/kafka") => Ok("s3cret\n".into()),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file",
            )),
        }
    };
    let no_env = |_: &str| None;

    // A `_file` key: the file's content without its newline, the key gone.
    let mut c = Config::from_toml(&format!(
        "{base}\"sasl.password_file\" = \"/run/secrets/kafka\"\n"
    ))
    .unwrap();
    c.resolve_secrets(no_env, read).unwrap();
    assert_eq!(
        c.kafka.properties.get("sasl.password").map(String::as_str),
        Some("s3cret")
    );
    assert!(!c.kafka.properties.contains_key("sasl.password_file"));

    // The environment.
    let mut c = Config::from_toml(base).unwrap();
    c.resolve_secrets(
        |k| (k == "INCIDENT_MONITOR_KAFKA_SASL_PASSWORD").then(|| "from-env".to_owned()),
        read,
    )
    .unwrap();
    assert_eq!(
        c.kafka.properties.get("sasl.password").map(String::as_str),
        Some("from-env")
    );

    // Twice: an error naming both places and no value.
    let mut c = Config::from_toml(&format!("{base}\"sasl.password\" = \"inline\"\n")).unwrap();
    let e = c
        .resolve_secrets(
            |k| (k == "INCIDENT_MONITOR_KAFKA_SASL_PASSWORD").then(|| "from-env".to_owned()),
            read,
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("INCIDENT_MONITOR_KAFKA_SASL_PASSWORD") && e.contains("given twice"),
        "{e}"
    );
    assert!(!e.contains("inline") && !e.contains("from-env"), "{e}");
    let mut c = Config::from_toml(&format!(
        "{base}\"sasl.password\" = \"inline\"\n\"sasl.password_file\" = \"/run/secrets/kafka\"\n"
    ))
    .unwrap();
    let e = c.resolve_secrets(no_env, read).unwrap_err().to_string();
    assert!(
        e.contains("sasl.password_file") && !e.contains("inline"),
        "{e}"
    );

    // A file that cannot be read: named, with the reason.
    let mut c = Config::from_toml(&format!("{base}\"sasl.password_file\" = \"/nope\"\n")).unwrap();
    let e = c.resolve_secrets(no_env, read).unwrap_err().to_string();
    assert!(e.contains("/nope") && e.contains("no such file"), "{e}");
}

#[test]
fn the_debug_form_of_the_configuration_hides_secrets() {
    let c = Config::from_toml(
        "[kafka.properties]\n\"sasl.password\" = \"pw-1\"\n\"ssl.key.password\" = \"pw-2\"\n\"sasl.oauthbearer.client.secret\" = \"pw-3\"\n\"sasl.username\" = \"alice\"\n",
    )
    .unwrap();
    let shown = format!("{c:?}");
    for s in ["pw-1", "pw-2", "pw-3"] {
        assert!(!shown.contains(s), "{s} in {shown}");
    }
    assert!(shown.contains("alice") && shown.contains("<redacted>"));
}

#[test]
fn publish_settings_are_checked_before_anything_is_sent() {
    let mail = |extra: &str| {
        format!(
            "[[publish.email]]\nname = \"ops\"\nsmtp_url = \"smtp://mail.example.org:587\"\nfrom = \"m@example.org\"\nto = [\"d@example.org\"]\n{extra}"
        )
    };
    Config::from_toml(&mail("")).unwrap().validate().unwrap();
    check(
        "[publish]\nlangs = [\"fr\"]\n",
        "publish.langs: \"fr\" is not one of en, vi",
    );
    check(
        "[publish]\nlangs = []\n",
        "publish.langs: name at least one",
    );
    check("[publish]\nformats = [\"pdf\"]\n", "publish.formats");
    check(
        "[publish]\nformats = [\"html\", \"html\"]\n",
        "listed twice",
    );
    check(
        "[publish]\nafter_close_secs = 99999999\n",
        "publish.after_close_secs",
    );
    check(
        &mail("username = \"u\"\n"),
        "ops: a username needs password_file or password_env",
    );
    check(
        &mail("").replace("smtp://mail.example.org:587", "http://mail.example.org"),
        "is not smtp://HOST[:PORT] or smtps://HOST[:PORT]",
    );
    check(
        &mail("").replace("smtp://mail.example.org:587", "smtp://"),
        "no host",
    );
    check(
        &mail("").replace("to = [\"d@example.org\"]", "to = []"),
        "name one address",
    );
    check(
        &format!(
            "{}\n[[publish.webhook]]\nname = \"ops\"\nurl = \"https://h.example.org/x\"\n",
            mail("")
        ),
        "\"ops\" is used twice",
    );
    check(
        "[[publish.webhook]]\nname = \"portal\"\nurl = \"ftp://h.example.org/x\"\n",
        "not an http:// or https:// URL",
    );
    check(
        "[[publish.webhook]]\nname = \"Bad Name\"\nurl = \"https://h.example.org/x\"\n",
        "must be 1-32 characters",
    );
    let err = Config::from_toml("[publish]\nemail_to = 1\n").unwrap_err();
    assert!(err.contains("email_to"), "{err}");
    // A URL may carry a token or a password: errors quote its scheme only.
    for (toml, secret) in [
        (
            "[[publish.webhook]]\nname = \"portal\"\nurl = \"ftp://h.example.org/hooks/T0KEN-123\"\n",
            "T0KEN-123",
        ),
        (
            &mail("").replace(
                "smtp://mail.example.org:587",
                "smtpx://user:Pa55w0rd@mail.example.org",
            ),
            "Pa55w0rd",
        ),
    ] {
        let err = Config::from_toml(toml)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains(secret) && !err.contains("example.org"),
            "{err}"
        );
    }
}
