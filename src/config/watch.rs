//! Hot reload: the `--config` file is watched (inotify, on a thread of its own) and a change of
//! its content triggers the same reload as SIGHUP, with the same rules (apply everything or
//! keep the current settings; see `runtime::reload`).
//!
//! The directory holding the file is watched, not the file: editors save by writing a new file
//! and renaming it over the old one, and Kubernetes swaps a symlinked directory, and either
//! would leave a watch on the old inode deaf. When the path is a symlink, the directory of its
//! target is watched too. Any event there wakes the watcher; it then lets the writes settle
//! ([`limits::CONFIG_WATCH_SETTLE`]: an editor's write, rename and chmod arrive as one change)
//! and reloads only when the file's bytes differ from the last ones it saw (or it became
//! unreadable: that reload fails, is logged, and keeps the settings in force). Unrelated files
//! in the same directory cost a read of the file, never a reload.
//!
//! The thread blocks in `read(2)` between events (no polling) and lives as long as the
//! process; `on_change` decides what a change does.

use std::{
    io,
    path::{Path, PathBuf},
    time::Instant,
};

use inotify::{Inotify, WatchMask};

use crate::limits;

/// Starts watching `path`; `on_change` runs on the watcher thread after each settled change
/// of the file's content. An error (no inotify, a directory that cannot be watched) is
/// returned at once; one later ends the watch with an error log.
pub fn spawn(path: PathBuf, on_change: impl FnMut() + Send + 'static) -> io::Result<()> {
    let mut inotify = Inotify::init()?;
    for dir in watched_dirs(&path) {
        inotify.watches().add(
            &dir,
            WatchMask::CLOSE_WRITE
                | WatchMask::MOVED_TO
                | WatchMask::MOVED_FROM
                | WatchMask::CREATE
                | WatchMask::DELETE,
        )?;
    }
    std::thread::Builder::new()
        .name("certstream-config-watch".into())
        .spawn(move || {
            if let Err(e) = watch(&mut inotify, &path, on_change) {
                tracing::error!(
                    "watching {} stopped: {e}; SIGHUP still reloads it",
                    path.display()
                );
            }
        })?;
    Ok(())
}

/// The directory of `path` and, when `path` is a symlink, the directory of its target.
fn watched_dirs(path: &Path) -> Vec<PathBuf> {
    let parent = |p: &Path| match p.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut dirs = vec![parent(path)];
    if let Ok(target) = std::fs::canonicalize(path) {
        let target_dir = parent(&target);
        let same = std::fs::canonicalize(&dirs[0]).is_ok_and(|d| d == target_dir);
        if !same {
            dirs.push(target_dir);
        }
    }
    dirs
}

fn watch(inotify: &mut Inotify, path: &Path, mut on_change: impl FnMut()) -> io::Result<()> {
    let mut buffer = [0u8; limits::CONFIG_WATCH_BUFFER_BYTES];
    let mut seen = std::fs::read(path).ok();
    loop {
        inotify.read_events_blocking(&mut buffer)?;
        settle(inotify, &mut buffer)?;
        let now = std::fs::read(path).ok();
        if now != seen {
            seen = now;
            tracing::info!("{} changed: reloading the configuration", path.display());
            on_change();
        }
    }
}

/// Waits until no event came for one settle period (at most [`limits::CONFIG_WATCH_SETTLE_MAX`]
/// in all, so a file rewritten without pause is still picked up).
fn settle(inotify: &mut Inotify, buffer: &mut [u8]) -> io::Result<()> {
    let give_up = Instant::now() + limits::CONFIG_WATCH_SETTLE_MAX;
    loop {
        std::thread::sleep(limits::CONFIG_WATCH_SETTLE);
        let mut quiet = true;
        loop {
            match inotify.read_events(buffer) {
                Ok(_) => quiet = false,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if quiet || Instant::now() >= give_up {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_watched_and_a_symlinks_target_directory_too() {
        assert_eq!(watched_dirs(Path::new("c.toml")), [PathBuf::from(".")]);
        let dir = std::env::temp_dir().join(format!("certstream-watch-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("real.toml"), "").unwrap();
        let link = a.join("link.toml");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(b.join("real.toml"), &link).unwrap();
        let dirs = watched_dirs(&link);
        assert_eq!(dirs[0], a);
        assert_eq!(dirs[1], std::fs::canonicalize(&b).unwrap());
        assert_eq!(watched_dirs(&b.join("real.toml")).len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
