//! The choice of way through a forest, above the three ways themselves:
//! the walk (`walk`), complete trees (`complete`, which shallow trees
//! take instead of the walk) and QuickScorer (`quick`), which a timed
//! trial on the first large enough batch picks or not. Every way adds the
//! same leaves (`leaves`) in the same order, so all give the same bits.
//!
//! Rows go through the trees in blocks, so a block's rows share each tree
//! while it is in cache; a block without NaN skips the missing-value test.
//! The walk and complete trees read nodes and features without bounds
//! checks: `compile` builds only layouts that checked their part, and
//! `sums`, the one entry point, checks the batch's (width and length)
//! before any of their `unsafe fn`s runs. The tree kernel is where the ml
//! layer's `unsafe` is, each use with its argument.

use std::sync::OnceLock;
use std::time::Instant;

use tract_hir::internal::*;

use super::complete::{Complete, CompleteView};
use super::forest::Forest;
use super::leaves::Leaves;
use super::node::{FEATURE, Float, LANES, NAN_YES};
use super::quick::{self, Quick, QuickSplit, QuickView};
use super::walk::Walk;

/// Rows per block: a block's accumulators stay in L1 while every tree passes over it.
const BLOCK: usize = 128;
/// The trial that picks QuickScorer or the walk scores TRIAL_SLICES slices
/// of TRIAL_ROWS rows, alternately by each way: the faster slice of each
/// counts, so a slice slowed by another process rarely decides.
pub(super) const TRIAL_ROWS: usize = 256;
pub(super) const TRIAL_SLICES: usize = 8;

/// Which way rows go through the trees. Every way gives the same bits, so
/// this changes only the speed: forcing one is for measuring it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TreePath {
    /// QuickScorer or the walk (through complete trees where they apply),
    /// whichever a trial on the first large enough batch finds faster.
    #[default]
    Timed,
    /// The walk through the nodes as laid out, only.
    Walk,
    /// The walk, through complete trees wherever they apply.
    Complete,
    /// QuickScorer wherever it applies (trees of at most 64 leaves, ordered splits only).
    Quick,
}

/// The two ways through a forest that has a QuickScorer layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    Walk,
    Quick,
}

#[derive(Clone, Debug)]
pub struct Trees<T> {
    walk: Walk<T>,
    leaves: Leaves<T>,
    /// Shallow trees as complete binary trees, for the walk.
    complete: Complete<T>,
    /// The same trees laid out for QuickScorer, where they fit it.
    quick: Option<Quick>,
    /// With QuickScorer, one weight per leaf and every leaf of a tree for
    /// the same target (multi-class boosting: a tree per class per round):
    /// each target's trees, in order.
    trees_by_target: Option<Vec<Vec<usize>>>,
    /// With a QuickScorer layout: the faster way, once a trial has timed
    /// both. Which CPU, which model and which data all decide it (on Zen 4
    /// QuickScorer is 2.8x the walk on LightGBM-200 and 0.6x on
    /// skl_rf_reg), and both give the same bits, so it is measured rather
    /// than predicted.
    way: OnceLock<Way>,
}

/// Per-row sums (or minima/maxima) of leaf weights, before base values.
pub struct Sums {
    targets: usize,
    sum: Vec<f64>,
    /// Per row and target (MIN/MAX), or one row for all (SUM/AVERAGE).
    has: Vec<bool>,
    has_per_row: bool,
}

impl Sums {
    /// Rounds the sums to f32, as onnxruntime stores them before it adds
    /// base values, compares with the binary threshold and transforms: at
    /// an exact tie (a forest's 0.5) this decides the label.
    pub fn round_to_f32(&mut self) {
        self.sum.iter_mut().for_each(|v| *v = f64::from(*v as f32));
    }

    /// Target `t`'s sums, one per row (SUM/AVERAGE models).
    pub fn column(&self, t: usize) -> Option<Vec<f64>> {
        (t < self.targets && !self.has_per_row)
            .then(|| self.sum.iter().skip(t).step_by(self.targets).copied().collect())
    }

    pub fn row(&self, r: usize) -> &[f64] {
        &self.sum[r * self.targets..(r + 1) * self.targets]
    }

    pub fn has_row(&self, r: usize) -> &[bool] {
        if self.has_per_row { &self.has[r * self.targets..(r + 1) * self.targets] } else { &self.has }
    }
}

impl<T: Float> Trees<T> {
    /// The trees, laid out for the ways `path` may take through them.
    pub fn compile(forest: &Forest, path: TreePath) -> TractResult<Trees<T>> {
        let (walk, leaf_nodes) = Walk::build(forest)?;
        let leaves = Leaves::build(forest, &leaf_nodes);
        let mut t = Trees {
            walk,
            leaves,
            complete: Complete::default(),
            quick: None,
            trees_by_target: None,
            way: OnceLock::new(),
        };
        let roots: Vec<u32> = t.walk.trees().iter().map(|tree| tree.root()).collect();
        if path != TreePath::Walk {
            let special = |tree: usize| t.walk.trees()[tree].special();
            t.complete =
                Complete::build(&roots, t.walk.len(), t.walk.n_features(), special, |i| t.complete_view(i))
                    .map_err(|e| anyhow!(e))?;
        }
        if !t.walk.any_special() && matches!(path, TreePath::Timed | TreePath::Quick) {
            t.quick = t.quick_layout(&roots);
            t.trees_by_target = t.quick.as_ref().and_then(|q| t.trees_by_target(q, roots.len()));
            if path == TreePath::Quick {
                t.way = OnceLock::from(Way::Quick);
            }
        }
        Ok(t)
    }

    /// Walk node `i` as the complete-tree layout reads it; `None` for a set
    /// with members its mask cannot hold (its tree stays with the walk).
    fn complete_view(&self, i: u32) -> Option<CompleteView<T>> {
        let n = self.walk.node(i);
        let test = self.walk.test(i);
        Some(match self.walk.leaf_number(i) {
            _ if test.general() => return None,
            None => CompleteView::Split(n.threshold, n.feature, n.yes, n.no, test),
            Some(_) => CompleteView::Leaf(n.threshold),
        })
    }

    /// The trees as QuickScorer reads them, if each has at most 64 leaves.
    fn quick_layout(&self, roots: &[u32]) -> Option<Quick> {
        Quick::build(roots, self.walk.n_features(), |i| {
            let n = self.walk.node(i);
            match self.walk.leaf_number(i) {
                None => QuickView::Split(QuickSplit {
                    threshold: n.threshold,
                    feature: (n.feature & FEATURE) as usize,
                    nan_yes: n.feature & NAN_YES != 0,
                    yes: n.yes,
                    no: n.no,
                }),
                Some(number) => QuickView::Leaf(quick::Leaf { value: n.threshold.to_f64(), number }),
            }
        })
    }

    /// Each target's trees, in order, if every leaf has one weight and
    /// every tree gives its weights to one target.
    fn trees_by_target(&self, q: &Quick, trees: usize) -> Option<Vec<Vec<usize>>> {
        if !self.leaves.single() || self.leaves.min_max() || self.leaves.only_target().is_some() {
            return None;
        }
        let mut by_target = vec![vec![]; self.leaves.n_targets()];
        for tree in 0..trees {
            let mut targets = q.tree_leaves(tree).iter().map(|l| self.leaves.target(l.number as usize));
            let first = targets.next()?;
            if targets.any(|t| t != first) {
                return None;
            }
            by_target.get_mut(first as usize)?.push(tree);
        }
        Some(by_target)
    }

    pub fn sums(&self, x: &[T], rows: usize, width: usize) -> TractResult<Sums> {
        // What the unchecked reads of the walk and complete trees need of
        // the batch: every feature they read is a column, every row whole.
        if width < self.walk.n_features() {
            bail!("the trees read feature {} but the input has {width} columns", self.walk.n_features() - 1);
        }
        if rows.checked_mul(width).is_none_or(|n| x.len() < n) {
            bail!("input holds {} values, expected {rows} × {width}", x.len());
        }
        let k = self.leaves.n_targets();
        let min_max = self.leaves.min_max();
        // Sums in f64, as onnxruntime's classifiers do: an f32 running sum
        // can land one ulp off a 0.5 tie and flip a label.
        let mut acc = vec![0f64; rows * k];
        let mut has = if min_max { vec![false; rows * k] } else { vec![] };
        let mut from = 0;
        let way = match (&self.quick, self.way.get()) {
            (None, _) => Way::Walk,
            (Some(_), Some(&way)) => way,
            (Some(_), None) if rows >= TRIAL_SLICES * TRIAL_ROWS => {
                from = TRIAL_SLICES * TRIAL_ROWS;
                self.trial(x, width, &mut acc, &mut has)
            }
            // Too few rows to time: QuickScorer, the usual winner.
            (Some(_), None) => Way::Quick,
        };
        self.range_sums(way, x, from..rows, width, &mut acc, &mut has);
        let sum = acc;
        Ok(if min_max {
            Sums { targets: k, sum, has, has_per_row: true }
        } else {
            Sums { targets: k, sum, has: self.leaves.targets_used().to_vec(), has_per_row: false }
        })
    }

    /// Scores the first TRIAL_SLICES * TRIAL_ROWS rows, slices alternately
    /// by QuickScorer and the walk, and keeps (and returns) the way whose
    /// fastest slice was faster (the first slice of each runs with a cold
    /// cache). Threads that start together may each run a trial; the first
    /// to finish decides.
    fn trial(&self, x: &[T], width: usize, acc: &mut [f64], has: &mut [bool]) -> Way {
        let mut best = [f64::INFINITY; 2];
        for slice in 0..TRIAL_SLICES {
            let way = if slice % 2 == 0 { Way::Quick } else { Way::Walk };
            let start = Instant::now();
            self.range_sums(way, x, slice * TRIAL_ROWS..(slice + 1) * TRIAL_ROWS, width, acc, has);
            best[slice % 2] = best[slice % 2].min(start.elapsed().as_secs_f64());
        }
        let faster = if best[0] <= best[1] { Way::Quick } else { Way::Walk };
        *self.way.get_or_init(|| faster)
    }

    /// Sums for `rows` of the batch, the way given.
    fn range_sums(
        &self,
        way: Way,
        x: &[T],
        rows: std::ops::Range<usize>,
        width: usize,
        acc: &mut [f64],
        has: &mut [bool],
    ) {
        let k = self.leaves.n_targets();
        let (n, x) = (rows.len(), &x[rows.start * width..rows.end * width]);
        let acc = &mut acc[rows.start * k..rows.end * k];
        let has = if has.is_empty() { has } else { &mut has[rows.start * k..rows.end * k] };
        match (way, &self.quick) {
            (Way::Quick, Some(q)) => self.quick_sums(q, x, n, width, acc, has),
            _ => self.walk_sums(x, n, width, acc, has),
        }
    }

    fn walk_sums(&self, x: &[T], rows: usize, width: usize, acc: &mut [f64], has: &mut [bool]) {
        let k = self.leaves.n_targets();
        for start in (0..rows).step_by(BLOCK) {
            let end = (start + BLOCK).min(rows);
            let xs = &x[start * width..end * width];
            let acc = &mut acc[start * k..end * k];
            // A node's NaN bit matters only for NaN values: a block without
            // any (most blocks, in most data) takes the shorter step.
            let nan = self.walk.any_nan_yes() && xs.iter().fold(false, |any, v| any | v.is_nan());
            let has = has_block(has, start, end, k);
            match (self.walk.any_special(), nan) {
                (false, false) => self.block::<false, false>(xs, end - start, width, acc, has),
                (false, true) => self.block::<false, true>(xs, end - start, width, acc, has),
                (true, _) => self.block::<true, true>(xs, end - start, width, acc, has),
            }
        }
    }

    /// Sums through QuickScorer's layout, adding each row's leaves in tree
    /// order as the walk does, so either path gives the same bits.
    fn quick_sums(&self, q: &Quick, x: &[T], rows: usize, width: usize, acc: &mut [f64], has: &mut [bool]) {
        let k = self.leaves.n_targets();
        let min_max = !has.is_empty();
        let one_target = self.leaves.only_target().filter(|_| !min_max).map(|t| t as usize);
        if let Some(t) = one_target {
            q.rows(x, rows, width, |first, n, possible| {
                // Running sums in registers, added tree by tree as the walk adds them.
                let mut sum = [0f64; LANES];
                for (tree, p) in possible.iter().enumerate() {
                    for g in 0..LANES {
                        sum[g] += q.exit(tree, p[g]).value;
                    }
                }
                for g in 0..n {
                    acc[(first + g) * k + t] = sum[g];
                }
            });
        } else if let Some(by_target) = &self.trees_by_target {
            // Target by target, each as the one-target case: running sums
            // in registers, each target's leaves added in tree order as the
            // walk adds them (the same bits), with no target looked up and
            // no sum stored and reloaded per leaf.
            q.rows(x, rows, width, |first, n, possible| {
                for (t, trees) in by_target.iter().enumerate() {
                    let mut sum = [0f64; LANES];
                    for &tree in trees {
                        for g in 0..LANES {
                            sum[g] += q.exit(tree, possible[tree][g]).value;
                        }
                    }
                    for g in 0..n {
                        acc[(first + g) * k + t] = sum[g];
                    }
                }
            });
        } else if self.leaves.single() && !min_max {
            q.rows(x, rows, width, |first, n, possible| {
                for (tree, p) in possible.iter().enumerate() {
                    for g in 0..n {
                        let leaf = q.exit(tree, p[g]);
                        acc[(first + g) * k + self.leaves.target(leaf.number as usize) as usize] +=
                            leaf.value;
                    }
                }
            });
        } else {
            q.rows(x, rows, width, |first, n, possible| {
                for g in 0..n {
                    let r = first + g;
                    for (tree, p) in possible.iter().enumerate() {
                        let leaf = q.exit(tree, p[g]).number as usize;
                        let has = if min_max { Some(&mut has[r * k..(r + 1) * k]) } else { None };
                        self.leaves.add(leaf, &mut acc[r * k..(r + 1) * k], has);
                    }
                }
            });
        }
    }

    /// One block's sums, tree by tree: complete trees where they apply,
    /// the walk elsewhere, LANES rows at a time, then the rows left over one
    /// by one. `xs` holds the block's `rows` whole rows of `width` values,
    /// and `sums` checked `width` against the trees.
    #[allow(unsafe_code)]
    fn block<const SPEC: bool, const NAN: bool>(
        &self,
        xs: &[T],
        rows: usize,
        width: usize,
        acc: &mut [f64],
        mut has: Option<&mut [bool]>,
    ) {
        let k = self.leaves.n_targets();
        // The common case, every weight to one column (regression, binary).
        let one_target = self.leaves.only_target().filter(|_| has.is_none()).map(|t| t as usize);
        // Whole groups of a small one-target forest of complete trees take
        // every tree at once; the rest go tree by tree below.
        let mut grouped = 0;
        if let (Some(t), true) = (one_target, self.complete.grouped() && width > 0) {
            while grouped + LANES <= rows {
                // SAFETY: xs holds `rows` whole rows of `width`, which
                // `sums` checked is at least the walk's feature count, the
                // one the complete layout was built for; grouped + LANES <= rows.
                let sums = unsafe { self.complete.group_sums::<NAN>(xs, width, grouped) };
                for (g, s) in sums.iter().enumerate() {
                    acc[(grouped + g) * k + t] += s;
                }
                grouped += LANES;
            }
        }
        for (tree, walk_tree) in self.walk.trees().iter().enumerate() {
            // A tree without special splits takes the ordered walk, whatever the forest.
            let ordered = SPEC && !walk_tree.special();
            let complete = self.complete.tree(tree);
            let mut r = grouped;
            // (A zero-width input has no feature a leaf's step could read.)
            if width > 0 {
                while r + LANES <= rows {
                    // (For each walk below: xs holds `rows` whole rows of
                    // `width`, which `sums` checked is at least the walk's
                    // feature count, the one the complete layout was built
                    // for; and r + LANES <= rows.)
                    let leaves = if let Some(c) = complete {
                        // SAFETY: c is one of the complete layout's trees; the rest as above.
                        unsafe { self.complete.walk::<NAN>(c, xs, width, r) }
                    } else if ordered {
                        // SAFETY: walk_tree is one of the walk's trees; the rest as above.
                        unsafe { self.walk.walk_group::<false, NAN>(walk_tree, xs, width, r) }
                    } else {
                        // SAFETY: as for the ordered walk.
                        unsafe { self.walk.walk_group::<SPEC, NAN>(walk_tree, xs, width, r) }
                    };
                    if let Some(t) = one_target {
                        for (g, &node) in leaves.iter().enumerate() {
                            acc[(r + g) * k + t] += self.walk.node(node).threshold.to_f64();
                        }
                    } else {
                        for (g, &node) in leaves.iter().enumerate() {
                            let leaf = self.walk.leaf_index(node);
                            let out = &mut acc[(r + g) * k..(r + g + 1) * k];
                            let has = has.as_deref_mut().map(|h| &mut h[(r + g) * k..(r + g + 1) * k]);
                            self.leaves.add(leaf, out, has);
                        }
                    }
                    r += LANES;
                }
            }
            for r in r..rows {
                let row = &xs[r * width..(r + 1) * width];
                let node = self.walk.walk::<SPEC, NAN>(walk_tree, row);
                if let Some(t) = one_target {
                    acc[r * k + t] += self.walk.node(node).threshold.to_f64();
                    continue;
                }
                let leaf = self.walk.leaf_index(node);
                let out = &mut acc[r * k..(r + 1) * k];
                let has = has.as_deref_mut().map(|h| &mut h[r * k..(r + 1) * k]);
                self.leaves.add(leaf, out, has);
            }
        }
    }
}

fn has_block(has: &mut [bool], start: usize, end: usize, k: usize) -> Option<&mut [bool]> {
    if has.is_empty() { None } else { Some(&mut has[start * k..end * k]) }
}

/// What the tests in `tests.rs` look at, which nothing else needs.
#[cfg(test)]
impl<T: Float> Trees<T> {
    pub fn has_quick(&self) -> bool {
        self.quick.is_some()
    }

    /// QuickScorer sums target by target (each tree gives one target).
    pub fn by_target(&self) -> bool {
        self.trees_by_target.is_some()
    }

    /// How many trees have a complete layout.
    pub fn complete_trees(&self) -> usize {
        self.complete.count()
    }

    /// A trial has chosen the way.
    pub fn way_chosen(&self) -> bool {
        self.way.get().is_some()
    }

    /// Every leaf gives one weight, all to one target.
    pub fn one_target(&self) -> bool {
        self.leaves.only_target().is_some()
    }

    pub fn dense_weights(&self) -> bool {
        self.leaves.dense()
    }

    /// The same trees, with the leaves' weights as (target, weight) pairs only.
    pub fn without_dense_weights(&self) -> Trees<T> {
        Trees { leaves: self.leaves.without_dense(), ..self.clone() }
    }

    pub fn first_check(&self, tree: usize) -> u32 {
        self.walk.trees()[tree].first_check()
    }
}

#[cfg(test)]
impl Sums {
    /// Every row's sums, row after row.
    pub fn all(&self) -> &[f64] {
        &self.sum
    }

    /// Which targets have a weight, as stored (per row for MIN/MAX).
    pub fn all_has(&self) -> &[bool] {
        &self.has
    }
}
