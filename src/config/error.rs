//! The one error of the configuration: a setting that is missing or invalid, shown as one line
//! that names it (the environment variable, and the YAML key where there is one), so an
//! operator knows what to fix from the first line the process prints. Its own file because
//! every reader of a setting returns it: the sections, the layering and the secret keys.

use std::fmt;

/// A setting that is missing or invalid. Displays as one line naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable, with the YAML key in parentheses where there is one.
    pub setting: String,
    /// What is wrong with it, never repeating a secret value.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid setting {}: {}", self.setting, self.problem)
    }
}

impl std::error::Error for ConfigError {}

pub(super) fn invalid(setting: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        problem: problem.into(),
    }
}
