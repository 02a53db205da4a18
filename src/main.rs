//! batchscore: score a day's data through an ONNX model, on a schedule.
//! `main` runs the command and maps its error to the exit code, in one place.

use std::process::ExitCode;

/// mimalloc instead of the system allocator: chunks of a few megabytes
/// allocated and freed on several threads made glibc's arenas keep memory,
/// so the peak grew with the number of chunks; mimalloc returns it (and is
/// what polars recommends).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use batchscore::error::{Kind, kind_of};
use batchscore::{app, cli, logging};

fn main() -> ExitCode {
    // A panic is a bug (or a library choking on corrupt input, which the
    // readers turn into a data error): either way the scheduler gets one
    // line and a documented exit code, not a stack of frames.
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string();
        tracing::debug!("panic: {msg}");
        if let Ok(mut last) = batchscore::error::LAST_PANIC.lock() {
            *last = Some(msg);
        }
    }));
    let outcome = std::panic::catch_unwind(app::run);
    let code = match outcome {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => {
            let kind = kind_of(&err);
            // One message, whole, in the format the operator asked for.
            match logging::format() {
                cli::LogFormat::Json => {
                    tracing::error!(kind = kind.label(), exit_code = kind.exit_code(), "{err:#}")
                }
                cli::LogFormat::Human => {
                    eprintln!("error: {err:#}\n({}, exit code {})", kind.label(), kind.exit_code())
                }
            }
            kind.exit_code()
        }
        Err(_) => {
            let msg = batchscore::error::LAST_PANIC.lock().ok().and_then(|m| m.clone()).unwrap_or_default();
            eprintln!(
                "error: internal error, please report it: {msg}\n({}, exit code {})",
                Kind::Internal.label(),
                Kind::Internal.exit_code()
            );
            Kind::Internal.exit_code()
        }
    };
    ExitCode::from(code)
}
