//! The job file: what to read, which model, which columns go where, what to write.
//!
//! Parsing is strict (unknown keys are errors: a typo must not silently
//! become a default), and every relative path resolves against the job
//! file's directory, because cron and Task Scheduler start in odd places.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::clock::RunDateRule;
use crate::error::{Kind, ResultExt, failure};
use crate::features::{Fill, Repair};
use crate::storage::{Cloud, Location, StorageOptions, is_url};
use crate::template::{Template, clean};

pub const DEFAULT_CHUNK_ROWS: usize = 100_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    name: String,
    model: String,
    timezone: Option<String>,
    run_date: Option<String>,
    schedule: Option<String>,
    chunk_rows: Option<usize>,
    threads: Option<usize>,
    state_dir: Option<String>,
    metrics: Option<String>,
    log_file: Option<String>,
    input: InputFile,
    features: FeaturesFile,
    #[serde(default)]
    keep: Vec<String>,
    outputs: Option<toml::Table>,
    output: OutputFile,
    #[serde(default)]
    bad_rows: BadRowsFile,
    #[serde(default)]
    storage: StorageOptions,
    monitor: Option<crate::monitor::MonitorFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BadRowsFile {
    policy: Option<Policy>,
    max_rejected: Option<toml::Value>,
    #[serde(default)]
    fill: toml::Table,
}

/// What happens to a row with a bad feature value (null, NaN, unparsable).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Decided per feature from the model: a null or NaN passes as NaN where
    /// the model handles a missing value (an Imputer, trees with
    /// missing-value tracks) and is rejected elsewhere; unparsable text is
    /// rejected everywhere.
    Auto,
    /// Quarantine the row, score the rest.
    Reject,
    /// Replace the value with the column's `fill` value; columns without one reject.
    Fill,
    /// Give the model NaN (float inputs only; trees route it); other inputs reject.
    Pass,
    /// Fail the run at the first bad value.
    Fail,
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Policy::Auto => "auto",
            Policy::Reject => "reject",
            Policy::Fill => "fill",
            Policy::Pass => "pass",
            Policy::Fail => "fail",
        })
    }
}

/// How many rejected rows a run tolerates before it fails.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    Count(u64),
    Percent(f64),
}

impl Limit {
    pub fn allows(self, rejected: u64, read: u64) -> bool {
        match self {
            Limit::Count(n) => rejected <= n,
            Limit::Percent(p) => (rejected as f64) <= (read as f64) * p / 100.0,
        }
    }

    fn parse(v: &toml::Value) -> anyhow::Result<Limit> {
        let bad = || {
            anyhow::anyhow!(
                "bad_rows.max_rejected: expected a row count (e.g. 100) or a percentage (e.g. \"0.5%\"), got {v}"
            )
        };
        match v {
            toml::Value::Integer(n) => Ok(Limit::Count(u64::try_from(*n).map_err(|_| bad())?)),
            toml::Value::String(s) => match s.trim().strip_suffix('%') {
                Some(p) => {
                    let p: f64 = p.trim().parse().map_err(|_| bad())?;
                    if !(0.0..=100.0).contains(&p) {
                        return Err(bad());
                    }
                    Ok(Limit::Percent(p))
                }
                None => Ok(Limit::Count(s.trim().parse().map_err(|_| bad())?)),
            },
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Count(n) => write!(f, "{n} rows"),
            Limit::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Nightly data is dirty: a few bad rows are quarantined, not fatal; a
/// broken upstream (a column of nulls) still fails the run.
pub const DEFAULT_MAX_REJECTED: Limit = Limit::Percent(1.0);

#[derive(Clone, Debug)]
pub struct BadRows {
    pub policy: Policy,
    pub max_rejected: Limit,
    pub fill: Vec<(String, Fill)>,
}

impl BadRows {
    /// The repair a bad value in `column` gets under this policy.
    pub fn repair(&self, column: &str) -> Repair {
        match self.policy {
            // Auto is decided per column with the model (Plan::repair).
            Policy::Auto | Policy::Reject | Policy::Fail => Repair::None,
            Policy::Pass => Repair::Nan,
            Policy::Fill => self
                .fill
                .iter()
                .find(|(c, _)| c == column)
                .map_or(Repair::None, |(_, f)| Repair::Fill(f.clone())),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputFile {
    path: String,
    format: Option<Format>,
    #[serde(default)]
    csv: CsvOptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeaturesFile {
    input: Option<String>,
    columns: Option<Vec<String>>,
    inputs: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputFile {
    path: String,
    format: Option<Format>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Parquet,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        })
    }
}

impl Format {
    fn from_path(path: &str) -> Option<Format> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Some(Format::Csv)
        } else if lower.ends_with(".parquet") || lower.ends_with(".pq") {
            Some(Format::Parquet)
        } else {
            None
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsvOptions {
    pub delimiter: char,
    pub header: bool,
    pub quote: Option<char>,
    pub null_values: Vec<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { delimiter: ',', header: true, quote: Some('"'), null_values: vec![String::new()] }
    }
}

/// How columns feed the model's inputs.
#[derive(Clone, Debug)]
pub enum Features {
    /// One `[N, F]` tensor from an ordered list of columns; `input` names the
    /// model input, or is `None` when the model has exactly one.
    Tensor { input: Option<String>, columns: Vec<String> },
    /// One tensor per model input, each from its own columns (the
    /// ColumnTransformer shape: several `[N, 1]` inputs).
    PerInput(Vec<(String, Vec<String>)>),
}

impl Features {
    pub fn all_columns(&self) -> Vec<&str> {
        match self {
            Features::Tensor { columns, .. } => columns.iter().map(String::as_str).collect(),
            Features::PerInput(v) => v.iter().flat_map(|(_, c)| c.iter().map(String::as_str)).collect(),
        }
    }
}

/// One output column (or a group of them) and the model output it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputMap {
    pub column: String,
    pub from: String,
    /// `Some(k)`: only column k of a `[N, C]` output.
    pub index: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct Job {
    pub path: PathBuf,
    pub name: String,
    pub model: Location,
    pub timezone: chrono_tz::Tz,
    pub run_date: RunDateRule,
    pub schedule: Option<crate::schedule::Schedule>,
    /// Prometheus textfile written after every run (node_exporter / windows_exporter).
    pub metrics: Option<Location>,
    /// A log file, rotated daily, for schedulers that drop stderr.
    pub log_file: Option<PathBuf>,
    pub chunk_rows: usize,
    pub threads: Option<usize>,
    pub input: Template,
    pub input_format: Option<Format>,
    pub csv: CsvOptions,
    pub features: Features,
    pub keep: Vec<String>,
    /// Empty: every model output, named after it.
    pub outputs: Vec<OutputMap>,
    pub output: Template,
    pub output_format: Format,
    pub state_dir: Location,
    pub bad_rows: BadRows,
    /// Endpoint, region and addressing for object storage (`[storage]`).
    pub storage: StorageOptions,
    /// `[monitor]`: the reference each run is checked against.
    pub monitor: Option<crate::monitor::Config>,
}

impl Job {
    pub fn load(path: &Path) -> anyhow::Result<Job> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound { Kind::Config } else { Kind::Io };
            failure(kind, format!("cannot read job file {}: {e}", path.display()))
        })?;
        Job::parse(path, &text).with_kind(Kind::Config, || format!("job file {}", path.display()))
    }

    /// The date a run started at `now` scores by default.
    pub fn date_at(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
        self.run_date.date_at(now, self.timezone)
    }

    pub fn parse(path: &Path, text: &str) -> anyhow::Result<Job> {
        let file: JobFile =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))?;
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let base = std::path::absolute(&base).unwrap_or(base);

        let name = file.name.trim().to_owned();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            bail!(
                "name {:?}: use letters, digits, '-', '_' or '.' (it names lock and record files)",
                file.name
            );
        }
        let timezone = match file.timezone.as_deref() {
            None | Some("local") => local_zone(),
            Some(tz) => tz.parse::<chrono_tz::Tz>().map_err(|_| {
                anyhow::anyhow!(
                    "timezone {tz:?} is not an IANA time zone name (e.g. \"Europe/London\", \"UTC\")"
                )
            })?,
        };
        let run_date = RunDateRule::parse(file.run_date.as_deref().unwrap_or("yesterday"))?;
        let chunk_rows = file.chunk_rows.unwrap_or(DEFAULT_CHUNK_ROWS);
        if chunk_rows == 0 {
            bail!("chunk_rows must be at least 1");
        }
        if file.threads == Some(0) {
            bail!("threads must be at least 1 (leave it out to use every core)");
        }

        let input = Template::new("input.path", &file.input.path, &base)?;
        let input_format = file.input.format.or_else(|| Format::from_path(&file.input.path));
        let csv = file.input.csv;
        if !csv.delimiter.is_ascii() || csv.quote.is_some_and(|q| !q.is_ascii()) {
            bail!("input.csv: delimiter and quote must be single ASCII characters");
        }

        let features = parse_features(file.features)?;
        let outputs = match file.outputs {
            None => vec![],
            Some(table) => parse_outputs(table)?,
        };
        let output = Template::new("output.path", &file.output.path, &base)?;
        if output.is_url() {
            writable("output.path", &file.output.path)?;
        }
        let output_format = match file.output.format.or_else(|| Format::from_path(&file.output.path)) {
            Some(f) => f,
            None => bail!(
                "output.format: cannot tell from {:?}; set format = \"parquet\" or \"csv\"",
                file.output.path
            ),
        };
        let state_dir = match &file.state_dir {
            Some(d) => {
                writable("state_dir", d)?;
                Location::parse(d, &base).map_err(|e| anyhow::anyhow!("state_dir: {e:#}"))?
            }
            None => output.static_dir().join("_batchscore"),
        };
        file.storage.check()?;
        let metrics = match file.metrics.as_deref() {
            Some(m) => {
                writable("metrics", m)?;
                Some(Location::parse(m, &base).map_err(|e| anyhow::anyhow!("metrics: {e:#}"))?)
            }
            None => None,
        };
        if file.log_file.as_deref().is_some_and(is_url) {
            bail!("log_file: a local path only (the log is appended to line by line)");
        }
        let bad_rows = parse_bad_rows(file.bad_rows, &features)?;
        let monitor = file.monitor.map(|m| m.resolve(&base)).transpose()?;
        Ok(Job {
            monitor,
            bad_rows,
            path: path.to_path_buf(),
            name,
            model: Location::parse(&file.model, &base).map_err(|e| anyhow::anyhow!("model: {e:#}"))?,
            timezone,
            run_date,
            schedule: file.schedule.as_deref().map(crate::schedule::Schedule::parse).transpose()?,
            metrics,
            log_file: file.log_file.as_deref().map(|m| clean(base.join(m))),
            chunk_rows,
            threads: file.threads,
            input,
            input_format,
            csv,
            features,
            keep: file.keep,
            outputs,
            output,
            output_format,
            state_dir,
            storage: file.storage,
        })
    }
}

fn parse_features(f: FeaturesFile) -> anyhow::Result<Features> {
    match (f.columns, f.inputs) {
        (Some(columns), None) => {
            if columns.is_empty() {
                bail!("features.columns is empty");
            }
            Ok(Features::Tensor { input: f.input, columns })
        }
        (None, Some(table)) => {
            if f.input.is_some() {
                bail!("features.input goes with features.columns, not with features.inputs");
            }
            let mut v = Vec::new();
            for (input, cols) in table {
                let cols = match cols {
                    toml::Value::String(s) => vec![s],
                    toml::Value::Array(a) => a
                        .into_iter()
                        .map(|c| match c {
                            toml::Value::String(s) => Ok(s),
                            other => {
                                Err(anyhow::anyhow!("features.inputs.{input}: {other} is not a column name"))
                            }
                        })
                        .collect::<anyhow::Result<_>>()?,
                    other => bail!(
                        "features.inputs.{input}: expected a column name or a list of them, got {other}"
                    ),
                };
                v.push((input, cols));
            }
            if v.is_empty() {
                bail!("features.inputs is empty");
            }
            Ok(Features::PerInput(v))
        }
        (Some(_), Some(_)) => {
            bail!("features: give either `columns` (one tensor) or `inputs` (one per model input), not both")
        }
        (None, None) => {
            bail!("features: missing `columns` (one tensor) or `inputs` (one per model input)")
        }
    }
}

fn parse_bad_rows(b: BadRowsFile, features: &Features) -> anyhow::Result<BadRows> {
    let policy = b.policy.unwrap_or(Policy::Auto);
    let max_rejected = match &b.max_rejected {
        Some(v) => Limit::parse(v)?,
        None => DEFAULT_MAX_REJECTED,
    };
    let columns = features.all_columns();
    let mut fill = Vec::new();
    for (column, v) in b.fill {
        if !columns.contains(&column.as_str()) {
            bail!("bad_rows.fill.{column:?}: not a feature column");
        }
        let value = match v {
            toml::Value::Integer(i) => Fill::Number(i as f64),
            toml::Value::Float(f) => Fill::Number(f),
            toml::Value::String(s) => Fill::Text(s),
            other => bail!("bad_rows.fill.{column:?}: expected a number or a string, got {other}"),
        };
        fill.push((column, value));
    }
    if policy != Policy::Fill && !fill.is_empty() {
        bail!("bad_rows.fill is set but policy is \"{policy}\"; set policy = \"fill\"");
    }
    Ok(BadRows { policy, max_rejected, fill })
}

fn parse_outputs(table: toml::Table) -> anyhow::Result<Vec<OutputMap>> {
    table
        .into_iter()
        .map(|(column, spec)| {
            let toml::Value::String(spec) = spec else {
                bail!("outputs.{column}: expected a model output name like \"probabilities\" or \"probabilities[1]\"");
            };
            let (from, index) = match spec.strip_suffix(']').and_then(|s| s.rsplit_once('[')) {
                Some((name, ix)) => (
                    name.to_owned(),
                    Some(ix.trim().parse::<usize>().with_context(|| format!("outputs.{column}: {ix:?} is not a column index"))?),
                ),
                None => (spec.clone(), None),
            };
            Ok(OutputMap { column, from, index })
        })
        .collect()
}

/// Refuses an http(s) URL where batchscore writes: plain web servers take
/// no uploads, and a bucket has its own scheme.
fn writable(field: &str, text: &str) -> anyhow::Result<()> {
    if is_url(text) && crate::storage::ObjectUrl::parse(text).is_ok_and(|u| u.cloud() == Cloud::Http) {
        bail!(
            "{field} {text:?}: http(s) URLs are for reading (input, model); write to s3://, gs:// or az://"
        );
    }
    Ok(())
}

/// The machine's own zone, for jobs that don't name one.
fn local_zone() -> chrono_tz::Tz {
    iana_time_zone::get_timezone().ok().and_then(|name| name.parse().ok()).unwrap_or(chrono_tz::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Job> {
        Job::parse(Path::new("/srv/jobs/x.toml"), text)
    }

    const MIN: &str = r#"
name = "t"
model = "m.onnx"
timezone = "Europe/London"
[input]
path = "in/%Y-%m-%d.csv"
[features]
columns = ["a b", "c/d (e)"]
[output]
path = "../out/%Y/scores-%Y%m%d.parquet"
"#;

    #[test]
    fn relative_paths_resolve_against_the_job_file() {
        let job = parse(MIN).unwrap();
        assert_eq!(job.model, Path::new("/srv/jobs/m.onnx"));
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(job.input.expand(d), Path::new("/srv/jobs/in/2026-11-23.csv"));
        assert_eq!(job.output.expand(d), Path::new("/srv/out/2026/scores-20261123.parquet"));
        assert_eq!(job.state_dir, Path::new("/srv/out/_batchscore"));
        assert_eq!(job.output_format, Format::Parquet);
        assert_eq!(job.input_format, Some(Format::Csv));
        assert_eq!(job.run_date, RunDateRule { days_back: 1 });
        assert_eq!(job.chunk_rows, DEFAULT_CHUNK_ROWS);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = parse(&MIN.replace("[input]", "chunkrows = 5\n[input]")).unwrap_err();
        assert!(format!("{err:#}").contains("chunkrows"), "{err:#}");
    }

    #[test]
    fn bad_strftime_code_is_a_config_error() {
        let err = parse(&MIN.replace("in/%Y-%m-%d.csv", "in/%Q.csv")).unwrap_err();
        assert!(format!("{err:#}").contains("invalid % code"), "{err:#}");
    }

    #[test]
    fn outputs_keep_their_order_and_indices() {
        let job = parse(&format!("{MIN}\n[outputs]\nlabel = \"output_label\"\np1 = \"probabilities[1]\"\n"))
            .unwrap();
        assert_eq!(
            job.outputs,
            vec![
                OutputMap { column: "label".into(), from: "output_label".into(), index: None },
                OutputMap { column: "p1".into(), from: "probabilities".into(), index: Some(1) },
            ]
        );
    }

    #[test]
    fn per_input_features() {
        let text = MIN.replace(
            "columns = [\"a b\", \"c/d (e)\"]",
            "[features.inputs]\nage = \"age\"\ncity = [\"home city\"]",
        );
        let job = parse(&text).unwrap();
        let Features::PerInput(v) = job.features else { panic!("expected per-input features") };
        assert_eq!(v, vec![("age".into(), vec!["age".into()]), ("city".into(), vec!["home city".into()])]);
    }

    #[test]
    fn bad_rows_policy_and_limits() {
        let job = parse(MIN).unwrap();
        assert_eq!(job.bad_rows.policy, Policy::Auto);
        assert_eq!(job.bad_rows.max_rejected, DEFAULT_MAX_REJECTED);
        let job = parse(&format!(
            "{MIN}\n[bad_rows]\npolicy = \"fill\"\nmax_rejected = \"0.5%\"\nfill = {{ \"a b\" = 0 }}\n"
        ))
        .unwrap();
        assert_eq!(job.bad_rows.repair("a b"), Repair::Fill(Fill::Number(0.0)));
        assert_eq!(job.bad_rows.repair("c/d (e)"), Repair::None);
        assert!(Limit::Percent(0.5).allows(5, 1000) && !Limit::Percent(0.5).allows(6, 1000));
        assert!(Limit::Count(0).allows(0, 10) && !Limit::Count(0).allows(1, 10));
        // Said as the user writes it in the job file, not as a Rust value.
        let err = parse(&format!("{MIN}\n[bad_rows]\nfill = {{ \"a b\" = 1 }}\n")).unwrap_err();
        assert!(format!("{err:#}").contains("policy is \"auto\""), "{err:#}");
        let err = parse(&format!("{MIN}\n[bad_rows]\nfill = {{ nope = 1 }}\n")).unwrap_err();
        assert!(format!("{err:#}").contains("not a feature column"), "{err:#}");
        let err = parse(&format!("{MIN}\n[bad_rows]\nmax_rejected = \"lots\"\n")).unwrap_err();
        assert!(format!("{err:#}").contains("max_rejected"), "{err:#}");
    }

    #[test]
    fn urls_where_paths_go() {
        let text = MIN
            .replace("m.onnx", "https://models.example.com/m.onnx")
            .replace("in/%Y-%m-%d.csv", "s3://exports/%Y/%m/%d/*.parquet")
            .replace("../out/%Y/scores-%Y%m%d.parquet", "s3://scores/daily/%Y%m%d.parquet");
        let text = format!("{text}\n[storage]\nendpoint = \"http://127.0.0.1:9000\"\npath_style = true\n");
        let job = parse(&text).unwrap();
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(job.model.to_string(), "https://models.example.com/m.onnx");
        assert_eq!(job.input.expand(d).to_string(), "s3://exports/2026/11/23/*.parquet");
        assert_eq!(job.output.expand(d).to_string(), "s3://scores/daily/20261123.parquet");
        assert_eq!(job.state_dir.to_string(), "s3://scores/daily/_batchscore");
        assert_eq!(job.storage.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        let err = parse(&text.replace("s3://scores/daily", "https://scores")).unwrap_err();
        assert!(format!("{err:#}").contains("for reading"), "{err:#}");
        // Credentials never go in the job file.
        let err = parse(&format!("{text}secret_access_key = \"x\"\n")).unwrap_err();
        assert!(format!("{err:#}").contains("secret_access_key"), "{err:#}");
    }

    #[test]
    fn unknown_timezone_is_rejected() {
        let err = parse(&MIN.replace("Europe/London", "Mars/Olympus")).unwrap_err();
        assert!(format!("{err:#}").contains("IANA"), "{err:#}");
    }
}
