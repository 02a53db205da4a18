//! What polars 0.55 trusts in a Parquet file and batchscore checks first.
//! Each check answers a crash `cargo fuzz` found (docs/fuzzing.md): a
//! footer whose lists claim more elements than it has bytes (polars'
//! footer decoder reserves them up front: an 81 GB allocation), a footer
//! that places column data outside the file (polars slices the
//! memory-mapped file with it unchecked, an out-of-bounds read), and a page
//! header that claims a negative or impossible number of values (polars
//! reserves memory for that many). A failed allocation aborts the process,
//! which nothing can catch, so these are refused before polars reads.
//! Only the footer and the page headers are read: a few small reads per
//! column chunk.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

use polars::prelude::*;
use polars_parquet_format::thrift::protocol::TCompactInputProtocol;
use polars_parquet_format::{FileMetaData, PageHeader};

use crate::error::{Kind, ResultExt, catch_panic, failure};

/// A page larger than this, uncompressed, is taken for corruption: writers
/// cut pages at about a megabyte, and polars would allocate it in one piece.
const MAX_PAGE_BYTES: i64 = 1 << 30;

/// A footer larger than this is taken for corruption (a footer lists every
/// column chunk of every row group: a few MB for the largest real files).
const MAX_FOOTER_BYTES: u64 = 256 << 20;

pub fn check(path: &Path, bytes: u64) -> anyhow::Result<()> {
    let what = || format!("cannot read the Parquet footer of {}", path.display());
    let open = || File::open(path).with_kind(Kind::Io, || format!("opening {}", path.display()));
    check_footer(&mut open()?, bytes)
        .map_err(|msg| failure(Kind::Data, format!("{}: {msg}", path.display())))?;
    let metadata = catch_panic(Kind::Data, what, || {
        ParquetReader::new(open()?).get_metadata().cloned().with_kind(Kind::Data, what)
    })?;
    check_groups(&path.display().to_string(), &metadata, BufReader::with_capacity(8 << 10, open()?), bytes)
}

/// The same checks on an object, by ranged GETs of the footer and the
/// page headers: a few small requests per column chunk, never the data.
pub fn check_object(url: &crate::storage::ObjectUrl, bytes: u64) -> anyhow::Result<()> {
    let what = || format!("cannot read the Parquet footer of {url}");
    let open = || crate::storage::RangeRead::open(url, bytes);
    check_footer(&mut open()?, bytes).map_err(|msg| failure(Kind::Data, format!("{url}: {msg}")))?;
    let metadata = catch_panic(Kind::Data, what, || {
        polars_parquet::read::read_metadata(&mut open()?).with_kind(Kind::Data, what)
    })?;
    check_groups(&url.to_string(), &metadata, open()?, bytes)
}

fn check_groups<R: Read + Seek>(
    shown: &str,
    metadata: &polars_parquet::read::FileMetadata,
    mut reader: R,
    bytes: u64,
) -> anyhow::Result<()> {
    let corrupt =
        |msg: String| failure(Kind::Data, format!("{shown}: {msg}; is the file corrupt or truncated?"));
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

/// Decodes the footer with the thrift decoder of polars-parquet-format,
/// which charges every list against a byte budget before reserving it.
/// A list may not promise more elements than the footer has bytes.
fn check_footer<R: Read + Seek>(file: &mut R, bytes: u64) -> Result<(), String> {
    if bytes < 12 {
        return Err(format!("{bytes} bytes is too small for a Parquet file"));
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8)).and_then(|_| file.read_exact(&mut tail)).map_err(|e| e.to_string())?;
    if &tail[4..] != b"PAR1" {
        return Err("not a Parquet file (it does not end in PAR1)".into());
    }
    let len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len + 8 > bytes || len > MAX_FOOTER_BYTES {
        return Err(format!(
            "the footer claims {len} bytes in a file of {bytes}; is the file corrupt or truncated?"
        ));
    }
    let mut footer = vec![0u8; len as usize];
    file.seek(SeekFrom::End(-8 - len as i64))
        .and_then(|_| file.read_exact(&mut footer))
        .map_err(|e| e.to_string())?;
    let budget = (footer.len() * 16).max(1 << 20);
    FileMetaData::read_from_in_protocol(&mut TCompactInputProtocol::new(&footer[..], budget))
        .map(drop)
        .map_err(|e| format!("the footer does not decode ({e}); is the file corrupt or truncated?"))
}

/// Walks a column chunk's page headers, skipping the page bodies.
fn check_pages<R: Read + Seek>(
    reader: &mut R,
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
