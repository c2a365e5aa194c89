//! Metrics in CloudWatch's embedded metric format (EMF): one JSON line on standard output per
//! data point, which CloudWatch Logs turns into a metric without an API call (so a function
//! adds no request and no latency to count something). Alarms are declared on these names in
//! `template.yaml`.
//!
//! Values of dimensions and properties must never hold personal data or secrets: they are
//! channel names, reasons and the like.

use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Every metric of GestorDigital lives in this namespace.
pub const NAMESPACE: &str = "GestorDigital";

/// Where EMF lines go: standard output in Lambda and locally, a [`Recorder`] in tests.
pub trait MetricSink: Send + Sync {
    fn write_line(&self, line: &str);
}

/// Writes each line to standard output, whole.
pub struct Stdout;

impl MetricSink for Stdout {
    fn write_line(&self, line: &str) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        // A metric that cannot be written is lost; it must never fail the request.
        let _ = writeln!(out, "{line}");
    }
}

/// Keeps the lines, for tests to read.
#[derive(Default)]
pub struct Recorder {
    lines: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The recorded data points of one metric, as parsed JSON.
    pub fn points(&self, metric: &str) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get(metric).is_some())
            .collect()
    }
}

impl MetricSink for Recorder {
    fn write_line(&self, line: &str) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line.to_owned());
        }
    }
}

#[derive(Clone)]
pub struct Metrics {
    sink: Arc<dyn MetricSink>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::stdout()
    }
}

impl Metrics {
    pub fn stdout() -> Self {
        Self { sink: Arc::new(Stdout) }
    }

    pub fn with_sink(sink: Arc<dyn MetricSink>) -> Self {
        Self { sink }
    }

    /// A count of one. `dimensions` name the metric's series (each combination is a series
    /// and costs money: keep them few); `properties` are searchable in the logs only.
    pub fn count(&self, name: &str, dimensions: &[(&str, &str)], properties: &[(&str, &str)]) {
        self.count_n(name, 1.0, dimensions, properties);
    }

    /// A count of `n` in one data point.
    pub fn count_n(&self, name: &str, n: f64, dimensions: &[(&str, &str)], properties: &[(&str, &str)]) {
        self.sink.write_line(&emf_line(name, "Count", n, dimensions, properties, SystemTime::now()));
    }
}

/// One EMF data point as a JSON line.
pub fn emf_line(
    name: &str,
    unit: &str,
    value: f64,
    dimensions: &[(&str, &str)],
    properties: &[(&str, &str)],
    at: SystemTime,
) -> String {
    let millis = at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": millis,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                // Also published without dimensions, so one alarm watches every channel.
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>(), Vec::<&str>::new()],
                "Metrics": [{"Name": name, "Unit": unit}],
            }],
        }),
    );
    for (key, value) in properties.iter().chain(dimensions) {
        line.insert((*key).to_owned(), Value::from(*value));
    }
    line.insert(name.to_owned(), json!(value));
    Value::Object(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_one_emf_line_with_its_dimensions() {
        let recorder = Arc::new(Recorder::default());
        let metrics = Metrics::with_sink(recorder.clone());
        metrics.count("WebhookSignatureFailures", &[("Channel", "whatsapp")], &[("Reason", "mismatch")]);
        let lines = recorder.lines();
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].contains('\n'));
        let point: Value = serde_json::from_str(&lines[0]).unwrap_or_default();
        let spec = &point["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], "GestorDigital");
        assert_eq!(spec["Dimensions"], json!([["Channel"], []]));
        assert_eq!(spec["Metrics"], json!([{"Name": "WebhookSignatureFailures", "Unit": "Count"}]));
        assert!(point["_aws"]["Timestamp"].as_u64().is_some_and(|t| t > 1_700_000_000_000));
        assert_eq!(point["Channel"], "whatsapp");
        assert_eq!(point["Reason"], "mismatch");
        assert_eq!(point["WebhookSignatureFailures"], 1.0);
        assert_eq!(recorder.points("WebhookSignatureFailures").len(), 1);
    }
}
