//! `batchscore check JOB`: the plan for a date, with every problem listed.

use std::fmt::Write;

use crate::cli::DateArgs;
use crate::job::{Job, Policy};
use crate::{clock, plan};

pub fn check(job: Job, args: &DateArgs) -> anyhow::Result<u8> {
    let date = match args.date {
        Some(d) => d,
        None => job.date_at(clock::now()?),
    };
    super::print(&describe(plan::build(job, date)?)?)?;
    Ok(0)
}

fn describe(plan: plan::Plan) -> anyhow::Result<String> {
    let mut s = String::new();
    writeln!(s, "job       {} ({})", plan.job.name, plan.job.path.display())?;
    writeln!(s, "date      {} (time zone {})", plan.date, plan.job.timezone)?;
    if let Some(schedule) = &plan.job.schedule {
        writeln!(s, "schedule  {}", schedule.expr())?;
    }
    writeln!(s, "model     {} (sha256 {})", plan.model.info.path.display(), &plan.model.info.sha256[..12])?;
    writeln!(s, "inputs")?;
    for f in &plan.files {
        writeln!(s, "  {} ({}, {} bytes)", f.path.display(), f.format, f.bytes)?;
    }
    writeln!(s, "features")?;
    for feed in &plan.feeds {
        writeln!(
            s,
            "  {} ({}, {} columns) <- {}",
            feed.input,
            feed.elem,
            feed.columns.len(),
            quoted(&feed.columns)
        )?;
    }
    let policy = plan.job.bad_rows.policy;
    if policy == Policy::Auto {
        writeln!(s, "missing   bad_rows.policy = \"auto\": per column, from the model")?;
    } else {
        writeln!(
            s,
            "missing   bad_rows.policy = \"{policy}\" for every column; under \"auto\" it would be, per column:"
        )?;
    }
    for r in &plan.missing {
        let what = if r.treatment.pass { "NaN to the model" } else { "rejected" };
        writeln!(s, "  {:?} -> {}[{}]: {what}: {}", r.column, r.input, r.index, r.treatment.why)?;
    }
    writeln!(s, "output    {} ({})", plan.output_path.display(), plan.job.output_format)?;
    let cols: Vec<String> = plan.output_schema.iter().map(|(n, t)| format!("{n}: {t}")).collect();
    writeln!(s, "columns   {}", cols.join(", "))?;
    writeln!(s, "records   {}", plan.job.state_dir.join(&plan.job.name).display())?;
    if let Some(m) = &plan.job.monitor {
        // A reference that does not load would fail every run: say so now.
        let reference = crate::monitor::profile::Profile::load(&m.reference).map_err(|e| {
            crate::error::failure(crate::error::Kind::Config, format!("monitor.reference: {e:#}"))
        })?;
        let wanted: Vec<_> =
            reference.columns.iter().map(|c| (c.name.clone(), c.role, c.is_numeric())).collect();
        let (_, kept, missing) = crate::monitor::Binding::new(&plan, &wanted);
        writeln!(
            s,
            "monitor   {} ({} of its {} columns compared; on_alert = {})",
            m.reference.display(),
            kept.len(),
            wanted.len(),
            match m.on_alert {
                crate::monitor::OnAlert::Warn => "warn",
                crate::monitor::OnAlert::Fail => "fail",
            }
        )?;
        if !missing.is_empty() {
            writeln!(s, "          not compared: {}", missing.join(", "))?;
        }
    }
    writeln!(s, "ok: nothing was written")?;
    Ok(s)
}

fn quoted(cols: &[String]) -> String {
    const SHOWN: usize = 6;
    let mut v: Vec<String> = cols.iter().take(SHOWN).map(|c| format!("{c:?}")).collect();
    if cols.len() > SHOWN {
        v.push(format!("… {} more", cols.len() - SHOWN));
    }
    v.join(", ")
}
