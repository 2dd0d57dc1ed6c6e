//! One namespace of the in-memory store: its entries, their byte count, and
//! an index of expiry times so that purging touches only expired entries.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

#[derive(Debug)]
pub struct Entry {
    pub value: String,
    pub expires: Option<Instant>,
}

impl Entry {
    pub fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

#[derive(Debug, Default)]
pub struct Namespace {
    entries: HashMap<String, Entry>,
    /// `(expires, key)` of every entry with a TTL, earliest first.
    expiry: BTreeSet<(Instant, String)>,
    /// Sum of key and value lengths of the entries.
    bytes: usize,
}

/// What a removal freed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Freed {
    pub entries: usize,
    pub bytes: usize,
}

impl Namespace {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }

    /// Whether an entry has expired and is still held.
    pub fn has_expired(&self, now: Instant) -> bool {
        self.expiry.first().is_some_and(|(t, _)| *t <= now)
    }

    /// Removes up to `budget` expired entries, earliest first. Each entry is
    /// removed once, so the work is paid for by the writes that made it.
    pub fn purge_expired(&mut self, now: Instant, budget: usize) -> Freed {
        let mut freed = Freed::default();
        while freed.entries < budget && self.has_expired(now) {
            let Some((_, key)) = self.expiry.pop_first() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&key) {
                freed.entries += 1;
                freed.bytes += key.len() + entry.value.len();
            }
        }
        self.bytes -= freed.bytes;
        freed
    }

    /// Inserts or replaces `key`; the caller has checked the limits against
    /// [`Namespace::bytes_after`].
    pub fn insert(&mut self, key: &str, entry: Entry) {
        self.remove(key);
        self.bytes += key.len() + entry.value.len();
        if let Some(t) = entry.expires {
            self.expiry.insert((t, key.to_owned()));
        }
        self.entries.insert(key.to_owned(), entry);
    }

    /// The namespace's bytes once `key` holds a value of `value_len` bytes.
    pub fn bytes_after(&self, key: &str, value_len: usize) -> usize {
        let old = self
            .entries
            .get(key)
            .map_or(0, |e| key.len() + e.value.len());
        self.bytes - old + key.len() + value_len
    }

    /// Removes `key`; what it held, if anything.
    pub fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        if let Some(t) = entry.expires {
            self.expiry.remove(&(t, key.to_owned()));
        }
        self.bytes -= key.len() + entry.value.len();
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn entry(value: &str, expires: Option<Instant>) -> Entry {
        Entry {
            value: value.to_owned(),
            expires,
        }
    }

    #[test]
    fn bytes_and_the_expiry_index_follow_every_change() {
        let now = Instant::now();
        let soon = Some(now + Duration::from_secs(1));
        let mut ns = Namespace::default();
        ns.insert("a", entry("xx", soon));
        ns.insert("b", entry("yyy", None));
        assert_eq!(ns.bytes(), 3 + 4);
        ns.insert("a", entry("z", None));
        assert_eq!((ns.bytes(), ns.expiry.len()), (2 + 4, 0));
        ns.insert("c", entry("w", soon));
        ns.remove("c");
        assert_eq!((ns.bytes(), ns.expiry.len(), ns.len()), (6, 0, 2));
    }

    #[test]
    fn a_purge_removes_only_expired_entries_within_its_budget() {
        let now = Instant::now();
        let mut ns = Namespace::default();
        for i in 0..10 {
            ns.insert(&format!("k{i}"), entry("v", Some(now)));
        }
        ns.insert("kept", entry("v", Some(now + Duration::from_secs(60))));
        ns.insert("plain", entry("v", None));
        let first = ns.purge_expired(now, 4);
        assert_eq!(
            first,
            Freed {
                entries: 4,
                bytes: 12
            }
        );
        let rest = ns.purge_expired(now, usize::MAX);
        assert_eq!(rest.entries, 6);
        assert_eq!((ns.len(), ns.has_expired(now)), (2, false));
        assert_eq!(ns.bytes(), "kept".len() + 1 + "plain".len() + 1);
    }
}
