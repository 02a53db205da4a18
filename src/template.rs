//! Path templates: a job's paths with strftime codes, expanded for a date.

use std::path::{Path, PathBuf};

use anyhow::bail;
use chrono::format::{Item, StrftimeItems};

use crate::storage::{Location, is_url};

/// A path template expanded from the run date with strftime codes.
#[derive(Clone, Debug)]
pub struct Template {
    raw: String,
    base: PathBuf,
}

impl Template {
    /// Checks the codes now, so a typo is a job-file error at load time,
    /// not a failure on the night the code is first expanded.
    pub fn new(field: &str, raw: &str, base: &Path) -> anyhow::Result<Template> {
        if raw.trim().is_empty() {
            bail!("{field} is empty");
        }
        if StrftimeItems::new(raw).any(|i| matches!(i, Item::Error)) {
            bail!("{field} {raw:?} has an invalid % code (strftime; write %% for a literal %)");
        }
        if is_url(raw) {
            Location::parse(raw, base).map_err(|e| anyhow::anyhow!("{field}: {e:#}"))?;
        }
        Ok(Template { raw: raw.to_owned(), base: base.to_owned() })
    }

    pub fn is_url(&self) -> bool {
        is_url(&self.raw)
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The path for `date`, resolved against the job file's directory, or
    /// the URL for `date`.
    pub fn expand(&self, date: chrono::NaiveDate) -> Location {
        let text = date.format(&self.raw).to_string();
        // A URL template parsed when loaded; its expansion keeps its scheme and bucket.
        Location::parse(&text, &self.base).unwrap_or_else(|_| Location::Local(clean(self.base.join(&text))))
    }

    /// The leading directories that do not depend on the date: where the
    /// run records go by default, so that they sit beside the outputs.
    pub fn static_dir(&self) -> Location {
        if let Some((scheme, rest)) = self.raw.split_once("://") {
            let parts: Vec<&str> = rest.split('/').collect();
            let mut url = format!("{scheme}://{}", parts[0]);
            for part in &parts[1..parts.len().saturating_sub(1)] {
                if part.contains('%') {
                    break;
                }
                url.push('/');
                url.push_str(part);
            }
            return Location::parse(&url, &self.base).unwrap_or_else(|_| Location::Local(self.base.clone()));
        }
        // By components: a root or a drive replaces the base, so an
        // absolute template stays absolute.
        let mut dir = self.base.clone();
        let raw = Path::new(&self.raw);
        for part in raw.parent().unwrap_or(Path::new("")).components() {
            if part.as_os_str().to_string_lossy().contains('%') {
                break;
            }
            dir.push(part);
        }
        Location::Local(clean(dir))
    }
}

/// `a/b/../c` → `a/c`, so paths in logs and records read as the user
/// expects. Lexical, like Go's `filepath.Clean`: the job directory is
/// absolute, so `..` never climbs above what the user wrote.
pub fn clean(p: PathBuf) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !matches!(out.components().next_back(), Some(Component::Normal(_))) || !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn expands_codes_and_cleans_the_path() {
        let t =
            Template::new("output.path", "../out/%Y/scores-%Y%m%d.parquet", Path::new("/srv/jobs")).unwrap();
        assert_eq!(t.expand(date()), Path::new("/srv/out/2026/scores-20261123.parquet"));
        assert_eq!(t.static_dir(), Path::new("/srv/out"));
    }

    #[test]
    fn the_static_dir_stops_at_the_first_dated_part() {
        let t = Template::new("output.path", "out/%Y/%m/x.csv", Path::new("/j")).unwrap();
        assert_eq!(t.static_dir(), Path::new("/j/out"));
        let t = Template::new("output.path", "x-%Y.csv", Path::new("/j")).unwrap();
        assert_eq!(t.static_dir(), Path::new("/j"));
        // An absolute template does not hang under the job's directory.
        let abs = std::path::absolute("/srv/out/%Y/x.csv").unwrap();
        let t = Template::new("output.path", abs.to_str().unwrap(), Path::new("/j")).unwrap();
        assert_eq!(t.static_dir(), std::path::absolute("/srv/out").unwrap().as_path());
    }

    #[test]
    fn bad_codes_and_empty_paths_are_refused() {
        let err = Template::new("input.path", "in/%Q.csv", Path::new("/j")).unwrap_err();
        assert!(format!("{err:#}").contains("invalid % code"), "{err:#}");
        assert!(Template::new("input.path", "  ", Path::new("/j")).is_err());
        assert!(Template::new("input.path", "ftp://h/%Y.csv", Path::new("/j")).is_err());
    }

    #[test]
    fn urls_expand_and_keep_their_bucket() {
        let t =
            Template::new("output.path", "s3://scores/daily/%Y/%m/s-%d.parquet", Path::new("/j")).unwrap();
        assert_eq!(t.expand(date()).to_string(), "s3://scores/daily/2026/11/s-23.parquet");
        assert_eq!(t.static_dir().to_string(), "s3://scores/daily");
        let t = Template::new("output.path", "s3://scores/s-%d.parquet", Path::new("/j")).unwrap();
        assert_eq!(t.static_dir().to_string(), "s3://scores");
    }
}
