//! Whether a node will be able to write the files it writes, asked before
//! it starts (`--check-config`): a file it creates on first start needs a
//! directory that exists and takes a new file; a file it appends to must
//! take writes. Each answer names the path and what to do.

use std::io::ErrorKind;
use std::path::Path;

/// Whether a file can be created at `path`: its directory exists and takes
/// a new file (tried with a file of its own, removed at once).
pub fn creatable(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let probe = dir.join(format!(".trama-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Err(format!(
            "{} cannot be created: directory {} does not exist; create it for the node's user \
             (mode 0700), as the package's units do for /var/lib/trama/<node>",
            path.display(),
            dir.display()
        )),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => Err(format!(
            "{} cannot be created: directory {} does not take new files from this user; \
             give the node's user that directory, or point the key at its state directory",
            path.display(),
            dir.display()
        )),
        Err(e) => Err(format!(
            "{} cannot be created: directory {}: {e}",
            path.display(),
            dir.display()
        )),
    }
}

/// Whether the file at `path` takes writes (or, missing, can be created).
pub fn appendable(path: &Path) -> Result<(), String> {
    if !path.exists() {
        return creatable(path);
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map(drop)
        .map_err(|e| format!("{}: cannot be written: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let inside = dir.path().join("absent").join("audit.db");
        let problem = creatable(&inside).unwrap_err();
        assert!(problem.contains("does not exist; create it"), "{problem}");
        assert!(creatable(&dir.path().join("audit.db")).is_ok());
        assert!(appendable(&dir.path().join("new.jsonl")).is_ok());
    }
}
