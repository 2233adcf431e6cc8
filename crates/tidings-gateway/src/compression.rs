//! zstd compression of pull pages, above a size each device chooses in its
//! hello: a returning device pulling thousands of entries gets them in a
//! fraction of the bytes.

use prost::Message as _;
use tidings_core::wire::delimited_len;
use tidings_proto::client::v1::{InboxEntries, PullResult};

/// zstd level: fast, and most of the gain on small repetitive messages.
const LEVEL: i32 = 3;

/// Moves the page's entries into `compressed_entries` when they encode to
/// more than `above` bytes (0: never) and compressing makes the page
/// smaller, so a page cut to fit a frame still fits once compressed. Falls
/// back to plain entries if compression fails, which only an allocation
/// failure could cause.
pub(crate) fn compress_page(above: u32, mut page: PullResult) -> PullResult {
    if above == 0 || page.entries.is_empty() {
        return page;
    }
    let plain = InboxEntries {
        entries: std::mem::take(&mut page.entries),
    };
    let encoded = plain.encode_to_vec();
    if encoded.len() <= above as usize {
        page.entries = plain.entries;
        return page;
    }
    match zstd::bulk::compress(&encoded, LEVEL) {
        // The plain entries take `encoded.len()` bytes of the page; the
        // compressed ones their length with a tag and a length prefix.
        Ok(compressed) if delimited_len(compressed.len()) < encoded.len() => {
            page.compressed_entries = compressed;
        }
        Ok(_) => page.entries = plain.entries,
        Err(e) => {
            tracing::warn!(error = %e, "zstd compression failed; sending the page plain");
            page.entries = plain.entries;
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use tidings_proto::common::v1::{InboxEntry, Message};

    use super::*;

    fn page(n: u64) -> PullResult {
        PullResult {
            entries: (1..=n)
                .map(|seq| InboxEntry {
                    seq,
                    conversation_id: "dm:alice:bob".into(),
                    conv_seq: seq,
                    message: Some(Message {
                        message_id: format!("m{seq}"),
                        body: b"hello there, how are you today?".to_vec(),
                        ..Default::default()
                    }),
                })
                .collect(),
            head: n,
            ..Default::default()
        }
    }

    #[test]
    fn large_pages_are_compressed_and_round_trip() {
        let original = page(200);
        let compressed = compress_page(1024, original.clone());
        assert!(compressed.entries.is_empty());
        assert!(compressed.compressed_entries.len() < original.encode_to_vec().len() / 3);
        let bytes = zstd::bulk::decompress(&compressed.compressed_entries, 1 << 20).unwrap();
        let entries = InboxEntries::decode(bytes.as_slice()).unwrap().entries;
        assert_eq!(entries, original.entries);
    }

    #[test]
    fn incompressible_pages_stay_plain_so_they_never_grow() {
        let mut original = page(4);
        for (i, entry) in original.entries.iter_mut().enumerate() {
            let message = entry.message.as_mut().unwrap();
            // A xorshift stream: no zstd gain.
            let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ i as u64;
            message.body = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
        }
        let sent = compress_page(1024, original.clone());
        assert_eq!(sent, original);
    }

    #[test]
    fn small_pages_and_opted_out_devices_stay_plain() {
        assert_eq!(compress_page(1 << 20, page(3)), page(3));
        assert_eq!(compress_page(0, page(200)), page(200));
    }
}
