//! The bodies people post to a run's response pages: an answer as JSON or as the page's
//! form, recorded by a live desk and shown on the role's page. Any bytes get an answer or a
//! reason, never a panic.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use firedrill::journal::Journal;
use firedrill::response::{AnswerRequest, Desk, render_role_page};
use libfuzzer_sys::fuzz_target;

/// Two roles, a catalogued decision each, one waiting for the other, and an approval.
const SPEC: &str = r#"{
  "timeScale": 60,
  "roles": [
    {"name": "incident-commander", "function": "cyber"},
    {"name": "legal", "function": "legal"}
  ],
  "decisions": [
    {"id": "significance", "decision": "nis2-significant-incident", "decidedBy": "incident-commander", "budget": "1h"},
    {"id": "notify-authority", "decision": "notify-authority", "decidedBy": "legal", "after": {"decision": "significance"}, "budget": "2h"}
  ],
  "approvals": [
    {"report": "nis2-early-warning", "reviewedBy": "incident-commander", "approvedBy": "legal", "budget": "2h"}
  ]
}"#;

fn spec() -> &'static firedrill::spec::Response {
    static SPEC_ONCE: OnceLock<firedrill::spec::Response> = OnceLock::new();
    SPEC_ONCE.get_or_init(|| serde_json::from_str(SPEC).expect("the response spec reads"))
}

fuzz_target!(|input: &[u8]| {
    let Some((&flags, body)) = input.split_first() else {
        return;
    };
    let request = if flags & 1 == 1 {
        AnswerRequest::from_form(body)
    } else {
        AnswerRequest::from_json(body)
    };
    let Ok(request) = request else {
        return;
    };
    let clock = firedrill::time::Clock::start();
    let desk = Desk::new(
        "drill",
        "run",
        spec(),
        &[],
        flags & 4 == 4,
        Arc::new(Journal::discard()),
        clock,
    )
    .expect("the desk opens");
    let role = if flags & 2 == 2 {
        "legal"
    } else {
        "incident-commander"
    };
    let link = desk.link_path(role).expect("the role has a link");
    let token = link.trim_start_matches("/respond/");
    let start = tokio::time::Instant::now();
    desk.set_awareness(start, "fuzz");
    let later = start + Duration::from_secs(3600);
    let _ = desk.answer(token, request.clone(), later);
    // A second answer to the same point is refused, not recorded twice.
    let _ = desk.answer(token, request, later);
    if let Ok(view) = desk.view(token, later) {
        let _ = render_role_page(&view, None);
    }
});
