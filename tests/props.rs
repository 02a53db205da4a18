//! Random and corrupted CSV and Parquet bytes through the input path:
//! never a panic, and whenever a read succeeds, every row read is either
//! clean or has a problem (rows read = rows scored + rows rejected).

use batchscore::Format;
use batchscore::read_and_convert;
use polars::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn check(bytes: &[u8], format: Format) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(if format == Format::Csv { "in.csv" } else { "in.parquet" });
    std::fs::write(&path, bytes).unwrap();
    // Any Err is fine (a clear error); a panic fails the property.
    if let Ok(c) = read_and_convert(&path, format, &["a", "b"], 7) {
        prop_assert_eq!(c.read, c.clean + c.bad, "{:?}", c);
    }
    Ok(())
}

fn valid_csv(rows: &[(f32, f32)]) -> Vec<u8> {
    let mut s = String::from("id,a,b\n");
    for (i, (a, b)) in rows.iter().enumerate() {
        s.push_str(&format!("{i},{a},{b}\n"));
    }
    s.into_bytes()
}

fn valid_parquet(n: usize) -> Vec<u8> {
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("a".into(), (0..n).map(|i| i as f64).collect::<Vec<_>>()),
        Column::new(
            "b".into(),
            (0..n).map(|i| if i % 5 == 0 { None } else { Some(i as f32) }).collect::<Vec<_>>(),
        ),
    ])
    .unwrap();
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf).finish(&mut df).unwrap();
    buf
}

/// Some bytes changed, some removed, maybe truncated.
fn corrupt(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    for &(at, v) in edits {
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = v;
        }
    }
    if let Some(c) = cut {
        bytes.truncate(c % (bytes.len() + 1));
    }
    bytes
}

proptest! {
    // Regressions stay in tests/props.proptest-regressions, beside this
    // file: proptest's default looks for a main.rs above the source and,
    // finding tests/main.rs, would use proptest-regressions/props.txt.
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_as_csv(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check(&bytes, Format::Csv)?;
    }

    #[test]
    fn csv_like_text(lines in proptest::collection::vec("[ab0-9.,\"\\-nNaA/ ]{0,12}", 0..30)) {
        let text = format!("a,b\n{}", lines.join("\n"));
        check(text.as_bytes(), Format::Csv)?;
    }

    #[test]
    fn corrupted_csv(rows in proptest::collection::vec((any::<f32>(), any::<f32>()), 1..40),
                     edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
                     cut in proptest::option::of(any::<usize>())) {
        check(&corrupt(valid_csv(&rows), &edits, cut), Format::Csv)?;
    }

    #[test]
    fn corrupted_parquet(n in 0usize..60,
                         edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
                         cut in proptest::option::of(any::<usize>())) {
        check(&corrupt(valid_parquet(n), &edits, cut), Format::Parquet)?;
    }

    #[test]
    fn random_bytes_as_parquet(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check(&bytes, Format::Parquet)?;
    }
}

#[test]
fn clean_files_count_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("in.csv");
    std::fs::write(&p, "a,b\n1,2\nx,3\n,4\n5,6\n").unwrap();
    let c = read_and_convert(&p, Format::Csv, &["a", "b"], 2).unwrap();
    assert_eq!((c.read, c.clean, c.bad), (4, 2, 2));
    let p = dir.path().join("in.parquet");
    std::fs::write(&p, valid_parquet(50)).unwrap();
    let c = read_and_convert(&p, Format::Parquet, &["a", "b"], 7).unwrap();
    assert_eq!((c.read, c.clean, c.bad), (50, 40, 10));
}

/// One value of a generated day: its text in the CSV, and whether a run
/// with `policy = "reject"` must reject its row (a missing value, text that
/// is not a number, or NaN).
fn cell() -> impl Strategy<Value = (&'static str, bool)> {
    prop::sample::select(vec![
        ("1", false),
        ("2.5", false),
        ("-3", false),
        ("1e3", false),
        ("", true),
        ("x", true),
        ("NaN", true),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// The real binary on a random day: every id comes out exactly once,
    /// in the output or the quarantine, the rows it rejects are exactly the
    /// bad ones, and the record's counts say so.
    #[test]
    fn a_run_loses_and_duplicates_no_row(rows in proptest::collection::vec((cell(), cell()), 0..60),
                                         chunk_rows in 1usize..20) {
        use crate::common::{JobToml, Workdir, csv_rows, models};
        let wd = Workdir::new();
        wd.write("m.onnx", models::linear(&[1.0, 1.0], 0.0));
        let mut csv = String::from("id,a,b\n");
        for (i, ((a, _), (b, _))) in rows.iter().enumerate() {
            csv.push_str(&format!("r{i},{a},{b}\n"));
        }
        wd.write("in/2026-11-23.csv", csv);
        let job = JobToml::new("p").keep(&["id"]).columns(&["a", "b"])
            .toml(&format!("chunk_rows = {chunk_rows}\n[bad_rows]\nmax_rejected = \"100%\"\n"));
        wd.write("job.toml", job.build());
        wd.cmd(["run", "job.toml", "--date", "2026-11-23"]).code(0);

        let ids = |rel: &str| -> Vec<String> {
            if !wd.exists(rel) {
                return vec![];
            }
            csv_rows(&wd.read(rel)).into_iter().skip(1).map(|r| r[0].clone()).collect()
        };
        let scored = ids("out/2026-11-23.csv");
        let rejected = ids("out/2026-11-23.rejected.csv");
        let want_rejected: Vec<String> = rows.iter().enumerate()
            .filter(|(_, ((_, a), (_, b)))| *a || *b).map(|(i, _)| format!("r{i}")).collect();
        let want_scored: Vec<String> = rows.iter().enumerate()
            .filter(|(_, ((_, a), (_, b)))| !*a && !*b).map(|(i, _)| format!("r{i}")).collect();
        prop_assert_eq!(&rejected, &want_rejected);
        prop_assert_eq!(&scored, &want_scored);
        let rec = wd.record("out/_batchscore/p/2026-11-23.json");
        prop_assert_eq!(rec["rows"]["read"].as_u64(), Some(rows.len() as u64));
        prop_assert_eq!(rec["rows"]["scored"].as_u64(), Some(scored.len() as u64));
        prop_assert_eq!(rec["rows"]["rejected"].as_u64(), Some(rejected.len() as u64));
    }
}
