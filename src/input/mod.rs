//! Finding the day's input files and reading them chunk by chunk.
//!
//! Each file is scanned lazily with polars' streaming engine and handed to
//! us in chunks of at most `chunk_rows` rows through a small bounded
//! channel, so memory depends on the chunk size, not on the file size.
//! Files are read one after the other, in sorted order, so that every row
//! has a stable (file, row number) address for error messages.

mod csv;

use std::io::Read;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use polars::prelude::*;

use crate::error::{Kind, ResultExt, catch_panic, failure};
use crate::job::{CsvOptions, Format};
use crate::storage::{self, Location, ObjectUrl};

#[derive(Clone, Debug, serde::Serialize)]
pub struct InputFile {
    pub path: Location,
    pub format: Format,
    pub bytes: u64,
}

/// The files for one date: the expanded template, globbed when it has
/// wildcards (several files per day is normal), in sorted order.
pub fn resolve(
    pattern: &Location,
    stated: Option<Format>,
    date: chrono::NaiveDate,
    raw: &str,
) -> anyhow::Result<Vec<InputFile>> {
    let pattern = match pattern {
        Location::Local(p) => p,
        Location::Object(url) => return resolve_objects(url, stated, date, raw),
    };
    let text = pattern.to_string_lossy();
    let paths: Vec<PathBuf> = if text.contains(['*', '?', '[']) {
        let mut v: Vec<PathBuf> = glob::glob(&text)
            .with_kind(Kind::Config, || format!("input.path {raw:?} is not a valid glob pattern"))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        v.sort();
        v
    } else if pattern.is_file() {
        vec![pattern.to_owned()]
    } else {
        vec![]
    };
    if paths.is_empty() {
        return Err(failure(
            Kind::NoInput,
            format!("no input for {date}: nothing at {} (input.path = {raw:?})", pattern.display()),
        ));
    }
    paths
        .into_iter()
        .map(|path| {
            let format = stated.or_else(|| format_of(&path)).ok_or_else(|| {
                failure(
                    Kind::Config,
                    format!("cannot tell the format of {} from its name; set input.format", path.display()),
                )
            })?;
            let bytes =
                std::fs::metadata(&path).with_kind(Kind::Io, || format!("reading {}", path.display()))?.len();
            Ok(InputFile { path: Location::Local(path), format, bytes })
        })
        .collect()
}

/// The objects for one date: one key, or a glob over keys ('*' and '?'
/// stay within one '/'-separated part, as for files), listed from the
/// longest prefix without wildcards and sorted by name.
fn resolve_objects(
    pattern: &ObjectUrl,
    stated: Option<Format>,
    date: chrono::NaiveDate,
    raw: &str,
) -> anyhow::Result<Vec<InputFile>> {
    let key = pattern.key();
    // A web server has no listing, and its '?' starts a query string.
    let wildcard = match pattern.cloud() {
        storage::Cloud::Http => None,
        _ => key.find(['*', '?', '[']),
    };
    let found: Vec<(ObjectUrl, u64)> = match wildcard {
        Some(wild) => {
            let glob = glob::Pattern::new(key)
                .with_kind(Kind::Config, || format!("input.path {raw:?} is not a valid glob pattern"))?;
            let options = glob::MatchOptions { require_literal_separator: true, ..Default::default() };
            storage::list(&pattern.with_key(&key[..wild]), storage::Op::ReadInput)?
                .into_iter()
                .filter(|(u, _)| glob.matches_with(u.key(), options) && !u.key().ends_with('/'))
                .collect()
        }
        None => storage::head_input(pattern)?.map(|size| (pattern.clone(), size)).into_iter().collect(),
    };
    if found.is_empty() {
        return Err(failure(
            Kind::NoInput,
            format!("no input for {date}: nothing at {pattern} (input.path = {:?})", storage::redact(raw)),
        ));
    }
    found
        .into_iter()
        .map(|(url, bytes)| {
            let format = stated.or_else(|| format_of(Path::new(url.file_name()))).ok_or_else(|| {
                failure(
                    Kind::Config,
                    format!("cannot tell the format of {url} from its name; set input.format"),
                )
            })?;
            Ok(InputFile { path: Location::Object(url), format, bytes })
        })
        .collect()
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "csv" | "tsv" | "txt" => Some(Format::Csv),
        "parquet" | "pq" => Some(Format::Parquet),
        _ => None,
    }
}

/// How to read the columns we use.
#[derive(Clone, Debug)]
pub struct ReadSpec {
    /// Columns to read, in output order (keep columns, then features), no duplicates.
    pub columns: Vec<String>,
    /// CSV only: the dtype each column is parsed as. Keep columns are read as
    /// text so ids come out exactly as written (leading zeros and all).
    pub csv_dtypes: Vec<DataType>,
    pub csv: CsvOptions,
}

/// A Parquet file as a lazy scan. Objects are read by polars' own cloud
/// reader: ranged GETs, streamed.
fn scan_parquet(file: &InputFile) -> PolarsResult<LazyFrame> {
    let (path, cloud) = match &file.path {
        Location::Local(p) => (PlRefPath::new(p.to_string_lossy().as_ref()), None),
        Location::Object(u) => (PlRefPath::new(u.full().as_str()), Some(storage::cloud_options(u))),
    };
    LazyFrame::scan_parquet(path, ScanArgsParquet { glob: false, cloud_options: cloud, ..Default::default() })
}

/// The file's columns and their types, reading only the header or footer.
pub fn schema(file: &InputFile, spec: &ReadSpec) -> anyhow::Result<SchemaRef> {
    if file.bytes == 0 {
        return Err(failure(Kind::Data, format!("input {} is empty (0 bytes)", file.path.display())));
    }
    match file.format {
        Format::Csv => csv_schema(file, spec),
        Format::Parquet => {
            match &file.path {
                Location::Local(p) => crate::parquet_guard::check(p, file.bytes)?,
                Location::Object(u) => crate::parquet_guard::check_object(u, file.bytes)?,
            }
            let what = || format!("cannot read the Parquet header of {}", file.path.display());
            catch_panic(Kind::Data, what, || {
                scan_parquet(file)
                    .and_then(|mut lf| lf.collect_schema())
                    .map_err(|e| store_error(&file.path, e))
                    .with_kind(Kind::Data, what)
            })
        }
    }
}

/// Rows polars infers a CSV column's type from, as its own scan does.
const INFER_ROWS: usize = 100;

/// A CSV file's header, with each column's type inferred from the first
/// rows, by polars, from those rows alone: the head is cut at a record's
/// end by our scanner, so polars never parses to the end of a file that
/// ends inside a quoted field (its parser reads out of bounds there, found
/// by our property tests: `a,b\n"` is enough). The full read checks the
/// end of the file.
fn csv_schema(file: &InputFile, spec: &ReadSpec) -> anyhow::Result<SchemaRef> {
    let what = || format!("cannot read the CSV header of {}", file.path.display());
    let head = csv::head(open_source(file)?, records(spec), spec.csv.header as usize + INFER_ROWS)
        .or_else(|stop| csv_stop(&file.path, stop, 0))?;
    catch_panic(Kind::Data, what, || {
        CsvReadOptions::default()
            .with_has_header(spec.csv.header)
            .with_infer_schema_length(Some(INFER_ROWS))
            .with_parse_options(parse_options(spec))
            .map_parse_options(|o| o.with_null_values(null_values(spec)))
            .into_reader_with_file_handle(std::io::Cursor::new(head))
            .finish()
            .map(|df| df.schema().clone())
            .with_kind(Kind::Data, what)
    })
}

fn records(spec: &ReadSpec) -> csv::Records {
    csv::Records { quote: spec.csv.quote.map(|c| c as u8), delimiter: spec.csv.delimiter as u8 }
}

fn parse_options(spec: &ReadSpec) -> CsvParseOptions {
    CsvParseOptions::default()
        .with_separator(spec.csv.delimiter as u8)
        .with_quote_char(spec.csv.quote.map(|c| c as u8))
        .with_missing_is_null(true)
}

fn null_values(spec: &ReadSpec) -> Option<NullValues> {
    (!spec.csv.null_values.is_empty())
        .then(|| NullValues::AllColumns(spec.csv.null_values.iter().map(|s| s.as_str().into()).collect()))
}

/// A file's bytes from the start: read, not mapped, so that memory does not
/// grow with the file; an object is streamed.
fn open_source(file: &InputFile) -> anyhow::Result<Box<dyn Read + Send>> {
    Ok(match &file.path {
        Location::Local(p) => {
            Box::new(std::fs::File::open(p).with_kind(Kind::Io, || format!("reading {}", p.display()))?)
        }
        Location::Object(u) => Box::new(storage::stream(u)?),
    })
}

/// Why our CSV reader stopped, as an error naming the file (and rows).
fn csv_stop<T>(path: &Location, stop: csv::Stop, next_row: u64) -> anyhow::Result<T> {
    let shown = path.display();
    Err(match stop {
        csv::Stop::Polars { error, first_row } => return polars_error(path, Format::Csv, error, first_row),
        // An object's stream explains its own failures (and names the URL).
        csv::Stop::Io(e) => match path {
            Location::Object(_) => failure(Kind::Io, format!("{e}")),
            Location::Local(_) => failure(Kind::Io, format!("reading {shown} after row {next_row}: {e}")),
        },
        csv::Stop::OpenQuote => failure(
            Kind::Data,
            format!(
                "{shown}: the file ends inside a quoted field (a quote that is never closed); fix the file or set input.csv.quote"
            ),
        ),
        csv::Stop::Miscount { first_row, expected, parsed } => failure(
            Kind::Data,
            format!(
                "{shown}: rows {}..{}: polars parsed {parsed} rows where there are {expected} records; is a quote or a line ending malformed there?",
                first_row + 1,
                first_row + expected as u64
            ),
        ),
    })
}

/// A failed read by polars, after `row`: the store's fault for an object's
/// I/O, an [`UnparsableCell`] for a CSV cell, else polars' words.
fn polars_error<T>(path: &Location, format: Format, e: PolarsError, row: u64) -> anyhow::Result<T> {
    let is_store = matches!(path, Location::Object(_))
        && matches!(e, PolarsError::IO { .. } | PolarsError::Context { .. });
    let e = if is_store { store_error(path, e) } else { tag_unparsable(format, e) };
    Err(e).with_kind(Kind::Data, || format!("reading {} after row {row}", path.display()))
}

/// A CSV cell that polars could not parse as the column's type. polars
/// stops at the first one without saying which row it is in, so `run`
/// reads the file again as text to find every bad row: it looks for this
/// type in the error chain, never for words in the message (which holds
/// paths and column names that may contain anything).
#[derive(Debug)]
pub struct UnparsableCell(PolarsError);

impl std::fmt::Display for UnparsableCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for UnparsableCell {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// polars' CSV reader reports a cell it cannot parse as a ComputeError
/// that starts "could not parse" (polars-io 0.55 csv/read/parser.rs).
fn tag_unparsable(format: Format, e: PolarsError) -> anyhow::Error {
    match &e {
        PolarsError::ComputeError(msg) if format == Format::Csv && msg.starts_with("could not parse") => {
            UnparsableCell(e).into()
        }
        _ => e.into(),
    }
}

/// A failed read of an object through polars: an I/O failure is the
/// store's (unreachable, refused, gone: 74 or 66), not bad data, and is
/// explained as such; anything else goes on as polars said it.
fn store_error(path: &Location, e: PolarsError) -> anyhow::Error {
    fn is_io(e: &PolarsError) -> bool {
        match e {
            PolarsError::IO { .. } => true,
            PolarsError::Context { error, .. } => is_io(error),
            _ => false,
        }
    }
    match path {
        Location::Object(u) if is_io(&e) => {
            storage::explain_text(u, storage::Op::ReadInput, &e.to_string(), None)
        }
        _ => e.into(),
    }
}

/// Why the reader thread stopped early.
enum ReadError {
    /// polars' scan failed (Parquet).
    Polars(PolarsError),
    /// Our CSV reader stopped.
    Csv(csv::Stop),
}

/// A chunk of rows and where it came from.
pub struct Chunk {
    pub df: DataFrame,
    /// 0-based row number of the first row within its file.
    pub first_row: u64,
}

/// Streams one file's rows in chunks; an iterator of `anyhow::Result<Chunk>`.
pub struct ChunkReader {
    rx: mpsc::Receiver<Result<DataFrame, ReadError>>,
    worker: Option<std::thread::JoinHandle<()>>,
    path: Location,
    format: Format,
    /// Where this reader started in the file (a shard's range may start past 0).
    first_row: u64,
    next_row: u64,
}

impl ChunkReader {
    /// Reads `rows` of a Parquet file (0-based, end excluded: a shard's
    /// row groups), or the whole file; a CSV file is parsed on `threads`
    /// threads.
    pub fn open(
        file: &InputFile,
        spec: &ReadSpec,
        chunk_rows: usize,
        rows: Option<std::ops::Range<u64>>,
        threads: usize,
    ) -> anyhow::Result<ChunkReader> {
        let (tx, rx) = mpsc::sync_channel::<Result<DataFrame, ReadError>>(1);
        let what = || format!("cannot read {}", file.path.display());
        let worker = catch_panic(Kind::Data, what, || match file.format {
            Format::Csv => {
                if rows.is_some() {
                    return Err(failure(
                        Kind::Internal,
                        format!("{}: only Parquet is read by row range", file.path.display()),
                    ));
                }
                Self::spawn_csv(file, spec, chunk_rows, threads, tx)
            }
            Format::Parquet => Self::spawn_parquet(file, spec, chunk_rows, rows.clone(), tx),
        })?;
        Ok(ChunkReader {
            rx,
            worker: Some(worker),
            path: file.path.clone(),
            format: file.format,
            first_row: rows.as_ref().map_or(0, |r| r.start),
            next_row: rows.map_or(0, |r| r.start),
        })
    }

    fn spawn_csv(
        file: &InputFile,
        spec: &ReadSpec,
        chunk_rows: usize,
        threads: usize,
        tx: mpsc::SyncSender<Result<DataFrame, ReadError>>,
    ) -> anyhow::Result<std::thread::JoinHandle<()>> {
        // The header, as polars reads it (names, duplicates renamed).
        let header = csv_schema(file, spec)?;
        let mut projection = Vec::with_capacity(spec.columns.len());
        let schema: Schema = header
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let dtype = match spec.columns.iter().position(|c| c == name.as_str()) {
                    Some(k) => {
                        projection.push(i);
                        spec.csv_dtypes.get(k).cloned().unwrap_or(DataType::String)
                    }
                    // Not parsed: skipped by the parser.
                    None => DataType::String,
                };
                Field::new(name.clone(), dtype)
            })
            .collect();
        if let Some(missing) = spec.columns.iter().find(|c| !schema.contains(c)) {
            return Err(failure(Kind::Data, format!("{}: no column {missing:?}", file.path.display())));
        }
        let setup = csv::Setup {
            records: records(spec),
            header: spec.csv.header,
            schema: Arc::new(schema),
            projection,
            columns: spec.columns.iter().map(|c| c.as_str().into()).collect(),
            parse: parse_options(spec),
            null_values: spec.csv.null_values.iter().map(|s| s.as_str().into()).collect(),
            chunk_rows: chunk_rows.max(1),
            threads: threads.max(1),
        };
        let source = open_source(file)?;
        spawn_reader(tx, move |tx| csv::read(source, setup, |r| tx.send(r.map_err(ReadError::Csv)).is_ok()))
    }

    fn spawn_parquet(
        file: &InputFile,
        spec: &ReadSpec,
        chunk_rows: usize,
        rows: Option<std::ops::Range<u64>>,
        tx: mpsc::SyncSender<Result<DataFrame, ReadError>>,
    ) -> anyhow::Result<std::thread::JoinHandle<()>> {
        let lf = scan_parquet(file)
            .with_kind(Kind::Data, || format!("cannot read {}", file.path.display()))?
            .select(spec.columns.iter().map(|c| col(c.as_str())).collect::<Vec<_>>());
        // Parquet is read in windows of a few chunks, each its own query:
        // polars memory-maps the file and reads row groups ahead, so one
        // query over the whole file holds pages and prefetched groups in
        // proportion to the file; a window releases them when it ends.
        let range = match &rows {
            Some(r) => r.start as usize..r.end as usize,
            None => 0..parquet_rows(file)?,
        };
        let window =
            (chunk_rows.saturating_mul(PARQUET_WINDOW_CHUNKS)).clamp(1, IdxSize::MAX as usize) as IdxSize;
        let windows: Vec<(i64, IdxSize)> = range
            .clone()
            .step_by(window as usize)
            .map(|start| (start as i64, (window as usize).min(range.end - start) as IdxSize))
            .collect();
        // One chunk waiting while the next is read: enough to overlap
        // reading with scoring (a second waiting chunk only added ~25 MB of
        // peak memory on the 2M-row tree runs, and no speed).
        spawn_reader(tx, move |tx| {
            for (start, len) in windows {
                let sender = tx.clone();
                let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                let flag = stopped.clone();
                let run = lf
                    .clone()
                    .slice(start, len)
                    .sink_batches(
                        PlanCallback::new(move |df: DataFrame| {
                            let closed = sender.send(Ok(df)).is_err();
                            if closed {
                                flag.store(true, std::sync::atomic::Ordering::Relaxed);
                            }
                            Ok(closed)
                        }),
                        true,
                        NonZeroUsize::new(chunk_rows),
                    )
                    .and_then(|sink| sink.collect_with_engine(Engine::Streaming).map(drop));
                if let Err(e) = run {
                    let _ = tx.send(Err(ReadError::Polars(e)));
                    return;
                }
                if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
            }
        })
    }
}

/// The reader thread, running `read` with the chunk channel. A panic in
/// polars (corrupt data) becomes an error on the channel.
fn spawn_reader(
    tx: mpsc::SyncSender<Result<DataFrame, ReadError>>,
    read: impl FnOnce(&mpsc::SyncSender<Result<DataFrame, ReadError>>) + Send + 'static,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("read".into())
        .spawn(move || {
            if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(&tx))) {
                let msg = crate::error::panic_message(&*payload);
                let _ = tx.send(Err(ReadError::Polars(
                    polars_err!(ComputeError: "the reader failed ({msg}); is the file corrupt or truncated?"),
                )));
            }
        })
        .with_kind(Kind::Internal, || "starting the reader thread")
}

/// A Parquet file's row groups, rows and compressed bytes of each, from
/// its footer. Call after [`schema`], whose guard checks the footer first.
pub fn row_groups(file: &InputFile) -> anyhow::Result<Vec<(u64, u64)>> {
    let what = || format!("cannot read the Parquet footer of {}", file.path.display());
    let groups = |g: &[polars_parquet::read::RowGroupMetadata]| -> Vec<(u64, u64)> {
        g.iter().map(|g| (g.num_rows() as u64, g.compressed_size() as u64)).collect()
    };
    catch_panic(Kind::Data, what, || match &file.path {
        Location::Local(p) => {
            let f = std::fs::File::open(p).with_kind(Kind::Io, || format!("reading {}", p.display()))?;
            let mut reader = ParquetReader::new(f);
            Ok(groups(&reader.get_metadata().with_kind(Kind::Data, what)?.row_groups))
        }
        Location::Object(u) => {
            let mut reader = storage::RangeRead::open(u, file.bytes)?;
            Ok(groups(
                &polars_parquet::read::read_metadata(&mut reader).with_kind(Kind::Data, what)?.row_groups,
            ))
        }
    })
}

/// Chunks per Parquet window.
const PARQUET_WINDOW_CHUNKS: usize = 2;

/// A Parquet file's row count, from its footer.
fn parquet_rows(file: &InputFile) -> anyhow::Result<usize> {
    let df = scan_parquet(file)
        .and_then(|lf| lf.select([len().alias("n")]).collect())
        .map_err(|e| store_error(&file.path, e))
        .with_kind(Kind::Data, || format!("cannot read the Parquet footer of {}", file.path.display()))?;
    let n = df.column("n").ok().and_then(|c| c.get(0).ok()).and_then(|v| v.extract::<u64>()).unwrap_or(0);
    Ok(n as usize)
}

impl Iterator for ChunkReader {
    type Item = anyhow::Result<Chunk>;

    fn next(&mut self) -> Option<Self::Item> {
        let read = self.next_row - self.first_row;
        if read > 0 && crate::faults::read_pause() == Some(read) {
            eprintln!("test fault: reading {} paused after row {}", self.path, self.next_row);
            std::thread::sleep(std::time::Duration::from_secs(
                crate::faults::upload_pause_seconds().unwrap_or(60),
            ));
        }
        match self.rx.recv() {
            Ok(Ok(df)) => {
                let first_row = self.next_row;
                self.next_row += df.height() as u64;
                Some(Ok(Chunk { df, first_row }))
            }
            Ok(Err(ReadError::Polars(e))) => Some(polars_error(&self.path, self.format, e, self.next_row)),
            Ok(Err(ReadError::Csv(stop))) => Some(csv_stop(&self.path, stop, self.next_row)),
            Err(_) => {
                if let Some(w) = self.worker.take()
                    && w.join().is_err()
                {
                    return Some(Err(failure(
                        Kind::Internal,
                        format!("the reader of {} panicked", self.path.display()),
                    )));
                }
                None
            }
        }
    }
}

impl Drop for ChunkReader {
    fn drop(&mut self) {
        // Dropping the receiver makes the callback return `true`, which
        // stops the scan; then wait so no thread outlives the run.
        let (_, dummy) = mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.rx, dummy));
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
