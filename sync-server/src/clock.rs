//! Where the server reads the time it stamps on history: the system clock, or, for tests
//! that build a notebook over a simulated day, a file holding the time.
//!
//! The file clock exists so end-to-end tests can drive a real server process through
//! hours of history in seconds and then check what time travel shows at chosen moments.
//! It is a hidden `serve` flag (`--clock-file`), never for production.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// The server's source of "now" for everything it records in a notebook's history.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// A file holding an RFC 3339 time, read on every call; `None`: the system clock.
    file: Option<Arc<PathBuf>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that reads its time from `path` (RFC 3339, e.g. `2026-01-05T09:30:00Z`);
    /// while the file is missing or unreadable it falls back to the system clock.
    pub fn from_file(path: PathBuf) -> Self {
        Self { file: Some(Arc::new(path)) }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let Some(path) = &self.file else { return Utc::now() };
        match std::fs::read_to_string(path.as_ref()) {
            Ok(text) => match DateTime::parse_from_rfc3339(text.trim()) {
                Ok(at) => at.with_timezone(&Utc),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "clock file does not hold an RFC 3339 time");
                    Utc::now()
                }
            },
            Err(_) => Utc::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_clock_reads_the_file_each_time() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("now");
        let clock = Clock::from_file(path.clone());
        std::fs::write(&path, "2026-01-05T09:30:00Z\n").expect("write the clock file");
        assert_eq!(clock.now().to_rfc3339(), "2026-01-05T09:30:00+00:00");
        std::fs::write(&path, "2026-01-05T17:00:00.250+01:00").expect("write the clock file");
        assert_eq!(clock.now().to_rfc3339(), "2026-01-05T16:00:00.250+00:00");
    }

    #[test]
    fn missing_file_falls_back_to_the_system_clock() {
        let clock = Clock::from_file("/nonexistent/talkbook-clock".into());
        let before = Utc::now();
        let now = clock.now();
        assert!(now >= before && now <= Utc::now());
    }
}
