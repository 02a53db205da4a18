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
