//! Rejected rows: grouped by row, described, and written beside the output
//! as `<output name>.rejected.csv`, only when a run rejects any.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::error::{Kind, ResultExt};
use crate::features::Problem;
use crate::input::InputFile;
use crate::job::Format;
use crate::ledger::FileEntry;
use crate::output::{AtomicFile, TableWriter, sweep_stale};
use crate::storage::Location;

/// `scores.parquet` → `scores.rejected.csv`, beside it.
pub fn path_for(output: &Location) -> Location {
    let name = output.file_name();
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => &name,
    };
    output.with_file_name(&format!("{stem}.rejected.csv"))
}

/// One chunk's bad values, grouped by the row they are in: a row with two
/// bad values is one rejected row.
pub struct BadRows<'a> {
    by_row: BTreeMap<usize, Vec<&'a Problem>>,
}

impl<'a> BadRows<'a> {
    pub fn new(problems: &'a [Problem]) -> BadRows<'a> {
        let mut by_row: BTreeMap<usize, Vec<&Problem>> = BTreeMap::new();
        for p in problems {
            by_row.entry(p.row).or_default().push(p);
        }
        BadRows { by_row }
    }

    pub fn len(&self) -> usize {
        self.by_row.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_row.is_empty()
    }

    /// The first bad row, as one line naming the file, row, column and value.
    pub fn first(&self, file: &dyn std::fmt::Display, first_row: u64) -> Option<String> {
        let (row, ps) = self.by_row.iter().next()?;
        Some(format!("{file}: row {}, {}", first_row + *row as u64 + 1, describe(ps)))
    }

    /// True for the rows of a `height`-row chunk that are not rejected.
    pub fn keep_mask(&self, height: usize) -> BooleanChunked {
        (0..height).map(|r| !self.by_row.contains_key(&r)).collect()
    }

    /// A chunk's converted columns without the rejected rows.
    pub fn keep_rows(&self, converted: &[Vec<Series>], height: usize) -> PolarsResult<Vec<Vec<Series>>> {
        let keep = self.keep_mask(height);
        converted.iter().map(|cols| cols.iter().map(|s| s.filter(&keep)).collect()).collect()
    }

    /// The rejected rows as text: their keep and feature columns as read,
    /// where they came from, and what was wrong.
    fn frame(
        &self,
        columns: &[String],
        df: &DataFrame,
        file: &InputFile,
        first_row: u64,
    ) -> anyhow::Result<DataFrame> {
        let idx = IdxCa::from_vec("".into(), self.by_row.keys().map(|&r| r as IdxSize).collect());
        let n = self.by_row.len();
        let mut cols = Vec::with_capacity(columns.len() + 4);
        for name in columns {
            cols.push(df.column(name)?.take(&idx)?.cast(&DataType::String)?);
        }
        cols.push(Column::new("_input_file".into(), vec![file.path.display().to_string(); n]));
        cols.push(Column::new(
            "_row".into(),
            self.by_row.keys().map(|&r| first_row + r as u64 + 1).collect::<Vec<u64>>(),
        ));
        cols.push(Column::new(
            "_column".into(),
            self.by_row
                .values()
                .map(|ps| ps.iter().map(|p| p.column.as_str()).collect::<Vec<_>>().join("; "))
                .collect::<Vec<_>>(),
        ));
        cols.push(Column::new(
            "_reason".into(),
            self.by_row.values().map(|ps| describe(ps)).collect::<Vec<_>>(),
        ));
        Ok(DataFrame::new(n, cols)?)
    }
}

fn describe(ps: &[&Problem]) -> String {
    ps.iter()
        .map(|p| {
            let value = p.value.as_deref().map_or("null".to_owned(), |v| format!("{v:?}"));
            format!("column {:?}: {value}: {}", p.column, p.reason)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The quarantine file of one run, created at the first rejected row.
pub struct Quarantine {
    path: Location,
    writer: Option<TableWriter>,
}

impl Quarantine {
    /// Removes what a killed run of this date left half-written.
    pub fn open(path: &Location) -> Quarantine {
        let path = path.clone();
        sweep_stale(&path);
        Quarantine { path, writer: None }
    }

    pub fn write(
        &mut self,
        columns: &[String],
        df: &DataFrame,
        file: &InputFile,
        first_row: u64,
        bad: &BadRows,
    ) -> anyhow::Result<()> {
        let mut q = bad.frame(columns, df, file, first_row)?;
        let writer = match &mut self.writer {
            Some(w) => w,
            None => self.writer.insert(TableWriter::create(&self.path, Format::Csv, q.schema())?),
        };
        writer.write(&mut q)
    }

    /// Ends writing; the file is not yet visible.
    pub fn finish(self) -> anyhow::Result<Finished> {
        let written = match self.writer {
            Some(w) => Some(w.finish()?),
            None => None,
        };
        Ok(Finished { path: self.path, written })
    }
}

/// A quarantine file written in full, waiting to be committed.
pub struct Finished {
    path: Location,
    written: Option<(AtomicFile, u64)>,
}

impl Finished {
    pub fn rows(&self) -> u64 {
        self.written.as_ref().map_or(0, |(_, n)| *n)
    }

    /// Makes the file visible, or removes one left by an earlier run of the
    /// date when this run rejected nothing (it would describe another output).
    pub fn commit(self) -> anyhow::Result<Option<FileEntry>> {
        let Some((file, rows)) = self.written else {
            match &self.path {
                Location::Local(p) if p.is_file() => std::fs::remove_file(p)
                    .with_kind(Kind::Io, || format!("removing stale {}", self.path.display()))?,
                Location::Local(_) => {}
                Location::Object(u) => crate::storage::delete(u)?,
            }
            return Ok(None);
        };
        let bytes = file.commit()?;
        Ok(Some(FileEntry { path: self.path, bytes, rows: Some(rows) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(row: usize, column: &str) -> Problem {
        Problem { row, column: column.into(), value: Some("x".into()), reason: "not a valid number".into() }
    }

    #[test]
    fn two_bad_values_in_one_row_are_one_rejected_row() {
        let ps = [problem(3, "a"), problem(1, "b"), problem(3, "c")];
        let bad = BadRows::new(&ps);
        assert_eq!(bad.len(), 2);
        let mask = bad.keep_mask(5);
        let keep: Vec<Option<bool>> = (0..5).map(|i| mask.get(i)).collect();
        assert_eq!(keep, [true, false, true, false, true].map(Some));
        let first = bad.first(&"in.csv", 10).unwrap();
        assert_eq!(first, "in.csv: row 12, column \"b\": \"x\": not a valid number");
    }

    #[test]
    fn the_quarantine_sits_beside_the_output() {
        let output = Location::Local("/o/scores.parquet".into());
        assert_eq!(path_for(&output), std::path::Path::new("/o/scores.rejected.csv"));
    }
}
