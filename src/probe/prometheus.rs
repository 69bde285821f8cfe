//! Prometheus probe: an instant PromQL query whose every value must satisfy a comparison.
//!
//! The query runs on the run's tokio runtime (the probe's own thread waits for it), so that
//! chunked answers, keep-alive and the body limit are handled by the same client as every
//! other API call. Whatever the server answers, the observation passes or fails with a
//! reason; nothing in an answer can panic the probe.

use std::time::Duration;

use super::{Outcome, Probe, ProbeError};
use crate::platform::prometheus::{ApiClient, Sample};
use crate::spec::{self, Comparison, OnEmpty};

/// One instant query per observation.
#[derive(Debug)]
pub struct PrometheusProbe {
    client: ApiClient,
    query: String,
    expect: Comparison,
    on_empty: OnEmpty,
    runtime: tokio::runtime::Handle,
}

impl PrometheusProbe {
    /// Builds the probe for an already expanded base URL, on the current runtime.
    pub fn new(spec: &spec::PrometheusProbe, url: &str) -> Result<Self, ProbeError> {
        let invalid = |message: String| ProbeError::Invalid {
            probe: spec.name.clone(),
            message,
        };
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| invalid("needs a tokio runtime to run its queries on".to_owned()))?;
        let client = ApiClient::new(url).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            client,
            query: spec.query.clone(),
            expect: spec.expect,
            on_empty: spec.on_empty,
            runtime,
        })
    }
}

impl Probe for PrometheusProbe {
    fn observe(&self, timeout: Duration) -> Outcome {
        match self
            .runtime
            .block_on(self.client.query(&self.query, timeout))
        {
            Ok(samples) => judge(&samples, self.expect, self.on_empty),
            Err(e) => Outcome::fail(e.to_string()),
        }
    }
}

/// The verdict on a query's answer: every sample must satisfy `expect`; an empty answer
/// counts as `on_empty` says.
pub fn judge(samples: &[Sample], expect: Comparison, on_empty: OnEmpty) -> Outcome {
    if samples.is_empty() {
        return match on_empty {
            OnEmpty::Pass => Outcome {
                ok: true,
                detail: Some("no series (onEmpty: pass)".to_owned()),
            },
            OnEmpty::Fail => Outcome::fail("no series (onEmpty: fail)"),
        };
    }
    let bound = format!("{} {}", expect.op.as_str(), expect.value);
    match samples.iter().find(|s| !expect.holds(s.value)) {
        None => Outcome {
            ok: true,
            detail: Some(format!("{} series, all {bound}", samples.len())),
        },
        Some(breach) => {
            let labels: Vec<String> = breach
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            Outcome::fail(format!(
                "{{{}}} is {}, not {bound}",
                labels.join(","),
                breach.value
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::spec::CompareOp;

    fn cmp(op: CompareOp, value: f64) -> Comparison {
        Comparison { op, value }
    }

    fn sample(value: f64) -> Sample {
        Sample {
            labels: [("job".to_owned(), "web".to_owned())].into(),
            value,
        }
    }

    #[test]
    fn comparisons_follow_promql_and_nan_satisfies_none() {
        let cases = [
            (CompareOp::Lt, 0.5, true),
            (CompareOp::Lt, 1.0, false),
            (CompareOp::Le, 1.0, true),
            (CompareOp::Gt, 1.0, false),
            (CompareOp::Ge, 1.0, true),
            (CompareOp::Eq, 1.0, true),
            (CompareOp::Ne, 1.0, false),
            (CompareOp::Ne, 2.0, true),
        ];
        for (op, x, want) in cases {
            assert_eq!(cmp(op, 1.0).holds(x), want, "{x} {} 1", op.as_str());
        }
        for op in [
            CompareOp::Lt,
            CompareOp::Le,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Eq,
            CompareOp::Ne,
        ] {
            assert!(!cmp(op, 1.0).holds(f64::NAN), "NaN {}", op.as_str());
        }
        assert!(cmp(CompareOp::Gt, 1.0).holds(f64::INFINITY));
    }

    #[test]
    fn every_series_must_satisfy_and_the_breach_is_named() {
        let expect = cmp(CompareOp::Lt, 0.01);
        let ok = judge(&[sample(0.0), sample(0.005)], expect, OnEmpty::Fail);
        assert!(ok.ok, "{ok:?}");
        assert_eq!(ok.detail.as_deref(), Some("2 series, all < 0.01"));
        let bad = judge(&[sample(0.0), sample(0.2)], expect, OnEmpty::Fail);
        assert!(!bad.ok);
        assert_eq!(
            bad.detail.as_deref(),
            Some("{job=\"web\"} is 0.2, not < 0.01")
        );
        assert!(!judge(&[], expect, OnEmpty::Fail).ok);
        assert!(judge(&[], expect, OnEmpty::Pass).ok);
    }

    /// A server on 127.0.0.1:0 that answers every connection with `response`, verbatim.
    async fn raw_server(response: Vec<u8>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let response = Arc::new(response);
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf).await;
                    let _ = stream.write_all(&response).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        format!("http://{addr}")
    }

    fn http(status: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    fn probe_spec(on_empty: OnEmpty) -> spec::PrometheusProbe {
        spec::PrometheusProbe {
            name: "errors".into(),
            url: String::new(),
            query: "sum(rate(errors_total[1m]))".into(),
            expect: cmp(CompareOp::Lt, 0.01),
            on_empty,
            timeout: spec::Duration::from_millis(500),
            min_success_ratio: 1.0,
        }
    }

    /// Observes once from a blocking thread, as the probe runner does.
    async fn observe(url: String, on_empty: OnEmpty) -> Outcome {
        let probe = PrometheusProbe::new(&probe_spec(on_empty), &url).unwrap();
        tokio::task::spawn_blocking(move || probe.observe(Duration::from_millis(500)))
            .await
            .unwrap()
    }

    const VECTOR: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"web"},"value":[1700000000.5,"0.002"]}]}}"#;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_real_answer_passes_and_a_breach_fails() {
        let url = raw_server(http("200 OK", VECTOR)).await;
        let outcome = observe(url, OnEmpty::Fail).await;
        assert!(outcome.ok, "{outcome:?}");
        let high = VECTOR.replace("0.002", "0.5");
        let url = raw_server(http("200 OK", &high)).await;
        let outcome = observe(url, OnEmpty::Fail).await;
        assert_eq!(
            outcome.detail.as_deref(),
            Some("{job=\"web\"} is 0.5, not < 0.01")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_empty_answer_counts_as_on_empty_says() {
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        let url = raw_server(http("200 OK", empty)).await;
        assert!(!observe(url.clone(), OnEmpty::Fail).await.ok);
        assert!(observe(url, OnEmpty::Pass).await.ok);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hostile_and_unexpected_answers_fail_with_a_reason() {
        let huge = format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            "1,".repeat(3 * 1024 * 1024)
        );
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                http(
                    "400 Bad Request",
                    r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#,
                ),
                "answered 400: parse error at char 5",
            ),
            (
                http("200 OK", "<html>proxy login</html>"),
                "the body is not a json object",
            ),
            (http("200 OK", "[1,2,3]"), "the body is not a json object"),
            (
                http("200 OK", r#"{"status":"success"}"#),
                "missing field `data`",
            ),
            (
                http("200 OK", r#"{"status":"error","error":"x"}"#),
                "status is not `success`: x",
            ),
            (
                http(
                    "200 OK",
                    r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
                ),
                "`matrix`",
            ),
            (
                http(
                    "200 OK",
                    r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"lots"]}]}}"#,
                ),
                "data.result[0].value[1] is not a number: `lots`",
            ),
            (
                http("200 OK", &"[".repeat(100_000)),
                "the body is not a json object",
            ),
            (http("200 OK", &huge), "is larger than 4194304 bytes"),
            (
                http("503 Service Unavailable", ""),
                "answered 503: (empty body)",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"sta".to_vec(),
                "no answer from",
            ),
            (b"garbage\r\n\r\n".to_vec(), "no answer from"),
        ];
        for (response, needle) in cases {
            let url = raw_server(response).await;
            let outcome = observe(url, OnEmpty::Fail).await;
            assert!(!outcome.ok);
            let detail = outcome.detail.unwrap_or_default();
            assert!(detail.contains(needle), "want `{needle}` in `{detail}`");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_that_never_answers_fails_within_the_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts and holds connections without a word.
        let held = tokio::spawn(async move {
            let mut streams = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                streams.push(s);
            }
        });
        let started = std::time::Instant::now();
        let outcome = observe(format!("http://{addr}"), OnEmpty::Fail).await;
        assert!(!outcome.ok);
        assert!(
            outcome
                .detail
                .as_deref()
                .unwrap_or("")
                .contains("timed out"),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        held.abort();
    }
}
