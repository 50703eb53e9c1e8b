//! Files and folders that hold personal data (the SQLite database, photos, backups, the data
//! folder itself) are created readable by the server's user only: 0700 folders, 0600 files,
//! whatever the umask of the shell that started the server.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of folders the server creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of files the server creates.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents as 0700; an existing `dir` is made 0700 too (its
/// parents, which may be the operator's, are left alone).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
}

/// Creates the folder `dir` (its parent must exist) as 0700.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().mode(DIR_MODE).create(dir)
}

/// Options that create files as 0600.
pub fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Creates (or truncates) `path` for writing, as 0600.
pub fn create(path: &Path) -> io::Result<File> {
    options().write(true).create(true).truncate(true).open(path)
}

/// Makes an existing file 0600.
pub fn restrict(path: &Path) -> io::Result<()> {
    fs::set_permissions(path, Permissions::from_mode(FILE_MODE))
}
