//! Writing results so that a reader never sees a half-written file.
//!
//! Everything goes to a temporary file in the destination directory (same
//! file system, so the final rename is atomic), is fsynced, then renamed
//! over the final name. A temporary file that is dropped without commit is
//! deleted; one left by a killed process has a name no reader mistakes for
//! output (`.<name>.<random>.tmp`) and is swept by the next run.
//!
//! On object storage the same promise is kept with a multipart upload: the
//! object appears only when the upload is completed, at commit. An upload
//! dropped without commit is aborted; one left by a killed process is
//! named by a hidden marker object beside the output and aborted by the
//! next run (src/storage.rs).

use std::io::{BufWriter, Write};
use std::path::Path;

use polars::prelude::*;

use crate::error::{Kind, ResultExt, failure};
use crate::job::Format;
use crate::storage::{Location, Upload};

/// A file that appears at its final path only on [`AtomicFile::commit`].
pub struct AtomicFile {
    target: Target,
    path: Location,
}

enum Target {
    Local(tempfile::NamedTempFile),
    /// Shared with the writer's handle; taken out at commit.
    Object(Arc<std::sync::Mutex<Option<Upload>>>),
}

/// The writing end of an object's upload.
struct UploadHandle(Arc<std::sync::Mutex<Option<Upload>>>);

impl Write for UploadHandle {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let mut slot = self.0.lock().map_err(|_| std::io::Error::other("upload state poisoned"))?;
        let upload = slot.as_mut().ok_or_else(|| std::io::Error::other("the upload has ended"))?;
        upload.write(b).map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl AtomicFile {
    pub fn create(path: &Location) -> anyhow::Result<AtomicFile> {
        match path {
            Location::Local(p) => Self::create_local(p),
            Location::Object(u) => Ok(AtomicFile {
                target: Target::Object(Arc::new(std::sync::Mutex::new(Some(Upload::start(u)?)))),
                path: path.clone(),
            }),
        }
    }

    fn create_local(path: &Path) -> anyhow::Result<AtomicFile> {
        let tmp = temp_beside(path)?;
        Ok(AtomicFile { target: Target::Local(tmp), path: Location::Local(path.to_owned()) })
    }

    /// A second handle on the temporary file (or the upload), for writers
    /// that want to own one.
    pub fn handle(&self) -> anyhow::Result<Box<dyn Write + Send>> {
        match &self.target {
            Target::Local(tmp) => Ok(Box::new(
                tmp.as_file()
                    .try_clone()
                    .with_kind(Kind::Io, || format!("writing {}", self.path.display()))?,
            )),
            Target::Object(u) => Ok(Box::new(UploadHandle(u.clone()))),
        }
    }

    pub fn path(&self) -> &Location {
        &self.path
    }

    /// Makes the content durable, then gives it its final name: renamed
    /// before its data is on disk, a crash could leave a complete-looking
    /// name over a file of zeros. An upload is completed: the object
    /// appears whole. Returns its size in bytes.
    pub fn commit(self) -> anyhow::Result<u64> {
        let path = self.path;
        let tmp = match self.target {
            Target::Local(tmp) => tmp,
            Target::Object(slot) => {
                let upload = slot
                    .lock()
                    .map_err(|_| failure(Kind::Internal, "upload state poisoned"))?
                    .take()
                    .ok_or_else(|| failure(Kind::Internal, format!("{path}: the upload has ended")))?;
                return upload.complete();
            }
        };
        let synced = match crate::faults::fail_sync() {
            Some(_) => Err(std::io::Error::other("sync failed (simulated)")),
            None => tmp.as_file().sync_all(),
        };
        synced.with_kind(Kind::Io, || format!("writing {}", path.display()))?;
        let Location::Local(local) = &path else {
            return Err(failure(Kind::Internal, "a local file with a URL"));
        };
        tmp.persist(local)
            .map_err(|e| e.error)
            .with_kind(Kind::Io, || format!("renaming into {}", path.display()))?;
        sync_dir(parent(local));
        Ok(std::fs::metadata(local).map(|m| m.len()).unwrap_or(0))
    }
}

/// Writes `bytes` to `path` atomically. An object is written in one
/// request, which every store applies whole.
pub fn write_atomic(path: &Location, bytes: &[u8]) -> anyhow::Result<()> {
    if let Location::Object(u) = path {
        return crate::storage::put(u, bytes.to_vec());
    }
    let f = AtomicFile::create(path)?;
    f.handle()?.write_all(bytes).with_kind(Kind::Io, || format!("writing {}", path.display()))?;
    f.commit().map(drop)
}

/// Writes `bytes` to `path` only if nothing is there yet, atomically: of
/// two writers racing, exactly one creates it. False: it already existed.
/// A file is written beside it first and hard-linked to its name (linking
/// fails if the name exists, where a rename would replace it); an object is
/// created with If-None-Match.
pub fn write_new(path: &Location, bytes: &[u8]) -> anyhow::Result<bool> {
    let local = match path {
        Location::Object(u) => {
            return Ok(matches!(
                crate::storage::put_create(u, bytes.to_vec())?,
                crate::storage::Put::Done { .. }
            ));
        }
        Location::Local(p) => p,
    };
    let tmp = temp_beside(local)?;
    let mut f = tmp.as_file();
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_kind(Kind::Io, || format!("writing {}", path.display()))?;
    let created = match std::fs::hard_link(tmp.path(), local) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(e).with_kind(Kind::Io, || format!("creating {}", path.display())),
    };
    sync_dir(parent(local));
    Ok(created)
}

/// A temporary file in `path`'s directory (created if missing), named so
/// that no reader mistakes it for output and the next run sweeps it.
fn temp_beside(path: &Path) -> anyhow::Result<tempfile::NamedTempFile> {
    let dir = parent(path);
    std::fs::create_dir_all(dir)
        .with_kind(Kind::CantCreate, || format!("cannot create directory {}", dir.display()))?;
    let prefix = format!(".{}.", file_name(path));
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // tempfile creates 0600 files; outputs are for other readers too (the umask still applies).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder
        .tempfile_in(dir)
        .with_kind(Kind::CantCreate, || format!("cannot create a file in {}", dir.display()))
}

/// Removes a file or object; one already gone is no error.
pub fn remove(path: &Location) -> anyhow::Result<()> {
    match path {
        Location::Object(u) => crate::storage::delete(u),
        Location::Local(p) => match std::fs::remove_file(p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_kind(Kind::Io, || format!("removing {}", p.display())),
        },
    }
}

/// Removes what a killed run left beside `path`: temporary files, or
/// unfinished uploads. Only called while holding the job's lock, so no
/// live writer owns them.
pub fn sweep_stale(path: &Location) {
    let path = match path {
        Location::Local(p) => p,
        Location::Object(u) => {
            if let Err(e) = crate::storage::abort_stale(u) {
                tracing::warn!(object = %u, "cannot abort an unfinished upload: {e:#}");
            }
            return;
        }
    };
    let prefix = format!(".{}.", file_name(path));
    let Ok(entries) = std::fs::read_dir(parent(path)) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            match std::fs::remove_file(e.path()) {
                Ok(()) => {
                    tracing::info!(file = %e.path().display(), "removed a temporary file left by an interrupted run")
                }
                Err(err) => {
                    tracing::warn!(file = %e.path().display(), "cannot remove a stale temporary file: {err}")
                }
            }
        }
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into())
}

/// A rename is durable only once its directory entry is; Windows has no
/// directory handles to sync, and NTFS journals the rename itself.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// A buffered file whose last flush, done when the format writer drops it,
/// still reports failure (a full disk at the very end must not commit a
/// truncated file).
struct Sink {
    buf: BufWriter<Box<dyn Write + Send>>,
    written: u64,
    error: Arc<std::sync::Mutex<Option<std::io::Error>>>,
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        disk_full_check(&mut self.written, b.len())?;
        self.buf.write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.buf.flush()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Err(e) = self.buf.flush()
            && let Ok(mut slot) = self.error.lock()
        {
            *slot = Some(e);
        }
    }
}

/// Counts the bytes written, failing past the test fault's limit.
fn disk_full_check(written: &mut u64, more: usize) -> std::io::Result<()> {
    *written += more as u64;
    match crate::faults::disk_full_after() {
        Some(l) if *written > l => {
            Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device (simulated)"))
        }
        _ => Ok(()),
    }
}

enum Inner {
    Parquet(Box<polars::io::parquet::write::BatchedWriter<Sink>>),
    Csv(polars::io::csv::write::BatchedWriter<Sink>),
}

/// Appends chunks of rows to an [`AtomicFile`] as Parquet or CSV.
pub struct TableWriter {
    inner: Inner,
    file: AtomicFile,
    rows: u64,
    flush_error: Arc<std::sync::Mutex<Option<std::io::Error>>>,
}

impl TableWriter {
    pub fn create(path: &Location, format: Format, schema: &Schema) -> anyhow::Result<TableWriter> {
        let file = AtomicFile::create(path)?;
        let flush_error = Arc::new(std::sync::Mutex::new(None));
        let out = Sink {
            buf: BufWriter::with_capacity(1 << 20, file.handle()?),
            written: 0,
            error: flush_error.clone(),
        };
        let inner = match format {
            Format::Parquet => Inner::Parquet(Box::new(
                // zstd level 1, as pyarrow writes it by default: zstd's own
                // default (3) took 6% of a logistic-regression run's CPU
                // for files ~5% smaller. (`ok()`: level 1 always exists.)
                ParquetWriter::new(out)
                    .with_compression(ParquetCompression::Zstd(
                        polars_parquet::write::ZstdLevel::try_new(1).ok(),
                    ))
                    .batched(schema)
                    .with_kind(Kind::CantCreate, || {
                        format!("cannot start Parquet output {}", path.display())
                    })?,
            )),
            Format::Csv => Inner::Csv(
                CsvWriter::new(out)
                    .include_header(true)
                    .batched(schema)
                    .with_kind(Kind::CantCreate, || format!("cannot start CSV output {}", path.display()))?,
            ),
        };
        Ok(TableWriter { inner, file, rows: 0, flush_error })
    }

    pub fn write(&mut self, df: &mut DataFrame) -> anyhow::Result<()> {
        df.rechunk_mut();
        let path = self.file.path().display().to_string();
        match &mut self.inner {
            Inner::Parquet(w) => w.write_batch(df),
            Inner::Csv(w) => w.write_batch(df),
        }
        .with_kind(Kind::Io, || format!("writing {path}"))?;
        self.rows += df.height() as u64;
        Ok(())
    }

    /// Finishes the file format and returns the file, not yet committed.
    pub fn finish(self) -> anyhow::Result<(AtomicFile, u64)> {
        let path = self.file.path().display().to_string();
        match self.inner {
            Inner::Parquet(w) => w.finish().map(drop),
            Inner::Csv(mut w) => w.finish(),
        }
        .with_kind(Kind::Io, || format!("finishing {path}"))?;
        // The format writer and its buffer are gone now: the last flush has run.
        let flushed =
            self.flush_error.lock().map_err(|_| failure(Kind::Internal, "flush status poisoned"))?.take();
        if let Some(e) = flushed {
            return Err(e).with_kind(Kind::Io, || format!("writing {path}"));
        }
        Ok((self.file, self.rows))
    }
}

/// A [`TableWriter`] on its own thread, so encoding and compressing one
/// chunk overlaps reading and scoring the next. At most two chunks wait.
pub struct BackgroundWriter {
    tx: Option<std::sync::mpsc::SyncSender<DataFrame>>,
    handle: Option<std::thread::JoinHandle<anyhow::Result<TableWriter>>>,
}

impl BackgroundWriter {
    pub fn spawn(mut writer: TableWriter) -> anyhow::Result<BackgroundWriter> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<DataFrame>(2);
        let handle = std::thread::Builder::new()
            .name("write".into())
            .spawn(move || {
                for mut df in rx {
                    writer.write(&mut df)?;
                }
                Ok(writer)
            })
            .with_kind(Kind::Internal, || "starting the writer thread")?;
        Ok(BackgroundWriter { tx: Some(tx), handle: Some(handle) })
    }

    pub fn write(&mut self, df: DataFrame) -> anyhow::Result<()> {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(df).is_ok());
        if sent {
            return Ok(());
        }
        // The writer stopped: its own error says why.
        match self.join() {
            Err(e) => Err(e),
            Ok(_) => Err(failure(Kind::Internal, "the writer thread stopped early")),
        }
    }

    pub fn finish(mut self) -> anyhow::Result<(AtomicFile, u64)> {
        self.join()?.finish()
    }

    fn join(&mut self) -> anyhow::Result<TableWriter> {
        self.tx = None;
        let handle =
            self.handle.take().ok_or_else(|| failure(Kind::Internal, "the writer thread is gone"))?;
        handle.join().map_err(|_| failure(Kind::Internal, "the writer thread panicked"))?
    }
}

impl Drop for BackgroundWriter {
    /// On an early return, wait for the thread so its temporary file is
    /// removed before the process moves on (or exits).
    fn drop(&mut self) {
        if self.handle.is_some() {
            let _ = self.join();
        }
    }
}
