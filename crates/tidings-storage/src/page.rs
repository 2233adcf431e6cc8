//! How much one page of a range read may hold: a count and a byte budget.
//!
//! Pages are cut by bytes as well as by count, in the backends, so that a
//! read of 500 large messages neither loads them all nor makes an answer
//! that no frame or gRPC message can carry. Sizes are the items' protobuf
//! encodings (see [`tidings_core::wire`]), the form every answer sends.

use tidings_core::wire::delimited_len;
use tidings_core::{InboxEntry, Message};

use crate::MAX_PAGE;

/// At most `entries` items (clamped to [`MAX_PAGE`]) whose encodings, each
/// counted as an element of a repeated field, take at most `bytes`
/// together. The first item is returned whatever its size, so that a reader
/// always moves on. A page cut by either bound says `has_more`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit {
    pub entries: usize,
    pub bytes: usize,
}

impl PageLimit {
    /// At most `entries` items and `bytes` bytes.
    pub fn new(entries: usize, bytes: usize) -> Self {
        PageLimit { entries, bytes }
    }

    /// At most `entries` items, whatever their size.
    pub fn entries(entries: usize) -> Self {
        PageLimit {
            entries,
            bytes: usize::MAX,
        }
    }
}

/// What pages are made of, with the bytes each takes in a page.
pub trait PageItem {
    /// The item's encoding as an element of a repeated field: tag, length
    /// prefix and the encoded item.
    fn page_bytes(&self) -> usize;
}

impl PageItem for Message {
    fn page_bytes(&self) -> usize {
        delimited_len(self.encoded_len())
    }
}

impl PageItem for InboxEntry {
    fn page_bytes(&self) -> usize {
        delimited_len(self.encoded_len())
    }
}

/// A page being filled in page order under a [`PageLimit`]; backends offer
/// it each item they read and stop at the first it refuses.
#[derive(Debug)]
pub struct PageBuilder<T> {
    items: Vec<T>,
    bytes: usize,
    limit: PageLimit,
}

impl<T: PageItem> PageBuilder<T> {
    pub fn new(limit: PageLimit) -> Self {
        PageBuilder {
            items: Vec::new(),
            bytes: 0,
            limit: PageLimit {
                entries: limit.entries.min(MAX_PAGE),
                bytes: limit.bytes,
            },
        }
    }

    /// Takes `item` if the page has room for it; `false` (and the item is
    /// dropped) when the page is full: the read stops, and it has more.
    pub fn offer(&mut self, item: T) -> bool {
        if self.items.len() >= self.limit.entries {
            return false;
        }
        let bytes = item.page_bytes();
        if !self.items.is_empty() && self.bytes.saturating_add(bytes) > self.limit.bytes {
            return false;
        }
        self.bytes = self.bytes.saturating_add(bytes);
        self.items.push(item);
        true
    }

    /// How many more items the page takes at most, by count: what a backend
    /// asks its database for (plus one, to learn `has_more`).
    pub fn room(&self) -> usize {
        self.limit.entries - self.items.len()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn into_items(self) -> Vec<T> {
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::message;

    fn sized(conv_seq: u64, body: usize) -> Message {
        Message {
            body: vec![1; body],
            ..message("g:page", conv_seq)
        }
    }

    #[test]
    fn pages_stop_at_the_count_or_the_byte_budget() {
        let one = sized(1, 1000).page_bytes();
        let mut page = PageBuilder::new(PageLimit::new(10, 2 * one + one / 2));
        assert!(page.offer(sized(1, 1000)));
        assert!(page.offer(sized(2, 1000)));
        assert!(!page.offer(sized(3, 1000)), "the third passes the budget");
        assert_eq!(page.len(), 2);

        let mut page = PageBuilder::new(PageLimit::new(2, usize::MAX));
        assert!(page.offer(sized(1, 1)));
        assert_eq!(page.room(), 1);
        assert!(page.offer(sized(2, 1)));
        assert!(!page.offer(sized(3, 1)), "the third passes the count");
    }

    #[test]
    fn the_first_item_is_taken_whatever_its_size() {
        let mut page = PageBuilder::new(PageLimit::new(10, 10));
        assert!(page.offer(sized(1, 5000)));
        assert!(!page.offer(sized(2, 0)));
        assert_eq!(page.into_items().len(), 1);
    }

    #[test]
    fn counts_are_clamped_to_max_page() {
        let page: PageBuilder<Message> = PageBuilder::new(PageLimit::entries(usize::MAX));
        assert_eq!(page.room(), MAX_PAGE);
    }
}
