//! The `incident-monitor` binary: parses the command line, sets up logging
//! and calls one function of the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use incident_monitor::app::{self, AppError, GenerateArgs, ReportArgs};
use incident_monitor::calendar::YearMonth;
use incident_monitor::generate::Scenario;
use incident_monitor::report::{Format, Lang};
use incident_monitor::source::file::Input;
use incident_monitor::state::StateStore;

/// Streaming cybersecurity incident monitor: exact monthly figures, sliding
/// windows and period-over-period changes.
#[derive(Parser, Debug)]
#[command(name = "incident-monitor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Consume incidents and keep the counts (a JSONL file or stdin).
    Run {
        /// Configuration file (default: the built-in defaults).
        #[arg(long)]
        config: Option<PathBuf>,
        /// JSONL input file, or - for stdin.
        #[arg(long)]
        input: String,
        /// Stop at the end of the input (always the case for --input).
        #[arg(long)]
        until_end: bool,
        /// IANA timezone of the calendar months (overrides the config).
        #[arg(long)]
        timezone: Option<String>,
        /// Checkpoint directory (overrides the config).
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Print the monthly report from the persisted state.
    Report {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: YearMonth,
        /// en or vi.
        #[arg(long, default_value = "en")]
        lang: Lang,
        /// text, markdown or json.
        #[arg(long, default_value = "text")]
        format: Format,
        #[arg(long)]
        state_dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Write synthetic incidents as JSONL to stdout.
    Generate {
        /// ncsc-2022 (the published figures) or live (a realistic mix up to now).
        #[arg(long, default_value = "ncsc-2022")]
        scenario: Scenario,
        /// Number of events (live scenario).
        #[arg(long)]
        count: Option<u64>,
        /// Events per second (default: as fast as possible).
        #[arg(long)]
        rate: Option<f64>,
        /// Random seed; the same seed gives the same stream.
        #[arg(long, default_value_t = 2022)]
        seed: u64,
    },
    /// Validate a configuration file.
    CheckConfig {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn dispatch(command: Command) -> Result<(), AppError> {
    match command {
        Command::Run {
            config,
            input,
            until_end: _,
            timezone,
            state_dir,
        } => {
            let settings = app::load_settings(config.as_deref(), timezone.as_deref())?;
            let dir = state_dir.unwrap_or_else(|| PathBuf::from(&settings.config.state.dir));
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| AppError::Runtime(format!("cannot start the runtime: {e}")))?;
            let summary = runtime.block_on(app::run_input(
                settings,
                Input::parse(&input),
                StateStore::new(&dir),
                shutdown_signal(),
            ))?;
            let o = &summary.outcomes;
            tracing::info!(
                lines = summary.lines_this_run,
                completed = summary.completed,
                accepted = o.accepted,
                duplicate = o.duplicate,
                invalid = o.invalid_total(),
                late = o.late,
                state_dir = %dir.display(),
                "run finished; totals cover every run on this state"
            );
            Ok(())
        }
        Command::Report {
            month,
            lang,
            format,
            state_dir,
            config,
            output,
        } => {
            let args = ReportArgs {
                month,
                lang,
                format,
                state_dir,
                config,
                output,
            };
            let text = app::report(&args)?;
            app::emit(&text, args.output.as_deref())
        }
        Command::Generate {
            scenario,
            count,
            rate,
            seed,
        } => app::generate(&GenerateArgs {
            scenario,
            count,
            rate,
            seed,
        })
        .map(|_| ()),
        Command::CheckConfig { config } => {
            let msg = app::check_config(config.as_deref())?;
            println!("{msg}");
            Ok(())
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
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
