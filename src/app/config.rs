//! `check-config`, and the settings every command starts from.

use std::path::Path;

use crate::config::{Config, Overrides, Settings};
use crate::pipeline::AppError;

/// Loads the config file (or the built-in defaults), applies the
/// environment's and the command line's overrides, and validates it as
/// `check-config` does: every command takes its settings from here, so none
/// accepts what `check-config` refuses.
pub fn load_settings(path: Option<&Path>, overrides: Overrides) -> Result<Settings, AppError> {
    let mut cfg = load_config(path)?;
    cfg.apply_overrides(overrides)?;
    let settings = cfg.validate()?;
    check_kafka_properties(&settings.config)?;
    Ok(settings)
}

/// `[kafka.properties]` as librdkafka takes them (without connecting). The
/// refusal names the property, never its value.
fn check_kafka_properties(cfg: &Config) -> Result<(), AppError> {
    crate::kafka::check_properties(&cfg.kafka).map_err(|why| {
        AppError::Usage(format!(
            "kafka.properties: librdkafka refuses this configuration: {}",
            cfg.kafka.properties.redact(&why)
        ))
    })
}

/// The configuration file (or the defaults) with the environment's
/// overrides and its secrets taken from their files and variables; not yet
/// validated.
pub fn load_config(path: Option<&Path>) -> Result<Config, AppError> {
    let mut cfg = match path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    cfg.apply_env(|k| std::env::var(k).ok());
    cfg.resolve_secrets(|k| std::env::var(k).ok(), |p| std::fs::read_to_string(p))?;
    Ok(cfg)
}

/// `check-config`: validates and describes the configuration.
pub fn check_config(path: Option<&Path>) -> Result<String, AppError> {
    let s = load_settings(path, Overrides::default())?;
    let cfg = &s.config;
    let inputs: Vec<String> = s
        .inputs
        .iter()
        .map(|i| format!("{} ({}, {})", i.name, i.topic, i.format.name()))
        .collect();
    let endpoint = crate::pipeline::security(cfg)?.describe(&cfg.metrics.listen_addr);
    check_publish_files(cfg)?;
    let p = &cfg.publish;
    Ok(format!(
        "config OK ({}): inputs [{}], timezone {}, categories [{}], {} classification rules, {} sectors and {} provinces (and other, unknown), windows [{}], dedup horizon {} days / {} ids per partition; endpoint {}; publish into {} ({} e-mail, {} webhook destinations)",
        path.map_or("built-in defaults".to_owned(), |p| p.display().to_string()),
        inputs.join(", "),
        cfg.timezone,
        s.categories().join(", "),
        cfg.classification.rules.len(),
        s.sectors.len() - 2,
        s.provinces.names().len() - 2,
        cfg.windows
            .windows
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        cfg.dedup.horizon_days,
        cfg.dedup.max_ids_per_partition,
        endpoint,
        p.archive_dir,
        p.email.len(),
        p.webhook.len(),
    ))
}

/// The files `[publish]` destinations read their secrets and CAs from can
/// be read (their contents are never shown): a missing secret file is a
/// configuration error, named by its key, not a failure at the first
/// delivery.
fn check_publish_files(cfg: &Config) -> Result<(), AppError> {
    let p = &cfg.publish;
    let files = (p.email.iter())
        .flat_map(|e| {
            [
                (
                    "publish.email.password_file",
                    &e.name,
                    e.password_file.as_ref(),
                ),
                ("publish.email.ca_file", &e.name, e.ca_file.as_ref()),
            ]
        })
        .chain(p.webhook.iter().flat_map(|w| {
            [
                (
                    "publish.webhook.secret_file",
                    &w.name,
                    w.secret_file.as_ref(),
                ),
                ("publish.webhook.ca_file", &w.name, w.ca_file.as_ref()),
            ]
        }));
    for (key, name, path) in files {
        if let Some(path) = path
            && let Err(e) = std::fs::File::open(path)
        {
            return Err(AppError::Usage(format!(
                "{key}: {name}: cannot read {}: {e}",
                crate::text::escaped(&path.display().to_string())
            )));
        }
    }
    Ok(())
}
