//! What the configuration reads from disk: the `.env` file (under the process environment),
//! and the YAML file, found through `--config`, `CONCIERGE_CONFIG` or `config.yml`, parsed
//! into [`FileConfig`], the mirror of every section with every key optional. Unknown keys
//! are errors: a typo must not be ignored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ai::FileAi;
use super::database::FileDatabase;
use super::discord::FileDiscord;
use super::email::FileEmail;
use super::error::ConfigError;
use super::google::FileGoogle;
use super::limits::FileLimits;
use super::redis::FileRedis;
use super::resolve::non_empty;
use super::security::FileSecurity;
use super::server::FileServer;
use super::telemetry::FileTelemetry;
use super::workers::FileWorkers;

/// Where the YAML file is looked for when neither `--config` nor `CONCIERGE_CONFIG` names one.
const DEFAULT_CONFIG_FILE: &str = "config.yml";

/// The YAML file, every key optional (a missing section is an empty one). Unknown keys are
/// errors: a typo must not be ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) database: FileDatabase,
    pub(super) redis: FileRedis,
    pub(super) security: FileSecurity,
    pub(super) server: FileServer,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) web_app_base_url: Option<String>,
    pub(super) email: FileEmail,
    pub(super) discord: FileDiscord,
    pub(super) google: FileGoogle,
    pub(super) ai: FileAi,
    pub(super) workers: FileWorkers,
    pub(super) telemetry: FileTelemetry,
    pub(super) limits: FileLimits,
}

/// The environment of this process: `.env` in the working directory, under the process
/// environment.
pub(super) fn environment() -> Result<HashMap<String, String>, ConfigError> {
    let mut env: HashMap<String, String> = HashMap::new();
    match dotenvy::from_path_iter(".env") {
        Ok(iter) => {
            for item in iter {
                let (key, value) = item.map_err(|e| ConfigError {
                    setting: ".env".into(),
                    problem: format!("cannot parse the file: {e}"),
                })?;
                env.insert(key, value);
            }
        }
        Err(e) if e.not_found() => {}
        Err(e) => {
            return Err(ConfigError {
                setting: ".env".into(),
                problem: format!("cannot read the file: {e}"),
            });
        }
    }
    // The process environment wins over `.env`.
    env.extend(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    );
    Ok(env)
}

/// The YAML file's path and text: the one named by `explicit_file` or `CONCIERGE_CONFIG`
/// (which must exist), else `config.yml` when it exists (no text when it does not).
pub(super) fn read(
    explicit_file: Option<&Path>,
    env: &HashMap<String, String>,
) -> Result<(PathBuf, Option<String>), ConfigError> {
    let (path, required) = match explicit_file {
        Some(p) => (p.to_path_buf(), true),
        None => match non_empty(env, "CONCIERGE_CONFIG") {
            Some(p) => (PathBuf::from(p), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        },
    };
    let yaml = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => None,
        Err(e) => {
            return Err(ConfigError {
                setting: format!("CONCIERGE_CONFIG ({})", path.display()),
                problem: format!("cannot read the file: {e}"),
            });
        }
    };
    Ok((path, yaml))
}

/// Parses the YAML text (`file` names it in errors); none, or a blank one, sets nothing.
pub(super) fn parse(yaml: Option<&str>, file: &Path) -> Result<FileConfig, ConfigError> {
    Ok(match yaml {
        Some(text) if !text.trim().is_empty() => {
            serde_yaml::from_str(text).map_err(|e| ConfigError {
                setting: format!("CONCIERGE_CONFIG ({})", file.display()),
                problem: e.to_string().replace('\n', " "),
            })?
        }
        _ => FileConfig::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(yaml: &str) -> String {
        parse(Some(yaml), Path::new("config.yml"))
            .expect_err("should be rejected")
            .to_string()
    }

    #[test]
    fn errors_are_one_line() {
        let e = error("server:\n  port: [1, 2]\n");
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("server.port") || e.contains("port"), "{e}");
    }

    #[test]
    fn unknown_yaml_keys_are_rejected() {
        let e = error("server:\n  prot: 8000\n");
        assert!(e.contains("unknown field `prot`"), "{e}");
    }
}
