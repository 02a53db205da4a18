//! One way to run the real binary on real files in a temporary directory.
//!
//! `Workdir::new()` makes the directory; `write`/`copy` put files in it;
//! `cmd([...]).code(N)` runs batchscore there and asserts the exit code,
//! printing the command, stdout and stderr when it is not what was expected.
//! `JobToml` writes the job file.

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod models;
pub mod s3server;

pub struct Workdir {
    dir: tempfile::TempDir,
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct Cmd<'a> {
    wd: &'a Workdir,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir { dir: tempfile::Builder::new().prefix("batchscore-test-").tempdir().expect("temp dir") }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, contents).expect("write");
        p
    }

    /// Copies a file from the repository (path relative to its root).
    pub fn copy(&self, from_repo: &str, rel: &str) -> PathBuf {
        let src = repo().join(from_repo);
        let bytes = std::fs::read(&src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display()));
        self.write(rel, bytes)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// Files under `rel`, recursively, as sorted relative paths.
    pub fn files(&self, rel: &str) -> Vec<String> {
        let mut out = vec![];
        let root = self.path(rel);
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(&root).expect("prefix").to_string_lossy().replace('\\', "/"));
                }
            }
        }
        out.sort();
        out
    }

    pub fn cmd<I, S>(&self, args: I) -> Cmd<'_>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Cmd { wd: self, args: args.into_iter().map(|s| s.as_ref().to_owned()).collect(), env: vec![] }
    }

    /// A run record as JSON.
    pub fn record(&self, rel: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(rel)).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
    }
}

impl Cmd<'_> {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_batchscore"));
        c.args(&self.args)
            .current_dir(self.wd.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("BATCHSCORE_NOW");
        // The engines' variables of a test run under Slurm or Kubernetes
        // must not shard the tests' own runs.
        for k in [
            "SLURM_ARRAY_TASK_ID",
            "SLURM_ARRAY_TASK_COUNT",
            "JOB_COMPLETION_INDEX",
            "AWS_BATCH_JOB_ARRAY_INDEX",
            "CLOUD_RUN_TASK_INDEX",
            "CLOUD_RUN_TASK_COUNT",
            "BATCHSCORE_SHARDS",
        ] {
            c.env_remove(k);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Starts batchscore without waiting (output discarded), for runs at once or killed.
    pub fn spawn(&self) -> std::process::Child {
        self.command()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starting batchscore")
    }

    pub fn run(&self) -> Output {
        let out = self.command().output().expect("running batchscore");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts the exit code.
    #[track_caller]
    pub fn code(&self, expected: i32) -> Output {
        let out = self.run();
        if out.code != expected {
            panic!(
                "expected exit code {expected}, got {}\ncommand: batchscore {}\n(in {})\n--- stdout\n{}\n--- stderr\n{}",
                out.code,
                self.args.join(" "),
                self.wd.dir.path().display(),
                out.stdout,
                out.stderr
            );
        }
        out
    }
}

impl Output {
    /// Asserts stderr mentions every needle, printing it whole if not.
    #[track_caller]
    pub fn stderr_has(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}:\n{}", self.stderr);
        }
        self
    }
}

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A Parquet day for the jobs over `id`, `a b`, `c/d (e)` and `z` (names
/// that need quoting on purpose): `a b` as given, the others constant.
pub fn parquet_day(ids: &[i64], a: &[f64]) -> Vec<u8> {
    use polars::prelude::*;
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("id".into(), ids),
        Column::new("a b".into(), a),
        Column::new("c/d (e)".into(), vec![1i64; ids.len()]),
        Column::new("z".into(), vec![0.5f32; ids.len()]),
    ])
    .expect("a frame");
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf).finish(&mut df).expect("Parquet");
    buf
}

/// Reads a CSV into rows of strings, the header first. Enough CSV for our
/// fixtures and outputs: quoted fields may hold commas, doubled quotes and
/// line feeds; CRLF line ends are read as LF.
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => row.push(std::mem::take(&mut cur)),
            '\r' if !quoted && chars.peek() == Some(&'\n') => {}
            '\n' if !quoted => {
                row.push(std::mem::take(&mut cur));
                rows.push(std::mem::take(&mut row));
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() || !row.is_empty() {
        row.push(cur);
        rows.push(row);
    }
    rows
}

/// A job file. `new` has what most tests share (model `m.onnx`, input
/// `in/%Y-%m-%d.csv`, output `out/%Y-%m-%d.csv`); a test adds what it is
/// about, typed (`keep`, `columns`, `set`) or as TOML written the way the
/// README writes a job file (`toml`), which is merged in: its tables join
/// the defaults' and its keys replace theirs.
#[derive(Clone)]
pub struct JobToml(toml::Table);

impl JobToml {
    pub fn new(name: &str) -> JobToml {
        let mut t = toml::Table::new();
        t.insert("name".into(), name.into());
        t.insert("model".into(), "m.onnx".into());
        // Empty tables now, so the file reads in the README's order.
        for table in ["input", "features", "output"] {
            t.insert(table.into(), toml::Table::new().into());
        }
        JobToml(t).input("in/%Y-%m-%d.csv").output("out/%Y-%m-%d.csv")
    }

    pub fn model(self, path: &str) -> Self {
        self.set("", "model", path)
    }

    pub fn input(self, path: &str) -> Self {
        self.set("input", "path", path)
    }

    pub fn output(self, path: &str) -> Self {
        self.set("output", "path", path)
    }

    pub fn keep<S: AsRef<str>>(self, columns: &[S]) -> Self {
        self.set("", "keep", strings(columns))
    }

    pub fn columns<S: AsRef<str>>(self, columns: &[S]) -> Self {
        self.set("features", "columns", strings(columns))
    }

    /// `key = value` in `table` (a dotted path such as `features.inputs`;
    /// "" is the top level). For keys that come from data, which a `toml`
    /// fragment would have to quote.
    pub fn set(mut self, table: &str, key: &str, value: impl Into<toml::Value>) -> Self {
        let mut t = &mut self.0;
        for name in table.split('.').filter(|n| !n.is_empty()) {
            t = t
                .entry(name)
                .or_insert_with(|| toml::Table::new().into())
                .as_table_mut()
                .unwrap_or_else(|| panic!("{name} is not a table"));
        }
        t.insert(key.into(), value.into());
        self
    }

    /// Merges a piece of job file, e.g. `"chunk_rows = 64"` or
    /// `"[bad_rows]\npolicy = \"fill\""`.
    #[track_caller]
    pub fn toml(mut self, fragment: &str) -> Self {
        let more: toml::Table =
            toml::from_str(fragment).unwrap_or_else(|e| panic!("not TOML: {e}\n{fragment}"));
        merge(&mut self.0, more);
        self
    }

    pub fn build(&self) -> String {
        toml::to_string(&self.0).expect("a TOML table serialises")
    }
}

fn strings<S: AsRef<str>>(items: &[S]) -> Vec<&str> {
    items.iter().map(AsRef::as_ref).collect()
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}
