//! Clients of the HTTP APIs of Prometheus (`/api/v1/...`) and Alertmanager (`/api/v2/alerts`):
//! the local platform waits on its Prometheus through them, probes query it, and detection
//! polls alerts.
//!
//! Answers are read up to [`MAX_ANSWER_BYTES`] and checked field by field: whatever a server
//! sends back, hostile or merely unexpected, becomes an [`ApiError`] naming what was wrong,
//! never a panic.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

/// The largest answer read; Prometheus' answers to the queries of a drill are far smaller.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Why a request to Prometheus or Alertmanager gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The base URL or the request could not be formed.
    #[error("invalid URL `{0}`")]
    Url(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
    /// No answer (connection refused, reset, timed out).
    #[error("no answer from {url}: {message}")]
    Transport {
        /// The URL requested.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The answer was too large.
    #[error("answer from {0} is larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge(String),
    /// The server answered with an error.
    #[error("{url} answered {status}: {message}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// Prometheus' `error` field, or the start of the body.
        message: String,
    },
    /// The answer was not what the API documents.
    #[error("unexpected answer from {url}: {message}")]
    Shape {
        /// The URL requested.
        url: String,
        /// What was wrong, with the field path.
        message: String,
    },
}

/// A client for loopback or remote Prometheus and Alertmanager servers.
#[derive(Clone, Debug)]
pub struct ApiClient {
    client: reqwest::Client,
    base: Url,
}

/// One series of an instant query's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' labels (`__name__` included when the answer has it).
    pub labels: BTreeMap<String, String>,
    /// Its value; Prometheus writes NaN and infinities as strings, which are kept.
    pub value: f64,
}

impl ApiClient {
    /// A client of the server at `base` (such as `http://127.0.0.1:9090`); redirects are
    /// not followed and no proxy from the environment is used.
    pub fn new(base: &str) -> Result<Self, ApiError> {
        crate::tls::install_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(ApiError::Client)?;
        let mut text = base.trim_end_matches('/').to_owned();
        text.push('/');
        match Url::parse(&text) {
            Ok(base) if matches!(base.scheme(), "http" | "https") && base.has_host() => {
                Ok(Self { client, base })
            }
            _ => Err(ApiError::Url(base.to_owned())),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, ApiError> {
        let mut url = self
            .base
            .join(path)
            .map_err(|_| ApiError::Url(format!("{}{path}", self.base)))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// GETs `path` and returns the status and the body, read up to [`MAX_ANSWER_BYTES`].
    async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<(String, u16, Vec<u8>), ApiError> {
        let url = self.url(path, query)?;
        let shown = url.to_string();
        let transport = |message: String| ApiError::Transport {
            url: shown.clone(),
            message,
        };
        let exchange = async {
            let mut response = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| transport(crate::error::chain(&e)))?;
            let status = response.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| transport(crate::error::chain(&e)))?
            {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(ApiError::TooLarge(shown.clone()));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, body))
        };
        let (status, body) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| transport(format!("timed out after {}", fmt_duration(timeout))))??;
        Ok((shown, status, body))
    }

    /// Prometheus' `data` of a `/api/v1/...` answer, or the error it reports.
    async fn prometheus_data(
        &self,
        path: &str,
        query: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<(String, Value), ApiError> {
        let (url, status, body) = self.get(path, query, timeout).await?;
        let value: Result<Value, _> = serde_json::from_slice(&body);
        let Ok(Value::Object(mut envelope)) = value else {
            return Err(if (200..300).contains(&status) {
                ApiError::Shape {
                    url,
                    message: "the body is not a json object".into(),
                }
            } else {
                ApiError::Status {
                    url,
                    status,
                    message: snippet(&body),
                }
            });
        };
        let state = envelope.get("status").and_then(Value::as_str);
        if state == Some("success") && (200..300).contains(&status) {
            return match envelope.remove("data") {
                Some(data) => Ok((url, data)),
                None => Err(ApiError::Shape {
                    url,
                    message: "missing field `data`".into(),
                }),
            };
        }
        let message = envelope
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| snippet(&body), |e| truncate(e, 300));
        if (200..300).contains(&status) {
            Err(ApiError::Shape {
                url,
                message: format!("status is not `success`: {message}"),
            })
        } else {
            Err(ApiError::Status {
                url,
                status,
                message,
            })
        }
    }

    /// Evaluates `promql` as an instant query; a scalar answer is one sample without labels.
    pub async fn query(&self, promql: &str, timeout: Duration) -> Result<Vec<Sample>, ApiError> {
        let (url, data) = self
            .prometheus_data("api/v1/query", &[("query", promql)], timeout)
            .await?;
        parse_query_data(&data).map_err(|message| ApiError::Shape { url, message })
    }

    /// The scrape targets Prometheus knows, as `(scrape URL, health)`; health is `up`,
    /// `down` or `unknown` (not scraped yet).
    pub async fn targets(&self, timeout: Duration) -> Result<Vec<(String, String)>, ApiError> {
        let (url, data) = self
            .prometheus_data("api/v1/targets", &[("state", "active")], timeout)
            .await?;
        let shape = |message: &str| ApiError::Shape {
            url: url.clone(),
            message: message.to_owned(),
        };
        let targets = data
            .get("activeTargets")
            .and_then(Value::as_array)
            .ok_or_else(|| shape("data.activeTargets is not a list"))?;
        targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let field = |name: &str| {
                    t.get(name)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            shape(&format!("data.activeTargets[{i}].{name} is not a string"))
                        })
                };
                Ok((field("scrapeUrl")?, field("health")?))
            })
            .collect()
    }

    /// The Alertmanagers Prometheus sends alerts to (their URLs).
    pub async fn alertmanagers(&self, timeout: Duration) -> Result<Vec<String>, ApiError> {
        let (url, data) = self
            .prometheus_data("api/v1/alertmanagers", &[], timeout)
            .await?;
        let list = data
            .get("activeAlertmanagers")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::Shape {
                url: url.clone(),
                message: "data.activeAlertmanagers is not a list".into(),
            })?;
        Ok(list
            .iter()
            .filter_map(|a| a.get("url").and_then(Value::as_str).map(str::to_owned))
            .collect())
    }

    /// The active (not silenced, not inhibited) alerts Alertmanager holds whose labels
    /// equal `matchers`, each as its label set.
    pub async fn alertmanager_alerts(
        &self,
        matchers: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<Vec<BTreeMap<String, String>>, ApiError> {
        let filters: Vec<String> = matchers
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
            .collect();
        let mut query = vec![
            ("active", "true"),
            ("silenced", "false"),
            ("inhibited", "false"),
        ];
        query.extend(filters.iter().map(|f| ("filter", f.as_str())));
        let (url, status, body) = self.get("api/v2/alerts", &query, timeout).await?;
        if !(200..300).contains(&status) {
            return Err(ApiError::Status {
                url,
                status,
                message: snippet(&body),
            });
        }
        let value: Value = serde_json::from_slice(&body).map_err(|e| ApiError::Shape {
            url: url.clone(),
            message: format!("the body is not json: {e}"),
        })?;
        let alerts = parse_alertmanager_alerts(&value)
            .map_err(|message| ApiError::Shape { url, message })?;
        // The server filtered already; checking again keeps a lax or old server honest.
        Ok(alerts
            .into_iter()
            .filter(|labels| matches(labels, matchers))
            .collect())
    }
}

/// Whether every matcher label is present in `labels` with an equal value.
pub fn matches(labels: &BTreeMap<String, String>, matchers: &BTreeMap<String, String>) -> bool {
    matchers
        .iter()
        .all(|(name, value)| labels.get(name) == Some(value))
}

/// The samples of a query answer's `data`: a vector (each series with its labels) or a
/// scalar. Matrices and strings are refused, as an instant query of a drill gives neither.
pub fn parse_query_data(data: &Value) -> Result<Vec<Sample>, String> {
    let kind = data
        .get("resultType")
        .and_then(Value::as_str)
        .ok_or("data.resultType is not a string")?;
    let result = data.get("result").ok_or("missing field data.result")?;
    match kind {
        "vector" => {
            let series = result.as_array().ok_or("data.result is not a list")?;
            series
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let path = format!("data.result[{i}]");
                    let labels = s
                        .get("metric")
                        .ok_or_else(|| format!("{path}.metric is missing"))
                        .and_then(|m| labels(m, &format!("{path}.metric")))?;
                    let value = s
                        .get("value")
                        .ok_or_else(|| format!("{path}.value is missing"))
                        .and_then(|v| sample_value(v, &format!("{path}.value")))?;
                    Ok(Sample { labels, value })
                })
                .collect()
        }
        "scalar" => Ok(vec![Sample {
            labels: BTreeMap::new(),
            value: sample_value(result, "data.result")?,
        }]),
        other => Err(format!(
            "data.resultType is `{other}`; an instant query must give a vector or a scalar"
        )),
    }
}

/// The label sets of the alerts of Alertmanager's `GET /api/v2/alerts` answer whose
/// `status.state` is `active`.
pub fn parse_alertmanager_alerts(value: &Value) -> Result<Vec<BTreeMap<String, String>>, String> {
    let alerts = value.as_array().ok_or("the body is not a list of alerts")?;
    let mut active = Vec::new();
    for (i, alert) in alerts.iter().enumerate() {
        let path = format!("[{i}]");
        let state = alert
            .get("status")
            .and_then(|s| s.get("state"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{path}.status.state is not a string"))?;
        let labels = alert
            .get("labels")
            .ok_or_else(|| format!("{path}.labels is missing"))
            .and_then(|l| labels(l, &format!("{path}.labels")))?;
        if state == "active" {
            active.push(labels);
        }
    }
    Ok(active)
}

fn labels(value: &Value, path: &str) -> Result<BTreeMap<String, String>, String> {
    let map = value
        .as_object()
        .ok_or_else(|| format!("{path} is not an object"))?;
    map.iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|v| (k.clone(), v.to_owned()))
                .ok_or_else(|| format!("{path}.{k} is not a string"))
        })
        .collect()
}

/// `[timestamp, "value"]`, the value a string as Prometheus writes it (`"NaN"`, `"+Inf"`).
fn sample_value(value: &Value, path: &str) -> Result<f64, String> {
    let pair = value
        .as_array()
        .filter(|a| a.len() == 2 && a[0].is_number())
        .ok_or_else(|| format!("{path} is not a [timestamp, \"value\"] pair"))?;
    let text = pair[1]
        .as_str()
        .ok_or_else(|| format!("{path}[1] is not a string"))?;
    text.parse::<f64>()
        .map_err(|_| format!("{path}[1] is not a number: `{}`", truncate(text, 40)))
}

/// A label value inside double quotes, as PromQL and Alertmanager's matchers read it.
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The `ALERTS` selector of firing alerts with these labels.
pub fn alerts_selector(matchers: &BTreeMap<String, String>) -> String {
    let mut parts = vec!["alertstate=\"firing\"".to_owned()];
    parts.extend(
        matchers
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v))),
    );
    format!("ALERTS{{{}}}", parts.join(","))
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".to_owned()
    } else {
        truncate(text, 300)
    }
}

fn truncate(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(max).collect();
    let head: String = head
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}

fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn vector_and_scalar_answers_give_samples() {
        let data = json!({"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "job": "web"}, "value": [1700000000.123, "1"]},
            {"metric": {}, "value": [1700000000, "NaN"]},
            {"metric": {"job": "x"}, "value": [1700000000, "+Inf"]},
        ]});
        let samples = parse_query_data(&data).unwrap();
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].labels["job"], "web");
        assert_eq!(samples[0].value, 1.0);
        assert!(samples[1].value.is_nan());
        assert_eq!(samples[2].value, f64::INFINITY);
        let scalar = json!({"resultType": "scalar", "result": [1700000000, "0.25"]});
        assert_eq!(
            parse_query_data(&scalar).unwrap(),
            [Sample {
                labels: BTreeMap::new(),
                value: 0.25
            }]
        );
    }

    #[test]
    fn unexpected_answers_name_the_field() {
        let cases = [
            (json!({}), "data.resultType is not a string"),
            (json!({"resultType": "vector"}), "missing field data.result"),
            (json!({"resultType": "matrix", "result": []}), "`matrix`"),
            (
                json!({"resultType": "vector", "result": {}}),
                "data.result is not a list",
            ),
            (
                json!({"resultType": "vector", "result": [1]}),
                "data.result[0].metric is missing",
            ),
            (
                json!({"resultType": "vector", "result": [{"metric": {"a": 1}, "value": [1, "1"]}]}),
                "data.result[0].metric.a is not a string",
            ),
            (
                json!({"resultType": "vector", "result": [{"metric": {}, "value": [1, 1]}]}),
                "data.result[0].value[1] is not a string",
            ),
            (
                json!({"resultType": "vector", "result": [{"metric": {}, "value": ["1", "1"]}]}),
                "is not a [timestamp",
            ),
            (
                json!({"resultType": "vector", "result": [{"metric": {}, "value": [1, "1", 2]}]}),
                "is not a [timestamp",
            ),
            (
                json!({"resultType": "scalar", "result": [1, "one"]}),
                "data.result[1] is not a number: `one`",
            ),
        ];
        for (data, needle) in cases {
            let error = parse_query_data(&data).unwrap_err();
            assert!(error.contains(needle), "{data}: {error}");
        }
    }

    #[test]
    fn alertmanager_alerts_keep_the_active_ones() {
        let body = json!([
            {"labels": {"alertname": "A", "job": "web"}, "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
             "annotations": {}, "startsAt": "2025-01-01T00:00:00Z", "fingerprint": "1", "receivers": [{"name": "x"}]},
            {"labels": {"alertname": "B"}, "status": {"state": "suppressed"}},
        ]);
        let alerts = parse_alertmanager_alerts(&body).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0]["alertname"], "A");
        assert!(
            parse_alertmanager_alerts(&json!({"alerts": []}))
                .unwrap_err()
                .contains("not a list")
        );
        assert!(
            parse_alertmanager_alerts(&json!([{"labels": {}}]))
                .unwrap_err()
                .contains("[0].status.state")
        );
        assert!(
            parse_alertmanager_alerts(&json!([{"labels": [], "status": {"state": "active"}}]))
                .unwrap_err()
                .contains("[0].labels is not an object")
        );
    }

    #[test]
    fn selectors_escape_label_values() {
        let m: BTreeMap<String, String> = [
            ("alertname".to_owned(), "High\"Rate".to_owned()),
            ("path".to_owned(), "a\\b".to_owned()),
        ]
        .into();
        assert_eq!(
            alerts_selector(&m),
            r#"ALERTS{alertstate="firing",alertname="High\"Rate",path="a\\b"}"#
        );
    }

    #[test]
    fn a_base_url_must_be_absolute_http() {
        assert!(ApiClient::new("http://127.0.0.1:9090").is_ok());
        assert!(ApiClient::new("127.0.0.1:9090").is_err());
        assert!(ApiClient::new("ftp://x").is_err());
        let c = ApiClient::new("http://127.0.0.1:9090/prom/").unwrap();
        assert_eq!(
            c.url("api/v1/query", &[("query", "a{b=\"c\"}")])
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9090/prom/api/v1/query?query=a%7Bb%3D%22c%22%7D"
        );
    }
}
