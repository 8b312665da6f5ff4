//! Records the git commit the binary is built from (`/api/health/detailed` reports it).

use std::path::Path;
use std::process::Command;

fn main() {
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        // A path that does not exist would make cargo rerun this script on every build.
        if Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=CONCIERGE_GIT_COMMIT={commit}");
}
