//! One feed subscription: stored items from a position, in order, then new items as they are
//! committed, with heartbeats while idle. Ends when the client goes away or the hub shuts down.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use vir_proto as pb;
use vir_shared::RegionCode;

use crate::error::to_status;
use crate::state::HubState;
use crate::store::FEED_PAGE;

/// Events buffered per subscription before the sender waits for the client.
const BUFFER: usize = 128;

pub type FeedStream = ReceiverStream<Result<pb::FeedEvent, Status>>;

/// Starts streaming `region`'s feed from `from_seq` (already checked by
/// [`HubState::subscribe_from`]).
pub fn start(
    state: Arc<HubState>,
    region: RegionCode,
    from_seq: u64,
    heartbeat: Duration,
    shutdown: CancellationToken,
) -> FeedStream {
    let (tx, rx) = mpsc::channel(BUFFER);
    // Taken before the first read, so nothing committed from now on can be missed.
    let wake = state.feeds().subscribe(&region);
    let subscription = Subscription {
        state,
        region,
        next: from_seq.max(1),
        heartbeat,
        shutdown,
        tx,
        wake,
    };
    tokio::spawn(subscription.run());
    ReceiverStream::new(rx)
}

struct Subscription {
    state: Arc<HubState>,
    region: RegionCode,
    next: u64,
    heartbeat: Duration,
    shutdown: CancellationToken,
    tx: mpsc::Sender<Result<pb::FeedEvent, Status>>,
    wake: watch::Receiver<u64>,
}

impl Subscription {
    async fn run(mut self) {
        let start = self.next;
        tracing::info!(region = %self.region, from_seq = start, "feed subscription started");
        let sent = self.follow().await;
        tracing::info!(
            region = %self.region,
            from_seq = start,
            next_seq = self.next,
            items = sent,
            "feed subscription ended"
        );
    }

    /// Streams until the client leaves or the hub stops; returns the number of items sent.
    async fn follow(&mut self) -> u64 {
        let mut sent = 0;
        loop {
            // Mark the current head seen before reading: a later append wakes us again.
            self.wake.borrow_and_update();
            match self.catch_up().await {
                Ok(n) => sent += n,
                Err(()) => return sent,
            }
            tokio::select! {
                changed = self.wake.changed() => {
                    if changed.is_err() {
                        return sent;
                    }
                }
                _ = tokio::time::sleep(self.heartbeat) => {
                    let heartbeat = pb::Heartbeat {
                        head_seq: *self.wake.borrow(),
                        unix_ms: self.state.now_ms(),
                    };
                    let event = pb::feed_event::Event::Heartbeat(heartbeat);
                    if !self.send(Ok(pb::FeedEvent { event: Some(event) })).await {
                        return sent;
                    }
                }
                _ = self.tx.closed() => return sent,
                _ = self.shutdown.cancelled() => return sent,
            }
        }
    }

    /// Sends every stored item from `next` on, page by page. `Err` means stop.
    async fn catch_up(&mut self) -> Result<u64, ()> {
        let mut sent = 0;
        loop {
            let page = match self
                .state
                .feed_page(&self.region, self.next, FEED_PAGE)
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    self.send(Err(to_status(e))).await;
                    return Err(());
                }
            };
            let full = page.len() >= FEED_PAGE as usize;
            for item in page {
                let seq = item.seq;
                let event = pb::feed_event::Event::Item(item);
                if !self.send(Ok(pb::FeedEvent { event: Some(event) })).await {
                    return Err(());
                }
                self.next = seq + 1;
                sent += 1;
            }
            if !full {
                return Ok(sent);
            }
        }
    }

    /// False when the client is gone or the hub is shutting down.
    async fn send(&self, event: Result<pb::FeedEvent, Status>) -> bool {
        tokio::select! {
            result = self.tx.send(event) => result.is_ok(),
            _ = self.shutdown.cancelled() => false,
        }
    }
}
