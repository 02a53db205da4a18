//! Tests of the tree kernel through its entry points (`Trees::compile`
//! and `sums`): each split mode against the ONNX spec, and every way
//! through a forest (the walk, complete trees, QuickScorer, the timed
//! choice) against the walk, bit for bit, and against a node-by-node
//! reference. Each passes the way it tests; none reads the environment.

use super::forest::{Aggregate, Forest, Mode, NodeSpec, PostTransform};
use super::kernel::{TRIAL_ROWS, TRIAL_SLICES, TreePath, Trees};

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
            assert_eq!(trees.one_target(), !multi);
            // Some trees complete and some not: too deep, or (special) a set the masks cannot hold.
            if path == TreePath::Complete {
                assert!((1..12).contains(&trees.complete_trees()), "{} complete", trees.complete_trees());
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
            assert!(!walk.has_quick() && walk.complete_trees() == 0);
            assert!(!complete.has_quick() && complete.complete_trees() == 12);
            assert_eq!(quick.has_quick(), !special, "{targets} targets, {aggregate:?}");
            let w = walk.sums(&x, rows, features).unwrap();
            for (path, trees) in [("complete", &complete), ("quick", &quick)] {
                let got = trees.sums(&x, rows, features).unwrap();
                assert_eq!(
                    bits(w.all()),
                    bits(got.all()),
                    "{path}: {targets} targets, multi {multi}, {aggregate:?}"
                );
                assert_eq!(
                    w.all_has(),
                    got.all_has(),
                    "{path}: {targets} targets, multi {multi}, {aggregate:?}"
                );
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

/// A multi-class boosting model's trees, one class each (LightGBM's and
/// XGBoost's tree t for class t % classes), are summed by QuickScorer
/// target by target: the walk's sums, bit for bit. A tree whose leaves
/// give to different targets sends the forest back to the leaf-by-leaf sum.
#[test]
fn a_tree_per_class_gives_the_walks_sums_bit_for_bit() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let (features, targets, rows) = (5, 3, 301);
    for mixed in [false, true] {
        let mut nodes = Vec::new();
        let mut roots = Vec::new();
        for t in 0..30 {
            roots.push(nodes.len());
            let shape =
                Shape { features, targets, multi: false, only: t % targets, special: false, depth: 6 };
            grow(&mut rng, &mut nodes, 0, shape);
        }
        if mixed {
            // The last tree's leaves go to every target in turn.
            let last = roots[roots.len() - 1];
            let leaves = nodes[last..].iter_mut().filter(|n| !n.weights.is_empty());
            for (i, n) in leaves.enumerate() {
                n.weights[0].0 = i % targets;
            }
        }
        let forest = Forest {
            nodes,
            roots,
            n_targets: targets,
            aggregate: Aggregate::Sum,
            post: PostTransform::None,
            base_values: vec![],
        };
        let x = random_rows(&mut rng, rows, features);
        let walk = Trees::<f32>::compile(&forest, TreePath::Walk).unwrap();
        let quick = Trees::<f32>::compile(&forest, TreePath::Quick).unwrap();
        assert!(quick.has_quick());
        assert_eq!(quick.by_target(), !mixed);
        let w = walk.sums(&x, rows, features).unwrap();
        assert_eq!(bits(w.all()), bits(quick.sums(&x, rows, features).unwrap().all()), "mixed {mixed}");
        for r in 0..rows {
            let want = reference(&forest, &x[r * features..(r + 1) * features]);
            assert!(w.row(r).iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-9), "row {r}");
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
        assert!(dense.dense_weights());
        let pairs = dense.without_dense_weights();
        let sums = |t: &Trees<f32>| t.sums(&x, rows, features).unwrap().all().to_vec();
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
    assert!(timed.has_quick());
    let small = timed.sums(&x[..301 * features], 301, features).unwrap();
    assert!(!timed.way_chosen(), "301 rows are too few to time");
    assert_eq!(bits(small.all()), bits(&want.all()[..301 * 2]));
    let got = timed.sums(&x, rows, features).unwrap();
    assert!(timed.way_chosen());
    assert_eq!(bits(got.all()), bits(want.all()));
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
    assert!(!trees.has_quick());
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
    assert!((trees.first_check(0) as usize) < LEVELS, "the chain must be deeper than the first check");
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

/// Every `BRANCH_*` mode from its ONNX name, through the parser and each
/// way through a forest, on inputs just below, exactly at and just above
/// the threshold (where the modes differ) and NaN, in float32 and float64:
/// reading a mode as its neighbour (GTE as GT, LT as LEQ) must fail here.
#[test]
fn every_branch_mode_through_the_parser_and_every_way() {
    use crate::ml::testutil::{floats, ints, strings};
    use tract_onnx::pb;

    let onnx = crate::ml::onnx();
    let model = pb::ModelProto::default();
    let ctx = tract_onnx::model::ParsingContext {
        onnx_operator_set_version: 13,
        framework: &onnx,
        model: &model,
        parent_graphs: vec![],
        model_dir: None,
        template: Default::default(),
    };
    let t = 1.0f32;
    let xs = [t.next_down(), t, t.next_up(), f32::NAN];
    let (y, n) = (10.0, 20.0);
    let spec: [(&str, [f64; 4]); 6] = [
        ("BRANCH_LEQ", [y, y, n, n]),
        ("BRANCH_LT", [y, n, n, n]),
        ("BRANCH_GTE", [n, y, y, n]),
        ("BRANCH_GT", [n, n, y, n]),
        ("BRANCH_EQ", [n, y, n, n]),
        ("BRANCH_NEQ", [y, n, y, y]),
    ];
    for (mode, want) in spec {
        let node = pb::NodeProto {
            op_type: "TreeEnsembleRegressor".into(),
            domain: "ai.onnx.ml".into(),
            attribute: vec![
                ints("nodes_treeids", &[0, 0, 0]),
                ints("nodes_nodeids", &[0, 1, 2]),
                ints("nodes_featureids", &[0, 0, 0]),
                floats("nodes_values", &[t, 0.0, 0.0]),
                strings("nodes_modes", &[mode, "LEAF", "LEAF"]),
                ints("nodes_truenodeids", &[1, 0, 0]),
                ints("nodes_falsenodeids", &[2, 0, 0]),
                ints("target_treeids", &[0, 0]),
                ints("target_nodeids", &[1, 2]),
                ints("target_ids", &[0, 0]),
                floats("target_weights", &[10.0, 20.0]),
                pb::AttributeProto {
                    name: "n_targets".into(),
                    r#type: pb::attribute_proto::AttributeType::Int as i32,
                    i: 1,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let forest = super::parse::regressor(&ctx, &node).unwrap();
        for path in [TreePath::Walk, TreePath::Complete, TreePath::Quick, TreePath::Timed] {
            let trees = Trees::<f32>::compile(&forest, path).unwrap();
            assert_eq!(eval(&trees, &xs), want, "{mode}, {path:?}, float32");
            let trees = Trees::<f64>::compile(&forest, path).unwrap();
            let xd: Vec<f64> = xs.iter().map(|&x| f64::from(x)).collect();
            let s = trees.sums(&xd, xd.len(), 1).unwrap();
            let got: Vec<f64> = (0..xd.len()).map(|r| s.row(r)[0]).collect();
            assert_eq!(got, want, "{mode}, {path:?}, float64");
        }
    }
}
