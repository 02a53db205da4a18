//! "Now" and the run date it implies.

use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::job::Job;

/// The current instant. `BATCHSCORE_NOW` (RFC 3339) replaces it, so tests
/// can stand on a DST change or just after midnight; it is read nowhere else.
pub fn now() -> anyhow::Result<DateTime<Utc>> {
    match std::env::var("BATCHSCORE_NOW") {
        Ok(s) if !s.is_empty() => Ok(DateTime::parse_from_rfc3339(&s)
            .map_err(|e| anyhow::anyhow!("BATCHSCORE_NOW={s:?} is not an RFC 3339 time: {e}"))?
            .with_timezone(&Utc)),
        _ => Ok(Utc::now()),
    }
}

/// The date a run scores by default: today in the job's zone, minus the
/// job's `run_date` offset. The zone matters: at 00:30 in Tokyo it is still
/// yesterday in London.
pub fn default_date(job: &Job, now: DateTime<Utc>) -> NaiveDate {
    let local_today = now.with_timezone(&job.timezone).date_naive();
    local_today.checked_sub_days(Days::new(u64::from(job.run_date.days_back))).unwrap_or(local_today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn job(tz: &str, rule: &str) -> Job {
        let text = format!(
            "name = \"t\"\nmodel = \"m.onnx\"\ntimezone = \"{tz}\"\nrun_date = \"{rule}\"\n[input]\npath = \"i.csv\"\n[features]\ncolumns = [\"a\"]\n[output]\npath = \"o.csv\"\n"
        );
        Job::parse(Path::new("j.toml"), &text).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn yesterday_is_taken_in_the_jobs_zone() {
        // 23:30 UTC on the 23rd is already the 24th in Tokyo.
        assert_eq!(
            default_date(&job("Asia/Tokyo", "yesterday"), at("2026-11-23T23:30:00Z")),
            date("2026-11-23")
        );
        assert_eq!(default_date(&job("UTC", "yesterday"), at("2026-11-23T23:30:00Z")), date("2026-11-22"));
        // And 03:00 UTC is still the previous evening in New York.
        assert_eq!(
            default_date(&job("America/New_York", "today"), at("2026-11-24T03:00:00Z")),
            date("2026-11-23")
        );
    }

    #[test]
    fn just_after_midnight_and_across_dst() {
        // 00:05 local on the spring-forward day in London (clocks go 01:00 → 02:00 on 2026-03-29).
        assert_eq!(
            default_date(&job("Europe/London", "yesterday"), at("2026-03-29T00:05:00Z")),
            date("2026-03-28")
        );
        // 00:30 BST on the fall-back day (2026-10-25) is 23:30 UTC on the 24th.
        assert_eq!(
            default_date(&job("Europe/London", "today"), at("2026-10-24T23:30:00Z")),
            date("2026-10-25")
        );
        assert_eq!(
            default_date(&job("Europe/London", "today-2"), at("2026-10-24T23:30:00Z")),
            date("2026-10-23")
        );
    }
}
