//! Logs go to stderr: stdout is left for what a command prints as its result.

use std::io::IsTerminal;
use std::sync::OnceLock;

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::cli::LogFormat;

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// The format chosen on the command line (human until it is parsed).
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or(LogFormat::Human)
}

/// Starts logging to stderr, and to `file` (rotated daily) when given. Keep
/// the returned guard alive: it flushes the file on exit.
pub fn init(format: LogFormat, verbose: u8, quiet: u8, file: Option<&Path>) -> Option<WorkerGuard> {
    let _ = FORMAT.set(format);
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    // Our own crate at the chosen level; tract and polars only when asked,
    // their info lines mean nothing to someone running a job.
    let default = format!("warn,tract_onnx=error,tract_hir=error,batchscore={level}");
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&default));
    let (file_layer, guard) = match file {
        Some(path) => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let name = path
                .file_name()
                .map_or_else(|| "batchscore.log".into(), |n| n.to_string_lossy().into_owned());
            let _ = std::fs::create_dir_all(dir);
            let appender = tracing_appender::rolling::daily(dir, name);
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_target(false)
                .with_filter(filter());
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    let registry = tracing_subscriber::registry().with(file_layer);
    let _ = match format {
        LogFormat::Human => registry.with(stderr.with_filter(filter())).try_init(),
        LogFormat::Json => registry.with(stderr.json().flatten_event(true).with_filter(filter())).try_init(),
    };
    guard
}
