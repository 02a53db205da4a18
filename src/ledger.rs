//! Run records and locks: what happened to each job and date.
//!
//! One JSON record per job and date, `<state_dir>/<job>/<date>.json`,
//! rewritten atomically after every attempt and always last, after the
//! output is in place. A date counts as done only when its record says
//! `success` and the output it names exists, so a crash at any point leaves
//! a date that the next run redoes.
//!
//! With `state_dir` in a bucket, a record is an object (one PUT: whole or
//! absent) and the lock is an object created only if absent (If-None-Match),
//! holding its holder and a lease that the holder renews (If-Match on the
//! version it wrote). A crashed holder stops renewing, and its lock is taken
//! over once its lease has run out: [`LEASE`] at most after the crash.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Kind, ResultExt, failure};
use crate::output::write_atomic;
use crate::shard::Shard;
use crate::storage::{self, Location, ObjectUrl, Op, Put};

/// How long a lock in a bucket outlives a holder that stopped renewing it
/// (killed, or cut off from the store). Renewed every quarter of it.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(120);

fn lease() -> std::time::Duration {
    crate::faults::lock_lease_seconds().map_or(LEASE, std::time::Duration::from_secs)
}

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
    pub path: Location,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelEntry {
    pub path: Location,
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
    /// On a shard's record: which shard, and what it read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardEntry>,
    /// On a sharded date's record, written by the shard that committed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<ShardsEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardEntry {
    pub index: usize,
    pub count: usize,
    /// The pieces of the listing this shard read.
    pub ranges: Vec<InputRange>,
}

/// A file read whole (`rows` absent) or rows `[first, end)` of it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InputRange {
    pub path: Location,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<[u64; 2]>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardsEntry {
    pub count: usize,
    /// The `_SUCCESS` manifest: the date is done while it exists.
    pub manifest: Location,
}

pub struct Ledger {
    dir: Location,
}

impl Ledger {
    pub fn new(state_dir: &Location, job: &str) -> Ledger {
        Ledger { dir: state_dir.join(job) }
    }

    pub fn record_path(&self, date: NaiveDate) -> Location {
        self.dir.join(&format!("{date}.json"))
    }

    /// Where a sharded date's shard records and locks live.
    pub fn shard_dir(&self, date: NaiveDate) -> Location {
        self.dir.join(&format!("{date}.shards"))
    }

    pub fn shard_record_path(&self, date: NaiveDate, shard: Shard) -> Location {
        self.shard_dir(date).join(&shard.part_name("json"))
    }

    pub fn read(&self, date: NaiveDate) -> anyhow::Result<Option<Record>> {
        read_record(&self.record_path(date))
    }

    /// Every shard record of `date`, whatever their count, by name.
    pub fn shard_records(&self, date: NaiveDate) -> anyhow::Result<Vec<Record>> {
        let dir = self.shard_dir(date);
        let mut out = Vec::new();
        for name in list_names(&dir)? {
            if Shard::of_part_name(&name, "json").is_some() {
                out.extend(read_record(&dir.join(&name))?);
            }
        }
        Ok(out)
    }

    /// Removes `date`'s shard records and profiles of any count but
    /// `keep`'s (a forced rerun with another count).
    pub fn remove_shard_records(&self, date: NaiveDate, keep: usize) -> anyhow::Result<()> {
        let dir = self.shard_dir(date);
        for name in list_names(&dir)? {
            let other = ["json", "profile.json"]
                .iter()
                .find_map(|ext| Shard::of_part_name(&name, ext))
                .is_some_and(|s| s.count != keep);
            if other {
                crate::output::remove(&dir.join(&name))?;
            }
        }
        Ok(())
    }

    /// The dates that have shard records, oldest first.
    pub fn sharded_dates(&self) -> anyhow::Result<Vec<NaiveDate>> {
        let mut dates: Vec<NaiveDate> =
            list_names(&self.dir)?.iter().filter_map(|n| n.strip_suffix(".shards")?.parse().ok()).collect();
        dates.sort();
        Ok(dates)
    }
    /// Every record, oldest date first.
    pub fn all(&self) -> anyhow::Result<Vec<Record>> {
        let names = list_names(&self.dir)?;
        let mut dates: Vec<NaiveDate> =
            names.iter().filter_map(|n| n.strip_suffix(".json")?.parse().ok()).collect();
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

    /// The successful record for `date`, if its output is still there (a
    /// sharded date: its `_SUCCESS` manifest).
    pub fn done(&self, date: NaiveDate) -> anyhow::Result<Option<Record>> {
        Ok(self.read(date)?.filter(|r| {
            r.status == Status::Success
                && match &r.shards {
                    Some(s) => s.manifest.exists(),
                    None => r.output.as_ref().is_some_and(|o| o.path.exists()),
                }
        }))
    }

    /// A shard's successful record, if its part is still there.
    pub fn shard_done(&self, date: NaiveDate, shard: Shard) -> anyhow::Result<Option<Record>> {
        Ok(read_record(&self.shard_record_path(date, shard))?
            .filter(|r| r.status == Status::Success && r.output.as_ref().is_some_and(|o| o.path.exists())))
    }

    /// Writes a date's record, or a shard's (which has `shard`).
    pub fn write(&self, record: &Record) -> anyhow::Result<Location> {
        let path = match &record.shard {
            Some(s) => self.shard_record_path(record.date, Shard { index: s.index, count: s.count }),
            None => self.record_path(record.date),
        };
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
        lock_at(&self.dir, &format!("{date}.lock"), &date.to_string())
    }

    /// A shard's lock: shards of one date run at once, each holds its own.
    pub fn lock_shard(&self, date: NaiveDate, shard: Shard) -> anyhow::Result<Lock> {
        lock_at(&self.shard_dir(date), &shard.part_name("lock"), &format!("shard {shard} of {date}"))
    }
}

/// The names in a directory, or the first parts of the keys under a prefix,
/// as `read_dir` gives them (none if it does not exist).
fn list_names(dir: &Location) -> anyhow::Result<Vec<String>> {
    Ok(match dir {
        Location::Local(d) => match std::fs::read_dir(d) {
            Ok(e) => e.flatten().filter_map(|e| e.file_name().to_str().map(str::to_owned)).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
            Err(e) => return Err(e).with_kind(Kind::Io, || format!("reading {}", dir.display())),
        },
        Location::Object(u) => {
            let prefix = u.join("");
            let mut names: Vec<String> = storage::list(&prefix, Op::Read)?
                .into_iter()
                .filter_map(|(o, _)| Some(o.key().strip_prefix(prefix.key())?.split('/').next()?.to_owned()))
                .collect();
            names.sort();
            names.dedup();
            names
        }
    })
}

fn read_record(path: &Location) -> anyhow::Result<Option<Record>> {
    let text = match path {
        Location::Local(p) => match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_kind(Kind::Io, || format!("reading run record {}", path.display()));
            }
        },
        Location::Object(u) => match storage::get(u, Op::Read)? {
            Some(b) => String::from_utf8_lossy(&b).into_owned(),
            None => return Ok(None),
        },
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

/// Takes the lock file `name` in `dir` for `what` (a date, a shard).
fn lock_at(dir: &Location, name: &str, what: &str) -> anyhow::Result<Lock> {
    let shown = dir;
    let dir = match dir {
        Location::Local(d) => d,
        Location::Object(u) => return lock_object(&u.join(name), what),
    };
    std::fs::create_dir_all(dir)
        .with_kind(Kind::CantCreate, || format!("cannot create state directory {}", shown.display()))?;
    let path = dir.join(name);
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
                format!("{what} is being scored by {holder} (lock {})", path.display()),
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
    Ok(Lock::File { _file: file })
}

/// Held for the duration of a run; released on drop or process exit (a
/// lock in a bucket: on drop, or when its lease runs out).
pub enum Lock {
    File { _file: File },
    Object { _lock: ObjectLock },
}

impl Lock {
    /// Fails if this run may no longer hold the date: a lock in a bucket
    /// whose lease ran out without a renewal, or that another run took over.
    /// An OS file lock is held until the process ends.
    pub fn ensure_held(&self) -> anyhow::Result<()> {
        let Lock::Object { _lock: l } = self else { return Ok(()) };
        let held_until = l.held_until.lock().map(|t| *t).unwrap_or_default();
        if held_until < Utc::now() {
            return Err(failure(
                Kind::Locked,
                format!(
                    "lost the lock {} (its lease ran out before it could be renewed, and another run may hold the date); nothing committed",
                    l.url
                ),
            ));
        }
        Ok(())
    }
}

/// What a lock object says.
#[derive(Serialize, Deserialize)]
struct Holder {
    host: String,
    pid: u32,
    started_at: DateTime<Utc>,
    /// The holder renews this; past it, the lock is free to take.
    expires_at: DateTime<Utc>,
}

impl Holder {
    fn me(started_at: DateTime<Utc>) -> Holder {
        let lease = chrono::Duration::from_std(lease()).unwrap_or(chrono::Duration::seconds(120));
        Holder { host: hostname(), pid: std::process::id(), started_at, expires_at: Utc::now() + lease }
    }

    fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

fn lock_object(url: &ObjectUrl, what: &str) -> anyhow::Result<Lock> {
    let started = Utc::now();
    // Twice: a holder may release between our create and our read.
    for _ in 0..2 {
        let me = Holder::me(started);
        if let Put::Done { e_tag } = storage::put_create(url, me.bytes())? {
            return Ok(Lock::Object { _lock: ObjectLock::hold(url.clone(), e_tag, &me) });
        }
        let Some((body, tag)) = storage::get_versioned(url)? else { continue };
        let holder: Option<Holder> = serde_json::from_slice(&body).ok();
        let expired = holder.as_ref().is_none_or(|h| h.expires_at < Utc::now());
        if expired && let Some(tag) = tag {
            // Compare-and-swap on the version we read: of two runs taking
            // over the same expired lock, one wins.
            if let Put::Done { e_tag } = storage::put_if_match(url, me.bytes(), &tag)? {
                if let Some(h) = &holder {
                    tracing::warn!(lock = %url, "took over a lock whose holder (pid {} on {}) stopped renewing it at {}", h.pid, h.host, h.expires_at);
                }
                return Ok(Lock::Object { _lock: ObjectLock::hold(url.clone(), e_tag, &me) });
            }
        }
        let who = holder.map_or("another process".to_owned(), |h| {
            format!(
                "pid {} on {} since {} (lease until {})",
                h.pid,
                h.host,
                h.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                h.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        });
        return Err(failure(Kind::Locked, format!("{what} is being scored by {who} (lock {url})")));
    }
    Err(failure(
        Kind::Locked,
        format!("{what} is being locked and released by others (lock {url}); try later"),
    ))
}

/// A lock object and the thread that renews its lease.
pub struct ObjectLock {
    url: ObjectUrl,
    /// The lease's end, as last written; the renewer moves it, and sets it
    /// in the past when another run took the lock over.
    held_until: Arc<Mutex<DateTime<Utc>>>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    renewer: Option<std::thread::JoinHandle<bool>>,
}

impl ObjectLock {
    fn hold(url: ObjectUrl, e_tag: Option<String>, holder: &Holder) -> ObjectLock {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let held_until = Arc::new(Mutex::new(holder.expires_at));
        let (flag, u, until) = (stop.clone(), url.clone(), held_until.clone());
        let started = holder.started_at;
        let renewer = std::thread::Builder::new()
            .name("lock".into())
            .spawn(move || renew(&u, e_tag, started, &until, &flag))
            .ok();
        ObjectLock { url, held_until, stop, renewer }
    }
}

/// Renews the lease until told to stop; false if the lock was lost (taken
/// over after a lease ran out while the store was unreachable).
fn renew(
    url: &ObjectUrl,
    mut e_tag: Option<String>,
    started: DateTime<Utc>,
    held_until: &Mutex<DateTime<Utc>>,
    stop: &(Mutex<bool>, Condvar),
) -> bool {
    let (lock, cv) = stop;
    let Ok(mut stopped) = lock.lock() else { return true };
    loop {
        let waited = cv.wait_timeout(stopped, lease() / 4);
        let Ok((s, _)) = waited else { return true };
        stopped = s;
        if *stopped {
            return true;
        }
        let Some(tag) = e_tag.clone() else { continue };
        let me = Holder::me(started);
        match storage::put_if_match(url, me.bytes(), &tag) {
            Ok(Put::Done { e_tag: t }) => {
                e_tag = t;
                if let Ok(mut until) = held_until.lock() {
                    *until = me.expires_at;
                }
            }
            Ok(Put::Conflict) => {
                if let Ok(mut until) = held_until.lock() {
                    *until = DateTime::<Utc>::MIN_UTC;
                }
                tracing::error!(lock = %url, "lost the lock: another run took it over after our lease ran out");
                return false;
            }
            Err(e) => tracing::warn!(lock = %url, "cannot renew the lock (will retry): {e:#}"),
        }
    }
}

impl Drop for ObjectLock {
    fn drop(&mut self) {
        if let Ok(mut s) = self.stop.0.lock() {
            *s = true;
            self.stop.1.notify_all();
        }
        let still_ours = self.renewer.take().is_none_or(|t| t.join().unwrap_or(true));
        if still_ours && let Err(e) = storage::delete(&self.url) {
            tracing::warn!(lock = %self.url, "cannot release the lock (it expires with its lease): {e:#}");
        }
    }
}

pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_owned()))
        .unwrap_or_else(|| "unknown-host".into())
}
