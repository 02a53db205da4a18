//! A day split into N shards: which one this process is, and which rows are its.
//!
//! The engines that run N copies of a job (a Kubernetes Indexed Job, a
//! Slurm array, AWS Batch, Cloud Run) tell each copy its index in a
//! variable; batchscore reads it, and splits the day's work the same way in
//! every copy from the input's listing and metadata alone, so that every
//! row belongs to exactly one shard without the copies talking to each other.

use std::fmt;
use std::ops::Range;

use crate::error::{Kind, failure};
use crate::storage::Location;

/// Shard `index` of `count`, 0-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// Above this, a part's name would not sort; no engine runs more copies.
pub const MAX_SHARDS: usize = 99_999;

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What `--shard` says: a shard, or `off` (ignore the engines' variables).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardArg {
    Off,
    On(Shard),
}

impl std::str::FromStr for ShardArg {
    type Err = String;

    fn from_str(s: &str) -> Result<ShardArg, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(ShardArg::Off);
        }
        let bad = || format!("{s:?} is not a shard: write INDEX/COUNT, 0-based, e.g. 0/4 (or off)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        Shard::new(index, count).map(ShardArg::On).map_err(|e| format!("{e:#}"))
    }
}

impl Shard {
    pub fn new(index: usize, count: usize) -> anyhow::Result<Shard> {
        if count == 0 || count > MAX_SHARDS {
            return Err(failure(
                Kind::Usage,
                format!("a shard count must be 1 to {MAX_SHARDS}, not {count}"),
            ));
        }
        if index >= count {
            return Err(failure(
                Kind::Usage,
                format!(
                    "shard index {index} is out of range for {count} shards (indexes are 0-based: 0 to {})",
                    count - 1
                ),
            ));
        }
        Ok(Shard { index, count })
    }

    /// The part's file name: zero-padded so that names sort by index.
    pub fn part_name(&self, ext: &str) -> String {
        format!("part-{:05}-of-{:05}.{ext}", self.index, self.count)
    }

    /// The shard a [`Shard::part_name`] with extension `ext` names; `None`
    /// for any other name (a shard's profile beside its record, say).
    pub fn of_part_name(name: &str, ext: &str) -> Option<Shard> {
        let rest = name.strip_prefix("part-")?.strip_suffix(ext)?.strip_suffix('.')?;
        let (i, n) = rest.split_once("-of-")?;
        let digits = |t: &str| t.len() == 5 && t.bytes().all(|b| b.is_ascii_digit());
        if !(digits(i) && digits(n)) {
            return None;
        }
        Some(Shard { index: i.parse().ok()?, count: n.parse().ok()? })
    }
}

/// The variables that carry a copy's index, in the order they are looked
/// at, with the variable that carries the count where the engine has one.
const ENGINES: &[(&str, Option<&str>)] = &[
    ("SLURM_ARRAY_TASK_ID", Some("SLURM_ARRAY_TASK_COUNT")),
    ("JOB_COMPLETION_INDEX", None),
    ("AWS_BATCH_JOB_ARRAY_INDEX", None),
    ("CLOUD_RUN_TASK_INDEX", Some("CLOUD_RUN_TASK_COUNT")),
];

/// The variable that gives the count where the engine does not (Kubernetes,
/// AWS Batch) or where a rerun of one index would give the wrong one (a
/// Slurm array resubmitted as `--array=2` counts 1 task).
pub const COUNT_VARIABLE: &str = "BATCHSCORE_SHARDS";

/// This process's shard: `--shard` when given, else the engine's index
/// variable with the count from `--shards`, `BATCHSCORE_SHARDS` or the
/// engine. `None`: not sharded. An engine count of 1 with nothing else set
/// is a job of one task (a Cloud Run job's default), not a shard.
pub fn resolve(
    flag: Option<ShardArg>,
    shards: Option<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<Shard>> {
    match flag {
        Some(ShardArg::Off) => return Ok(None),
        Some(ShardArg::On(s)) => {
            if let Some(n) = shards.filter(|n| *n != s.count) {
                return Err(failure(Kind::Usage, format!("--shard {s} and --shards {n} disagree")));
            }
            return Ok(Some(s));
        }
        None => {}
    }
    let number = |name: &str| -> anyhow::Result<Option<usize>> {
        match env(name).filter(|v| !v.trim().is_empty()) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| failure(Kind::Config, format!("{name}={v:?} is not a whole number"))),
        }
    };
    let Some((var, index, engine_count)) = ENGINES
        .iter()
        .map(|(var, count)| Ok((*var, number(var)?, count.map(number).transpose()?.flatten())))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .find_map(|(var, index, count)| Some((var, index?, count)))
    else {
        return match shards {
            Some(n) => Err(failure(
                Kind::Usage,
                format!(
                    "--shards {n} without an index: pass --shard INDEX/{n}, or run under an engine that sets one of {}",
                    ENGINES.iter().map(|e| e.0).collect::<Vec<_>>().join(", ")
                ),
            )),
            None => Ok(None),
        };
    };
    let explicit = match shards {
        Some(n) => Some(n),
        None => number(COUNT_VARIABLE)?,
    };
    let count = match (explicit, engine_count) {
        (Some(n), _) => n,
        (None, Some(1)) if index == 0 => return Ok(None),
        (None, Some(n)) => n,
        (None, None) => {
            return Err(failure(
                Kind::Config,
                format!(
                    "{var} is set ({index}) but not the number of shards: pass --shards N or set {COUNT_VARIABLE}=N (the Job's completions, the array's size)"
                ),
            ));
        }
    };
    Shard::new(index, count).map(Some).map_err(|e| failure(Kind::Config, format!("{var}={index}: {e:#}")))
}

/// A piece of the day's work no shard shares: a whole file, or a run of a
/// Parquet file's row groups (`rows`, 0-based, end excluded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Index into the day's file listing.
    pub file: usize,
    pub rows: Option<Range<u64>>,
}

/// The smallest unit a shard can take: a whole file (CSV, or a Parquet
/// file whose metadata was not split), or one Parquet row group.
#[derive(Clone, Debug)]
pub struct Unit {
    pub file: usize,
    pub rows: Option<Range<u64>>,
    /// Bytes, to balance the shards: the same rows cost about the same per byte.
    pub weight: u64,
}

/// The pieces of `shard`: the units, in listing order, cut into `count`
/// contiguous runs of about equal weight. A unit goes to the shard its
/// weight's midpoint falls in, so each unit has exactly one shard whatever
/// the count, and the split depends on nothing but the units. Adjacent
/// row groups of one file are merged into one piece.
pub fn pieces(units: &[Unit], shard: Shard) -> Vec<Piece> {
    let total: u128 = units.iter().map(|u| u.weight as u128).sum();
    let n = shard.count as u128;
    let mut before: u128 = 0;
    let mut out: Vec<Piece> = Vec::new();
    for (k, u) in units.iter().enumerate() {
        let owner = if total == 0 {
            // Nothing to weigh (empty files): by position.
            (k as u128 * n / units.len() as u128) as usize
        } else {
            // 2·before + weight over 2·total: the midpoint, in integers.
            ((2 * before + u.weight as u128) * n / (2 * total)).min(n - 1) as usize
        };
        before += u.weight as u128;
        if owner != shard.index {
            continue;
        }
        match (out.last_mut(), &u.rows) {
            (Some(Piece { file, rows: Some(r) }), Some(next)) if *file == u.file && r.end == next.start => {
                r.end = next.end;
            }
            _ => out.push(Piece { file: u.file, rows: u.rows.clone() }),
        }
    }
    out
}

/// Where a sharded date's parts go: the output's name without its
/// extension, as a directory (`scores-2026-11-23.parquet` →
/// `scores-2026-11-23/`), which Spark, polars, DuckDB and pyarrow read as one table.
pub fn output_dir(output: &Location) -> Location {
    let name = output.file_name();
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => &name,
    };
    output.with_file_name(stem)
}

/// The `_SUCCESS` manifest of a sharded date.
pub fn manifest_path(output: &Location) -> Location {
    output_dir(output).join("_SUCCESS")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_flag_wins_and_off_ignores_the_engine() {
        let slurm = env(&[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "4")]);
        let s = |i, n| Some(Shard { index: i, count: n });
        assert_eq!(resolve(Some("1/3".parse().unwrap()), None, &slurm).unwrap(), s(1, 3));
        assert_eq!(resolve(Some("off".parse().unwrap()), None, &slurm).unwrap(), None);
        assert_eq!(resolve(None, None, &slurm).unwrap(), s(2, 4));
        assert_eq!(resolve(None, None, &env(&[])).unwrap(), None);
    }

    #[test]
    fn each_engine_and_where_its_count_comes_from() {
        let s = |i, n| Some(Shard { index: i, count: n });
        // Kubernetes gives no count: --shards or BATCHSCORE_SHARDS.
        let k8s = env(&[("JOB_COMPLETION_INDEX", "3")]);
        let e = resolve(None, None, &k8s).unwrap_err();
        assert!(format!("{e:#}").contains("BATCHSCORE_SHARDS"), "{e:#}");
        assert_eq!(crate::error::kind_of(&e), Kind::Config);
        assert_eq!(resolve(None, Some(4), &k8s).unwrap(), s(3, 4));
        let k8s = env(&[("JOB_COMPLETION_INDEX", "3"), ("BATCHSCORE_SHARDS", "5")]);
        assert_eq!(resolve(None, None, &k8s).unwrap(), s(3, 5));
        let aws = env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "0"), ("BATCHSCORE_SHARDS", "2")]);
        assert_eq!(resolve(None, None, &aws).unwrap(), s(0, 2));
        // A Slurm array resubmitted for one index counts 1 task: BATCHSCORE_SHARDS wins.
        let rerun =
            env(&[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "1"), ("BATCHSCORE_SHARDS", "4")]);
        assert_eq!(resolve(None, None, &rerun).unwrap(), s(2, 4));
        let e = resolve(None, None, &env(&[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "1")]))
            .unwrap_err();
        assert!(format!("{e:#}").contains("out of range for 1 shards"), "{e:#}");
        // A Cloud Run job of one task is not sharded; of three, it is.
        let one = env(&[("CLOUD_RUN_TASK_INDEX", "0"), ("CLOUD_RUN_TASK_COUNT", "1")]);
        assert_eq!(resolve(None, None, &one).unwrap(), None);
        let three = env(&[("CLOUD_RUN_TASK_INDEX", "1"), ("CLOUD_RUN_TASK_COUNT", "3")]);
        assert_eq!(resolve(None, None, &three).unwrap(), s(1, 3));
    }

    #[test]
    fn bad_values_are_refused_with_their_name() {
        assert!("4/4".parse::<ShardArg>().unwrap_err().contains("out of range"));
        assert!("1-4".parse::<ShardArg>().unwrap_err().contains("INDEX/COUNT"));
        assert!("0/0".parse::<ShardArg>().is_err());
        let e = resolve(None, None, &env(&[("JOB_COMPLETION_INDEX", "x"), ("BATCHSCORE_SHARDS", "2")]))
            .unwrap_err();
        assert!(format!("{e:#}").contains("JOB_COMPLETION_INDEX=\"x\""), "{e:#}");
        let e = resolve(Some("1/3".parse().unwrap()), Some(4), &env(&[])).unwrap_err();
        assert!(format!("{e:#}").contains("disagree"), "{e:#}");
    }

    fn units(weights: &[(usize, Option<Range<u64>>, u64)]) -> Vec<Unit> {
        weights.iter().map(|(f, r, w)| Unit { file: *f, rows: r.clone(), weight: *w }).collect()
    }

    #[test]
    fn every_unit_has_exactly_one_shard_for_every_count() {
        let us = units(&[
            (0, None, 10),
            (1, Some(0..5), 7),
            (1, Some(5..9), 7),
            (1, Some(9..20), 9),
            (2, None, 0),
            (3, None, 100),
            (4, Some(0..3), 1),
        ]);
        for n in 1..=12 {
            let mut seen = vec![0; us.len()];
            for i in 0..n {
                for p in pieces(&us, Shard { index: i, count: n }) {
                    for (k, u) in us.iter().enumerate() {
                        let inside = u.file == p.file
                            && match (&u.rows, &p.rows) {
                                (None, None) => true,
                                (Some(a), Some(b)) => b.start <= a.start && a.end <= b.end,
                                _ => false,
                            };
                        seen[k] += inside as usize;
                    }
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "n = {n}: {seen:?}");
        }
    }

    #[test]
    fn the_split_balances_by_weight_and_merges_neighbouring_groups() {
        let us = units(&[
            (0, Some(0..10), 10),
            (0, Some(10..20), 10),
            (0, Some(20..30), 10),
            (0, Some(30..40), 10),
        ]);
        let two = |i| pieces(&us, Shard { index: i, count: 2 });
        assert_eq!(two(0), vec![Piece { file: 0, rows: Some(0..20) }]);
        assert_eq!(two(1), vec![Piece { file: 0, rows: Some(20..40) }]);
        // More shards than units: some shards get nothing, none gets twice.
        let seven: Vec<usize> = (0..7).map(|i| pieces(&us, Shard { index: i, count: 7 }).len()).collect();
        assert_eq!(seven.iter().sum::<usize>(), 4);
        // Empty files alone: split by position.
        let empty = units(&[(0, None, 0), (1, None, 0)]);
        assert_eq!(pieces(&empty, Shard { index: 1, count: 2 }), vec![Piece { file: 1, rows: None }]);
    }

    #[test]
    fn parts_and_their_directory() {
        let out = Location::Local("out/scores-2026-11-23.parquet".into());
        assert_eq!(output_dir(&out), Location::Local("out/scores-2026-11-23".into()));
        assert_eq!(Shard { index: 3, count: 16 }.part_name("parquet"), "part-00003-of-00016.parquet");
        assert_eq!(manifest_path(&out), Location::Local("out/scores-2026-11-23/_SUCCESS".into()));
        let s = Shard { index: 3, count: 16 };
        assert_eq!(Shard::of_part_name(&s.part_name("json"), "json"), Some(s));
        assert_eq!(Shard::of_part_name(&s.part_name("profile.json"), "json"), None);
        assert_eq!(Shard::of_part_name("part-3-of-16.json", "json"), None);
    }
}
