//! Shallow trees as complete binary trees: a third way through a forest,
//! for trees whose leaves are at most `MAX_DEPTH` splits deep (random
//! forests with a `max_depth`, XGBoost's depth-6 trees, scikit-learn's
//! depth-3 boosting), with ordered splits or equality and membership
//! splits whose sets the walker's masks hold.
//!
//! A tree of depth d is padded to all 2^d - 1 splits, stored breadth-first,
//! so the children of split i are 2i + 1 ("yes") and 2i + 2 ("no") and an
//! ordered step is one split read, one feature read, one comparison and
//! one add (a special tree's step also reads the split's test):
//! no child pointers to load or select between, and every row takes
//! exactly d steps, so nothing asks whether rows have reached their leaves.
//! A leaf above the bottom becomes padding splits that all lead to copies
//! of it. The walk takes as many steps (it walks every tree's full depth
//! before asking), so padding costs memory only: at most 2^8 splits a tree.
//! The walk returns the same leaf nodes as the walker's own layout, so the
//! leaves are added exactly as there.

use super::node::{FEATURE, Float, LANES, NAN_YES, SpecialTest, decide};

/// Deepest tree laid out this way: 255 splits and 256 leaves at most.
const MAX_DEPTH: u32 = 8;
/// The largest forest whose rows take all its trees a group at a time
/// (`group_sums`): a group reads every tree, so the trees must stay in L2.
const GROUPED_BYTES: usize = 256 << 10;

/// A split as the walk reads it: 8 bytes for float32 models.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Split<T> {
    threshold: T,
    /// Feature index plus the walker's NAN_YES bit.
    feature: u32,
}

/// Where one tree lives in `Complete`.
#[derive(Clone, Copy, Debug)]
pub struct Tree {
    depth: u32,
    splits: usize,
    leaves: usize,
    /// It has equality or membership splits: its steps read `tests`.
    special: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Complete<T> {
    /// Per tree of the forest, `None` where it is too deep.
    trees: Vec<Option<Tree>>,
    splits: Vec<Split<T>>,
    /// Beside `splits`, once any tree is special: how each split decides.
    tests: Vec<SpecialTest>,
    /// The walker's leaf node at each leaf position.
    leaves: Vec<u32>,
    /// Beside `leaves`: the leaf's (first) weight.
    values: Vec<T>,
    /// Every tree of the forest is laid out here, within GROUPED_BYTES.
    grouped: bool,
}

/// A node of the walk's layout, as this layout reads it to build its own.
pub enum CompleteView<T> {
    /// Threshold, feature word (with the walker's flags), "yes", "no", and
    /// the test of a special split (the default for an ordered one).
    Split(T, u32, u32, u32, SpecialTest),
    /// Its (first) weight.
    Leaf(T),
}

impl<T: Float> Complete<T> {
    /// Lays out each tree (given by its root) that is at most MAX_DEPTH
    /// deep and whose every node `node` gives (node i of the walker's
    /// layout, `None` where this layout cannot hold it); `special(t)`:
    /// tree t has equality or membership splits. `nodes` and `features`
    /// are the walker's node and feature counts: the layout is checked
    /// against them (`check`) before it is returned, so every `Complete`
    /// holds what the unchecked reads of `walk` and `group_sums` rely on.
    pub fn build(
        roots: &[u32],
        nodes: usize,
        features: usize,
        special: impl Fn(usize) -> bool,
        node: impl Fn(u32) -> Option<CompleteView<T>>,
    ) -> Result<Complete<T>, String> {
        let mut c = Complete::default();
        for (t, &root) in roots.iter().enumerate() {
            let Some(d) = deepest(root, MAX_DEPTH, &node) else {
                c.trees.push(None);
                continue;
            };
            let tree = Tree { depth: d, splits: c.splits.len(), leaves: c.leaves.len(), special: special(t) };
            let pad = Split { threshold: T::default(), feature: 0 };
            c.splits.resize(tree.splits + (1 << d) - 1, pad);
            // (From the first special tree on, `tests` runs beside `splits`.)
            if tree.special || !c.tests.is_empty() {
                c.tests.resize(c.splits.len(), SpecialTest::default());
            }
            c.leaves.resize(tree.leaves + (1 << d), 0);
            c.values.resize(tree.leaves + (1 << d), T::default());
            c.place(&tree, root, 0, &node);
            c.trees.push(Some(tree));
        }
        let bytes = size_of_val(&c.splits[..])
            + size_of_val(&c.tests[..])
            + size_of_val(&c.leaves[..])
            + size_of_val(&c.values[..]);
        c.grouped = !roots.is_empty() && c.trees.iter().all(Option::is_some) && bytes <= GROUPED_BYTES;
        c.check(nodes, features)?;
        Ok(c)
    }

    /// Puts walker node `i` at breadth-first position `at` of `tree`, and
    /// its subtree below it.
    /// (`deepest` has seen every node of the tree: `node` gives each.)
    fn place(&mut self, tree: &Tree, i: u32, at: usize, node: &impl Fn(u32) -> Option<CompleteView<T>>) {
        let first_leaf = (1 << tree.depth) - 1;
        if at >= first_leaf {
            self.leaves[tree.leaves + at - first_leaf] = i;
            if let Some(CompleteView::Leaf(value)) = node(i) {
                self.values[tree.leaves + at - first_leaf] = value;
            }
            return;
        }
        match node(i) {
            Some(CompleteView::Split(threshold, feature, yes, no, test)) => {
                self.splits[tree.splits + at] = Split { threshold, feature };
                if tree.special {
                    self.tests[tree.splits + at] = test;
                }
                self.place(tree, yes, 2 * at + 1, node);
                self.place(tree, no, 2 * at + 2, node);
            }
            // A leaf above the bottom: padding splits (feature 0, which
            // every forest with a split has) lead both ways to copies of it.
            Some(CompleteView::Leaf(_)) | None => {
                self.place(tree, i, 2 * at + 1, node);
                self.place(tree, i, 2 * at + 2, node);
            }
        }
    }

    /// Tree t's layout, if it has one.
    pub fn tree(&self, t: usize) -> Option<&Tree> {
        self.trees.get(t).and_then(Option::as_ref)
    }

    /// Rows may take the whole forest a group at a time (`group_sums`).
    pub fn grouped(&self) -> bool {
        self.grouped
    }

    /// How many trees are laid out this way.
    #[cfg(test)]
    pub fn count(&self) -> usize {
        self.trees.iter().flatten().count()
    }

    /// What `walk`'s unchecked reads rely on, given the walker's node count
    /// and feature count.
    fn check(&self, nodes: usize, features: usize) -> Result<(), String> {
        for tree in self.trees.iter().flatten() {
            if tree.depth > MAX_DEPTH
                || tree.splits + (1 << tree.depth) - 1 > self.splits.len()
                || tree.leaves + (1 << tree.depth) > self.leaves.len().min(self.values.len())
                || (tree.special && tree.splits + (1 << tree.depth) - 1 > self.tests.len())
            {
                return Err(format!("a complete tree of depth {} lies outside its arrays", tree.depth));
            }
        }
        // (Padding reads feature 0: there is one wherever a tree has a split.)
        if let Some(s) = self.splits.iter().find(|s| (s.feature & FEATURE) as usize >= features) {
            return Err(format!("a complete split reads feature {} of {features}", s.feature & FEATURE));
        }
        if self.leaves.iter().any(|&l| l as usize >= nodes) {
            return Err("a complete tree's leaf lies outside the trees".into());
        }
        Ok(())
    }

    /// Rows `first..first + LANES` down `tree`, in lock-step; returns their
    /// leaf nodes in the walker's layout.
    ///
    /// # Safety
    ///
    /// `tree` is one of `self`'s (from `tree`); `xs` holds whole rows of
    /// `width` values, `width` at least the feature count given to
    /// `build`; and `(first + LANES) * width <= xs.len()`.
    #[allow(unsafe_code)]
    #[inline(always)]
    pub unsafe fn walk<const NAN: bool>(
        &self,
        tree: &Tree,
        xs: &[T],
        width: usize,
        first: usize,
    ) -> [u32; LANES] {
        // SAFETY: the caller's promise is `leaf_positions`' own.
        let at = unsafe { self.leaf_positions::<NAN>(tree, xs, width, first) };
        let leaves = &self.leaves[tree.leaves..tree.leaves + (1 << tree.depth)];
        // SAFETY: positions are below 2^depth (see `positions`).
        std::array::from_fn(|g| unsafe { *leaves.get_unchecked(at[g] as usize) })
    }

    /// Rows `first..first + LANES`'s sums through every tree, for a forest
    /// laid out here whole (`grouped`) whose leaves each give one weight to one
    /// target: added tree by tree from 0, in the walker's order, so the
    /// bits are the walker's. A group takes every tree before the next
    /// group starts, its sums in registers, where the walker takes a tree
    /// through a block of rows and adds into memory.
    ///
    /// # Safety
    ///
    /// `xs` holds whole rows of `width` values, `width` at least the
    /// feature count given to `build`; and `(first + LANES) * width <=
    /// xs.len()`.
    #[allow(unsafe_code)]
    #[inline(always)]
    pub unsafe fn group_sums<const NAN: bool>(&self, xs: &[T], width: usize, first: usize) -> [f64; LANES] {
        let mut sum = [0f64; LANES];
        for tree in self.trees.iter().flatten() {
            // SAFETY: tree is one of ours; the rest is the caller's promise.
            let at = unsafe { self.leaf_positions::<NAN>(tree, xs, width, first) };
            let values = &self.values[tree.leaves..tree.leaves + (1 << tree.depth)];
            for g in 0..LANES {
                // SAFETY: positions are below 2^depth (see `positions`).
                let v = unsafe { *values.get_unchecked(at[g] as usize) };
                sum[g] += v.to_f64();
            }
        }
        sum
    }

    /// Rows `first..first + LANES` down `tree`, in lock-step; returns their
    /// leaf positions, each below 2^depth.
    ///
    /// # Safety
    ///
    /// As for `walk`.
    #[allow(unsafe_code)]
    #[inline(always)]
    unsafe fn leaf_positions<const NAN: bool>(
        &self,
        tree: &Tree,
        xs: &[T],
        width: usize,
        first: usize,
    ) -> [u32; LANES] {
        // SAFETY: the caller's promise is `positions`' own.
        unsafe {
            if tree.special {
                self.positions::<true, NAN>(tree, xs, width, first)
            } else {
                self.positions::<false, NAN>(tree, xs, width, first)
            }
        }
    }

    /// `leaf_positions`, for a tree with special splits or without.
    ///
    /// Reads splits and features without bounds checks. The layout's part
    /// of what makes that sound, `build` checked (`check`): each tree's
    /// splits, tests and leaves lie inside their arrays, and every split's
    /// feature is below the walker's feature count. A position stays below
    /// 2^depth - 1 for `depth` steps, then is a leaf position: the leaf
    /// index is below 2^depth.
    ///
    /// # Safety
    ///
    /// As for `walk`.
    #[allow(unsafe_code)]
    #[inline(always)]
    unsafe fn positions<const SPEC: bool, const NAN: bool>(
        &self,
        tree: &Tree,
        xs: &[T],
        width: usize,
        first: usize,
    ) -> [u32; LANES] {
        debug_assert!((first + LANES) * width <= xs.len());
        let splits = self.splits[tree.splits..].as_ptr();
        let x = xs.as_ptr();
        let off: [usize; LANES] = std::array::from_fn(|g| (first + g) * width);
        let mut at = [0u32; LANES];
        for _ in 0..tree.depth {
            for g in 0..LANES {
                // SAFETY: at[g] < 2^depth - 1, a split of the tree
                // (`check`); its feature is below the feature count <=
                // width, so the read is inside row first + g, which the
                // caller promised is in xs.
                let (s, v) = unsafe {
                    let s = &*splits.add(at[g] as usize);
                    (s, *x.add(off[g] + (s.feature & FEATURE) as usize))
                };
                let go = if SPEC {
                    // SAFETY: a special tree's tests lie inside `tests` (`check`).
                    let test = unsafe { &*self.tests.as_ptr().add(tree.splits + at[g] as usize) };
                    decide(v, s.threshold, s.feature, test)
                } else {
                    let go = v <= s.threshold;
                    go | (NAN && v.is_nan() & (s.feature & NAN_YES != 0))
                };
                at[g] = 2 * at[g] + 2 - u32::from(go);
            }
        }
        let first_leaf = (1u32 << tree.depth) - 1;
        at.map(|a| a - first_leaf)
    }
}

/// The depth of node `i`'s deepest leaf, if it is at most `limit`.
/// `None` also where `node` cannot give a node of the subtree.
fn deepest<T>(i: u32, limit: u32, node: &impl Fn(u32) -> Option<CompleteView<T>>) -> Option<u32> {
    match node(i)? {
        CompleteView::Leaf(_) => Some(0),
        CompleteView::Split(_, _, yes, no, _) if limit > 0 => {
            Some(1 + deepest(yes, limit - 1, node)?.max(deepest(no, limit - 1, node)?))
        }
        CompleteView::Split(..) => None,
    }
}
