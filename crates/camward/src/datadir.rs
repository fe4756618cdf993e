//! The data directory at rest (paper §3.2: nothing secret readable by others): every file camward
//! creates is owner-only. The process umask is 077, so new files are 0600 and new directories
//! 0700 whoever creates them (SQLite, the recorder, the FTP queue, the lock file); and at start
//! the tree of an older install is tightened: group and other rights are taken away from every
//! directory and file under the data directory. Symbolic links are neither followed nor changed.

use anyhow::{Context, Result};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The mask of every camward process that writes to a data directory.
pub fn owner_only_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Deepest directory level visited (recordings are `recordings/streamN/YYYY/...`); bounds the
/// walk whatever someone put in the directory.
const MAX_DEPTH: usize = 8;
/// Most entries visited, so a start-up never stalls on a huge tree; the rest are created 0600
/// anyway and the data directory itself is 0700.
const MAX_ENTRIES: usize = 200_000;

/// Creates `dir` (0700) and takes group/other rights from it and everything under it.
/// Returns how many entries were changed.
pub fn prepare(dir: &Path) -> Result<usize> {
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let mut changed = 0;
    let mut seen = 0;
    tighten(dir, 0, &mut changed, &mut seen)
        .with_context(|| format!("cannot restrict the permissions of {}", dir.display()))?;
    if changed > 0 {
        tracing::info!(
            changed,
            dir = %dir.display(),
            "took group and other access away from files of an older install"
        );
    }
    Ok(changed)
}

fn tighten(
    path: &Path,
    depth: usize,
    changed: &mut usize,
    seen: &mut usize,
) -> std::io::Result<()> {
    *seen += 1;
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode() & 0o7777;
    let want = if meta.is_dir() {
        // The owner needs to list and enter its own directories.
        (mode & 0o700) | 0o700
    } else {
        mode & 0o700
    };
    if want != mode {
        match fs::set_permissions(path, fs::Permissions::from_mode(want)) {
            Ok(()) => *changed += 1,
            // A file of another user (copied in as root): say so, do not stop the camera.
            Err(e) if depth > 0 => {
                tracing::warn!(path = %path.display(), error = %e, "cannot restrict permissions")
            }
            Err(e) => return Err(e),
        }
    }
    if meta.is_dir() && depth < MAX_DEPTH {
        for entry in fs::read_dir(path)? {
            if *seen >= MAX_ENTRIES {
                break;
            }
            let Ok(entry) = entry else { continue };
            if let Err(e) = tighten(&entry.path(), depth + 1, changed, seen) {
                tracing::warn!(path = %entry.path().display(), error = %e, "cannot restrict permissions");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn an_old_world_readable_tree_becomes_owner_only() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        fs::create_dir_all(data.join("recordings/stream1")).unwrap();
        fs::write(data.join("camward.db"), b"x").unwrap();
        fs::write(data.join("recordings/stream1/1.mp4"), b"x").unwrap();
        let outside = d.path().join("outside");
        fs::write(&outside, b"x").unwrap();
        fs::set_permissions(&outside, fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&outside, data.join("link")).unwrap();
        for (p, m) in [
            (data.clone(), 0o755),
            (data.join("recordings"), 0o775),
            (data.join("recordings/stream1"), 0o755),
            (data.join("camward.db"), 0o644),
            (data.join("recordings/stream1/1.mp4"), 0o664),
        ] {
            fs::set_permissions(&p, fs::Permissions::from_mode(m)).unwrap();
        }
        assert_eq!(prepare(&data).unwrap(), 5);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("recordings/stream1")), 0o700);
        assert_eq!(mode(&data.join("camward.db")), 0o600);
        assert_eq!(mode(&data.join("recordings/stream1/1.mp4")), 0o600);
        // A link is not followed: what it points to outside keeps its mode.
        assert_eq!(mode(&outside), 0o644);
        assert_eq!(prepare(&data).unwrap(), 0);
    }
}
