//! `batchscore inspect MODEL`: what a model takes and gives.

use std::fmt::Write;
use std::path::Path;

use crate::ml;
use crate::model::ModelInfo;

pub fn inspect(path: &Path) -> anyhow::Result<u8> {
    super::print(&describe(path)?)?;
    Ok(0)
}

fn describe(path: &Path) -> anyhow::Result<String> {
    let text = path.to_string_lossy();
    let info = if crate::storage::is_url(&text) {
        ModelInfo::load_from(&crate::storage::Location::parse(&text, Path::new("."))?)?
    } else {
        ModelInfo::load(path)?
    };
    let mut s = String::new();
    writeln!(s, "model     {}", info.path.display())?;
    writeln!(s, "sha256    {}", info.sha256)?;
    writeln!(s, "size      {} bytes", info.bytes)?;
    if !info.producer.is_empty() {
        writeln!(s, "producer  {}", info.producer)?;
    }
    let opsets: Vec<String> = info.opsets.iter().map(|(d, v)| format!("{d} {v}")).collect();
    writeln!(s, "opsets    {}", opsets.join(", "))?;
    writeln!(s, "\ninputs")?;
    for p in &info.inputs {
        writeln!(s, "  {:<24} {:<8} {}", p.name, p.elem.to_string(), p.shape_string())?;
    }
    writeln!(s, "\noutputs")?;
    for p in &info.outputs {
        let classes = match info.classes.get(&p.name) {
            Some(ml::ClassLabels::Int(v)) => format!("  classes {v:?}"),
            Some(ml::ClassLabels::Str(v)) => format!("  classes {v:?}"),
            None => String::new(),
        };
        writeln!(s, "  {:<24} {:<8} {}{classes}", p.name, p.elem.to_string(), p.shape_string())?;
        if info.zipmapped.contains(&p.name) {
            writeln!(
                s,
                "  {:<24} (a ZipMap in the file: batchscore reads the probabilities before it, one column per class)",
                ""
            )?;
        }
    }
    writeln!(s, "\noperators")?;
    let runnable = crate::model::runnable_ops();
    for (op, count) in &info.ops {
        let name = op.rsplit(':').next().unwrap_or(op);
        let runs_on = if ml::OUR_OPS.contains(&name) {
            "batchscore ml layer"
        } else if runnable.contains(name) {
            "tract"
        } else {
            "not supported"
        };
        writeln!(s, "  {op:<40} {count:>4}  {runs_on}")?;
    }
    let unsupported = info.unsupported();
    if !unsupported.is_empty() {
        writeln!(s, "\nnot supported (the model will be refused)")?;
        for u in unsupported {
            writeln!(s, "  {u}")?;
        }
        return Ok(s);
    }
    // What a job does with it: type the graph as a run would, then show the
    // tensors it feeds and the columns it writes when [outputs] is left out.
    let widths: Vec<usize> = info.inputs.iter().map(|p| p.width().unwrap_or(1)).collect();
    match info.clone().compile(&widths) {
        Err(e) => writeln!(s, "\ncannot be prepared for scoring: {e:#}")?,
        Ok(model) => {
            writeln!(s, "\na job feeds")?;
            for p in &model.info.inputs {
                let cols = p.width().map_or("its columns".to_owned(), |w| {
                    if w == 1 { "1 column".into() } else { format!("{w} columns") }
                });
                writeln!(
                    s,
                    "  {:<24} a {} tensor [rows, {}] built from {cols} (features.columns or features.inputs)",
                    p.name,
                    p.elem,
                    p.width().map_or("F".into(), |w| w.to_string())
                )?;
            }
            writeln!(s, "\nmissing values (bad_rows.policy = \"auto\", the default): a null or NaN in")?;
            let widths = model.info.inputs.iter().map(|p| (p.name.clone(), p.width().unwrap_or(1))).collect();
            let graph = model.info.missing_graph(&widths);
            for p in &model.info.inputs {
                let Some(w) = p.width() else {
                    writeln!(
                        s,
                        "  {:<24} (its width is set by the job: `batchscore check` shows each column)",
                        p.name
                    )?;
                    continue;
                };
                for j in 0..w {
                    let t = match &graph {
                        _ if !matches!(p.elem, crate::model::Elem::F32 | crate::model::Elem::F64) => {
                            ml::missing::Treatment {
                                pass: false,
                                why: format!("a {} input cannot carry NaN", p.elem),
                            }
                        }
                        Some(g) => g.treatment(&p.name, j),
                        None => continue,
                    };
                    let what = if t.pass { "NaN to the model" } else { "rejected" };
                    writeln!(s, "  {}[{j}]: {what}: {}", p.name, t.why)?;
                }
            }
            writeln!(s, "\nand writes, with no [outputs] table (after the keep columns)")?;
            for c in crate::score::plan_outputs(&model, &[])? {
                writeln!(s, "  {:<24} {}", c.name, c.dtype)?;
            }
        }
    }
    Ok(s)
}
