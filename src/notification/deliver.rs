//! Posting a draft to the experiment's webhook: one request with a timeout, no redirects,
//! https through rustls with the ring crypto provider.

use std::time::Duration;

use tokio::time::Instant;

use super::NotificationError;

/// Posts JSON to one URL.
#[derive(Clone, Debug)]
pub struct Deliverer {
    client: reqwest::Client,
    url: reqwest::Url,
    timeout: Duration,
}

/// An answer to a delivery, whatever its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posted {
    /// The HTTP status.
    pub status: u16,
    /// When the answer's head arrived, on the monotonic clock.
    pub at: Instant,
}

impl Posted {
    /// Whether the status is 2xx.
    pub fn delivered(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Deliverer {
    /// A client for `url` (placeholders already expanded) whose requests end after `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, NotificationError> {
        let parsed = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| NotificationError::Url(redact_url(url)))?;
        crate::tls::install_crypto_provider();
        // A redirect would turn the POST into a GET elsewhere: a 3xx is not a delivery.
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(NotificationError::Client)?;
        Ok(Self {
            client,
            url: parsed,
            timeout,
        })
    }

    /// The URL as it may be recorded: see [`redact_url`].
    pub fn shown_url(&self) -> String {
        redact_url(self.url.as_str())
    }

    /// Posts `body` as `application/json`; the error says why no answer came, without the URL.
    pub async fn post_json(&self, body: Vec<u8>) -> Result<Posted, String> {
        let sent = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => Ok(Posted {
                status: response.status().as_u16(),
                at: Instant::now(),
            }),
            Err(e) if e.is_timeout() => Err(format!(
                "no answer within {}",
                humantime::format_duration(self.timeout)
            )),
            // The URL may hold a token: the message keeps only the causes.
            Err(e) => Err(crate::error::chain(&e.without_url())),
        }
    }
}

/// The URL without what may be a secret: user and password, the query, the fragment, and
/// any path segment of 16 characters or more that mixes letters and digits (the token of a
/// chat webhook, say), each replaced by `REDACTED`.
pub fn redact_url(url: &str) -> String {
    let Ok(mut u) = reqwest::Url::parse(url) else {
        return "(not a url)".to_owned();
    };
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("REDACTED");
        let _ = u.set_password(None);
    }
    if u.query().is_some() {
        u.set_query(Some("REDACTED"));
    }
    u.set_fragment(None);
    let segments: Option<Vec<String>> = u.path_segments().map(|s| {
        s.map(|seg| {
            let secret_like = seg.len() >= 16
                && seg.bytes().any(|b| b.is_ascii_alphabetic())
                && seg.bytes().any(|b| b.is_ascii_digit());
            if secret_like {
                "REDACTED".to_owned()
            } else {
                seg.to_owned()
            }
        })
        .collect()
    });
    if let Some(segments) = segments {
        u.set_path(&segments.join("/"));
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;
    use tokio::sync::Mutex;

    use super::*;

    /// Answers every request with `status` and keeps the raw requests.
    async fn server(status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then the body its content-length announces.
                loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length: ")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                keep.lock()
                    .await
                    .push(String::from_utf8_lossy(&buf).to_string());
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        (format!("http://{addr}/notify"), seen)
    }

    #[tokio::test]
    async fn posts_json_and_reports_the_status() {
        let (url, seen) = server(202).await;
        let d = Deliverer::new(&url, Duration::from_secs(5)).unwrap();
        let before = Instant::now();
        let posted = d.post_json(br#"{"exercise":true}"#.to_vec()).await.unwrap();
        assert_eq!(posted.status, 202);
        assert!(posted.delivered());
        assert!(posted.at >= before);
        let request = seen.lock().await[0].clone();
        assert!(
            request.starts_with("POST /notify HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request
                .to_ascii_lowercase()
                .contains("content-type: application/json")
        );
        assert!(request.ends_with(r#"{"exercise":true}"#), "{request}");
    }

    #[tokio::test]
    async fn an_error_status_is_an_answer_but_not_a_delivery() {
        let (url, _) = server(503).await;
        let d = Deliverer::new(&url, Duration::from_secs(5)).unwrap();
        let posted = d.post_json(b"{}".to_vec()).await.unwrap();
        assert_eq!(posted.status, 503);
        assert!(!posted.delivered());
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error_without_the_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let d = Deliverer::new(
            &format!("http://{addr}/x?token=s3cr3t"),
            Duration::from_secs(5),
        )
        .unwrap();
        let error = d.post_json(b"{}".to_vec()).await.unwrap_err();
        assert!(!error.contains("s3cr3t"), "{error}");
        assert!(!error.is_empty());
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts and never answers.
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                open.push(s);
            }
        });
        let d = Deliverer::new(&format!("http://{addr}/"), Duration::from_millis(200)).unwrap();
        let error = d.post_json(b"{}".to_vec()).await.unwrap_err();
        assert_eq!(error, "no answer within 200ms");
        held.abort();
    }

    #[test]
    fn https_clients_build_with_the_ring_provider() {
        let d = Deliverer::new("https://notify.example.test/in", Duration::from_secs(1)).unwrap();
        assert_eq!(d.shown_url(), "https://notify.example.test/in");
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }

    #[test]
    fn bad_urls_are_refused() {
        for url in ["ftp://x/y", "not a url", "mailto:a@b.test"] {
            let err = Deliverer::new(url, Duration::from_secs(1)).unwrap_err();
            assert!(err.is_user_input(), "{url}");
        }
    }

    #[test]
    fn secrets_are_redacted_from_urls() {
        assert_eq!(
            redact_url(
                "https://user:pw@hooks.example.test/services/T0000/B0000/abcdefghij0123456789?token=x#f"
            ),
            "https://REDACTED@hooks.example.test/services/T0000/B0000/REDACTED?REDACTED"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:9000/notify"),
            "http://127.0.0.1:9000/notify"
        );
        assert_eq!(redact_url("::"), "(not a url)");
    }
}
