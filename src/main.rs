//! The `incident-monitor` binary: parses the command line, sets up logging
//! and calls one function of the library.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use incident_monitor::app::{self, AppError, GenerateArgs, ReportArgs};
use incident_monitor::calendar::YearMonth;
use incident_monitor::generate::Scenario;
use incident_monitor::progress::ProgressMode;
use incident_monitor::report::{Format, Lang};
use incident_monitor::source::file::Input;
use tokio_util::sync::CancellationToken;

/// Streaming cybersecurity incident monitor: exact monthly figures, sliding
/// windows and period-over-period changes.
#[derive(Parser, Debug)]
#[command(name = "incident-monitor", version, about)]
struct Cli {
    /// Log format on stderr: human or json (for log shippers).
    #[arg(long, global = true, default_value = "human")]
    log_format: LogFormat,
    /// No progress line or progress log events for long runs.
    #[arg(long, global = true)]
    quiet: bool,
    /// Seconds between progress log events when stderr is not a terminal
    /// (0.1 to 86400; 0: none).
    #[arg(long, global = true, default_value_t = 10.0)]
    progress_interval: f64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Consume incidents from Kafka (or a JSONL file / stdin) and keep the counts.
    Run(RunArgs),
    /// Everything in one process: an embedded Kafka cluster, the ncsc-2022
    /// replay and a live stream, the monitor, its metrics and the report.
    Demo {
        /// Metrics endpoint address.
        #[arg(long, default_value = "127.0.0.1:9898")]
        metrics_addr: String,
        /// Checkpoint directory (default: a fresh temporary directory).
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Print the report of a month or another period from the persisted state.
    #[command(group(clap::ArgGroup::new("when").required(true).args(["month", "period"])))]
    Report {
        /// The month, YYYY-MM (the same as --period YYYY-MM).
        #[arg(long)]
        month: Option<YearMonth>,
        /// A period: YYYY-MM, YYYY-Qn, YYYY-Hn, YYYY, FYyyyy (the fiscal
        /// year ending in that year; [report] fiscal_year_start_month),
        /// YYYY-Www (ISO week) or YYYY-MM-DD..YYYY-MM-DD (days, inclusive).
        #[arg(long)]
        period: Option<incident_monitor::calendar::Period>,
        /// Compare also with this period (e.g. last year's holiday week).
        #[arg(long)]
        against: Option<incident_monitor::calendar::Period>,
        /// One sector's slice (a configured sector, other or unknown).
        #[arg(long, conflicts_with = "province")]
        sector: Option<String>,
        /// One province's slice: its code (ha-noi), a name that matches it
        /// ("Hà Nội", "Ha Noi"), other or unknown.
        #[arg(long)]
        province: Option<String>,
        /// en or vi.
        #[arg(long, default_value = "en")]
        lang: Lang,
        /// text, markdown, json or html (one self-contained page with charts).
        #[arg(long, default_value = "text")]
        format: Format,
        /// Checkpoint directory written by `run`.
        #[arg(long, conflicts_with = "state_topic")]
        state_dir: Option<PathBuf>,
        /// Kafka bootstrap servers of the state topic (default: the config's).
        #[arg(long)]
        brokers: Option<String>,
        /// Read the state from this compacted Kafka topic (`run --state-topic`).
        #[arg(long)]
        state_topic: Option<String>,
        /// Configuration file: the organisation and scope the sentence
        /// speaks for, the state's directory or topic and its brokers'
        /// properties (default: what `run` recorded in the state, else the
        /// built-in defaults); refused as `check-config` refuses it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Publish every closed month into the archive, restate a month whose
    /// figures changed, and deliver each new version (spec §11).
    /// Idempotent: run it from a timer as often as you like.
    Publish {
        /// Configuration file: `[publish]` (archive, languages, formats,
        /// destinations), the state and the report's identity.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Checkpoint directory written by `run`.
        #[arg(long, conflicts_with = "state_topic")]
        state_dir: Option<PathBuf>,
        /// Kafka bootstrap servers of the state topic (default: the config's).
        #[arg(long)]
        brokers: Option<String>,
        /// Read the state from this compacted Kafka topic.
        #[arg(long)]
        state_topic: Option<String>,
        /// The archive directory (overrides `[publish] archive_dir`).
        #[arg(long)]
        archive: Option<PathBuf>,
        /// Only this month, YYYY-MM (a closed one).
        #[arg(long)]
        month: Option<YearMonth>,
        /// Say what would be written and sent; write and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write synthetic incidents as JSONL to stdout.
    Generate {
        /// ncsc-2022 (the published figures) or live (a realistic mix up to now).
        #[arg(long, default_value = "ncsc-2022")]
        scenario: Scenario,
        /// Write the events as this tool writes them: native, suricata-eve,
        /// wazuh, ecs or ocsf (docs/formats.md).
        #[arg(long, default_value = "native", value_parser = parse_format)]
        format: incident_monitor::decode::Format,
        /// Number of events (live scenario).
        #[arg(long)]
        count: Option<u64>,
        /// Events per second (default: as fast as possible).
        #[arg(long)]
        rate: Option<f64>,
        /// Random seed; the same seed gives the same stream.
        #[arg(long, default_value_t = 2022)]
        seed: u64,
        /// Produce to Kafka (with --topic) instead of writing to stdout.
        #[arg(long, requires = "topic")]
        brokers: Option<String>,
        /// Topic to produce to; messages are keyed by incident id.
        #[arg(long, requires = "brokers")]
        topic: Option<String>,
        /// Configuration whose `[kafka.properties]` (TLS, SASL and their
        /// secrets) the producer connects with.
        #[arg(long, requires = "brokers")]
        config: Option<PathBuf>,
    },
    /// Shell completions on stdout: `incident-monitor completions bash >
    /// /etc/bash_completion.d/incident-monitor` (bash, zsh, fish, elvish,
    /// powershell).
    Completions { shell: clap_complete::Shell },
    /// The manual page (roff) on stdout: `incident-monitor manpage >
    /// incident-monitor.1`.
    Manpage,
    /// Validate a configuration file (connects nowhere).
    CheckConfig {
        /// Configuration file (default: the built-in defaults).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Flags of `run`.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Configuration file (default: the built-in defaults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Kafka bootstrap servers (overrides the config).
    #[arg(long)]
    brokers: Option<String>,
    /// Read this one Kafka topic: its `[[inputs]]` entry if it has one,
    /// else a new input in `events.format` (overrides the config).
    #[arg(long)]
    topic: Option<String>,
    /// Kafka consumer group (overrides the config).
    #[arg(long)]
    group: Option<String>,
    /// Read a JSONL file, or - for stdin, instead of Kafka.
    #[arg(long)]
    input: Option<String>,
    /// The input's format: native, suricata-eve, wazuh, ecs or ocsf
    /// (overrides the config: the one input's, or --topic's).
    #[arg(long, value_parser = parse_format)]
    format: Option<incident_monitor::decode::Format>,
    /// Stop once every assigned partition (or the file) is drained.
    #[arg(long)]
    until_end: bool,
    /// Metrics endpoint address, e.g. 127.0.0.1:9898 (port 0: any free port).
    #[arg(long)]
    metrics_addr: Option<String>,
    /// Prometheus exporter-toolkit web configuration for the endpoint: TLS,
    /// basic auth, headers (overrides `[metrics] web_config`).
    #[arg(long)]
    web_config: Option<PathBuf>,
    /// IANA timezone of the calendar months (overrides the config).
    #[arg(long)]
    timezone: Option<String>,
    /// Checkpoint directory (overrides the config).
    #[arg(long, conflicts_with = "state_topic")]
    state_dir: Option<PathBuf>,
    /// Keep the checkpoints in this compacted Kafka topic instead of a
    /// directory (created if missing; Kafka runs only).
    #[arg(long)]
    state_topic: Option<String>,
}

/// A format name of `--format`.
fn parse_format(s: &str) -> Result<incident_monitor::decode::Format, String> {
    use incident_monitor::decode::Format;
    Format::from_name(s).ok_or_else(|| {
        let known: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!("unknown format {s:?}: one of {}", known.join(", "))
    })
}

fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(incident_monitor::progress::LogWriter::default);
    match format {
        LogFormat::Human => builder
            .fmt_fields(escaped_fields())
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
        // JSON escapes control characters itself.
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// Human log fields as tracing writes them, with every control and bidi
/// character in a value (a path, a broker's error, a name from the
/// configuration) escaped: no value can forge a line or drive the
/// terminal.
fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let shown = format!("{value:?}");
        let v = incident_monitor::text::escaped(&shown);
        if field.name() == "message" {
            write!(w, "{v}")
        } else {
            write!(w, "{}={v}", field.name())
        }
    })
    .delimited(" ")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    if cli.progress_interval != 0.0 && !(0.1..=86_400.0).contains(&cli.progress_interval) {
        eprintln!(
            "error: --progress-interval {} is out of range: must be 0.1 to 86400 seconds, or 0 for none",
            cli.progress_interval
        );
        return ExitCode::from(2);
    }
    let progress = ProgressMode::choose(cli.quiet, cli.progress_interval);
    let done = dispatch(cli.command, progress);
    incident_monitor::kafka::wait_for_checks();
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", incident_monitor::text::escaped(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}

fn dispatch(command: Command, progress: ProgressMode) -> Result<(), AppError> {
    match command {
        Command::Run(args) => run(args, progress),
        Command::Demo {
            metrics_addr,
            state_dir,
        } => on_runtime(async {
            app::demo(metrics_addr, state_dir, progress, shutdown_token()).await
        }),
        Command::Report {
            month,
            period,
            against,
            sector,
            province,
            lang,
            format,
            state_dir,
            brokers,
            state_topic,
            config,
            output,
        } => {
            use incident_monitor::report::Slice;
            let slice = sector.map(Slice::Sector).or(province.map(Slice::Province));
            // The group makes one of them required.
            let Some(period) = period.or(month.map(incident_monitor::calendar::Period::Month))
            else {
                return Err(AppError::Usage("give --month or --period".into()));
            };
            let args = ReportArgs {
                period,
                against,
                slice,
                lang,
                format,
                state_dir,
                brokers,
                state_topic,
                config,
                output,
            };
            let text = app::report(&args)?;
            app::emit(&text, args.output.as_deref())
        }
        Command::Publish {
            config,
            state_dir,
            brokers,
            state_topic,
            archive,
            month,
            dry_run,
        } => {
            let args = app::PublishArgs {
                state: app::StateArgs {
                    config,
                    state_dir,
                    brokers,
                    state_topic,
                },
                archive,
                month,
                dry_run,
            };
            let done = on_runtime(async { app::publish(&args).await })?;
            for line in &done.lines {
                println!("{line}");
            }
            if done.failed > 0 {
                return Err(AppError::Undelivered(done.failed));
            }
            Ok(())
        }
        Command::Generate {
            scenario,
            format,
            count,
            rate,
            seed,
            brokers,
            topic,
            config,
        } => {
            let args = GenerateArgs {
                scenario,
                format,
                count,
                rate,
                seed,
            };
            match (brokers, topic) {
                (Some(b), Some(t)) => {
                    app::generate_to_kafka(&args, config.as_deref(), &b, &t, progress).map(|_| ())
                }
                _ => app::generate(&args).map(|_| ()),
            }
        }
        Command::CheckConfig { config } => {
            let msg = app::check_config(config.as_deref())?;
            println!("{msg}");
            Ok(())
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "incident-monitor", &mut out);
            app::emit(&String::from_utf8_lossy(&out), None)
        }
        Command::Manpage => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|source| AppError::Io {
                    what: "writing the manual page".into(),
                    source,
                })?;
            app::emit(&String::from_utf8_lossy(&out), None)
        }
    }
}

/// `run`: its flags as the library takes them.
fn run(args: RunArgs, progress: ProgressMode) -> Result<(), AppError> {
    let args = app::RunArgs {
        config: args.config,
        overrides: incident_monitor::config::Overrides {
            timezone: args.timezone,
            brokers: args.brokers,
            group: args.group,
            web_config: args.web_config,
            topic: args.topic,
            format: args.format,
            file_input: args.input.is_some(),
        },
        input: args.input.as_deref().map(Input::parse),
        until_end: args.until_end,
        metrics_addr: args.metrics_addr,
        state_dir: args.state_dir,
        state_topic: args.state_topic,
    };
    on_runtime(async { app::run(args, progress, shutdown_token()).await }).map(|_| ())
}

/// How long the runtime may wait, at exit, for blocking tasks still
/// running (a checkpoint write, a stdin read that never returns): the
/// runs have checkpointed and committed by then, so exit is bounded.
const RUNTIME_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs a command's future on a runtime, then shuts the runtime down with a
/// bound.
fn on_runtime<T>(f: impl std::future::Future<Output = Result<T, AppError>>) -> Result<T, AppError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(AppError::io("cannot start the runtime"))?;
    let out = runtime.block_on(f);
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    out
}

/// A token cancelled by the first SIGINT or SIGTERM; a second signal exits
/// at once (status 130) for an operator who does not want to wait for the
/// drain. Must be called inside the runtime.
fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        signal().await;
        tracing::info!("signal received: shutting down (send it again to quit at once)");
        t.cancel();
        signal().await;
        eprintln!("second signal: exiting without waiting for the drain");
        std::process::exit(130);
    });
    token
}

/// Resolves on SIGINT or SIGTERM.
async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
