//! Finding the day's input files and reading them chunk by chunk.
//!
//! Each file is scanned lazily with polars' streaming engine and handed to
//! us in chunks of at most `chunk_rows` rows through a small bounded
//! channel, so memory depends on the chunk size, not on the file size.
//! Files are read one after the other, in sorted order, so that every row
//! has a stable (file, row number) address for error messages.

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

fn scan(file: &InputFile, spec: &ReadSpec, with_dtypes: bool) -> PolarsResult<LazyFrame> {
    // Objects are read by polars' own cloud reader: ranged GETs, streamed.
    let (path, cloud) = match &file.path {
        Location::Local(p) => match local_csv_url(p).filter(|_| file.format == Format::Csv) {
            Some(url) => (url, None),
            None => (PlRefPath::new(p.to_string_lossy().as_ref()), None),
        },
        Location::Object(u) => (PlRefPath::new(u.full().as_str()), Some(storage::cloud_options(u))),
    };
    let lf = match file.format {
        Format::Csv => {
            let null_values = if spec.csv.null_values.is_empty() {
                None
            } else {
                Some(NullValues::AllColumns(spec.csv.null_values.iter().map(|s| s.as_str().into()).collect()))
            };
            let mut reader = LazyCsvReader::new(path)
                .with_has_header(spec.csv.header)
                .with_separator(spec.csv.delimiter as u8)
                .with_quote_char(spec.csv.quote.map(|c| c as u8))
                .with_null_values(null_values)
                .with_missing_is_null(true)
                .with_glob(false)
                .with_cloud_options(cloud);
            if with_dtypes {
                let overwrite: Schema = spec
                    .columns
                    .iter()
                    .zip(&spec.csv_dtypes)
                    .map(|(c, d)| Field::new(c.as_str().into(), d.clone()))
                    .collect();
                reader = reader.with_dtype_overwrite(Some(Arc::new(overwrite)));
            }
            reader.finish()?
        }
        Format::Parquet => LazyFrame::scan_parquet(
            path,
            ScanArgsParquet { glob: false, cloud_options: cloud, ..Default::default() },
        )?,
    };
    Ok(lf)
}

/// A local CSV file as a `file://` URL, so that polars reads it as it reads
/// an object: in pieces fetched a few ahead of the parser, in memory that
/// depends on those settings. Given a plain path it maps the whole file,
/// and the mapped pages count in the process's RSS (and a container's
/// memory) as the parser goes: 1.28 GB peak for a 1.25 GB file. Measured on
/// that file (2M rows x 30 float64, 2 cores): 4.4-4.5 s and 1,276 MB peak
/// RSS mapped, 3.8-3.9 s and 270 MB (222 MB heap) in pieces. Parquet stays
/// mapped: in pieces it was slower (0.72 -> 0.85 s on its 2M-row day).
/// Windows keeps the mapped read: there the URL form is untested.
#[cfg(not(windows))]
fn local_csv_url(p: &std::path::Path) -> Option<PlRefPath> {
    let abs = std::path::absolute(p).ok()?;
    // polars decodes percent escapes in a URL's path: a literal % is escaped.
    Some(PlRefPath::new(format!("file://{}", abs.to_str()?.replace('%', "%25")).as_str()))
}

#[cfg(windows)]
fn local_csv_url(_: &std::path::Path) -> Option<PlRefPath> {
    None
}

/// The file's columns and their types, reading only the header or footer.
pub fn schema(file: &InputFile, spec: &ReadSpec) -> anyhow::Result<SchemaRef> {
    if file.bytes == 0 {
        return Err(failure(Kind::Data, format!("input {} is empty (0 bytes)", file.path.display())));
    }
    if file.format == Format::Csv
        && let Some(q) = spec.csv.quote
    {
        let reader: Box<dyn Read> = match &file.path {
            Location::Local(p) => {
                Box::new(std::fs::File::open(p).with_kind(Kind::Io, || format!("reading {}", p.display()))?)
            }
            Location::Object(u) => Box::new(storage::stream(u)?),
        };
        check_quotes(reader, &file.path, q as u8, spec.csv.delimiter as u8)?;
    }
    if file.format == Format::Parquet {
        match &file.path {
            Location::Local(p) => crate::parquet_guard::check(p, file.bytes)?,
            Location::Object(u) => crate::parquet_guard::check_object(u, file.bytes)?,
        }
    }
    let kind = match file.format {
        Format::Csv => "CSV",
        Format::Parquet => "Parquet",
    };
    let what = || format!("cannot read the {kind} header of {}", file.path.display());
    catch_panic(Kind::Data, what, || {
        scan(file, spec, false)
            .and_then(|mut lf| lf.collect_schema())
            .map_err(|e| store_error(&file.path, e))
            .with_kind(Kind::Data, what)
    })
}

/// Refuses a CSV that ends inside a quoted field. polars 0.55's CSV
/// parser reads out of bounds there (found by our property tests: `a,b\n"`
/// or `a,b\n ","` is enough), which is undefined behaviour in a release
/// build. Only quotes are visited (memchr), and a quote opens a field only
/// at the start of one, as the CSV rules say, so a numeric file with no
/// quotes costs one fast pass over its bytes.
fn check_quotes(mut f: impl Read, path: &Location, quote: u8, delimiter: u8) -> anyhow::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    // The byte before the current buffer (a field starts after it if it is a separator).
    let mut before = b'\n';
    let mut quoted = false;
    // A quote that may be the first of an escaped pair, waiting for the next buffer.
    let mut pending_close = false;
    loop {
        let n = f.read(&mut buf).with_kind(Kind::Io, || format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        let b = &buf[..n];
        let mut i = 0;
        if pending_close {
            pending_close = false;
            if b[0] == quote {
                i = 1; // "" inside a quoted field: still quoted
            } else {
                quoted = false;
            }
        }
        while let Some(off) = memchr::memchr(quote, &b[i..]) {
            let p = i + off;
            if quoted {
                match b.get(p + 1) {
                    Some(&c) if c == quote => i = p + 2,
                    Some(_) => {
                        quoted = false;
                        i = p + 1;
                    }
                    None => {
                        pending_close = true;
                        i = p + 1;
                    }
                }
            } else {
                let prev = if p == 0 { before } else { b[p - 1] };
                if prev == delimiter || prev == b'\n' || prev == b'\r' {
                    quoted = true;
                }
                i = p + 1;
            }
        }
        before = b[n - 1];
    }
    if quoted && !pending_close {
        return Err(failure(
            Kind::Data,
            format!(
                "{}: the file ends inside a quoted field (a {:?} that is never closed); fix the file or set input.csv.quote",
                path.display(),
                quote as char
            ),
        ));
    }
    Ok(())
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

/// A chunk of rows and where it came from.
pub struct Chunk {
    pub df: DataFrame,
    /// 0-based row number of the first row within its file.
    pub first_row: u64,
}

/// Streams one file's rows in chunks; an iterator of `anyhow::Result<Chunk>`.
pub struct ChunkReader {
    rx: mpsc::Receiver<PolarsResult<DataFrame>>,
    worker: Option<std::thread::JoinHandle<()>>,
    path: Location,
    format: Format,
    /// Where this reader started in the file (a shard's range may start past 0).
    first_row: u64,
    next_row: u64,
}

impl ChunkReader {
    /// Reads `rows` of a Parquet file (0-based, end excluded: a shard's
    /// row groups), or the whole file.
    pub fn open(
        file: &InputFile,
        spec: &ReadSpec,
        chunk_rows: usize,
        rows: Option<std::ops::Range<u64>>,
    ) -> anyhow::Result<ChunkReader> {
        catch_panic(
            Kind::Data,
            || format!("cannot read {}", file.path.display()),
            || Self::open_inner(file, spec, chunk_rows, rows),
        )
    }

    fn open_inner(
        file: &InputFile,
        spec: &ReadSpec,
        chunk_rows: usize,
        rows: Option<std::ops::Range<u64>>,
    ) -> anyhow::Result<ChunkReader> {
        if rows.is_some() && file.format != Format::Parquet {
            return Err(failure(
                Kind::Internal,
                format!("{}: only Parquet is read by row range", file.path.display()),
            ));
        }
        let lf = scan(file, spec, true)
            .with_kind(Kind::Data, || format!("cannot read {}", file.path.display()))?
            .select(spec.columns.iter().map(|c| col(c.as_str())).collect::<Vec<_>>());
        // Parquet is read in windows of a few chunks, each its own query:
        // polars memory-maps the file and reads row groups ahead, so one
        // query over the whole file holds pages and prefetched groups in
        // proportion to the file; a window releases them when it ends.
        let windows: Vec<(i64, IdxSize)> = match file.format {
            Format::Parquet => {
                let range = match &rows {
                    Some(r) => r.start as usize..r.end as usize,
                    None => 0..parquet_rows(file, spec)?,
                };
                let window = (chunk_rows.saturating_mul(PARQUET_WINDOW_CHUNKS))
                    .clamp(1, IdxSize::MAX as usize) as IdxSize;
                range
                    .clone()
                    .step_by(window as usize)
                    .map(|start| (start as i64, (window as usize).min(range.end - start) as IdxSize))
                    .collect()
            }
            Format::Csv => vec![],
        };
        // One chunk waiting while the next is read: enough to overlap
        // reading with scoring (a second waiting chunk only added ~25 MB of
        // peak memory on the 2M-row tree runs, and no speed).
        let (tx, rx) = mpsc::sync_channel::<PolarsResult<DataFrame>>(1);
        let worker = std::thread::Builder::new()
            .name("read".into())
            .spawn(move || {
                // A panic in polars (corrupt data) becomes an error on the channel.
                let panic_tx = tx.clone();
                let read = std::panic::AssertUnwindSafe(move || {
                let plans: Vec<LazyFrame> = if windows.is_empty() {
                    vec![lf]
                } else {
                    windows.into_iter().map(|(start, len)| lf.clone().slice(start, len)).collect()
                };
                for plan in plans {
                    let sender = tx.clone();
                    let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                    let flag = stopped.clone();
                    let run = plan
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
                        let _ = tx.send(Err(e));
                        return;
                    }
                    if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                }
                });
                if let Err(payload) = std::panic::catch_unwind(read) {
                    let msg = crate::error::panic_message(&*payload);
                    let _ = panic_tx.send(Err(polars_err!(ComputeError: "the reader failed ({msg}); is the file corrupt or truncated?")));
                }
            })
            .with_kind(Kind::Internal, || "starting the reader thread")?;
        Ok(ChunkReader {
            rx,
            worker: Some(worker),
            path: file.path.clone(),
            format: file.format,
            first_row: rows.as_ref().map_or(0, |r| r.start),
            next_row: rows.map_or(0, |r| r.start),
        })
    }
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
fn parquet_rows(file: &InputFile, spec: &ReadSpec) -> anyhow::Result<usize> {
    let df = scan(file, spec, false)
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
            Ok(Err(e))
                if matches!(self.path, Location::Object(_))
                    && matches!(e, PolarsError::IO { .. } | PolarsError::Context { .. }) =>
            {
                Some(Err(store_error(&self.path, e)).with_kind(Kind::Data, || {
                    format!("reading {} after row {}", self.path.display(), self.next_row)
                }))
            }
            Ok(Err(e)) => Some(Err(tag_unparsable(self.format, e)).with_kind(Kind::Data, || {
                format!("reading {} after row {}", self.path.display(), self.next_row)
            })),
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
