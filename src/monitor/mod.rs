//! Watching the data: a profile of every run, checked against a reference.
//!
//! A run reads every row anyway; while it does, [`Watch`] profiles each
//! feature and score column (`profile`), and when the day is scored
//! compares it with the job's reference (`drift`). The result goes into the
//! run record's `monitor` section, the metrics and the log, and with
//! `on_alert = "fail"` it stops the output from being committed. `report`
//! renders the same for a person.

pub mod drift;
pub mod kernel;
pub mod profile;
pub mod report;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::error::{Kind, failure};
use crate::model::Elem;
use crate::plan::Plan;
use drift::{Check, ColumnDrift, Level, Thresholds};
use profile::{Profile, Role};

/// `[monitor]` as written in the job file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorFile {
    reference: String,
    on_alert: Option<OnAlert>,
    psi_moderate: Option<f64>,
    psi_significant: Option<f64>,
    max_null_rate_increase: Option<f64>,
    max_out_of_range: Option<f64>,
    max_unseen: Option<f64>,
    max_class_share_change: Option<f64>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnAlert {
    /// Log, record and report the alerts; commit the output anyway.
    #[default]
    Warn,
    /// A quality gate: an alert withholds the output (exit 65).
    Fail,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub reference: PathBuf,
    pub on_alert: OnAlert,
    pub thresholds: Thresholds,
}

impl MonitorFile {
    pub fn resolve(self, base: &Path) -> anyhow::Result<Config> {
        let d = Thresholds::default();
        let t = Thresholds {
            psi_moderate: self.psi_moderate.unwrap_or(d.psi_moderate),
            psi_significant: self.psi_significant.unwrap_or(d.psi_significant),
            max_null_rate_increase: self.max_null_rate_increase.unwrap_or(d.max_null_rate_increase),
            max_out_of_range: self.max_out_of_range.unwrap_or(d.max_out_of_range),
            max_unseen: self.max_unseen.unwrap_or(d.max_unseen),
            max_class_share_change: self.max_class_share_change.unwrap_or(d.max_class_share_change),
        };
        for (key, v) in [
            ("psi_moderate", t.psi_moderate),
            ("psi_significant", t.psi_significant),
            ("max_null_rate_increase", t.max_null_rate_increase),
            ("max_out_of_range", t.max_out_of_range),
            ("max_unseen", t.max_unseen),
            ("max_class_share_change", t.max_class_share_change),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                anyhow::bail!("monitor.{key}: expected a number ≥ 0, got {v}");
            }
        }
        if t.psi_moderate > t.psi_significant {
            anyhow::bail!(
                "monitor.psi_moderate ({}) is above monitor.psi_significant ({})",
                t.psi_moderate,
                t.psi_significant
            );
        }
        Ok(Config {
            reference: crate::template::clean(base.join(&self.reference)),
            on_alert: self.on_alert.unwrap_or_default(),
            thresholds: t,
        })
    }
}

/// The run record's `monitor` section.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MonitorEntry {
    /// ok | warning | alert: the highest level of the checks that fired.
    pub status: Level,
    pub reference: PathBuf,
    /// This run's profile, beside the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<crate::storage::Location>,
    pub on_alert: OnAlert,
    /// The output was not committed because of the alerts (`on_alert = "fail"`).
    pub withheld: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst: Option<Worst>,
    /// The checks that fired, alerts first.
    pub checks: Vec<Check>,
    /// Every profiled column, highest PSI first.
    pub columns: Vec<ColumnDrift>,
    /// Reference columns the job does not have (or has with another type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_compared: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Worst {
    pub column: String,
    pub role: Role,
    pub psi: f64,
}

/// Where a run's profile is kept: beside its record.
pub fn profile_path(
    state_dir: &crate::storage::Location,
    job: &str,
    date: NaiveDate,
) -> crate::storage::Location {
    state_dir.join(job).join(&format!("{date}.profile.json"))
}

/// Where a shard's profile is kept: beside its record.
pub fn shard_profile_path(
    state_dir: &crate::storage::Location,
    job: &str,
    date: NaiveDate,
    shard: crate::shard::Shard,
) -> crate::storage::Location {
    state_dir.join(job).join(&format!("{date}.shards")).join(&shard.part_name("profile.json"))
}

/// A sharded date's profile: its shards' profiles merged (counts add,
/// moments combine), saved where an unsharded run's goes, and checked
/// against the reference as one run of the whole day would be, so a
/// shard's few rows never raise an alert the day does not.
pub fn merge_shards(
    config: &Config,
    job: &crate::job::Job,
    date: NaiveDate,
    shards: &[&MonitorEntry],
) -> anyhow::Result<MonitorEntry> {
    let reference = Profile::load(&config.reference)
        .map_err(|e| failure(Kind::Config, format!("monitor.reference: {e:#}")))?;
    let mut merged: Option<Profile> = None;
    for m in shards {
        let path =
            m.profile.as_ref().ok_or_else(|| failure(Kind::Internal, "a shard's record names no profile"))?;
        let p = Profile::load_from(path)?;
        match &mut merged {
            None => merged = Some(p),
            Some(all) => all
                .merge(&p)
                .map_err(|e| failure(Kind::Internal, format!("merging {}: {e:#}", path.display())))?,
        }
    }
    let merged = merged.ok_or_else(|| failure(Kind::Internal, "no shard profiles to merge"))?;
    let path = profile_path(&job.state_dir, &job.name, date);
    merged.save(&path)?;
    let drift = drift::compare(&merged, &reference, &config.thresholds);
    let not_compared = shards.first().map(|m| m.not_compared.clone()).unwrap_or_default();
    let entry = entry(config, Some(path), drift, not_compared);
    log(&entry);
    Ok(entry)
}

/// Which series feeds each profiled column, for one plan.
pub struct Binding {
    slots: Vec<Slot>,
}

enum Slot {
    Feature { feed: usize, col: usize, name: String },
    Score { out: usize },
}

impl Binding {
    /// Every column a plan can profile: each feature once (numeric unless
    /// its model input takes strings), then each score column (numeric if
    /// floating point; labels are categories).
    pub fn columns(plan: &Plan) -> Vec<(String, Role, bool)> {
        let mut v: Vec<(String, Role, bool)> = Vec::new();
        for feed in &plan.feeds {
            for c in &feed.columns {
                if !v.iter().any(|(n, _, _)| n == c) {
                    v.push((c.clone(), Role::Feature, feed.elem != Elem::String));
                }
            }
        }
        for o in &plan.outs {
            v.push((o.name.clone(), Role::Score, o.dtype.is_float()));
        }
        v
    }

    /// Binds `wanted` (name, role, numeric) to the plan; a column the plan
    /// does not have, or has with the other kind, is left out and named.
    pub fn new(plan: &Plan, wanted: &[(String, Role, bool)]) -> (Binding, Vec<usize>, Vec<String>) {
        let have = Binding::columns(plan);
        let mut slots = Vec::new();
        let mut kept = Vec::new();
        let mut missing = Vec::new();
        for (i, (name, role, numeric)) in wanted.iter().enumerate() {
            let found = have.iter().any(|(n, r, k)| n == name && r == role && k == numeric);
            let slot = match role {
                Role::Feature if found => plan.feeds.iter().enumerate().find_map(|(f, feed)| {
                    feed.columns.iter().position(|c| c == name).map(|col| Slot::Feature {
                        feed: f,
                        col,
                        name: name.clone(),
                    })
                }),
                Role::Score if found => {
                    plan.outs.iter().position(|o| &o.name == name).map(|out| Slot::Score { out })
                }
                _ => None,
            };
            match slot {
                Some(s) => {
                    slots.push(s);
                    kept.push(i);
                }
                None => missing.push(format!("{role} {name:?}")),
            }
        }
        (Binding { slots }, kept, missing)
    }

    /// The series each feature column is profiled from: the column as read
    /// when it is numeric (its nulls are the input's), else as converted
    /// (text read for a numeric input: unparsable values are then nulls).
    pub fn features(&self, raw: &DataFrame, converted: &[Vec<Series>]) -> Vec<Option<Series>> {
        self.slots
            .iter()
            .map(|slot| match slot {
                Slot::Feature { feed, col, name } => {
                    let as_read = raw.column(name).ok().map(|c| c.as_materialized_series().clone());
                    match as_read {
                        Some(s) if s.dtype().is_primitive_numeric() || s.dtype().is_bool() => Some(s),
                        Some(s) if s.dtype().is_string() && !converted_is_numeric(converted, *feed, *col) => {
                            Some(s)
                        }
                        _ => converted.get(*feed).and_then(|c| c.get(*col)).cloned(),
                    }
                }
                Slot::Score { .. } => None,
            })
            .collect()
    }

    pub fn scores(&self, scored: &[Column]) -> Vec<Option<Series>> {
        self.slots
            .iter()
            .map(|slot| match slot {
                Slot::Score { out } => scored.get(*out).map(|c| c.as_materialized_series().clone()),
                Slot::Feature { .. } => None,
            })
            .collect()
    }
}

fn converted_is_numeric(converted: &[Vec<Series>], feed: usize, col: usize) -> bool {
    converted.get(feed).and_then(|c| c.get(col)).is_some_and(|s| s.dtype().is_primitive_numeric())
}

/// Adds one chunk's series to the profile's columns, the columns side by
/// side on the scoring pool (a chunk's profile is a pass over each column).
pub fn add_all(profile: &mut Profile, series: &[Option<Series>], threads: usize) -> anyhow::Result<()> {
    use rayon::prelude::*;
    crate::score::pool(threads).install(|| {
        profile.columns.par_iter_mut().zip(series.par_iter()).try_for_each(|(c, s)| match s {
            Some(s) => c.add(s),
            None => Ok(()),
        })
    })
}

/// Columns of one chunk to profile; `rows` counts the chunk's input rows
/// (zero for its scores, which are the same rows).
pub struct Chunk {
    rows: u64,
    series: Vec<Option<Series>>,
}

/// A run's monitoring: the profile as the chunks go by, and the verdict.
pub struct Watch {
    config: Config,
    reference: Profile,
    profile: Profile,
    binding: Binding,
    not_compared: Vec<String>,
    threads: usize,
}

impl Watch {
    /// `None` when the job has no `[monitor]`.
    pub fn start(plan: &Plan, threads: usize) -> anyhow::Result<Option<Watch>> {
        let Some(config) = plan.job.monitor.clone() else { return Ok(None) };
        let mut reference = Profile::load(&config.reference)
            .map_err(|e| failure(Kind::Config, format!("monitor.reference: {e:#}")))?;
        let wanted: Vec<(String, Role, bool)> =
            reference.columns.iter().map(|c| (c.name.clone(), c.role, c.is_numeric())).collect();
        let (binding, kept, not_compared) = Binding::new(plan, &wanted);
        if !not_compared.is_empty() {
            warn!(
                reference = %config.reference.display(),
                "the reference profiles columns this job does not map (or maps with another type); not compared: {}; rebuild the reference with `batchscore profile`",
                not_compared.join(", ")
            );
        }
        let unprofiled: Vec<String> = Binding::columns(plan)
            .into_iter()
            .filter(|(n, r, _)| reference.column(n, *r).is_none())
            .map(|(n, r, _)| format!("{r} {n:?}"))
            .collect();
        if !unprofiled.is_empty() {
            warn!("not in the reference, so not watched: {}", unprofiled.join(", "));
        }
        let mut i = 0;
        reference.columns.retain(|_| {
            let keep = kept.contains(&i);
            i += 1;
            keep
        });
        let profile = Profile::empty_like(&reference, &plan.job.name, vec![plan.date]);
        Ok(Some(Watch { config, reference, profile, binding, not_compared, threads }))
    }

    /// What to profile of one chunk's features (the columns are shared,
    /// not copied), to add when convenient.
    pub fn features(&self, raw: &DataFrame, converted: &[Vec<Series>]) -> Chunk {
        Chunk { rows: raw.height() as u64, series: self.binding.features(raw, converted) }
    }

    /// What to profile of one chunk's scores.
    pub fn scores(&self, scored: &[Column]) -> Chunk {
        Chunk { rows: 0, series: self.binding.scores(scored) }
    }

    /// Adds a chunk's columns to the run's profile.
    pub fn add(&mut self, chunk: Chunk) -> anyhow::Result<()> {
        self.profile.rows += chunk.rows;
        add_all(&mut self.profile, &chunk.series, self.threads)
    }

    /// Writes the profile beside the record, compares it with the
    /// reference and logs what fired.
    pub fn finish(self, plan: &Plan) -> anyhow::Result<MonitorEntry> {
        let path = match plan.shard {
            Some(s) => shard_profile_path(&plan.job.state_dir, &plan.job.name, plan.date, s),
            None => profile_path(&plan.job.state_dir, &plan.job.name, plan.date),
        };
        self.profile.save(&path)?;
        let drift = drift::compare(&self.profile, &self.reference, &self.config.thresholds);
        let entry = entry(&self.config, Some(path), drift, self.not_compared);
        log(&entry);
        Ok(entry)
    }
}

pub fn entry(
    config: &Config,
    profile: Option<crate::storage::Location>,
    drift: drift::Drift,
    not_compared: Vec<String>,
) -> MonitorEntry {
    let worst = drift
        .columns
        .iter()
        .find_map(|c| c.psi.map(|psi| Worst { column: c.column.clone(), role: c.role, psi }));
    MonitorEntry {
        status: drift.level(),
        reference: config.reference.clone(),
        profile,
        on_alert: config.on_alert,
        withheld: false,
        worst,
        checks: drift.checks,
        columns: drift.columns,
        not_compared,
    }
}

fn log(m: &MonitorEntry) {
    let worst: Vec<String> = m
        .columns
        .iter()
        .filter(|c| c.level > Level::Ok)
        .take(5)
        .map(|c| format!("{:?} (PSI {})", c.column, c.psi.map_or("-".into(), |p| format!("{p:.3}"))))
        .collect();
    let alerts = m.checks.iter().filter(|c| c.level == Level::Alert).count();
    let warnings = m.checks.len() - alerts;
    if m.checks.is_empty() {
        info!(
            worst_psi = m.worst.as_ref().map(|w| format!("{:.3}", w.psi)),
            worst_column = m.worst.as_ref().map(|w| w.column.as_str()),
            "no drift against the reference"
        );
        return;
    }
    warn!(alerts, warnings, "drift against the reference; worst columns: {}", worst.join(", "));
    for c in m.checks.iter().take(10) {
        warn!(check = %c.check, column = %c.column, level = %c.level, "{}", c.message);
    }
}

/// With `on_alert = "fail"`, an alert fails the run before the output is
/// committed (exit 65), naming what fired.
pub fn gate(m: &mut MonitorEntry) -> anyhow::Result<()> {
    let alerts: Vec<&Check> = m.checks.iter().filter(|c| c.level == Level::Alert).collect();
    if m.on_alert != OnAlert::Fail || alerts.is_empty() {
        return Ok(());
    }
    let list: Vec<&str> = alerts.iter().take(5).map(|c| c.message.as_str()).collect();
    let more = if alerts.len() > 5 { format!("; and {} more", alerts.len() - 5) } else { String::new() };
    let n = alerts.len();
    m.withheld = true;
    Err(failure(
        Kind::Data,
        format!(
            "quality gate: {n} drift alert{} against the reference (monitor.on_alert = \"fail\"); output withheld, nothing committed: {}{more}",
            if n == 1 { "" } else { "s" },
            list.join("; ")
        ),
    ))
}
