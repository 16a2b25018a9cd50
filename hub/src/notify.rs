//! Wakes feed subscribers after a commit: one `watch` channel per region holding the feed head.
//!
//! A subscriber takes a receiver *before* it reads the stored feed, so an append committed while
//! it reads still marks the receiver changed and is picked up on the next round. The number of
//! receivers of a region is its number of live subscriptions on this replica (for `Status`).
//!
//! With several hub replicas on one PostgreSQL database, an append committed by another replica
//! must wake this replica's subscribers too: [`Feeds::advance`] also hands the new head to a
//! publisher (set by [`crate::replicas`]), which announces it to the other replicas, and what
//! they announce comes in through [`Feeds::advance_local`]. The heads are only wake-up hints:
//! subscribers always read the feed itself from the database, so a lost hint costs latency,
//! never an item.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use tokio::sync::{mpsc, watch};
use vir_shared::RegionCode;

#[derive(Debug, Default)]
pub struct Feeds {
    heads: Mutex<HashMap<RegionCode, watch::Sender<u64>>>,
    /// Where heads grown by this replica's commits are announced to the other replicas.
    publisher: OnceLock<mpsc::UnboundedSender<(RegionCode, u64)>>,
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
            publisher: OnceLock::new(),
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

    /// Records a new head committed by this replica, wakes the region's subscribers and
    /// announces it to the other replicas (if a publisher is set). Heads only grow.
    pub fn advance(&self, region: &RegionCode, head: u64) {
        if self.advance_local(region, head) {
            if let Some(publisher) = self.publisher.get() {
                // The receiving task ends only at shutdown; a hint lost then does not matter.
                let _ = publisher.send((region.clone(), head));
            }
        }
    }

    /// Records a head learnt from elsewhere (another replica, the database) and wakes the
    /// region's subscribers if it grew. Returns whether it grew.
    pub fn advance_local(&self, region: &RegionCode, head: u64) -> bool {
        self.with(region, |sender| {
            sender.send_if_modified(|current| {
                if head > *current {
                    *current = head;
                    true
                } else {
                    false
                }
            })
        })
    }

    /// Sets where [`Feeds::advance`] announces new heads. Only the first call takes effect.
    pub fn set_publisher(&self, publisher: mpsc::UnboundedSender<(RegionCode, u64)>) {
        let _ = self.publisher.set(publisher);
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

    #[tokio::test]
    async fn only_own_growth_is_published() {
        let region: RegionCode = "drenthe".parse().unwrap();
        let feeds = Feeds::new([(region.clone(), 3)]);
        let (tx, mut rx) = mpsc::unbounded_channel();
        feeds.set_publisher(tx);
        feeds.advance(&region, 4);
        assert_eq!(rx.recv().await, Some((region.clone(), 4)));
        feeds.advance(&region, 4);
        assert!(feeds.advance_local(&region, 6));
        assert!(!feeds.advance_local(&region, 5));
        assert!(
            rx.try_recv().is_err(),
            "repeats and learnt heads are not published"
        );
        assert_eq!(feeds.head(&region), 6);
    }
}
