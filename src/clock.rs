//! "Now", and the date a run scores.

use anyhow::Context;
use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::error::{Kind, ResultExt};

/// The current instant. `BATCHSCORE_NOW` (RFC 3339) replaces it, so tests
/// can stand on a DST change or just after midnight; it is read nowhere else.
pub fn now() -> anyhow::Result<DateTime<Utc>> {
    let now = match std::env::var("BATCHSCORE_NOW") {
        Ok(s) if !s.is_empty() => DateTime::parse_from_rfc3339(&s)
            .map_err(|e| anyhow::anyhow!("BATCHSCORE_NOW={s:?} is not an RFC 3339 time: {e}"))
            .map(|t| t.with_timezone(&Utc)),
        _ => Ok(Utc::now()),
    };
    now.with_kind(Kind::Usage, || "reading the clock")
}

/// Which date a run scores: the job's `run_date`, a number of days before
/// the day the run starts. Every "which date does this firing score" and
/// "which day fires for this date" goes through here, so `next`, `catchup`,
/// `backfill` and a plain `run` can never disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunDateRule {
    pub days_back: u32,
}

impl RunDateRule {
    pub fn parse(s: &str) -> anyhow::Result<RunDateRule> {
        let t = s.trim().to_ascii_lowercase();
        let days_back = match t.as_str() {
            "today" => 0,
            "yesterday" => 1,
            _ => match t.strip_prefix("today-") {
                Some(n) => n.trim().parse().ok(),
                None => None,
            }
            .with_context(|| {
                format!("run_date {s:?}: expected \"today\", \"yesterday\" or \"today-N\" (N days back)")
            })?,
        };
        Ok(RunDateRule { days_back })
    }

    fn days(self) -> Days {
        Days::new(u64::from(self.days_back))
    }

    /// The date a run started on `day` scores. (Saturates at the calendar's
    /// ends, which no schedule reaches.)
    pub fn scored_on(self, day: NaiveDate) -> NaiveDate {
        day.checked_sub_days(self.days()).unwrap_or(NaiveDate::MIN)
    }

    /// The day a run must start on to score `date`.
    pub fn fires_for(self, date: NaiveDate) -> NaiveDate {
        date.checked_add_days(self.days()).unwrap_or(NaiveDate::MAX)
    }

    /// The date a run started at `now` scores: today in the job's zone,
    /// minus the offset. The zone matters: at 00:30 in Tokyo it is still
    /// yesterday in London.
    pub fn date_at(self, now: DateTime<Utc>, zone: chrono_tz::Tz) -> NaiveDate {
        self.scored_on(now.with_timezone(&zone).date_naive())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> RunDateRule {
        RunDateRule::parse(s).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn zone(s: &str) -> chrono_tz::Tz {
        s.parse().unwrap()
    }

    #[test]
    fn run_date_rules() {
        assert_eq!(rule("today").days_back, 0);
        assert_eq!(rule("Yesterday").days_back, 1);
        assert_eq!(rule("today-3").days_back, 3);
        assert!(RunDateRule::parse("tomorrow").is_err());
        assert!(RunDateRule::parse("today-x").is_err());
    }

    #[test]
    fn scored_on_and_fires_for_are_inverse() {
        let r = rule("today-3");
        assert_eq!(r.scored_on(date("2026-03-02")), date("2026-02-27"));
        assert_eq!(r.fires_for(date("2026-02-27")), date("2026-03-02"));
        assert_eq!(rule("today").scored_on(date("2026-03-02")), date("2026-03-02"));
    }

    #[test]
    fn yesterday_is_taken_in_the_jobs_zone() {
        // 23:30 UTC on the 23rd is already the 24th in Tokyo.
        assert_eq!(
            rule("yesterday").date_at(at("2026-11-23T23:30:00Z"), zone("Asia/Tokyo")),
            date("2026-11-23")
        );
        assert_eq!(rule("yesterday").date_at(at("2026-11-23T23:30:00Z"), zone("UTC")), date("2026-11-22"));
        // And 03:00 UTC is still the previous evening in New York.
        assert_eq!(
            rule("today").date_at(at("2026-11-24T03:00:00Z"), zone("America/New_York")),
            date("2026-11-23")
        );
    }

    #[test]
    fn just_after_midnight_and_across_dst() {
        let london = zone("Europe/London");
        // 00:05 local on the spring-forward day in London (clocks go 01:00 → 02:00 on 2026-03-29).
        assert_eq!(rule("yesterday").date_at(at("2026-03-29T00:05:00Z"), london), date("2026-03-28"));
        // 00:30 BST on the fall-back day (2026-10-25) is 23:30 UTC on the 24th.
        assert_eq!(rule("today").date_at(at("2026-10-24T23:30:00Z"), london), date("2026-10-25"));
        assert_eq!(rule("today-2").date_at(at("2026-10-24T23:30:00Z"), london), date("2026-10-23"));
    }
}
