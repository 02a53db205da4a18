//! The arithmetic of a numeric column's profile, over one chunk's values.
//!
//! This file uses nothing from the crate, so it can be timed alone
//! (`rustc -O --test --edition 2024 src/monitor/kernel.rs -o /tmp/kernel &&
//! /tmp/kernel --ignored --nocapture timing`): it is the only part of monitoring
//! that touches every value, and it must stay a small fraction of a run.
//!
//! The histogram is counted without finding each value's bin: for every
//! threshold, how many values are below it, the bin counts being the
//! differences. Each block of values is loaded once and compared with all
//! thresholds, whose counters stay in vector registers (one per threshold,
//! a lane per value), so a value costs one compare and one add per
//! threshold, a vector's width at a time, and there are no branches on the
//! data. The width is the widest the CPU has, chosen once per call.

/// A column's element type, as the kernel reads it.
pub trait Value: Copy + PartialOrd {
    fn f(self) -> f64;

    /// The `t` for which `x < t` exactly when `x.f() < e`.
    fn below(e: f64) -> Self;

    /// The `t` for which `x < t` exactly when `x.f() <= e` (`e` finite).
    fn at_or_below(e: f64) -> Self;

    /// Adds to `below[i]` the values of `xs` (at most `BLOCK`) below `t[i]`.
    fn count_below(xs: &[Self], t: &[Self], below: &mut [u64], v: Vectors);
}

impl Value for f64 {
    #[inline(always)]
    fn f(self) -> f64 {
        self
    }

    fn below(e: f64) -> f64 {
        e
    }

    fn at_or_below(e: f64) -> f64 {
        e.next_up()
    }

    fn count_below(xs: &[f64], t: &[f64], below: &mut [u64], v: Vectors) {
        #[cfg(target_arch = "x86_64")]
        if x86::count_below_f64(xs, t, below, v) {
            return;
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = v;
        // The baseline: one pass per threshold, which the compiler vectorises.
        for (n, &t) in below.iter_mut().zip(t) {
            *n += xs.iter().map(|&x| u64::from(x < t)).sum::<u64>();
        }
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

    fn below(e: f64) -> f32 {
        let up = e as f32;
        if f64::from(up) < e { up.next_up() } else { up }
    }

    fn at_or_below(e: f64) -> f32 {
        let down = e as f32;
        let down = if f64::from(down) > e { down.next_down() } else { down };
        down.next_up()
    }

    fn count_below(xs: &[f32], t: &[f32], below: &mut [u64], v: Vectors) {
        #[cfg(target_arch = "x86_64")]
        if x86::count_below_f32(xs, t, below, v) {
            return;
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = v;
        // u32 counts: a float32 comparison's mask is 32 bits.
        for (n, &t) in below.iter_mut().zip(t) {
            *n += u64::from(xs.iter().map(|&x| u32::from(x < t)).sum::<u32>());
        }
    }
}

/// Values per block: the moments and the thresholds read a block in turn,
/// so it should stay in L1; float32 lanes count a block without overflow.
const BLOCK: usize = 2048;
const LANES: usize = 32;

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
    scan_with(xs, shift, edges, counts, Vectors::best())
}

/// The vector instructions the kernel is compiled for, each with the same
/// results: the widest the CPU has is used; tests try each it has.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub enum Vectors {
    /// What every CPU of the target has (SSE2 on x86-64).
    Baseline,
    Avx2,
    Avx512,
}

impl Vectors {
    pub fn best() -> Vectors {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Vectors::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Vectors::Avx2;
            }
        }
        Vectors::Baseline
    }
}

fn scan_with<T: Value>(xs: &[T], shift: f64, edges: &[f64], counts: &mut [u64], v: Vectors) -> Scan {
    // Sums are taken around a value near the mean (the mean so far, else the
    // first value) so that squares of large values do not cancel.
    let shift = if shift.is_finite() {
        shift
    } else {
        xs.first().map(|x| x.f()).filter(|x| x.is_finite()).unwrap_or(0.0)
    };
    let histogram = !edges.is_empty() && counts.len() == bins(edges.len());
    // below[i]: values below edges[i] for all but the last edge, and values
    // at or below the last one (values below the last edge are not needed).
    let thresholds: Vec<T> = match split_edges(edges) {
        Some((lower, last)) if histogram && last.is_finite() && lower.iter().all(|e| !e.is_nan()) => {
            lower.iter().map(|&e| T::below(e)).chain([T::at_or_below(last)]).collect()
        }
        _ => vec![],
    };
    let (all, below) = blocks(xs, shift, &thresholds, v);
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
    if histogram {
        let below = if thresholds.is_empty() { below_one_by_one(xs, edges) } else { below };
        // below is sorted: bin j holds what is below threshold j but not j-1.
        let m = below.len();
        counts[0] += below.first().copied().unwrap_or(0);
        for j in 1..m {
            counts[j] += below[j] - below[j - 1];
        }
        counts[m] += valid - below.last().copied().unwrap_or(0);
    }
    Scan { moments, nan, valid }
}

/// The edges the histogram counts the values below of, and the last edge,
/// which it counts the values at or below of. One edge e counts as two,
/// [e, e]: below it, and at or below it.
fn split_edges(edges: &[f64]) -> Option<(&[f64], f64)> {
    let (last, rest) = edges.split_last()?;
    Some((if rest.is_empty() { std::slice::from_ref(last) } else { rest }, *last))
}

/// The same counts as the thresholds give, value by value in float64, for
/// edges that cannot be thresholds (not finite: not from `batchscore profile`).
fn below_one_by_one<T: Value>(xs: &[T], edges: &[f64]) -> Vec<u64> {
    let Some((lower, last)) = split_edges(edges) else { return vec![] };
    lower
        .iter()
        .map(|&e| xs.iter().filter(|x| x.f() < e).count() as u64)
        .chain([xs.iter().filter(|x| x.f() <= last).count() as u64])
        .collect()
}

/// The moments' lanes and the counts below each threshold, at the widest
/// vectors this CPU has.
fn blocks<T: Value>(xs: &[T], shift: f64, thresholds: &[T], v: Vectors) -> (Lanes, Vec<u64>) {
    let mut all = Lanes::new();
    let mut below = vec![0u64; thresholds.len()];
    for b in xs.chunks(BLOCK) {
        #[cfg(target_arch = "x86_64")]
        x86::add(&mut all, b, shift, v);
        #[cfg(not(target_arch = "x86_64"))]
        all.add(b, shift);
        T::count_below(b, thresholds, &mut below, v);
    }
    (all, below)
}

/// The thresholds' counts with AVX-512 or AVX2, when the CPU has them:
/// each vector of values is loaded once and compared with every threshold,
/// whose counters stay in registers (the baseline's loop reloads the
/// values once per threshold, and has half or a quarter of the lanes).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use super::{Lanes, Value, Vectors};
    use std::arch::x86_64::*;

    /// The moments' sums, compiled for the widest vectors the CPU has: the
    /// same arithmetic in the same order (no fused multiply-add), so the
    /// same sums on any CPU. The CPU is asked again (a load of a cached
    /// answer), so a `Vectors` the CPU lacks falls back rather than faults.
    pub fn add<T: Value>(lanes: &mut Lanes, xs: &[T], shift: f64, v: Vectors) {
        match v {
            Vectors::Avx512 if is_x86_feature_detected!("avx512f") => {
                // SAFETY: the CPU has AVX-512F, checked just above.
                unsafe { add_avx512(lanes, xs, shift) }
            }
            Vectors::Avx2 if is_x86_feature_detected!("avx2") => {
                // SAFETY: the CPU has AVX2, checked just above.
                unsafe { add_avx2(lanes, xs, shift) }
            }
            _ => lanes.add(xs, shift),
        }
    }

    /// # Safety
    /// Only on a CPU with AVX-512F.
    #[target_feature(enable = "avx512f")]
    unsafe fn add_avx512<T: Value>(lanes: &mut Lanes, xs: &[T], shift: f64) {
        lanes.add(xs, shift)
    }

    /// # Safety
    /// Only on a CPU with AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn add_avx2<T: Value>(lanes: &mut Lanes, xs: &[T], shift: f64) {
        lanes.add(xs, shift)
    }

    /// Thresholds are padded up to one of the listed counts (11 is ten
    /// bins, the default), so the counters' number is known when compiling
    /// and they can live in registers. A padding threshold is -inf and its
    /// count is dropped.
    macro_rules! dispatch {
        ($xs:ident, $t:ident, $below:ident, $v:ident, $pad:expr, $($k:literal)*) => {
            match $t.len() {
                $(n if n <= $k => {
                    let mut t = [$pad; $k];
                    t[..n].copy_from_slice($t);
                    let mut out = [0u64; $k];
                    match $v {
                        Vectors::Avx512 if is_x86_feature_detected!("avx512f") => {
                            // SAFETY: the CPU has AVX-512F, checked just above.
                            unsafe { Wide::avx512(&mut out, $xs, &t) }
                        }
                        Vectors::Avx2 if is_x86_feature_detected!("avx2") => {
                            // SAFETY: the CPU has AVX2, checked just above.
                            unsafe { Wide::avx2(&mut out, $xs, &t) }
                        }
                        _ => return false,
                    }
                    $below.iter_mut().zip(out).for_each(|(b, o)| *b += o);
                    true
                })*
                _ => false,
            }
        };
    }

    /// Whether it counted (else the caller counts the baseline's way).
    pub fn count_below_f64(xs: &[f64], t: &[f64], below: &mut [u64], v: Vectors) -> bool {
        if v == Vectors::Avx512 && below_float32_edges(xs, t, below) {
            return true;
        }
        dispatch!(xs, t, below, v, f64::NEG_INFINITY, 4 8 11 12 16)
    }

    /// Float64 values against thresholds that are float32 values (the
    /// edges `batchscore profile` writes), all but the last, compared in
    /// float32, sixteen at a time: a value rounded down to float32 is below
    /// a float32 threshold exactly when the value itself is (rounded down,
    /// it stays below one it was below, and cannot fall below one at or
    /// under it, that being a float32 too). The last threshold (the
    /// reference's max moved up one float64) is compared in float64.
    fn below_float32_edges(xs: &[f64], t: &[f64], below: &mut [u64]) -> bool {
        let Some((&last, rest)) = t.split_last() else { return false };
        if !rest.iter().all(|&e| f64::from(e as f32) == e) || !is_x86_feature_detected!("avx512f") {
            return false;
        }
        macro_rules! padded {
            ($($k:literal)*) => {
                match rest.len() {
                    $(n if n <= $k => {
                        let mut t32 = [f32::NEG_INFINITY; $k];
                        t32.iter_mut().zip(rest).for_each(|(d, &e)| *d = e as f32);
                        let mut out = [0u64; $k];
                        // SAFETY: the CPU has AVX-512F, checked above.
                        let at_last = unsafe { below_rounded_down(&mut out, xs, &t32, last) };
                        below[..n].iter_mut().zip(out).for_each(|(b, o)| *b += o);
                        below[n] += at_last;
                        true
                    })*
                    _ => false,
                }
            };
        }
        padded!(4 8 10 12 16)
    }

    /// Counts into `out` the values below each of `t`, and returns those
    /// below `last`.
    ///
    /// # Safety
    /// Only on a CPU with AVX-512F.
    #[target_feature(enable = "avx512f")]
    unsafe fn below_rounded_down<const K: usize>(
        out: &mut [u64; K],
        xs: &[f64],
        t: &[f32; K],
        last: f64,
    ) -> u64 {
        const DOWN: i32 = _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC;
        let mut tv = [_mm512_setzero_ps(); K];
        for k in 0..K {
            tv[k] = _mm512_set1_ps(t[k]);
        }
        let tl = _mm512_set1_pd(last);
        let (one, one64) = (_mm512_set1_epi32(1), _mm512_set1_epi64(1));
        let mut acc = [_mm512_setzero_si512(); K];
        let mut acc_last = _mm512_setzero_si512();
        let mut groups = xs.chunks_exact(16);
        for g in &mut groups {
            // SAFETY: `g` holds 16 float64: two unaligned loads of 8.
            let (lo, hi) = unsafe { (_mm512_loadu_pd(g.as_ptr()), _mm512_loadu_pd(g.as_ptr().add(8))) };
            let (lo32, hi32) = (_mm512_cvt_roundpd_ps::<DOWN>(lo), _mm512_cvt_roundpd_ps::<DOWN>(hi));
            let x = _mm512_castpd_ps(_mm512_insertf64x4::<1>(
                _mm512_castpd256_pd512(_mm256_castps_pd(lo32)),
                _mm256_castps_pd(hi32),
            ));
            for k in 0..K {
                let m = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, tv[k]);
                acc[k] = _mm512_mask_add_epi32(acc[k], m, acc[k], one);
            }
            let (m_lo, m_hi) =
                (_mm512_cmp_pd_mask::<_CMP_LT_OQ>(lo, tl), _mm512_cmp_pd_mask::<_CMP_LT_OQ>(hi, tl));
            acc_last = _mm512_mask_add_epi64(acc_last, m_lo, acc_last, one64);
            acc_last = _mm512_mask_add_epi64(acc_last, m_hi, acc_last, one64);
        }
        let rest = groups.remainder();
        for k in 0..K {
            let e = f64::from(t[k]);
            out[k] = _mm512_reduce_add_epi32(acc[k]) as u32 as u64
                + rest.iter().filter(|&&x| x < e).count() as u64;
        }
        _mm512_reduce_add_epi64(acc_last) as u64 + rest.iter().filter(|&&x| x < last).count() as u64
    }

    pub fn count_below_f32(xs: &[f32], t: &[f32], below: &mut [u64], v: Vectors) -> bool {
        dispatch!(xs, t, below, v, f32::NEG_INFINITY, 4 8 11 12 16)
    }

    trait Wide<const K: usize>: Sized {
        /// # Safety
        /// Only on a CPU with AVX-512F.
        unsafe fn avx512(out: &mut [u64; K], xs: &[Self], t: &[Self; K]);
        /// # Safety
        /// Only on a CPU with AVX2.
        unsafe fn avx2(out: &mut [u64; K], xs: &[Self], t: &[Self; K]);
    }

    impl<const K: usize> Wide<K> for f64 {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512(out: &mut [u64; K], xs: &[f64], t: &[f64; K]) {
            let mut tv = [_mm512_setzero_pd(); K];
            for k in 0..K {
                tv[k] = _mm512_set1_pd(t[k]);
            }
            let one = _mm512_set1_epi64(1);
            let mut acc = [_mm512_setzero_si512(); K];
            let mut groups = xs.chunks_exact(8);
            for g in &mut groups {
                // SAFETY: `g` holds 8 float64; the load is unaligned.
                let x = unsafe { _mm512_loadu_pd(g.as_ptr()) };
                for k in 0..K {
                    let m = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, tv[k]);
                    acc[k] = _mm512_mask_add_epi64(acc[k], m, acc[k], one);
                }
            }
            for k in 0..K {
                let rest = groups.remainder().iter().filter(|&&x| x < t[k]).count();
                out[k] = _mm512_reduce_add_epi64(acc[k]) as u64 + rest as u64;
            }
        }

        #[target_feature(enable = "avx2")]
        unsafe fn avx2(out: &mut [u64; K], xs: &[f64], t: &[f64; K]) {
            let mut tv = [_mm256_setzero_pd(); K];
            for k in 0..K {
                tv[k] = _mm256_set1_pd(t[k]);
            }
            let mut acc = [_mm256_setzero_si256(); K];
            let mut groups = xs.chunks_exact(4);
            for g in &mut groups {
                // SAFETY: `g` holds 4 float64; the load is unaligned.
                let x = unsafe { _mm256_loadu_pd(g.as_ptr()) };
                for k in 0..K {
                    // A true comparison is all ones, -1: subtracting it counts one.
                    let m = _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_LT_OQ>(x, tv[k]));
                    acc[k] = _mm256_sub_epi64(acc[k], m);
                }
            }
            for k in 0..K {
                let mut lanes = [0u64; 4];
                // SAFETY: `lanes` holds 4 u64; the store is unaligned.
                unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc[k]) };
                let rest = groups.remainder().iter().filter(|&&x| x < t[k]).count();
                out[k] = lanes.iter().sum::<u64>() + rest as u64;
            }
        }
    }

    // Float32 lanes count in u32: a block (at most `BLOCK` values) cannot overflow them.
    impl<const K: usize> Wide<K> for f32 {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512(out: &mut [u64; K], xs: &[f32], t: &[f32; K]) {
            let mut tv = [_mm512_setzero_ps(); K];
            for k in 0..K {
                tv[k] = _mm512_set1_ps(t[k]);
            }
            let one = _mm512_set1_epi32(1);
            let mut acc = [_mm512_setzero_si512(); K];
            let mut groups = xs.chunks_exact(16);
            for g in &mut groups {
                // SAFETY: `g` holds 16 float32; the load is unaligned.
                let x = unsafe { _mm512_loadu_ps(g.as_ptr()) };
                for k in 0..K {
                    let m = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, tv[k]);
                    acc[k] = _mm512_mask_add_epi32(acc[k], m, acc[k], one);
                }
            }
            for k in 0..K {
                let rest = groups.remainder().iter().filter(|&&x| x < t[k]).count();
                out[k] = _mm512_reduce_add_epi32(acc[k]) as u32 as u64 + rest as u64;
            }
        }

        #[target_feature(enable = "avx2")]
        unsafe fn avx2(out: &mut [u64; K], xs: &[f32], t: &[f32; K]) {
            let mut tv = [_mm256_setzero_ps(); K];
            for k in 0..K {
                tv[k] = _mm256_set1_ps(t[k]);
            }
            let mut acc = [_mm256_setzero_si256(); K];
            let mut groups = xs.chunks_exact(8);
            for g in &mut groups {
                // SAFETY: `g` holds 8 float32; the load is unaligned.
                let x = unsafe { _mm256_loadu_ps(g.as_ptr()) };
                for k in 0..K {
                    let m = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LT_OQ>(x, tv[k]));
                    acc[k] = _mm256_sub_epi32(acc[k], m);
                }
            }
            for k in 0..K {
                let mut lanes = [0u32; 8];
                // SAFETY: `lanes` holds 8 u32; the store is unaligned.
                unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc[k]) };
                let rest = groups.remainder().iter().filter(|&&x| x < t[k]).count();
                out[k] = lanes.iter().map(|&c| u64::from(c)).sum::<u64>() + rest as u64;
            }
        }
    }
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
    #[inline(always)]
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

    /// Every kind of vectors this CPU can run, widest first.
    fn kinds() -> Vec<Vectors> {
        let mut kinds = vec![Vectors::best()];
        #[cfg(target_arch = "x86_64")]
        if kinds[0] == Vectors::Avx512 && std::arch::is_x86_feature_detected!("avx2") {
            kinds.push(Vectors::Avx2);
        }
        if kinds[kinds.len() - 1] != Vectors::Baseline {
            kinds.push(Vectors::Baseline);
        }
        kinds
    }

    /// Values on, around and between the edges, non-finite ones, in a
    /// length that leaves a remainder after each vector width and block.
    fn values() -> Vec<f64> {
        (0..2 * BLOCK + 13)
            .map(|i| ((i * 7919) % 1013) as f64 / 10.0 - 5.0)
            .chain([f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, 96.0, 1e39, -1e39, 1e-310])
            .chain([
                f64::from(f32::MAX) * 1.5,
                f64::from(f32::MAX),
                -f64::from(f32::MAX),
                f64::from(f32::MIN_POSITIVE),
            ])
            // Just beside float32 edges, and between two float32 neighbours
            // (where rounding to the nearest float32 would cross the edge).
            .chain([2.5f64.next_up(), 2.5f64.next_down(), 50f64.next_down(), 10f64.next_up()])
            .chain([(f64::from(2.5f32.next_down()) + 2.5) / 2.0, (f64::from(2.5f32.next_up()) + 2.5) / 2.0])
            .chain([
                (2.5f64).next_down(),
                f64::from(0.1f32) - 1e-12,
                f64::from(0.1f32),
                f64::from(3.0f32).next_up(),
            ])
            .collect()
    }

    /// Edge lists of every length the vector paths pad to, between, and beyond.
    fn edge_lists() -> Vec<Vec<f64>> {
        // Float32 values (what `batchscore profile` writes: compared in
        // float32 with AVX-512) and float64 ones.
        let f32s = |xs: &[f32]| xs.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
        let mut lists =
            vec![vec![0.0], vec![0.0, 50.0], vec![-3.0, 0.0, 2.5, 10.0, 96.0], vec![100.0, 200.0]];
        lists.push(f32s(&[-f32::MAX, -1.0, 0.1, 2.5f32.next_down(), 2.5, 2.5f32.next_up(), 3.0]));
        lists.push(f32s(&[f32::MIN_POSITIVE, 0.1, 1.0, f32::MAX]));
        lists.push(vec![0.1, 2.5, 50.0]);
        for k in [3, 4, 7, 8, 9, 11, 12, 13, 16, 17, 40] {
            lists.push((0..k).map(|i| -5.0 + i as f64 * 101.0 / k as f64).collect());
        }
        lists
    }

    #[test]
    fn histogram_matches_a_naive_count_with_every_kind_of_vectors() {
        // The special values last (in the scalar remainder) and first (in vectors).
        let reversed: Vec<f64> = values().into_iter().rev().collect();
        for (v, xs) in kinds().into_iter().flat_map(|v| [(v, values()), (v, reversed.clone())]) {
            for edges in edge_lists() {
                let mut counts = vec![0; bins(edges.len())];
                let s = scan_with(&xs, 1.0, &edges, &mut counts, v);
                assert_eq!(counts, naive(&xs, &edges), "{v:?}, edges {edges:?}");
                assert_eq!(counts.iter().sum::<u64>(), s.valid);
                assert_eq!(s.nan, 1);
                assert_eq!(s.moments.count, xs.len() as u64 - 3);
            }
        }
    }

    #[test]
    fn every_kind_of_vectors_gives_the_same_profile_to_the_bit() {
        let xs: Vec<f64> = values().into_iter().filter(|x| x.is_finite()).map(|x| x * 1.37 + 1e3).collect();
        let edges: Vec<f64> = (0..11).map(|i| 1e3 + i as f64 * 12.5).collect();
        let of = |v| {
            let mut counts = vec![0; bins(edges.len())];
            (scan_with(&xs, f64::NAN, &edges, &mut counts, v), counts)
        };
        let baseline = of(Vectors::Baseline);
        for v in kinds() {
            let (a, b) = (of(v), &baseline);
            assert_eq!(a.1, b.1, "{v:?}");
            assert_eq!(a.0.moments.mean.to_bits(), b.0.moments.mean.to_bits(), "{v:?}");
            assert_eq!(a.0.moments.m2.to_bits(), b.0.moments.m2.to_bits(), "{v:?}");
            assert_eq!((a.0.moments.min, a.0.moments.max), (b.0.moments.min, b.0.moments.max), "{v:?}");
        }
    }

    #[test]
    fn edges_that_are_not_finite_are_counted_value_by_value() {
        let xs = values();
        for edges in [vec![f64::NEG_INFINITY, 0.0, 10.0], vec![0.0, 10.0, f64::INFINITY], vec![f64::INFINITY]]
        {
            let mut counts = vec![0; bins(edges.len())];
            scan(&xs, 1.0, &edges, &mut counts);
            assert_eq!(counts, naive(&xs, &edges), "edges {edges:?}");
        }
    }

    #[test]
    fn float32_values_fall_in_the_bins_their_float64_selves_do() {
        // Edges between float32 values, on them, and beyond float32's range.
        let xs: Vec<f32> = (0..2 * BLOCK as u32 + 21)
            .map(|i| (i as f32 * 0.37).sin() * 3.0)
            .chain([f32::MAX, -0.0])
            .collect();
        let wide: Vec<f64> = xs.iter().map(|&x| f64::from(x)).collect();
        let on = f64::from(xs[17]);
        let between = f64::from(xs[5]) + 1e-12;
        let mut lists =
            vec![vec![-1.0, 0.1, on, between.max(on + 1e-9), 2.9999999], vec![on], vec![-1e300, 0.0, 1e300]];
        lists.push((0..13).map(|i| f64::from(xs[i * 7])).collect());
        for v in kinds() {
            for edges in &lists {
                let mut edges = edges.clone();
                edges.sort_by(f64::total_cmp);
                edges.dedup();
                let mut a = vec![0; bins(edges.len())];
                let mut b = vec![0; bins(edges.len())];
                scan_with(&xs, f64::NAN, &edges, &mut a, v);
                scan_with(&wide, f64::NAN, &edges, &mut b, Vectors::Baseline);
                assert_eq!(a, b, "{v:?}, edges {edges:?}");
                assert_eq!(a, naive(&wide, &edges), "{v:?}, edges {edges:?}");
            }
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
