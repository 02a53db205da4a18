//! The input path on arbitrary bytes: read as CSV and as Parquet, convert
//! two feature columns to float32, count rows. Must never panic; when a
//! read succeeds, every row is either clean or has a problem.
//!
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run input -- -max_total_time=600
#![no_main]

use batchscore::job::Format;
use batchscore::probe::read_and_convert;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    for (name, format) in [("in.csv", Format::Csv), ("in.parquet", Format::Parquet)] {
        let path = dir.path().join(name);
        if std::fs::write(&path, data).is_err() {
            return;
        }
        if let Ok(c) = read_and_convert(&path, format, &["a", "b"], 3) {
            assert_eq!(c.read, c.clean + c.bad, "{c:?}");
        }
    }
});
