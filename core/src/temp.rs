//! Private temporary folders: where a decrypted database, a chat index being built or
//! restored, or media being decoded live for a moment, readable by this user only.

use std::path::Path;

use crate::error::{Error, Result};

/// A private temporary folder (0700) under `work_dir` or the system's.
pub(crate) fn private_temp_dir(work_dir: Option<&Path>) -> Result<tempfile::TempDir> {
    let mut b = tempfile::Builder::new();
    b.prefix("chatvault-");
    // tempfile creates folders with the default mode (0755 under a 022 umask): say 0700.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o700));
    }
    let dir = match work_dir {
        Some(d) => b.tempdir_in(d),
        None => b.tempdir(),
    };
    dir.map_err(|e| Error::io("create", work_dir.unwrap_or(&std::env::temp_dir()), e))
}
