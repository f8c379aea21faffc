//! Telemetry settings. `pbs serve` reads the standard OpenTelemetry
//! variables ([`TelemetryConfig::from_env`]) and its flags override them; a
//! host started in-process (tests, benchmarks) gets exactly what it is given.
//!
//! | variable | what |
//! |---|---|
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | the collector's base URL (`http://localhost:4318`); `/v1/traces` and `/v1/metrics` are appended. Unset = no export |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `…_METRICS_ENDPOINT` | a full URL for one signal |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` | `http/protobuf` (the default, and the only one) |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT` (and their `…_TRACES_…` forms) | sent with each export (`api-key=…`, percent-encoded values); ms per export |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | the resource (default service name `pbs`) |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | `parentbased_always_on` (default), `traceidratio`, … |
//! | `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER` | `none` turns one signal off |
//! | `OTEL_SDK_DISABLED` | `true` turns export off |
//! | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | the span queue |
//! | `OTEL_METRIC_EXPORT_INTERVAL` | ms between metric exports (default 60000) |
//! | `PBS_LOG_FORMAT` | `text` (default) or `json` |

use std::time::Duration;

/// Spans queued for export at most; past this they are dropped (counted).
pub const DEFAULT_QUEUE: usize = 2048;
/// Spans per OTLP request at most.
pub const DEFAULT_BATCH: usize = 512;
/// How long a span waits in the queue before a partial batch goes.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(1);
/// Time one export request may take.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time between two metric exports.
pub const DEFAULT_METRIC_INTERVAL: Duration = Duration::from_secs(60);
/// Log lines kept per function for `pbs logs`.
pub const DEFAULT_LOG_LINES: usize = 1000;

/// How the host writes its log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (tracing's default format).
    #[default]
    Text,
    /// One JSON object per line (see [`super::logs`]).
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other:?}: use text or json")),
        }
    }
}

#[derive(Clone, Debug)]
pub struct TelemetryConfig {
    /// The collector's base URL (`/v1/traces` and `/v1/metrics` appended).
    pub endpoint: Option<String>,
    /// Full URLs for one signal, overriding `endpoint`.
    pub traces_endpoint: Option<String>,
    pub metrics_endpoint: Option<String>,
    pub traces: bool,
    pub metrics: bool,
    pub service_name: String,
    pub queue: usize,
    pub batch: usize,
    pub delay: Duration,
    pub export_timeout: Duration,
    /// Headers sent with every span export (`OTEL_EXPORTER_OTLP_TRACES_HEADERS`,
    /// else `OTEL_EXPORTER_OTLP_HEADERS`): a collector's API key.
    pub trace_headers: Vec<(String, String)>,
    pub metric_interval: Duration,
    /// Log lines kept per function.
    pub log_lines: usize,
}

impl Default for TelemetryConfig {
    /// No export.
    fn default() -> Self {
        TelemetryConfig {
            endpoint: None,
            traces_endpoint: None,
            metrics_endpoint: None,
            traces: true,
            metrics: true,
            service_name: "pbs".into(),
            queue: DEFAULT_QUEUE,
            batch: DEFAULT_BATCH,
            delay: DEFAULT_DELAY,
            export_timeout: DEFAULT_EXPORT_TIMEOUT,
            trace_headers: Vec::new(),
            metric_interval: DEFAULT_METRIC_INTERVAL,
            log_lines: DEFAULT_LOG_LINES,
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn env_ms(name: &str) -> Option<Duration> {
    env(name)?.parse::<u64>().ok().map(Duration::from_millis)
}

impl TelemetryConfig {
    /// The settings the standard `OTEL_*` variables give; an unsupported
    /// protocol is an error.
    pub fn from_env() -> anyhow::Result<TelemetryConfig> {
        let mut c = TelemetryConfig {
            endpoint: env("OTEL_EXPORTER_OTLP_ENDPOINT"),
            traces_endpoint: env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            metrics_endpoint: env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
            ..TelemetryConfig::default()
        };
        if let Some(name) = env("OTEL_SERVICE_NAME") {
            c.service_name = name;
        }
        if env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            c.traces = false;
            c.metrics = false;
        }
        if env("OTEL_TRACES_EXPORTER").is_some_and(|v| v == "none") {
            c.traces = false;
        }
        if env("OTEL_METRICS_EXPORTER").is_some_and(|v| v == "none") {
            c.metrics = false;
        }
        for var in [
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        ] {
            if let Some(p) = env(var) {
                anyhow::ensure!(
                    p == "http/protobuf",
                    "{var}={p} is not supported: pbs exports OTLP over http/protobuf \
                     (port 4318 on most collectors); unset it or set http/protobuf"
                );
            }
        }
        if let Some(n) = env("OTEL_BSP_MAX_QUEUE_SIZE").and_then(|v| v.parse().ok()) {
            c.queue = n;
        }
        if let Some(n) = env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE").and_then(|v| v.parse().ok()) {
            c.batch = n;
        }
        if let Some(d) = env_ms("OTEL_BSP_SCHEDULE_DELAY") {
            c.delay = d;
        }
        if let Some(d) = env_ms("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
            .or_else(|| env_ms("OTEL_EXPORTER_OTLP_TIMEOUT"))
        {
            c.export_timeout = d;
        }
        if let Some(h) =
            env("OTEL_EXPORTER_OTLP_TRACES_HEADERS").or_else(|| env("OTEL_EXPORTER_OTLP_HEADERS"))
        {
            c.trace_headers = parse_headers(&h);
        }
        if let Some(d) = env_ms("OTEL_METRIC_EXPORT_INTERVAL") {
            c.metric_interval = d;
        }
        Ok(c)
    }

    /// The log format `PBS_LOG_FORMAT` asks for.
    pub fn log_format_from_env() -> anyhow::Result<LogFormat> {
        env("PBS_LOG_FORMAT")
            .map(|v| v.parse().map_err(anyhow::Error::msg))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    fn signal(&self, full: &Option<String>, path: &str) -> Option<String> {
        full.clone().or_else(|| {
            self.endpoint
                .as_ref()
                .map(|base| format!("{}/{path}", base.trim_end_matches('/')))
        })
    }

    /// Where spans go; none = no span is built.
    pub fn traces_endpoint(&self) -> Option<String> {
        self.traces
            .then(|| self.signal(&self.traces_endpoint, "v1/traces"))
            .flatten()
    }

    /// Where metrics go over OTLP; none = Prometheus text only.
    pub fn metrics_endpoint(&self) -> Option<String> {
        self.metrics
            .then(|| self.signal(&self.metrics_endpoint, "v1/metrics"))
            .flatten()
    }
}

/// `OTEL_EXPORTER_OTLP_HEADERS`' format: `name=value,…`, values
/// percent-encoded (W3C baggage); an entry without a name or a value is
/// left out.
fn parse_headers(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter_map(|entry| entry.split_once('='))
        .map(|(name, value)| {
            let value = value.trim();
            let decoded = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map_or_else(|_| value.to_string(), |v| v.into_owned());
            (name.trim().to_string(), decoded)
        })
        .filter(|(name, value)| !name.is_empty() && !value.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_spec() {
        let c = TelemetryConfig {
            endpoint: Some("http://collector:4318/".into()),
            ..Default::default()
        };
        assert_eq!(
            c.traces_endpoint().as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(
            c.metrics_endpoint().as_deref(),
            Some("http://collector:4318/v1/metrics")
        );
        let c = TelemetryConfig {
            traces_endpoint: Some("http://t/x".into()),
            metrics: false,
            ..c
        };
        assert_eq!(c.traces_endpoint().as_deref(), Some("http://t/x"));
        assert_eq!(c.metrics_endpoint(), None);
        assert_eq!(TelemetryConfig::default().traces_endpoint(), None);
        assert_eq!("JSON".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert!("xml".parse::<LogFormat>().is_err());
    }

    #[test]
    fn headers_are_read_as_the_spec_writes_them() {
        assert_eq!(
            parse_headers("api-key=abc%3D%3D, x-team = ops ,broken,=v,empty="),
            vec![
                ("api-key".to_string(), "abc==".to_string()),
                ("x-team".to_string(), "ops".to_string())
            ]
        );
    }
}
