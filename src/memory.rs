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
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(anon) = status_field("RssAnon:") {
                            max_anon.fetch_max(anon, Ordering::Relaxed);
                        }
                        std::thread::sleep(std::time::Duration::from_millis(20));
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

/// A "kB" field of /proc/self/status, in bytes.
fn status_field(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}
