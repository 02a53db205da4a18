//! The arithmetic of a numeric column's profile, over one chunk's values.
//!
//! This file uses nothing from the crate, so it can be timed alone
//! (`rustc -O --test --edition 2024 src/monitor/kernel.rs -o /tmp/kernel &&
//! /tmp/kernel --ignored --nocapture timing`): it is the only part of monitoring
//! that touches every value, and it must stay a small fraction of a run.
//! Everything is written as fixed-width lanes over blocks that fit in L1,
//! so the compiler vectorises it; there are no branches on the data.

/// A column's element type, as the kernel reads it.
pub trait Value: Copy {
    fn f(self) -> f64;

    /// Values below `e`.
    fn count_below(xs: &[Self], e: f64) -> u64 {
        // u64 counts: a comparison's 64-bit mask is added as it is, no packing.
        xs.iter().map(|&x| u64::from(x.f() < e)).sum()
    }

    /// Values at or below `e`.
    fn count_at_or_below(xs: &[Self], e: f64) -> u64 {
        xs.iter().map(|&x| u64::from(x.f() <= e)).sum()
    }
}

impl Value for f64 {
    #[inline(always)]
    fn f(self) -> f64 {
        self
    }
}

/// Float32 columns (CSV read for a float32 model) compare in float32,
/// twice the values per instruction, against the edge rounded so that the
/// answer is the float64 one: for a float32 `x`, `x < e` exactly when `x`
/// is below the smallest float32 at or above `e`, and `x <= e` exactly when
/// `x` is at or below the largest float32 at or below `e`.
impl Value for f32 {
    #[inline(always)]
    fn f(self) -> f64 {
        f64::from(self)
    }

    fn count_below(xs: &[Self], e: f64) -> u64 {
        let up = e as f32;
        let up = if f64::from(up) < e { up.next_up() } else { up };
        xs.iter().map(|&x| u32::from(x < up)).sum::<u32>() as u64
    }

    fn count_at_or_below(xs: &[Self], e: f64) -> u64 {
        let down = e as f32;
        let down = if f64::from(down) > e { down.next_down() } else { down };
        xs.iter().map(|&x| u32::from(x <= down)).sum::<u32>() as u64
    }
}

/// Values per block: a block is scanned once per edge, so it should stay in L1.
const BLOCK: usize = 1024;
const LANES: usize = 8;

/// Count, mean and sum of squared deviations (M2) of the finite values,
/// with their min and max. Two of these merge by Chan et al.'s formula.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    pub count: u64,
    pub mean: f64,
    pub m2: f64,
    pub min: f64,
    pub max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments { count: 0, mean: 0.0, m2: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

impl Moments {
    /// Chan, Golub and LeVeque's pairwise update: exact in real arithmetic,
    /// and stable in floating point (no large sums of squares cancelling).
    pub fn merge(&mut self, o: &Moments) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *o;
            return;
        }
        let (na, nb) = (self.count as f64, o.count as f64);
        let n = na + nb;
        let delta = o.mean - self.mean;
        self.mean += delta * nb / n;
        self.m2 += o.m2 + delta * delta * na * nb / n;
        self.count += o.count;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// Sample standard deviation; 0 for fewer than two values.
    pub fn std(&self) -> f64 {
        if self.count < 2 { 0.0 } else { (self.m2.max(0.0) / (self.count - 1) as f64).sqrt() }
    }
}

/// What one scan of a slice found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scan {
    pub moments: Moments,
    pub nan: u64,
    /// Values that are not NaN (finite or infinite): what the histogram counts.
    pub valid: u64,
}

/// Scans `xs` once for the moments (around `shift`, a value near the mean,
/// so the squares do not cancel) and adds each value to `counts`, the
/// histogram on `edges`: `counts[0]` is below `edges[0]`, the last is above
/// the last edge, and between them one bin per pair of edges, each closed
/// on the left, the last also on the right (so a value equal to the
/// reference's max is in range). With one edge there is one bin, `[e, e]`.
/// `counts` must hold `bins(edges.len())` entries; NaN is in no bin.
pub fn scan<T: Value>(xs: &[T], shift: f64, edges: &[f64], counts: &mut [u64]) -> Scan {
    // Sums are taken around a value near the mean (the mean so far, else the
    // first value) so that squares of large values do not cancel.
    let shift = if shift.is_finite() {
        shift
    } else {
        xs.first().map(|x| x.f()).filter(|x| x.is_finite()).unwrap_or(0.0)
    };
    // lt[i]: values below edges[i]; le: values at or below the last edge.
    let mut lt = vec![0u64; edges.len()];
    let mut le = 0u64;
    let mut all = Lanes::new();
    for block in xs.chunks(BLOCK) {
        all.add(block, shift);
        for (e, n) in edges.iter().zip(lt.iter_mut()) {
            *n += T::count_below(block, *e);
        }
        if let Some(&last) = edges.last() {
            le += T::count_at_or_below(block, last);
        }
    }
    // A sum that is not finite means an infinity or a NaN (or an overflow):
    // rare, so only then are the values looked at one by one.
    let (moments, nan) = match all.moments(xs.len() as u64, shift) {
        Some(m) => (m, 0),
        None => {
            let nan = xs.iter().filter(|x| x.f().is_nan()).count() as u64;
            let finite: Vec<f64> = xs.iter().map(|x| x.f()).filter(|x| x.is_finite()).collect();
            let mut some = Lanes::new();
            some.add(&finite, shift);
            (some.moments(finite.len() as u64, shift).unwrap_or_default(), nan)
        }
    };
    let valid = xs.len() as u64 - nan;
    if !edges.is_empty() && counts.len() == bins(edges.len()) {
        let k = edges.len();
        counts[0] += lt[0];
        if k == 1 {
            counts[1] += le - lt[0];
        } else {
            for j in 0..k - 2 {
                counts[j + 1] += lt[j + 1] - lt[j];
            }
            counts[k - 1] += le - lt[k - 2];
        }
        let over = counts.len() - 1;
        counts[over] += valid - le;
    }
    Scan { moments, nan, valid }
}

/// Running sums in independent lanes, so the loop vectorises.
struct Lanes {
    sum: [f64; LANES],
    sq: [f64; LANES],
    lo: [f64; LANES],
    hi: [f64; LANES],
}

impl Lanes {
    fn new() -> Lanes {
        Lanes {
            sum: [0.0; LANES],
            sq: [0.0; LANES],
            lo: [f64::INFINITY; LANES],
            hi: [f64::NEG_INFINITY; LANES],
        }
    }

    // Indexing the lanes by number is what lets the compiler keep them in registers.
    #[allow(clippy::needless_range_loop)]
    fn add<T: Value>(&mut self, xs: &[T], shift: f64) {
        let mut lanes = xs.chunks_exact(LANES);
        for c in &mut lanes {
            for l in 0..LANES {
                let x = c[l].f();
                let d = x - shift;
                self.sum[l] += d;
                self.sq[l] += d * d;
                self.lo[l] = if x < self.lo[l] { x } else { self.lo[l] };
                self.hi[l] = if x > self.hi[l] { x } else { self.hi[l] };
            }
        }
        for x in lanes.remainder() {
            let x = x.f();
            let d = x - shift;
            self.sum[0] += d;
            self.sq[0] += d * d;
            self.lo[0] = if x < self.lo[0] { x } else { self.lo[0] };
            self.hi[0] = if x > self.hi[0] { x } else { self.hi[0] };
        }
    }

    /// The moments of `count` values, or `None` when a sum is not finite.
    fn moments(&self, count: u64, shift: f64) -> Option<Moments> {
        let s: f64 = self.sum.iter().sum();
        let q: f64 = self.sq.iter().sum();
        if !(s.is_finite() && q.is_finite()) {
            return None;
        }
        if count == 0 {
            return Some(Moments::default());
        }
        let n = count as f64;
        Some(Moments {
            count,
            mean: shift + s / n,
            m2: (q - s * s / n).max(0.0),
            min: self.lo.iter().copied().fold(f64::INFINITY, f64::min),
            max: self.hi.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// How many counts a histogram on `edges` edges has (under and over included).
pub fn bins(edges: usize) -> usize {
    match edges {
        0 => 0,
        1 => 3,
        k => k + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(xs: &[f64], edges: &[f64]) -> Vec<u64> {
        let mut c = vec![0u64; bins(edges.len())];
        let k = edges.len();
        for &x in xs.iter().filter(|x| !x.is_nan()) {
            let ix = if x < edges[0] {
                0
            } else if x > edges[k - 1] {
                c.len() - 1
            } else {
                // The last bin [e_{k-2}, e_{k-1}] is closed; with one edge it is [e0, e0].
                (1..k.max(2) - 1).rev().find(|&j| x >= edges[j]).map_or(1, |j| j + 1)
            };
            c[ix] += 1;
        }
        c
    }

    #[test]
    fn histogram_matches_a_naive_count() {
        let xs: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 1013) as f64 / 10.0 - 5.0)
            .chain([f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, 96.0])
            .collect();
        for edges in [vec![0.0], vec![0.0, 50.0], vec![-3.0, 0.0, 2.5, 10.0, 96.0], vec![100.0, 200.0]] {
            let mut counts = vec![0; bins(edges.len())];
            let s = scan(&xs, 1.0, &edges, &mut counts);
            assert_eq!(counts, naive(&xs, &edges), "edges {edges:?}");
            assert_eq!(counts.iter().sum::<u64>(), s.valid);
            assert_eq!(s.nan, 1);
            assert_eq!(s.moments.count, xs.len() as u64 - 3);
        }
    }

    #[test]
    fn float32_values_fall_in_the_bins_their_float64_selves_do() {
        // Edges between float32 values, on them, and beyond float32's range.
        let xs: Vec<f32> = (0..4000).map(|i| (i as f32 * 0.37).sin() * 3.0).chain([f32::MAX, -0.0]).collect();
        let wide: Vec<f64> = xs.iter().map(|&x| f64::from(x)).collect();
        let on = f64::from(xs[17]);
        let between = f64::from(xs[5]) + 1e-12;
        for edges in
            [vec![-1.0, 0.1, on, between.max(on + 1e-9), 2.9999999], vec![on], vec![-1e300, 0.0, 1e300]]
        {
            let mut edges = edges;
            edges.sort_by(f64::total_cmp);
            edges.dedup();
            let mut a = vec![0; bins(edges.len())];
            let mut b = vec![0; bins(edges.len())];
            scan(&xs, f64::NAN, &edges, &mut a);
            scan(&wide, f64::NAN, &edges, &mut b);
            assert_eq!(a, b, "edges {edges:?}");
        }
    }

    #[test]
    fn moments_merge_to_the_whole() {
        let xs: Vec<f64> = (0..10_001).map(|i| 1e6 + (i as f64 * 0.37).sin()).collect();
        let whole = scan(&xs, xs[0], &[], &mut []).moments;
        let mut merged = Moments::default();
        for part in xs.chunks(777) {
            merged.merge(&scan(part, part[0], &[], &mut []).moments);
        }
        assert_eq!(merged.count, whole.count);
        assert_eq!((merged.min, merged.max), (whole.min, whole.max));
        assert!((merged.mean - whole.mean).abs() < 1e-9, "{} {}", merged.mean, whole.mean);
        assert!((merged.std() - whole.std()).abs() < 1e-9 * whole.std().max(1.0));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (xs.len() - 1) as f64;
        assert!((whole.std() - var.sqrt()).abs() < 1e-9);
    }

    /// The per-value cost of a profile, with a plain sum of the same values
    /// for scale (see the top of the file for how to run it alone, optimised).
    #[test]
    #[ignore]
    fn timing() {
        let n = 100_000;
        let cols = 30;
        let chunks = 20;
        let data: Vec<Vec<f64>> = (0..cols)
            .map(|c| (0..n).map(|i| ((i * 2654435761usize + c) % 100_003) as f64 / 1000.0).collect())
            .collect();
        let edges: Vec<f64> = (0..11).map(|i| i as f64 * 10.0).collect();
        let start = std::time::Instant::now();
        let mut total = 0u64;
        for _ in 0..chunks {
            for col in &data {
                let mut counts = vec![0u64; bins(edges.len())];
                let s = scan(col, 50.0, &edges, &mut counts);
                total += s.valid + counts[3];
            }
        }
        let f64_secs = start.elapsed().as_secs_f64();
        let data: Vec<Vec<f32>> = data.iter().map(|c| c.iter().map(|&x| x as f32).collect()).collect();
        let start = std::time::Instant::now();
        for _ in 0..chunks {
            for col in &data {
                let mut counts = vec![0u64; bins(edges.len())];
                let s = scan(col, 50.0, &edges, &mut counts);
                total += s.valid + counts[3];
            }
        }
        let f32_secs = start.elapsed().as_secs_f64();
        // The same values summed plainly: what memory alone costs on this machine now.
        let start = std::time::Instant::now();
        let mut plain = 0.0f32;
        for _ in 0..chunks {
            for col in &data {
                let mut lanes = [0.0f32; 8];
                for c in col.chunks_exact(8) {
                    for l in 0..8 {
                        lanes[l] += c[l];
                    }
                }
                plain += lanes.iter().sum::<f32>();
            }
        }
        let plain_secs = start.elapsed().as_secs_f64();
        let values = (n * cols * chunks) as f64;
        for (what, secs) in [("float64", f64_secs), ("float32", f32_secs), ("plain f32 sum", plain_secs)] {
            println!(
                "{} rows x {cols} columns, {what}: {:.1} ms, {:.2} ns per value",
                n * chunks,
                secs * 1e3,
                secs * 1e9 / values
            );
        }
        println!("(checksums {total} {plain})");
    }
}
