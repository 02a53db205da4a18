//! Categorical encoders: `OneHotEncoder` and `LabelEncoder`.

use std::collections::HashMap;

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use super::attrs::Attrs;
use super::op::{Kernel, boxed};

pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("OneHotEncoder", one_hot);
    reg.insert("LabelEncoder", label_encoder);
}

type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// A category key: text, or an integer (floats are encoded by their bits).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Str(String),
    Int(i64),
}

/// Reads every element of a string or numeric tensor as a key.
fn keys_of(t: &Tensor, float_keys: bool) -> TractResult<Vec<Key>> {
    Ok(if t.datum_type() == String::datum_type() {
        t.try_as_plain_ram()?.as_slice::<String>()?.iter().map(|s| Key::Str(s.clone())).collect()
    } else if float_keys {
        t.cast_to::<f32>()?
            .try_as_plain_ram()?
            .as_slice::<f32>()?
            .iter()
            .map(|v| Key::Int(i64::from(v.to_bits())))
            .collect()
    } else {
        t.cast_to::<i64>()?.try_as_plain_ram()?.as_slice::<i64>()?.iter().map(|v| Key::Int(*v)).collect()
    })
}

/// One column per category; an unknown category is all zeros (or an error
/// when `zeros = 0`). The output adds a last axis of size C to the input's
/// shape, as onnxruntime does.
#[derive(Clone, Debug, PartialEq)]
struct OneHot {
    index: Vec<(Key, usize)>,
    n: usize,
    zeros: bool,
}

fn one_hot(_: &ParsingContext, node: &NodeProto) -> Built {
    let a = Attrs::new(node);
    let cats: Vec<Key> = if a.has("cats_strings") {
        a.strings("cats_strings").into_iter().map(Key::Str).collect()
    } else {
        a.ints("cats_int64s").into_iter().map(Key::Int).collect()
    };
    if cats.is_empty() {
        bail!("{}: no cats_strings or cats_int64s", a.who());
    }
    let n = cats.len();
    let index = cats.into_iter().enumerate().map(|(i, k)| (k, i)).collect();
    Ok((boxed(OneHot { index, n, zeros: a.int("zeros").unwrap_or(1) != 0 }), vec![]))
}

impl Kernel for OneHot {
    fn name(&self) -> &'static str {
        "OneHotEncoder"
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
        s.equals(&outputs[0].rank, inputs[0].rank.bex() + 1)?;
        s.given(&inputs[0].rank, move |s, rank| {
            let rank = rank as usize;
            for i in 0..rank {
                s.equals(&outputs[0].shape[i], &inputs[0].shape[i])?;
            }
            s.equals(&outputs[0].shape[rank], self.n.to_dim())
        })
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        shape.push(self.n.to_dim());
        Ok(tvec!(f32::datum_type().fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let keys = keys_of(x, false)?;
        let index: HashMap<&Key, usize> = self.index.iter().map(|(k, i)| (k, *i)).collect();
        let mut out = vec![0f32; keys.len() * self.n];
        for (r, k) in keys.iter().enumerate() {
            match index.get(k) {
                Some(&c) => out[r * self.n + c] = 1.0,
                None if self.zeros => {}
                None => bail!("OneHotEncoder: unknown category {k:?} (the model has zeros = 0)"),
            }
        }
        let mut shape: Vec<usize> = x.shape().to_vec();
        shape.push(self.n);
        Ok(tvec!(Tensor::from_shape(&shape, &out)?.into_tvalue()))
    }
}

/// Maps keys to values (string ↔ int64, and the other forms of opset 2+),
/// with a default for unknown keys.
#[derive(Clone, Debug, PartialEq)]
struct LabelEncoder {
    map: Vec<(Key, Value)>,
    default: Value,
    float_keys: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(String),
    Int(i64),
    Float(f32),
}

impl Value {
    fn datum_type(&self) -> DatumType {
        match self {
            Value::Str(_) => String::datum_type(),
            Value::Int(_) => i64::datum_type(),
            Value::Float(_) => f32::datum_type(),
        }
    }
}

/// ai.onnx.ml 4's `keys_tensor` / `values_tensor` / `default_tensor`.
fn tensor_attr(ctx: &ParsingContext, a: &Attrs, node: &NodeProto, name: &str) -> TractResult<Option<Tensor>> {
    let Some(t) = node.attribute.iter().find(|x| x.name == name).and_then(|x| x.t.as_ref()) else {
        return Ok(None);
    };
    Ok(Some(ctx.load_tensor(t).with_context(|| format!("{}: attribute {name}", a.who()))?))
}

fn keys_of_attr(a: &Attrs, t: &Tensor) -> TractResult<(Vec<Key>, bool)> {
    let dt = t.datum_type();
    Ok(if dt == String::datum_type() {
        (t.try_as_plain_ram()?.as_slice::<String>()?.iter().map(|s| Key::Str(s.clone())).collect(), false)
    } else if dt == i64::datum_type() {
        (t.try_as_plain_ram()?.as_slice::<i64>()?.iter().map(|v| Key::Int(*v)).collect(), false)
    } else if dt == f32::datum_type() {
        (
            t.try_as_plain_ram()?
                .as_slice::<f32>()?
                .iter()
                .map(|v| Key::Int(i64::from(v.to_bits())))
                .collect(),
            true,
        )
    } else {
        bail!("{}: keys_tensor of type {dt:?}: batchscore reads string, int64 and float keys", a.who())
    })
}

fn values_of_attr(a: &Attrs, t: &Tensor, what: &str) -> TractResult<Vec<Value>> {
    let dt = t.datum_type();
    Ok(if dt == String::datum_type() {
        t.try_as_plain_ram()?.as_slice::<String>()?.iter().map(|s| Value::Str(s.clone())).collect()
    } else if dt == i64::datum_type() {
        t.try_as_plain_ram()?.as_slice::<i64>()?.iter().map(|v| Value::Int(*v)).collect()
    } else if dt == f32::datum_type() {
        t.try_as_plain_ram()?.as_slice::<f32>()?.iter().map(|v| Value::Float(*v)).collect()
    } else {
        bail!("{}: {what} of type {dt:?}: batchscore reads string, int64 and float values", a.who())
    })
}

fn label_encoder(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let a = Attrs::new(node);
    if let Some(keys) = tensor_attr(ctx, &a, node, "keys_tensor")? {
        let Some(values) = tensor_attr(ctx, &a, node, "values_tensor")? else {
            bail!("{}: keys_tensor without values_tensor", a.who());
        };
        let (keys, float_keys) = keys_of_attr(&a, &keys)?;
        let values = values_of_attr(&a, &values, "values_tensor")?;
        a.expect_len("values_tensor", &values, keys.len())?;
        let default = match tensor_attr(ctx, &a, node, "default_tensor")? {
            Some(t) => values_of_attr(&a, &t, "default_tensor")?.into_iter().next(),
            None => None,
        };
        // Without default_tensor, the spec's defaults by value type.
        let default = match (default, values.first()) {
            (Some(d), _) => d,
            (None, Some(Value::Str(_))) => Value::Str("_Unused".into()),
            (None, Some(Value::Float(_))) => Value::Float(-0.0),
            (None, _) => Value::Int(-1),
        };
        if values.iter().any(|v| v.datum_type() != default.datum_type()) {
            bail!("{}: default_tensor's type differs from values_tensor's", a.who());
        }
        return Ok((
            boxed(LabelEncoder { map: keys.into_iter().zip(values).collect(), default, float_keys }),
            vec![],
        ));
    }
    let default_str = Value::Str(a.string("default_string").unwrap_or_else(|| "_Unused".into()));
    let default_int = Value::Int(a.int("default_int64").unwrap_or(-1));
    let default_float = Value::Float(a.float("default_float").unwrap_or(-0.0));
    // ai.onnx.ml 1: `classes_strings`; string → index, or index → string.
    if a.has("classes_strings") {
        let classes = a.strings("classes_strings");
        let (map, default) = if a.has("default_string") && !a.has("default_int64") {
            (
                classes.into_iter().enumerate().map(|(i, s)| (Key::Int(i as i64), Value::Str(s))).collect(),
                default_str,
            )
        } else {
            (
                classes.into_iter().enumerate().map(|(i, s)| (Key::Str(s), Value::Int(i as i64))).collect(),
                default_int,
            )
        };
        return Ok((boxed(LabelEncoder { map, default, float_keys: false }), vec![]));
    }
    let (keys, float_keys): (Vec<Key>, bool) = if a.has("keys_strings") {
        (a.strings("keys_strings").into_iter().map(Key::Str).collect(), false)
    } else if a.has("keys_int64s") {
        (a.ints("keys_int64s").into_iter().map(Key::Int).collect(), false)
    } else if a.has("keys_floats") {
        (a.floats("keys_floats").into_iter().map(|f| Key::Int(i64::from(f.to_bits()))).collect(), true)
    } else {
        bail!("{}: no keys_strings, keys_int64s or keys_floats", a.who());
    };
    let (values, default): (Vec<Value>, Value) = if a.has("values_strings") {
        (a.strings("values_strings").into_iter().map(Value::Str).collect(), default_str)
    } else if a.has("values_int64s") {
        (a.ints("values_int64s").into_iter().map(Value::Int).collect(), default_int)
    } else if a.has("values_floats") {
        (a.floats("values_floats").into_iter().map(Value::Float).collect(), default_float)
    } else {
        bail!("{}: no values_strings, values_int64s or values_floats", a.who());
    };
    a.expect_len("values", &values, keys.len())?;
    Ok((boxed(LabelEncoder { map: keys.into_iter().zip(values).collect(), default, float_keys }), vec![]))
}

impl Kernel for LabelEncoder {
    fn name(&self) -> &'static str {
        "LabelEncoder"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, self.default.datum_type())?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.default.datum_type().fact(inputs[0].shape.clone())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let keys = keys_of(x, self.float_keys)?;
        let index: HashMap<&Key, &Value> = self.map.iter().map(|(k, v)| (k, v)).collect();
        let values = keys.iter().map(|k| index.get(k).copied().unwrap_or(&self.default));
        let shape = x.shape();
        let t = match &self.default {
            Value::Str(_) => {
                let v: Vec<String> =
                    values.map(|v| if let Value::Str(s) = v { s.clone() } else { String::new() }).collect();
                tract_ndarray::ArrayD::from_shape_vec(shape, v)?.into_tensor()
            }
            Value::Int(_) => {
                let v: Vec<i64> = values.map(|v| if let Value::Int(i) = v { *i } else { 0 }).collect();
                Tensor::from_shape(shape, &v)?
            }
            Value::Float(_) => {
                let v: Vec<f32> = values.map(|v| if let Value::Float(f) = v { *f } else { 0.0 }).collect();
                Tensor::from_shape(shape, &v)?
            }
        };
        Ok(tvec!(t.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> TValue {
        tract_ndarray::Array2::from_shape_vec((v.len(), 1), v.iter().map(|s| s.to_string()).collect())
            .unwrap()
            .into_tensor()
            .into_tvalue()
    }

    #[test]
    fn one_hot_unknown_categories_are_zeros() {
        let op =
            OneHot { index: vec![(Key::Str("a".into()), 0), (Key::Str("b".into()), 1)], n: 2, zeros: true };
        let out = op.eval(tvec!(strings(&["b", "zz", "a"]))).unwrap();
        assert_eq!(out[0].shape(), &[3, 1, 2]);
        assert_eq!(
            out[0].try_as_plain_ram().unwrap().as_slice::<f32>().unwrap(),
            &[0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
        );
        let strict = OneHot { zeros: false, ..op };
        assert!(strict.eval(tvec!(strings(&["zz"]))).is_err());
    }

    #[test]
    fn one_hot_on_integers() {
        let op = OneHot { index: vec![(Key::Int(3), 0), (Key::Int(7), 1)], n: 2, zeros: true };
        let x = Tensor::from_shape(&[3, 1], &[7i64, 3, 9]).unwrap().into_tvalue();
        let out = op.eval(tvec!(x)).unwrap();
        assert_eq!(
            out[0].try_as_plain_ram().unwrap().as_slice::<f32>().unwrap(),
            &[0.0, 1.0, 1.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn label_encoder_string_to_int_with_default() {
        let op = LabelEncoder {
            map: vec![(Key::Str("x".into()), Value::Int(5))],
            default: Value::Int(-1),
            float_keys: false,
        };
        let out = op.eval(tvec!(strings(&["x", "y"]))).unwrap();
        assert_eq!(out[0].try_as_plain_ram().unwrap().as_slice::<i64>().unwrap(), &[5, -1]);
    }

    #[test]
    fn label_encoder_int_to_string() {
        let op = LabelEncoder {
            map: vec![(Key::Int(1), Value::Str("one".into()))],
            default: Value::Str("?".into()),
            float_keys: false,
        };
        let x = Tensor::from_shape(&[2], &[1i64, 2]).unwrap().into_tvalue();
        let out = op.eval(tvec!(x)).unwrap();
        assert_eq!(
            out[0].try_as_plain_ram().unwrap().as_slice::<String>().unwrap(),
            &["one".to_string(), "?".to_string()]
        );
    }
}
