//! The keys that may be generated: the admin key, the JWT key and the sealing key, when they
//! are not configured. Each is generated once and kept under `<DATA_DIR>/secrets/` (mode
//! 0600), so restarts keep sessions and sealed secrets valid; each process holds only the keys
//! of its role ([`Generated`]), so the bot and the workers never hold the admin key.

use std::path::Path;

use store::secret::Secret;

use super::error::ConfigError;
use super::security::SecurityConfig;

/// The keys a process may have generated for it when they are not configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generated {
    /// `SECRET_KEY`: the API (admin authentication).
    AdminKey,
    /// `JWT_SECRET`: the API (access tokens).
    JwtSecret,
    /// `SEALING_KEY`: the API, the workers and the bot (sealed secrets).
    SealingKey,
}

impl Generated {
    /// Every key: what the API (and `concierge all`) holds.
    pub const ALL: &[Generated] = &[
        Generated::AdminKey,
        Generated::JwtSecret,
        Generated::SealingKey,
    ];
}

/// Fills the keys in `needs` that are unset with values generated once and kept under
/// `<DATA_DIR>/secrets/` (mode 0600), so restarts keep sessions and keys valid. The keys
/// not needed are emptied: nothing of this process can use them.
pub(super) fn fill_generated_secrets(
    security: &mut SecurityConfig,
    data_dir: &Path,
    needs: &[Generated],
) -> Result<(), ConfigError> {
    let dir = data_dir.join("secrets");
    for (which, name, slot) in [
        (Generated::AdminKey, "secret_key", &mut security.secret_key),
        (Generated::JwtSecret, "jwt_secret", &mut security.jwt_secret),
        (
            Generated::SealingKey,
            "sealing_key",
            &mut security.sealing_key,
        ),
    ] {
        if !needs.contains(&which) {
            *slot = Secret::new(String::new());
            continue;
        }
        if slot.expose().is_empty() {
            *slot =
                Secret::new(
                    load_or_generate_secret(&dir.join(name)).map_err(|e| ConfigError {
                        setting: format!("{} (security.{name})", name.to_uppercase()),
                        problem: format!(
                            "not set, and no generated one could be kept in {}: {e}",
                            dir.display()
                        ),
                    })?,
                );
        }
    }
    Ok(())
}

/// The key kept at `path`; generated and written there first (mode 0600) when it is missing or
/// empty.
fn load_or_generate_secret(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let value = store::secret::generate(32);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            std::io::Write::write_all(&mut file, value.as_bytes())?;
            Ok(value)
        }
        // Another process on this machine generated it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(path)?.trim().to_owned())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_kept_between_starts() {
        let dir =
            std::env::temp_dir().join(format!("concierge-config-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("secrets").join("jwt_secret");
        let first = load_or_generate_secret(&path).expect("generated");
        let second = load_or_generate_secret(&path).expect("read back");
        assert_eq!(first, second);
        assert!(first.len() >= 43);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
