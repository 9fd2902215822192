//! Atomic file writing: temporary file in the same directory, fsync, rename.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ReportError;

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ReportError {
    let path = path.to_path_buf();
    move |source| ReportError::Io {
        action,
        path,
        source,
    }
}

/// A temporary file that is removed on drop unless it was renamed into place.
struct Temp {
    path: PathBuf,
    keep: bool,
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".to_string());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

fn write_temp(target: &Path, bytes: &[u8]) -> Result<Temp, ReportError> {
    let path = temp_path(target);
    let mut file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io_err("create", &path))?;
    let temp = Temp { path, keep: false };
    file.write_all(bytes).map_err(io_err("write", &temp.path))?;
    file.sync_all().map_err(io_err("sync", &temp.path))?;
    Ok(temp)
}

/// Writes every `(target, bytes)` pair: all temporary files first, then the renames. On failure
/// no temporary file is left behind and no target holds partial content.
pub(crate) fn write_all_atomic(dir: &Path, files: &[(&Path, &[u8])]) -> Result<(), ReportError> {
    fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    let mut temps = Vec::with_capacity(files.len());
    for (target, bytes) in files {
        temps.push((write_temp(target, bytes)?, *target));
    }
    for (temp, target) in &mut temps {
        let target: &Path = target;
        fs::rename(&temp.path, target).map_err(io_err("replace", target))?;
        temp.keep = true;
    }
    // Make the renames durable where the platform allows syncing a directory.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
