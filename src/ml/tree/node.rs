//! How a split is encoded, shared by the three ways through a forest (the
//! walk, complete trees, QuickScorer), so none of them needs another's
//! types: the float trait, the flag bits of a feature word, the bit masks
//! of small sets, `decide`, and the lanes rows are scored in.
//!
//! Every ordered split (≤, <, ≥, >) is rewritten at load time as `x ≤ t`
//! with the children swapped where needed (`x < t` is `x ≤ next_down(t)`
//! for floats, see `below`), and where NaN goes becomes one bit of the
//! feature word. So the hot loop has one comparison and no mode dispatch.
//! Equality and set-membership splits (rare in practice) set a second bit;
//! their sets of small whole numbers (categories) are a 64-bit mask.

use std::fmt::Debug;

/// Feature-word bit: NaN goes "yes".
pub const NAN_YES: u32 = 1 << 31;
/// Feature-word bit: an equality or membership split (see `SpecialTest`).
pub const SPECIAL: u32 = 1 << 30;
// (Two flag bits only: the ordered walk's `feature * 4` on 32 bits then
// drops them without a mask instruction.)
/// The feature index within a feature word.
pub const FEATURE: u32 = !(NAN_YES | SPECIAL);
/// Set members that are whole numbers below this are bits of the node's mask.
const MASK_BITS: u32 = 64;
/// Rows scored together: the walk and complete trees take them through a
/// tree in lock-step, QuickScorer tests each split for all of them at once.
pub const LANES: usize = 8;

pub trait Float: Copy + Debug + Default + PartialOrd + Send + Sync + std::ops::AddAssign + 'static {
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn is_nan(self) -> bool;
    fn next_down(self) -> Self;
    /// `self` clamped to [0, MASK_BITS - 1] and truncated to a whole
    /// number (NaN to 0): the only mask bit `self` could stand for.
    fn mask_index(self) -> u32;
    fn from_u32(v: u32) -> Self;
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
    #[allow(unsafe_code)]
    fn mask_index(self) -> u32 {
        // (max returns the other operand when one is NaN.)
        let w = self.max(0.0).min((MASK_BITS - 1) as f32);
        // SAFETY: w is a number in [0, 63], so it truncates to a u32 exactly;
        // a plain `as` would add saturation the walk does not need.
        unsafe { w.to_int_unchecked() }
    }
    fn from_u32(v: u32) -> Self {
        v as f32
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
    #[allow(unsafe_code)]
    fn mask_index(self) -> u32 {
        let w = self.max(0.0).min(f64::from(MASK_BITS - 1));
        // SAFETY: as for f32.
        unsafe { w.to_int_unchecked() }
    }
    fn from_u32(v: u32) -> Self {
        f64::from(v)
    }
}

/// How an equality or membership split decides, beside its threshold and
/// feature word (the default, for an ordered split, is never read).
#[derive(Clone, Copy, Debug, Default)]
pub struct SpecialTest {
    /// Set members that are whole numbers below MASK_BITS, as bits.
    mask: u64,
    /// Equality with the node's threshold (else membership, if SPECIAL).
    eq: bool,
    /// The set has members the mask cannot hold: search it.
    general: bool,
}

impl SpecialTest {
    /// Equality with the split's threshold.
    pub fn equal() -> SpecialTest {
        SpecialTest { eq: true, ..SpecialTest::default() }
    }

    /// Membership in `set`.
    pub fn member<T: Float>(set: &[T]) -> SpecialTest {
        let mut test = SpecialTest::default();
        for bit in set.iter().filter_map(|&v| mask_bit(v)) {
            test.mask |= 1 << bit;
        }
        test.general = set.iter().any(|&v| mask_bit(v).is_none());
        test
    }

    /// The set has members the mask cannot hold: `decide` does not know
    /// them, and the split's set must be searched.
    pub fn general(&self) -> bool {
        self.general
    }
}

/// Whether value `v` goes "yes" at a split of any kind whose set, if it
/// has one, its mask holds whole: threshold, feature word (with its flags)
/// and test as the walk stores them. Every kind of test is computed and one
/// picked, without a branch on the kind: in forests with special splits
/// the kind changes from node to node, and a branch on it would be
/// mispredicted half the time.
#[inline(always)]
pub fn decide<T: Float>(v: T, threshold: T, feature: u32, test: &SpecialTest) -> bool {
    let (c, whole) = whole_below_mask(v);
    let member = whole & ((test.mask >> (c % MASK_BITS)) & 1 != 0);
    let equal = v == threshold;
    let special = if test.eq { equal } else { member };
    let go = if feature & SPECIAL != 0 { special } else { v <= threshold };
    go | (v.is_nan() & (feature & NAN_YES != 0))
}

/// `v`'s mask index, and whether `v` is exactly that whole number (so
/// below MASK_BITS; NaN is not): computed without a branch, for the walk.
#[inline(always)]
fn whole_below_mask<T: Float>(v: T) -> (u32, bool) {
    // (A value outside [0, 63] clamps to a number other than itself.)
    let c = v.mask_index();
    (c, T::from_u32(c) == v)
}

/// The mask bit standing for set member `v`, if it has one.
fn mask_bit<T: Float>(v: T) -> Option<u32> {
    let (c, whole) = whole_below_mask(v);
    whole.then_some(c)
}

/// The largest value below `t`, so `x < t` is `x <= below(t)` for every
/// non-NaN x; `x < -inf` holds for nothing, and NaN never compares true.
pub fn below<T: Float>(t: T) -> T {
    if t.to_f64() == f64::NEG_INFINITY { T::from_f64(f64::NAN) } else { t.next_down() }
}
