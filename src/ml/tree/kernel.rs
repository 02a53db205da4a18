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
//! before any of their `unsafe fn`s runs. The tree kernel is where this
//! crate's `unsafe` is, each use with its argument.

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
        let mut t = Trees { walk, leaves, complete: Complete::default(), quick: None, way: OnceLock::new() };
        let roots: Vec<u32> = t.walk.trees().iter().map(|tree| tree.root()).collect();
        if path != TreePath::Walk {
            let special = |tree: usize| t.walk.trees()[tree].special();
            t.complete =
                Complete::build(&roots, t.walk.len(), t.walk.n_features(), special, |i| t.complete_view(i))
                    .map_err(|e| anyhow!(e))?;
        }
        if !t.walk.any_special() && matches!(path, TreePath::Timed | TreePath::Quick) {
            t.quick = t.quick_layout(&roots);
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
                    // SAFETY (all three): walk_tree is one of the walk's
                    // trees and c one of the complete layout's; xs holds
                    // `rows` whole rows of `width`, which `sums` checked is
                    // at least the walk's feature count (the one the complete
                    // layout was built for); r + LANES <= rows.
                    let leaves = if let Some(c) = complete {
                        unsafe { self.complete.walk::<NAN>(c, xs, width, r) }
                    } else if ordered {
                        unsafe { self.walk.walk_group::<false, NAN>(walk_tree, xs, width, r) }
                    } else {
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

#[cfg(test)]
mod tests {
    use super::super::forest::{Aggregate, Forest, Mode, NodeSpec, PostTransform};
    use super::*;

    fn split(mode: Mode, feature: usize, value: f64, yes: usize, no: usize, missing_true: bool) -> NodeSpec {
        NodeSpec { mode, feature, value, yes, no, missing_true, members: vec![], weights: vec![] }
    }

    fn leaf(w: f64) -> NodeSpec {
        NodeSpec { weights: vec![(0, w)], ..NodeSpec::leaf() }
    }

    /// One split on feature 0 at 1.0: "yes" leaf is 10, "no" leaf is 20.
    fn stump(mode: Mode, missing_true: bool) -> Trees<f32> {
        let mut root = split(mode, 0, 1.0, 1, 2, missing_true);
        if mode == Mode::Member {
            root.members = vec![1.0, 3.0];
        }
        let forest = Forest {
            nodes: vec![root, leaf(10.0), leaf(20.0)],
            roots: vec![0],
            n_targets: 1,
            aggregate: Aggregate::Sum,
            post: PostTransform::None,
            base_values: vec![],
        };
        Trees::compile(&forest, TreePath::Timed).unwrap()
    }

    fn eval(t: &Trees<f32>, xs: &[f32]) -> Vec<f64> {
        let s = t.sums(xs, xs.len(), 1).unwrap();
        (0..xs.len()).map(|r| s.row(r)[0]).collect()
    }

    #[test]
    fn every_mode_at_below_and_above_the_threshold() {
        let xs = [0.5, 1.0, 1.5, 3.0, f32::NAN];
        let y = 10.0;
        let n = 20.0;
        assert_eq!(eval(&stump(Mode::Leq, false), &xs), [y, y, n, n, n]);
        assert_eq!(eval(&stump(Mode::Lt, false), &xs), [y, n, n, n, n]);
        assert_eq!(eval(&stump(Mode::Gte, false), &xs), [n, y, y, y, n]);
        assert_eq!(eval(&stump(Mode::Gt, false), &xs), [n, n, y, y, n]);
        assert_eq!(eval(&stump(Mode::Eq, false), &xs), [n, y, n, n, n]);
        assert_eq!(eval(&stump(Mode::Neq, false), &xs), [y, n, y, y, y]);
        assert_eq!(eval(&stump(Mode::Member, false), &xs), [n, y, n, y, n]);
    }

    #[test]
    fn missing_value_tracks_send_nan_to_the_true_branch() {
        for mode in [Mode::Leq, Mode::Lt, Mode::Gte, Mode::Gt, Mode::Eq, Mode::Neq, Mode::Member] {
            assert_eq!(eval(&stump(mode, true), &[f32::NAN]), [10.0], "{mode:?}");
        }
    }

    #[test]
    fn lt_is_exact_next_to_the_threshold() {
        let t = stump(Mode::Lt, false);
        assert_eq!(eval(&t, &[f32::next_down(1.0), 1.0]), [10.0, 20.0]);
        let t = stump(Mode::Gte, false);
        assert_eq!(eval(&t, &[f32::next_down(1.0), 1.0, f32::INFINITY]), [20.0, 10.0, 10.0]);
    }

    /// A small deterministic generator, so the random forests below are the same every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> usize {
            (self.next() % n) as usize
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// A forest of unbalanced trees over `features` features, ordered splits
    /// of every kind, some with missing-value tracks; leaves give `targets`
    /// weights when `multi`, else one weight to target `only`.
    /// What a random forest looks like: leaves give `targets` weights when
    /// `multi`, else one weight to target `only`; `special` adds equality
    /// and membership splits to the ordered ones.
    #[derive(Clone, Copy)]
    struct Shape {
        features: usize,
        targets: usize,
        multi: bool,
        only: usize,
        special: bool,
        /// The deepest a leaf may sit: 6 keeps every tree within QuickScorer's 64 leaves.
        depth: usize,
    }

    fn random_forest(rng: &mut Rng, trees: usize, shape: Shape) -> Forest {
        let mut nodes = Vec::new();
        let mut roots = Vec::new();
        for t in 0..trees {
            roots.push(nodes.len());
            // Every other tree at most 6 deep, so forests mix shallow and deep trees.
            let depth = if t % 2 == 1 { shape.depth.min(6) } else { shape.depth };
            grow(rng, &mut nodes, 0, Shape { depth, ..shape });
        }
        Forest {
            nodes,
            roots,
            n_targets: shape.targets,
            aggregate: Aggregate::Sum,
            post: PostTransform::None,
            base_values: vec![],
        }
    }

    fn grow(rng: &mut Rng, nodes: &mut Vec<NodeSpec>, depth: usize, shape: Shape) -> usize {
        let at = nodes.len();
        // Leaves at very different depths, as real forests have them.
        if depth >= shape.depth || (depth >= 1 && rng.below(4) == 0) {
            let weights = if shape.multi {
                (0..shape.targets).map(|t| (t, rng.unit() - 0.3)).collect()
            } else {
                vec![(shape.only, rng.unit() - 0.3)]
            };
            nodes.push(NodeSpec { weights, ..NodeSpec::leaf() });
            return at;
        }
        let modes = [Mode::Leq, Mode::Lt, Mode::Gte, Mode::Gt, Mode::Eq, Mode::Neq, Mode::Member];
        let mode = modes[rng.below(if shape.special { 7 } else { 4 })];
        // Thresholds on a grid, so rows land exactly on them too.
        let value = grid(rng);
        nodes.push(split(mode, rng.below(shape.features as u64), value, 0, 0, rng.below(3) == 0));
        if mode == Mode::Member {
            nodes[at].members = vec![value, grid(rng), grid(rng)];
            nodes[at].members.truncate(1 + rng.below(3));
        }
        let yes = grow(rng, nodes, depth + 1, shape);
        let no = grow(rng, nodes, depth + 1, shape);
        nodes[at].yes = yes;
        nodes[at].no = no;
        at
    }

    /// Rewrites the nodes' sets as whole numbers below 64, which the masks hold.
    fn mask_held(nodes: &mut [NodeSpec]) {
        for n in nodes {
            n.members.iter_mut().for_each(|m| *m = ((*m * 8.0).abs() as u64 % 64) as f64);
        }
    }

    /// Sums as bits, to compare them exactly.
    fn bits(sums: &[f64]) -> Vec<u64> {
        sums.iter().map(|v| v.to_bits()).collect()
    }

    /// The ONNX semantics, one node at a time, straight from the spec.
    fn reference(forest: &Forest, row: &[f32]) -> Vec<f64> {
        let mut out = vec![0f64; forest.n_targets];
        for &root in &forest.roots {
            let mut i = root;
            while forest.nodes[i].mode != Mode::Leaf {
                let n = &forest.nodes[i];
                let (x, t) = (row[n.feature], n.value as f32);
                let go = if x.is_nan() {
                    n.missing_true || n.mode == Mode::Neq
                } else {
                    match n.mode {
                        Mode::Leq => x <= t,
                        Mode::Lt => x < t,
                        Mode::Gte => x >= t,
                        Mode::Gt => x > t,
                        Mode::Eq => x == t,
                        Mode::Neq => x != t,
                        Mode::Member => n.members.iter().any(|&m| x == m as f32),
                        Mode::Leaf => unreachable!(),
                    }
                };
                i = if go { n.yes } else { n.no };
            }
            for &(k, w) in &forest.nodes[i].weights {
                out[k] += f64::from(w as f32);
            }
        }
        out
    }

    /// Eighths, as a numeric feature's thresholds, and whole numbers in and
    /// out of the range a membership node's bit mask covers, as categories.
    fn grid(rng: &mut Rng) -> f64 {
        const WHOLE: [f64; 8] = [1.0, 2.0, 5.0, 63.0, 64.0, -1.0, -0.0, 1e9];
        let k = rng.below(16);
        if k < 8 { k as f64 / 8.0 } else { WHOLE[k - 8] }
    }

    /// Rows on the threshold grid and between, with NaN in one block only
    /// (rows 130..140), so both the NaN-free and the NaN step run.
    fn random_rows(rng: &mut Rng, rows: usize, features: usize) -> Vec<f32> {
        (0..rows * features)
            .map(|i| {
                let r = i / features;
                if (130..140).contains(&r) && rng.below(3) == 0 {
                    f32::NAN
                } else if rng.below(2) == 0 {
                    grid(rng) as f32
                } else {
                    rng.unit() as f32
                }
            })
            .collect()
    }

    /// The random forests' shapes: (targets, multi, only, special), as in
    /// `Shape`. One target; one weight to one of several targets; a weight
    /// to every target; each without and with special splits.
    const SHAPES: [(usize, bool, usize, bool); 6] = [
        (1, false, 0, false),
        (2, false, 0, false),
        (3, false, 2, false),
        (3, true, 0, false),
        (1, false, 0, true),
        (3, true, 0, true),
    ];

    #[test]
    fn grouped_walk_matches_the_spec_on_random_forests() {
        let mut rng = Rng(0x5DEE_CE66_D1CE_4E5B);
        let features = 5;
        // 301 rows: whole groups, a partial group, a partial block.
        let rows = 301;
        for (targets, multi, only, special) in SHAPES {
            // Depth 9: some trees within the complete layout's depth, some beyond.
            let mut forest =
                random_forest(&mut rng, 12, Shape { features, targets, multi, only, special, depth: 9 });
            // The shallow trees' sets of whole numbers below 64, which the
            // masks hold: those trees can be complete, the others' sets not.
            let mut ends = forest.roots.clone();
            ends.push(forest.nodes.len());
            for tree in (1..12).step_by(2) {
                mask_held(&mut forest.nodes[ends[tree]..ends[tree + 1]]);
            }
            let x = random_rows(&mut rng, rows, features);
            for path in [TreePath::Walk, TreePath::Complete] {
                let trees = Trees::<f32>::compile(&forest, path).unwrap();
                assert_eq!(trees.leaves.only_target().is_some(), !multi);
                // Some trees complete and some not: too deep, or (special) a set the masks cannot hold.
                if path == TreePath::Complete {
                    assert!((1..12).contains(&trees.complete.count()), "{} complete", trees.complete.count());
                }
                let sums = trees.sums(&x, rows, features).unwrap();
                for r in 0..rows {
                    let want = reference(&forest, &x[r * features..(r + 1) * features]);
                    for (k, (got, want)) in sums.row(r).iter().zip(&want).enumerate() {
                        assert!(
                            (got - want).abs() < 1e-9,
                            "{path:?}: targets {targets} multi {multi}: row {r} target {k}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// Complete trees and QuickScorer must give the walk's sums bit for bit
    /// (they add the same leaves in the same order), for every way of
    /// adding leaves: one target, one weight to any target, several
    /// weights, and MIN/MAX.
    #[test]
    fn every_path_gives_the_walks_sums_bit_for_bit() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let features = 5;
        let rows = 301;
        for (targets, multi, only, special) in SHAPES {
            for aggregate in [Aggregate::Sum, Aggregate::Average, Aggregate::Min, Aggregate::Max] {
                // Depth 6 keeps every tree within 64 leaves and the complete layout's depth.
                let shape = Shape { features, targets, multi, only, special, depth: 6 };
                let mut forest = random_forest(&mut rng, 12, shape);
                forest.aggregate = aggregate;
                // Sets the masks hold only: every tree can be complete.
                mask_held(&mut forest.nodes);
                let x = random_rows(&mut rng, rows, features);
                let walk = Trees::<f32>::compile(&forest, TreePath::Walk).unwrap();
                let complete = Trees::<f32>::compile(&forest, TreePath::Complete).unwrap();
                let quick = Trees::<f32>::compile(&forest, TreePath::Quick).unwrap();
                assert!(walk.quick.is_none() && walk.complete.count() == 0);
                assert!(complete.quick.is_none() && complete.complete.count() == 12);
                assert_eq!(quick.quick.is_some(), !special, "{targets} targets, {aggregate:?}");
                let w = walk.sums(&x, rows, features).unwrap();
                for (path, trees) in [("complete", &complete), ("quick", &quick)] {
                    let got = trees.sums(&x, rows, features).unwrap();
                    assert_eq!(
                        bits(&w.sum),
                        bits(&got.sum),
                        "{path}: {targets} targets, multi {multi}, {aggregate:?}"
                    );
                    assert_eq!(w.has, got.has, "{path}: {targets} targets, multi {multi}, {aggregate:?}");
                }
                if aggregate == Aggregate::Sum {
                    for r in 0..rows {
                        let want = reference(&forest, &x[r * features..(r + 1) * features]);
                        assert!(w.row(r).iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-9), "row {r}");
                    }
                }
            }
        }
    }

    /// Leaves' weights as dense rows give the (target, weight) pairs' sums bit for bit.
    #[test]
    fn dense_weights_give_the_pairs_sums_bit_for_bit() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let (features, rows) = (5, 301);
        for aggregate in [Aggregate::Sum, Aggregate::Average] {
            let shape = Shape { features, targets: 3, multi: true, only: 0, special: false, depth: 9 };
            let mut forest = random_forest(&mut rng, 12, shape);
            forest.aggregate = aggregate;
            let x = random_rows(&mut rng, rows, features);
            let dense = Trees::<f32>::compile(&forest, TreePath::Walk).unwrap();
            assert!(dense.leaves.dense());
            let pairs = Trees { leaves: dense.leaves.without_dense(), ..dense.clone() };
            let sums = |t: &Trees<f32>| t.sums(&x, rows, features).unwrap().sum;
            assert_eq!(bits(&sums(&dense)), bits(&sums(&pairs)), "{aggregate:?}");
        }
    }

    /// The first batch with enough rows times both ways and keeps one; the
    /// rows it scores while timing, and all others, get the walk's sums.
    #[test]
    fn the_trial_picks_a_way_and_changes_no_sum() {
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        let features = 5;
        let shape = Shape { features, targets: 2, multi: true, only: 0, special: false, depth: 6 };
        let forest = random_forest(&mut rng, 12, shape);
        let rows = TRIAL_SLICES * TRIAL_ROWS + 301;
        let x = random_rows(&mut rng, rows, features);
        let timed = Trees::<f32>::compile(&forest, TreePath::Timed).unwrap();
        let want = Trees::<f32>::compile(&forest, TreePath::Walk).unwrap().sums(&x, rows, features).unwrap();
        assert!(timed.quick.is_some());
        let small = timed.sums(&x[..301 * features], 301, features).unwrap();
        assert!(timed.way.get().is_none(), "301 rows are too few to time");
        assert_eq!(bits(&small.sum), bits(&want.sum[..301 * 2]));
        let got = timed.sums(&x, rows, features).unwrap();
        assert!(timed.way.get().is_some());
        assert_eq!(bits(&got.sum), bits(&want.sum));
    }

    /// One tree: a chain of `levels` splits `x <= level`, each with a leaf
    /// of weight `level` on its "yes" side, and a last leaf of -1.
    fn chain(levels: usize) -> Forest {
        let mut nodes = vec![];
        for level in 0..levels {
            let at = nodes.len();
            nodes.push(split(Mode::Leq, 0, level as f64, at + 1, at + 2, false));
            nodes.push(leaf(level as f64));
        }
        nodes.push(leaf(-1.0));
        Forest {
            nodes,
            roots: vec![0],
            n_targets: 1,
            aggregate: Aggregate::Sum,
            post: PostTransform::None,
            base_values: vec![],
        }
    }

    /// A tree of more than 64 leaves has no QuickScorer layout: the walk scores it.
    #[test]
    fn quickscorer_leaves_trees_of_more_than_64_leaves_to_the_walk() {
        let forest = chain(64);
        let trees = Trees::<f32>::compile(&forest, TreePath::Quick).unwrap();
        assert!(trees.quick.is_none());
        let xs: Vec<f32> = (0..70).map(|r| r as f32 - 0.5).collect();
        let got = eval(&trees, &xs);
        for (r, &x) in xs.iter().enumerate() {
            assert_eq!(got[r], reference(&forest, &[x])[0], "row {r}, x = {x}");
        }
    }

    /// A chain 40 splits deep whose leaves hang off every level: deeper
    /// than its mean leaf depth + DEEPER, so groups of rows that go far
    /// down take the asking loop after `first_check` steps.
    #[test]
    fn rows_deeper_than_the_first_check_still_reach_their_leaves() {
        const LEVELS: usize = 40;
        let forest = chain(LEVELS);
        let trees = Trees::<f32>::compile(&forest, TreePath::Timed).unwrap();
        assert!(
            (trees.walk.trees()[0].first_check() as usize) < LEVELS,
            "the chain must be deeper than the first check"
        );
        // Groups of eight where one row goes to the bottom and the rest stop early.
        let xs: Vec<f32> = (0..64).map(|r| if r % 8 == 3 { 50.0 } else { (r % 45) as f32 }).collect();
        let got = eval(&trees, &xs);
        for (r, &x) in xs.iter().enumerate() {
            assert_eq!(got[r], reference(&forest, &[x])[0], "row {r}, x = {x}");
        }
    }

    #[test]
    fn a_node_pointing_outside_the_trees_is_refused() {
        let mut root = split(Mode::Leq, 0, 1.0, 1, 2, false);
        root.no = 7;
        let forest = Forest {
            nodes: vec![root, leaf(1.0), leaf(2.0)],
            roots: vec![0],
            n_targets: 1,
            aggregate: Aggregate::Sum,
            post: PostTransform::None,
            base_values: vec![],
        };
        assert!(Trees::<f32>::compile(&forest, TreePath::Timed).is_err());
    }
}
