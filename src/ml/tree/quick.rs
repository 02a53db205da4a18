//! QuickScorer (Lucchese et al., SIGIR 2015): a second way through a
//! forest whose trees have at most 64 leaves, taken where a trial finds it
//! faster than the walk (many trees with many leaves, as gradient boosting
//! makes them).
//!
//! Instead of walking each tree, a row visits each feature's splits,
//! across all trees, in threshold order. Every split the row fails (it
//! goes "no") rules out the leaves of its "yes" subtree: one AND into the
//! tree's 64-bit set of leaves still possible. Failed splits of a feature
//! are a prefix of its sorted list (those with threshold < x), so the scan
//! stops at the first split the row passes. Once every feature is done,
//! each tree's exit leaf is the leftmost leaf still possible (leaves are
//! numbered left to right, "yes" before "no"): its lowest set bit. The
//! work per row is about half the forest's splits, streamed through
//! memory in order, with no dependent load chain; the walk instead takes
//! as many dependent steps per tree as its deepest leaf is deep.

use super::node::{Float, LANES};

/// Leaves a tree may have to be scored this way: bits of a u64.
const MAX_LEAVES: usize = 64;

#[derive(Clone, Copy, Debug)]
struct Split {
    /// Exact in f64 whatever the model's float type, as are the values compared with it.
    threshold: f64,
    tree: u32,
    /// Leaves still possible after the row fails this split: all but
    /// those of its "yes" subtree.
    mask: u64,
}

#[derive(Clone, Debug)]
pub struct Quick {
    /// Feature f's splits are `splits[start[f]..start[f + 1]]`, by threshold.
    start: Vec<usize>,
    splits: Vec<Split>,
    /// Beside `splits`: where a NaN goes, "yes" (true) or "no".
    nan_yes: Vec<bool>,
    /// Tree t's leaves, left to right, are `leaf[leaves[t]..]`.
    leaves: Vec<usize>,
    leaf: Vec<Leaf>,
}

/// A leaf, as the kernel adds it: its first weight, and its number (for all of its weights).
#[derive(Clone, Copy, Debug)]
pub struct Leaf {
    pub value: f64,
    pub number: u32,
}

fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// A node of the walk's layout, as QuickScorer reads it to build its own
/// (it knows nothing of the walk's encoding).
pub enum QuickView<T> {
    Split(QuickSplit<T>),
    Leaf(Leaf),
}

/// A split, decoded: `x <= threshold` goes "yes".
pub struct QuickSplit<T> {
    pub threshold: T,
    pub feature: usize,
    pub nan_yes: bool,
    pub yes: u32,
    pub no: u32,
}

impl Quick {
    /// Lays out the trees given by their roots, or `None` where a tree has
    /// more than 64 leaves (or a threshold that is NaN, which no sort can
    /// place). `node(i)` is node i of the walker's layout.
    pub fn build<T: Float>(
        roots: &[u32],
        features: usize,
        node: impl Fn(u32) -> QuickView<T>,
    ) -> Option<Quick> {
        let mut per_feature: Vec<Vec<(Split, bool)>> = vec![vec![]; features];
        let mut leaves = vec![];
        let mut leaf = vec![];
        for (t, &root) in roots.iter().enumerate() {
            leaves.push(leaf.len());
            let mut tree =
                Tree { t: t as u32, first: leaf.len(), leaf: &mut leaf, per_feature: &mut per_feature };
            tree.visit(root, 0, &node)?;
        }
        let mut start = vec![0];
        let mut splits = vec![];
        let mut nan_yes = vec![];
        for mut list in per_feature {
            // (No threshold is NaN, and total_cmp refines `<`: the splits a
            // value fails stay a prefix.)
            list.sort_by(|a, b| a.0.threshold.total_cmp(&b.0.threshold));
            for (s, n) in list {
                splits.push(s);
                nan_yes.push(n);
            }
            start.push(splits.len());
        }
        Some(Quick { start, splits, nan_yes, leaves, leaf })
    }

    /// Rows `LANES` at a time: `exit(first, n, possible)` gets rows
    /// `first..first + n` (n ≤ LANES), with `possible[t][g]` holding row
    /// `first + g`'s exit leaf in tree t as its lowest bit (see `exit`).
    pub fn rows<T: Float>(
        &self,
        xs: &[T],
        rows: usize,
        width: usize,
        exit: impl FnMut(usize, usize, &[[u64; LANES]]),
    ) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2, as just checked.
            #[allow(unsafe_code)]
            return unsafe { self.rows_avx2(xs, rows, width, exit) };
        }
        self.rows_any(xs, rows, width, exit)
    }

    /// `rows_any` compiled for AVX2: the split test runs on four lanes per
    /// instruction instead of two (twice as fast on LightGBM-200).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn rows_avx2<T: Float>(
        &self,
        xs: &[T],
        rows: usize,
        width: usize,
        exit: impl FnMut(usize, usize, &[[u64; LANES]]),
    ) {
        self.rows_any(xs, rows, width, exit)
    }

    #[inline(always)]
    fn rows_any<T: Float>(
        &self,
        xs: &[T],
        rows: usize,
        width: usize,
        mut exit: impl FnMut(usize, usize, &[[u64; LANES]]),
    ) {
        let features = self.start.len() - 1;
        let mut possible = vec![[u64::MAX; LANES]; self.leaves.len()];
        let mut lanes = vec![[f64::NEG_INFINITY; LANES]; features];
        for first in (0..rows).step_by(LANES) {
            let n = (rows - first).min(LANES);
            for (g, row) in xs[first * width..].chunks(width).take(n).enumerate() {
                for (f, &v) in row.iter().take(features).enumerate() {
                    lanes[f][g] = v.to_f64();
                }
            }
            // (Lanes past the last row keep -inf: no split fails for them.)
            if n < LANES {
                lanes.iter_mut().for_each(|l| l[n..].fill(f64::NEG_INFINITY));
            }
            possible.fill([u64::MAX; LANES]);
            for (f, x) in lanes.iter().enumerate() {
                self.rule_out(f, x, &mut possible);
            }
            exit(first, n, &possible);
        }
    }

    /// Feature f's failed splits, for LANES rows whose values of it are `x`.
    #[inline(always)]
    fn rule_out(&self, f: usize, x: &[f64; LANES], possible: &mut [[u64; LANES]]) {
        let (from, to) = (self.start[f], self.start[f + 1]);
        let splits = &self.splits[from..to];
        let nan = x.iter().fold(false, |any, v| any | v.is_nan());
        // NaN lanes sit out the ordered scan (as -inf, which fails no split)...
        let clean: [f64; LANES] =
            std::array::from_fn(|g| if x[g].is_nan() { f64::NEG_INFINITY } else { x[g] });
        let top = clean.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        // (Neither side of these comparisons is NaN: NaN lanes are -inf
        // here, and `build` refuses NaN thresholds.)
        for s in splits {
            if s.threshold >= top {
                break;
            }
            let p = &mut possible[s.tree as usize];
            for g in 0..LANES {
                // Branch-free, so the lanes go through SIMD: a failed split
                // ANDs its mask, a passed one all ones.
                let passed = u64::from(clean[g] <= s.threshold);
                p[g] &= s.mask | passed.wrapping_neg();
            }
        }
        // ...and fail every split that sends NaN "no".
        if nan {
            for g in (0..LANES).filter(|&g| x[g].is_nan()) {
                for (s, &yes) in splits.iter().zip(&self.nan_yes[from..to]) {
                    if !yes {
                        possible[s.tree as usize][g] &= s.mask;
                    }
                }
            }
        }
    }

    /// Tree t's leaves, left to right.
    pub fn tree_leaves(&self, t: usize) -> &[Leaf] {
        let end = self.leaves.get(t + 1).copied().unwrap_or(self.leaf.len());
        &self.leaf[self.leaves[t]..end]
    }

    /// Tree t's exit leaf, given a row's `possible` leaves of it.
    #[inline(always)]
    pub fn exit(&self, t: usize, possible: u64) -> Leaf {
        self.leaf[self.leaves[t] + possible.trailing_zeros() as usize]
    }
}

/// One tree being numbered: leaves depth-first, "yes" first, so left to
/// right; a split's "yes" leaves are those numbered while its "yes" side is visited.
struct Tree<'a> {
    t: u32,
    first: usize,
    leaf: &'a mut Vec<Leaf>,
    per_feature: &'a mut Vec<Vec<(Split, bool)>>,
}

impl Tree<'_> {
    fn visit<T: Float>(&mut self, i: u32, depth: usize, node: &impl Fn(u32) -> QuickView<T>) -> Option<()> {
        let n = match node(i) {
            QuickView::Split(n) => n,
            QuickView::Leaf(leaf) => {
                self.leaf.push(leaf);
                return (self.leaf.len() - self.first <= MAX_LEAVES).then_some(());
            }
        };
        // A path d splits deep means at least d + 1 leaves: this also bounds the recursion.
        if depth >= MAX_LEAVES || n.threshold.is_nan() || n.feature >= self.per_feature.len() {
            return None;
        }
        let from = self.leaf.len() - self.first;
        self.visit(n.yes, depth + 1, node)?;
        let to = self.leaf.len() - self.first;
        let yes_bits = if to - from == 64 { u64::MAX } else { ((1u64 << (to - from)) - 1) << from };
        let split = Split { threshold: n.threshold.to_f64(), tree: self.t, mask: !yes_bits };
        self.per_feature[n.feature].push((split, n.nan_yes));
        self.visit(n.no, depth + 1, node)
    }
}
