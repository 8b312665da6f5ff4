//! W3C trace context (`traceparent`) carried from where work starts (an HTTP request, a
//! Discord event) into the jobs it pushes and their spans, so one trace id follows a request
//! through the queue. Whatever runs inside [`scope`] pushes jobs stamped with its context; a
//! job's handler runs inside a child context, so its follow-up jobs stay in the same trace.
//!
//! [`start_span`] ties a `tracing` span to this context. When the process exports spans (an
//! OpenTelemetry layer is installed: `OTEL_EXPORTER_OTLP_ENDPOINT`), the span becomes the
//! exported child of the caller's span and the context handed on names it, so a collector shows
//! request → job → follow-up job as one tree; otherwise only the trace id travels.

use std::fmt;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use rand::RngCore;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// `00-<trace id>-<parent id>-<flags>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub sampled: bool,
}

tokio::task_local! {
    static CURRENT: TraceParent;
}

impl TraceParent {
    /// A new trace (a request or event that arrived without one).
    pub fn new_root() -> Self {
        let mut rng = rand::rng();
        let mut trace_id = [0u8; 16];
        let mut parent_id = [0u8; 8];
        rng.fill_bytes(&mut trace_id);
        rng.fill_bytes(&mut parent_id);
        Self {
            trace_id,
            parent_id,
            sampled: true,
        }
    }

    /// The same trace, with a new span as parent.
    pub fn child(&self) -> Self {
        let mut parent_id = [0u8; 8];
        rand::rng().fill_bytes(&mut parent_id);
        Self { parent_id, ..*self }
    }

    /// Parses a `traceparent` header; `None` for anything malformed (then start a new trace).
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || parts.next().is_some() {
            return None;
        }
        let trace_id: [u8; 16] = hex_bytes(trace)?;
        let parent_id: [u8; 8] = hex_bytes(parent)?;
        let flags: [u8; 1] = hex_bytes(flags)?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
            sampled: flags[0] & 1 == 1,
        })
    }

    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.parent_id),
            u8::from(self.sampled)
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// Makes `span` the span of a unit of work that continues `parent` (a new trace when `None`) and
/// returns the context the work runs in: with an OpenTelemetry layer installed, `span`'s own
/// ids (so follow-up jobs become its children); without one, a new span id in the same trace.
/// Records the trace id on the span's `trace_id` field (declare it `Empty`).
pub fn start_span(span: &tracing::Span, parent: Option<TraceParent>) -> TraceParent {
    if let Some(parent) = parent {
        let flags = if parent.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let remote = SpanContext::new(
            TraceId::from_bytes(parent.trace_id),
            SpanId::from_bytes(parent.parent_id),
            flags,
            true,
            TraceState::default(),
        );
        // Ignored (returns an error) when no OpenTelemetry layer is installed.
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
    let exported = span.context().span().span_context().clone();
    let trace = if exported.is_valid() {
        TraceParent {
            trace_id: exported.trace_id().to_bytes(),
            parent_id: exported.span_id().to_bytes(),
            sampled: exported.is_sampled(),
        }
    } else {
        parent.map_or_else(TraceParent::new_root, |t| t.child())
    };
    span.record("trace_id", tracing::field::display(trace.trace_id_hex()));
    trace
}

/// The trace context of the running task, if any.
pub fn current() -> Option<TraceParent> {
    CURRENT.try_with(|t| *t).ok()
}

/// Runs `future` with `trace` as the current context.
pub async fn scope<F: Future>(trace: TraceParent, future: F) -> F::Output {
    CURRENT.scope(trace, future).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_w3c_traceparent() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t = TraceParent::parse(header).expect("valid");
        assert_eq!(t.to_string(), header);
        assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let child = t.child();
        assert_eq!(child.trace_id, t.trace_id);
        assert_ne!(child.parent_id, t.parent_id);
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-xyz-abc-01",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad}");
        }
    }
}
