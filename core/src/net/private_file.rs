//! Files only this user may read (identities, the device registry): written to a temp file
//! with mode 0600, synced, renamed over the old one, directory synced.

use std::io::Write;
use std::path::Path;

use super::error::LanError;

/// Writes `data` to `path` atomically with owner-only permissions, making the folder
/// (owner-only as well) when missing.
pub fn write(path: &Path, data: &[u8]) -> Result<(), LanError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.as_os_str().is_empty() && !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| LanError::io(dir, e))?;
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600));
    let in_dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut tmp = builder
        .tempfile_in(in_dir)
        .map_err(|e| LanError::io(dir, e))?;
    tmp.write_all(data).map_err(|e| LanError::io(path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| LanError::io(path, e))?;
    tmp.persist(path).map_err(|e| LanError::io(path, e.error))?;
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
