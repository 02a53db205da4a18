//! Exit codes, and the one typed error that carries them.
//!
//! Errors are `anyhow::Error` everywhere; only where the exit code depends on
//! what went wrong do we tag the error with a [`Kind`]. `main` walks the
//! chain to find the tag, so context added further up never hides it.

use std::fmt;

/// What went wrong, as a scheduler needs to know it. The numbers follow
/// sysexits.h, which cron wrappers and monitoring already understand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Bad command line (clap reports these itself with the same code).
    Usage,
    /// Bad values in the input: a missing column, a wrong type, a null, an unparsable cell.
    Data,
    /// The input for the date is not there.
    NoInput,
    /// The model is missing, not ONNX, uses an unsupported operator, or does not fit the mapping.
    Model,
    /// A bug in batchscore: an invariant did not hold.
    Internal,
    /// The output cannot be created (directory missing and not creatable, not writable).
    CantCreate,
    /// Reading or writing failed part-way (disk full, truncated file, I/O error).
    Io,
    /// Another run holds the lock for this job and date; try again later.
    Locked,
    /// The job file is invalid.
    Config,
    /// Stopped by SIGINT / Ctrl-C.
    Interrupted,
    /// Stopped by SIGTERM (or a console close on Windows).
    Terminated,
}

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Usage => 64,
            Kind::Data => 65,
            Kind::NoInput => 66,
            Kind::Model => 70,
            Kind::Internal => 71,
            Kind::CantCreate => 73,
            Kind::Io => 74,
            Kind::Locked => 75,
            Kind::Config => 78,
            Kind::Interrupted => 130,
            Kind::Terminated => 143,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Usage => "usage error",
            Kind::Data => "data error",
            Kind::NoInput => "input missing",
            Kind::Model => "model error",
            Kind::Internal => "internal error",
            Kind::CantCreate => "cannot create output",
            Kind::Io => "I/O error",
            Kind::Locked => "locked",
            Kind::Config => "config error",
            Kind::Interrupted => "interrupted",
            Kind::Terminated => "terminated",
        }
    }
}

/// An error message tagged with its [`Kind`], optionally wrapping a cause.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    message: String,
    source: Option<anyhow::Error>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e.as_ref() as _)
    }
}

/// A new tagged error with no cause.
pub fn failure(kind: Kind, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure { kind, message: message.into(), source: None })
}

/// The kind of an error: the innermost tag wins, because it was set closest
/// to where the problem was understood. Untagged errors are internal.
pub fn kind_of(err: &anyhow::Error) -> Kind {
    err.chain().filter_map(|e| e.downcast_ref::<Failure>()).last().map(|f| f.kind).unwrap_or(Kind::Internal)
}

pub trait ResultExt<T> {
    /// Like `with_context`, and tags the error with `kind` unless a more
    /// specific tag is already inside it.
    fn with_kind<F, S>(self, kind: Kind, message: F) -> anyhow::Result<T>
    where
        F: FnOnce() -> S,
        S: Into<String>;
}

impl<T, E> ResultExt<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn with_kind<F, S>(self, kind: Kind, message: F) -> anyhow::Result<T>
    where
        F: FnOnce() -> S,
        S: Into<String>,
    {
        self.map_err(|e| {
            anyhow::Error::new(Failure { kind, message: message().into(), source: Some(e.into()) })
        })
    }
}

/// The message of the last panic, kept by the hook `main` installs so the
/// one error line can say what went wrong.
pub static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// The text a panic carried, when it carried any.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown failure".into())
}

/// Runs `f`, turning a panic inside it into a tagged error. Used around
/// third-party readers: polars can panic on a corrupt file's metadata, and
/// that is bad input, not a crash.
pub fn catch_panic<T>(
    kind: Kind,
    what: impl FnOnce() -> String,
    f: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = panic_message(&*payload);
            Err(failure(
                kind,
                format!("{}: the reader failed ({msg}); is the file corrupt or truncated?", what()),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn innermost_tag_decides_the_exit_code() {
        let inner: anyhow::Result<()> = Err(failure(Kind::NoInput, "no file"));
        let err = inner.with_kind(Kind::Io, || "reading").context("running job").unwrap_err();
        assert_eq!(kind_of(&err), Kind::NoInput);
        assert_eq!(format!("{err:#}"), "running job: reading: no file");
    }

    #[test]
    fn untagged_errors_are_internal() {
        let err = anyhow::anyhow!("boom");
        assert_eq!(kind_of(&err), Kind::Internal);
        assert_eq!(kind_of(&err).exit_code(), 71);
    }
}
