//! Faults the integration tests inject into the real binary, each through
//! an environment variable read once. Only debug builds (what `cargo test`
//! runs) read them: the release binary users run has none, so a stray
//! variable on a production host changes nothing.

#[cfg(debug_assertions)]
fn var(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[cfg(not(debug_assertions))]
fn var(_: &str) -> Option<u64> {
    None
}

macro_rules! fault {
    ($(#[$doc:meta])* $name:ident, $var:literal) => {
        $(#[$doc])*
        pub fn $name() -> Option<u64> {
            static VALUE: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
            *VALUE.get_or_init(|| var($var))
        }
    };
}

fault!(
    /// `BATCHSCORE_TEST_DISK_FULL_AFTER=N`: outputs fail as a full disk
    /// would after N bytes, the only portable way for a test to fill a disk.
    disk_full_after,
    "BATCHSCORE_TEST_DISK_FULL_AFTER"
);

fault!(
    /// `BATCHSCORE_TEST_DROP_ROWS=N`: the writer loses N rows of the first
    /// chunk it is given, as a bug between scoring and writing would; the
    /// row accounting must refuse to commit.
    drop_rows,
    "BATCHSCORE_TEST_DROP_ROWS"
);

fault!(
    /// `BATCHSCORE_TEST_FAIL_SYNC=1`: syncing a finished file to disk
    /// fails, as it does when the device reports a write error only then;
    /// nothing may be renamed into place.
    fail_sync,
    "BATCHSCORE_TEST_FAIL_SYNC"
);

fault!(
    /// `BATCHSCORE_TEST_UPLOAD_PAUSE=N`: an upload to object storage stops
    /// before sending its part N (0-based), for
    /// `BATCHSCORE_TEST_UPLOAD_PAUSE_SECONDS` (default 60), so a test can
    /// kill the run, or stop the server, in the middle of an upload.
    upload_pause,
    "BATCHSCORE_TEST_UPLOAD_PAUSE"
);

fault!(
    /// `BATCHSCORE_TEST_READ_PAUSE=N`: reading an input stops after its
    /// first N rows, for `BATCHSCORE_TEST_UPLOAD_PAUSE_SECONDS`, so a test
    /// can stop the server in the middle of a read.
    read_pause,
    "BATCHSCORE_TEST_READ_PAUSE"
);

fault!(
    /// How long [`upload_pause`] and [`read_pause`] last.
    upload_pause_seconds,
    "BATCHSCORE_TEST_UPLOAD_PAUSE_SECONDS"
);

fault!(
    /// `BATCHSCORE_TEST_LOCK_LEASE_SECONDS=N`: locks in a bucket get an
    /// N-second lease instead of two minutes, so a test can see a dead
    /// holder's lock expire.
    lock_lease_seconds,
    "BATCHSCORE_TEST_LOCK_LEASE_SECONDS"
);

fault!(
    /// `BATCHSCORE_TEST_CSV_PIECE_BYTES=N`: CSV files are cut into pieces
    /// of about N bytes instead of 2 MiB, so that a test's small file spans
    /// many pieces: quoted line feeds across a cut, bad values in several.
    csv_piece_bytes,
    "BATCHSCORE_TEST_CSV_PIECE_BYTES"
);
