//! What polars 0.55 trusts in a Parquet file and batchscore checks first.
//! Each check answers a crash `cargo fuzz` found (docs/fuzzing.md): a
//! footer that places column data outside the file (polars slices the
//! memory-mapped file with it unchecked, an out-of-bounds read), and a page
//! header that claims a negative or impossible number of values (polars
//! reserves memory for that many and the process aborts on the failed
//! allocation, which nothing can catch). Only the footer and the page
//! headers are read: a few small reads per column chunk.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

use polars::prelude::*;
use polars_parquet_format::PageHeader;
use polars_parquet_format::thrift::protocol::TCompactInputProtocol;

use crate::error::{Kind, ResultExt, catch_panic, failure};

/// A page larger than this, uncompressed, is taken for corruption: writers
/// cut pages at about a megabyte, and polars would allocate it in one piece.
const MAX_PAGE_BYTES: i64 = 1 << 30;

pub fn check(path: &Path, bytes: u64) -> anyhow::Result<()> {
    let what = || format!("cannot read the Parquet footer of {}", path.display());
    let open = || File::open(path).with_kind(Kind::Io, || format!("opening {}", path.display()));
    let metadata = catch_panic(Kind::Data, what, || {
        ParquetReader::new(open()?).get_metadata().cloned().with_kind(Kind::Data, what)
    })?;
    let mut reader = BufReader::with_capacity(8 << 10, open()?);
    let corrupt = |msg: String| {
        failure(Kind::Data, format!("{}: {msg}; is the file corrupt or truncated?", path.display()))
    };
    for (g, group) in metadata.row_groups.iter().enumerate() {
        let ranges = std::iter::once(group.full_byte_range()).chain(group.byte_ranges_iter());
        if let Some(r) = ranges.into_iter().find(|r| r.start > r.end || r.end > bytes) {
            return Err(corrupt(format!(
                "row group {g} places its data at bytes {}..{} but the file has {bytes} bytes",
                r.start, r.end
            )));
        }
        let rows = group.num_rows();
        for column in group.parquet_columns() {
            let descriptor = column.descriptor();
            let flat = descriptor.descriptor.max_rep_level == 0;
            check_pages(&mut reader, column.byte_range(), rows, flat).map_err(|msg| {
                corrupt(format!("column {:?}, row group {g}: {msg}", descriptor.path_in_schema.join(".")))
            })?;
        }
    }
    Ok(())
}

/// Walks a column chunk's page headers, skipping the page bodies.
fn check_pages(
    reader: &mut BufReader<File>,
    range: Range<u64>,
    rows: usize,
    flat: bool,
) -> Result<(), String> {
    let mut at = range.start;
    while at < range.end {
        reader.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
        let mut counted = Counted { inner: &mut *reader, read: 0 };
        let limit = usize::try_from(range.end - at).unwrap_or(usize::MAX);
        let header = PageHeader::read_from_in_protocol(&mut TCompactInputProtocol::new(&mut counted, limit))
            .map_err(|e| format!("unreadable page header at byte {at} ({e})"))?;
        let header_len = counted.read;
        let values = header
            .data_page_header
            .as_ref()
            .map(|h| h.num_values)
            .or(header.data_page_header_v2.as_ref().map(|h| h.num_values));
        if let Some(v) = values
            && (v < 0 || (flat && v as usize > rows))
        {
            return Err(format!("a page at byte {at} claims {v} values in a group of {rows} rows"));
        }
        if let Some(d) = &header.dictionary_page_header
            && d.num_values < 0
        {
            return Err(format!("a dictionary page at byte {at} claims {} values", d.num_values));
        }
        let (compressed, uncompressed) =
            (i64::from(header.compressed_page_size), i64::from(header.uncompressed_page_size));
        if compressed < 0 || !(0..=MAX_PAGE_BYTES).contains(&uncompressed) {
            return Err(format!(
                "a page at byte {at} claims {compressed} bytes compressed, {uncompressed} uncompressed"
            ));
        }
        at += header_len + compressed as u64;
    }
    Ok(())
}

/// Counts the bytes the thrift decoder takes, to find where the page body starts.
struct Counted<'a, R> {
    inner: &'a mut R,
    read: u64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}
