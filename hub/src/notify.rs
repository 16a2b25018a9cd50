//! Wakes feed subscribers after a commit: one `watch` channel per region holding the feed head.
//!
//! A subscriber takes a receiver *before* it reads the stored feed, so an append committed while
//! it reads still marks the receiver changed and is picked up on the next round. The number of
//! receivers of a region is its number of live subscriptions (for `Status`).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;
use vir_shared::RegionCode;

#[derive(Debug, Default)]
pub struct Feeds {
    heads: Mutex<HashMap<RegionCode, watch::Sender<u64>>>,
}

impl Feeds {
    /// Starts with the stored head of every feed.
    pub fn new(heads: impl IntoIterator<Item = (RegionCode, u64)>) -> Feeds {
        let heads = heads
            .into_iter()
            .map(|(region, head)| (region, watch::Sender::new(head)))
            .collect();
        Feeds {
            heads: Mutex::new(heads),
        }
    }

    fn with<R>(&self, region: &RegionCode, f: impl FnOnce(&watch::Sender<u64>) -> R) -> R {
        // A panic while holding this lock cannot leave the map inconsistent; keep going.
        let mut heads = self.heads.lock().unwrap_or_else(|e| e.into_inner());
        let sender = heads
            .entry(region.clone())
            .or_insert_with(|| watch::Sender::new(0));
        f(sender)
    }

    /// Records a new head (after commit) and wakes the region's subscribers. Heads only grow.
    pub fn advance(&self, region: &RegionCode, head: u64) {
        self.with(region, |sender| {
            sender.send_if_modified(|current| {
                if head > *current {
                    *current = head;
                    true
                } else {
                    false
                }
            });
        });
    }

    /// A receiver that is marked changed whenever the region's feed grows.
    pub fn subscribe(&self, region: &RegionCode) -> watch::Receiver<u64> {
        self.with(region, |sender| sender.subscribe())
    }

    /// The last known head of a region's feed.
    pub fn head(&self, region: &RegionCode) -> u64 {
        self.with(region, |sender| *sender.borrow())
    }

    /// Live subscriptions of a region.
    pub fn subscribers(&self, region: &RegionCode) -> usize {
        self.with(region, |sender| sender.receiver_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn advance_wakes_and_counts() {
        let region: RegionCode = "drenthe".parse().unwrap();
        let feeds = Feeds::new([(region.clone(), 3)]);
        let mut rx = feeds.subscribe(&region);
        assert_eq!(feeds.subscribers(&region), 1);
        feeds.advance(&region, 2);
        assert!(!rx.has_changed().unwrap());
        feeds.advance(&region, 5);
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow_and_update(), 5);
        drop(rx);
        assert_eq!(feeds.subscribers(&region), 0);
        assert_eq!(feeds.head(&region), 5);
    }
}
