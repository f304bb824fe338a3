//! A trace for people and tools: each event as one line of `key=value`
//! fields, or as one JSON object, with nodes named by role. The field
//! names are a stable interface (docs/traces.md lists them).

use std::borrow::Cow;
use std::fmt::Write;
use std::time::Duration;

use crate::net::NodeId;
use crate::trace::{Event, EventKind, Value};

/// The names of a world's nodes by id (`s3`, `storage-server.2`, `gateway.3`),
/// as the network was told when each node was added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeNames(pub Vec<String>);

impl NodeNames {
    /// The name of `node`; `n<id>` for a node the network never named.
    pub fn name(&self, node: NodeId) -> Cow<'_, str> {
        match self.0.get(node.0 as usize) {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(node.to_string()),
        }
    }
}

impl Event {
    /// The event's name in a line and in JSON (`event` field).
    pub fn name(&self) -> &'static str {
        match self.kind {
            EventKind::OperationStart { .. } => "op-start",
            EventKind::OperationEnd { .. } => "op-end",
            EventKind::RequestSent { .. } => "send",
            EventKind::FaultInjected { .. } => "fault",
            EventKind::MessageLost { .. } => "lost",
            EventKind::Response { .. } => "response",
            EventKind::RetryDecided { .. } => "retry",
            EventKind::GaveUp { .. } => "give-up",
            EventKind::NodeCrashed => "crash",
            EventKind::NodeRestarted => "restart",
            EventKind::Note { .. } => "note",
        }
    }

    /// The operation the event belongs to, if known.
    pub fn operation(&self) -> Option<u64> {
        match self.kind {
            EventKind::OperationStart { operation, .. } | EventKind::OperationEnd { operation, .. } => Some(operation),
            _ => self.context.operation,
        }
    }

    /// A detail field by name.
    pub fn detail_field(&self, name: &str) -> Option<&Value> {
        self.detail.iter().find(|(field, _)| *field == name).map(|(_, value)| value)
    }

    /// Every field after time, node and event name, in their stable order:
    /// operation and attempts, the kind's own fields, then the detail.
    pub fn fields(&self, names: &NodeNames) -> Vec<(&'static str, Value)> {
        let mut fields: Vec<(&'static str, Value)> = Vec::with_capacity(8 + self.detail.len());
        if let Some(operation) = self.operation() {
            fields.push(("op", operation.into()));
        }
        if let Some(attempt) = self.context.attempt {
            fields.push(("attempt", attempt.into()));
        }
        if let Some(outer) = self.context.outer_attempt {
            fields.push(("outer_attempt", outer.into()));
        }
        let name = |node: NodeId| Value::Str(Cow::Owned(names.name(node).into_owned()));
        match self.kind {
            EventKind::OperationStart { what, .. } => fields.push(("what", what.into())),
            EventKind::OperationEnd { status, .. } => fields.push(("status", u64::from(status).into())),
            EventKind::RequestSent { to, what, slot } => {
                fields.extend([("what", what.into()), ("to", name(to)), ("slot", slot.into())]);
            }
            EventKind::FaultInjected { slot, kind, applied } => {
                fields.extend([("fault", kind.into()), ("slot", slot.into()), ("applied", applied.into())]);
            }
            EventKind::MessageLost { to } => fields.push(("to", name(to))),
            EventKind::Response { slot, status, error } => {
                fields.extend([("slot", slot.into()), ("status", u64::from(status).into())]);
                if !error.is_empty() {
                    fields.push(("error", error.into()));
                }
            }
            EventKind::RetryDecided { attempt, delay } => {
                if self.context.attempt.is_none() {
                    fields.push(("attempt", attempt.into()));
                }
                fields.push(("delay_ms", delay.into()));
            }
            EventKind::GaveUp { attempt, reason } => {
                if self.context.attempt.is_none() {
                    fields.push(("attempt", attempt.into()));
                }
                fields.push(("reason", reason.into()));
            }
            EventKind::NodeCrashed | EventKind::NodeRestarted => {}
            EventKind::Note { what, value } => fields.extend([("what", what.into()), ("value", value.into())]),
        }
        fields.extend(self.detail.iter().cloned());
        fields
    }

    /// One line: virtual time first, then the node, the event and its
    /// `key=value` fields.
    pub fn line(&self, names: &NodeNames) -> String {
        let mut line = format!("{:>14.6}s {:<16} {:<8}", self.at.as_secs_f64(), names.name(self.node), self.name());
        for (field, value) in self.fields(names) {
            let _ = write!(line, " {field}=");
            write_human(&mut line, &value);
        }
        line
    }

    /// One JSON object: `at_s`, `at_ns`, `node`, `node_id`, `event`, then
    /// every field of [`Event::fields`].
    pub fn json(&self, names: &NodeNames) -> String {
        let mut json = format!(
            "{{\"at_s\":{},\"at_ns\":{},\"node\":{},\"node_id\":{},\"event\":\"{}\"",
            seconds(self.at),
            self.at.as_nanos(),
            json_string(&names.name(self.node)),
            self.node.0,
            self.name()
        );
        for (field, value) in self.fields(names) {
            let _ = write!(json, ",\"{field}\":");
            write_json(&mut json, &value);
        }
        json.push('}');
        json
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.6}", duration.as_secs_f64())
}

/// Milliseconds, whole when whole, else to the microsecond.
fn milliseconds(duration: Duration) -> String {
    if duration.subsec_nanos().is_multiple_of(1_000_000) {
        duration.as_millis().to_string()
    } else {
        format!("{:.3}", duration.as_secs_f64() * 1000.0)
    }
}

fn write_human(out: &mut String, value: &Value) {
    match value {
        Value::U64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::I64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Ms(duration) => out.push_str(&milliseconds(*duration)),
        Value::Secs(at) => out.push_str(&seconds(*at)),
        Value::Str(text) if text.is_empty() || text.contains(|c: char| c.is_whitespace() || c == '"' || c == '=') => {
            let _ = write!(out, "{text:?}");
        }
        Value::Str(text) => out.push_str(text),
    }
}

fn write_json(out: &mut String, value: &Value) {
    match value {
        Value::Str(text) => out.push_str(&json_string(text)),
        other => write_human(out, other),
    }
}

/// `text` as a JSON string literal.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::TaskContext;
    use crate::trace::Detail;

    fn event(kind: EventKind, context: TaskContext, detail: Detail) -> Event {
        Event { at: Duration::from_micros(16_651_001), node: NodeId(0), kind, context, detail }
    }

    #[test]
    fn a_line_names_the_node_and_says_everything_in_key_value_fields() {
        let names = NodeNames(vec!["storage-server".to_owned(), "s3".to_owned()]);
        let retry = event(
            EventKind::RetryDecided { attempt: 1, delay: Duration::from_millis(20) },
            TaskContext { operation: Some(17), attempt: Some(1), outer_attempt: None },
            vec![("policy", "immediate".into()), ("error", "InternalError".into())],
        );
        assert_eq!(
            retry.line(&names),
            "     16.651001s storage-server   retry    op=17 attempt=1 delay_ms=20 policy=immediate error=InternalError"
        );
        let json = retry.json(&names);
        assert_eq!(
            json,
            "{\"at_s\":16.651001,\"at_ns\":16651001000,\"node\":\"storage-server\",\"node_id\":0,\"event\":\"retry\",\
             \"op\":17,\"attempt\":1,\"delay_ms\":20,\"policy\":\"immediate\",\"error\":\"InternalError\"}"
        );
    }

    #[test]
    fn strings_that_would_break_a_line_are_quoted() {
        let names = NodeNames::default();
        let note = event(EventKind::Note { what: "x", value: 1 }, TaskContext::default(), vec![("key", "a b".into())]);
        assert!(note.line(&names).ends_with("what=x value=1 key=\"a b\""), "{}", note.line(&names));
        assert_eq!(json_string("a\"b\\\n"), "\"a\\\"b\\\\\\n\"");
    }
}
