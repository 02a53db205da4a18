//! `batchscore next JOB`: upcoming fire times and the date each scores.

use crate::clock;
use crate::error::{Kind, failure};
use crate::job::Job;

pub fn next(job: &Job, count: usize) -> anyhow::Result<u8> {
    let Some(schedule) = &job.schedule else {
        return Err(failure(Kind::Config, format!("job {} has no schedule", job.name)));
    };
    let now = clock::now()?.with_timezone(&job.timezone);
    let mut s = format!("schedule \"{}\" in {}", schedule.expr(), job.timezone);
    if let Some((h, m)) = schedule.daily_time() {
        s.push_str(&format!(" (daily at {h:02}:{m:02})"));
    }
    s.push('\n');
    for t in schedule.upcoming(now).take(count) {
        let date = job.run_date.scored_on(t.date_naive());
        s.push_str(&format!("{}  scores {date}\n", t.format("%Y-%m-%d %a %H:%M %Z")));
    }
    super::print(&s)?;
    Ok(0)
}
