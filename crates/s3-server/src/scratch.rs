//! The server's temporary directory: a fresh one under the system's temp
//! directory per server, removed when the server goes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{io_error, ServerError};

/// Servers started by this process so far: with the process id, a name no
/// other live server has.
static SERVERS_STARTED: AtomicU64 = AtomicU64::new(0);

/// Directories tried before giving up (names left behind by a crashed
/// process with the same id are skipped).
const NAME_TRIES_MAX: u32 = 100;

pub(crate) struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub(crate) fn create() -> Result<ScratchDir, ServerError> {
        let base = std::env::temp_dir();
        let mut last_error = None;
        for _ in 0..NAME_TRIES_MAX {
            let number = SERVERS_STARTED.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("retrylab-s3-server-{}-{number}", std::process::id()));
            // `create_dir`, not `create_dir_all`: it fails if the name is taken.
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(ScratchDir { path }),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => last_error = Some(error),
                Err(error) => return Err(io_error(format!("create {path:?}"), error)),
            }
        }
        let error = last_error.unwrap_or_else(|| std::io::ErrorKind::AlreadyExists.into());
        Err(io_error(format!("create a directory under {base:?}"), error))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
