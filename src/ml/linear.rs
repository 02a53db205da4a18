//! `LinearClassifier`, `LinearRegressor`, `SVMClassifier`, `SVMRegressor`:
//! a score per class (or target) from a dot product or a kernel sum,
//! then onnxruntime's label and post-transform rules.

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use super::ClassLabels;
use super::attrs::Attrs;
use super::op::{Kernel, boxed, rows_and_width};
use super::tree::{PostTransform, logistic, transform};

pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("LinearClassifier", linear_classifier);
    reg.insert("LinearRegressor", linear_regressor);
    reg.insert("SVMClassifier", svm_classifier);
    reg.insert("SVMRegressor", svm_regressor);
}

type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

fn post_of(a: &Attrs) -> TractResult<PostTransform> {
    PostTransform::parse(a.string("post_transform").as_deref().unwrap_or("NONE")).with_context(|| a.who())
}

fn labels_of(a: &Attrs) -> ClassLabels {
    if a.has("classlabels_strings") {
        ClassLabels::Str(a.strings("classlabels_strings"))
    } else {
        ClassLabels::Int(a.ints("classlabels_ints"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum SvmKernel {
    Linear,
    Poly { gamma: f32, coef0: f32, degree: f32 },
    Rbf { gamma: f32 },
    Sigmoid { gamma: f32, coef0: f32 },
}

impl SvmKernel {
    fn parse(a: &Attrs) -> TractResult<SvmKernel> {
        let p = a.floats("kernel_params");
        let (gamma, coef0, degree) = (
            p.first().copied().unwrap_or(0.0),
            p.get(1).copied().unwrap_or(0.0),
            p.get(2).copied().unwrap_or(0.0),
        );
        Ok(match a.string("kernel_type").as_deref().unwrap_or("LINEAR") {
            "LINEAR" => SvmKernel::Linear,
            "POLY" => SvmKernel::Poly { gamma, coef0, degree },
            "RBF" => SvmKernel::Rbf { gamma },
            "SIGMOID" => SvmKernel::Sigmoid { gamma, coef0 },
            other => bail!("{}: unknown kernel_type {other:?}", a.who()),
        })
    }

    fn eval(&self, x: &[f32], sv: &[f32]) -> f32 {
        let dot = || x.iter().zip(sv).map(|(a, b)| a * b).sum::<f32>();
        match *self {
            SvmKernel::Linear => dot(),
            SvmKernel::Poly { gamma, coef0, degree } => (gamma * dot() + coef0).powf(degree),
            SvmKernel::Rbf { gamma } => {
                (-gamma * x.iter().zip(sv).map(|(a, b)| (a - b) * (a - b)).sum::<f32>()).exp()
            }
            SvmKernel::Sigmoid { gamma, coef0 } => (gamma * dot() + coef0).tanh(),
        }
    }
}

/// Rows' linear scores `x · Wᵀ + b`, `classes` per row: each row's
/// products summed in feature order from -0.0, as `Iterator::sum` adds
/// them (the bits batchscore has always given), but eight rows at a time,
/// so eight independent sums are in flight instead of one chain of additions.
fn linear_scores(
    xs: &[f32],
    rows: usize,
    f: usize,
    weights: &[f32],
    intercepts: &[f32],
    classes: usize,
) -> Vec<f32> {
    const LANES: usize = 8;
    let mut out = vec![0f32; rows * classes];
    for first in (0..rows).step_by(LANES) {
        let n = LANES.min(rows - first);
        let block = &xs[first * f..(first + n) * f];
        for (c, (w, b)) in weights.chunks_exact(f).zip(intercepts).enumerate().take(classes) {
            let mut acc = [-0.0f32; LANES];
            if n == LANES {
                for (j, &wj) in w.iter().enumerate() {
                    for (g, a) in acc.iter_mut().enumerate() {
                        *a += block[g * f + j] * wj;
                    }
                }
            } else {
                for (g, a) in acc.iter_mut().enumerate().take(n) {
                    *a = block[g * f..(g + 1) * f].iter().zip(w).map(|(x, w)| x * w).sum::<f32>();
                }
            }
            for (g, a) in acc.iter().enumerate().take(n) {
                out[(first + g) * classes + c] = a + b;
            }
        }
    }
    out
}

/// A linear classifier's winning class from its raw scores.
fn linear_winner(scores: &[f32]) -> usize {
    if scores.len() == 1 { usize::from(scores[0] > 0.0) } else { argmax(scores) }
}

/// How the per-row scores are computed.
#[derive(Clone, Debug, PartialEq)]
enum Scorer {
    /// scores = x · Wᵀ + b, W is `[classes, features]`.
    Linear { weights: Vec<f32>, intercepts: Vec<f32>, classes: usize },
    /// libsvm's one-vs-one: a decision per pair of classes, then votes.
    Svc {
        kernel: SvmKernel,
        vectors: Vec<f32>,
        per_class: Vec<usize>,
        coefficients: Vec<f32>,
        rho: Vec<f32>,
        /// Platt scaling per pair (prob_a, prob_b): probabilities instead of decisions.
        platt: Option<(Vec<f32>, Vec<f32>)>,
    },
    /// Σ coefᵢ · K(x, svᵢ) + ρ.
    Svr { kernel: SvmKernel, vectors: Vec<f32>, coefficients: Vec<f32>, rho: f32, one_class: bool },
}

#[derive(Clone, Debug, PartialEq)]
struct Linear {
    name: &'static str,
    scorer: Scorer,
    post: PostTransform,
    /// `Some`: a classifier (labels `[N]` and scores); `None`: a regressor.
    labels: Option<ClassLabels>,
    /// Regressor targets, or the classifier's score columns.
    columns: usize,
}

fn linear_classifier(_: &ParsingContext, node: &NodeProto) -> Built {
    let a = Attrs::new(node);
    let labels = labels_of(&a);
    let weights = a.floats("coefficients");
    let mut intercepts = a.floats("intercepts");
    let classes = if intercepts.is_empty() { labels.len().max(1) } else { intercepts.len() };
    if intercepts.is_empty() {
        intercepts = vec![0.0; classes];
    }
    if weights.is_empty() || !weights.len().is_multiple_of(classes) {
        bail!("{}: {} coefficients do not divide into {classes} classes", a.who(), weights.len());
    }
    // One score for two classes: onnxruntime writes two columns.
    let columns = if classes == 1 && labels.len() == 2 { 2 } else { classes };
    let scorer = Scorer::Linear { weights, intercepts, classes };
    Ok((
        boxed(Linear { name: "LinearClassifier", scorer, post: post_of(&a)?, labels: Some(labels), columns }),
        vec![],
    ))
}

fn linear_regressor(_: &ParsingContext, node: &NodeProto) -> Built {
    let a = Attrs::new(node);
    let targets = usize::try_from(a.int("targets").unwrap_or(1))
        .map_err(|_| format_err!("{}: bad targets", a.who()))?;
    let weights = a.floats("coefficients");
    let mut intercepts = a.floats("intercepts");
    if intercepts.is_empty() {
        intercepts = vec![0.0; targets];
    }
    if targets == 0 || !weights.len().is_multiple_of(targets) || intercepts.len() != targets {
        bail!(
            "{}: {} coefficients and {} intercepts for {targets} targets",
            a.who(),
            weights.len(),
            intercepts.len()
        );
    }
    let scorer = Scorer::Linear { weights, intercepts, classes: targets };
    Ok((
        boxed(Linear { name: "LinearRegressor", scorer, post: post_of(&a)?, labels: None, columns: targets }),
        vec![],
    ))
}

fn svm_classifier(_: &ParsingContext, node: &NodeProto) -> Built {
    let a = Attrs::new(node);
    let labels = labels_of(&a);
    let per_class: Vec<usize> = a.ints("vectors_per_class").into_iter().map(|v| v.max(0) as usize).collect();
    let coefficients = a.floats("coefficients");
    let rho = a.floats("rho");
    let vectors = a.floats("support_vectors");
    let kernel = SvmKernel::parse(&a)?;
    let n = labels.len();
    if per_class.is_empty() {
        // Linear mode: one weight row per class, rho as intercepts.
        let classes = rho.len().max(1);
        let columns = if classes == 1 && n == 2 { 2 } else { classes };
        let scorer = Scorer::Linear { weights: coefficients, intercepts: rho, classes };
        return Ok((
            boxed(Linear {
                name: "SVMClassifier",
                scorer,
                post: post_of(&a)?,
                labels: Some(labels),
                columns,
            }),
            vec![],
        ));
    }
    let total: usize = per_class.iter().sum();
    if per_class.len() != n || coefficients.len() != total * (n - 1).max(1) || rho.len() != n * (n - 1) / 2 {
        bail!("{}: vectors_per_class, coefficients and rho do not fit {n} classes", a.who());
    }
    let pairs = n * (n - 1) / 2;
    let (prob_a, prob_b) = (a.floats("prob_a"), a.floats("prob_b"));
    let platt = if prob_a.is_empty() {
        None
    } else {
        if prob_a.len() != pairs || prob_b.len() != pairs {
            bail!("{}: prob_a/prob_b need one value per pair of classes ({pairs})", a.who());
        }
        Some((prob_a, prob_b))
    };
    let columns = if platt.is_some() {
        n
    } else if n == 2 {
        2
    } else {
        pairs
    };
    let scorer = Scorer::Svc { kernel, vectors, per_class, coefficients, rho, platt };
    Ok((
        boxed(Linear { name: "SVMClassifier", scorer, post: post_of(&a)?, labels: Some(labels), columns }),
        vec![],
    ))
}

fn svm_regressor(_: &ParsingContext, node: &NodeProto) -> Built {
    let a = Attrs::new(node);
    let scorer = Scorer::Svr {
        kernel: SvmKernel::parse(&a)?,
        vectors: a.floats("support_vectors"),
        coefficients: a.floats("coefficients"),
        rho: a.floats("rho").first().copied().unwrap_or(0.0),
        one_class: a.int("one_class").unwrap_or(0) != 0,
    };
    Ok((boxed(Linear { name: "SVMRegressor", scorer, post: post_of(&a)?, labels: None, columns: 1 }), vec![]))
}

impl Linear {
    fn label_type(&self) -> DatumType {
        match self.labels {
            Some(ClassLabels::Str(_)) => String::datum_type(),
            _ => i64::datum_type(),
        }
    }

    /// One row: its raw scores into `out`, and the winning class index.
    fn row(&self, x: &[f32], out: &mut [f32]) -> usize {
        match &self.scorer {
            // (`eval` scores linear models a batch at a time; one row is a batch of one.)
            Scorer::Linear { weights, intercepts, classes } => {
                out[..*classes].copy_from_slice(&linear_scores(x, 1, x.len(), weights, intercepts, *classes));
                linear_winner(&out[..*classes])
            }
            Scorer::Svc { kernel, vectors, per_class, coefficients, rho, platt } => {
                let f = x.len();
                let k: Vec<f32> = vectors.chunks_exact(f).map(|sv| kernel.eval(x, sv)).collect();
                let n = per_class.len();
                let total = k.len();
                let starts: Vec<usize> = per_class
                    .iter()
                    .scan(0, |s, &c| {
                        let at = *s;
                        *s += c;
                        Some(at)
                    })
                    .collect();
                let mut votes = vec![0usize; n];
                let mut e = 0;
                for i in 0..n {
                    for j in i + 1..n {
                        let (si, sj) = (starts[i], starts[j]);
                        let s1: f32 = (0..per_class[i])
                            .map(|v| coefficients[(j - 1) * total + si + v] * k[si + v])
                            .sum();
                        let s2: f32 =
                            (0..per_class[j]).map(|v| coefficients[i * total + sj + v] * k[sj + v]).sum();
                        let s = rho[e] + s1 + s2;
                        out[e] = s;
                        votes[if s > 0.0 { i } else { j }] += 1;
                        e += 1;
                    }
                }
                // The label: the first class with the most votes, as libsvm
                // picks it, with or without probabilities.
                let mut best = 0;
                for c in 1..n {
                    if votes[c] > votes[best] {
                        best = c;
                    }
                }
                if let Some((pa, pb)) = platt {
                    // libsvm's probabilities: Platt-scale each pair's decision,
                    // then couple the pairs (onnxruntime does the same).
                    let probs = coupled_probabilities(n, &out[..e], pa, pb);
                    out[..n].copy_from_slice(&probs);
                }
                best
            }
            Scorer::Svr { kernel, vectors, coefficients, rho, one_class } => {
                let f = x.len();
                let s: f32 = vectors
                    .chunks_exact(f)
                    .zip(coefficients)
                    .map(|(sv, c)| c * kernel.eval(x, sv))
                    .sum::<f32>()
                    + rho;
                out[0] = if *one_class { if s > 0.0 { 1.0 } else { -1.0 } } else { s };
                0
            }
        }
    }

    /// Raw scores → what the op outputs, onnxruntime's way.
    fn finish(&self, raw: &[f32], out: &mut [f64]) {
        let two_from_one = self.labels.is_some() && out.len() == 2 && self.raw_columns() == 1;
        if two_from_one {
            let s = f64::from(raw[0]);
            let [a, b] = match self.post {
                PostTransform::Logistic => [1.0 - logistic(s), logistic(s)],
                _ => [-s, s],
            };
            out[0] = a;
            out[1] = b;
            return;
        }
        let svc_binary = matches!(self.scorer, Scorer::Svc { platt: None, .. }) && out.len() == 2;
        if svc_binary {
            // One decision for two classes: onnxruntime writes [-s, s].
            let s = f64::from(raw[0]);
            out[0] = -s;
            out[1] = s;
            transform(self.post, out);
            return;
        }
        for (o, r) in out.iter_mut().zip(raw) {
            *o = f64::from(*r);
        }
        transform(self.post, out);
    }

    fn raw_columns(&self) -> usize {
        match &self.scorer {
            Scorer::Linear { classes, .. } => *classes,
            Scorer::Svc { per_class, platt: Some(_), .. } => {
                per_class.len().max(per_class.len() * (per_class.len() - 1) / 2)
            }
            Scorer::Svc { per_class, .. } => per_class.len() * (per_class.len() - 1) / 2,
            Scorer::Svr { .. } => 1,
        }
    }
}

/// libsvm's `multiclass_probability`: class probabilities from pairwise
/// ones, by the fixed-point iteration of Wu, Lin and Weng (2004), with
/// each pair's decision Platt-scaled and clipped to [1e-7, 1 − 1e-7].
fn coupled_probabilities(k: usize, decisions: &[f32], prob_a: &[f32], prob_b: &[f32]) -> Vec<f32> {
    let mut r = vec![0f64; k * k];
    let mut e = 0;
    for i in 0..k {
        for j in i + 1..k {
            let v = f64::from(decisions[e]) * f64::from(prob_a[e]) + f64::from(prob_b[e]);
            let p = (1.0 - logistic(v)).clamp(1e-7, 1.0 - 1e-7);
            r[i * k + j] = p;
            r[j * k + i] = 1.0 - p;
            e += 1;
        }
    }
    let mut q = vec![0f64; k * k];
    for t in 0..k {
        for j in 0..t {
            q[t * k + t] += r[j * k + t] * r[j * k + t];
            q[t * k + j] = q[j * k + t];
        }
        for j in t + 1..k {
            q[t * k + t] += r[j * k + t] * r[j * k + t];
            q[t * k + j] = -r[j * k + t] * r[t * k + j];
        }
    }
    let mut p = vec![1.0 / k as f64; k];
    let mut qp = vec![0f64; k];
    let eps = 0.005 / k as f64;
    for _ in 0..100.max(k) {
        let mut pqp = 0.0;
        for t in 0..k {
            qp[t] = (0..k).map(|j| q[t * k + j] * p[j]).sum();
            pqp += p[t] * qp[t];
        }
        if qp.iter().map(|v| (v - pqp).abs()).fold(0.0, f64::max) < eps {
            break;
        }
        for t in 0..k {
            let diff = (-qp[t] + pqp) / q[t * k + t];
            p[t] += diff;
            pqp = (pqp + diff * (diff * q[t * k + t] + 2.0 * qp[t])) / (1.0 + diff) / (1.0 + diff);
            for j in 0..k {
                qp[j] = (qp[j] + diff * q[t * k + j]) / (1.0 + diff);
                p[j] /= 1.0 + diff;
            }
        }
    }
    p.into_iter().map(|v| v as f32).collect()
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

impl Kernel for Linear {
    fn name(&self) -> &'static str {
        self.name
    }

    fn n_outputs(&self) -> usize {
        if self.labels.is_some() { 2 } else { 1 }
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, self.n_outputs())?;
        let values = if self.labels.is_some() {
            s.equals(&outputs[0].datum_type, self.label_type())?;
            s.equals(&outputs[0].rank, 1)?;
            s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
            &outputs[1]
        } else {
            &outputs[0]
        };
        s.equals(&values.datum_type, f32::datum_type())?;
        s.equals(&values.rank, 2)?;
        s.equals(&values.shape[0], &inputs[0].shape[0])?;
        s.equals(&values.shape[1], self.columns.to_dim())?;
        Ok(())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = inputs[0].shape.iter().next().cloned().unwrap_or_else(|| 1.to_dim());
        let values = f32::datum_type().fact([n.clone(), self.columns.to_dim()]);
        Ok(if self.labels.is_some() { tvec!(self.label_type().fact([n]), values) } else { tvec!(values) })
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = inputs[0].cast_to::<f32>()?;
        let (rows, width) = rows_and_width(&x)?;
        let xs = x.try_as_plain_ram()?;
        let xs = xs.as_slice::<f32>()?;
        let expected = match &self.scorer {
            Scorer::Linear { weights, classes, .. } => weights.len() / classes,
            Scorer::Svc { vectors, per_class, .. } => vectors.len() / per_class.iter().sum::<usize>().max(1),
            Scorer::Svr { vectors, coefficients, .. } => vectors.len() / coefficients.len().max(1),
        };
        if width != expected {
            bail!("{} expects {expected} features, got {width}", self.name);
        }
        let raw_columns = self.raw_columns().max(1);
        let scores = match &self.scorer {
            Scorer::Linear { weights, intercepts, classes } => {
                Some(linear_scores(xs, rows, width, weights, intercepts, *classes))
            }
            _ => None,
        };
        let mut raw = vec![0f32; raw_columns];
        let mut values = vec![0f32; rows * self.columns];
        let mut winners = Vec::with_capacity(rows);
        let mut row_out = vec![0f64; self.columns];
        for r in 0..rows {
            let winner = match &scores {
                Some(scores) => {
                    raw.copy_from_slice(&scores[r * raw_columns..(r + 1) * raw_columns]);
                    linear_winner(&raw)
                }
                None => self.row(&xs[r * width..(r + 1) * width], &mut raw),
            };
            winners.push(winner);
            self.finish(&raw, &mut row_out);
            for (v, o) in values[r * self.columns..(r + 1) * self.columns].iter_mut().zip(&row_out) {
                *v = *o as f32;
            }
        }
        let values =
            tract_ndarray::Array2::from_shape_vec((rows, self.columns), values)?.into_tensor().into_tvalue();
        Ok(match &self.labels {
            None => tvec!(values),
            Some(ClassLabels::Int(l)) => {
                let labels: Vec<i64> =
                    winners.iter().map(|&w| l.get(w).copied().unwrap_or(w as i64)).collect();
                tvec!(tract_ndarray::Array1::from_vec(labels).into_tensor().into_tvalue(), values)
            }
            Some(ClassLabels::Str(l)) => {
                let labels: Vec<String> =
                    winners.iter().map(|&w| l.get(w).cloned().unwrap_or_default()).collect();
                tvec!(tract_ndarray::Array1::from_vec(labels).into_tensor().into_tvalue(), values)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eight rows at a time give each row's own `Iterator::sum`, bit for
    /// bit, in whole groups and the partial one, for one score and several;
    /// and `row` gives the same.
    #[test]
    fn linear_scores_are_the_row_by_row_sums() {
        let mut seed = 0x9E37_79B9u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed as f32 / u32::MAX as f32 - 0.5) * 7.0
        };
        let (rows, f) = (21, 30);
        let xs: Vec<f32> = (0..rows * f).map(|_| next()).collect();
        for classes in [1, 3] {
            let weights: Vec<f32> = (0..classes * f).map(|_| next()).collect();
            let intercepts: Vec<f32> = (0..classes).map(|_| next()).collect();
            let got = linear_scores(&xs, rows, f, &weights, &intercepts, classes);
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            // Each row's sums in Iterator::sum order, written out here rather
            // than through linear_scores, so both paths below are checked
            // against something they do not share.
            let want = |r: usize| -> Vec<f32> {
                let x = &xs[r * f..(r + 1) * f];
                (0..classes)
                    .map(|c| {
                        x.iter().zip(&weights[c * f..(c + 1) * f]).map(|(a, b)| a * b).sum::<f32>()
                            + intercepts[c]
                    })
                    .collect()
            };
            for r in 0..rows {
                assert_eq!(
                    bits(&got[r * classes..(r + 1) * classes]),
                    bits(&want(r)),
                    "{classes} classes, row {r}"
                );
            }
            let labels = ClassLabels::Int((0..classes.max(2) as i64).collect());
            let lin = classifier(weights.clone(), intercepts.clone(), PostTransform::None, labels);
            for r in [0, rows - 1] {
                let mut raw = vec![0f32; classes];
                lin.row(&xs[r * f..(r + 1) * f], &mut raw);
                assert_eq!(bits(&raw), bits(&want(r)), "{classes} classes: row() on row {r}");
            }
        }
    }

    fn classifier(
        weights: Vec<f32>,
        intercepts: Vec<f32>,
        post: PostTransform,
        labels: ClassLabels,
    ) -> Linear {
        let classes = intercepts.len();
        let columns = if classes == 1 && labels.len() == 2 { 2 } else { classes };
        Linear {
            name: "LinearClassifier",
            scorer: Scorer::Linear { weights, intercepts, classes },
            post,
            labels: Some(labels),
            columns,
        }
    }

    fn run(op: &Linear, x: &[f32], width: usize) -> (TValue, Vec<f32>) {
        let t = Tensor::from_shape(&[x.len() / width, width], x).unwrap().into_tvalue();
        let out = op.eval(tvec!(t)).unwrap();
        let v = out[1].try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec();
        (out[0].clone(), v)
    }

    #[test]
    fn binary_with_one_score_writes_two_columns() {
        let op =
            classifier(vec![1.0, -1.0], vec![0.0], PostTransform::Logistic, ClassLabels::Int(vec![3, 7]));
        let (labels, v) = run(&op, &[2.0, 0.0, 0.0, 2.0], 2);
        assert_eq!(labels.try_as_plain_ram().unwrap().as_slice::<i64>().unwrap(), &[7, 3]);
        let p = logistic(2.0) as f32;
        assert!((v[0] - (1.0 - p)).abs() < 1e-6 && (v[1] - p).abs() < 1e-6);
        assert!((v[2] - p).abs() < 1e-6 && (v[3] - (1.0 - p)).abs() < 1e-6);
    }

    #[test]
    fn multiclass_takes_the_argmax_with_string_labels() {
        let labels = ClassLabels::Str(vec!["a".into(), "b".into(), "c".into()]);
        let op = classifier(
            vec![1.0, 0.0, 0.0, 1.0, -1.0, -1.0],
            vec![0.0, 0.0, 0.0],
            PostTransform::Softmax,
            labels,
        );
        let (labels, v) = run(&op, &[0.0, 3.0], 2);
        assert_eq!(labels.try_as_plain_ram().unwrap().as_slice::<String>().unwrap(), &["b".to_string()]);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-6 && v[1] > v[0] && v[0] > v[2]);
    }

    #[test]
    fn kernels() {
        let (x, sv) = ([1.0f32, 2.0], [2.0f32, 0.0]);
        assert_eq!(SvmKernel::Linear.eval(&x, &sv), 2.0);
        assert_eq!(SvmKernel::Poly { gamma: 1.0, coef0: 1.0, degree: 2.0 }.eval(&x, &sv), 9.0);
        assert!((SvmKernel::Rbf { gamma: 0.5 }.eval(&x, &sv) - (-2.5f32).exp()).abs() < 1e-7);
    }
}
