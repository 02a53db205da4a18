//! batchscore: score a day's data through an ONNX model, on a schedule.
//! `main` sets up the process (allocator, memory behaviour) and runs the
//! command; the command line, the error message and the exit code are
//! `batchscore::main`'s.

use std::process::ExitCode;

/// mimalloc instead of the system allocator: chunks of a few megabytes
/// allocated and freed on several threads made glibc's arenas keep memory,
/// so the peak grew with the number of chunks; mimalloc returns it (and is
/// what polars recommends).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc 3 keeps freed memory for a second before returning it to the
/// system (`purge_delay`, 1000 ms). A run frees a chunk's worth of buffers
/// every few tens of milliseconds, so the held memory added up, more on
/// longer files: 2M rows peaked at 204 MB RSS, 20M rows at 229 MB (+12%).
/// With 20 ms: 188 and 198 MB (+5%). 0 ms was lower still (163 and 169 MB)
/// but every free became a system call: the logistic-regression run went
/// from 1.1 s to 1.7 s. An operator's own MIMALLOC_PURGE_DELAY still wins.
#[allow(unsafe_code)]
fn return_freed_memory_sooner() {
    // The option's index in mimalloc 3's `mi_option_t` (include/mimalloc.h);
    // libmimalloc-sys does not name it. Set only if it reads as mimalloc 3's
    // documented default, so a renumbered enum changes nothing.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: plain C calls on an integer option; mi_option_set is not
    // thread-safe, and this runs first in main, before any thread starts.
    unsafe {
        if libmimalloc_sys::mi_option_get(PURGE_DELAY) == 1000 {
            libmimalloc_sys::mi_option_set(PURGE_DELAY, 20);
        }
    }
}

/// No transparent huge pages for this process (Linux; elsewhere there is
/// nothing to turn off). With them, a partly used 2 MiB page stays resident
/// whole, so peak RSS depended on how huge pages happened to fill: the
/// 2M-row benchmark runs peaked at 193-256 MB RSS with them and 151-212 MB
/// without, and the 20M-row memory test grew 7-14% over the 2M-row one
/// with them, 5-7% without; the run times did not move (measured
/// alternating). mimalloc's own MIMALLOC_ALLOW_THP=0 does this, but only
/// when set before the process starts, so batchscore makes the same call;
/// an operator who sets MIMALLOC_ALLOW_THP keeps their choice.
#[allow(unsafe_code)]
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: prctl with PR_SET_THP_DISABLE takes integer arguments and
        // touches no memory of ours; a failure (old kernel) changes nothing.
        // (It is variadic and the kernel reads unsigned longs: pass those.)
        let (on, unused): (libc::c_ulong, libc::c_ulong) = (1, 0);
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, on, unused, unused, unused);
        }
    }
}

fn main() -> ExitCode {
    return_freed_memory_sooner();
    no_transparent_huge_pages();
    // The kernel's developer knob (README "Development"), read here once.
    if let Err(err) = batchscore::TreePath::from_env().map(batchscore::set_tree_path) {
        eprintln!("warning: {err:#}; tree models take the timed choice");
    }
    ExitCode::from(batchscore::main())
}
