//! The input path on arbitrary bytes: read as CSV and as Parquet, convert
//! two feature columns to float32, count rows. Must never panic; when a
//! read succeeds, every row is either clean or has a problem.
//!
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run input -s none -- -max_total_time=600
//!
//! batchscore catches panics inside polars' readers (it turns them into a
//! data error naming the file), so those are not crashes of ours. libFuzzer's
//! own hook would abort on them; ours prints each new panic site once, so a
//! run lists the polars bugs it met, and still aborts on any panic that
//! escapes batchscore (libfuzzer-sys aborts when the target unwinds).
#![no_main]

use std::collections::HashSet;
use std::sync::{Mutex, Once};

use batchscore::Format;
use batchscore::read_and_convert;
use libfuzzer_sys::fuzz_target;

static HOOK: Once = Once::new();
static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn report_new_panic_sites() {
    std::panic::set_hook(Box::new(|info| {
        let site = info.location().map(|l| l.to_string()).unwrap_or_default();
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        if seen.get_or_insert_with(HashSet::new).insert(site.clone()) {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            eprintln!("PANIC SITE #{}: {site}: {msg}", seen.as_ref().map_or(0, HashSet::len));
        }
    }));
}

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(report_new_panic_sites);
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
