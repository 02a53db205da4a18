//! Text models end to end on the real binary: a text column feeding an
//! `[N, 1]` or `[N]` string input, and a long cell that must not make a
//! chunk's memory grow with the longest text times the chunk's rows.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap should fail loudly

mod common;

use common::{Workdir, csv_rows, repo};
use prost::Message;
use tract_onnx::pb;

const DATE: &str = "2026-11-23";
const ZOO: &str = "tests/fixtures/zoo/skl_tfidf_logreg";

fn job(extra: &str) -> String {
    format!(
        "name = \"t\"\nmodel = \"model.onnx\"\nkeep = [\"row_id\"]\n{extra}\n[input]\npath = \"in/%Y-%m-%d.csv\"\n[features.inputs]\ntext = \"text\"\n[outputs]\nlabel = \"label\"\nproba = \"probabilities\"\n[output]\npath = \"out/%Y-%m-%d.csv\"\n"
    )
}

/// The zoo model with its input declared `[N]` instead of `[N, 1]`.
fn flat_input_model() -> Vec<u8> {
    let bytes = std::fs::read(repo().join(ZOO).join("model.onnx")).unwrap();
    let mut m = pb::ModelProto::decode(bytes.as_slice()).unwrap();
    let input = &mut m.graph.as_mut().unwrap().input[0];
    let Some(pb::type_proto::Value::TensorType(t)) = input.r#type.as_mut().and_then(|t| t.value.as_mut())
    else {
        panic!("no tensor type")
    };
    t.shape.as_mut().unwrap().dim.truncate(1);
    m.encode_to_vec()
}

#[test]
fn a_text_column_feeds_n_by_1_and_flat_string_inputs_alike() {
    let expected = std::fs::read_to_string(repo().join(ZOO).join("expected.csv")).unwrap();
    for model in [std::fs::read(repo().join(ZOO).join("model.onnx")).unwrap(), flat_input_model()] {
        let wd = Workdir::new();
        wd.write("model.onnx", model);
        wd.copy(&format!("{ZOO}/input.csv"), &format!("in/{DATE}.csv"));
        wd.write("job.toml", job("chunk_rows = 64\nthreads = 2"));
        wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
        let got = csv_rows(&wd.read(&format!("out/{DATE}.csv")));
        let want = csv_rows(&expected);
        assert_eq!(got.len(), want.len());
        assert_eq!(got[0], want[0]);
        for (g, w) in got.iter().zip(&want).skip(1) {
            assert_eq!(g[..2], w[..2], "row_id and label");
            for (a, b) in g[2..].iter().zip(&w[2..]) {
                let (a, b): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
                assert!((a - b).abs() < 1e-5, "{g:?} vs {w:?}");
            }
        }
    }
}

/// 2,000 short texts and one of 1 MB (about 170,000 tokens). Padded to the
/// longest text, the chunk's token tensor would be 2,000 × 170,000 strings
/// (gigabytes); fused, the run stays near its usual size.
#[test]
#[cfg(target_os = "linux")]
fn a_one_megabyte_cell_does_not_blow_up_its_chunk() {
    let wd = Workdir::new();
    wd.copy(&format!("{ZOO}/model.onnx"), "model.onnx");
    let mut csv = String::from("row_id,text\n");
    for i in 0..2000 {
        if i == 1000 {
            let mut long = String::with_capacity(1 << 20);
            while long.len() < 1 << 20 {
                long.push_str("refund parcel late café 日本語 ");
            }
            csv.push_str(&format!("{i},\"{long}\"\n"));
        } else {
            csv.push_str(&format!("{i},my parcel is late please refund {i}\n"));
        }
    }
    wd.write(&format!("in/{DATE}.csv"), csv);
    wd.write("job.toml", job("chunk_rows = 5000\nthreads = 1"));
    wd.cmd(["run", "job.toml", "--date", DATE]).code(0);
    let rec = wd.record("out/_batchscore/t/2026-11-23.json");
    assert_eq!(rec["rows"]["scored"], 2000);
    let anon = rec["peak_memory"]["anon_bytes"].as_u64().unwrap();
    println!("peak heap {} MB", anon >> 20);
    assert!(anon < 200 << 20, "peak heap {} MB", anon >> 20);
    let rows = csv_rows(&wd.read(&format!("out/{DATE}.csv")));
    assert_eq!(rows.len(), 2001);
}
