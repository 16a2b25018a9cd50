//! Rate limiting per node, counted in evaluated elements: a batch of n costs n.
//!
//! The limit is what keeps a stolen node certificate from enumerating all BSNs through the OPRF
//! (see [`crate::config::RateLimit`] for the numbers). Each configured node has its own GCRA
//! limiter (`governor`), built at start-up, so an unknown caller never creates state. A batch is
//! charged when it is admitted, before its elements are parsed, so the limit also bounds the CPU
//! a node can make this service spend on malformed requests.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use vir_shared::Oin;

use crate::config::RateLimit;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Limited {
    /// Over the limit now; the same batch is admitted after `retry_after`.
    #[error("rate limit of {per_minute} elements per minute exceeded; retry in {retry_after:?}")]
    Exceeded {
        per_minute: u32,
        retry_after: Duration,
    },
    /// The batch is larger than the burst, so it can never be admitted as a whole.
    #[error("a batch of {batch} elements exceeds this node's burst of {burst}; send at most {burst} per call")]
    OverBurst { batch: u32, burst: u32 },
}

/// One limiter per configured node. Refusals are counted by the caller ([`crate::service::Metrics`]).
pub struct NodeLimiters {
    limit: RateLimit,
    limiters: HashMap<Oin, DefaultDirectRateLimiter>,
    clock: DefaultClock,
}

impl std::fmt::Debug for NodeLimiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeLimiters")
            .field("limit", &self.limit)
            .field("nodes", &self.limiters.len())
            .finish()
    }
}

impl NodeLimiters {
    /// Zero rates are replaced by 1; the configuration refuses them before this point.
    pub fn new<'a>(limit: RateLimit, nodes: impl IntoIterator<Item = &'a Oin>) -> NodeLimiters {
        let per_minute = NonZeroU32::new(limit.per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        let clock = DefaultClock::default();
        let limiters = nodes
            .into_iter()
            .map(|oin| {
                let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
                (oin.clone(), limiter)
            })
            .collect();
        NodeLimiters {
            limit,
            limiters,
            clock,
        }
    }

    /// Charges `n` elements to `oin`. A node without a limiter (not configured) is refused as
    /// over its burst; identity is checked before this, so that does not happen.
    pub fn check(&self, oin: &Oin, n: usize) -> Result<(), Limited> {
        let batch = u32::try_from(n).unwrap_or(u32::MAX);
        let over_burst = Limited::OverBurst {
            batch,
            burst: self.limit.burst,
        };
        let (Some(limiter), Some(cells)) = (self.limiters.get(oin), NonZeroU32::new(batch)) else {
            return Err(over_burst);
        };
        match limiter.check_n(cells) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Limited::Exceeded {
                per_minute: self.limit.per_minute,
                retry_after: not_until.wait_time_from(self.clock.now()),
            }),
            Err(_insufficient_capacity) => Err(over_burst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oin(n: u8) -> Oin {
        format!("000000990000000000{n:02}").parse().unwrap()
    }

    #[test]
    fn charges_per_element_and_per_node() {
        let nodes = [oin(1), oin(2)];
        let limiters = NodeLimiters::new(
            RateLimit {
                per_minute: 1,
                burst: 10,
            },
            &nodes,
        );
        limiters.check(&oin(1), 6).unwrap();
        limiters.check(&oin(1), 4).unwrap();
        match limiters.check(&oin(1), 1) {
            Err(Limited::Exceeded { retry_after, .. }) => {
                assert!(retry_after > Duration::from_secs(50), "{retry_after:?}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // The other node has its own budget.
        limiters.check(&oin(2), 10).unwrap();
    }

    #[test]
    fn a_batch_over_the_burst_is_never_admitted() {
        let nodes = [oin(1)];
        let limiters = NodeLimiters::new(
            RateLimit {
                per_minute: 600,
                burst: 5,
            },
            &nodes,
        );
        assert_eq!(
            limiters.check(&oin(1), 6),
            Err(Limited::OverBurst { batch: 6, burst: 5 })
        );
        assert!(limiters.check(&oin(3), 1).is_err(), "unconfigured node");
    }
}
