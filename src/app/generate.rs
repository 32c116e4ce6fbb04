//! `generate`: a scenario as JSONL on stdout, or produced to Kafka.

use crate::config::Config;
use crate::generate::{LiveStream, Scenario, incident_id, ncsc_2022, write_lines};
use crate::pipeline::AppError;
use crate::progress::ProgressMode;

/// A scenario's lines.
type Lines = Box<dyn Iterator<Item = String>>;

/// Options of `generate`.
#[derive(Debug, Clone)]
pub struct GenerateArgs {
    pub scenario: Scenario,
    /// The format written (`native`, or a tool's).
    pub format: crate::decode::Format,
    pub count: Option<u64>,
    pub rate: Option<f64>,
    pub seed: u64,
}

impl GenerateArgs {
    /// Writes native lines in the chosen format, classified by the default
    /// rules (whose categories the written texts carry).
    fn writer(&self) -> Result<crate::generate::FormatWriter, AppError> {
        if self.format == crate::decode::Format::Custom {
            return Err(AppError::Usage(
                "generate --format custom: a custom mapping reads a source of yours; generate writes native, suricata-eve, wazuh, ecs or ocsf".into(),
            ));
        }
        let settings = Config::default().validate()?;
        Ok(crate::generate::FormatWriter::new(
            self.format,
            settings.classifier,
        ))
    }

    /// The scenario's lines and how many there are, after checking the
    /// flags that shape it.
    fn lines(&self) -> Result<(Lines, u64), AppError> {
        let range = crate::generate::RATE_RANGE;
        if let Some(r) = self.rate
            && !range.contains(&r)
        {
            return Err(AppError::Usage(format!(
                "--rate {r} is out of range: must be {} to {} events per second",
                range.start(),
                range.end()
            )));
        }
        Ok(match self.scenario {
            Scenario::Ncsc2022 => {
                if self.count.is_some() {
                    return Err(AppError::Usage(
                        "--count does not apply to ncsc-2022, a fixed replay of the published figures; use --scenario live".into(),
                    ));
                }
                let all = ncsc_2022(self.seed);
                let n = all.len() as u64;
                (Box::new(all.into_iter()), n)
            }
            Scenario::Live => {
                let count = self.count.unwrap_or(10_000);
                let lines: Lines = if self.rate.is_some() {
                    // Paced: event times are the wall clock when written.
                    Box::new(LiveStream::real_time(self.seed, Some(count)))
                } else {
                    let now = crate::clock::wall_now_ms();
                    Box::new(LiveStream::ending_at(self.seed, count, now, 10))
                };
                (lines, count)
            }
        })
    }
}

/// `generate`: writes a scenario as JSONL to stdout.
pub fn generate(args: &GenerateArgs) -> Result<u64, AppError> {
    let (lines, _) = args.lines()?;
    let writer = args.writer()?;
    let lines = lines.filter_map(move |l| writer.write(&l));
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    write_lines(lines, &mut out, args.rate).map_err(AppError::io("cannot write to stdout"))
}

/// `generate --brokers --topic`: produces the scenario to Kafka, keyed by
/// incident id so re-deliveries meet on one partition, connecting as the
/// configuration's `[kafka.properties]` say (TLS, SASL); says how many it
/// produced, and how fast, on stderr.
pub fn generate_to_kafka(
    args: &GenerateArgs,
    config: Option<&std::path::Path>,
    brokers: &str,
    topic: &str,
    progress: ProgressMode,
) -> Result<u64, AppError> {
    let started = std::time::Instant::now();
    let settings = super::load_settings(config, Default::default())?;
    let (lines, total) = args.lines()?;
    let writer = args.writer()?;
    // Keyed by the native id, whatever the format written.
    let records = lines.filter_map(move |line| {
        let key = incident_id(&line).unwrap_or("").to_owned();
        writer.write(&line).map(|l| (key, l))
    });
    let n = crate::kafka::produce(
        records,
        total,
        args.rate,
        crate::kafka::Destination {
            kafka: &settings.config.kafka,
            brokers,
            topic,
        },
        progress,
    )?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "produced {n} messages to {topic} in {secs:.1} s ({:.0} messages/s)",
        if secs > 0.0 { n as f64 / secs } else { 0.0 }
    );
    Ok(n)
}
