//! The source tree stays in small files: a file that grows past [`MAX_LINES`] either splits
//! along its seams or says at its top why it is one thing (a `//! Long:` line among its first
//! lines). Tests, generated files and fixtures are not counted.

use std::path::{Path, PathBuf};

/// Lines a source file may have before it must give a reason.
const MAX_LINES: usize = 500;
/// The reason must stand among this many first lines.
const REASON_WITHIN: usize = 15;
const REASON: &str = "//! Long:";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under each crate's `src/` (the workspace's own code, not its tests).
fn sources() -> Vec<PathBuf> {
    let root = root();
    let mut crates = vec![root.join("src")];
    for entry in std::fs::read_dir(&root).expect("read the workspace root") {
        let dir = entry.expect("list the workspace root").path();
        if dir.join("Cargo.toml").is_file() && dir.join("src").is_dir() {
            crates.push(dir.join("src"));
        }
    }
    let mut files = Vec::new();
    for dir in crates {
        collect(&dir, &mut files);
    }
    files.sort();
    files
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("list a source directory").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn no_source_file_is_long_without_a_reason_at_its_top() {
    let files = sources();
    // The walk must see the tree, or this test proves nothing.
    assert!(
        files.len() > 100,
        "found only {} source files under {}",
        files.len(),
        root().display()
    );
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let lines = text.lines().count();
        let explained = text
            .lines()
            .take(REASON_WITHIN)
            .any(|line| line.starts_with(REASON));
        if lines > MAX_LINES && !explained {
            let name = file.strip_prefix(root()).unwrap_or(file);
            long.push(format!("{} ({lines} lines)", name.display()));
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines with no `{REASON} …` line among the first {REASON_WITHIN}: \
         split along its seams, or say why it is one thing:\n  {}",
        long.join("\n  ")
    );
}
