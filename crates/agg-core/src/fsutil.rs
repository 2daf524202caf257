//! Writing output files safely: the one `write_atomic` every sink and the
//! digest use.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `bytes` to `path` so that readers see the old content or the new,
/// never a part of it, even after a crash or a power cut, and so that
/// nobody else who can write to the folder can redirect the write.
///
/// - The new content goes to a temporary file in the same folder, with a
///   random name, created with `O_CREAT|O_EXCL|O_NOFOLLOW`: a file or a
///   symlink planted at that name (to make agg overwrite some other file
///   its user can write) makes the creation fail instead of being followed,
///   and the next random name is tried.
/// - The file is flushed to disk (`fsync`) before it is renamed over
///   `path`, so the rename never exposes an empty or partial file; the
///   folder is flushed after the rename, so the rename itself survives a
///   power cut.
/// - `rename` replaces `path` itself: a symlink planted at `path` is
///   replaced by the new file, and what it pointed to is left alone.
///
/// The file gets the usual permissions of a new file (0666 less the umask),
/// as `std::fs::write` would give it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .make_in(dir, |p| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o666)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(p)
        })?;
    tmp.as_file_mut().write_all(bytes)?;
    tmp.as_file().sync_all()?;
    // On failure the temporary file is removed (dropped with the error).
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_the_file_and_leave_no_temporary_behind() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out/page.html");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let left: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("page.html")]);
    }

    #[test]
    fn a_new_file_gets_the_usual_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let ours = d.path().join("ours.html");
        let plain = d.path().join("plain.html");
        write_atomic(&ours, b"x").unwrap();
        std::fs::write(&plain, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ours), mode(&plain));
    }
}
