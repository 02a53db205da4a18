//! The input path alone — read a file in chunks, convert its feature
//! columns, count rows — for the property tests and the fuzz target, which
//! feed it random and corrupted bytes. It must never panic, and whenever it
//! succeeds every row read is either clean or has a problem.

use std::path::Path;

use crate::features::{self, InputFeed, Repair};
use crate::input::{ChunkReader, InputFile, ReadSpec};
use crate::job::{CsvOptions, Format};
use crate::model::Elem;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub read: u64,
    pub clean: u64,
    pub bad: u64,
}

/// Reads `path` as `format`, converting `columns` to float32 features.
pub fn read_and_convert(
    path: &Path,
    format: Format,
    columns: &[&str],
    chunk_rows: usize,
) -> anyhow::Result<Counts> {
    let file = InputFile {
        path: crate::storage::Location::Local(path.to_owned()),
        format,
        bytes: std::fs::metadata(path)?.len(),
    };
    let feed = InputFeed {
        input: "x".into(),
        elem: Elem::F32,
        columns: columns.iter().map(|c| c.to_string()).collect(),
    };
    let spec = ReadSpec {
        columns: feed.columns.clone(),
        csv_dtypes: vec![polars::prelude::DataType::String; columns.len()],
        csv: CsvOptions::default(),
    };
    let schema = crate::input::schema(&file, &spec)?;
    if let Some(missing) = columns.iter().find(|c| !schema.contains(c)) {
        anyhow::bail!("missing column {missing:?}");
    }
    let mut counts = Counts::default();
    for chunk in ChunkReader::open(&file, &spec, chunk_rows, None, 2)? {
        let chunk = chunk?;
        let mut problems = Vec::new();
        let converted =
            features::convert(&chunk.df, std::slice::from_ref(&feed), &|_| Repair::None, &mut problems)?;
        let mut bad_rows: Vec<usize> = problems.iter().map(|p| p.row).collect();
        bad_rows.sort_unstable();
        bad_rows.dedup();
        let n = chunk.df.height() as u64;
        counts.read += n;
        counts.bad += bad_rows.len() as u64;
        counts.clean += n - bad_rows.len() as u64;
        if bad_rows.is_empty() {
            features::tensors(&converted, std::slice::from_ref(&feed))?;
        }
    }
    Ok(counts)
}
