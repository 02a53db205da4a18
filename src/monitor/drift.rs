//! A run's profile against the reference: PSI and the quality checks.
//!
//! Every check reads only the exact parts of the profiles (counts and
//! histograms), so the verdict on a day is the same however it was split.

use serde::{Deserialize, Serialize};

use super::profile::{ColumnProfile, Profile, Role};

/// A share below this is taken as this in PSI: an empty bin on one side
/// would otherwise make it infinite. (1e-4: one row in ten thousand.)
const PSI_FLOOR: f64 = 1e-4;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Thresholds {
    pub psi_moderate: f64,
    pub psi_significant: f64,
    pub max_null_rate_increase: f64,
    pub max_out_of_range: f64,
    pub max_unseen: f64,
    pub max_class_share_change: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            psi_moderate: 0.1,
            psi_significant: 0.25,
            max_null_rate_increase: 0.02,
            max_out_of_range: 0.01,
            max_unseen: 0.01,
            max_class_share_change: 0.1,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Alert,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Alert => "alert",
        })
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Stable,
    Moderate,
    Significant,
}

/// One column against the reference.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ColumnDrift {
    pub column: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<Band>,
    /// Nulls and NaN as a share of rows, today and in the reference.
    pub null_rate: f64,
    pub reference_null_rate: f64,
    /// Share of values below the reference's min or above its max (numeric columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_range: Option<f64>,
    /// Share of values in categories the reference never saw (categorical columns
    /// whose reference lists every category).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unseen: Option<f64>,
    /// Largest change in a class's share of rows, in share points (categorical scores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_share_change: Option<f64>,
    pub level: Level,
}

/// A check that fired.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Check {
    /// psi | null_rate | out_of_range | unseen | class_share
    pub check: String,
    pub column: String,
    pub role: Role,
    pub level: Level,
    pub value: f64,
    pub threshold: f64,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drift {
    /// Alerts first, then warnings; within a level, the larger excess first.
    pub checks: Vec<Check>,
    /// Highest PSI first.
    pub columns: Vec<ColumnDrift>,
}

impl Drift {
    pub fn level(&self) -> Level {
        self.checks.iter().map(|c| c.level).max().unwrap_or(Level::Ok)
    }
}

/// Population stability index of `run` against `reference` (bin counts).
pub fn psi(run: &[u64], reference: &[u64]) -> Option<f64> {
    let (na, nb) = (run.iter().sum::<u64>(), reference.iter().sum::<u64>());
    if na == 0 || nb == 0 || run.len() != reference.len() {
        return None;
    }
    Some(
        run.iter()
            .zip(reference)
            .map(|(&a, &b)| {
                let p = (a as f64 / na as f64).max(PSI_FLOOR);
                let q = (b as f64 / nb as f64).max(PSI_FLOOR);
                (p - q) * (p / q).ln()
            })
            .sum::<f64>()
            .max(0.0),
    )
}

fn band(psi: f64, t: &Thresholds) -> Band {
    if psi > t.psi_significant {
        Band::Significant
    } else if psi >= t.psi_moderate {
        Band::Moderate
    } else {
        Band::Stable
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Compares every column of `run` with the same column of `reference`.
pub fn compare(run: &Profile, reference: &Profile, t: &Thresholds) -> Drift {
    let mut drift = Drift::default();
    for r in &run.columns {
        let Some(base) = reference.column(&r.name, r.role) else { continue };
        let (col, checks) = column(r, base, t);
        drift.columns.push(col);
        drift.checks.extend(checks);
    }
    drift.columns.sort_by(|a, b| b.psi.unwrap_or(-1.0).total_cmp(&a.psi.unwrap_or(-1.0)));
    drift.checks.sort_by(|a, b| {
        b.level.cmp(&a.level).then_with(|| (b.value / b.threshold).total_cmp(&(a.value / a.threshold)))
    });
    drift
}

fn column(r: &ColumnProfile, base: &ColumnProfile, t: &Thresholds) -> (ColumnDrift, Vec<Check>) {
    let name = &r.name;
    let mut checks = Vec::new();
    let mut fire = |check: &str, level: Level, value: f64, threshold: f64, message: String| {
        checks.push(Check {
            check: check.into(),
            column: name.clone(),
            role: r.role,
            level,
            value,
            threshold,
            message,
        })
    };
    let mut d = ColumnDrift {
        column: name.clone(),
        role: r.role,
        psi: None,
        band: None,
        null_rate: r.missing_rate(),
        reference_null_rate: base.missing_rate(),
        out_of_range: None,
        unseen: None,
        class_share_change: None,
        level: Level::Ok,
    };
    match (&r.numeric, &base.numeric, &r.categorical, &base.categorical) {
        // A profile made against another reference (older edges) is not comparable.
        (Some(a), Some(b), _, _) if a.edges != b.edges => {}
        (_, _, Some(a), Some(b)) if a.categories != b.categories => {}
        (Some(a), Some(b), _, _) => {
            d.psi = psi(&a.counts, &b.counts);
            let valid = a.valid();
            if valid > 0 && a.counts.len() > 1 {
                let share = a.out_of_range() as f64 / valid as f64;
                d.out_of_range = Some(share);
                if share > t.max_out_of_range {
                    let range = match (b.edges.first(), b.edges.last()) {
                        (Some(lo), Some(hi)) => format!(" [{}, {}]", short(*lo), short(*hi)),
                        _ => String::new(),
                    };
                    let now = match (a.min, a.max) {
                        (Some(lo), Some(hi)) => format!("; today [{}, {}]", short(lo), short(hi)),
                        _ => String::new(),
                    };
                    fire(
                        "out_of_range",
                        Level::Alert,
                        share,
                        t.max_out_of_range,
                        format!(
                            "{name:?}: {} of values outside the reference range{range}{now} (more than {} allowed)",
                            pct(share),
                            pct(t.max_out_of_range)
                        ),
                    );
                }
            }
        }
        (_, _, Some(a), Some(b)) => {
            let with_other = |c: &super::profile::Categorical| {
                let mut v = c.counts.clone();
                v.push(c.other);
                v
            };
            let (ra, rb) = (with_other(a), with_other(b));
            d.psi = psi(&ra, &rb);
            let valid = a.valid();
            if valid > 0 && b.complete {
                let share = a.other as f64 / valid as f64;
                d.unseen = Some(share);
                if share > t.max_unseen {
                    let eg = if a.unseen_examples.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (e.g. {})",
                            a.unseen_examples.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>().join(", ")
                        )
                    };
                    fire(
                        "unseen",
                        Level::Alert,
                        share,
                        t.max_unseen,
                        format!(
                            "{name:?}: {} of values in categories the reference never saw{eg} (more than {} allowed)",
                            pct(share),
                            pct(t.max_unseen)
                        ),
                    );
                }
            }
            let (na, nb) = (valid, b.valid());
            if r.role == Role::Score && na > 0 && nb > 0 {
                let mut worst: Option<(usize, f64)> = None;
                for (i, (&x, &y)) in ra.iter().zip(&rb).enumerate() {
                    let change = x as f64 / na as f64 - y as f64 / nb as f64;
                    if worst.is_none_or(|(_, w)| change.abs() > w.abs()) {
                        worst = Some((i, change));
                    }
                }
                if let Some((i, change)) = worst {
                    d.class_share_change = Some(change.abs());
                    if change.abs() > t.max_class_share_change {
                        let class = a.categories.get(i).map_or("(other)".to_owned(), |c| format!("{c:?}"));
                        let today = ra[i] as f64 / na as f64;
                        fire(
                            "class_share",
                            Level::Alert,
                            change.abs(),
                            t.max_class_share_change,
                            format!(
                                "{name:?}: class {class} is {} of rows, reference {} (a change of more than {} points)",
                                pct(today),
                                pct(today - change),
                                pct(t.max_class_share_change).trim_end_matches('%')
                            ),
                        );
                    }
                }
            }
        }
        _ => {}
    }
    if let Some(p) = d.psi {
        let b = band(p, t);
        d.band = Some(b);
        let what = if r.role == Role::Score { "score distribution" } else { "distribution" };
        match b {
            Band::Significant => fire(
                "psi",
                Level::Alert,
                p,
                t.psi_significant,
                format!("{name:?}: PSI {p:.3}, significant drift of the {what} (> {})", t.psi_significant),
            ),
            Band::Moderate => fire(
                "psi",
                Level::Warning,
                p,
                t.psi_moderate,
                format!("{name:?}: PSI {p:.3}, moderate drift of the {what} (≥ {})", t.psi_moderate),
            ),
            Band::Stable => {}
        }
    }
    let rise = d.null_rate - d.reference_null_rate;
    if rise > t.max_null_rate_increase {
        fire(
            "null_rate",
            Level::Alert,
            rise,
            t.max_null_rate_increase,
            format!(
                "{name:?}: {} of values missing (null or NaN), reference {} (up more than {} points)",
                pct(d.null_rate),
                pct(d.reference_null_rate),
                pct(t.max_null_rate_increase).trim_end_matches('%')
            ),
        );
    }
    d.level = checks.iter().map(|c| c.level).max().unwrap_or(Level::Ok);
    (d, checks)
}

/// A number short enough for a message.
pub fn short(x: f64) -> String {
    if x == 0.0 || (x.abs() >= 1e-3 && x.abs() < 1e6) {
        let s = format!("{x:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" { "0".into() } else { s.into() }
    } else {
        format!("{x:.3e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_of_identical_shares_is_zero_and_grows_with_the_shift() {
        assert_eq!(psi(&[10, 20, 30], &[1, 2, 3]), Some(0.0));
        let small = psi(&[11, 20, 29], &[10, 20, 30]).unwrap();
        let large = psi(&[50, 5, 5], &[10, 20, 30]).unwrap();
        assert!(small < 0.01 && large > 0.25, "{small} {large}");
        assert_eq!(psi(&[0, 0], &[1, 1]), None);
        // Textbook: 0.5/0.5 vs 0.9/0.1 → 0.4·ln(0.9/0.5)·... = 0.879
        let p = psi(&[9, 1], &[5, 5]).unwrap();
        assert!((p - (0.4 * (0.9f64 / 0.5).ln() + 0.4 * (0.5f64 / 0.1).ln())).abs() < 1e-12);
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(short(12.5), "12.5");
        assert_eq!(short(0.0), "0");
        assert_eq!(short(1234.56789), "1234.5679");
        assert_eq!(short(1e-7), "1.000e-7");
    }
}
