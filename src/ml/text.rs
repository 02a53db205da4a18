//! Text features: `StringNormalizer` (ai.onnx), `Tokenizer` (com.microsoft)
//! and `TfIdfVectorizer` (ai.onnx), as scikit-learn's CountVectorizer and
//! TfidfVectorizer export, with onnxruntime's semantics.
//!
//! A `Tokenizer` pads every text of a batch to the longest one's token
//! count, so one 1 MB cell would make a chunk's `[N, T]` token tensor
//! N × 200,000 strings. When a `Tokenizer` feeds a `TfIdfVectorizer` and
//! nothing else, [`fuse`] replaces the pair by one op that counts n-grams
//! text by text without building that tensor: the working set is then the
//! chunk's own bytes plus one text's tokens.

use rustc_hash::FxHashMap as HashMap;

use regex::Regex;
use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::{self, NodeProto};

use super::attrs::Attrs;
use super::op::{Kernel, boxed};

pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("StringNormalizer", string_normalizer);
    reg.insert("Tokenizer", tokenizer);
    reg.insert("TfIdfVectorizer", tfidf);
    reg.insert(FUSED, tokenize_tfidf);
}

type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// The op [`fuse`] writes in place of a Tokenizer → TfIdfVectorizer pair.
/// Not an ONNX op: it only exists between our rewrite and tract.
pub const FUSED: &str = "BatchscoreTokenizeTfIdf";
const FUSED_DOMAIN: &str = "batchscore";

fn strings_of(t: &Tensor) -> TractResult<&[String]> {
    t.try_as_plain_ram()?.as_slice::<String>()
}

fn string_tensor(shape: &[usize], v: Vec<String>) -> TractResult<Tensor> {
    Ok(tract_ndarray::ArrayD::from_shape_vec(shape, v)?.into_tensor())
}

// ---------------------------------------------------------------- StringNormalizer

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    None,
    Lower,
    Upper,
}

/// Case change and stop-word removal, element by element.
///
/// onnxruntime changes case one code point at a time with the C++ locale's
/// `towlower`/`towupper` (glibc: Unicode's simple case mapping), so "ß"
/// stays "ß" in upper case and a final "Σ" becomes "σ", not "ς". We do the
/// same from Rust's Unicode tables, whatever locales the machine has: the
/// `locale` attribute only selects the Turkish and Azeri dotted and dotless
/// i (the one place glibc's UTF-8 locales differ); onnxruntime refuses a
/// model whose locale the machine lacks, we do not.
#[derive(Clone, Debug, PartialEq)]
struct StringNormalizer {
    who: String,
    case: Case,
    /// Stop words as compared: lower-cased unless case-sensitive.
    stopwords: Vec<String>,
    case_sensitive: bool,
    turkic: bool,
}

fn string_normalizer(_: &ParsingContext, node: &NodeProto) -> Built {
    Ok((boxed(normalizer_of(&Attrs::new(node))?), vec![]))
}

fn normalizer_of(a: &Attrs) -> TractResult<StringNormalizer> {
    let case = match a.string("case_change_action").as_deref().unwrap_or("NONE") {
        "NONE" => Case::None,
        "LOWER" => Case::Lower,
        "UPPER" => Case::Upper,
        other => {
            bail!("{}: attribute case_change_action is {other:?}, expected NONE, LOWER or UPPER", a.who())
        }
    };
    let case_sensitive = a.int("is_case_sensitive").unwrap_or(0) != 0;
    let locale = a.string("locale").unwrap_or_default();
    let turkic = locale.starts_with("tr") || locale.starts_with("az");
    let stopwords = a
        .strings("stopwords")
        .into_iter()
        .map(|w| if case_sensitive { w } else { change_case(&w, Case::Lower, turkic) })
        .collect();
    Ok(StringNormalizer { who: a.who(), case, stopwords, case_sensitive, turkic })
}

fn lower_char(c: char, turkic: bool) -> char {
    if turkic && c == 'I' {
        return 'ı';
    }
    if c == 'İ' {
        return 'i';
    }
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

fn upper_char(c: char, turkic: bool) -> char {
    if turkic && c == 'i' {
        return 'İ';
    }
    // A full mapping to several chars ("ß" → "SS") has no simple mapping:
    // the char stays, as towupper leaves it.
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

fn change_case(s: &str, case: Case, turkic: bool) -> String {
    match case {
        Case::None => s.to_owned(),
        // ASCII text is the common case and needs no tables.
        Case::Lower if s.is_ascii() && !turkic => s.to_ascii_lowercase(),
        Case::Upper if s.is_ascii() && !turkic => s.to_ascii_uppercase(),
        Case::Lower => s.chars().map(|c| lower_char(c, turkic)).collect(),
        Case::Upper => s.chars().map(|c| upper_char(c, turkic)).collect(),
    }
}

impl StringNormalizer {
    fn is_stopword(&self, s: &str) -> bool {
        if self.stopwords.is_empty() {
            return false;
        }
        if self.case_sensitive {
            self.stopwords.iter().any(|w| w == s)
        } else {
            let l = change_case(s, Case::Lower, self.turkic);
            self.stopwords.contains(&l)
        }
    }

    fn normalize(&self, x: &[String]) -> Vec<String> {
        x.iter().filter(|s| !self.is_stopword(s)).map(|s| change_case(s, self.case, self.turkic)).collect()
    }
}

impl Kernel for StringNormalizer {
    fn name(&self) -> &'static str {
        "StringNormalizer"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, String::datum_type())?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(String::datum_type().fact(inputs[0].shape.clone())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let shape = x.shape().to_vec();
        // onnxruntime takes [C] or [1, C]; [N, 1] is what a batch of
        // one-column rows looks like, and element-wise it is the same thing.
        let ok = matches!(shape.as_slice(), [_] | [1, _] | [_, 1]);
        if !ok {
            bail!("{}: input shape {shape:?}: StringNormalizer takes [C], [1, C] or [N, 1]", self.who);
        }
        let v = strings_of(x)?;
        let mut out = self.normalize(v);
        if out.len() != v.len() {
            // onnxruntime drops a text that is a stop word from the batch
            // (leaving one "" when none is left): the rows after it shift,
            // and a model's answer then depends on the batch it was in.
            if out.is_empty() && v.len() == 1 {
                out.push(String::new());
            } else {
                bail!(
                    "{}: {} of {} texts are entirely a stop word; onnxruntime drops them from the batch and \
                     shifts the rows after them, so batchscore cannot score them row by row",
                    self.who,
                    v.len() - out.len(),
                    v.len()
                );
            }
        }
        Ok(tvec!(string_tensor(&shape, out)?.into_tvalue()))
    }
}

// ---------------------------------------------------------------- Tokenizer

/// A regular expression, compared by its source (tract compares ops).
#[derive(Clone, Debug)]
struct Re(Regex);

impl PartialEq for Re {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Split {
    /// Every char is a token (`separators = [""]`).
    Chars,
    /// Tokens are what lies between matches of the separators.
    Separators(Re),
    /// Tokens are the matches of `tokenexp`.
    Matches(Re),
}

const START_TEXT: &str = "\u{2}";
const END_TEXT: &str = "\u{3}";

#[derive(Clone, Debug, PartialEq)]
struct Tokenize {
    who: String,
    split: Split,
    mark: bool,
    mincharnum: usize,
    pad: String,
}

/// onnxruntime compiles these with RE2, whose `\w \d \s \b` are ASCII-only;
/// the `regex` crate's are Unicode. Everything else used in token patterns
/// reads the same in both.
fn re2_to_rust(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let sub = match (e, in_class) {
                    ('w', false) => "[0-9A-Za-z_]",
                    ('W', false) => "[^0-9A-Za-z_]",
                    ('d', false) => "[0-9]",
                    ('D', false) => "[^0-9]",
                    ('s', false) => "[\\t\\n\\f\\r ]",
                    ('S', false) => "[^\\t\\n\\f\\r ]",
                    ('w', true) => "0-9A-Za-z_",
                    ('d', true) => "0-9",
                    ('s', true) => "\\t\\n\\f\\r ",
                    // Nested classes: the regex crate takes them.
                    ('W', true) => "[^0-9A-Za-z_]",
                    ('D', true) => "[^0-9]",
                    ('S', true) => "[^\\t\\n\\f\\r ]",
                    ('b', false) => "(?-u:\\b)",
                    ('B', false) => "(?-u:\\B)",
                    _ => {
                        out.push('\\');
                        out.push(e);
                        class_start = false;
                        continue;
                    }
                };
                out.push_str(sub);
                class_start = false;
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // A POSIX class inside a class: copied through to its ":]".
                out.push('[');
                for d in chars.by_ref() {
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
                class_start = false;
            }
            ']' if in_class && !class_start => {
                in_class = false;
                out.push(']');
            }
            c => {
                out.push(c);
                class_start = false;
            }
        }
    }
    out
}

fn tokenizer_of(a: &Attrs) -> TractResult<Tokenize> {
    let Some(mark) = a.int("mark") else { bail!("{}: attribute mark is required", a.who()) };
    let Some(pad) = a.string("pad_value") else { bail!("{}: attribute pad_value is required", a.who()) };
    let Some(mincharnum) = a.int("mincharnum") else {
        bail!("{}: attribute mincharnum is required", a.who())
    };
    if mincharnum <= 0 {
        bail!("{}: attribute mincharnum is {mincharnum}; it must be positive", a.who());
    }
    let compile = |name: &str, p: &str| -> TractResult<Re> {
        Regex::new(&re2_to_rust(p)).map(Re).map_err(|e| {
            format_err!(
                "{}: attribute {name} {p:?} is not a regular expression batchscore reads: {e}",
                a.who()
            )
        })
    };
    let separators = a.strings("separators");
    let split = match (a.string("tokenexp").filter(|t| !t.is_empty()), separators.is_empty()) {
        (Some(_), false) => bail!("{}: has both separators and tokenexp; onnxruntime takes one", a.who()),
        // onnxruntime reads "." as char tokenization (a "\n" is a token too).
        (Some(t), true) if t == "." => {
            if mincharnum > 1 {
                bail!("{}: mincharnum {mincharnum} with char tokenization (tokenexp = \".\")", a.who());
            }
            Split::Chars
        }
        (Some(t), true) => Split::Matches(compile("tokenexp", &t)?),
        (None, true) => bail!("{}: needs separators or tokenexp", a.who()),
        (None, false) if separators.len() == 1 && separators[0].is_empty() => {
            if mincharnum > 1 {
                bail!("{}: mincharnum {mincharnum} with char tokenization (separators = [\"\"])", a.who());
            }
            Split::Chars
        }
        (None, false) => Split::Separators(compile("separators", &separators.join("|"))?),
    };
    Ok(Tokenize { who: a.who(), split, mark: mark != 0, mincharnum: mincharnum as usize, pad })
}

fn tokenizer(_: &ParsingContext, node: &NodeProto) -> Built {
    Ok((boxed(tokenizer_of(&Attrs::new(node))?), vec![]))
}

/// Byte length of the char starting at `at` (1 past the end).
fn char_len(s: &str, at: usize) -> usize {
    s[at..].chars().next().map_or(1, char::len_utf8)
}

impl Tokenize {
    fn long_enough(&self, t: &str) -> bool {
        if self.mincharnum <= 1 { !t.is_empty() } else { t.chars().nth(self.mincharnum - 1).is_some() }
    }

    /// The tokens of one text, without marks or padding, appended to `out`.
    fn tokens<'s>(&self, s: &'s str, out: &mut Vec<&'s str>) {
        match &self.split {
            Split::Chars => out.extend(s.char_indices().map(|(i, c)| &s[i..i + c.len_utf8()])),
            Split::Matches(re) => {
                let mut at = 0;
                while at < s.len() {
                    let Some(m) = re.0.find_at(s, at) else { break };
                    if self.long_enough(m.as_str()) {
                        out.push(m.as_str());
                    }
                    at = if m.is_empty() { m.start() + char_len(s, m.start()) } else { m.end() };
                }
            }
            Split::Separators(re) => {
                let mut at = 0;
                loop {
                    let m = if at <= s.len() { re.0.find_at(s, at) } else { None };
                    match m {
                        Some(m) => {
                            let t = &s[at..m.start()];
                            if self.long_enough(t) {
                                out.push(t);
                            }
                            at = if m.is_empty() { m.start() + char_len(s, m.start()) } else { m.end() };
                        }
                        None => {
                            if at <= s.len() && self.long_enough(&s[at..]) {
                                out.push(&s[at..]);
                            }
                            break;
                        }
                    }
                }
            }
        }
    }

    /// A text's tokens as the Tokenizer lays them out: marks around them
    /// when `mark` is set (the caller pads).
    fn row<'s>(&'s self, s: &'s str, out: &mut Vec<&'s str>) {
        if self.mark {
            out.push(START_TEXT);
        }
        self.tokens(s, out);
        if self.mark {
            out.push(END_TEXT);
        }
    }

    /// Tokens per text and the padded width T (0 when no text has a token:
    /// then onnxruntime adds no marks either).
    fn width(&self, x: &[String]) -> usize {
        let mut buf = Vec::new();
        let mut max = 0;
        for s in x {
            buf.clear();
            self.tokens(s, &mut buf);
            max = max.max(buf.len());
        }
        if max == 0 { 0 } else { max + if self.mark { 2 } else { 0 } }
    }

    fn check_shape(&self, shape: &[usize]) -> TractResult<()> {
        if !matches!(shape.len(), 1 | 2) {
            bail!("{}: input shape {shape:?}: Tokenizer takes [C] or [N, C]", self.who);
        }
        Ok(())
    }
}

impl Kernel for Tokenize {
    fn name(&self) -> &'static str {
        "Tokenizer"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, String::datum_type())?;
        s.equals(&outputs[0].rank, inputs[0].rank.bex() + 1)?;
        s.given(&inputs[0].rank, move |s, rank| {
            for i in 0..rank as usize {
                s.equals(&outputs[0].shape[i], &inputs[0].shape[i])?;
            }
            Ok(())
        })
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        // The token count is only known once the texts are: a symbol of its own.
        let scope =
            inputs[0].shape.iter().flat_map(|d| d.symbols()).find_map(|s| s.scope()).unwrap_or_default();
        let mut shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        shape.push(scope.new_with_prefix("TOKENS").to_dim());
        Ok(tvec!(String::datum_type().fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        self.check_shape(x.shape())?;
        let v = strings_of(x)?;
        let t = self.width(v);
        let mut out = Vec::with_capacity(v.len() * t);
        let mut buf = Vec::new();
        for s in v {
            buf.clear();
            if t > 0 {
                self.row(s, &mut buf);
            }
            out.extend(buf.iter().map(|t| (*t).to_owned()));
            out.extend(std::iter::repeat_n(self.pad.clone(), t - buf.len()));
        }
        let mut shape = x.shape().to_vec();
        shape.push(t);
        Ok(tvec!(string_tensor(&shape, out)?.into_tvalue()))
    }
}

// ---------------------------------------------------------------- TfIdfVectorizer

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Tf,
    Idf,
    TfIdf,
}

/// A token as the pool holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Tok {
    Str(String),
    Int(i64),
}

const UNKNOWN: u32 = u32::MAX;

/// N-gram counting as onnxruntime does it: the pool's n-grams in a trie
/// over token ids; from each position, one walk per skip distance, with
/// unigrams counted at the first distance only.
#[derive(Clone, Debug, PartialEq)]
struct TfIdf {
    who: String,
    min_gram: usize,
    max_gram: usize,
    max_skip: usize,
    mode: Mode,
    /// Pool token → id.
    strs: HashMap<String, u32>,
    ints: HashMap<i64, u32>,
    /// (trie node, token id) → child node; node 0 is the root.
    edges: HashMap<(u32, u32), u32>,
    /// Per trie node: the output column an n-gram ending there counts in.
    column: Vec<Option<u32>>,
    /// Per output column.
    weights: Vec<f32>,
    width: usize,
}

fn tfidf_of(a: &Attrs) -> TractResult<TfIdf> {
    let int = |name: &str| -> TractResult<usize> {
        match a.int(name) {
            Some(v) if v >= 0 => Ok(v as usize),
            Some(v) => bail!("{}: attribute {name} is {v}", a.who()),
            None => bail!("{}: attribute {name} is required", a.who()),
        }
    };
    let (min_gram, max_gram, max_skip) =
        (int("min_gram_length")?, int("max_gram_length")?, int("max_skip_count")?);
    if min_gram == 0 || max_gram < min_gram {
        bail!("{}: min_gram_length {min_gram} and max_gram_length {max_gram}", a.who());
    }
    let mode = match a.string("mode").as_deref() {
        Some("TF") => Mode::Tf,
        Some("IDF") => Mode::Idf,
        Some("TFIDF") => Mode::TfIdf,
        other => bail!("{}: attribute mode is {other:?}, expected TF, IDF or TFIDF", a.who()),
    };
    let pool: Vec<Tok> = if a.has("pool_strings") {
        a.strings("pool_strings").into_iter().map(Tok::Str).collect()
    } else {
        a.ints("pool_int64s").into_iter().map(Tok::Int).collect()
    };
    let counts = a.ints("ngram_counts");
    let indexes = a.ints("ngram_indexes");
    let weights_in = a.floats("weights");
    if indexes.iter().any(|&i| i < 0) {
        bail!("{}: attribute ngram_indexes has a negative index", a.who());
    }
    let width = indexes.iter().max().map_or(0, |&m| m as usize + 1);
    let mut op = TfIdf {
        who: a.who(),
        min_gram,
        max_gram,
        max_skip,
        mode,
        strs: HashMap::default(),
        ints: HashMap::default(),
        edges: HashMap::default(),
        column: vec![None],
        weights: vec![1.0; width],
        width,
    };
    let mut ngram = 0usize; // n-gram number in pool order, which ngram_indexes and weights follow
    for (i, &start) in counts.iter().enumerate() {
        let n = i + 1;
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let end = counts.get(i + 1).map_or(pool.len(), |&e| usize::try_from(e).unwrap_or(usize::MAX));
        if start > end || end > pool.len() || !(end - start).is_multiple_of(n) {
            bail!(
                "{}: ngram_counts {counts:?} do not cut the pool of {} into {n}-grams",
                a.who(),
                pool.len()
            );
        }
        for gram in pool[start..end].chunks_exact(n) {
            if n >= min_gram && n <= max_gram {
                let Some(&col) = indexes.get(ngram) else {
                    bail!("{}: ngram_indexes has {} values for more n-grams", a.who(), indexes.len());
                };
                let mut node = 0u32;
                for t in gram {
                    let id = op.intern(t);
                    node = match op.edges.get(&(node, id)) {
                        Some(&c) => c,
                        None => {
                            let c = op.column.len() as u32;
                            op.column.push(None);
                            op.edges.insert((node, id), c);
                            c
                        }
                    };
                }
                // A repeated n-gram keeps its first column, as onnxruntime's trie does.
                if op.column[node as usize].is_none() {
                    op.column[node as usize] = Some(col as u32);
                    if let Some(&w) = weights_in.get(ngram) {
                        op.weights[col as usize] = w;
                    }
                }
            }
            ngram += 1;
        }
    }
    if !weights_in.is_empty() && weights_in.len() != ngram {
        bail!("{}: attribute weights has {} values for {ngram} n-grams", a.who(), weights_in.len());
    }
    Ok(op)
}

fn tfidf(_: &ParsingContext, node: &NodeProto) -> Built {
    Ok((boxed(tfidf_of(&Attrs::new(node))?), vec![]))
}

impl TfIdf {
    fn intern(&mut self, t: &Tok) -> u32 {
        let next = (self.strs.len() + self.ints.len()) as u32;
        match t {
            Tok::Str(s) => *self.strs.entry(s.clone()).or_insert(next),
            Tok::Int(i) => *self.ints.entry(*i).or_insert(next),
        }
    }

    fn str_id(&self, s: &str) -> u32 {
        self.strs.get(s).copied().unwrap_or(UNKNOWN)
    }

    /// Adds one row's n-gram counts (its tokens as pool ids) into `counts`.
    fn count(&self, ids: &[u32], counts: &mut [f32]) {
        let len = ids.len();
        let mut first = self.min_gram;
        for skip in 1..=self.max_skip + 1 {
            for start in 0..len {
                if start + skip * (first - 1) >= len {
                    break;
                }
                let (mut node, mut pos, mut n) = (0u32, start, 1);
                while n <= self.max_gram && pos < len {
                    let Some(&child) = self.edges.get(&(node, ids[pos])) else { break };
                    if n >= first
                        && let Some(col) = self.column[child as usize]
                    {
                        counts[col as usize] += 1.0;
                    }
                    node = child;
                    pos += skip;
                    n += 1;
                }
            }
            if first == 1 {
                first = 2;
                if first > self.max_gram {
                    break;
                }
            }
        }
    }

    /// Counts → the mode's values, in place.
    fn finish(&self, row: &mut [f32]) {
        match self.mode {
            Mode::Tf => {}
            Mode::Idf => {
                row.iter_mut().zip(&self.weights).for_each(|(v, w)| *v = if *v > 0.0 { *w } else { 0.0 })
            }
            Mode::TfIdf => row.iter_mut().zip(&self.weights).for_each(|(v, w)| *v *= w),
        }
    }

    fn out_fact(&self, shape: &[TDim]) -> TypedFact {
        let mut s: TVec<TDim> = shape.iter().cloned().collect();
        s.pop();
        s.push(self.width.to_dim());
        f32::datum_type().fact(s)
    }
}

impl Kernel for TfIdf {
    fn name(&self) -> &'static str {
        "TfIdfVectorizer"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, &inputs[0].rank)?;
        s.given(&inputs[0].rank, move |s, rank| {
            let rank = rank as usize;
            if rank == 2 {
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
            }
            if rank >= 1 {
                s.equals(&outputs[0].shape[rank - 1], self.width.to_dim())?;
            }
            Ok(())
        })
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.out_fact(&inputs[0].shape.to_tvec())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let (rows, c) = match x.shape() {
            [c] => (1, *c),
            [n, c] => (*n, *c),
            other => bail!("{}: input shape {other:?}: TfIdfVectorizer takes [C] or [N, C]", self.who),
        };
        let ids: Vec<u32> = if x.datum_type() == String::datum_type() {
            strings_of(x)?.iter().map(|s| self.str_id(s)).collect()
        } else {
            let v = x.cast_to::<i64>()?;
            let v = v.try_as_plain_ram()?.as_slice::<i64>()?.to_vec();
            v.iter().map(|i| self.ints.get(i).copied().unwrap_or(UNKNOWN)).collect()
        };
        let mut out = vec![0f32; rows * self.width];
        if c > 0 && self.width > 0 {
            for (row, ids) in out.chunks_exact_mut(self.width).zip(ids.chunks_exact(c)) {
                self.count(ids, row);
                self.finish(row);
            }
        }
        let shape: Vec<usize> = if x.rank() == 1 { vec![self.width] } else { vec![rows, self.width] };
        Ok(tvec!(Tensor::from_shape(&shape, &out)?.into_tvalue()))
    }
}

// ---------------------------------------------------------------- Tokenizer → TfIdfVectorizer, fused

/// A Tokenizer and the TfIdfVectorizer it feeds, as one op: the same
/// counts, computed one text at a time.
#[derive(Clone, Debug, PartialEq)]
struct TokenizeTfIdf {
    tok: Tokenize,
    tfidf: TfIdf,
}

/// Attribute names of the fused node: the Tokenizer's get this prefix.
const TOK_PREFIX: &str = "tokenizer.";

fn tokenize_tfidf(_: &ParsingContext, node: &NodeProto) -> Built {
    Ok((boxed(fused_of(node)?), vec![]))
}

fn fused_of(node: &NodeProto) -> TractResult<TokenizeTfIdf> {
    let mut tok_node = node.clone();
    tok_node.op_type = "Tokenizer".into();
    tok_node.attribute = node
        .attribute
        .iter()
        .filter_map(|a| {
            a.name.strip_prefix(TOK_PREFIX).map(|n| pb::AttributeProto { name: n.into(), ..a.clone() })
        })
        .collect();
    let mut tf_node = node.clone();
    tf_node.op_type = "TfIdfVectorizer".into();
    tf_node.attribute.retain(|a| !a.name.starts_with(TOK_PREFIX));
    let tok = tokenizer_of(&Attrs::new(&tok_node))?;
    let tfidf = tfidf_of(&Attrs::new(&tf_node))?;
    Ok(TokenizeTfIdf { tok, tfidf })
}

impl TokenizeTfIdf {
    /// Whether pad or mark tokens can count: only then does a text's
    /// result depend on the others in its batch (through the padded width,
    /// and marks, which no text gets when none has a token).
    fn batch_matters(&self) -> bool {
        self.tfidf.str_id(&self.tok.pad) != UNKNOWN
            || self.tok.mark
                && (self.tfidf.str_id(START_TEXT) != UNKNOWN || self.tfidf.str_id(END_TEXT) != UNKNOWN)
    }

    fn ids(&self, tokens: &[&str], into: &mut Vec<u32>) {
        into.extend(tokens.iter().map(|t| self.tfidf.str_id(t)));
    }
}

impl Kernel for TokenizeTfIdf {
    fn name(&self) -> &'static str {
        "Tokenizer+TfIdfVectorizer"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[1], self.tfidf.width.to_dim())?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = inputs[0].shape[0].clone();
        Ok(tvec!(f32::datum_type().fact([rows, self.tfidf.width.to_dim()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        self.tok.check_shape(x.shape())?;
        // Tokenizer [C] → [C, T] → TfIdf rows of T; [N, C] → [N, C, T],
        // flattened to rows of C·T.
        let (rows, cols) = match x.shape() {
            [c] => (*c, 1),
            [n, c] => (*n, *c),
            _ => unreachable!("checked"),
        };
        let v = strings_of(x)?;
        let width = self.tfidf.width;
        let mut out = vec![0f32; rows * width];
        let mut toks: Vec<&str> = Vec::new();
        let mut ids: Vec<u32> = Vec::new();
        if cols == 0 {
            // No texts, no tokens: zeros.
        } else if cols == 1 && !self.batch_matters() {
            // Pads and marks match nothing and sit at the ends: each text
            // counts alone.
            for (s, row) in v.iter().zip(out.chunks_exact_mut(width.max(1))) {
                toks.clear();
                ids.clear();
                self.tok.tokens(s, &mut toks);
                self.ids(&toks, &mut ids);
                self.tfidf.count(&ids, &mut row[..width]);
                self.tfidf.finish(&mut row[..width]);
            }
        } else {
            // Pads can count, or one row's texts sit side by side: lay the
            // row out as the Tokenizer would, one row at a time.
            let t = self.tok.width(v);
            let pad = self.tfidf.str_id(&self.tok.pad);
            for (texts, row) in v.chunks_exact(cols).zip(out.chunks_exact_mut(width.max(1))) {
                ids.clear();
                if t > 0 {
                    for s in texts {
                        toks.clear();
                        self.tok.row(s, &mut toks);
                        self.ids(&toks, &mut ids);
                        ids.extend(std::iter::repeat_n(pad, t - toks.len()));
                    }
                }
                self.tfidf.count(&ids, &mut row[..width]);
                self.tfidf.finish(&mut row[..width]);
            }
        }
        Ok(tvec!(Tensor::from_shape(&[rows, width], &out)?.into_tvalue()))
    }
}

/// Replaces each Tokenizer whose only reader is a TfIdfVectorizer (directly
/// or through a Flatten to 2-D) by one fused node. Runs on the graph tract
/// loads, after the model was described, so `inspect` and the list of
/// operators still show the file's own nodes.
pub fn fuse(model: &mut pb::ModelProto) {
    let Some(graph) = model.graph.as_mut() else { return };
    let outputs: std::collections::HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let readers = |graph: &pb::GraphProto, name: &str| -> Vec<usize> {
        graph
            .node
            .iter()
            .enumerate()
            .filter(|(_, n)| n.input.iter().any(|i| i == name))
            .map(|(i, _)| i)
            .collect()
    };
    loop {
        let mut found = None;
        for (ti, t) in graph.node.iter().enumerate() {
            if t.op_type != "Tokenizer" || t.output.len() != 1 || outputs.contains(&t.output[0]) {
                continue;
            }
            let r = readers(graph, &t.output[0]);
            let [r] = r[..] else { continue };
            let mut next = r;
            let mut flatten = None;
            let n = &graph.node[r];
            if n.op_type == "Flatten" {
                let axis = Attrs::new(n).int("axis").unwrap_or(1);
                if axis != 1 || outputs.contains(&n.output[0]) {
                    continue;
                }
                let rr = readers(graph, &n.output[0]);
                let [rr] = rr[..] else { continue };
                flatten = Some(r);
                next = rr;
            }
            if graph.node[next].op_type == "TfIdfVectorizer" {
                found = Some((ti, flatten, next));
                break;
            }
        }
        let Some((ti, flatten, vi)) = found else { return };
        let tok = graph.node[ti].clone();
        let vec = &mut graph.node[vi];
        vec.op_type = FUSED.into();
        vec.domain = FUSED_DOMAIN.into();
        vec.input = tok.input.clone();
        vec.attribute.extend(
            tok.attribute
                .iter()
                .map(|a| pb::AttributeProto { name: format!("{TOK_PREFIX}{}", a.name), ..a.clone() }),
        );
        let mut gone = vec![ti];
        gone.extend(flatten);
        gone.sort_unstable();
        for i in gone.into_iter().rev() {
            graph.node.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn node(op: &str, attrs: &Value) -> NodeProto {
        use super::super::testutil as t;
        let attribute = attrs
            .as_array()
            .expect("attrs")
            .iter()
            .map(|a| {
                let name = a[0].as_str().expect("name");
                let v = &a[2];
                match a[1].as_str().expect("kind") {
                    "string" => t::string(name, v.as_str().expect("s")),
                    "int" => pb::AttributeProto {
                        name: name.into(),
                        r#type: pb::attribute_proto::AttributeType::Int as i32,
                        i: v.as_i64().expect("i"),
                        ..Default::default()
                    },
                    "ints" => t::ints(
                        name,
                        &v.as_array()
                            .expect("ints")
                            .iter()
                            .map(|e| e.as_i64().expect("i"))
                            .collect::<Vec<_>>(),
                    ),
                    "floats" => t::floats(
                        name,
                        &v.as_array()
                            .expect("floats")
                            .iter()
                            .map(|e| e.as_f64().expect("f") as f32)
                            .collect::<Vec<_>>(),
                    ),
                    "strings" => t::strings(
                        name,
                        &v.as_array()
                            .expect("strings")
                            .iter()
                            .map(|e| e.as_str().expect("s"))
                            .collect::<Vec<_>>(),
                    ),
                    other => panic!("attribute kind {other}"),
                }
            })
            .collect();
        NodeProto { op_type: op.into(), name: "n".into(), attribute, ..Default::default() }
    }

    fn input(c: &Value) -> TValue {
        let shape: Vec<usize> =
            c["shape"].as_array().expect("shape").iter().map(|d| d.as_u64().expect("d") as usize).collect();
        let x = c["x"].as_array().expect("x");
        if c["x_type"] == "string" {
            string_tensor(&shape, x.iter().map(|v| v.as_str().expect("s").to_owned()).collect())
                .expect("t")
                .into_tvalue()
        } else {
            let v: Vec<i64> = x.iter().map(|v| v.as_i64().expect("i")).collect();
            Tensor::from_shape(&shape, &v).expect("t").into_tvalue()
        }
    }

    fn run(c: &Value) -> TractResult<Tensor> {
        let op = c["op"].as_str().expect("op");
        let n = node(if op == "fused" { FUSED } else { op }, &c["attrs"]);
        let a = Attrs::new(&n);
        let x = tvec!(input(c));
        let mut out = match op {
            "StringNormalizer" => normalizer_of(&a)?.eval(x)?,
            "Tokenizer" => tokenizer_of(&a)?.eval(x)?,
            "TfIdfVectorizer" => tfidf_of(&a)?.eval(x)?,
            "fused" => fused_of(&n)?.eval(x)?,
            other => panic!("op {other}"),
        };
        Ok(out.remove(0).into_tensor())
    }

    /// Every case of tests/fixtures/text/ort_cases.json (made by
    /// tools/text_op_cases.py from onnxruntime's answers) gives onnxruntime's
    /// output, or an error where onnxruntime gives one.
    #[test]
    fn matches_onnxruntime_on_generated_cases() {
        let cases: Vec<Value> =
            serde_json::from_str(include_str!("../../tests/fixtures/text/ort_cases.json")).expect("json");
        assert!(cases.len() > 500);
        let mut failures = vec![];
        for (i, c) in cases.iter().enumerate() {
            let got = run(c);
            let what = format!("case {i} {} {} x={}", c["op"], c["attrs"], c["x"]);
            if c.get("error").is_some() {
                if got.is_ok() {
                    failures.push(format!("{what}: onnxruntime refuses it ({}), we ran it", c["error"]));
                }
                continue;
            }
            let y_shape: Vec<usize> = c["y_shape"]
                .as_array()
                .expect("y_shape")
                .iter()
                .map(|d| d.as_u64().expect("d") as usize)
                .collect();
            let x_len: usize = c["x"].as_array().expect("x").len();
            // A stop word dropped from a batch of several: we refuse it.
            if c["op"] == "StringNormalizer" && y_shape.iter().product::<usize>() != x_len && x_len > 1 {
                if got.is_ok() {
                    failures.push(format!("{what}: rows dropped, expected an error"));
                }
                continue;
            }
            let got = match got {
                Ok(t) => t,
                Err(e) => {
                    failures.push(format!("{what}: {e:#}"));
                    continue;
                }
            };
            let y = c["y"].as_array().expect("y");
            let same_shape = got.shape() == y_shape.as_slice()
                // The fused op gives [rows, V] however onnxruntime's pair shaped it.
                || c["op"] == "fused" && got.len() == y.len();
            let same = if got.datum_type() == String::datum_type() {
                let g = strings_of(&got).expect("strings");
                g.len() == y.len() && g.iter().zip(y).all(|(a, b)| a == b.as_str().expect("s"))
            } else {
                let g = got.try_as_plain_ram().expect("ram").as_slice::<f32>().expect("f32").to_vec();
                g.len() == y.len()
                    && g.iter().zip(y).all(|(a, b)| {
                        let b = b.as_f64().expect("f") as f32;
                        (a - b).abs() <= 1e-6 * b.abs().max(1.0)
                    })
            };
            if !same || !same_shape {
                failures.push(format!("{what}: got {:?} {:?}, expected {y_shape:?} {y:?}", got.shape(), got));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} cases differ:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn re2_classes_are_ascii() {
        assert_eq!(re2_to_rust(r"\b\w\w+\b"), r"(?-u:\b)[0-9A-Za-z_][0-9A-Za-z_]+(?-u:\b)");
        assert_eq!(re2_to_rust(r"[\w']+"), r"[0-9A-Za-z_']+");
        assert_eq!(re2_to_rust(r"[[:alpha:]\d]"), r"[[:alpha:]0-9]");
        assert_eq!(re2_to_rust(r"[]a]\."), r"[]a]\.");
    }

    /// The unfused ops through tract's typing and optimizer (a Tokenizer
    /// whose tokens something else reads is never fused), and the fused
    /// rewrite, give the same counts. Unfused, the graph has no Flatten:
    /// tract cannot flatten [N, tokens], two symbols (a load error, exit 70).
    #[test]
    fn unfused_and_fused_graphs_agree_through_tract() {
        use super::super::testutil as t;
        use tract_onnx::prelude::*;
        let node = |op: &str, domain: &str, i: &str, o: &str, attribute: Vec<pb::AttributeProto>| NodeProto {
            op_type: op.into(),
            domain: domain.into(),
            name: o.into(),
            input: vec![i.into()],
            output: vec![o.into()],
            attribute,
            ..Default::default()
        };
        let int = |name: &str, v: i64| pb::AttributeProto {
            name: name.into(),
            r#type: pb::attribute_proto::AttributeType::Int as i32,
            i: v,
            ..Default::default()
        };
        let nodes = vec![
            node("StringNormalizer", "", "x", "n", vec![t::string("case_change_action", "LOWER")]),
            node(
                "Tokenizer",
                "com.microsoft",
                "n",
                "t",
                vec![
                    int("mark", 0),
                    int("mincharnum", 1),
                    t::string("pad_value", "#"),
                    t::string("tokenexp", "[a-z]+"),
                ],
            ),
            node(
                "TfIdfVectorizer",
                "",
                "t",
                "y",
                vec![
                    int("min_gram_length", 1),
                    int("max_gram_length", 2),
                    int("max_skip_count", 0),
                    t::string("mode", "TF"),
                    t::ints("ngram_counts", &[0, 2]),
                    t::ints("ngram_indexes", &[0, 1, 2]),
                    t::strings("pool_strings", &["cat", "sat", "cat", "sat"]),
                ],
            ),
        ];
        let string_input = pb::ValueInfoProto {
            name: "x".into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: 8,
                    shape: None,
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        let model = pb::ModelProto {
            ir_version: 8,
            opset_import: vec![
                pb::OperatorSetIdProto { domain: String::new(), version: 17 },
                pb::OperatorSetIdProto { domain: "com.microsoft".into(), version: 1 },
            ],
            graph: Some(pb::GraphProto {
                node: nodes,
                input: vec![string_input],
                output: vec![pb::ValueInfoProto { name: "y".into(), ..Default::default() }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let texts = ["The cat SAT", "", "cat cat sat dog cat sat"];
        let run = |proto: &pb::ModelProto| -> Vec<f32> {
            let mut m = super::super::onnx().model_for_proto_model(proto).expect("model");
            let n = m.sym("N");
            m.set_input_fact(0, InferenceFact::dt_shape(String::datum_type(), tvec![n.to_dim()]))
                .expect("fact");
            let plan = m.into_optimized().expect("typed").into_runnable().expect("plan");
            let x = string_tensor(&[3], texts.iter().map(|s| s.to_string()).collect()).expect("x");
            let out = plan.run(tvec!(x.into_tvalue())).expect("run");
            assert_eq!(out[0].shape(), &[3, 3]);
            out[0].try_as_plain_ram().expect("ram").as_slice::<f32>().expect("f32").to_vec()
        };
        let want = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 3.0, 2.0, 2.0];
        assert_eq!(run(&model), want);
        let mut fused = model.clone();
        fuse(&mut fused);
        assert_eq!(
            fused.graph.as_ref().expect("graph").node.len(),
            2,
            "Tokenizer, Flatten, TfIdf → one node"
        );
        assert_eq!(run(&fused), want);
    }
}
