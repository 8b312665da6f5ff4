//! How one setting is read: the environment (the process's own over `.env`) first, then the
//! YAML file's value, then the default. An empty value counts as unset at every layer. The
//! readers here are the only place that layering is written; each section's resolver says,
//! setting by setting, which variable and which YAML key it reads and what it accepts, and
//! every error names the setting as `ENV (yaml.key)` so the operator finds it in both places.

use std::collections::HashMap;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

use url::Url;

use super::error::{ConfigError, invalid};

/// The value of `name` in `env`, trimmed; `None` when unset or blank.
pub(super) fn non_empty<'a>(env: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// An `http://` or `https://` URL with a host; `setting` names it in the error.
pub(super) fn http_url(setting: &str, value: &str) -> Result<Url, ConfigError> {
    match Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(u),
        // A value with a user part may hold a password: not repeated.
        _ if value.contains('@') => Err(invalid(setting, "expected an http(s) URL")),
        _ => Err(invalid(
            setting,
            format!("expected an http(s) URL, got {value:?}"),
        )),
    }
}

/// Reads one setting: the environment first, then the YAML value.
pub(super) struct Resolver<'a> {
    /// The process environment over `.env`: every variable, so that families of names
    /// (`WORKER_CONCURRENCY_<QUEUE>`) can be found too.
    pub(super) env: &'a HashMap<String, String>,
}

impl Resolver<'_> {
    /// An empty variable counts as unset (a blank line in `.env` must not override the file).
    pub(super) fn string(&self, env: &str, file: Option<String>) -> Option<String> {
        non_empty(self.env, env)
            .map(str::to_owned)
            .or(file.filter(|v| !v.trim().is_empty()))
    }

    /// [`Resolver::string`], or `default` when neither layer sets it.
    pub(super) fn string_or(&self, env: &str, file: Option<String>, default: &str) -> String {
        self.string(env, file).unwrap_or_else(|| default.into())
    }

    /// A comma-separated list from the environment (blank items dropped), else the YAML list.
    pub(super) fn list(&self, env: &str, file: Option<Vec<String>>) -> Option<Vec<String>> {
        match self.string(env, None) {
            Some(list) => Some(
                list.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            None => file,
        }
    }

    /// An optional http(s) URL; `key` is its YAML key.
    pub(super) fn url(
        &self,
        env: &str,
        key: &str,
        file: Option<String>,
    ) -> Result<Option<Url>, ConfigError> {
        self.string(env, file)
            .map(|u| http_url(&format!("{env} ({key})"), &u))
            .transpose()
    }

    /// An http(s) URL with a default; `key` is its YAML key.
    pub(super) fn url_or(
        &self,
        env: &str,
        key: &str,
        file: Option<String>,
        default: &str,
    ) -> Result<Url, ConfigError> {
        http_url(
            &format!("{env} ({key})"),
            &self.string_or(env, file, default),
        )
    }

    pub(super) fn parse<T: FromStr>(
        &self,
        env: &str,
        key: &str,
        file: Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        match non_empty(self.env, env) {
            Some(raw) => raw.parse::<T>().map(Some).map_err(|_| {
                invalid(
                    &format!("{env} ({key})"),
                    format!("expected a non-negative whole number, got {raw:?}"),
                )
            }),
            None => Ok(file),
        }
    }

    /// A count that must be at least 1 (0 would stop what it counts), `default` when unset.
    pub(super) fn at_least_one<T: FromStr + PartialOrd + From<u8>>(
        &self,
        env: &str,
        key: &str,
        file: Option<T>,
        default: T,
    ) -> Result<T, ConfigError> {
        let n = self.parse(env, key, file)?.unwrap_or(default);
        if n < T::from(1) {
            return Err(invalid(&format!("{env} ({key})"), "must be at least 1"));
        }
        Ok(n)
    }

    /// A number within `range`, `default` when unset.
    pub(super) fn within<T: FromStr + PartialOrd + Display>(
        &self,
        env: &str,
        key: &str,
        file: Option<T>,
        default: T,
        range: RangeInclusive<T>,
    ) -> Result<T, ConfigError> {
        let n = self.parse(env, key, file)?.unwrap_or(default);
        if !range.contains(&n) {
            return Err(invalid(
                &format!("{env} ({key})"),
                format!(
                    "must be between {} and {}, got {n}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(n)
    }

    pub(super) fn bool(
        &self,
        env: &str,
        key: &str,
        file: Option<bool>,
    ) -> Result<Option<bool>, ConfigError> {
        match non_empty(self.env, env)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => Ok(file),
            Some("true" | "1" | "yes" | "on") => Ok(Some(true)),
            Some("false" | "0" | "no" | "off") => Ok(Some(false)),
            Some(other) => Err(invalid(
                &format!("{env} ({key})"),
                format!("expected true or false, got {other:?}"),
            )),
        }
    }
}

/// What the sections' tests share: one section resolved from environment pairs and the
/// section's own YAML, as `Config::from_sources` would resolve it.
#[cfg(test)]
pub(super) mod testing {
    use std::collections::HashMap;

    use serde::de::DeserializeOwned;

    use super::Resolver;
    use crate::config::error::ConfigError;

    /// An environment of these pairs.
    pub(in crate::config) fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The section that `resolve` reads from `pairs` and `yaml` (the section's keys, not
    /// indented under its name; empty: none).
    pub(in crate::config) fn section<F: DeserializeOwned, T>(
        pairs: &[(&str, &str)],
        yaml: &str,
        resolve: impl FnOnce(&Resolver<'_>, F) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        let file: F = serde_yaml::from_str(if yaml.trim().is_empty() { "{}" } else { yaml })
            .expect("the test's YAML is valid");
        resolve(&Resolver { env: &env(pairs) }, file)
    }

    /// The one-line error of a section that `resolve` rejects.
    pub(in crate::config) fn error<F: DeserializeOwned, T: std::fmt::Debug>(
        pairs: &[(&str, &str)],
        resolve: impl FnOnce(&Resolver<'_>, F) -> Result<T, ConfigError>,
    ) -> String {
        section(pairs, "", resolve)
            .expect_err("should be rejected")
            .to_string()
    }
}
