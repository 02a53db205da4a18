//! One way to run the real binary on real files in a temporary directory.
//!
//! `Workdir::new()` makes the directory; `write`/`copy` put files in it;
//! `cmd([...]).code(N)` runs batchscore there and asserts the exit code,
//! printing the command, stdout and stderr when it is not what was expected.

#![allow(dead_code)]

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

    pub fn run(&self) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_batchscore"));
        c.args(&self.args)
            .current_dir(self.wd.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("BATCHSCORE_NOW");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        let out = c.output().expect("running batchscore");
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

/// Reads a CSV into rows of strings (no quoting in our test outputs).
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines().map(|l| l.split(',').map(str::to_owned).collect()).collect()
}
