//! The tree walker, laid out for speed, and the choice between it and
//! QuickScorer (`quick`), which a timed trial on the first large enough
//! batch makes; shallow trees walk as complete trees (`complete`).
//!
//! Every ordered split (≤, <, ≥, >) is rewritten at load time as `x ≤ t`
//! with the children swapped where needed (`x < t` is `x ≤ next_down(t)`
//! for floats), and where NaN goes becomes one bit per node. So the hot
//! loop has one comparison and no mode dispatch. A forest with equality or
//! set-membership splits (rare in practice) takes a second walk that
//! computes every kind of test and picks one, still without a branch: sets
//! of small whole numbers (categories) are a 64-bit mask per node; only
//! sets with other members search.
//! Each tree is stored as its interior nodes in depth-first order (16
//! bytes a node for f32, so a walk mostly moves forward through memory)
//! followed by its leaves, which point to themselves: once a row reaches a
//! leaf, more steps leave it there. That lets eight rows walk a tree in
//! lock-step with no per-row branch, eight independent load chains the CPU
//! overlaps, until all eight sit on leaves (asked first at the tree's
//! full depth, or 8 past its leaves' mean depth if it is deeper still: an
//! answer that varies is a mispredicted branch, dearer than idle steps).
//! Rows go through the trees in blocks, so a block's rows share each tree
//! while it is in cache; a block without NaN
//! skips the missing-value test. The walk reads nodes and features without
//! bounds checks, on indices `compile` and `sums` have validated (as do
//! the complete-tree walk and QuickScorer's AVX2 entry: the tree kernel is
//! where this crate's `unsafe` is, each use with its argument).

use std::sync::OnceLock;
use std::time::Instant;

use tract_hir::internal::*;

use super::complete::{self, Complete};
use super::forest::{Aggregate, Forest, Mode};
use super::node::{FEATURE, Float, LANES, NAN_YES, SPECIAL, SpecialTest, below, decide};
use super::quick::{self, Interior, Quick};

/// Rows per block: a block's accumulators stay in L1 while every tree passes over it.
const BLOCK: usize = 128;
/// The trial that picks QuickScorer or the walk scores TRIAL_SLICES slices
/// of TRIAL_ROWS rows, alternately by each way: the faster slice of each
/// counts, so a slice slowed by another process rarely decides.
const TRIAL_ROWS: usize = 256;
const TRIAL_SLICES: usize = 8;
/// How much deeper than its leaves' mean depth a tree's walk goes before it
/// first asks whether every row has reached a leaf.
const DEEPER: u32 = 8;

/// Which way rows go through the trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// QuickScorer or the walk (through complete trees where they apply),
    /// whichever a trial on the first large enough batch finds faster.
    Fastest,
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

#[derive(Clone, Copy, Debug)]
struct Node<T> {
    threshold: T,
    /// Feature index, plus the NAN_YES and SPECIAL bits.
    feature: u32,
    yes: u32,
    no: u32,
}

/// Equality and membership splits.
#[derive(Clone, Debug)]
enum Special<T> {
    Eq(T),
    Member(Vec<T>),
}

#[derive(Clone, Debug)]
pub struct Trees<T> {
    nodes: Vec<Node<T>>,
    /// Per tree: its root.
    roots: Vec<u32>,
    /// Per tree: the index of its first leaf; nodes from there to the next tree are leaves.
    leaf_base: Vec<u32>,
    /// Per tree: the steps every group takes before asking whether all its rows sit on leaves.
    first_check: Vec<u32>,
    /// Per tree: it has an equality or membership split.
    tree_special: Vec<bool>,
    /// Per node: its leaf number (meaningful for leaves only).
    node_leaf: Vec<u32>,
    /// `Some`: every leaf has exactly one weight; `leaf_value[l]` goes to `leaf_target[l]`.
    single: bool,
    /// Every leaf has one weight, all for this target (one-score models: regression, binary).
    only_target: Option<u32>,
    leaf_value: Vec<T>,
    leaf_target: Vec<u32>,
    /// Otherwise leaf l's weights are `weights[leaf_start[l]..leaf_start[l + 1]]`.
    leaf_start: Vec<u32>,
    weights: Vec<(u32, T)>,
    /// The same weights as one row of `n_targets` per leaf (0 for a target
    /// the leaf has none for), where a SUM/AVERAGE forest's leaves give
    /// each target at most one weight, as classifiers' leaves do: added
    /// without a loop over (target, weight) pairs. Adding the zeros changes
    /// no bit: a sum starts at +0.0 and so never is -0.0.
    dense: Option<Vec<T>>,
    /// The equality and membership splits, by node.
    special: Vec<(u32, Special<T>)>,
    /// Per node when any split is special: how it decides (a membership
    /// node's whole-number members below MASK_BITS as bits, so most
    /// membership tests need no search).
    tests: Vec<SpecialTest>,
    /// Some set has members the masks cannot hold.
    any_general: bool,
    any_nan_yes: bool,
    any_special: bool,
    n_features: usize,
    n_targets: usize,
    aggregate: Aggregate,
    /// For SUM/AVERAGE, whether a target gets a weight anywhere (onnxruntime's `has_score`).
    targets_used: Vec<bool>,
    /// The same trees laid out for QuickScorer, where they fit it.
    quick: Option<Quick>,
    /// With a QuickScorer layout: the faster way, once a trial has timed
    /// both. Which CPU, which model and which data all decide it (on Zen 4
    /// QuickScorer is 2.8x the walk on LightGBM-200 and 0.6x on
    /// skl_rf_reg), and both give the same bits, so it is measured rather
    /// than predicted.
    way: OnceLock<Way>,
    /// Shallow trees as complete binary trees, for the walk.
    complete: Complete<T>,
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
    /// The trees, to be scored the fastest way, or the way the developer
    /// knob BATCHSCORE_TREE_PATH (walk, complete, quick) names: every way
    /// gives the same bits, so it only changes the speed.
    pub fn compile(forest: &Forest) -> TractResult<Trees<T>> {
        let path = match std::env::var("BATCHSCORE_TREE_PATH").as_deref() {
            Ok("walk") => Path::Walk,
            Ok("complete") => Path::Complete,
            Ok("quick") => Path::Quick,
            _ => Path::Fastest,
        };
        Self::compile_for(forest, path)
    }

    /// `compile`, with the way through the trees chosen (tests try both).
    pub fn compile_for(forest: &Forest, path: Path) -> TractResult<Trees<T>> {
        let mut t = Trees {
            nodes: vec![],
            roots: vec![],
            leaf_base: vec![],
            first_check: vec![],
            tree_special: vec![],
            node_leaf: vec![],
            single: forest.nodes.iter().filter(|n| n.mode == Mode::Leaf).all(|n| n.weights.len() == 1),
            only_target: None,
            leaf_value: vec![],
            leaf_target: vec![],
            leaf_start: vec![0],
            dense: None,
            weights: vec![],
            special: vec![],
            tests: vec![],
            any_general: false,
            any_nan_yes: false,
            any_special: false,
            n_features: 0,
            n_targets: forest.n_targets,
            aggregate: forest.aggregate,
            targets_used: vec![false; forest.n_targets],
            quick: None,
            way: OnceLock::new(),
            complete: Complete::default(),
        };
        for n in &forest.nodes {
            for (k, _) in &n.weights {
                t.targets_used[*k] = true;
            }
        }
        for &root in &forest.roots {
            t.lay_out(forest, root)?;
        }
        if t.any_special {
            t.tests = vec![SpecialTest::default(); t.nodes.len()];
            for (at, s) in &t.special {
                let test = match s {
                    Special::Eq(_) => SpecialTest::equal(),
                    Special::Member(set) => SpecialTest::member(set),
                };
                t.any_general |= test.general();
                t.tests[*at as usize] = test;
            }
        }
        t.check_layout()?;
        if t.single && t.leaf_target.windows(2).all(|w| w[0] == w[1]) {
            t.only_target = Some(t.leaf_target.first().copied().unwrap_or(0));
        }
        t.dense = t.dense_weights();
        if path != Path::Walk {
            t.complete = Complete::build(&t.roots, |tree| t.tree_special[tree], |i| t.complete_node(i));
            t.complete.check(t.nodes.len(), t.n_features).map_err(|e| anyhow!(e))?;
        }
        if !t.any_special && matches!(path, Path::Fastest | Path::Quick) {
            t.quick = t.quick_layout();
            if path == Path::Quick {
                t.way = OnceLock::from(Way::Quick);
            }
        }
        Ok(t)
    }

    /// `dense`, if the forest's weights allow it.
    fn dense_weights(&self) -> Option<Vec<T>> {
        let k = self.n_targets;
        let leaves = self.leaf_start.len() - 1;
        // (Rows of mostly zeros would cost more memory and time than the pairs.)
        if self.single
            || matches!(self.aggregate, Aggregate::Min | Aggregate::Max)
            || leaves * k > 2 * self.weights.len()
        {
            return None;
        }
        let mut dense = vec![T::default(); leaves * k];
        for (leaf, w) in self.leaf_start.windows(2).enumerate() {
            let row = &mut dense[leaf * k..(leaf + 1) * k];
            let mut seen = 0u128;
            for &(t, w) in &self.weights[w[0] as usize..w[1] as usize] {
                if t as usize >= k || t >= 128 || seen & (1 << t) != 0 {
                    return None;
                }
                seen |= 1 << t;
                row[t as usize] = w;
            }
        }
        Some(dense)
    }

    /// Node `i` as the complete-tree layout reads it; `None` for a set
    /// with members its mask cannot hold (its tree stays with the walk).
    fn complete_node(&self, i: u32) -> Option<complete::Node<T>> {
        let n = &self.nodes[i as usize];
        let test = self.tests.get(i as usize).copied().unwrap_or_default();
        Some(match self.node_leaf[i as usize] {
            _ if test.general() => return None,
            u32::MAX => complete::Node::Split(n.threshold, n.feature, n.yes, n.no, test),
            _ => complete::Node::Leaf(n.threshold),
        })
    }

    /// The trees as QuickScorer reads them, if each has at most 64 leaves.
    fn quick_layout(&self) -> Option<Quick> {
        Quick::build(&self.roots, self.n_features, |i| {
            let n = &self.nodes[i as usize];
            match self.node_leaf[i as usize] {
                u32::MAX => quick::Node::Split(Interior {
                    threshold: n.threshold,
                    feature: (n.feature & FEATURE) as usize,
                    nan_yes: n.feature & NAN_YES != 0,
                    yes: n.yes,
                    no: n.no,
                }),
                number => quick::Node::Leaf(quick::Leaf { value: n.threshold.to_f64(), number }),
            }
        })
    }

    /// Appends one tree: interior nodes depth-first, then its leaves.
    fn lay_out(&mut self, forest: &Forest, root: usize) -> TractResult<()> {
        let (mut interior, mut leaves) = (Vec::new(), Vec::new());
        let mut stack = vec![(root, 0u32)];
        let mut visits = 0usize;
        let (mut max_depth, mut depth_sum) = (0u32, 0u64);
        while let Some((i, depth)) = stack.pop() {
            visits += 1;
            // More visits than nodes: a cycle in a malformed model.
            if visits > 2 * forest.nodes.len() + 1 {
                bail!("the tree at node {root} is not a tree (a cycle?)");
            }
            let spec = forest.nodes.get(i).with_context(|| format!("node {i} does not exist"))?;
            if spec.mode == Mode::Leaf {
                leaves.push(i);
                max_depth = max_depth.max(depth);
                depth_sum += u64::from(depth);
            } else {
                interior.push(i);
                stack.push((spec.no, depth + 1));
                stack.push((spec.yes, depth + 1));
            }
        }
        let base = self.nodes.len();
        let mut index = std::collections::HashMap::new();
        for (k, &i) in interior.iter().chain(&leaves).enumerate() {
            index.entry(i).or_insert((base + k) as u32);
        }
        let first_leaf = (base + interior.len()) as u32;
        self.roots.push(index[&root]);
        self.leaf_base.push(first_leaf);
        // Steps before "all on leaves?" is first asked: where that answer
        // varies from group to group, the CPU mispredicts it, which costs
        // more than the few steps lanes on leaves idle through. So walk the
        // tree's full depth unasked, unless some path is far deeper than
        // the leaves' mean (then ask from there on, every STRIDE steps).
        // LightGBM-200 (mean leaf depth 5.4, deepest 9.3 on average):
        // 17-30% faster than asking from the shallowest leaf on.
        let mean = depth_sum.div_ceil(leaves.len().max(1) as u64) as u32;
        self.first_check.push(max_depth.min(mean + DEEPER));
        self.tree_special.push(
            interior.iter().any(|&i| matches!(forest.nodes[i].mode, Mode::Eq | Mode::Neq | Mode::Member)),
        );
        for &i in &interior {
            let spec = &forest.nodes[i];
            if spec.feature >= FEATURE as usize {
                bail!("feature index {} is too large", spec.feature);
            }
            self.n_features = self.n_features.max(spec.feature + 1);
            let at = self.nodes.len() as u32;
            let (yes, no) = (index[&spec.yes], index[&spec.no]);
            let t = T::from_f64(spec.value);
            // Where NaN goes, decided on the original children: comparisons with
            // NaN are false, NEQ's is true, and a missing-value track sends it to "true".
            let nan_to_yes = spec.missing_true || spec.mode == Mode::Neq;
            let (threshold, yes, no, nan_yes, special) = match spec.mode {
                Mode::Leq => (t, yes, no, nan_to_yes, None),
                Mode::Lt => (below(t), yes, no, nan_to_yes, None),
                Mode::Gt => (t, no, yes, !nan_to_yes, None),
                Mode::Gte => (below(t), no, yes, !nan_to_yes, None),
                Mode::Eq => (t, yes, no, nan_to_yes, Some(Special::Eq(t))),
                Mode::Neq => (t, no, yes, !nan_to_yes, Some(Special::Eq(t))),
                Mode::Member => (
                    t,
                    yes,
                    no,
                    nan_to_yes,
                    Some(Special::Member(spec.members.iter().map(|&v| T::from_f64(v)).collect())),
                ),
                Mode::Leaf => unreachable!("leaves are laid out below"),
            };
            let mut feature = spec.feature as u32;
            if nan_yes {
                feature |= NAN_YES;
                self.any_nan_yes = true;
            }
            if let Some(s) = special {
                feature |= SPECIAL;
                self.any_special = true;
                self.special.push((at, s));
            }
            self.nodes.push(Node { threshold, feature, yes, no });
            self.node_leaf.push(u32::MAX);
        }
        for &i in &leaves {
            let spec = &forest.nodes[i];
            let at = self.nodes.len() as u32;
            let leaf = self.leaf_start.len() as u32 - 1;
            if self.single {
                let (k, w) = spec.weights.first().copied().unwrap_or((0, 0.0));
                self.leaf_value.push(T::from_f64(w));
                self.leaf_target.push(k as u32);
            } else {
                self.weights.extend(spec.weights.iter().map(|&(k, w)| (k as u32, T::from_f64(w))));
            }
            self.leaf_start.push(self.weights.len() as u32);
            // A leaf leads to itself, whatever the row holds. Its threshold
            // field carries its (first) weight, so the hot path reads the
            // value from the node it already has in cache.
            let value = T::from_f64(spec.weights.first().map_or(0.0, |w| w.1));
            self.nodes.push(Node { threshold: value, feature: 0, yes: at, no: at });
            self.node_leaf.push(leaf);
        }
        Ok(())
    }

    /// What `walk_group`'s unchecked reads rely on.
    fn check_layout(&self) -> TractResult<()> {
        let n = self.nodes.len() as u32;
        for (i, node) in self.nodes.iter().enumerate() {
            if node.yes >= n || node.no >= n {
                bail!("node {i} points outside the tree");
            }
            if (node.feature & FEATURE) as usize >= self.n_features.max(1) {
                bail!("node {i} reads feature {} of {}", node.feature & FEATURE, self.n_features);
            }
        }
        if self.any_special && self.tests.len() != self.nodes.len() {
            bail!("{} special-split tests for {} nodes", self.tests.len(), n);
        }
        if self.roots.iter().any(|&r| r >= n) {
            bail!("a tree root lies outside the trees");
        }
        Ok(())
    }

    pub fn sums(&self, x: &[T], rows: usize, width: usize) -> TractResult<Sums> {
        if width < self.n_features {
            bail!("the trees read feature {} but the input has {width} columns", self.n_features - 1);
        }
        if rows.checked_mul(width).is_none_or(|n| x.len() < n) {
            bail!("input holds {} values, expected {rows} × {width}", x.len());
        }
        let k = self.n_targets;
        let min_max = matches!(self.aggregate, Aggregate::Min | Aggregate::Max);
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
            Sums { targets: k, sum, has: self.targets_used.clone(), has_per_row: false }
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
        let k = self.n_targets;
        let (n, x) = (rows.len(), &x[rows.start * width..rows.end * width]);
        let acc = &mut acc[rows.start * k..rows.end * k];
        let has = if has.is_empty() { has } else { &mut has[rows.start * k..rows.end * k] };
        match (way, &self.quick) {
            (Way::Quick, Some(q)) => self.quick_sums(q, x, n, width, acc, has),
            _ => self.walk_sums(x, n, width, acc, has),
        }
    }

    fn walk_sums(&self, x: &[T], rows: usize, width: usize, acc: &mut [f64], has: &mut [bool]) {
        let k = self.n_targets;
        for start in (0..rows).step_by(BLOCK) {
            let end = (start + BLOCK).min(rows);
            let xs = &x[start * width..end * width];
            let acc = &mut acc[start * k..end * k];
            // A node's NaN bit matters only for NaN values: a block without
            // any (most blocks, in most data) takes the shorter step.
            let nan = self.any_nan_yes && xs.iter().fold(false, |any, v| any | v.is_nan());
            let has = has_block(has, start, end, k);
            match (self.any_special, nan) {
                (false, false) => self.block::<false, false>(xs, end - start, width, acc, has),
                (false, true) => self.block::<false, true>(xs, end - start, width, acc, has),
                (true, _) => self.block::<true, true>(xs, end - start, width, acc, has),
            }
        }
    }

    /// Sums through QuickScorer's layout, adding each row's leaves in tree
    /// order as the walk does, so either path gives the same bits.
    fn quick_sums(&self, q: &Quick, x: &[T], rows: usize, width: usize, acc: &mut [f64], has: &mut [bool]) {
        let k = self.n_targets;
        let min_max = !has.is_empty();
        let one_target = self.only_target.filter(|_| !min_max).map(|t| t as usize);
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
        } else if self.single && !min_max {
            q.rows(x, rows, width, |first, n, possible| {
                for (tree, p) in possible.iter().enumerate() {
                    for g in 0..n {
                        let leaf = q.exit(tree, p[g]);
                        acc[(first + g) * k + self.leaf_target[leaf.number as usize] as usize] += leaf.value;
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
                        self.add_leaf(leaf, &mut acc[r * k..(r + 1) * k], has);
                    }
                }
            });
        }
    }

    fn block<const SPEC: bool, const NAN: bool>(
        &self,
        xs: &[T],
        rows: usize,
        width: usize,
        acc: &mut [f64],
        mut has: Option<&mut [bool]>,
    ) {
        let k = self.n_targets;
        // The common case, every weight to one column (regression, binary).
        let one_target = self.only_target.filter(|_| has.is_none()).map(|t| t as usize);
        // Whole groups of a small one-target forest of complete trees take
        // every tree at once; the rest go tree by tree below.
        let mut grouped = 0;
        if let (Some(t), true) = (one_target, self.complete.grouped() && width > 0) {
            while grouped + LANES <= rows {
                let sums = self.complete.group_sums::<NAN>(xs, width, grouped);
                for (g, s) in sums.iter().enumerate() {
                    acc[(grouped + g) * k + t] += s;
                }
                grouped += LANES;
            }
        }
        let trees = self.roots.iter().zip(&self.leaf_base).zip(&self.first_check).zip(&self.tree_special);
        for (tree, (((&root, &leaf_base), &first_check), &special)) in trees.enumerate() {
            // A tree without special splits takes the ordered walk, whatever the forest.
            let ordered = SPEC && !special;
            let complete = self.complete.tree(tree);
            let mut r = grouped;
            // (A zero-width input has no feature a leaf's step could read.)
            if width > 0 {
                while r + LANES <= rows {
                    let leaves = if let Some(c) = complete {
                        self.complete.walk::<NAN>(c, xs, width, r)
                    } else if ordered {
                        self.walk_group::<false, NAN>(root, leaf_base, first_check, xs, width, r)
                    } else {
                        self.walk_group::<SPEC, NAN>(root, leaf_base, first_check, xs, width, r)
                    };
                    if let Some(t) = one_target {
                        for (g, &node) in leaves.iter().enumerate() {
                            acc[(r + g) * k + t] += self.nodes[node as usize].threshold.to_f64();
                        }
                    } else {
                        for (g, &node) in leaves.iter().enumerate() {
                            let leaf = self.node_leaf[node as usize] as usize;
                            let out = &mut acc[(r + g) * k..(r + g + 1) * k];
                            let has = has.as_deref_mut().map(|h| &mut h[(r + g) * k..(r + g + 1) * k]);
                            self.add_leaf(leaf, out, has);
                        }
                    }
                    r += LANES;
                }
            }
            for r in r..rows {
                let row = &xs[r * width..(r + 1) * width];
                let node = self.walk::<SPEC, NAN>(root, leaf_base, row);
                if let Some(t) = one_target {
                    acc[r * k + t] += self.nodes[node as usize].threshold.to_f64();
                    continue;
                }
                let leaf = self.node_leaf[node as usize] as usize;
                let out = &mut acc[r * k..(r + 1) * k];
                let has = has.as_deref_mut().map(|h| &mut h[r * k..(r + 1) * k]);
                self.add_leaf(leaf, out, has);
            }
        }
    }

    /// One step down from node `i` for `row`; a leaf steps to itself.
    #[inline(always)]
    fn step<const NAN: bool>(&self, i: u32, row: &[T]) -> u32 {
        let n = &self.nodes[i as usize];
        let x = row[(n.feature & FEATURE) as usize];
        let mut go = x <= n.threshold;
        if NAN {
            // Branch-free: NaN goes "yes" only where the node says so.
            go |= x.is_nan() & (n.feature & NAN_YES != 0);
        }
        if go { n.yes } else { n.no }
    }

    /// Rows `first..first + LANES` down one tree in lock-step, with no
    /// per-row branch: leaves step to themselves, so lanes that arrive
    /// early idle in place and only "all on leaves?" is asked, first after
    /// `first_check` steps (the tree's depth unless it is unusually deep:
    /// then one question settles nearly every group), then every STRIDE steps.
    /// Returns their leaf nodes.
    ///
    /// This is the loop every tree model spends its time in, so it reads
    /// nodes and features without bounds checks. What makes that sound is
    /// checked before we get here: `compile` (via `check_layout`) proved
    /// every child index is a node and every node's feature is below
    /// `n_features`; `sums` proved `width >= n_features` and that `xs`
    /// holds whole rows; the caller passes `first + LANES <= rows`.
    #[allow(unsafe_code)]
    #[inline(always)]
    fn walk_group<const SPEC: bool, const NAN: bool>(
        &self,
        root: u32,
        leaf_base: u32,
        first_check: u32,
        xs: &[T],
        width: usize,
        first: usize,
    ) -> [u32; LANES] {
        const STRIDE: u32 = 2;
        debug_assert!((first + LANES) * width <= xs.len());
        let nodes = self.nodes.as_ptr();
        let x = xs.as_ptr();
        let off: [usize; LANES] = std::array::from_fn(|g| (first + g) * width);
        let mut idx = [root; LANES];
        let mut steps = first_check;
        loop {
            for _ in 0..steps {
                for g in 0..LANES {
                    // SAFETY: see above; idx[g] is a root or a child index,
                    // off[g] + feature < (first + LANES) * width <= xs.len().
                    let (n, v) = unsafe {
                        let n = &*nodes.add(idx[g] as usize);
                        (n, *x.add(off[g] + (n.feature & FEATURE) as usize))
                    };
                    let go = if SPEC {
                        // SAFETY: tests has one entry per node (check_layout).
                        let test = unsafe { &*self.tests.as_ptr().add(idx[g] as usize) };
                        self.special_step(idx[g], n, v, test)
                    } else {
                        let go = v <= n.threshold;
                        go | (NAN && v.is_nan() & (n.feature & NAN_YES != 0))
                    };
                    idx[g] = if go { n.yes } else { n.no };
                }
            }
            if idx.iter().all(|&i| i >= leaf_base) {
                return idx;
            }
            steps = STRIDE;
        }
    }

    #[inline(always)]
    fn walk<const SPEC: bool, const NAN: bool>(&self, root: u32, leaf_base: u32, row: &[T]) -> u32 {
        let mut i = root;
        while i < leaf_base {
            let n = &self.nodes[i as usize];
            if SPEC {
                let x = row[(n.feature & FEATURE) as usize];
                i = if self.special_step(i, n, x, &self.tests[i as usize]) { n.yes } else { n.no };
            } else {
                i = self.step::<NAN>(i, row);
            }
        }
        i
    }

    /// One step's decision in a forest with equality or membership splits,
    /// for any node: computed without branching on the node's kind, since in
    /// such forests the kind changes from node to node and a branch on it
    /// would be mispredicted half the time. Only sets with members the mask
    /// cannot hold take the searching path.
    #[inline(always)]
    fn special_step(&self, i: u32, n: &Node<T>, v: T, test: &SpecialTest) -> bool {
        if self.any_general && test.general() {
            return self.special_go(i, v, n.feature & NAN_YES != 0);
        }
        decide(v, n.threshold, n.feature, test)
    }

    #[cold]
    fn special_go(&self, node: u32, x: T, nan_yes: bool) -> bool {
        if x.is_nan() {
            return nan_yes;
        }
        match self.special.binary_search_by_key(&node, |(n, _)| *n).map(|ix| &self.special[ix].1) {
            Ok(Special::Eq(t)) => x == *t,
            Ok(Special::Member(set)) => set.contains(&x),
            Err(_) => false,
        }
    }

    #[inline(always)]
    fn add_leaf(&self, leaf: usize, out: &mut [f64], mut has: Option<&mut [bool]>) {
        if let Some(dense) = &self.dense {
            let k = self.n_targets;
            for (o, w) in out.iter_mut().zip(&dense[leaf * k..(leaf + 1) * k]) {
                *o += w.to_f64();
            }
        } else if self.single {
            self.add_one(self.leaf_target[leaf], self.leaf_value[leaf], out, has);
        } else {
            for &(t, w) in &self.weights[self.leaf_start[leaf] as usize..self.leaf_start[leaf + 1] as usize] {
                self.add_one(t, w, out, has.as_deref_mut());
            }
        }
    }

    #[inline(always)]
    fn add_one(&self, t: u32, w: T, out: &mut [f64], has: Option<&mut [bool]>) {
        let t = t as usize;
        let w = w.to_f64();
        match (self.aggregate, has) {
            (Aggregate::Min, Some(has)) => {
                if !has[t] || w < out[t] {
                    out[t] = w;
                    has[t] = true;
                }
            }
            (Aggregate::Max, Some(has)) => {
                if !has[t] || w > out[t] {
                    out[t] = w;
                    has[t] = true;
                }
            }
            _ => out[t] += w,
        }
    }
}

fn has_block(has: &mut [bool], start: usize, end: usize, k: usize) -> Option<&mut [bool]> {
    if has.is_empty() { None } else { Some(&mut has[start * k..end * k]) }
}

#[cfg(test)]
mod tests {
    use super::super::forest::{Forest, NodeSpec, PostTransform};
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
        Trees::compile(&forest).unwrap()
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
            for path in [Path::Walk, Path::Complete] {
                let trees = Trees::<f32>::compile_for(&forest, path).unwrap();
                assert_eq!(trees.only_target.is_some(), !multi);
                // Some trees complete and some not: too deep, or (special) a set the masks cannot hold.
                if path == Path::Complete {
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
                let walk = Trees::<f32>::compile_for(&forest, Path::Walk).unwrap();
                let complete = Trees::<f32>::compile_for(&forest, Path::Complete).unwrap();
                let quick = Trees::<f32>::compile_for(&forest, Path::Quick).unwrap();
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
            let dense = Trees::<f32>::compile_for(&forest, Path::Walk).unwrap();
            assert!(dense.dense.is_some());
            let pairs = Trees { dense: None, ..dense.clone() };
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
        let fastest = Trees::<f32>::compile_for(&forest, Path::Fastest).unwrap();
        let want = Trees::<f32>::compile_for(&forest, Path::Walk).unwrap().sums(&x, rows, features).unwrap();
        assert!(fastest.quick.is_some());
        let small = fastest.sums(&x[..301 * features], 301, features).unwrap();
        assert!(fastest.way.get().is_none(), "301 rows are too few to time");
        assert_eq!(bits(&small.sum), bits(&want.sum[..301 * 2]));
        let got = fastest.sums(&x, rows, features).unwrap();
        assert!(fastest.way.get().is_some());
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
        let trees = Trees::<f32>::compile_for(&forest, Path::Quick).unwrap();
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
        let trees = Trees::<f32>::compile(&forest).unwrap();
        assert!((trees.first_check[0] as usize) < LEVELS, "the chain must be deeper than the first check");
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
        assert!(Trees::<f32>::compile(&forest).is_err());
    }
}
