//! Reading a file an operator names: a plugin component, a CEL policy, a
//! decision case.
//!
//! A path in a service's configuration can name anything the server can open,
//! and it is read on the reload thread that serves every service. So only a
//! regular file is read, and only up to a cap: `/dev/zero` would exhaust the
//! server's memory, a FIFO would block the reloader for good, and a sparse
//! multi-gigabyte file would be read in full. Each is refused with a reason.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The largest plugin component read. The largest sceptic builds are a
/// componentize-py issuer (about 19 MB: it embeds CPython) and a
/// componentize-js policy (about 13 MB: it embeds SpiderMonkey); this leaves
/// room for six times the former, and wasmtime's compile of one holds several
/// times its size, while keeping a wrong path from taking gigabytes.
pub const MAX_COMPONENT_BYTES: u64 = 128 << 20;

/// Reads `path` if it is a regular file of at most `cap` bytes.
///
/// The file is opened non-blocking, so a FIFO swapped in after the first check
/// cannot stall the caller either; for a regular file the flag changes nothing.
pub fn read_regular_file(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    read(path, cap, true, None)
}

/// [`read_regular_file`] for a component: a file that does not start with
/// `magic` is refused after its first bytes, not read whole first.
pub(crate) fn read_component(path: &Path, magic: &[u8]) -> io::Result<Vec<u8>> {
    read(path, MAX_COMPONENT_BYTES, true, Some(magic))
}

/// [`read_regular_file`] of a path whose links the caller has resolved and
/// checked: a link found there now (swapped in since) is refused, not followed.
pub(crate) fn read_resolved(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    read(path, cap, false, None)
}

fn read(path: &Path, cap: u64, follow: bool, magic: Option<&[u8]>) -> io::Result<Vec<u8>> {
    // A first check by path, so a FIFO is refused without being opened.
    let meta = if follow {
        std::fs::metadata(path)?
    } else {
        std::fs::symlink_metadata(path)?
    };
    check(&meta, cap)?;
    let mut flags = libc::O_NONBLOCK;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            // O_NOFOLLOW met a link: say what happened, not "too many levels".
            Some(libc::ELOOP) if !follow => io::Error::other(
                "it is a link that appeared after its name was checked, not a regular file",
            ),
            _ => e,
        })?;
    // And again on what was opened: the path may have changed in between.
    let size = check(&file.metadata()?, cap)?;
    if let Some(magic) = magic {
        let mut head = vec![0u8; magic.len()];
        if file.read_exact(&mut head).is_err() || head != magic {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "it does not start with the {} bytes every such file starts with",
                    magic.len()
                ),
            ));
        }
        let mut rest = read_declared(file, size.saturating_sub(magic.len() as u64))?;
        head.append(&mut rest);
        return Ok(head);
    }
    read_declared(file, size)
}

fn check(meta: &std::fs::Metadata, cap: u64) -> io::Result<u64> {
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a directory"
        } else if meta.file_type().is_symlink() {
            // Only when links are not followed: one appeared after the path
            // was resolved and checked.
            "a link that appeared after its name was checked"
        } else {
            "a device, FIFO or socket"
        };
        return Err(io::Error::other(format!(
            "it is {kind}, not a regular file"
        )));
    }
    if meta.len() > cap {
        return Err(too_large(cap));
    }
    Ok(meta.len())
}

/// Reads no more than the `size` the file declared, which [`check`] has held
/// to the cap: a file that grows while it is read, or a /proc file that
/// declares 0 and then yields megabytes, is refused after one byte more.
fn read_declared(file: File, size: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(size + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > size {
        return Err(io::Error::other(
            "it is longer than its size says (it changed while it was read, or it is \
             not an ordinary file); try again once it is written",
        ));
    }
    Ok(bytes)
}

fn too_large(cap: u64) -> io::Error {
    let size = if cap >= 1 << 20 {
        format!("{} MiB", cap >> 20)
    } else {
        format!("{} KiB", cap >> 10)
    };
    io::Error::other(format!("it is larger than {size}, the most read"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_within_the_cap_is_read() {
        let dir = std::env::temp_dir().join(format!("sceptic-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("small");
        std::fs::write(&file, b"\0asm-ish").unwrap();
        assert_eq!(read_regular_file(&file, 8).unwrap(), b"\0asm-ish");
        let err = read_regular_file(&file, 7).unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");
        let err = read_regular_file(&dir, 1 << 20).unwrap_err().to_string();
        assert!(err.contains("a directory"), "{err}");
        // Declares 0 bytes, yields many: refused after one.
        let err = read_regular_file(Path::new("/proc/self/status"), 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(err.contains("longer than its size says"), "{err}");
        let err = read_component(&file, b"\0asm\x0d").unwrap_err().to_string();
        assert!(err.contains("does not start with"), "{err}");
        let link = dir.join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_regular_file(&link, 8).unwrap(), b"\0asm-ish");
        let err = read_resolved(&link, 8).unwrap_err().to_string();
        assert!(err.contains("a link that appeared"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn devices_and_fifos_are_refused_without_reading() {
        let err = read_regular_file(Path::new("/dev/zero"), 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");

        let dir = std::env::temp_dir().join(format!("sceptic-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        // Returns at once: a blocking open of a FIFO with no writer never would.
        let err = read_regular_file(&fifo, 1 << 20).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
