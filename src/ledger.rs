//! Run records and locks: what happened to each job and date.
//!
//! One JSON record per job and date, `<state_dir>/<job>/<date>.json`,
//! rewritten atomically after every attempt and always last, after the
//! output is in place. A date counts as done only when its record says
//! `success` and the output it names exists, so a crash at any point leaves
//! a date that the next run redoes.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Kind, ResultExt, failure};
use crate::output::write_atomic;

/// Bumped when a field changes meaning; new fields alone don't bump it.
pub const RECORD_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Failed,
}

#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct Rows {
    pub read: u64,
    pub scored: u64,
    pub rejected: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: PathBuf,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelEntry {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorEntry {
    pub kind: String,
    pub exit_code: u8,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub record_version: u32,
    pub job: String,
    pub job_file: PathBuf,
    pub date: NaiveDate,
    pub status: Status,
    pub batchscore_version: String,
    pub model: Option<ModelEntry>,
    #[serde(default)]
    pub inputs: Vec<FileEntry>,
    pub rows: Rows,
    pub output: Option<FileEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<FileEntry>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_seconds: f64,
    pub forced: bool,
    pub threads: usize,
    pub chunk_rows: usize,
    pub host: String,
    pub pid: u32,
    /// Peak resident and anonymous memory (Linux only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory: Option<crate::memory::Peak>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorEntry>,
    /// Drift and quality checks against the reference (jobs with `[monitor]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<crate::monitor::MonitorEntry>,
}

pub struct Ledger {
    dir: PathBuf,
}

impl Ledger {
    pub fn new(state_dir: &Path, job: &str) -> Ledger {
        Ledger { dir: state_dir.join(job) }
    }

    pub fn record_path(&self, date: NaiveDate) -> PathBuf {
        self.dir.join(format!("{date}.json"))
    }

    pub fn read(&self, date: NaiveDate) -> anyhow::Result<Option<Record>> {
        let path = self.record_path(date);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_kind(Kind::Io, || format!("reading run record {}", path.display()));
            }
        };
        // A record we cannot parse proves nothing: treat the date as not done.
        match serde_json::from_str(&text) {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                tracing::warn!(record = %path.display(), "ignoring an unreadable run record: {e}");
                Ok(None)
            }
        }
    }

    /// Every record, oldest date first.
    pub fn all(&self) -> anyhow::Result<Vec<Record>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e).with_kind(Kind::Io, || format!("reading {}", self.dir.display())),
        };
        let mut dates: Vec<NaiveDate> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok())
            .collect();
        dates.sort();
        let mut out = Vec::new();
        for d in dates {
            if let Some(r) = self.read(d)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The latest date with a successful run.
    pub fn last_success(&self) -> anyhow::Result<Option<NaiveDate>> {
        Ok(self.all()?.into_iter().filter(|r| r.status == Status::Success).map(|r| r.date).max())
    }

    /// The successful record for `date`, if its output is still there.
    pub fn done(&self, date: NaiveDate) -> anyhow::Result<Option<Record>> {
        Ok(self
            .read(date)?
            .filter(|r| r.status == Status::Success && r.output.as_ref().is_some_and(|o| o.path.is_file())))
    }

    pub fn write(&self, record: &Record) -> anyhow::Result<PathBuf> {
        let path = self.record_path(record.date);
        let mut json =
            serde_json::to_vec_pretty(record).with_kind(Kind::Internal, || "encoding the run record")?;
        json.push(b'\n');
        write_atomic(&path, &json)
            .map_err(|e| e.context(format!("writing run record {}", path.display())))?;
        Ok(path)
    }

    /// Takes the lock for `date`, or fails with [`Kind::Locked`] naming the
    /// holder. The OS releases it when the process dies, however it dies,
    /// so a crash never blocks the next night.
    pub fn lock(&self, date: NaiveDate) -> anyhow::Result<Lock> {
        std::fs::create_dir_all(&self.dir).with_kind(Kind::CantCreate, || {
            format!("cannot create state directory {}", self.dir.display())
        })?;
        let path = self.dir.join(format!("{date}.lock"));
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_kind(Kind::CantCreate, || format!("cannot open lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() { "another process".to_owned() } else { holder.to_owned() };
                return Err(failure(
                    Kind::Locked,
                    format!("{date} is being scored by {holder} (lock {})", path.display()),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_kind(Kind::Io, || format!("locking {}", path.display()));
            }
        }
        let me = format!(
            "pid {} on {} since {}",
            std::process::id(),
            hostname(),
            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        // Best effort: the lock itself is what matters, the text only names its holder.
        let _ = file
            .set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(me.as_bytes()))
            .and_then(|_| file.flush());
        Ok(Lock { _file: file })
    }
}

/// Held for the duration of a run; released on drop or process exit.
pub struct Lock {
    _file: File,
}

pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_owned()))
        .unwrap_or_else(|| "unknown-host".into())
}
