//! A run's profile: per feature and per score column, what the values looked like.
//!
//! Every field is a count, a min or a max, or a moment merged by Chan's
//! formula, so profiles of any split of the rows merge: the counts, the
//! histograms, the categories, min and max exactly (integers; a day scored
//! in shards gets the same numbers as in one go), mean and standard
//! deviation to rounding (~1e-12 relative). The drift checks read only the
//! exact parts. State per column is fixed-size: a histogram on the
//! reference's edges, the reference's categories, and five example names of
//! unseen categories, whatever the number of rows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::kernel::{self, Moments};
use crate::error::{Kind, ResultExt, failure};

pub const PROFILE_VERSION: u32 = 1;
/// A reference keeps at most this many categories per column (the most
/// frequent); the rest are counted together as `other`.
pub const TOP_CATEGORIES: usize = 50;
/// While a reference is built, distinct values counted per column before
/// new ones go straight to `other` (memory stays bounded on an id column).
const DISCOVERY_CAP: usize = 10_000;
/// Values sampled per numeric column to place a reference's quantile edges.
const SAMPLE: usize = 20_000;
/// Deciles: ten bins between the reference's min and max.
const BINS: usize = 10;
/// Unseen category names kept as examples (the smallest, so merging is exact).
const EXAMPLES: usize = 5;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Feature,
    Score,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Feature => "feature",
            Role::Score => "score",
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    pub profile_version: u32,
    pub job: String,
    /// The dates profiled (one for a run; several for a reference built from past days).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dates: Vec<NaiveDate>,
    /// The file profiled, for a reference built with `--input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<PathBuf>,
    /// Rows read (features are profiled over these; scores over the rows scored).
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ColumnProfile {
    pub name: String,
    pub role: Role,
    pub rows: u64,
    /// Missing values, and for numeric features values that did not parse as numbers.
    pub nulls: u64,
    pub nan: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric: Option<Numeric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categorical: Option<Categorical>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Numeric {
    /// Finite values: what min, max, mean and std describe.
    pub count: u64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    /// Sum of squared deviations from the mean, for merging.
    pub m2: f64,
    /// The reference's min, deciles and max (duplicates removed).
    pub edges: Vec<f64>,
    /// Below the first edge, one per bin, above the last edge.
    pub counts: Vec<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Categorical {
    pub categories: Vec<String>,
    pub counts: Vec<u64>,
    /// Values not in `categories`.
    pub other: u64,
    /// The reference listed every category it saw, so a value in `other`
    /// is one it never saw; otherwise (more than the top categories) it
    /// may just be a rare one.
    pub complete: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unseen_examples: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl Numeric {
    pub fn moments(&self) -> Moments {
        match (self.min, self.max, self.mean) {
            (Some(min), Some(max), Some(mean)) if self.count > 0 => {
                Moments { count: self.count, mean, m2: self.m2, min, max }
            }
            _ => Moments::default(),
        }
    }

    fn set_moments(&mut self, m: &Moments) {
        self.count = m.count;
        self.m2 = m.m2;
        let some = |v: f64| (m.count > 0).then_some(v);
        self.min = some(m.min);
        self.max = some(m.max);
        self.mean = some(m.mean);
        self.std = some(m.std());
    }

    /// Values in the histogram (not NaN, not null).
    pub fn valid(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Values below the reference's min or above its max.
    pub fn out_of_range(&self) -> u64 {
        match (self.counts.first(), self.counts.last()) {
            (Some(a), Some(b)) if self.counts.len() > 1 => a + b,
            _ => 0,
        }
    }
}

impl Categorical {
    fn new(categories: Vec<String>, complete: bool) -> Categorical {
        let mut c = Categorical {
            counts: vec![0; categories.len()],
            categories,
            other: 0,
            complete,
            unseen_examples: vec![],
            index: HashMap::new(),
        };
        c.reindex();
        c
    }

    fn reindex(&mut self) {
        self.index = self.categories.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
    }

    pub fn valid(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.other
    }

    fn add(&mut self, value: &str, n: u64) {
        if self.index.len() != self.categories.len() {
            self.reindex();
        }
        match self.index.get(value) {
            Some(&i) => self.counts[i] += n,
            None => {
                self.other += n;
                if self.complete {
                    add_example(&mut self.unseen_examples, value);
                }
            }
        }
    }
}

/// Keeps the `EXAMPLES` smallest names: the same whatever order shards merge in.
fn add_example(examples: &mut Vec<String>, value: &str) {
    if examples.iter().any(|e| e == value) {
        return;
    }
    if examples.len() == EXAMPLES && examples.last().is_some_and(|l| l.as_str() <= value) {
        return;
    }
    let at = examples.partition_point(|e| e.as_str() < value);
    examples.insert(at, value.to_owned());
    examples.truncate(EXAMPLES);
}

impl ColumnProfile {
    pub fn is_numeric(&self) -> bool {
        self.numeric.is_some()
    }

    /// Nulls and NaN, as a share of rows.
    pub fn missing_rate(&self) -> f64 {
        if self.rows == 0 { 0.0 } else { (self.nulls + self.nan) as f64 / self.rows as f64 }
    }

    /// A zero profile with the same edges or categories.
    fn empty_like(&self) -> ColumnProfile {
        ColumnProfile {
            name: self.name.clone(),
            role: self.role,
            rows: 0,
            nulls: 0,
            nan: 0,
            numeric: self.numeric.as_ref().map(|n| Numeric {
                count: 0,
                min: None,
                max: None,
                mean: None,
                std: None,
                m2: 0.0,
                edges: n.edges.clone(),
                counts: vec![0; n.counts.len()],
            }),
            categorical: self
                .categorical
                .as_ref()
                .map(|c| Categorical::new(c.categories.clone(), c.complete)),
        }
    }

    /// Adds one chunk of this column. `s` is the column as read (or as
    /// converted, for text read for a numeric input).
    pub fn add(&mut self, s: &Series) -> anyhow::Result<()> {
        self.rows += s.len() as u64;
        self.nulls += s.null_count() as u64;
        if let Some(n) = &mut self.numeric {
            let shift = n.mean.unwrap_or(f64::NAN);
            let mut chunk = Moments::default();
            let mut nan = 0;
            let mut take = |scan: kernel::Scan| {
                chunk.merge(&scan.moments);
                nan += scan.nan;
            };
            match s.dtype() {
                DataType::Float64 => scan_chunks(s.f64()?, shift, &n.edges, &mut n.counts, &mut take),
                DataType::Float32 => scan_chunks(s.f32()?, shift, &n.edges, &mut n.counts, &mut take),
                _ => {
                    let cast = s.cast(&DataType::Float64)?;
                    scan_chunks(cast.f64()?, shift, &n.edges, &mut n.counts, &mut take)
                }
            }
            let mut m = n.moments();
            m.merge(&chunk);
            n.set_moments(&m);
            self.nan += nan;
        } else if let Some(c) = &mut self.categorical {
            count_categories(s, &mut |v, k| c.add(v, k))?;
        }
        Ok(())
    }

    /// Adds another profile of the same column (same edges or categories).
    pub fn merge(&mut self, o: &ColumnProfile) -> anyhow::Result<()> {
        if o.name != self.name || o.role != self.role {
            anyhow::bail!("column {:?} cannot merge with column {:?}", self.name, o.name);
        }
        self.rows += o.rows;
        self.nulls += o.nulls;
        self.nan += o.nan;
        match (&mut self.numeric, &o.numeric, &mut self.categorical, &o.categorical) {
            (Some(a), Some(b), None, None) if a.edges == b.edges && a.counts.len() == b.counts.len() => {
                let mut m = a.moments();
                m.merge(&b.moments());
                a.set_moments(&m);
                a.counts.iter_mut().zip(&b.counts).for_each(|(x, y)| *x += y);
            }
            (None, None, Some(a), Some(b)) if a.categories == b.categories && a.complete == b.complete => {
                a.counts.iter_mut().zip(&b.counts).for_each(|(x, y)| *x += y);
                a.other += b.other;
                for e in &b.unseen_examples {
                    add_example(&mut a.unseen_examples, e);
                }
            }
            _ => anyhow::bail!(
                "column {:?}: the profiles have different bin edges or categories (built against different references)",
                self.name
            ),
        }
        Ok(())
    }
}

fn scan_chunks<T>(
    ca: &ChunkedArray<T>,
    shift: f64,
    edges: &[f64],
    counts: &mut [u64],
    take: &mut dyn FnMut(kernel::Scan),
) where
    T: PolarsNumericType,
    T::Native: kernel::Value,
{
    for arr in ca.downcast_iter() {
        take(if arr.validity().is_none_or(|v| v.unset_bits() == 0) {
            kernel::scan(arr.values().as_slice(), shift, edges, counts)
        } else {
            // A null's slot holds an arbitrary value: only the valid ones are scanned.
            let valid: Vec<T::Native> = arr.iter().flatten().copied().collect();
            kernel::scan(&valid, shift, edges, counts)
        });
    }
}

/// Counts distinct values. Most categorical columns (class labels, a
/// region) have a handful: those are found by a scan of a short list,
/// several times cheaper per row than hashing; the rest go to a map.
struct Tally<K> {
    few: Vec<(K, u64)>,
    many: HashMap<K, u64>,
}

impl<K: Eq + std::hash::Hash + Copy> Tally<K> {
    const FEW: usize = 16;

    fn new() -> Tally<K> {
        Tally { few: Vec::with_capacity(Self::FEW), many: HashMap::new() }
    }

    fn add(&mut self, k: K) {
        if let Some(e) = self.few.iter_mut().find(|e| e.0 == k) {
            e.1 += 1;
        } else if self.few.len() < Self::FEW {
            self.few.push((k, 1));
        } else {
            *self.many.entry(k).or_default() += 1;
        }
    }

    fn each(self, f: &mut dyn FnMut(K, u64)) {
        self.few.into_iter().chain(self.many).for_each(|(k, n)| f(k, n));
    }
}

/// Calls `f(value, count)` once per distinct value of the chunk (nulls left out).
fn count_categories(s: &Series, f: &mut dyn FnMut(&str, u64)) -> anyhow::Result<()> {
    if s.dtype().is_integer() {
        // Class labels: counted as numbers, named once per chunk.
        let ints = s.cast(&DataType::Int64)?;
        let mut t = Tally::new();
        for arr in ints.i64()?.downcast_iter() {
            if arr.validity().is_none_or(|v| v.unset_bits() == 0) {
                arr.values().iter().for_each(|&v| t.add(v));
            } else {
                arr.iter().flatten().for_each(|&v| t.add(v));
            }
        }
        t.each(&mut |v, n| f(&v.to_string(), n));
        return Ok(());
    }
    let text = if s.dtype().is_string() { s.clone() } else { s.cast(&DataType::String)? };
    let mut t = Tally::new();
    text.str()?.iter().flatten().for_each(|v| t.add(v));
    t.each(&mut |v, n| f(v, n));
    Ok(())
}

impl Profile {
    /// A zero profile on the same edges and categories as `reference`.
    pub fn empty_like(reference: &Profile, job: &str, dates: Vec<NaiveDate>) -> Profile {
        Profile {
            profile_version: PROFILE_VERSION,
            job: job.to_owned(),
            dates,
            input: None,
            rows: 0,
            columns: reference.columns.iter().map(ColumnProfile::empty_like).collect(),
        }
    }

    pub fn column(&self, name: &str, role: Role) -> Option<&ColumnProfile> {
        self.columns.iter().find(|c| c.name == name && c.role == role)
    }

    /// Adds a profile of other rows (another shard or chunk of the same
    /// day, or another day for a reference) built on the same reference.
    pub fn merge(&mut self, o: &Profile) -> anyhow::Result<()> {
        if self.columns.len() != o.columns.len() {
            anyhow::bail!("the profiles have different columns");
        }
        for (a, b) in self.columns.iter_mut().zip(&o.columns) {
            a.merge(b)?;
        }
        self.rows += o.rows;
        for d in &o.dates {
            if !self.dates.contains(d) {
                self.dates.push(*d);
            }
        }
        self.dates.sort();
        Ok(())
    }

    pub fn load(path: &Path) -> anyhow::Result<Profile> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound { Kind::Config } else { Kind::Io };
            failure(kind, format!("cannot read profile {}: {e}", path.display()))
        })?;
        Self::parse(&text, path)
    }

    /// A profile from a file or an object (a shard's, in a bucket).
    pub fn load_from(path: &crate::storage::Location) -> anyhow::Result<Profile> {
        let url = match path {
            crate::storage::Location::Local(p) => return Self::load(p),
            crate::storage::Location::Object(u) => u,
        };
        let bytes = crate::storage::get(url, crate::storage::Op::Read)?
            .ok_or_else(|| failure(Kind::Io, format!("profile {url} is gone")))?;
        Self::parse(&String::from_utf8_lossy(&bytes), Path::new(&url.to_string()))
    }

    fn parse(text: &str, path: &Path) -> anyhow::Result<Profile> {
        let mut p: Profile = serde_json::from_str(text)
            .with_kind(Kind::Config, || format!("{} is not a batchscore profile", path.display()))?;
        if p.profile_version != PROFILE_VERSION {
            return Err(failure(
                Kind::Config,
                format!(
                    "{}: profile_version {} (this batchscore reads {PROFILE_VERSION}); rebuild it with `batchscore profile`",
                    path.display(),
                    p.profile_version
                ),
            ));
        }
        for c in &mut p.columns {
            if let Some(n) = &c.numeric
                && n.counts.len() != kernel::bins(n.edges.len())
            {
                return Err(failure(
                    Kind::Config,
                    format!(
                        "{}: column {:?}: {} edges but {} counts",
                        path.display(),
                        c.name,
                        n.edges.len(),
                        n.counts.len()
                    ),
                ));
            }
            if let Some(cat) = &mut c.categorical {
                if cat.counts.len() != cat.categories.len() {
                    return Err(failure(
                        Kind::Config,
                        format!(
                            "{}: column {:?}: categories and counts differ in length",
                            path.display(),
                            c.name
                        ),
                    ));
                }
                cat.reindex();
            }
        }
        Ok(p)
    }

    pub fn save(&self, path: &crate::storage::Location) -> anyhow::Result<()> {
        let mut json = serde_json::to_vec_pretty(self).with_kind(Kind::Internal, || "encoding a profile")?;
        json.push(b'\n');
        crate::output::write_atomic(path, &json)
            .map_err(|e| e.context(format!("writing profile {}", path.display())))
    }
}

/// The first pass of building a reference: a sample of each numeric column
/// (for the quantile edges) and the categories of the others, in bounded memory.
#[derive(Clone)]
pub struct Sampler {
    columns: Vec<(String, Role, Sample)>,
}

#[derive(Clone)]
enum Sample {
    Numeric { reservoir: Vec<f64>, seen: u64, rng: u64, min: f64, max: f64 },
    Categorical { counts: HashMap<String, u64>, overflow: u64 },
}

impl Sampler {
    /// `columns`: name, role, and whether the column is numeric.
    pub fn new(columns: &[(String, Role, bool)]) -> Sampler {
        Sampler {
            columns: columns
                .iter()
                .enumerate()
                .map(|(i, (name, role, numeric))| {
                    let sample = if *numeric {
                        Sample::Numeric {
                            reservoir: Vec::new(),
                            seen: 0,
                            rng: 0x9E37_79B9_7F4A_7C15 ^ i as u64,
                            min: f64::INFINITY,
                            max: f64::NEG_INFINITY,
                        }
                    } else {
                        Sample::Categorical { counts: HashMap::new(), overflow: 0 }
                    };
                    (name.clone(), *role, sample)
                })
                .collect(),
        }
    }

    pub fn add(&mut self, ix: usize, s: &Series) -> anyhow::Result<()> {
        let Some((_, _, sample)) = self.columns.get_mut(ix) else { return Ok(()) };
        match sample {
            Sample::Numeric { reservoir, seen, rng, min, max } => {
                let cast = s.cast(&DataType::Float64)?;
                for v in cast.f64()?.iter().flatten().filter(|v| v.is_finite()) {
                    *min = min.min(v);
                    *max = max.max(v);
                    *seen += 1;
                    // Algorithm R: every value has the same chance to be in the sample.
                    if reservoir.len() < SAMPLE {
                        reservoir.push(v);
                    } else {
                        let j = splitmix(rng) % *seen;
                        if let Some(slot) = reservoir.get_mut(j as usize) {
                            *slot = v;
                        }
                    }
                }
            }
            Sample::Categorical { counts, overflow } => {
                count_categories(s, &mut |v, n| {
                    if let Some(c) = counts.get_mut(v) {
                        *c += n;
                    } else if counts.len() < DISCOVERY_CAP {
                        counts.insert(v.to_owned(), n);
                    } else {
                        *overflow += n;
                    }
                })?;
            }
        }
        Ok(())
    }

    /// The empty profile whose edges and categories the second pass fills.
    pub fn finish(self, job: &str) -> Profile {
        let columns = self
            .columns
            .into_iter()
            .map(|(name, role, sample)| {
                let (numeric, categorical) = match sample {
                    Sample::Numeric { mut reservoir, min, max, .. } => {
                        let edges = quantile_edges(&mut reservoir, min, max);
                        let counts = vec![0; kernel::bins(edges.len())];
                        let n = Numeric {
                            count: 0,
                            min: None,
                            max: None,
                            mean: None,
                            std: None,
                            m2: 0.0,
                            edges,
                            counts,
                        };
                        (Some(n), None)
                    }
                    Sample::Categorical { counts, overflow } => {
                        let mut all: Vec<(String, u64)> = counts.into_iter().collect();
                        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                        let complete = overflow == 0 && all.len() <= TOP_CATEGORIES;
                        all.truncate(TOP_CATEGORIES);
                        let mut names: Vec<String> = all.into_iter().map(|(n, _)| n).collect();
                        names.sort();
                        (None, Some(Categorical::new(names, complete)))
                    }
                };
                ColumnProfile { name, role, rows: 0, nulls: 0, nan: 0, numeric, categorical }
            })
            .collect();
        Profile {
            profile_version: PROFILE_VERSION,
            job: job.to_owned(),
            dates: vec![],
            input: None,
            rows: 0,
            columns,
        }
    }
}

/// min, the deciles of the sample, max; repeated values once (a column
/// with few distinct values gets fewer, wider bins).
fn quantile_edges(sample: &mut [f64], min: f64, max: f64) -> Vec<f64> {
    if sample.is_empty() || !min.is_finite() || !max.is_finite() {
        return vec![];
    }
    sample.sort_by(f64::total_cmp);
    let mut edges = vec![min];
    for k in 1..BINS {
        let at = (k * (sample.len() - 1)) / BINS;
        edges.push(sample[at]);
    }
    edges.push(max);
    // The sample never leaves [min, max], but keep the edges sorted whatever happens.
    edges.sort_by(f64::total_cmp);
    edges.dedup();
    let mut edges = float32_edges(&edges).unwrap_or(edges);
    edges.dedup();
    edges
}

/// The edges as float32 values, the first rounded down and the last up so
/// the reference's whole range stays inside, the others to the nearest:
/// the kernel then compares float64 values with them sixteen at a time
/// rather than eight. `None` when they do not fit in float32's range.
fn float32_edges(edges: &[f64]) -> Option<Vec<f64>> {
    // One edge is a bin [e, e]: moved, it would no longer hold e.
    if edges.len() < 2 {
        return None;
    }
    let (&first, &last) = (edges.first()?, edges.last()?);
    let down = {
        let f = first as f32;
        if f64::from(f) > first { f.next_down() } else { f }
    };
    let up = {
        let f = last as f32;
        if f64::from(f) < last { f.next_up() } else { f }
    };
    if !(down.is_finite() && up.is_finite()) {
        return None;
    }
    let inner = edges[1..edges.len() - 1].iter().map(|&e| f64::from(e as f32));
    Some(std::iter::once(f64::from(down)).chain(inner).chain([f64::from(up)]).collect())
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> Profile {
        let mut s = Sampler::new(&[("x".into(), Role::Feature, true), ("c".into(), Role::Feature, false)]);
        let x: Vec<f64> = (0..1000).map(|i| (i % 100) as f64).collect();
        s.add(0, &Series::new("x".into(), x)).unwrap();
        s.add(1, &Series::new("c".into(), ["a", "b", "b", "c"])).unwrap();
        s.finish("t")
    }

    fn day(rows: &[(Option<f64>, Option<&str>)]) -> (Series, Series) {
        let x: Vec<Option<f64>> = rows.iter().map(|r| r.0).collect();
        let c: Vec<Option<&str>> = rows.iter().map(|r| r.1).collect();
        (Series::new("x".into(), x), Series::new("c".into(), c))
    }

    fn rows(n: usize) -> Vec<(Option<f64>, Option<&'static str>)> {
        (0..n)
            .map(|i| {
                let x = match i % 17 {
                    0 => None,
                    1 => Some(f64::NAN),
                    2 => Some(500.0),
                    _ => Some((i * 37 % 120) as f64 - 10.0),
                };
                let c = ["a", "b", "zz", "q", "a"][i % 5];
                (x, (i % 13 != 0).then_some(c))
            })
            .collect()
    }

    fn profile(rows: &[(Option<f64>, Option<&str>)], chunk: usize) -> Profile {
        let r = reference();
        let mut p = Profile::empty_like(&r, "t", vec![]);
        for part in rows.chunks(chunk) {
            let (x, c) = day(part);
            p.rows += part.len() as u64;
            p.columns[0].add(&x).unwrap();
            p.columns[1].add(&c).unwrap();
        }
        p
    }

    #[test]
    fn reference_edges_are_min_deciles_max() {
        let r = reference();
        let n = r.columns[0].numeric.as_ref().unwrap();
        assert_eq!(n.edges.first(), Some(&0.0));
        assert_eq!(n.edges.last(), Some(&99.0));
        assert_eq!(n.edges.len(), 11);
        let c = r.columns[1].categorical.as_ref().unwrap();
        assert_eq!(c.categories, ["a", "b", "c"]);
        assert!(c.complete);
    }

    #[test]
    fn edges_are_float32_values_around_the_range() {
        let (min, max) = (0.1f64, 0.7f64);
        let mut sample: Vec<f64> = (0..1000).map(|i| min + (max - min) * i as f64 / 999.0).collect();
        let edges = quantile_edges(&mut sample, min, max);
        assert_eq!(edges.len(), 11);
        assert!(edges.iter().all(|&e| f64::from(e as f32) == e), "{edges:?}");
        assert!(edges[0] <= min && edges[0] > min - 1e-8, "{edges:?}");
        assert!(edges[10] >= max && edges[10] < max + 1e-7, "{edges:?}");
        assert!(edges.windows(2).all(|w| w[0] < w[1]), "{edges:?}");
        // Beyond float32's range, or a single value: kept as they are.
        let mut huge = vec![-1e300, 0.0, 1e300];
        assert_eq!(quantile_edges(&mut huge, -1e300, 1e300)[0], -1e300);
        assert_eq!(quantile_edges(&mut [0.1], 0.1, 0.1), vec![0.1]);
    }

    #[test]
    fn shards_merge_to_the_whole_day() {
        let all = rows(5000);
        let whole = profile(&all, 5000);
        for (split, chunk) in [(1234, 100), (1, 7), (4999, 333)] {
            let mut merged = profile(&all[..split], chunk);
            merged.merge(&profile(&all[split..], chunk + 1)).unwrap();
            for (a, b) in merged.columns.iter().zip(&whole.columns) {
                assert_eq!((a.rows, a.nulls, a.nan), (b.rows, b.nulls, b.nan), "{}", a.name);
                if let (Some(x), Some(y)) = (&a.numeric, &b.numeric) {
                    assert_eq!(x.counts, y.counts);
                    assert_eq!((x.count, x.min, x.max), (y.count, y.min, y.max));
                    let (ma, mb) = (x.mean.unwrap(), y.mean.unwrap());
                    assert!((ma - mb).abs() <= 1e-12 * mb.abs().max(1.0), "{ma} {mb}");
                    let (sa, sb) = (x.std.unwrap(), y.std.unwrap());
                    assert!((sa - sb).abs() <= 1e-12 * sb.abs().max(1.0), "{sa} {sb}");
                }
                assert_eq!(a.categorical, b.categorical);
            }
        }
        let x = whole.columns[0].numeric.as_ref().unwrap();
        assert_eq!(whole.columns[0].nulls, 295);
        assert_eq!(whole.columns[0].nan, 295);
        // Out of range: below 0 (-10..-1) and above 99 (100..109 and 500).
        assert!(x.out_of_range() > 294);
        let c = whole.columns[1].categorical.as_ref().unwrap();
        assert_eq!(c.unseen_examples, ["q", "zz"]);
    }

    #[test]
    fn a_profile_round_trips_through_json() {
        let p = profile(&rows(300), 64);
        let text = serde_json::to_string(&p).unwrap();
        let back: Profile = serde_json::from_str(&text).unwrap();
        let mut back = back;
        back.columns[1].categorical.as_mut().unwrap().reindex();
        assert_eq!(back, p);
    }

    #[test]
    fn examples_keep_the_smallest_names() {
        let mut e = vec![];
        for v in ["m", "b", "z", "a", "q", "c", "b", "y"] {
            add_example(&mut e, v);
        }
        assert_eq!(e, ["a", "b", "c", "m", "q"]);
    }
}
