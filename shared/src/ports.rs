//! Free ports on 127.0.0.1 for listeners whose port must be known before they bind: a port
//! written into a config file before the service starts (the local federation's web UIs, a
//! test's mail sink), or handed to a process that cannot report the one it bound (chromedriver,
//! a test's PostgreSQL server, the bench's `vir-hub`).

use std::sync::atomic::{AtomicU32, Ordering};

/// The ports handed out: below the ephemeral range (Linux: from 32768,
/// `/proc/sys/net/ipv4/ip_local_port_range`).
const LOW: u16 = 20_000;
const HIGH: u16 = 32_000;

/// A port on 127.0.0.1 that is free now and stays out of the way of port-0 binds.
///
/// A port taken by binding port 0 and letting go lies in the ephemeral range, where any bind to
/// port 0 or outgoing connection can take it before the listener binds it: CI once failed that
/// way, with `Address already in use`, while tests ran federations in parallel. So the ports
/// come from below that range, where neither lands, handed out in turn from a start that
/// depends on the process: callers in one process never get the same port, two processes
/// rarely do, and each port is checked with a bind.
pub fn free_port() -> std::io::Result<u16> {
    const SPAN: u32 = (HIGH - LOW) as u32;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id() % SPAN,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..SPAN {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % SPAN;
        // `offset` < SPAN, which fits a u16.
        let port = LOW + offset as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!("no free port on 127.0.0.1 between {LOW} and {HIGH}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_below_the_ephemeral_range_and_bindable() {
        let ports: Vec<u16> = (0..20).map(|_| free_port().unwrap()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len());
        for port in ports {
            assert!((LOW..HIGH).contains(&port), "{port}");
            std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
    }
}
