//! The walk: each tree laid out for speed, and rows taken down it.
//!
//! Each tree is stored as its interior nodes in depth-first order (16
//! bytes a node for f32, so a walk mostly moves forward through memory)
//! followed by its leaves, which point to themselves: once a row reaches a
//! leaf, more steps leave it there. That lets LANES rows walk a tree in
//! lock-step with no per-row branch, LANES independent load chains the CPU
//! overlaps, until all sit on leaves (asked first at the tree's full
//! depth, or DEEPER past its leaves' mean depth if it is deeper still: an
//! answer that varies is a mispredicted branch, dearer than idle steps).
//! A forest with equality or set-membership splits takes a second step
//! that computes every kind of test and picks one (`decide`), still
//! without a branch; only sets with members the masks cannot hold search.

use tract_hir::internal::*;

use super::forest::{Forest, Mode};
use super::node::{FEATURE, Float, LANES, NAN_YES, SPECIAL, SpecialTest, below, decide};

/// How much deeper than its leaves' mean depth a tree's walk goes before it
/// first asks whether every row has reached a leaf.
const DEEPER: u32 = 8;

/// A node as the walk stores it: a split, or a leaf that leads to itself.
#[derive(Clone, Copy, Debug)]
pub struct PackedNode<T> {
    /// A split's threshold; a leaf's (first) weight, so the hot path reads
    /// the value from the node it already has in cache.
    pub threshold: T,
    /// Feature index, plus the NAN_YES and SPECIAL bits.
    pub feature: u32,
    pub yes: u32,
    pub no: u32,
}

/// Equality and membership splits, as searched where the mask cannot decide.
#[derive(Clone, Debug)]
enum Special<T> {
    Eq(T),
    Member(Vec<T>),
}

/// Where one tree lives in the walk's layout.
#[derive(Clone, Copy, Debug)]
pub struct WalkTree {
    root: u32,
    /// The index of its first leaf; nodes from there to the next tree are leaves.
    leaf_base: u32,
    /// The steps every group takes before asking whether all its rows sit on leaves.
    first_check: u32,
    /// It has an equality or membership split.
    special: bool,
}

impl WalkTree {
    /// Its root node.
    #[inline]
    pub fn root(&self) -> u32 {
        self.root
    }

    /// It has an equality or membership split.
    #[inline]
    pub fn special(&self) -> bool {
        self.special
    }

    /// The steps every group takes before asking whether all its rows sit on leaves.
    #[cfg(test)]
    pub fn first_check(&self) -> u32 {
        self.first_check
    }
}

/// The trees as the walk reads them. Built only by `build`, which checks
/// what the unchecked reads of `walk_group` rely on (`check`), and not
/// changed after: every child and root is a node, every feature index is
/// below `n_features`, and `tests` has one entry per node where any split
/// is special.
#[derive(Clone, Debug)]
pub struct Walk<T> {
    nodes: Vec<PackedNode<T>>,
    trees: Vec<WalkTree>,
    /// Per node: its leaf number (u32::MAX for a split).
    node_leaf: Vec<u32>,
    /// The equality and membership splits, by node.
    special: Vec<(u32, Special<T>)>,
    /// Per node when any split is special: how it decides (a membership
    /// node's whole-number members below the mask's size as bits, so most
    /// membership tests need no search).
    tests: Vec<SpecialTest>,
    /// Some set has members the masks cannot hold.
    any_general: bool,
    any_nan_yes: bool,
    any_special: bool,
    n_features: usize,
}

impl<T: Float> Walk<T> {
    /// Lays out the forest's trees, and gives, per leaf number, the
    /// forest's node it stands for (leaves are numbered in layout order).
    pub fn build(forest: &Forest) -> TractResult<(Walk<T>, Vec<usize>)> {
        let mut w = Walk {
            nodes: vec![],
            trees: vec![],
            node_leaf: vec![],
            special: vec![],
            tests: vec![],
            any_general: false,
            any_nan_yes: false,
            any_special: false,
            n_features: 0,
        };
        let mut leaves = vec![];
        for &root in &forest.roots {
            w.lay_out(forest, root, &mut leaves)?;
        }
        if w.any_special {
            w.tests = vec![SpecialTest::default(); w.nodes.len()];
            for (at, s) in &w.special {
                let test = match s {
                    Special::Eq(_) => SpecialTest::equal(),
                    Special::Member(set) => SpecialTest::member(set),
                };
                w.any_general |= test.general();
                w.tests[*at as usize] = test;
            }
        }
        w.check()?;
        Ok((w, leaves))
    }

    /// Appends one tree: interior nodes depth-first, then its leaves, whose
    /// forest nodes go to `leaves`.
    fn lay_out(&mut self, forest: &Forest, root: usize, leaves_out: &mut Vec<usize>) -> TractResult<()> {
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
        let leaf_base = (base + interior.len()) as u32;
        // Steps before "all on leaves?" is first asked: where that answer
        // varies from group to group, the CPU mispredicts it, which costs
        // more than the few steps lanes on leaves idle through. So walk the
        // tree's full depth unasked, unless some path is far deeper than
        // the leaves' mean (then ask from there on, every STRIDE steps).
        // LightGBM-200 (mean leaf depth 5.4, deepest 9.3 on average):
        // 17-30% faster than asking from the shallowest leaf on.
        let mean = depth_sum.div_ceil(leaves.len().max(1) as u64) as u32;
        self.trees.push(WalkTree {
            root: index[&root],
            leaf_base,
            first_check: max_depth.min(mean + DEEPER),
            special: interior
                .iter()
                .any(|&i| matches!(forest.nodes[i].mode, Mode::Eq | Mode::Neq | Mode::Member)),
        });
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
            self.nodes.push(PackedNode { threshold, feature, yes, no });
            self.node_leaf.push(u32::MAX);
        }
        for &i in &leaves {
            let spec = &forest.nodes[i];
            let at = self.nodes.len() as u32;
            // A leaf leads to itself, whatever the row holds.
            let value = T::from_f64(spec.weights.first().map_or(0.0, |w| w.1));
            self.nodes.push(PackedNode { threshold: value, feature: 0, yes: at, no: at });
            self.node_leaf.push(leaves_out.len() as u32);
            leaves_out.push(i);
        }
        Ok(())
    }

    /// What `walk_group`'s unchecked reads rely on.
    fn check(&self) -> TractResult<()> {
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
        if self.trees.iter().any(|t| t.root >= n) {
            bail!("a tree root lies outside the trees");
        }
        Ok(())
    }

    pub fn trees(&self) -> &[WalkTree] {
        &self.trees
    }

    /// How many nodes the layout has (leaves included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The features the trees read are below this.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Some split sends NaN "yes".
    pub fn any_nan_yes(&self) -> bool {
        self.any_nan_yes
    }

    /// Some split is an equality or membership split.
    pub fn any_special(&self) -> bool {
        self.any_special
    }

    /// Node `i`.
    pub fn node(&self, i: u32) -> &PackedNode<T> {
        &self.nodes[i as usize]
    }

    /// Node `i`'s leaf number, if it is a leaf.
    pub fn leaf_number(&self, i: u32) -> Option<u32> {
        Some(self.node_leaf[i as usize]).filter(|&l| l != u32::MAX)
    }

    /// Leaf node `i`'s leaf number, as an index (meaningless for a split:
    /// the hot path asks only of the leaves the walk returns).
    #[inline(always)]
    pub fn leaf_index(&self, i: u32) -> usize {
        self.node_leaf[i as usize] as usize
    }

    /// How node `i` decides, if it is an equality or membership split (the
    /// default otherwise).
    pub fn test(&self, i: u32) -> SpecialTest {
        self.tests.get(i as usize).copied().unwrap_or_default()
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

    /// Rows `first..first + LANES` down `tree` in lock-step, with no
    /// per-row branch: leaves step to themselves, so lanes that arrive
    /// early idle in place and only "all on leaves?" is asked, first after
    /// `first_check` steps (the tree's depth unless it is unusually deep:
    /// then one question settles nearly every group), then every STRIDE steps.
    /// Returns their leaf nodes.
    ///
    /// This is the loop every tree model spends its time in, so it reads
    /// nodes and features without bounds checks; the layout's part of what
    /// that needs `build` checked.
    ///
    /// # Safety
    ///
    /// `tree` is one of `self.trees()`; `xs` holds whole rows of `width`
    /// values, `width >= self.n_features()`; and `(first + LANES) * width
    /// <= xs.len()`.
    #[allow(unsafe_code)]
    #[inline(always)]
    pub unsafe fn walk_group<const SPEC: bool, const NAN: bool>(
        &self,
        tree: &WalkTree,
        xs: &[T],
        width: usize,
        first: usize,
    ) -> [u32; LANES] {
        const STRIDE: u32 = 2;
        debug_assert!((first + LANES) * width <= xs.len() && width >= self.n_features);
        let nodes = self.nodes.as_ptr();
        let x = xs.as_ptr();
        let off: [usize; LANES] = std::array::from_fn(|g| (first + g) * width);
        let mut idx = [tree.root; LANES];
        let mut steps = tree.first_check;
        loop {
            for _ in 0..steps {
                for g in 0..LANES {
                    // SAFETY: idx[g] is the tree's root or a child index, a
                    // node (`check`); its feature is below n_features <=
                    // width, so off[g] + feature < (first + LANES) * width
                    // <= xs.len() (the caller's promise).
                    let (n, v) = unsafe {
                        let n = &*nodes.add(idx[g] as usize);
                        (n, *x.add(off[g] + (n.feature & FEATURE) as usize))
                    };
                    let go = if SPEC {
                        // SAFETY: tests has one entry per node once any split is special (`check`).
                        let test = unsafe { &*self.tests.as_ptr().add(idx[g] as usize) };
                        self.special_step(idx[g], n, v, test)
                    } else {
                        let go = v <= n.threshold;
                        go | (NAN && v.is_nan() & (n.feature & NAN_YES != 0))
                    };
                    idx[g] = if go { n.yes } else { n.no };
                }
            }
            if idx.iter().all(|&i| i >= tree.leaf_base) {
                return idx;
            }
            steps = STRIDE;
        }
    }

    /// One row down `tree` (bounds-checked: it takes the rows that do not
    /// fill a group); returns its leaf node.
    #[inline(always)]
    pub fn walk<const SPEC: bool, const NAN: bool>(&self, tree: &WalkTree, row: &[T]) -> u32 {
        let mut i = tree.root;
        while i < tree.leaf_base {
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
    /// for any node: `decide`, unless the node's set has members the mask
    /// cannot hold.
    #[inline(always)]
    fn special_step(&self, i: u32, n: &PackedNode<T>, v: T, test: &SpecialTest) -> bool {
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
}
