//! From per-row leaf sums to what the ONNX op outputs, exactly as
//! onnxruntime does it: base values, averaging, the binary-classifier
//! expansion (converters emit one score for two classes), post-transforms.

use super::forest::{Aggregate, Forest, PostTransform};

#[derive(Debug)]
pub struct Finalizer {
    n_targets: usize,
    n_trees: usize,
    aggregate: Aggregate,
    post: PostTransform,
    base: Vec<f64>,
    /// Every weight ≥ 0 (votes or probabilities, a random forest): the
    /// binary label is "score > 0.5" and the scores [1 - p, p]; otherwise
    /// (boosting margins) "score > 0" and [-s, s] through the transform.
    weights_all_positive: bool,
    /// The shape most models have, finalized a column at a time instead of
    /// row by row (for small forests the per-row path costs as much as the walk).
    column: Column,
}

/// Models whose rows all finalize the same way, as a loop over the column
/// of sums. Both give exactly what `classify` / `regress` give row by row.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    No,
    /// A regressor with one target: `sum / trees + base` (AVERAGE) or
    /// `sum + base`, then the transform.
    Regress {
        trees: Option<f64>,
        base: f64,
        used: bool,
    },
    /// A two-class classifier with one score per row (what converters emit).
    Binary {
        base: f64,
    },
}

impl Finalizer {
    pub fn new(forest: &Forest, classes: Option<usize>) -> Finalizer {
        let sum_like = matches!(forest.aggregate, Aggregate::Sum | Aggregate::Average);
        let used = |k: usize| forest.nodes.iter().any(|n| n.weights.iter().any(|(t, _)| *t == k));
        let base0 = forest.base_values.first().copied().unwrap_or(0.0);
        let column = match classes {
            _ if !sum_like => Column::No,
            Some(2) if forest.n_targets == 2 && !used(1) => {
                match forest.base_values.len() <= 1 && forest.post != PostTransform::Probit {
                    true => Column::Binary { base: base0 },
                    false => Column::No,
                }
            }
            _ if forest.n_targets != 1 => Column::No,
            None if matches!(
                forest.post,
                PostTransform::None | PostTransform::Logistic | PostTransform::Probit
            ) =>
            {
                let n = forest.roots.len();
                let trees = (forest.aggregate == Aggregate::Average && n > 0).then_some(n as f64);
                Column::Regress { trees, base: base0, used: used(0) }
            }
            // Two labels with scores for the first only: onnxruntime's one-score case.
            Some(2) if forest.base_values.len() <= 1 && forest.post != PostTransform::Probit => {
                Column::Binary { base: base0 }
            }
            _ => Column::No,
        };
        Finalizer {
            n_targets: forest.n_targets,
            n_trees: forest.roots.len(),
            aggregate: forest.aggregate,
            post: forest.post,
            base: forest.base_values.clone(),
            weights_all_positive: forest.nodes.iter().flat_map(|n| n.weights.iter()).all(|(_, w)| *w >= 0.0),
            column,
        }
    }

    /// Whether `regress_column` or `binary_column` applies.
    pub fn by_column(&self) -> bool {
        self.column != Column::No
    }

    /// A one-target regressor's outputs for a column of sums, or `None`
    /// when the model needs the per-row path.
    pub fn regress_column(&self, sums: &[f64]) -> Option<Vec<f64>> {
        let Column::Regress { trees, base, used } = self.column else { return None };
        let mut out: Vec<f64> = match (used, trees) {
            (false, _) => vec![base; sums.len()],
            (true, Some(n)) => sums.iter().map(|&v| v / n + base).collect(),
            (true, None) => sums.iter().map(|&v| v + base).collect(),
        };
        transform(self.post, &mut out);
        Some(out)
    }

    /// A binary classifier's probabilities (two per row) and winning class
    /// indices for a column of sums, or `None` when the model needs the per-row path.
    pub fn binary_column(&self, sums: &[f64]) -> Option<(Vec<f32>, Vec<usize>)> {
        let Column::Binary { base } = self.column else { return None };
        let mut probs = Vec::with_capacity(sums.len() * 2);
        let mut winners = Vec::with_capacity(sums.len());
        let logistic_margin = !self.weights_all_positive && self.post == PostTransform::Logistic;
        for &s in sums {
            let v = s + base;
            let (winner, pair) = if self.weights_all_positive {
                (v > 0.5, [1.0 - v, v])
            } else if logistic_margin {
                (v > 0.0, [logistic(-v), logistic(v)])
            } else {
                (v > 0.0, [-v, v])
            };
            winners.push(usize::from(winner));
            probs.extend(pair.map(|p| p as f32));
        }
        Some((probs, winners))
    }

    /// A classifier row: writes the class scores, returns the winning class index.
    pub fn classify(&self, sum: &[f64], has: &[bool], out: &mut [f64]) -> usize {
        let c = self.n_targets;
        // Scratch on the stack for the common sizes: this runs once per row.
        let mut s_buf = [0f64; 16];
        let mut h_buf = [false; 16];
        let (mut s_vec, mut h_vec);
        let (s, h): (&mut [f64], &mut [bool]) = if c <= 16 {
            s_buf[..c].copy_from_slice(sum);
            h_buf[..c].copy_from_slice(has);
            (&mut s_buf[..c], &mut h_buf[..c])
        } else {
            s_vec = sum.to_vec();
            h_vec = has.to_vec();
            (&mut s_vec, &mut h_vec)
        };
        if c > 2 {
            for (k, b) in self.base.iter().enumerate().take(c) {
                if h[k] {
                    s[k] += b;
                } else {
                    s[k] = *b;
                    h[k] = true;
                }
            }
            let mut winner = None::<usize>;
            for k in 0..c {
                if h[k] && winner.is_none_or(|w| s[k] > s[w]) {
                    winner = Some(k);
                }
            }
            transform(self.post, s);
            out.copy_from_slice(s);
            return winner.unwrap_or(0);
        }
        // Two classes (or one).
        let mut n = c;
        match self.base.len() {
            2 if h.get(1).copied().unwrap_or(false) => {
                s[1] = self.base[1] + s[0];
                s[0] = -s[1];
            }
            2 => {
                s[1] += self.base[1];
                s[0] += self.base[0];
            }
            1 => {
                s[0] += self.base[0];
                if !h.get(1).copied().unwrap_or(false) {
                    n = 1;
                }
            }
            _ => {
                if !h.get(1).copied().unwrap_or(false) {
                    n = 1;
                }
            }
        }
        if n == 2 {
            let winner = if h[1] {
                usize::from(s[1] > s[0])
            } else if self.weights_all_positive {
                usize::from(s[0] > 0.5)
            } else {
                usize::from(s[0] > 0.0)
            };
            transform(self.post, s);
            out.copy_from_slice(&s[..out.len()]);
            return winner;
        }
        // One score for two classes: onnxruntime writes the second column itself.
        let v = s[0];
        let winner;
        let pair = if self.weights_all_positive {
            winner = usize::from(v > 0.5);
            [1.0 - v, v]
        } else {
            winner = usize::from(v > 0.0);
            match self.post {
                PostTransform::Logistic => [logistic(-v), logistic(v)],
                _ => [-v, v],
            }
        };
        let pair = if self.post == PostTransform::Probit { [probit(v), 0.0] } else { pair };
        for (o, p) in out.iter_mut().zip(pair) {
            *o = p;
        }
        winner
    }

    /// A regressor row.
    pub fn regress(&self, sum: &[f64], has: &[bool], out: &mut [f64]) {
        for k in 0..self.n_targets {
            let v = if has[k] { sum[k] } else { 0.0 };
            let v = if self.aggregate == Aggregate::Average && self.n_trees > 0 {
                v / self.n_trees as f64
            } else {
                v
            };
            out[k] = v + self.base.get(k).copied().unwrap_or(0.0);
        }
        transform(self.post, out);
    }
}

pub fn transform(post: PostTransform, s: &mut [f64]) {
    match post {
        PostTransform::None => {}
        PostTransform::Logistic => s.iter_mut().for_each(|v| *v = logistic(*v)),
        PostTransform::Probit => s.iter_mut().for_each(|v| *v = probit(*v)),
        PostTransform::Softmax => {
            let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut total = 0.0;
            for v in s.iter_mut() {
                *v = (*v - max).exp();
                total += *v;
            }
            s.iter_mut().for_each(|v| *v /= total);
        }
        PostTransform::SoftmaxZero => {
            // Zeros stay zero: they mean "no score", not "score 0".
            let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut total = 0.0;
            for v in s.iter_mut() {
                *v = if v.abs() > 1e-7 { (*v - max).exp() } else { 0.0 };
                total += *v;
            }
            if total > 0.0 {
                s.iter_mut().for_each(|v| *v /= total);
            }
        }
    }
}

pub fn logistic(v: f64) -> f64 {
    let e = 1.0 / (1.0 + (-v.abs()).exp());
    if v < 0.0 { 1.0 - e } else { e }
}

/// onnxruntime's probit: √2 · erfinv(2p − 1), with the same closed-form
/// approximation of erfinv (Winitzki's), so the answers match.
pub fn probit(p: f64) -> f64 {
    let x = 2.0 * p - 1.0;
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let ln = ((1.0 - x) * (1.0 + x)).ln();
    let a = 0.147;
    let v = 2.0 / (std::f64::consts::PI * a) + 0.5 * ln;
    let v2 = ln / a;
    let r = (-v + (v * v - v2).sqrt()).sqrt() * sign;
    std::f64::consts::SQRT_2 * r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_and_probit_values() {
        assert!((logistic(0.0) - 0.5).abs() < 1e-12);
        assert!((logistic(2.0) - 0.880_797_077_977_882_3).abs() < 1e-12);
        assert!((logistic(-2.0) - 0.119_202_922_022_117_7).abs() < 1e-12);
        assert!(probit(0.5).abs() < 1e-9);
        // The approximation is within 1e-3 of the true quantile 1.6448536.
        assert!((probit(0.95) - 1.644_853_6).abs() < 2e-3);
    }

    #[test]
    fn softmax_zero_keeps_zeros() {
        let mut s = [0.0, 1.0, 1.0];
        transform(PostTransform::SoftmaxZero, &mut s);
        assert_eq!(s, [0.0, 0.5, 0.5]);
        // Unequal scores: the shares of exp(v - max), the others' zero kept.
        let mut s = [0.0, 1.0, 3.0];
        transform(PostTransform::SoftmaxZero, &mut s);
        let e = (-2.0f64).exp();
        assert_eq!(s[0], 0.0);
        assert!((s[1] - e / (1.0 + e)).abs() < 1e-15 && (s[2] - 1.0 / (1.0 + e)).abs() < 1e-15, "{s:?}");
        // Large scores: shifted by the max before exp, so nothing overflows.
        let mut s = [0.0, 400.0, 402.0];
        transform(PostTransform::SoftmaxZero, &mut s);
        assert!((s[1] - e / (1.0 + e)).abs() < 1e-15 && (s[2] - 1.0 / (1.0 + e)).abs() < 1e-15, "{s:?}");
        // onnxruntime's cut: |v| up to 1e-7 counts as zero.
        let mut s = [1e-7, -1e-7, 2.0];
        transform(PostTransform::SoftmaxZero, &mut s);
        assert_eq!(s, [0.0, 0.0, 1.0]);
        // All zero: nothing to share, no 0/0.
        let mut s = [0.0, 0.0];
        transform(PostTransform::SoftmaxZero, &mut s);
        assert_eq!(s, [0.0, 0.0]);
        let mut s = [0.0, 1.0, 1.0];
        transform(PostTransform::Softmax, &mut s);
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-12 && s[0] > 0.0);
    }

    fn forest(
        targets: usize,
        used: &[usize],
        weight: f64,
        aggregate: Aggregate,
        post: PostTransform,
        base: Vec<f64>,
    ) -> Forest {
        let leaf = super::super::forest::NodeSpec {
            weights: used.iter().map(|&t| (t, weight)).collect(),
            ..super::super::forest::NodeSpec::leaf()
        };
        Forest {
            nodes: vec![leaf.clone(), leaf],
            roots: vec![0, 1],
            n_targets: targets,
            aggregate,
            post,
            base_values: base,
        }
    }

    /// The column paths give exactly what the row-by-row path gives.
    #[test]
    fn column_finalizers_match_the_row_path() {
        let sums: Vec<f64> = (0..41).map(|i| (f64::from(i) - 20.0) / 16.0).collect();
        let posts =
            [PostTransform::None, PostTransform::Logistic, PostTransform::Probit, PostTransform::Softmax];
        let mut binaries = 0;
        for post in posts {
            for base in [vec![], vec![0.25], vec![0.25, -0.5]] {
                for (targets, used) in [(1, vec![0]), (2, vec![0]), (2, vec![0, 1]), (1, vec![])] {
                    for weight in [0.5, -0.5] {
                        for agg in [Aggregate::Sum, Aggregate::Average, Aggregate::Max] {
                            let f = forest(targets, &used, weight, agg, post, base.clone());
                            if base.len() > targets {
                                continue;
                            }
                            let has: Vec<bool> = (0..targets).map(|t| used.contains(&t)).collect();
                            let fin = Finalizer::new(&f, Some(2));
                            if let Some((probs, winners)) = fin.binary_column(&sums) {
                                binaries += 1;
                                for (r, &v) in sums.iter().enumerate() {
                                    let mut row = vec![0.0; targets];
                                    row[0] = v;
                                    let mut out = [0.0; 2];
                                    let w = fin.classify(&row, &has, &mut out);
                                    assert_eq!(w, winners[r], "{post:?} {base:?} {targets} {used:?} row {r}");
                                    assert_eq!(out.map(|p| p as f32), [probs[2 * r], probs[2 * r + 1]]);
                                }
                            }
                            let fin = Finalizer::new(&f, None);
                            if let Some(values) = fin.regress_column(&sums) {
                                for (r, &v) in sums.iter().enumerate() {
                                    let mut out = [0.0];
                                    fin.regress(&[v], &has, &mut out);
                                    assert_eq!(
                                        out[0].to_bits(),
                                        values[r].to_bits(),
                                        "{post:?} {agg:?} row {r}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(binaries > 10, "the binary column path ran {binaries} times");
    }
}
