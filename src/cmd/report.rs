//! `batchscore report JOB --date D`: one self-contained HTML page on a day's drift.
//!
//! Everything comes from files a run leaves: the day's profile, the
//! reference, the run record, and the profiles of the runs before it (for
//! the PSI trends). The checks are computed again from the profiles with
//! the job's current thresholds, the same way the run did.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use tracing::info;

use crate::cli::ReportArgs;
use crate::error::{Kind, failure};
use crate::job::Job;
use crate::ledger::Ledger;
use crate::monitor::drift::{self, Drift, Thresholds};
use crate::monitor::profile::Profile;
use crate::monitor::report::{self, TREND_RUNS};
use crate::monitor::{Config, profile_path};
use crate::output::write_atomic;

pub fn report(job: &Job, args: &ReportArgs) -> anyhow::Result<u8> {
    let date = match args.date {
        Some(d) => d,
        None => job.date_at(crate::clock::now()?),
    };
    let config = job.monitor.clone().ok_or_else(|| {
        failure(Kind::Config, "the job has no [monitor] table: there is no reference to report against")
    })?;
    let state = local_state(job)?;
    let out = args.out.clone().unwrap_or_else(|| state.join(&job.name).join(format!("{date}.report.html")));
    let html = render(job, &config, date)?;
    write_atomic(&crate::storage::Location::Local(out.clone()), html.as_bytes())?;
    info!(report = %out.display(), "report written");
    super::print(&format!("{}\n", out.display()))?;
    Ok(0)
}

/// The page for `date`, from the files in the job's state directory.
pub fn render(job: &Job, config: &Config, date: NaiveDate) -> anyhow::Result<String> {
    let state = local_state(job)?;
    // Local: local_state said so.
    let path =
        profile_path(&job.state_dir, &job.name, date).local().map(Path::to_path_buf).unwrap_or_default();
    if !path.is_file() {
        return Err(failure(
            Kind::NoInput,
            format!("no profile for {date} at {} (run the date first, with [monitor] set)", path.display()),
        ));
    }
    let profile = Profile::load(&path)?;
    let reference = Profile::load(&config.reference)?;
    let t: &Thresholds = &config.thresholds;
    let today = drift::compare(&profile, &reference, t);
    let history = history(&state.join(&job.name), date, &reference, t);
    let record = Ledger::new(&job.state_dir, &job.name).read(date)?;
    let reference_path = config.reference.display().to_string();
    let input = report::Input {
        job: &job.name,
        date,
        profile: &profile,
        reference: &reference,
        reference_path: &reference_path,
        thresholds: t,
        record: record.as_ref(),
        history,
    };
    Ok(report::render(&input, &today))
}

/// The stored profiles up to `date`, the last `TREND_RUNS`, each compared
/// with the reference (a profile that cannot be read is left out).
fn history(dir: &Path, date: NaiveDate, reference: &Profile, t: &Thresholds) -> Vec<(NaiveDate, Drift)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    let mut dates: Vec<(NaiveDate, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let d: NaiveDate = name.to_str()?.strip_suffix(".profile.json")?.parse().ok()?;
            (d <= date).then(|| (d, e.path()))
        })
        .collect();
    dates.sort();
    let skip = dates.len().saturating_sub(TREND_RUNS);
    dates
        .into_iter()
        .skip(skip)
        .filter_map(|(d, p)| Profile::load(&p).ok().map(|prof| (d, drift::compare(&prof, reference, t))))
        .collect()
}

/// The report reads the stored profiles of past runs from a directory; a
/// state_dir in a bucket is not read back for it yet.
fn local_state(job: &Job) -> anyhow::Result<&Path> {
    job.state_dir.local().ok_or_else(|| {
        failure(
            Kind::Config,
            format!(
                "report reads the stored profiles from a local state_dir; {} is in object storage (copy its {}/*.profile.json to a directory and point a copy of the job at it)",
                job.state_dir, job.name
            ),
        )
    })
}
