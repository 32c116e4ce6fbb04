//! The configuration loader: any text is a configuration or a one-line
//! error, never a panic; a valid one builds an engine and a partition.
#![no_main]

use incident_monitor::config::Config;
use incident_monitor::count::Engine;
use incident_monitor::state::PartitionKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cfg = match Config::from_toml(text) {
        Ok(c) => c,
        Err(msg) => {
            assert!(!msg.contains('\n') || msg.lines().count() < 20);
            return;
        }
    };
    match cfg.validate() {
        Ok(settings) => {
            let mut engine = Engine::new(settings);
            let mut st = engine.new_partition(PartitionKey::input());
            let line = br#"{"id":"x","time":"2022-06-14T09:21:07+07:00","type":"phishing"}"#;
            engine.apply(&mut st, line, 1_700_000_000_000);
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
    }
});
