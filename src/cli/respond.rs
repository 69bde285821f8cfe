//! `firedrill respond URL`: a role's page for terminals and scripts. Without `--decision`
//! it shows the role's decisions and the situation of each open one; with it, it answers
//! one, on the snapshot it has just shown, as the page's form does.

use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use super::ExitStatus;
use crate::response::{PointState, PointView, RoleView};

/// Output formats.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// Lines for people.
    Text,
    /// The page's JSON, or the recorded answer's.
    Json,
}

/// Arguments of `firedrill respond`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The role's link, as the run printed it or the chat message gave it.
    #[arg(value_name = "URL")]
    url: String,
    /// The answer: one of the decision's allowed answers (such as yes or no).
    #[arg(long, value_name = "ANSWER")]
    decision: Option<String>,
    /// Which decision point to answer; needed only when more than one is open.
    #[arg(long, value_name = "ID")]
    point: Option<String>,
    /// Why, in a sentence: recorded with the answer.
    #[arg(long, value_name = "TEXT")]
    rationale: Option<String>,
    /// Who answers.
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Time allowed for each request.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// Bad input: said on standard error, exit 2, nothing recorded.
macro_rules! refuse {
    ($($arg:tt)*) => {{
        say!("error: {}", format!($($arg)*));
        return Ok(ExitStatus::InvalidInput);
    }};
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let url = match reqwest::Url::parse(&args.url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.path().starts_with("/respond/") => u,
        _ => refuse!(
            "`{}` is not a role's link: it looks like http://127.0.0.1:PORT/respond/TOKEN",
            shown(&args.url)
        ),
    };
    if args.decision.is_some() != args.rationale.is_some() {
        refuse!("an answer needs both --decision and --rationale");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(respond(args, url))
}

/// The link without its token, to name it in messages.
fn shown(url: &str) -> String {
    match url.find("/respond/") {
        Some(at) => format!("{}/respond/…", &url[..at]),
        None => url.chars().take(120).collect(),
    }
}

async fn respond(args: Args, url: reqwest::Url) -> anyhow::Result<ExitStatus> {
    crate::tls::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(args.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot build an HTTP client")?;
    let link = shown(url.as_str());
    let request = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json");
    let body = match exchange(request, &link).await {
        Ok(body) => body,
        Err((Some(status), error)) => refuse!("{link} answered HTTP {status}: {error}"),
        Err((None, error)) => refuse!("{error}"),
    };
    let view: RoleView = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => refuse!("{link} did not answer with a role's page: {e}"),
    };
    let (Some(answer), Some(rationale)) = (&args.decision, &args.rationale) else {
        match args.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&view)?),
            Format::Text => print!("{}", text(&view)),
        }
        return Ok(ExitStatus::Success);
    };
    let open: Vec<&PointView> = view
        .points
        .iter()
        .filter(|p| p.state == PointState::Open)
        .collect();
    let point = match (&args.point, open.as_slice()) {
        (Some(id), _) => match view.points.iter().find(|p| &p.id == id) {
            Some(p) => p,
            None => refuse!(
                "{} has no decision point `{id}`; its points are {}",
                view.role,
                view.points
                    .iter()
                    .map(|p| p.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        (None, [one]) => *one,
        (None, []) => refuse!("no decision is open for {} now", view.role),
        (None, many) => refuse!(
            "{} decisions are open for {}: say which with --point ({})",
            many.len(),
            view.role,
            many.iter()
                .map(|p| p.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(
            json!({
                "point": point.id,
                "answer": answer,
                "rationale": rationale,
                "snapshot": point.snapshot,
                "by": args.by,
            })
            .to_string(),
        );
    let body = match exchange(request, &link).await {
        Ok(body) => body,
        Err((Some(status), error)) => refuse!("the answer was refused (HTTP {status}): {error}"),
        Err((None, error)) => refuse!("{error}"),
    };
    match args.format {
        Format::Json => println!("{}", String::from_utf8_lossy(&body).trim()),
        Format::Text => {
            let recorded: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            println!(
                "recorded: {} answered `{}` with {} after {} of exercise time (journal record {})",
                view.role,
                point.id,
                recorded["answer"].as_str().unwrap_or(answer),
                exercise(recorded["afterMs"].as_f64().unwrap_or_default(), 1.0),
                recorded["journalSeq"]
            );
        }
    }
    Ok(ExitStatus::Success)
}

/// Sends `request` and reads the body of a 2xx answer; otherwise the status, when one came,
/// and what went wrong.
async fn exchange(
    request: reqwest::RequestBuilder,
    link: &str,
) -> Result<bytes::Bytes, (Option<u16>, String)> {
    let answer = request.send().await.map_err(|e| {
        (
            None,
            format!(
                "cannot reach {link}: {}",
                crate::error::chain(&e.without_url())
            ),
        )
    })?;
    let status = answer.status();
    let body = answer.bytes().await.unwrap_or_default();
    if status.is_success() {
        Ok(body)
    } else {
        Err((Some(status.as_u16()), error_of(&body)))
    }
}

/// The `error` of a JSON error body, or the body's start.
fn error_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned())
}

/// Milliseconds of exercise time in words, with the real time when the scale is not 1.
fn exercise(ms: f64, scale: f64) -> String {
    let words = |ms: f64| {
        humantime::format_duration(Duration::from_secs((ms / 1e3).round().max(0.0) as u64))
            .to_string()
    };
    if (scale - 1.0).abs() < f64::EPSILON {
        words(ms)
    } else {
        format!("{} ({} real time)", words(ms), words(ms / scale))
    }
}

/// A situation field's value as people read it: availability as a percentage, the outage
/// as a duration, lists joined, yes and no.
fn field_value(field: &serde_json::Value, scale: f64) -> String {
    let value = &field["value"];
    match (field["key"].as_str(), value) {
        (_, serde_json::Value::Null) => "unknown".to_owned(),
        (Some("availability-so-far"), v) => v
            .as_f64()
            .map_or_else(|| v.to_string(), |a| format!("{:.2}%", a * 100.0)),
        (Some("outage-so-far"), v) => v
            .as_f64()
            .map_or_else(|| v.to_string(), |ms| exercise(ms, scale)),
        (_, serde_json::Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
        (_, serde_json::Value::String(s)) => s.clone(),
        (_, serde_json::Value::Array(items)) if items.is_empty() => "none".to_owned(),
        (_, serde_json::Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        (_, v) => v.to_string(),
    }
}

/// The page in lines for a terminal.
fn text(view: &RoleView) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "EXERCISE: {} as {} ({}), run {}: {}",
        view.experiment,
        view.role,
        view.function,
        view.run_id,
        match view.state {
            crate::response::RunState::Waiting => "nothing detected yet",
            crate::response::RunState::Live => "live",
            crate::response::RunState::Ended => "ended",
        }
    );
    for p in &view.points {
        let _ = writeln!(out, "\n[{}] {}", p.id, p.question);
        let _ = writeln!(out, "  answers: {}", p.answers.join(", "));
        match p.state {
            PointState::Pending => {
                let _ = writeln!(
                    out,
                    "  not asked yet: waits for {}",
                    p.waiting_for.as_deref().unwrap_or("its trigger")
                );
            }
            PointState::Open => {
                let left = p.remaining_ms.unwrap_or_default() as f64;
                let _ = writeln!(
                    out,
                    "  open: {} {}",
                    exercise(left.abs(), view.time_scale),
                    if left >= 0.0 {
                        "left"
                    } else {
                        "past its budget"
                    }
                );
                if let Some(situation) = &p.situation {
                    for f in situation["fields"].as_array().into_iter().flatten() {
                        let value = field_value(f, view.time_scale);
                        let _ = writeln!(
                            out,
                            "    {:<26} {value} ({}{})",
                            f["key"].as_str().unwrap_or_default(),
                            f["certainty"].as_str().unwrap_or_default(),
                            f["note"]
                                .as_str()
                                .map(|n| format!(": {n}"))
                                .unwrap_or_default()
                        );
                    }
                    for c in situation["clocks"].as_array().into_iter().flatten() {
                        let _ = writeln!(
                            out,
                            "    clock {:<26} {}",
                            c["deadline"].as_str().unwrap_or_default(),
                            crate::response::clock_text(c, view.time_scale).unwrap_or_default()
                        );
                    }
                }
            }
            PointState::Answered => {
                if let Some(a) = &p.answer {
                    let _ = writeln!(
                        out,
                        "  answered {} after {}{}: {}",
                        a.answer,
                        exercise(a.after_ms as f64, view.time_scale),
                        if a.within_budget {
                            ""
                        } else {
                            ", past its budget"
                        },
                        a.rationale
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn situation_values_read_as_people_say_them() {
        let field = |key: &str, value: serde_json::Value| json!({"key": key, "value": value});
        assert_eq!(
            field_value(&field("availability-so-far", json!(0.4681)), 60.0),
            "46.81%"
        );
        assert_eq!(
            field_value(&field("outage-so-far", json!(1_200_000)), 60.0),
            "20m (20s real time)"
        );
        assert_eq!(
            field_value(&field("outage-so-far", json!(90_000)), 1.0),
            "1m 30s"
        );
        assert_eq!(field_value(&field("ongoing", json!(false)), 1.0), "no");
        assert_eq!(
            field_value(&field("member-states", json!(["DE", "FR"])), 1.0),
            "DE, FR"
        );
        assert_eq!(field_value(&field("failed-probes", json!([])), 1.0), "none");
        assert_eq!(
            field_value(&field("detected-by", json!("pager")), 1.0),
            "pager"
        );
        assert_eq!(
            field_value(&field("indicators-of-compromise", json!(null)), 1.0),
            "unknown"
        );
    }

    #[test]
    fn links_are_named_without_their_token() {
        assert_eq!(
            shown("http://127.0.0.1:9/respond/SECRET"),
            "http://127.0.0.1:9/respond/…"
        );
    }
}
