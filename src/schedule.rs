//! Crontab schedules, as users copy them from their crontab.
//!
//! Users write the 5-field crontab form (minute hour day-of-month month
//! day-of-week). The `cron` crate wants 6–7 fields with seconds first,
//! numbers weekdays 1–7 from Sunday, and ANDs day-of-month with day-of-week
//! where crontab ORs them when both are restricted. So we parse the five
//! fields ourselves (validation with messages naming the field), hand the
//! crate one expression per side of the OR, in its syntax, and merge.
//!
//! Time zones: the crate walks the calendar in naive local time (we give
//! it UTC, which has no DST); we then place each local time in the job's
//! zone. A time that a spring-forward skips fires at the first minute that
//! exists after the gap, and a time that a fall-back repeats fires once,
//! at the first occurrence: what Vixie cron does for fixed-time jobs, so a
//! nightly job never silently skips or doubles a day.

use std::collections::BTreeSet;
use std::str::FromStr;

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Clone, Debug)]
pub struct Schedule {
    expr: String,
    minutes: BTreeSet<u32>,
    hours: BTreeSet<u32>,
    days: BTreeSet<u32>,
    months: BTreeSet<u32>,
    /// 0 = Sunday … 6 = Saturday.
    weekdays: BTreeSet<u32>,
    days_restricted: bool,
    weekdays_restricted: bool,
    /// One crate schedule, or two whose union is crontab's OR.
    parts: Vec<cron::Schedule>,
}

const MONTHS: [&str; 12] =
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const CRATE_WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

impl Schedule {
    pub fn parse(expr: &str) -> anyhow::Result<Schedule> {
        let trimmed = expr.trim();
        let expanded = match trimmed {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            bail!(
                "schedule {expr:?}: expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            );
        }
        let field = |i: usize, name: &str, lo: u32, hi: u32, names: &[&str]| {
            parse_field(fields[i], lo, hi, names).with_context(|| format!("schedule {expr:?}: {name}"))
        };
        let minutes = field(0, "minute", 0, 59, &[])?;
        let hours = field(1, "hour", 0, 23, &[])?;
        let days = field(2, "day of month", 1, 31, &[])?;
        let months = field(3, "month", 1, 12, &MONTHS)?;
        // 7 is Sunday too, as in every crontab.
        let weekdays: BTreeSet<u32> =
            field(4, "day of week", 0, 7, &WEEKDAYS)?.into_iter().map(|d| d % 7).collect();
        let days_restricted = !fields[2].starts_with('*');
        let weekdays_restricted = !fields[4].starts_with('*');
        let list = |s: &BTreeSet<u32>, full: usize| -> String {
            if s.len() == full {
                "*".into()
            } else {
                s.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            }
        };
        let dow = if weekdays.len() == 7 {
            "*".into()
        } else {
            weekdays.iter().map(|d| CRATE_WEEKDAYS[*d as usize]).collect::<Vec<_>>().join(",")
        };
        let (m, h, dom, mon) = (list(&minutes, 60), list(&hours, 24), list(&days, 31), list(&months, 12));
        let exprs = if days_restricted && weekdays_restricted {
            vec![format!("0 {m} {h} {dom} {mon} *"), format!("0 {m} {h} * {mon} {dow}")]
        } else {
            vec![format!("0 {m} {h} {dom} {mon} {dow}")]
        };
        let parts = exprs
            .iter()
            .map(|e| {
                cron::Schedule::from_str(e)
                    .map_err(|err| anyhow::anyhow!("schedule {expr:?} (as {e:?}): {err}"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Schedule {
            expr: trimmed.to_owned(),
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_restricted,
            weekdays_restricted,
            parts,
        })
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Fire times strictly after `after`, ascending, in `after`'s zone.
    pub fn upcoming(&self, after: DateTime<Tz>) -> impl Iterator<Item = DateTime<Tz>> + '_ {
        let tz = after.timezone();
        // Start a little early in local time: a fire moved forward by a
        // spring-forward gap may land after `after` although its nominal time is before.
        let start = Utc.from_utc_datetime(&(after.naive_local() - chrono::Duration::hours(3)));
        let mut iters: Vec<_> = self.parts.iter().map(|p| p.after(&start).peekable()).collect();
        let mut last: Option<DateTime<Tz>> = None;
        std::iter::from_fn(move || {
            loop {
                // The earliest next naive time over the OR's sides.
                let (ix, _) = iters
                    .iter_mut()
                    .enumerate()
                    .filter_map(|(i, it)| it.peek().map(|t| (i, *t)))
                    .min_by_key(|(_, t)| *t)?;
                let naive = iters[ix].next()?.naive_utc();
                for it in iters.iter_mut() {
                    while it.peek().is_some_and(|t| t.naive_utc() == naive) {
                        it.next();
                    }
                }
                let t = place(tz, naive);
                if t <= after || last.is_some_and(|l| t <= l) {
                    continue;
                }
                last = Some(t);
                return Some(t);
            }
        })
    }

    /// Does the schedule fire on this calendar date (crontab's day rules)?
    pub fn fires_on(&self, date: NaiveDate) -> bool {
        if !self.months.contains(&date.month()) {
            return false;
        }
        let dom = self.days.contains(&date.day());
        let dow = self.weekdays.contains(&date.weekday().num_days_from_sunday());
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// `Some((hour, minute))` when the schedule fires once a day, every day, at a fixed time.
    pub fn daily_time(&self) -> Option<(u32, u32)> {
        let every_day = !self.days_restricted && !self.weekdays_restricted && self.months.len() == 12;
        match (every_day, self.hours.len(), self.minutes.len()) {
            (true, 1, 1) => Some((*self.hours.first()?, *self.minutes.first()?)),
            _ => None,
        }
    }
}

/// A local time in `tz`: the first occurrence when a fall-back repeats it,
/// the first minute after the gap when a spring-forward skips it.
fn place(tz: Tz, naive: NaiveDateTime) -> DateTime<Tz> {
    let mut t = naive;
    for _ in 0..=180 {
        if let Some(dt) = tz.from_local_datetime(&t).earliest() {
            return dt;
        }
        t += chrono::Duration::minutes(1);
    }
    // No zone has a gap of three hours; fall back to reading it as UTC.
    tz.from_utc_datetime(&naive)
}

fn parse_field(text: &str, lo: u32, hi: u32, names: &[&str]) -> anyhow::Result<BTreeSet<u32>> {
    let value = |s: &str| -> anyhow::Result<u32> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == lower) {
            // Month names count from 1, weekday names from 0 (Sunday).
            return Ok(i as u32 + u32::from(names.len() == 12));
        }
        let v: u32 = s.parse().map_err(|_| {
            anyhow::anyhow!("{s:?} is not a number{}", if names.is_empty() { "" } else { " or a name" })
        })?;
        if v < lo || v > hi {
            bail!("{v} is out of range {lo}-{hi}");
        }
        Ok(v)
    };
    let mut set = BTreeSet::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| anyhow::anyhow!("step {s:?} is not a number"))?;
                if step == 0 {
                    bail!("step 0 in {item:?}");
                }
                (r, step)
            }
            None => (item, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                bail!("range {range:?} runs backwards");
            }
            (a, b)
        } else {
            let a = value(range)?;
            (a, if step > 1 { hi } else { a })
        };
        set.extend((a..=b).step_by(step as usize));
    }
    if set.is_empty() {
        bail!("{text:?} selects nothing");
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(s: &str) -> Tz {
        s.parse().unwrap()
    }

    fn at(zone: &str, s: &str) -> DateTime<Tz> {
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        tz(zone).from_local_datetime(&naive).earliest().unwrap()
    }

    fn next(expr: &str, zone: &str, from: &str, n: usize) -> Vec<String> {
        Schedule::parse(expr)
            .unwrap()
            .upcoming(at(zone, from))
            .take(n)
            .map(|t| t.format("%Y-%m-%d %a %H:%M %Z").to_string())
            .collect()
    }

    #[test]
    fn nightly() {
        assert_eq!(
            next("30 2 * * *", "UTC", "2026-11-23 12:00", 2),
            ["2026-11-24 Tue 02:30 UTC", "2026-11-25 Wed 02:30 UTC"]
        );
        assert_eq!(Schedule::parse("30 2 * * *").unwrap().daily_time(), Some((2, 30)));
        assert_eq!(Schedule::parse("30 2 * * 1-5").unwrap().daily_time(), None);
        assert_eq!(Schedule::parse("@daily").unwrap().daily_time(), Some((0, 0)));
    }

    #[test]
    fn weekdays_and_sunday_as_0_or_7() {
        // 2026-11-27 is a Friday.
        assert_eq!(
            next("0 6 * * 1-5", "UTC", "2026-11-27 07:00", 2),
            ["2026-11-30 Mon 06:00 UTC", "2026-12-01 Tue 06:00 UTC"]
        );
        assert_eq!(next("0 6 * * MON-FRI", "UTC", "2026-11-27 07:00", 1), ["2026-11-30 Mon 06:00 UTC"]);
        assert_eq!(next("0 6 * * 0", "UTC", "2026-11-27 07:00", 1), ["2026-11-29 Sun 06:00 UTC"]);
        assert_eq!(next("0 6 * * 7", "UTC", "2026-11-27 07:00", 1), ["2026-11-29 Sun 06:00 UTC"]);
        assert_eq!(
            next("0 6 * * 5-7", "UTC", "2026-11-27 07:00", 2),
            ["2026-11-28 Sat 06:00 UTC", "2026-11-29 Sun 06:00 UTC"]
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_when_both_are_restricted() {
        // Every 13th and every Friday (crontab ORs them): Fri 4 Dec, Fri 11 Dec, Sun 13 Dec, Fri 18 Dec.
        assert_eq!(
            next("0 0 13 * 5", "UTC", "2026-12-01 00:00", 4),
            [
                "2026-12-04 Fri 00:00 UTC",
                "2026-12-11 Fri 00:00 UTC",
                "2026-12-13 Sun 00:00 UTC",
                "2026-12-18 Fri 00:00 UTC"
            ]
        );
        let s = Schedule::parse("0 0 13 * 5").unwrap();
        assert!(s.fires_on("2026-12-13".parse().unwrap()) && s.fires_on("2026-12-04".parse().unwrap()));
        assert!(!s.fires_on("2026-12-05".parse().unwrap()));
        // Only one restricted: it alone decides.
        let s = Schedule::parse("0 0 1 * *").unwrap();
        assert!(s.fires_on("2026-12-01".parse().unwrap()) && !s.fires_on("2026-12-02".parse().unwrap()));
    }

    #[test]
    fn steps_lists_and_months() {
        assert_eq!(
            next("*/20 9 * * *", "UTC", "2026-11-23 09:10", 3),
            ["2026-11-23 Mon 09:20 UTC", "2026-11-23 Mon 09:40 UTC", "2026-11-24 Tue 09:00 UTC"]
        );
        assert_eq!(
            next("0 0 1 jan,jul *", "UTC", "2026-11-23 00:00", 2),
            ["2027-01-01 Fri 00:00 UTC", "2027-07-01 Thu 00:00 UTC"]
        );
    }

    #[test]
    fn errors_name_the_field() {
        let err = |e: &str| format!("{:#}", Schedule::parse(e).unwrap_err());
        assert!(err("61 2 * * *").contains("minute: 61 is out of range 0-59"), "{}", err("61 2 * * *"));
        assert!(err("0 2 * * 8").contains("day of week: 8 is out of range 0-7"));
        assert!(err("0 2 * *").contains("expected 5 fields"));
        assert!(err("0 0 0 0 0 0").contains("expected 5 fields"));
        assert!(err("0 5-2 * * *").contains("runs backwards"));
    }

    #[test]
    fn spring_forward_runs_after_the_gap_and_fall_back_runs_once() {
        // New York skips 02:00–03:00 on 2026-03-08: the 02:30 run happens at 03:00.
        assert_eq!(
            next("30 2 * * *", "America/New_York", "2026-03-07 12:00", 2),
            ["2026-03-08 Sun 03:00 EDT", "2026-03-09 Mon 02:30 EDT"]
        );
        // London repeats 01:00–02:00 on 2026-10-25: the 01:30 run happens once.
        assert_eq!(
            next("30 1 * * *", "Europe/London", "2026-10-24 12:00", 2),
            ["2026-10-25 Sun 01:30 BST", "2026-10-26 Mon 01:30 GMT"]
        );
        // London skips 01:00–02:00 on 2026-03-29.
        assert_eq!(
            next("30 1 * * *", "Europe/London", "2026-03-28 12:00", 2),
            ["2026-03-29 Sun 02:00 BST", "2026-03-30 Mon 01:30 BST"]
        );
    }
}
