//! The `telemetry` section: trace export to an OpenTelemetry collector, read from the
//! variables OpenTelemetry SDKs read (`OTEL_*`), so an operator's existing setup applies.
//! Off unless a collector URL is set; [`crate::telemetry`] installs the exporter.

use serde::Deserialize;
use store::secret::Secret;
use url::Url;

use super::error::{ConfigError, invalid};
use super::resolve::{Resolver, http_url};

/// Trace export to an OpenTelemetry collector. Off unless a collector URL is set; the W3C
/// trace context travels from requests and Discord events into jobs either way.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// The collector's OTLP/HTTP traces URL (protobuf). `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
    /// (the full URL), else `OTEL_EXPORTER_OTLP_ENDPOINT` / `telemetry.otlp_endpoint` (the
    /// collector's base URL, e.g. `http://otel-collector:4318`; `/v1/traces` is appended), as
    /// OpenTelemetry SDKs read them. `None`: nothing is exported (default).
    pub otlp_traces_url: Option<Url>,
    /// Headers sent with every export, e.g. a vendor's API key. `OTEL_EXPORTER_OTLP_HEADERS`
    /// / `telemetry.otlp_headers`: `name=value,name2=value2`, values percent-encoded. Secret.
    pub otlp_headers: Vec<(String, Secret)>,
    /// `service.name` of exported spans (the command, `api`/`worker`/..., is added as
    /// `concierge.role`). `OTEL_SERVICE_NAME`, `telemetry.service_name`; default `concierge`.
    pub service_name: String,
    /// Share of new traces exported, 0.0 to 1.0. A trace that arrives with a caller's
    /// `traceparent` keeps the caller's decision. `OTEL_TRACES_SAMPLER_ARG`,
    /// `telemetry.sample_ratio`; default 1.0.
    pub sample_ratio: f64,
}

/// The YAML section `telemetry`, every key optional; each key is described on the
/// [`TelemetryConfig`] field it sets.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTelemetry {
    otlp_endpoint: Option<String>,
    otlp_headers: Option<String>,
    service_name: Option<String>,
    sample_ratio: Option<f64>,
}

pub(super) fn resolve(r: &Resolver<'_>, f: FileTelemetry) -> Result<TelemetryConfig, ConfigError> {
    let otlp_traces_url = match r.string("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None) {
        Some(url) => Some(http_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &url)?),
        None => match r.string("OTEL_EXPORTER_OTLP_ENDPOINT", f.otlp_endpoint) {
            Some(base) => {
                let setting = "OTEL_EXPORTER_OTLP_ENDPOINT (telemetry.otlp_endpoint)";
                let base = http_url(setting, &base)?;
                let joined = format!("{}/v1/traces", base.as_str().trim_end_matches('/'));
                Some(http_url(setting, &joined)?)
            }
            None => None,
        },
    };
    let otlp_headers = match r.string("OTEL_EXPORTER_OTLP_HEADERS", f.otlp_headers) {
        Some(list) => otlp_headers(&list).map_err(|problem| {
            invalid(
                "OTEL_EXPORTER_OTLP_HEADERS (telemetry.otlp_headers)",
                problem,
            )
        })?,
        None => Vec::new(),
    };
    let service_name = r.string_or("OTEL_SERVICE_NAME", f.service_name, "concierge");
    let sample_ratio = match r.string("OTEL_TRACES_SAMPLER_ARG", None) {
        Some(raw) => Some(raw.parse::<f64>().map_err(|_| {
            invalid(
                "OTEL_TRACES_SAMPLER_ARG (telemetry.sample_ratio)",
                format!("expected a number from 0.0 to 1.0, got {raw:?}"),
            )
        })?),
        None => f.sample_ratio,
    }
    .unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample_ratio) {
        return Err(invalid(
            "OTEL_TRACES_SAMPLER_ARG (telemetry.sample_ratio)",
            format!("expected a number from 0.0 to 1.0, got {sample_ratio}"),
        ));
    }
    if let Some(url) = &otlp_traces_url
        && (!url.username().is_empty() || url.password().is_some())
    {
        return Err(invalid(
            "OTEL_EXPORTER_OTLP_ENDPOINT (telemetry.otlp_endpoint)",
            "must not carry credentials; send them as OTEL_EXPORTER_OTLP_HEADERS",
        ));
    }
    Ok(TelemetryConfig {
        otlp_traces_url,
        otlp_headers,
        service_name,
        sample_ratio,
    })
}

/// `name=value,name2=value2` with percent-encoded values (the OpenTelemetry SDK format). A
/// problem names the header, never its value.
fn otlp_headers(list: &str) -> Result<Vec<(String, Secret)>, String> {
    let mut headers = Vec::new();
    for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = pair.split_once('=') else {
            return Err("expected name=value pairs separated by commas".into());
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(format!("{name:?} is not a header name"));
        }
        // Kept percent-encoded: the exporter decodes it.
        headers.push((name.to_owned(), Secret::new(value.trim())));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve::testing::{error, section};

    #[test]
    fn trace_export_is_off_unless_a_collector_is_named() {
        let c = section(&[], "", resolve).expect("defaults");
        assert!(c.otlp_traces_url.is_none());
        assert_eq!(c.sample_ratio, 1.0);

        let c = section(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "a=1, b-c=x%20y"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ],
            "",
            resolve,
        )
        .expect("valid");
        let url = c.otlp_traces_url.expect("url");
        assert_eq!(url.as_str(), "http://collector:4318/v1/traces");
        let headers: Vec<(&str, &str)> = c
            .otlp_headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.expose()))
            .collect();
        assert_eq!(headers, [("a", "1"), ("b-c", "x%20y")]);
        assert_eq!(c.sample_ratio, 0.25);

        // The signal's own URL is taken as it is.
        let c = section(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "https://otel.example/in",
                ),
            ],
            "",
            resolve,
        )
        .expect("valid");
        assert_eq!(
            c.otlp_traces_url.expect("url").as_str(),
            "https://otel.example/in"
        );

        for (pairs, starts) in [
            (
                [("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
                "invalid setting OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                [("OTEL_TRACES_SAMPLER_ARG", "1.5")],
                "invalid setting OTEL_TRACES_SAMPLER_ARG",
            ),
            (
                [("OTEL_EXPORTER_OTLP_HEADERS", "key-without-value-s3cret")],
                "invalid setting OTEL_EXPORTER_OTLP_HEADERS",
            ),
            (
                [(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "http://user:s3cret@collector:4318",
                )],
                "invalid setting OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                [("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:s3cret@:4318")],
                "invalid setting OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
        ] {
            let e = error(&pairs, resolve);
            assert!(e.starts_with(starts), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }
}
