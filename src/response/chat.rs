//! The message that tells a role, through its chat's incoming webhook, that a decision
//! waits: Slack's and Mattermost's `{"text": ...}`, or a Microsoft Teams message card.
//! The link in it carries the role's token; the message is the only place it goes.

use serde_json::{Value, json};

use crate::spec::ChatFormat;

/// What a chat message says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage<'a> {
    /// The experiment's name.
    pub experiment: &'a str,
    /// The role the message is for.
    pub role: &'a str,
    /// The question put.
    pub question: &'a str,
    /// The budget, in words ("30m of exercise time (30s real time)").
    pub budget: &'a str,
    /// The role's link.
    pub link: &'a str,
}

const LINK_LABEL: &str = "Open your decision page";

impl ChatMessage<'_> {
    fn lead(&self) -> String {
        format!(
            "EXERCISE (firedrill drill {}): a decision waits for {}.",
            self.experiment, self.role
        )
    }

    /// The webhook's JSON body in `format`.
    pub fn body(&self, format: ChatFormat) -> Value {
        match format {
            ChatFormat::Slack => json!({
                "text": format!(
                    "{}\n*{}*\nAnswer within {}: <{}|{LINK_LABEL}>",
                    slack_escape(&self.lead()),
                    slack_escape(self.question),
                    slack_escape(self.budget),
                    self.link
                ),
            }),
            ChatFormat::Mattermost => json!({
                "text": format!(
                    "{}\n**{}**\nAnswer within {}: [{LINK_LABEL}]({})",
                    markdown_escape(&self.lead()),
                    markdown_escape(self.question),
                    markdown_escape(self.budget),
                    self.link
                ),
            }),
            ChatFormat::Teams => json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": self.lead(),
                "title": self.lead(),
                "text": format!("{}\n\nAnswer within {}.", self.question, self.budget),
                "potentialAction": [{
                    "@type": "OpenUri",
                    "name": LINK_LABEL,
                    "targets": [{"os": "default", "uri": self.link}],
                }],
            }),
        }
    }
}

/// Slack's three control characters in message text.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Markdown's link, code and emphasis characters, so that text stays text (a `(` opens a
/// link only after a `]`, which is escaped).
fn markdown_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '_' | '[' | ']' | '`' | '<' | '>') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> ChatMessage<'static> {
        ChatMessage {
            experiment: "game-day",
            role: "legal",
            question: "Notify <now> & [then]?",
            budget: "30m of exercise time",
            link: "http://127.0.0.1:1/respond/T",
        }
    }

    #[test]
    fn slack_text_links_with_angle_brackets_and_escapes_the_rest() {
        let body = message().body(ChatFormat::Slack);
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with("EXERCISE (firedrill drill game-day): a decision waits for legal.")
        );
        assert!(
            text.contains("*Notify &lt;now&gt; &amp; [then]?*"),
            "{text}"
        );
        assert!(text.ends_with("<http://127.0.0.1:1/respond/T|Open your decision page>"));
        assert_eq!(body.as_object().unwrap().len(), 1);
    }

    #[test]
    fn mattermost_text_links_in_markdown() {
        let body = message().body(ChatFormat::Mattermost);
        let text = body["text"].as_str().unwrap();
        assert!(text.contains(r"**Notify \<now\> & \[then\]?**"), "{text}");
        assert!(text.ends_with("[Open your decision page](http://127.0.0.1:1/respond/T)"));
    }

    #[test]
    fn teams_gets_a_message_card_with_an_open_action() {
        let body = message().body(ChatFormat::Teams);
        assert_eq!(body["@type"], "MessageCard");
        assert_eq!(
            body["potentialAction"][0]["targets"][0]["uri"],
            "http://127.0.0.1:1/respond/T"
        );
        assert!(body["text"].as_str().unwrap().starts_with("Notify <now>"));
    }
}
