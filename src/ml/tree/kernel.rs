//! The tree walker, laid out for speed.
//!
//! Every ordered split (≤, <, ≥, >) is rewritten at load time as `x ≤ t`
//! with the children swapped where needed (`x < t` is `x ≤ next_down(t)`
//! for floats), and where NaN goes becomes one bit per node. So the hot
//! loop has one comparison and no mode dispatch; equality and set
//! membership splits, rare in practice, take a slower general path.
//! Each tree is stored as its interior nodes in depth-first order (16
//! bytes a node for f32, so a walk mostly moves forward through memory)
//! followed by its leaves, which point to themselves: once a row reaches a
//! leaf, more steps leave it there. That lets eight rows walk a tree in
//! lock-step with no per-row branch, eight independent load chains the CPU
//! overlaps, until all eight sit on leaves. Rows go through the trees in
//! blocks, so a block's rows share each tree while it is in cache.

use std::fmt::Debug;

use tract_hir::internal::*;

use super::{Aggregate, Forest, Mode};

const NAN_YES: u32 = 1 << 31;
const SPECIAL: u32 = 1 << 30;
const FEATURE: u32 = !(NAN_YES | SPECIAL);
/// Rows per block: a block's accumulators stay in L1 while every tree passes over it.
const BLOCK: usize = 128;
/// Rows walking a tree together.
const GROUP: usize = 8;

pub trait Float: Copy + Debug + Default + PartialOrd + Send + Sync + std::ops::AddAssign + 'static {
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn is_nan(self) -> bool;
    fn next_down(self) -> Self;
}

impl Float for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn next_down(self) -> Self {
        f32::next_down(self)
    }
}

impl Float for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn next_down(self) -> Self {
        f64::next_down(self)
    }
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
    /// Per node: its leaf number (meaningful for leaves only).
    node_leaf: Vec<u32>,
    /// `Some`: every leaf has exactly one weight; `leaf_value[l]` goes to `leaf_target[l]`.
    single: bool,
    leaf_value: Vec<T>,
    leaf_target: Vec<u32>,
    /// Otherwise leaf l's weights are `weights[leaf_start[l]..leaf_start[l + 1]]`.
    leaf_start: Vec<u32>,
    weights: Vec<(u32, T)>,
    special: Vec<(u32, Special<T>)>,
    any_nan_yes: bool,
    any_special: bool,
    n_features: usize,
    n_targets: usize,
    aggregate: Aggregate,
    /// For SUM/AVERAGE, whether a target gets a weight anywhere (onnxruntime's `has_score`).
    targets_used: Vec<bool>,
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

    pub fn row(&self, r: usize) -> &[f64] {
        &self.sum[r * self.targets..(r + 1) * self.targets]
    }

    pub fn has_row(&self, r: usize) -> &[bool] {
        if self.has_per_row { &self.has[r * self.targets..(r + 1) * self.targets] } else { &self.has }
    }
}

impl<T: Float> Trees<T> {
    pub fn compile(forest: &Forest) -> TractResult<Trees<T>> {
        let mut t = Trees {
            nodes: vec![],
            roots: vec![],
            leaf_base: vec![],
            node_leaf: vec![],
            single: forest.nodes.iter().filter(|n| n.mode == Mode::Leaf).all(|n| n.weights.len() == 1),
            leaf_value: vec![],
            leaf_target: vec![],
            leaf_start: vec![0],
            weights: vec![],
            special: vec![],
            any_nan_yes: false,
            any_special: false,
            n_features: 0,
            n_targets: forest.n_targets,
            aggregate: forest.aggregate,
            targets_used: vec![false; forest.n_targets],
        };
        for n in &forest.nodes {
            for (k, _) in &n.weights {
                t.targets_used[*k] = true;
            }
        }
        for &root in &forest.roots {
            t.lay_out(forest, root)?;
        }
        Ok(t)
    }

    /// Appends one tree: interior nodes depth-first, then its leaves.
    fn lay_out(&mut self, forest: &Forest, root: usize) -> TractResult<()> {
        let (mut interior, mut leaves) = (Vec::new(), Vec::new());
        let mut stack = vec![root];
        let mut visits = 0usize;
        while let Some(i) = stack.pop() {
            visits += 1;
            // More visits than nodes: a cycle in a malformed model.
            if visits > 2 * forest.nodes.len() + 1 {
                bail!("the tree at node {root} is not a tree (a cycle?)");
            }
            let spec = forest.nodes.get(i).with_context(|| format!("node {i} does not exist"))?;
            if spec.mode == Mode::Leaf {
                leaves.push(i);
            } else {
                interior.push(i);
                stack.push(spec.no);
                stack.push(spec.yes);
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

    pub fn sums(&self, x: &[T], rows: usize, width: usize) -> TractResult<Sums> {
        if width < self.n_features {
            bail!("the trees read feature {} but the input has {width} columns", self.n_features - 1);
        }
        if x.len() < rows * width {
            bail!("input holds {} values, expected {rows} × {width}", x.len());
        }
        let k = self.n_targets;
        let min_max = matches!(self.aggregate, Aggregate::Min | Aggregate::Max);
        // Sums in f64, as onnxruntime's classifiers do: an f32 running sum
        // can land one ulp off a 0.5 tie and flip a label.
        let mut acc = vec![0f64; rows * k];
        let mut has = if min_max { vec![false; rows * k] } else { vec![] };
        for start in (0..rows).step_by(BLOCK) {
            let end = (start + BLOCK).min(rows);
            let xs = &x[start * width..end * width];
            let acc = &mut acc[start * k..end * k];
            match (self.any_special, self.any_nan_yes) {
                (false, false) => {
                    self.block::<false, false>(xs, width, acc, has_block(&mut has, start, end, k))
                }
                (false, true) => {
                    self.block::<false, true>(xs, width, acc, has_block(&mut has, start, end, k))
                }
                (true, _) => self.block::<true, true>(xs, width, acc, has_block(&mut has, start, end, k)),
            }
        }
        let sum = acc;
        Ok(if min_max {
            Sums { targets: k, sum, has, has_per_row: true }
        } else {
            Sums { targets: k, sum, has: self.targets_used.clone(), has_per_row: false }
        })
    }

    fn block<const SPEC: bool, const NAN: bool>(
        &self,
        xs: &[T],
        width: usize,
        acc: &mut [f64],
        mut has: Option<&mut [bool]>,
    ) {
        let k = self.n_targets;
        let rows: Vec<&[T]> = xs.chunks_exact(width).collect();
        let fast = self.single && has.is_none();
        // One target (regression, binary): every weight goes to column 0.
        let one_target = fast && k == 1;
        for (&root, &leaf_base) in self.roots.iter().zip(&self.leaf_base) {
            let mut r = 0;
            if !SPEC && one_target && rows.len() >= GROUP {
                self.walk_lanes::<NAN>(root, leaf_base, &rows, acc);
                continue;
            }
            if !SPEC {
                while r + GROUP <= rows.len() {
                    let group: [&[T]; GROUP] = std::array::from_fn(|g| rows[r + g]);
                    let leaves = self.walk_group::<NAN>(root, leaf_base, &group);
                    if one_target {
                        for (g, &node) in leaves.iter().enumerate() {
                            acc[r + g] += self.nodes[node as usize].threshold.to_f64();
                        }
                        r += GROUP;
                        continue;
                    }
                    for (g, &node) in leaves.iter().enumerate() {
                        let leaf = self.node_leaf[node as usize] as usize;
                        let out = &mut acc[(r + g) * k..(r + g + 1) * k];
                        if fast {
                            out[self.leaf_target[leaf] as usize] += self.leaf_value[leaf].to_f64();
                        } else {
                            let has = has.as_deref_mut().map(|h| &mut h[(r + g) * k..(r + g + 1) * k]);
                            self.add_leaf(leaf, out, has);
                        }
                    }
                    r += GROUP;
                }
            }
            for (r, row) in rows.iter().enumerate().skip(r) {
                let node = self.walk::<SPEC, NAN>(root, leaf_base, row);
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

    /// All `rows` down one tree, GROUP at a time, each lane taking the next
    /// row as soon as its row reaches a leaf (no lane waits for the deepest
    /// path of its group); adds each leaf's weight to the row's sum.
    fn walk_lanes<const NAN: bool>(&self, root: u32, leaf_base: u32, rows: &[&[T]], acc: &mut [f64]) {
        const IDLE: usize = usize::MAX;
        let n = rows.len();
        let mut lane_row: [usize; GROUP] = std::array::from_fn(|g| g);
        let mut idx = [root; GROUP];
        let mut next = GROUP;
        let mut live = GROUP;
        while live > 0 {
            for g in 0..GROUP {
                let row = lane_row[g];
                if row == IDLE {
                    continue;
                }
                let i = idx[g];
                if i >= leaf_base {
                    acc[row] += self.nodes[i as usize].threshold.to_f64();
                    if next < n {
                        lane_row[g] = next;
                        idx[g] = root;
                        next += 1;
                    } else {
                        lane_row[g] = IDLE;
                        live -= 1;
                    }
                    continue;
                }
                idx[g] = self.step::<NAN>(i, rows[row]);
            }
        }
    }

    /// GROUP rows down one tree in lock-step; returns their leaf nodes.
    #[inline(always)]
    fn walk_group<const NAN: bool>(&self, root: u32, leaf_base: u32, rows: &[&[T]; GROUP]) -> [u32; GROUP] {
        let mut idx = [root; GROUP];
        while idx.iter().any(|&i| i < leaf_base) {
            for g in 0..GROUP {
                idx[g] = self.step::<NAN>(idx[g], rows[g]);
            }
        }
        idx
    }

    #[inline(always)]
    fn walk<const SPEC: bool, const NAN: bool>(&self, root: u32, leaf_base: u32, row: &[T]) -> u32 {
        let mut i = root;
        while i < leaf_base {
            let n = &self.nodes[i as usize];
            if SPEC && n.feature & SPECIAL != 0 {
                let x = row[(n.feature & FEATURE) as usize];
                i = if self.special_go(i, x, n.feature & NAN_YES != 0) { n.yes } else { n.no };
            } else {
                i = self.step::<NAN>(i, row);
            }
        }
        i
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

    fn add_leaf(&self, leaf: usize, out: &mut [f64], mut has: Option<&mut [bool]>) {
        if self.single {
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

/// The largest value below `t`, so `x < t` is `x <= below(t)` for every
/// non-NaN x; `x < -inf` holds for nothing, and NaN never compares true.
fn below<T: Float>(t: T) -> T {
    if t.to_f64() == f64::NEG_INFINITY { T::from_f64(f64::NAN) } else { t.next_down() }
}

#[cfg(test)]
mod tests {
    use super::super::{Forest, NodeSpec, PostTransform};
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
}
