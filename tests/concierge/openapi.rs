//! The committed OpenAPI spec is the one the code generates, and `openapi --check` says so.

use std::path::Path;

/// The committed spec is what frontends build against: it must be exactly what the code serves.
#[test]
fn committed_spec_matches_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi");
    for (file, generated) in [
        ("openapi.json", api::spec_json()),
        ("openapi.yaml", api::spec_yaml()),
    ] {
        let committed = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        assert!(
            committed.trim_end() == generated.trim_end(),
            "openapi/{file} differs from the code: run `cargo run -- openapi --write` and commit it"
        );
    }
}

#[test]
fn openapi_check_command_agrees() {
    // `concierge openapi --check` from the crate's root, against the spec in `dir` if given.
    let check = |dir: Option<&Path>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_concierge"));
        cmd.args(["openapi", "--check"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if let Some(dir) = dir {
            cmd.arg("--dir").arg(dir);
        }
        cmd.output().expect("run concierge")
    };
    let out = check(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // And it notices a difference.
    let dir = std::env::temp_dir().join(format!("concierge-spec-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("openapi.json"), "{}").expect("write");
    std::fs::write(dir.join("openapi.yaml"), api::spec_yaml()).expect("write");
    let out = check(Some(&dir));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("openapi.json") && !stderr.contains("openapi.yaml differ"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
