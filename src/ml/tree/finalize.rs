//! From per-row leaf sums to what the ONNX op outputs, exactly as
//! onnxruntime does it: base values, averaging, the binary-classifier
//! expansion (converters emit one score for two classes), post-transforms.

use super::Forest;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
    Probit,
}

impl PostTransform {
    pub fn parse(s: &str) -> anyhow::Result<PostTransform> {
        Ok(match s {
            "NONE" => PostTransform::None,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX" => PostTransform::Softmax,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            "PROBIT" => PostTransform::Probit,
            other => anyhow::bail!("unknown post_transform {other:?}"),
        })
    }
}

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
}

impl Finalizer {
    pub fn new(forest: &Forest, _classes: Option<usize>) -> Finalizer {
        Finalizer {
            n_targets: forest.n_targets,
            n_trees: forest.roots.len(),
            aggregate: forest.aggregate,
            post: forest.post,
            base: forest.base_values.clone(),
            weights_all_positive: forest.nodes.iter().flat_map(|n| n.weights.iter()).all(|(_, w)| *w >= 0.0),
        }
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
        let mut s = [0.0, 1.0, 1.0];
        transform(PostTransform::Softmax, &mut s);
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-12 && s[0] > 0.0);
    }
}
