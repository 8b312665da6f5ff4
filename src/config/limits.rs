//! The `limits` section: what each caller may cost, counted in Redis so every replica of the
//! API and the workers shares one count. Every refusal is 429 with `Retry-After`. It converts
//! into the API's [`api::Limits`]; the bot and the workers take single values from it.

use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;
use super::resolve::Resolver;

/// What each caller may cost (the API's and the workers' limits, shared across replicas in
/// Redis). Every refusal is 429 with `Retry-After`. YAML section `limits`.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Requests of any kind per client address per minute. `REQUESTS_PER_IP_PER_MINUTE`,
    /// `limits.requests_per_ip_per_minute`; default 1200.
    pub requests_per_ip_per_minute: u32,
    /// Onboardings per client address per hour. `ONBOARDINGS_PER_IP_PER_HOUR`,
    /// `limits.onboardings_per_ip_per_hour`; default 20.
    pub onboardings_per_ip_per_hour: u32,
    /// Onboardings of one email from one client address per hour.
    /// `ONBOARDINGS_PER_EMAIL_PER_HOUR`, `limits.onboardings_per_email_per_hour`; default 5.
    pub onboardings_per_email_per_hour: u32,
    /// Onboardings of one email from all addresses per hour (high: reaching it locks the
    /// owner out of onboarding too, so only many addresses together can).
    /// `ONBOARDINGS_PER_EMAIL_TOTAL_PER_HOUR`, `limits.onboardings_per_email_total_per_hour`;
    /// default 50.
    pub onboardings_per_email_total_per_hour: u32,
    /// Mails that anyone can cause (verification codes, link notices) per recipient mailbox
    /// per hour (`+tags` and Gmail's dots do not make another mailbox).
    /// `MAILS_PER_ADDRESS_PER_HOUR`, `limits.mails_per_address_per_hour`; default 3.
    pub mails_per_address_per_hour: u32,
    /// The same mails in all, per hour, whatever the recipients.
    /// `ANONYMOUS_MAILS_PER_HOUR`, `limits.anonymous_mails_per_hour`; default 1000.
    pub anonymous_mails_per_hour: u32,
    /// Sign-in attempts (Google login, the Discord callback, starting a Google code flow) per
    /// client address per window. `SIGN_INS_PER_IP`, `limits.sign_ins_per_ip`; default 60.
    pub sign_ins_per_ip: u32,
    /// Attempts at invitation and verification tokens and `/login` codes per client address
    /// per window. `SECRET_ATTEMPTS_PER_IP`, `limits.secret_attempts_per_ip`; default 60.
    pub secret_attempts_per_ip: u32,
    /// The same per Discord account (API and bot). `SECRET_ATTEMPTS_PER_DISCORD_ID`,
    /// `limits.secret_attempts_per_discord_id`; default 10.
    pub secret_attempts_per_discord_id: u32,
    /// Wrong tokens for one email from one source (an address, a Discord account) per window;
    /// then that source is locked out of that email until the window ends. Wrong tokens
    /// never kill the right one. `FAILURES_PER_EMAIL_AND_SOURCE`,
    /// `limits.failures_per_email_and_source`; default 5.
    pub failures_per_email_and_source: u32,
    /// Failed admin authentications (`x-api-key`, API tokens, the board's password) per
    /// client address per window; then that address is refused until the window ends.
    /// `ADMIN_FAILURES_PER_IP`, `limits.admin_failures_per_ip`; default 20.
    pub admin_failures_per_ip: u32,
    /// The window of the per-window limits. `RATE_LIMIT_WINDOW_SECONDS`,
    /// `limits.window_seconds`; default 900.
    pub window: Duration,
    /// Requests of one API process that may wait for a job at once (OAuth exchanges); beyond
    /// it they answer at once with the job id to poll. All waiters share one Redis
    /// connection. `MAX_JOB_WAITERS`, `limits.max_job_waiters`; default 10000.
    pub max_job_waiters: usize,
}

/// The YAML section `limits`, every key optional; each key is described on the
/// [`LimitsConfig`] field it sets.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileLimits {
    requests_per_ip_per_minute: Option<u32>,
    onboardings_per_ip_per_hour: Option<u32>,
    onboardings_per_email_per_hour: Option<u32>,
    onboardings_per_email_total_per_hour: Option<u32>,
    mails_per_address_per_hour: Option<u32>,
    anonymous_mails_per_hour: Option<u32>,
    sign_ins_per_ip: Option<u32>,
    secret_attempts_per_ip: Option<u32>,
    secret_attempts_per_discord_id: Option<u32>,
    failures_per_email_and_source: Option<u32>,
    admin_failures_per_ip: Option<u32>,
    window_seconds: Option<u64>,
    max_job_waiters: Option<usize>,
}

pub(super) fn resolve(r: &Resolver<'_>, f: FileLimits) -> Result<LimitsConfig, ConfigError> {
    // Every limit is a count of at least 1, named `limits.<key>` in the file.
    let count = |env: &str, key: &str, value: Option<u32>, default: u32| {
        r.at_least_one(env, &format!("limits.{key}"), value, default)
    };
    let window = r.within(
        "RATE_LIMIT_WINDOW_SECONDS",
        "limits.window_seconds",
        f.window_seconds,
        900,
        1..=86_400,
    )?;
    let max_job_waiters = r.at_least_one(
        "MAX_JOB_WAITERS",
        "limits.max_job_waiters",
        f.max_job_waiters,
        jobs::redis::DEFAULT_MAX_WAITERS,
    )?;
    Ok(LimitsConfig {
        requests_per_ip_per_minute: count(
            "REQUESTS_PER_IP_PER_MINUTE",
            "requests_per_ip_per_minute",
            f.requests_per_ip_per_minute,
            1200,
        )?,
        onboardings_per_ip_per_hour: count(
            "ONBOARDINGS_PER_IP_PER_HOUR",
            "onboardings_per_ip_per_hour",
            f.onboardings_per_ip_per_hour,
            20,
        )?,
        onboardings_per_email_per_hour: count(
            "ONBOARDINGS_PER_EMAIL_PER_HOUR",
            "onboardings_per_email_per_hour",
            f.onboardings_per_email_per_hour,
            5,
        )?,
        onboardings_per_email_total_per_hour: count(
            "ONBOARDINGS_PER_EMAIL_TOTAL_PER_HOUR",
            "onboardings_per_email_total_per_hour",
            f.onboardings_per_email_total_per_hour,
            50,
        )?,
        mails_per_address_per_hour: count(
            "MAILS_PER_ADDRESS_PER_HOUR",
            "mails_per_address_per_hour",
            f.mails_per_address_per_hour,
            3,
        )?,
        anonymous_mails_per_hour: count(
            "ANONYMOUS_MAILS_PER_HOUR",
            "anonymous_mails_per_hour",
            f.anonymous_mails_per_hour,
            1000,
        )?,
        sign_ins_per_ip: count("SIGN_INS_PER_IP", "sign_ins_per_ip", f.sign_ins_per_ip, 60)?,
        secret_attempts_per_ip: count(
            "SECRET_ATTEMPTS_PER_IP",
            "secret_attempts_per_ip",
            f.secret_attempts_per_ip,
            60,
        )?,
        secret_attempts_per_discord_id: count(
            "SECRET_ATTEMPTS_PER_DISCORD_ID",
            "secret_attempts_per_discord_id",
            f.secret_attempts_per_discord_id,
            10,
        )?,
        failures_per_email_and_source: count(
            "FAILURES_PER_EMAIL_AND_SOURCE",
            "failures_per_email_and_source",
            f.failures_per_email_and_source,
            5,
        )?,
        admin_failures_per_ip: count(
            "ADMIN_FAILURES_PER_IP",
            "admin_failures_per_ip",
            f.admin_failures_per_ip,
            20,
        )?,
        window: Duration::from_secs(window),
        max_job_waiters,
    })
}

impl LimitsConfig {
    /// The API's limits.
    pub fn api(&self) -> api::Limits {
        api::Limits {
            requests_per_ip: self.requests_per_ip_per_minute,
            onboardings_per_ip: self.onboardings_per_ip_per_hour,
            onboardings_per_email: self.onboardings_per_email_per_hour,
            onboardings_per_email_total: self.onboardings_per_email_total_per_hour,
            mails_per_address: self.mails_per_address_per_hour,
            anonymous_mails_per_hour: self.anonymous_mails_per_hour,
            sign_ins_per_ip: self.sign_ins_per_ip,
            secret_attempts_per_ip: self.secret_attempts_per_ip,
            secret_attempts_per_discord_id: self.secret_attempts_per_discord_id,
            failures_per_email_and_source: self.failures_per_email_and_source,
            admin_failures_per_ip: self.admin_failures_per_ip,
            window: self.window,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve::testing::{error, section};

    #[test]
    fn limits_are_read_and_checked() {
        let c = section(
            &[
                ("ONBOARDINGS_PER_IP_PER_HOUR", "7"),
                ("RATE_LIMIT_WINDOW_SECONDS", "60"),
                ("MAX_JOB_WAITERS", "50"),
            ],
            "admin_failures_per_ip: 4\nonboardings_per_ip_per_hour: 99\n",
            resolve,
        )
        .expect("valid");
        let api = c.api();
        assert_eq!(
            api.onboardings_per_ip, 7,
            "the environment wins over the file"
        );
        assert_eq!(api.admin_failures_per_ip, 4);
        assert_eq!(api.window, Duration::from_secs(60));
        assert_eq!(c.max_job_waiters, 50);
        for (pairs, setting) in [
            (&[("SIGN_INS_PER_IP", "0")][..], "SIGN_INS_PER_IP"),
            (&[("MAX_JOB_WAITERS", "none")][..], "MAX_JOB_WAITERS"),
            (
                &[("RATE_LIMIT_WINDOW_SECONDS", "0")][..],
                "RATE_LIMIT_WINDOW_SECONDS",
            ),
        ] {
            let e = error(pairs, resolve);
            assert!(e.starts_with(&format!("invalid setting {setting}")), "{e}");
        }
    }
}
