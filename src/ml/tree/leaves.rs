//! What the leaves add to a row's sums: their weights, stored the way the
//! forest's leaves allow the fewest loads, and added the way the forest's
//! aggregate says. Every way through the trees adds its leaves here, in the
//! same order, so all give the same bits.

use super::forest::{Aggregate, Forest, Mode};
use super::node::Float;

#[derive(Clone, Debug)]
pub struct Leaves<T> {
    /// Every leaf has exactly one weight: `leaf_value[l]` goes to `leaf_target[l]`.
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
    n_targets: usize,
    aggregate: Aggregate,
    /// For SUM/AVERAGE, whether a target gets a weight anywhere (onnxruntime's `has_score`).
    targets_used: Vec<bool>,
}

impl<T: Float> Leaves<T> {
    /// The weights of `leaves`, the forest's leaf nodes by leaf number.
    pub fn build(forest: &Forest, leaves: &[usize]) -> Leaves<T> {
        let mut l = Leaves {
            single: forest.nodes.iter().filter(|n| n.mode == Mode::Leaf).all(|n| n.weights.len() == 1),
            only_target: None,
            leaf_value: vec![],
            leaf_target: vec![],
            leaf_start: vec![0],
            weights: vec![],
            dense: None,
            n_targets: forest.n_targets,
            aggregate: forest.aggregate,
            targets_used: vec![false; forest.n_targets],
        };
        for n in &forest.nodes {
            for (k, _) in &n.weights {
                l.targets_used[*k] = true;
            }
        }
        for &i in leaves {
            let spec = &forest.nodes[i];
            if l.single {
                let (k, w) = spec.weights.first().copied().unwrap_or((0, 0.0));
                l.leaf_value.push(T::from_f64(w));
                l.leaf_target.push(k as u32);
            } else {
                l.weights.extend(spec.weights.iter().map(|&(k, w)| (k as u32, T::from_f64(w))));
            }
            l.leaf_start.push(l.weights.len() as u32);
        }
        if l.single && l.leaf_target.windows(2).all(|w| w[0] == w[1]) {
            l.only_target = Some(l.leaf_target.first().copied().unwrap_or(0));
        }
        l.dense = l.dense_weights();
        l
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

    pub fn n_targets(&self) -> usize {
        self.n_targets
    }

    /// MIN or MAX: a row's targets track whether any leaf has given them a weight.
    pub fn min_max(&self) -> bool {
        matches!(self.aggregate, Aggregate::Min | Aggregate::Max)
    }

    /// For SUM/AVERAGE, whether a target gets a weight anywhere.
    pub fn targets_used(&self) -> &[bool] {
        &self.targets_used
    }

    /// Every leaf has one weight, all for this target.
    pub fn only_target(&self) -> Option<u32> {
        self.only_target
    }

    /// Every leaf has exactly one weight.
    pub fn single(&self) -> bool {
        self.single
    }

    /// The target of leaf `leaf`'s one weight (forests where `single`).
    #[inline(always)]
    pub fn target(&self, leaf: usize) -> u32 {
        self.leaf_target[leaf]
    }

    /// The weights are stored as dense rows.
    #[cfg(test)]
    pub fn dense(&self) -> bool {
        self.dense.is_some()
    }

    /// The same weights, stored as (target, weight) pairs only.
    #[cfg(test)]
    pub fn without_dense(&self) -> Leaves<T> {
        Leaves { dense: None, ..self.clone() }
    }

    /// Adds leaf `leaf`'s weights to a row's `out` (MIN/MAX: `has` tracks
    /// which targets have a weight yet).
    #[inline(always)]
    pub fn add(&self, leaf: usize, out: &mut [f64], mut has: Option<&mut [bool]>) {
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
