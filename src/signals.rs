//! SIGINT / SIGTERM: stop between chunks, clean up, exit 130 / 143.
//!
//! The handlers only set a flag; the run loop checks it between chunks and
//! unwinds normally, so temporary files are removed by their own drop and
//! no output is committed. A second Ctrl-C exits at once.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Kind, failure};

struct Flags {
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

pub fn install() -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flags = FLAGS.get_or_init(|| Flags {
        int: Arc::new(AtomicBool::new(false)),
        term: Arc::new(AtomicBool::new(false)),
    });
    // The conditional shutdowns go first: they fire only if the flag is already set.
    signal_hook::flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&flags.int))?;
    signal_hook::flag::register(SIGINT, Arc::clone(&flags.int))?;
    signal_hook::flag::register_conditional_shutdown(SIGTERM, 143, Arc::clone(&flags.term))?;
    signal_hook::flag::register(SIGTERM, Arc::clone(&flags.term))?;
    Ok(())
}

/// An error if a stop was asked for since the run began.
pub fn check() -> anyhow::Result<()> {
    let Some(flags) = FLAGS.get() else { return Ok(()) };
    if flags.term.load(Ordering::Relaxed) {
        return Err(failure(
            Kind::Terminated,
            "terminated (SIGTERM): stopped between chunks, nothing committed",
        ));
    }
    if flags.int.load(Ordering::Relaxed) {
        return Err(failure(
            Kind::Interrupted,
            "interrupted (SIGINT): stopped between chunks, nothing committed",
        ));
    }
    Ok(())
}
