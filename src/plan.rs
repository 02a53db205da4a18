//! Job + date → everything a run needs, checked before any row is read.
//!
//! Every problem that can be found from the job file, the model and the
//! input headers is found here, and all of them are reported together:
//! a user fixing a mapping should not discover the problems one run at a time.

use chrono::NaiveDate;
use polars::prelude::*;

use crate::error::{Kind, failure, kind_of};
use crate::features::{self, InputFeed, Repair};
use crate::input::{self, InputFile, ReadSpec};
use crate::job::{Features, Format, Job, Policy};
use crate::ml::missing::Treatment;
use crate::model::{Elem, Model, ModelInfo, plural};
use crate::score::{self, OutColumn};
use crate::shard::{self, Piece, Shard, Unit};
use crate::storage::Location;

pub struct Plan {
    pub job: Job,
    pub date: NaiveDate,
    pub model: Model,
    /// The day's whole listing (every shard sees the same one).
    pub files: Vec<InputFile>,
    /// What this run reads of them: every file, or a shard's pieces.
    pub pieces: Vec<Piece>,
    pub shard: Option<Shard>,
    pub feeds: Vec<InputFeed>,
    pub outs: Vec<OutColumn>,
    pub read: ReadSpec,
    /// The output file, or a shard's part.
    pub output_path: Location,
    pub quarantine_path: Location,
    pub output_schema: Schema,
    /// Per feature column and the input slot it feeds: what the model does
    /// with a missing value there (what `bad_rows.policy = "auto"` follows).
    pub missing: Vec<MissingRule>,
}

pub struct MissingRule {
    pub column: String,
    pub input: String,
    pub index: usize,
    pub treatment: Treatment,
}

impl Plan {
    /// How the day's files are read: as planned, or with every CSV column
    /// as text (the second try after a cell did not parse as its column's type).
    pub fn read_spec(&self, as_text: bool) -> ReadSpec {
        let mut read = self.read.clone();
        if as_text {
            read.csv_dtypes = vec![DataType::String; read.columns.len()];
        }
        read
    }

    /// A chunk converted for the model with this plan's repairs; bad values
    /// go to `problems`. A failure names the file and the chunk's rows.
    pub fn convert(
        &self,
        file: &InputFile,
        chunk: &input::Chunk,
        problems: &mut Vec<features::Problem>,
    ) -> anyhow::Result<Vec<Vec<Series>>> {
        features::convert(&chunk.df, &self.feeds, &|c| self.repair(c), problems).map_err(|e| {
            failure(Kind::Data, format!("{}: rows {}..: {e:#}", file.path.display(), chunk.first_row + 1))
        })
    }

    /// The repair a bad value in `column` gets: under `auto`, NaN for a
    /// missing value where every input the column feeds handles one.
    pub fn repair(&self, column: &str) -> Repair {
        if self.job.bad_rows.policy != Policy::Auto {
            return self.job.bad_rows.repair(column);
        }
        let mut rules = self.missing.iter().filter(|r| r.column == column).peekable();
        if rules.peek().is_some() && rules.all(|r| r.treatment.pass) {
            Repair::MissingAsNan
        } else {
            Repair::None
        }
    }
}

/// How the model treats a missing value in each fed column.
pub fn missing_rules(info: &ModelInfo, feeds: &[InputFeed]) -> Vec<MissingRule> {
    let widths = feeds.iter().map(|f| (f.input.clone(), f.columns.len())).collect();
    let graph = info.missing_graph(&widths);
    let mut out = Vec::new();
    for f in feeds {
        for (index, column) in f.columns.iter().enumerate() {
            let treatment = match &graph {
                _ if !matches!(f.elem, Elem::F32 | Elem::F64) => {
                    Treatment { pass: false, why: format!("a {} input cannot carry NaN", f.elem) }
                }
                Some(g) => g.treatment(&f.input, index),
                None => Treatment { pass: false, why: "the model has no graph".into() },
            };
            out.push(MissingRule { column: column.clone(), input: f.input.clone(), index, treatment });
        }
    }
    out
}

/// A problem found while planning, with the exit code it deserves.
pub struct Issue {
    pub kind: Kind,
    pub message: String,
}

impl Issue {
    fn new(kind: Kind, message: impl Into<String>) -> Issue {
        Issue { kind, message: message.into() }
    }

    fn from_error(e: &anyhow::Error) -> Issue {
        Issue { kind: kind_of(e), message: format!("{e:#}") }
    }
}

pub fn build(job: Job, date: NaiveDate) -> anyhow::Result<Plan> {
    build_shard(job, date, None)
}

/// The plan of one shard of the date (`None`: the whole date).
pub fn build_shard(job: Job, date: NaiveDate, shard: Option<Shard>) -> anyhow::Result<Plan> {
    let mut issues = Vec::new();
    match build_collecting(job, date, shard, &mut issues) {
        Some(plan) if issues.is_empty() => Ok(plan),
        _ => Err(combine(issues)),
    }
}

/// All issues as one error; the first one's kind decides the exit code.
fn combine(issues: Vec<Issue>) -> anyhow::Error {
    let kind = issues.first().map_or(Kind::Internal, |i| i.kind);
    if issues.len() == 1 {
        return failure(kind, issues.into_iter().map(|i| i.message).collect::<String>());
    }
    let list: Vec<String> = issues.iter().map(|i| format!("  - {}", i.message)).collect();
    failure(kind, format!("{} found:\n{}", plural(issues.len(), "problem"), list.join("\n")))
}

fn build_collecting(
    job: Job,
    date: NaiveDate,
    shard: Option<Shard>,
    issues: &mut Vec<Issue>,
) -> Option<Plan> {
    let info = match ModelInfo::load_from(&job.model) {
        Ok(i) => i,
        Err(e) => {
            issues.push(Issue::from_error(&e));
            return None;
        }
    };
    let feeds = map_features(&job.features, &info, issues);
    let files = match input::resolve(&job.input.expand(date), job.input_format, date, job.input.raw()) {
        Ok(f) => f,
        Err(e) => {
            issues.push(Issue::from_error(&e));
            vec![]
        }
    };
    if !issues.is_empty() && feeds.is_empty() {
        return None;
    }
    let widths: Vec<usize> = info
        .inputs
        .iter()
        .map(|p| feeds.iter().find(|f| f.input == p.name).map_or(1, |f| f.columns.len()))
        .collect();
    let model = match info.compile(&widths) {
        Ok(m) => m,
        Err(e) => {
            issues.push(Issue::from_error(&e));
            return None;
        }
    };
    let outs = score::plan_outputs(&model, &job.outputs)
        .map_err(|e| issues.push(Issue::from_error(&e)))
        .unwrap_or_default();

    // Read order: keep columns first (as they appear in the output), then
    // the features not already kept.
    let mut columns: Vec<String> = Vec::new();
    for c in job.keep.iter().map(String::as_str).chain(job.features.all_columns()) {
        if !columns.iter().any(|x| x == c) {
            columns.push(c.to_owned());
        }
    }
    let csv_dtypes: Vec<DataType> = columns
        .iter()
        .map(|c| {
            feeds
                .iter()
                .find(|f| f.columns.contains(c))
                .and_then(|f| features::polars_dtype(f.elem))
                .unwrap_or(DataType::String)
        })
        .collect();
    let read = ReadSpec { columns, csv_dtypes, csv: job.csv.clone() };

    let mut keep_types: Vec<Option<DataType>> = vec![None; job.keep.len()];
    let pieces = match shard {
        None => {
            for file in &files {
                check_file(file, &read, &job, &feeds, &mut keep_types, issues);
            }
            (0..files.len()).map(|file| Piece { file, rows: None }).collect()
        }
        Some(shard) => {
            // Every Parquet footer is read (each shard must split the day the
            // same way, and agree on the keep columns' types); a CSV file is
            // read through (its quoting check) only by the shard that scores it.
            let mut units = Vec::new();
            for (ix, file) in files.iter().enumerate() {
                let groups = match file.format {
                    Format::Parquet => {
                        let before = issues.len();
                        check_file(file, &read, &job, &feeds, &mut keep_types, issues);
                        if issues.len() > before {
                            None
                        } else {
                            input::row_groups(file).map_err(|e| issues.push(Issue::from_error(&e))).ok()
                        }
                    }
                    Format::Csv => None,
                };
                match groups {
                    // A file without row groups (no rows) still needs an owner,
                    // or the commit finds it read by no shard.
                    Some(groups) if !groups.is_empty() => {
                        let mut start = 0;
                        for (rows, bytes) in groups {
                            units.push(Unit {
                                file: ix,
                                rows: Some(start..start + rows),
                                weight: bytes.max(1),
                            });
                            start += rows;
                        }
                    }
                    _ => units.push(Unit { file: ix, rows: None, weight: file.bytes }),
                }
            }
            let pieces = shard::pieces(&units, shard);
            for p in &pieces {
                if files[p.file].format == Format::Csv {
                    check_file(&files[p.file], &read, &job, &feeds, &mut keep_types, issues);
                }
            }
            pieces
        }
    };
    let mut output_schema = Schema::default();
    for (name, dt) in job.keep.iter().zip(&keep_types) {
        output_schema.insert(name.as_str().into(), dt.clone().unwrap_or(DataType::String));
    }
    for o in &outs {
        if output_schema.contains(&o.name) {
            issues.push(Issue::new(
                Kind::Config,
                format!("output column {:?} is also a keep column; rename it in [outputs]", o.name),
            ));
        }
        output_schema.insert(o.name.as_str().into(), o.dtype.clone());
    }
    let (output_path, quarantine_path) = match shard {
        None => {
            let out = job.output.expand(date);
            let q = crate::quarantine::path_for(&out);
            (out, q)
        }
        Some(s) => {
            let dir = shard::output_dir(&job.output.expand(date));
            // The leading '_' hides a shard's rejected rows from the readers
            // of the directory (Spark, polars, DuckDB, pyarrow skip such names).
            let q = dir.join(&format!("_{}", s.part_name("rejected.csv")));
            (dir.join(&s.part_name(&job.output_format.to_string())), q)
        }
    };
    let missing = missing_rules(&model.info, &feeds);
    Some(Plan {
        job,
        date,
        model,
        files,
        pieces,
        shard,
        feeds,
        outs,
        read,
        output_path,
        quarantine_path,
        output_schema,
        missing,
    })
}

/// Checks one input file's header against the mapping.
fn check_file(
    file: &InputFile,
    read: &ReadSpec,
    job: &Job,
    feeds: &[InputFeed],
    keep_types: &mut [Option<DataType>],
    issues: &mut Vec<Issue>,
) {
    let schema = match input::schema(file, read) {
        Ok(s) => s,
        Err(e) => {
            issues.push(Issue::from_error(&e));
            return;
        }
    };
    let shown = file.path.display();
    let names: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
    // polars renames a repeated header to `<name>_duplicated_<n>`: which of
    // the two the job means is anyone's guess, so say so.
    for name in &names {
        if let Some((base, n)) = name.rsplit_once("_duplicated_")
            && n.chars().all(|c| c.is_ascii_digit())
            && read.columns.iter().any(|c| c == base)
        {
            issues.push(Issue::new(Kind::Data, format!("{shown}: column {base:?} appears more than once in the header (duplicate names); rename one")));
        }
    }
    let missing: Vec<&String> = read.columns.iter().filter(|c| !schema.contains(c)).collect();
    if !missing.is_empty() {
        let listed: Vec<String> = missing
            .iter()
            .map(|m| match nearest(m, &names) {
                Some(n) => format!("{m:?} (nearest: {n:?})"),
                None => format!("{m:?}"),
            })
            .collect();
        let mut msg = format!("{shown}: missing {}: {}", plural(missing.len(), "column"), listed.join(", "));
        if file.format == Format::Csv && names.len() == 1 {
            msg.push_str(&format!(
                "; the whole header was read as one column {:?}: is the delimiter {:?} right?",
                truncate(names[0], 80),
                job.csv.delimiter
            ));
        }
        issues.push(Issue::new(Kind::Data, msg));
    }
    for feed in feeds {
        for c in &feed.columns {
            if let Some(dt) = schema.get(c)
                && !features::castable(dt, feed.elem)
            {
                issues.push(Issue::new(
                    Kind::Data,
                    format!(
                        "{shown}: column {c:?} is {dt}, which cannot feed model input {:?} ({})",
                        feed.input, feed.elem
                    ),
                ));
            }
        }
    }
    for (slot, name) in keep_types.iter_mut().zip(&job.keep) {
        let Some(dt) = schema.get(name) else { continue };
        // CSV ids are read as text, so they come out exactly as written.
        let dt = if file.format == Format::Csv { DataType::String } else { dt.clone() };
        match slot {
            None => *slot = Some(dt),
            Some(prev) if *prev != dt => {
                issues.push(Issue::new(Kind::Data, format!("{shown}: keep column {name:?} is {dt} here but {prev} in an earlier file of the same day")));
            }
            Some(_) => {}
        }
    }
}

fn map_features(features: &Features, info: &ModelInfo, issues: &mut Vec<Issue>) -> Vec<InputFeed> {
    let inputs_listed = || {
        info.inputs
            .iter()
            .map(|p| format!("{:?} {} {}", p.name, p.elem, p.shape_string()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let pairs: Vec<(String, Vec<String>)> = match features {
        Features::Tensor { input: Some(name), columns } => vec![(name.clone(), columns.clone())],
        Features::Tensor { input: None, columns } => match info.inputs.as_slice() {
            [only] => vec![(only.name.clone(), columns.clone())],
            _ => {
                issues.push(Issue::new(
                    Kind::Model,
                    format!("model {} has {}: {}; name one with features.input, or map each with [features.inputs]", info.path.display(), plural(info.inputs.len(), "input"), inputs_listed()),
                ));
                return vec![];
            }
        },
        Features::PerInput(v) => v.clone(),
    };
    let mut feeds = Vec::new();
    for (name, columns) in pairs {
        let Some(port) = info.inputs.iter().find(|p| p.name == name) else {
            issues.push(Issue::new(
                Kind::Model,
                format!(
                    "model {} has no input {name:?}; its inputs are {}",
                    info.path.display(),
                    inputs_listed()
                ),
            ));
            continue;
        };
        if features::polars_dtype(port.elem).is_none() {
            issues.push(Issue::new(
                Kind::Model,
                format!("model input {name:?} has type {}, which batchscore cannot feed", port.elem),
            ));
            continue;
        }
        if let Some(w) = port.width()
            && w != columns.len()
        {
            issues.push(Issue::new(
                Kind::Model,
                format!(
                    "model input {name:?} is {} {}: it takes {w} columns, but the job maps {}",
                    port.elem,
                    port.shape_string(),
                    plural(columns.len(), "column")
                ),
            ));
        }
        feeds.push(InputFeed { input: name, elem: port.elem, columns });
    }
    for p in &info.inputs {
        if !feeds.iter().any(|f| f.input == p.name)
            && !issues.iter().any(|i| i.message.contains(&format!("{:?}", p.name)))
        {
            issues.push(Issue::new(
                Kind::Model,
                format!(
                    "model input {:?} ({} {}) is not fed: add it to [features.inputs]",
                    p.name,
                    p.elem,
                    p.shape_string()
                ),
            ));
        }
    }
    feeds
}

/// The closest column name, to turn "missing column" into "did you mean".
fn nearest<'a>(name: &str, names: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    names
        .iter()
        .map(|n| (strsim::normalized_levenshtein(&lower, &n.to_lowercase()), *n))
        .filter(|(score, _)| *score >= 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_typos_and_case() {
        let names = ["mean radius", "mean texture", "customer_id"];
        assert_eq!(nearest("mean radiu", &names), Some("mean radius"));
        assert_eq!(nearest("Customer_ID", &names), Some("customer_id"));
        assert_eq!(nearest("zzz", &names), None);
    }
}
