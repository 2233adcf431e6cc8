//! How entries and messages are printed: one tab-separated line each, the text
//! last, with control characters escaped so a message never spans lines.

use tidings_client::proto::SendAck;
use tidings_client::{InboxEntry, Message};

/// A message body as text: invalid UTF-8 replaced, control characters escaped.
pub fn body_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

/// `inbox_seq  conversation  conv_seq  sender  text`
pub fn entry_line(entry: &InboxEntry) -> String {
    let (sender, text) = match &entry.message {
        Some(message) => (message.sender_id.as_str(), body_text(&message.body)),
        None => ("-", String::new()),
    };
    format!(
        "{}\t{}\t{}\t{}\t{}",
        entry.seq, entry.conversation_id, entry.conv_seq, sender, text
    )
}

/// `conv_seq  sender  text`
pub fn message_line(message: &Message) -> String {
    format!(
        "{}\t{}\t{}",
        message.conv_seq,
        message.sender_id,
        body_text(&message.body)
    )
}

/// `conversation  conv_seq  message_id`, plus `duplicate` for a resend.
pub fn ack_line(ack: &SendAck) -> String {
    let mut line = format!(
        "{}\t{}\t{}",
        ack.conversation_id, ack.conv_seq, ack.message_id
    );
    if ack.duplicate {
        line.push_str("\tduplicate");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_stay_on_one_line() {
        assert_eq!(body_text(b"hi\nthere\t!"), "hi\\nthere\\t!");
        assert_eq!(body_text(&[b'o', b'k', 0xff]), "ok\u{fffd}");
        assert_eq!(body_text("héllo".as_bytes()), "héllo");
    }

    #[test]
    fn entry_lines_list_seq_conversation_sender_and_text() {
        let entry = InboxEntry {
            seq: 12,
            conversation_id: "dm:alice:bob".into(),
            conv_seq: 3,
            message: Some(Message {
                sender_id: "bob".into(),
                body: b"hello".to_vec(),
                ..Message::default()
            }),
        };
        assert_eq!(entry_line(&entry), "12\tdm:alice:bob\t3\tbob\thello");
    }

    #[test]
    fn ack_lines_mark_duplicates() {
        let ack = SendAck {
            message_id: "m1".into(),
            conversation_id: "dm:alice:bob".into(),
            conv_seq: 4,
            created_at_ms: 0,
            duplicate: true,
        };
        assert_eq!(ack_line(&ack), "dm:alice:bob\t4\tm1\tduplicate");
    }
}
