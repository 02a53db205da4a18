//! A CSV file read in chunks: batchscore finds the records, polars parses
//! them, several pieces at once.
//!
//! polars' own CSV scan finds its line ends one byte at a time when it is
//! built with stable Rust (its 64-byte path needs nightly's `std::simd`),
//! and on one thread: on 2 cores that loop was 3 s of a 3.5 s read of a
//! 1.2 GB day (docs/csv-read-profile.md). Here the record ends are found
//! with `memchr` (SIMD on stable), the file is cut into pieces of whole
//! records, and each piece goes to polars' own field parser
//! (`read_chunk`, what its streaming source calls per batch) on a pool of
//! the run's threads. The file is read, not mapped, so memory depends on
//! the piece size and the chunk size.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, mpsc};

use memchr::{memchr, memchr2};
use polars::prelude::_csv_read_internal::{NullValuesCompiled, cast_columns, prepare_csv_schema, read_chunk};
use polars::prelude::*;

/// Bytes of text per piece. On the bench's CSV day (1.2 GB, 2 cores) 1, 2
/// and 4 MiB took the same time within noise; 16 MiB took 4% longer with
/// 60 MB more peak RSS; 2 MiB peaks at ~85 MB. Tests set it lower
/// (`faults::csv_piece_bytes`) so that quoted fields straddle pieces.
const PIECE_BYTES: usize = 2 << 20;

/// Where records end, by the CSV rules polars' parser follows: a quote
/// opens a field only at its start, and inside a quoted field a doubled
/// quote is a literal one.
#[derive(Clone, Copy, Debug)]
pub(super) struct Records {
    pub quote: Option<u8>,
    pub delimiter: u8,
}

/// How far [`Records::scan`] got.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Scan {
    /// Complete records (each ends with a line feed) at the start of the buffer.
    pub records: usize,
    /// Where they end: just past the last one's line feed.
    pub end: usize,
    /// At the buffer's end, inside a quoted field: the rest is not a record
    /// yet, and at the end of the file it never will be.
    pub open_quote: bool,
}

impl Records {
    /// Up to `max` complete records at the start of `buf`, which starts at
    /// the start of a record. Only quotes and line feeds are visited.
    pub fn scan(&self, buf: &[u8], max: usize) -> Scan {
        let mut s = Scan { records: 0, end: 0, open_quote: false };
        if max == 0 {
            return s;
        }
        let Some(q) = self.quote else {
            for p in memchr::memchr_iter(b'\n', buf) {
                s.records += 1;
                s.end = p + 1;
                if s.records == max {
                    break;
                }
            }
            return s;
        };
        let mut i = 0;
        loop {
            // Outside quotes: the next line feed, or a quote that may open a field.
            let Some(off) = memchr2(q, b'\n', &buf[i..]) else { return s };
            let p = i + off;
            i = p + 1;
            if buf[p] == b'\n' {
                s.records += 1;
                s.end = i;
                if s.records == max {
                    return s;
                }
                continue;
            }
            if p > 0 && buf[p - 1] != self.delimiter && buf[p - 1] != b'\n' {
                continue; // a quote inside an unquoted field is text
            }
            // Inside a quoted field: find the quote that closes it.
            loop {
                let Some(off) = memchr(q, &buf[i..]) else {
                    s.open_quote = true;
                    return s;
                };
                let p = i + off;
                match buf.get(p + 1) {
                    Some(&c) if c == q => i = p + 2,
                    Some(_) => {
                        i = p + 1;
                        break;
                    }
                    // The last byte: it closes the field unless the next
                    // read starts with a second quote. Either way the rest
                    // is not a complete record yet.
                    None => return s,
                }
            }
        }
    }
}

/// The first `rows` records of a file (a UTF-8 byte order mark dropped),
/// or the whole file if it has fewer; an error if that whole file ends
/// inside a quoted field.
pub(super) fn head(mut source: impl Read, records: Records, rows: usize) -> Result<Vec<u8>, Stop> {
    let mut buf = Vec::new();
    let mut want = 64 << 10;
    loop {
        let need = want - buf.len();
        let n = (&mut source).take(need as u64).read_to_end(&mut buf).map_err(Stop::Io)?;
        let eof = n < need;
        let start = bom_len(&buf);
        let s = records.scan(&buf[start..], rows);
        if s.records == rows {
            buf.truncate(start + s.end);
        } else if !eof {
            want *= 2;
            continue;
        } else if s.open_quote {
            return Err(Stop::OpenQuote);
        }
        buf.drain(..start);
        return Ok(buf);
    }
}

/// The length of a UTF-8 byte order mark at the start of `buf` (0 or 3).
fn bom_len(buf: &[u8]) -> usize {
    if buf.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 }
}

/// What a CSV reader needs besides the bytes.
pub(super) struct Setup {
    pub records: Records,
    pub header: bool,
    /// The file's columns with the types to parse them as; columns not in
    /// `projection` are skipped unparsed.
    pub schema: SchemaRef,
    /// Indices of the columns read, ascending.
    pub projection: Vec<usize>,
    /// The columns read, in the order the caller wants them.
    pub columns: Vec<PlSmallStr>,
    pub parse: CsvParseOptions,
    /// The cells that read as missing (besides an empty one, always).
    pub null_values: Vec<PlSmallStr>,
    pub chunk_rows: usize,
    pub threads: usize,
}

/// Why a read stopped.
pub(super) enum Stop {
    /// polars refused a piece (a cell that does not parse, a malformed
    /// row); `first_row` is the piece's first row in the file, 0-based.
    Polars { error: PolarsError, first_row: u64 },
    /// Reading the bytes failed.
    Io(std::io::Error),
    /// The file ends inside a quoted field.
    OpenQuote,
    /// polars parsed a different number of rows than the piece holds.
    Miscount { first_row: u64, expected: usize, parsed: usize },
}

/// Reads `source` to its end, sending chunks of exactly `chunk_rows` rows
/// (the last may be shorter) until `send` returns false.
pub(super) fn read(
    mut source: impl Read,
    setup: Setup,
    mut send: impl FnMut(Result<DataFrame, Stop>) -> bool,
) {
    let parser = match Parser::new(&setup) {
        Ok(p) => Arc::new(p),
        Err(error) => {
            send(Err(Stop::Polars { error, first_row: 0 }));
            return;
        }
    };
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(setup.threads.max(1))
        .thread_name(|i| format!("csv-parse-{i}"))
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            send(Err(Stop::Io(std::io::Error::other(e))));
            return;
        }
    };
    let piece_bytes = crate::faults::csv_piece_bytes().map_or(PIECE_BYTES, |n| n as usize);
    let mut buf: Vec<u8> = Vec::new();
    let mut eof = false;
    let mut at_start = true;
    let mut file_offset = 0u64;
    // Pieces being parsed, oldest first.
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut chunk: Vec<DataFrame> = Vec::new();
    let mut chunk_rows = 0usize; // rows cut into the current chunk so far
    let mut next_row = 0u64;
    let mut want = piece_bytes;
    // Parsed pieces' buffers come back to be filled again: fresh ones
    // cost a page fault per 4 KiB (a tenth of the CPU of a run).
    let (recycle, spare) = mpsc::channel::<Vec<u8>>();
    loop {
        // Fill the buffer to a piece's worth, or to the end of the file.
        if buf.len() < want && !eof {
            let need = want - buf.len();
            buf.reserve(need);
            match (&mut source).take(need as u64).read_to_end(&mut buf) {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(e) => {
                    send(Err(Stop::Io(e)));
                    return;
                }
            }
            continue;
        }
        if at_start {
            at_start = false;
            let mut skip = bom_len(&buf);
            if setup.header {
                let s = setup.records.scan(&buf[skip..], 1);
                if s.records == 0 && !eof {
                    want = want.saturating_mul(2);
                    at_start = true;
                    continue;
                }
                skip = if s.records == 0 { buf.len() } else { skip + s.end };
            }
            buf.drain(..skip);
            file_offset += skip as u64;
        }
        let room = setup.chunk_rows - chunk_rows;
        let s = setup.records.scan(&buf, room);
        let (cut, lines) = if s.records > 0 {
            (s.end, s.records)
        } else if !eof {
            // One record longer than the buffer: read more before cutting.
            want = want.saturating_mul(2);
            continue;
        } else if s.open_quote {
            send(Err(Stop::OpenQuote));
            return;
        } else if buf.iter().all(|&b| b == b'\r') {
            (buf.len(), 0) // nothing after the last line feed
        } else {
            (buf.len(), 1) // a last record without a line feed
        };
        want = piece_bytes;
        let mut next = match spare.try_recv() {
            Ok(mut v) => {
                v.clear();
                v
            }
            Err(_) => Vec::with_capacity(piece_bytes + (64 << 10)),
        };
        next.extend_from_slice(&buf[cut..]);
        buf.truncate(cut);
        let piece = std::mem::replace(&mut buf, next);
        let finished = eof && buf.is_empty();
        if lines > 0 {
            let (tx, rx) = mpsc::sync_channel(1);
            let p = parser.clone();
            let offset = file_offset;
            let recycle = recycle.clone();
            pool.spawn(move || {
                let _ = tx.send(p.parse(&piece, offset, lines));
                let _ = recycle.send(piece);
            });
            in_flight.push_back(InFlight { rx, lines, first_row: next_row, ends_chunk: false });
            next_row += lines as u64;
            chunk_rows += lines;
        }
        file_offset += cut as u64;
        if chunk_rows == setup.chunk_rows || (finished && chunk_rows > 0) {
            if let Some(last) = in_flight.back_mut() {
                last.ends_chunk = true;
            }
            chunk_rows = 0;
        }
        // Keep the pool busy and one piece ready, no more.
        while in_flight.len() > setup.threads.max(1) || (finished && !in_flight.is_empty()) {
            let piece = in_flight.pop_front().expect("a piece in flight");
            let df = match piece.rx.recv() {
                Ok(Ok(df)) => df,
                Ok(Err(error)) => {
                    send(Err(Stop::Polars { error, first_row: piece.first_row }));
                    return;
                }
                Err(_) => {
                    let error = polars_err!(ComputeError: "the CSV parser stopped (a panic in polars?)");
                    send(Err(Stop::Polars { error, first_row: piece.first_row }));
                    return;
                }
            };
            if df.height() != piece.lines {
                send(Err(Stop::Miscount {
                    first_row: piece.first_row,
                    expected: piece.lines,
                    parsed: df.height(),
                }));
                return;
            }
            chunk.push(df);
            if piece.ends_chunk {
                let out = match concat(std::mem::take(&mut chunk)) {
                    Ok(df) => df,
                    Err(error) => {
                        send(Err(Stop::Polars { error, first_row: piece.first_row }));
                        return;
                    }
                };
                if !send(Ok(out)) {
                    return;
                }
            }
        }
        if finished {
            return;
        }
    }
}

struct InFlight {
    rx: mpsc::Receiver<PolarsResult<DataFrame>>,
    lines: usize,
    first_row: u64,
    /// The last piece of a chunk: the chunk goes out when this one is parsed.
    ends_chunk: bool,
}

fn concat(mut parts: Vec<DataFrame>) -> PolarsResult<DataFrame> {
    let mut out = parts.remove(0);
    for p in &parts {
        out.vstack_mut(p)?;
    }
    Ok(out)
}

/// polars' field parser with this file's settings, shared by the pool.
struct Parser {
    schema: SchemaRef,
    projection: Vec<usize>,
    columns: Vec<PlSmallStr>,
    parse: CsvParseOptions,
    null_values: Option<NullValuesCompiled>,
    /// Text columns whose empty strings become nulls after the parse.
    empty_to_null: Vec<PlSmallStr>,
    to_cast: Vec<Field>,
    check_utf8: bool,
}

impl Parser {
    fn new(setup: &Setup) -> PolarsResult<Parser> {
        // As polars' own CSV source prepares a schema: types its parser
        // cannot produce are read as text and cast after.
        let mut schema = setup.schema.clone();
        let mut to_cast = Vec::new();
        prepare_csv_schema(&mut schema, &mut to_cast)?;
        // polars compares every cell with every null value: 4.6% of a run's
        // CPU for the default empty one. That one needs no comparison where
        // polars makes an empty cell missing by itself (numbers, Booleans,
        // and text with missing_is_null); a quoted "" in a text column,
        // which the comparison would also make missing, is made so after
        // the parse. Any other type keeps polars' comparison.
        // The types as given, not as prepared: a date column is text to the
        // parser, but a date column after the cast.
        let read: Vec<(&PlSmallStr, &DataType)> =
            setup.projection.iter().filter_map(|&i| setup.schema.get_at_index(i)).collect();
        let plain = read.iter().all(|(_, d)| d.is_primitive_numeric() || d.is_bool() || d.is_string());
        let (listed, empty_to_null): (Vec<PlSmallStr>, Vec<PlSmallStr>) =
            if plain && setup.null_values.iter().any(|v| v.is_empty()) {
                (
                    setup.null_values.iter().filter(|v| !v.is_empty()).cloned().collect(),
                    read.iter().filter(|(_, d)| d.is_string()).map(|(n, _)| (*n).clone()).collect(),
                )
            } else {
                (setup.null_values.clone(), vec![])
            };
        let null_values = (!listed.is_empty())
            .then(|| NullValues::AllColumns(listed))
            .map(|nv| nv.compile(&schema))
            .transpose()?;
        // polars' text columns take the bytes as they are: they must be UTF-8.
        let check_utf8 =
            setup.projection.iter().any(|&i| schema.get_at_index(i).is_some_and(|(_, d)| d.is_string()));
        Ok(Parser {
            schema,
            projection: setup.projection.clone(),
            columns: setup.columns.clone(),
            parse: setup.parse.clone(),
            null_values,
            empty_to_null,
            to_cast,
            check_utf8,
        })
    }

    fn parse(&self, piece: &[u8], offset: u64, lines: usize) -> PolarsResult<DataFrame> {
        if self.check_utf8 && !polars::prelude::builder::validate_utf8(piece) {
            polars_bail!(ComputeError: "invalid UTF-8 in the bytes from offset {offset}");
        }
        let mut df = read_chunk(
            piece,
            &self.parse,
            &self.schema,
            false,
            &self.projection,
            0,
            lines,
            self.null_values.as_ref(),
            usize::MAX,
            piece.len(),
            Some(offset as usize),
        )?;
        cast_columns(&mut df, &self.to_cast, false, false)?;
        for name in &self.empty_to_null {
            let text = df.column(name)?.str()?;
            if text.iter().any(|v| v == Some("")) {
                let nulled: StringChunked = text.iter().map(|v| v.filter(|s| !s.is_empty())).collect();
                df.replace(name, nulled.with_name(name.clone()).into_column())?;
            }
        }
        df.select(self.columns.iter().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: Records = Records { quote: Some(b'"'), delimiter: b',' };

    /// Record ends the slow way: every byte, the same rules.
    fn naive(r: &Records, buf: &[u8]) -> (Vec<usize>, bool) {
        let mut ends = vec![];
        let mut quoted = false;
        let mut i = 0;
        while i < buf.len() {
            let c = buf[i];
            if quoted {
                if Some(c) == r.quote {
                    if buf.get(i + 1) == Some(&c) {
                        i += 1;
                    } else {
                        quoted = false;
                    }
                }
            } else if c == b'\n' {
                ends.push(i + 1);
            } else if Some(c) == r.quote && (i == 0 || buf[i - 1] == r.delimiter || buf[i - 1] == b'\n') {
                quoted = true;
            }
            i += 1;
        }
        (ends, quoted)
    }

    #[test]
    fn scan_finds_record_ends_outside_quotes() {
        let buf = b"id,text\n1,\"a\nb\"\n2,\"say \"\"hi\"\"\n\"\n3,x\"y\n4,\"open";
        let s = CSV.scan(buf, usize::MAX);
        assert_eq!(s.records, 4);
        assert_eq!(&buf[s.end..], b"4,\"open");
        assert!(s.open_quote);
        assert_eq!(CSV.scan(buf, 2), Scan { records: 2, end: 16, open_quote: false });
        assert_eq!(CSV.scan(buf, 0).records, 0);
        let plain = Records { quote: None, delimiter: b',' };
        assert_eq!(plain.scan(b"a,\"b\n\"c\n", 9).records, 2);
    }

    #[test]
    fn a_quote_at_the_end_of_the_buffer_leaves_the_record_open() {
        // `"ab"` closes the field, `"ab""...` does not: undecided until more is read.
        let s = CSV.scan(b"1,2\n3,\"ab\"", 10);
        assert_eq!((s.records, s.end, s.open_quote), (1, 4, false));
    }

    #[test]
    fn scan_agrees_with_a_byte_by_byte_scan() {
        // Every short string over the bytes that matter.
        let alphabet = [b'a', b',', b'"', b'\n', b'\r'];
        let mut buf = Vec::new();
        for n in 0..7u32 {
            for code in 0..alphabet.len().pow(n) {
                buf.clear();
                let mut c = code;
                for _ in 0..n {
                    buf.push(alphabet[c % alphabet.len()]);
                    c /= alphabet.len();
                }
                let (ends, quoted) = naive(&CSV, &buf);
                let s = CSV.scan(&buf, usize::MAX);
                assert_eq!(s.records, ends.len(), "{:?}", String::from_utf8_lossy(&buf));
                assert_eq!(s.end, ends.last().copied().unwrap_or(0), "{:?}", String::from_utf8_lossy(&buf));
                // A final quote is undecided for the scan, closed for the naive one.
                if !buf.ends_with(b"\"") {
                    assert_eq!(s.open_quote, quoted, "{:?}", String::from_utf8_lossy(&buf));
                }
                for max in 0..ends.len() {
                    assert_eq!(CSV.scan(&buf, max).records, max);
                }
            }
        }
    }
}
