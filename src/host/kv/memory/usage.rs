//! Bytes and namespaces held across namespaces (the whole store, or one
//! tenant's), reserved against their limits with one atomic step each, so
//! concurrent writers can never overshoot a limit together.

use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct Usage {
    bytes: AtomicUsize,
    namespaces: AtomicUsize,
    /// 0 = no limit of its own.
    max_bytes: usize,
    max_namespaces: usize,
}

/// A reservation that would pass its limit: what the total would have been.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Over {
    pub would: usize,
    pub max: usize,
}

impl Usage {
    pub fn new(max_bytes: usize, max_namespaces: usize) -> Self {
        Self {
            bytes: AtomicUsize::new(0),
            namespaces: AtomicUsize::new(0),
            max_bytes,
            max_namespaces,
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn namespaces(&self) -> usize {
        self.namespaces.load(Ordering::Relaxed)
    }

    pub fn reserve_bytes(&self, more: usize) -> Result<(), Over> {
        reserve(&self.bytes, more, self.max_bytes)
    }

    pub fn release_bytes(&self, less: usize) {
        self.bytes.fetch_sub(less, Ordering::Relaxed);
    }

    pub fn reserve_namespace(&self) -> Result<(), Over> {
        reserve(&self.namespaces, 1, self.max_namespaces)
    }

    pub fn release_namespace(&self) {
        self.namespaces.fetch_sub(1, Ordering::Relaxed);
    }
}

fn reserve(counter: &AtomicUsize, more: usize, max: usize) -> Result<(), Over> {
    counter
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
            let would = now.saturating_add(more);
            (max == 0 || would <= max).then_some(would)
        })
        .map(|_| ())
        .map_err(|now| Over {
            would: now.saturating_add(more),
            max,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_past_the_limit_is_refused_and_changes_nothing() {
        let usage = Usage::new(10, 1);
        usage.reserve_bytes(8).unwrap();
        assert_eq!(usage.reserve_bytes(3), Err(Over { would: 11, max: 10 }));
        usage.release_bytes(5);
        usage.reserve_bytes(7).unwrap();
        assert_eq!(usage.bytes(), 10);
        usage.reserve_namespace().unwrap();
        assert!(usage.reserve_namespace().is_err());
        assert_eq!(usage.namespaces(), 1);
    }

    #[test]
    fn zero_means_no_limit_of_its_own() {
        let usage = Usage::new(0, 0);
        usage.reserve_bytes(usize::MAX / 2).unwrap();
        usage.reserve_namespace().unwrap();
    }
}
