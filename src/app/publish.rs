//! `publish` (spec §11): every closed month past `[publish]
//! after_close_secs` into the archive, a new version when its figures
//! changed, and each version to every destination it is owed to.
//! Idempotent: a second run writes and sends nothing new.

use std::path::PathBuf;

use super::state::{ReadState, StateArgs, read_state};
use crate::calendar::{MonthIndex, YearMonth};
use crate::config::{Config, PublishConfig};
use crate::delivery::{self, Parcel};
use crate::event::EpochMillis;
use crate::pipeline::AppError;
use crate::publish::{
    Accepted, Archive, Decision, Figures, MANIFEST_SCHEMA, Manifest, PublishError, closed_months,
    decide, due_at, restatements_for,
};
use crate::report::{Format, Lang, render};

/// Options of `publish`.
#[derive(Debug, Clone, Default)]
pub struct PublishArgs {
    /// The configuration and where the state is.
    pub state: StateArgs,
    /// Overrides `[publish] archive_dir`.
    pub archive: Option<PathBuf>,
    /// Only this month.
    pub month: Option<YearMonth>,
    /// Say what would be written and sent; write and send nothing.
    pub dry_run: bool,
}

/// What a `publish` did: a line per version written, month not yet due
/// and delivery; `failed` counts the deliveries that failed (exit 1).
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub lines: Vec<String>,
    /// Closed months compared with the archive.
    pub checked: usize,
    pub written: usize,
    pub delivered: usize,
    pub failed: usize,
}

/// `publish`: writes what is due, delivers what is owed. A delivery that
/// failed is named in the lines and counted, and tried again by the next
/// run; the caller exits 1 for it.
pub async fn publish(args: &PublishArgs) -> Result<Published, AppError> {
    let state = read_state(&args.state)?;
    publish_state(&state, args).await
}

/// `publish` of a state already read (the demo's is in memory).
pub(super) async fn publish_state(
    state: &ReadState,
    args: &PublishArgs,
) -> Result<Published, AppError> {
    let cfg = &state.config.publish;
    let archive = Archive::new(
        args.archive
            .clone()
            .unwrap_or_else(|| PathBuf::from(&cfg.archive_dir)),
    );
    let _lock = if args.dry_run {
        None
    } else {
        Some(archive.lock()?)
    };
    if !args.dry_run {
        // Under the lock, a hidden version directory is what a publish
        // killed while writing left: never a version, removed.
        archive.remove_unfinished()?;
    }
    let now = crate::clock::wall_now_ms();
    let mut out = Published::default();
    write_due(state, cfg, &archive, args, now, &mut out)?;
    deliver_owed(&state.config, &archive, args, &mut out).await?;
    tracing::info!(
        archive = %archive.dir().display(),
        months_checked = out.checked,
        versions_written = out.written,
        deliveries_made = out.delivered,
        deliveries_failed = out.failed,
        dry_run = args.dry_run,
        "publish finished"
    );
    Ok(out)
}

/// Writes a version of every due month whose figures are new or changed.
fn write_due(
    state: &ReadState,
    cfg: &PublishConfig,
    archive: &Archive,
    args: &PublishArgs,
    now: EpochMillis,
    out: &mut Published,
) -> Result<(), AppError> {
    let tz = jiff::tz::TimeZone::get(&state.merged.timezone).map_err(|_| {
        AppError::Usage(format!(
            "the state's timezone {:?} is unknown",
            state.merged.timezone
        ))
    })?;
    let index = MonthIndex::new(tz);
    let after_close = i64::try_from(cfg.after_close_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let mut versions = archive.all()?;
    let mut unchanged = 0usize;
    let months = closed_months(&state.merged, now);
    if let Some(m) = args.month
        && !months.contains(&m)
    {
        return Err(AppError::Usage(format!(
            "--month {m}: not a closed month of this state ({})",
            match (months.first(), months.last()) {
                (Some(f), Some(l)) => format!("its closed months are {f} to {l}"),
                _ => "it has no closed month yet".to_owned(),
            }
        )));
    }
    for m in months
        .into_iter()
        .filter(|m| args.month.is_none_or(|only| only == *m))
    {
        let due = due_at(&index, m, after_close).unwrap_or(EpochMillis::MAX);
        if due > now {
            out.lines.push(format!(
                "{m}: closed, to be published from {} ([publish] after_close_secs)",
                crate::event::time::format_rfc3339(due, 0)
            ));
            continue;
        }
        out.checked += 1;
        let figures = Figures::of(&state.merged.ledger, m);
        let key = m.to_string();
        let latest = versions
            .iter()
            .filter(|v| v.month == key)
            .max_by_key(|v| v.version);
        let (version, revises, changes) = match decide(latest, &figures) {
            Decision::Unchanged { .. } => {
                unchanged += 1;
                continue;
            }
            Decision::First => (1, None, None),
            Decision::Revise { revises, changes } => (revises + 1, Some(revises), Some(changes)),
        };
        let mut report = state.merged.report(m, now)?;
        report.restatements = restatements_for(m, &versions, now);
        let files = rendered(&report, cfg, state)?;
        let manifest = Manifest {
            schema_version: MANIFEST_SCHEMA,
            month: key.clone(),
            version,
            revises,
            as_of: report.as_of.clone(),
            timezone: state.merged.timezone.clone(),
            total: figures.total,
            by_category: figures.by_category.clone(),
            no_incidents: figures.total == 0,
            state: state.name.clone(),
            files: files.iter().map(|(n, _)| n.clone()).collect(),
            changes,
        };
        let what = match (&manifest.changes, manifest.total) {
            (Some(c), _) => format!(
                "revises v{}: total {} -> {}{}",
                manifest.revises.unwrap_or(0),
                c.total.from,
                c.total.to,
                category_moves(&c.by_category)
            ),
            (None, 0) => "no incidents".to_owned(),
            (None, n) => format!("{n} incidents"),
        };
        if args.dry_run {
            out.lines
                .push(format!("{key} v{version}: would be written ({what})"));
        } else {
            let owed = destinations(&state.config);
            let dir = archive.write_version(&manifest, &files, &owed)?;
            out.lines.push(format!(
                "{key} v{version} written ({what}): {}",
                dir.display()
            ));
            out.written += 1;
        }
        versions.push(manifest);
    }
    if unchanged > 0 {
        out.lines
            .push(format!("{unchanged} published months unchanged"));
    }
    Ok(())
}

/// ` (malware 300 -> 303, ...)` for the categories that moved.
fn category_moves(moved: &std::collections::BTreeMap<String, crate::report::Change>) -> String {
    if moved.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = moved
        .iter()
        .map(|(c, ch)| format!("{c} {} -> {}", ch.from, ch.to))
        .collect();
    format!(" ({})", parts.join(", "))
}

/// The report in every configured language and format, by file name.
fn rendered(
    report: &crate::report::MonthlyReport,
    cfg: &PublishConfig,
    state: &ReadState,
) -> Result<Vec<(String, Vec<u8>)>, AppError> {
    let mut files = Vec::new();
    for lang in &cfg.langs {
        let l: Lang = lang.parse().map_err(AppError::Usage)?;
        for format in &cfg.formats {
            let f: Format = format.parse().map_err(AppError::Usage)?;
            let ext = match f {
                Format::Html => "html",
                Format::Json => "json",
                Format::Markdown => "md",
                Format::Text => "txt",
            };
            files.push((
                format!("report.{lang}.{ext}"),
                render(report, l, f, &state.who).into_bytes(),
            ));
        }
    }
    Ok(files)
}

/// Every configured destination's name.
fn destinations(cfg: &Config) -> Vec<String> {
    let p = &cfg.publish;
    (p.email.iter().map(|e| e.name.clone()))
        .chain(p.webhook.iter().map(|w| w.name.clone()))
        .collect()
}

/// Delivers every version still owed to a destination, oldest first; a
/// destination that fails is not sent that month's later versions this
/// time (they stay owed, in order).
async fn deliver_owed(
    config: &Config,
    archive: &Archive,
    args: &PublishArgs,
    out: &mut Published,
) -> Result<(), AppError> {
    let p = &config.publish;
    let versions = archive.all()?;
    let mut months: Vec<&str> = versions.iter().map(|v| v.month.as_str()).collect();
    months.dedup();
    for month in months {
        let accepted = archive.accepted(month)?;
        let mut stuck: Vec<String> = Vec::new();
        for v in versions.iter().filter(|v| v.month == month) {
            for dest in archive.owed(month, v.version)? {
                let done = accepted
                    .iter()
                    .any(|a| a.version == v.version && a.destination == dest);
                if done || stuck.contains(&dest) {
                    continue;
                }
                let email = p.email.iter().find(|e| e.name == dest);
                let webhook = p.webhook.iter().find(|w| w.name == dest);
                let tag = format!("{month} v{} -> {dest}", v.version);
                if email.is_none() && webhook.is_none() {
                    out.lines.push(format!(
                        "{tag}: not delivered: the destination is no longer configured"
                    ));
                    continue;
                }
                if args.dry_run {
                    out.lines.push(format!("{tag}: would be sent"));
                    continue;
                }
                let parcel = parcel(archive, v, &p.langs)?;
                let sent = match (email, webhook) {
                    (Some(e), _) => {
                        let (e, parcel) = (e.clone(), parcel.clone());
                        tokio::task::spawn_blocking(move || delivery::email::send(&e, &parcel))
                            .await
                            .map_err(|source| AppError::Task {
                                what: "sending e-mail",
                                source,
                            })?
                    }
                    (None, Some(w)) => delivery::webhook::send(w, &parcel).await,
                    (None, None) => continue,
                };
                match sent {
                    Ok(response) => {
                        archive.record_accepted(
                            month,
                            &Accepted {
                                version: v.version,
                                destination: dest.clone(),
                                accepted_at: jiff::Timestamp::now().to_string(),
                                response: response.clone(),
                            },
                        )?;
                        out.lines.push(format!(
                            "{tag}: accepted ({})",
                            crate::text::escaped(&response)
                        ));
                        out.delivered += 1;
                    }
                    Err(e) => {
                        out.lines.push(format!(
                            "{tag}: FAILED: {}; the next publish tries again",
                            crate::text::escaped(&e.to_string())
                        ));
                        out.failed += 1;
                        stuck.push(dest);
                    }
                }
            }
        }
    }
    Ok(())
}

/// A version as a destination receives it.
fn parcel(archive: &Archive, v: &Manifest, langs: &[String]) -> Result<Parcel, PublishError> {
    let files = v
        .files
        .iter()
        .map(|name| Ok((name.clone(), archive.file(&v.month, v.version, name)?)))
        .collect::<Result<Vec<_>, PublishError>>()?;
    let lang = langs.first().cloned().unwrap_or_else(|| "en".to_owned());
    let month_words = match (v.month.parse::<YearMonth>(), lang.parse::<Lang>()) {
        (Ok(m), Ok(l)) => l.month(m),
        _ => v.month.clone(),
    };
    Ok(Parcel {
        month: v.month.clone(),
        version: v.version,
        revises: v.revises,
        manifest: archive.file(&v.month, v.version, "manifest.json")?,
        files,
        lang,
        month_words,
    })
}
