//! Peak memory, for the run record: what the bounded-memory promise is
//! checked against.
//!
//! Peak RSS alone overstates what a run holds: polars memory-maps its
//! input, and the file's pages count in RSS while they stay cached. So we
//! also sample anonymous memory (the heap), which is what chunking bounds.
//! Linux only (from /proc); elsewhere the record leaves both out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Peak {
    pub rss_bytes: u64,
    pub anon_bytes: u64,
}

pub struct Sampler {
    stop: Arc<AtomicBool>,
    max_anon: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    pub fn start() -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max_anon = Arc::new(AtomicU64::new(0));
        let thread = if cfg!(target_os = "linux") {
            let (stop, max_anon) = (stop.clone(), max_anon.clone());
            std::thread::Builder::new()
                .name("memory".into())
                .spawn(move || {
                    // Every 5 ms: a peak sampled coarsely reads low, and lower
                    // the shorter the run (a 0.5 s run had 25 samples at 20 ms),
                    // which made short runs look leaner than long ones.
                    let page = page_size();
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(anon) = anon_bytes(page) {
                            max_anon.fetch_max(anon, Ordering::Relaxed);
                        }
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                })
                .ok()
        } else {
            None
        };
        Sampler { stop, max_anon, thread }
    }

    pub fn finish(mut self) -> Option<Peak> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let rss = status_field("VmHWM:")?;
        let anon = self.max_anon.load(Ordering::Relaxed).max(status_field("RssAnon:").unwrap_or(0));
        Some(Peak { rss_bytes: rss, anon_bytes: anon })
    }
}

/// Anonymous memory now, from /proc/self/statm (resident minus shared
/// pages of `page` bytes, which is RssAnon): a few dozen bytes to read and
/// parse, where /proc/self/status is a page of text.
fn anon_bytes(page: u64) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut fields = text.split_whitespace().skip(1).map(|f| f.parse::<u64>().ok());
    let (resident, shared) = (fields.next()??, fields.next()??);
    Some(resident.saturating_sub(shared) * page)
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn page_size() -> u64 {
    // SAFETY: sysconf takes an integer and reads no memory of ours.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

#[cfg(not(target_os = "linux"))]
fn page_size() -> u64 {
    4096
}

/// A "kB" field of /proc/self/status, in bytes.
fn status_field(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// statm's resident minus shared pages is the kernel's RssAnon.
    #[test]
    fn anon_from_statm_is_rss_anon() {
        let touched = std::hint::black_box(vec![1u8; 64 << 20]);
        let (statm, status) = (anon_bytes(page_size()).unwrap_or(0), status_field("RssAnon:").unwrap_or(0));
        assert!(statm >= 64 << 20, "statm says {statm} bytes with 64 MiB touched");
        assert!(statm.abs_diff(status) < 4 << 20, "statm {statm} vs status {status}");
        drop(touched);
    }
}
