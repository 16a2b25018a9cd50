//! Fault-injection helpers: the federation's nodes played on the wire (their own certificates,
//! their outbox protocol: op ids kept until the hub accepts them, re-sent after any failure; and
//! their feed protocol: resume from the last received seq + 1), a TCP fault proxy on 127.0.0.1,
//! and the figures every fault test prints.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use vir_proto as pb;
use vir_proto::hub_client::HubClient;
use vir_shared::tls::TlsPaths;

use crate::TestFed;

/// The figures a fault test prints and asserts on.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    pub sent: u64,
    pub received: u64,
    pub duplicates: u64,
    pub gaps: u64,
    pub recovery: Duration,
}

impl Figures {
    /// Prints one line `test: sent=… received=… duplicates=… gaps=… recovery_ms=…`.
    pub fn print(&self, test: &str) {
        println!(
            "FIGURES {test}: sent={} received={} duplicates={} gaps={} recovery_ms={}",
            self.sent,
            self.received,
            self.duplicates,
            self.gaps,
            self.recovery.as_millis()
        );
    }
}

/// The TLS files of a region's node, as its configuration names them.
pub fn node_tls(t: &TestFed, region: &str) -> TlsPaths {
    let path = t
        .fed
        .data_dir
        .join("config")
        .join(format!("node-{region}.toml"));
    vir_node::config::NodeConfig::load(&path)
        .expect("node configuration")
        .tls
}

/// A hub client that presents `region`'s node certificate, to `url`.
pub fn hub_as_node(t: &TestFed, region: &str, url: &str) -> HubClient<Channel> {
    let channel =
        vir_shared::tls::channel(url, &node_tls(t, region), "localhost").expect("channel");
    HubClient::new(channel)
}

/// The hub's status, asked with the operator certificate.
pub async fn hub_status(t: &TestFed) -> pb::HubStatusResponse {
    let channel =
        vir_shared::tls::channel(&t.fed.file.hub.url, &t.fed.file.operator, "localhost").unwrap();
    HubClient::new(channel)
        .status(pb::HubStatusRequest {})
        .await
        .expect("hub status")
        .into_inner()
}

/// A person-domain key of version 1 that stands for youth number `n` (64 bytes, as an OPRF
/// output is).
pub fn person_key(n: u64) -> pb::PseudoKey {
    let mut value = vec![0x5a; 64];
    value[..8].copy_from_slice(&n.to_be_bytes());
    pb::PseudoKey {
        domain: pb::KeyDomain::Person as i32,
        version: 1,
        value,
    }
}

/// A node's side of `Hub.Submit` on the wire: operations get increasing op ids, and a batch is
/// sent again (same ids) until the hub has accepted every operation in it.
pub struct WireNode {
    pub region: String,
    pub municipality: String,
    client: HubClient<Channel>,
    next_op_id: u64,
    /// Operations the hub answered APPLIED.
    pub applied: u64,
    /// Operations the hub answered DUPLICATE (it had applied them before the answer was lost).
    pub duplicate_answers: u64,
    /// Submit calls that failed (hub down, connection cut, time-out).
    pub failed_calls: u64,
}

impl WireNode {
    pub fn new(t: &TestFed, region: &str, hub_url: &str) -> WireNode {
        let plan = t
            .fed
            .regions
            .iter()
            .find(|r| r.code == region)
            .expect("region");
        WireNode {
            region: region.to_owned(),
            municipality: plan.municipalities[0].to_owned(),
            client: hub_as_node(t, region, hub_url),
            next_op_id: 1,
            applied: 0,
            duplicate_answers: 0,
            failed_calls: 0,
        }
    }

    /// An upsert of `signal_ref` with the key of youth `youth`, with the next op id.
    pub fn upsert(&mut self, signal_ref: &str, youth: u64) -> pb::Operation {
        let op = pb::operation::Op::Upsert(pb::SignalUpsert {
            signal_ref: signal_ref.to_owned(),
            person_key: Some(person_key(youth)),
            municipality: self.municipality.clone(),
            ..Default::default()
        });
        self.operation(op)
    }

    /// A removal of `signal_ref`, with the next op id.
    pub fn remove(&mut self, signal_ref: &str) -> pb::Operation {
        self.operation(pb::operation::Op::Remove(pb::SignalRemove {
            signal_ref: signal_ref.to_owned(),
        }))
    }

    fn operation(&mut self, op: pb::operation::Op) -> pb::Operation {
        let op_id = self.next_op_id;
        self.next_op_id += 1;
        pb::Operation {
            op_id,
            op: Some(op),
        }
    }

    /// Opens the connection now (a `Status` call), so a fault set afterwards hits a live link.
    pub async fn connect(&mut self) {
        self.client
            .status(pb::HubStatusRequest {})
            .await
            .expect("hub reachable");
    }

    /// One `Submit` call; `Err` when the call failed.
    pub async fn submit_once(
        &mut self,
        ops: &[pb::Operation],
        timeout: Duration,
    ) -> Result<pb::SubmitResponse, tonic::Status> {
        let request = pb::SubmitRequest {
            region: self.region.clone(),
            operations: ops.to_vec(),
        };
        match tokio::time::timeout(timeout, self.client.submit(request)).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(status),
            Err(_) => Err(tonic::Status::deadline_exceeded("submit timed out")),
        }
    }

    /// Sends `ops` until the hub has accepted all of them (APPLIED or DUPLICATE), as the
    /// node's outbox does; panics after `deadline`.
    pub async fn submit_until_accepted(&mut self, mut ops: Vec<pb::Operation>, deadline: Instant) {
        let mut pause = Duration::from_millis(20);
        while !ops.is_empty() {
            assert!(
                Instant::now() < deadline,
                "{}: operations not accepted in time",
                self.region
            );
            match self.submit_once(&ops, Duration::from_secs(10)).await {
                Ok(response) => {
                    let mut accepted = Vec::new();
                    for r in &response.results {
                        match pb::OpOutcome::try_from(r.outcome) {
                            Ok(pb::OpOutcome::Applied) => {
                                self.applied += 1;
                                accepted.push(r.op_id);
                            }
                            Ok(pb::OpOutcome::Duplicate) => {
                                self.duplicate_answers += 1;
                                accepted.push(r.op_id);
                            }
                            _ => {}
                        }
                    }
                    ops.retain(|op| !accepted.contains(&op.op_id));
                    pause = Duration::from_millis(20);
                }
                Err(_) => {
                    self.failed_calls += 1;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
            }
        }
    }
}

/// What a feed follower received, as a node would see it.
#[derive(Debug, Default, Clone)]
pub struct FeedLog {
    /// Items in the order received, without repeats.
    pub items: Vec<pb::FeedItem>,
    /// Items received again (seq at or below the last one).
    pub duplicates: u64,
    /// Sequence numbers skipped (an item arrived with seq > last + 1).
    pub gaps: u64,
    /// Subscriptions that ended (hub gone, connection cut) and were opened again.
    pub reconnects: u64,
    /// Statuses the hub answered `Subscribe` with, by code.
    pub refusals: BTreeMap<String, u64>,
    pub last_seq: u64,
}

impl FeedLog {
    /// Match ids of the `MatchCreated` items, in feed order.
    pub fn matches_created(&self) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|i| match &i.body {
                Some(pb::feed_item::Body::MatchCreated(m)) => Some(m.match_id.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A feed subscriber that reconnects from its last seq + 1 whenever the stream ends, like the
/// node's feed follower, recording what it gets. It acknowledges each item.
pub struct FeedReader {
    log: Arc<Mutex<FeedLog>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl FeedReader {
    pub fn start(client: HubClient<Channel>, region: &str) -> FeedReader {
        let log = Arc::new(Mutex::new(FeedLog::default()));
        let stop = CancellationToken::new();
        let task = tokio::spawn(follow(client, region.to_owned(), log.clone(), stop.clone()));
        FeedReader { log, stop, task }
    }

    pub fn log(&self) -> FeedLog {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the feed has `seq` items, for at most `timeout`; the log either way.
    pub async fn wait_for_seq(&self, seq: u64, timeout: Duration) -> FeedLog {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if log.last_seq >= seq || Instant::now() >= deadline {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) -> FeedLog {
        self.stop.cancel();
        let _ = self.task.await;
        let log = self.log.lock().unwrap().clone();
        log
    }
}

async fn follow(
    mut client: HubClient<Channel>,
    region: String,
    log: Arc<Mutex<FeedLog>>,
    stop: CancellationToken,
) {
    loop {
        let from_seq = log.lock().unwrap().last_seq + 1;
        let request = pb::SubscribeRequest {
            region: region.clone(),
            from_seq,
        };
        let opened = tokio::select! {
            _ = stop.cancelled() => return,
            r = client.subscribe(request) => r,
        };
        match opened {
            Ok(response) => {
                let mut stream = response.into_inner();
                loop {
                    let next = tokio::select! {
                        _ = stop.cancelled() => return,
                        n = stream.message() => n,
                    };
                    let Ok(Some(event)) = next else { break };
                    if let Some(pb::feed_event::Event::Item(item)) = event.event {
                        let seq = item.seq;
                        {
                            let mut log = log.lock().unwrap();
                            if seq <= log.last_seq {
                                log.duplicates += 1;
                                continue;
                            }
                            if seq != log.last_seq + 1 {
                                log.gaps += seq - log.last_seq - 1;
                            }
                            log.last_seq = seq;
                            log.items.push(item);
                        }
                        let ack = pb::AckRequest {
                            region: region.clone(),
                            seq,
                        };
                        let _ = tokio::time::timeout(Duration::from_secs(1), client.ack(ack)).await;
                    }
                }
            }
            Err(status) => {
                *log.lock()
                    .unwrap()
                    .refusals
                    .entry(format!("{:?}", status.code()))
                    .or_insert(0) += 1;
            }
        }
        log.lock().unwrap().reconnects += 1;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// How the fault proxy treats traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ProxyMode {
    /// Forward both ways.
    Pass = 0,
    /// Accept new connections and close them at once (a refused connection).
    Refuse = 1,
    /// Keep every connection open but drop all bytes both ways (a silent black hole).
    Blackhole = 2,
    /// On open connections forward requests but drop every byte of the answers (lost
    /// acknowledgements); new connections are refused, so the answers stay lost until the
    /// mode changes.
    DropResponses = 3,
}

/// A TCP proxy on 127.0.0.1 between a client and `upstream`, whose behaviour the test changes
/// while traffic flows.
pub struct FaultProxy {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    cut: watch::Sender<u64>,
    pub accepted: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(ProxyMode::Pass as u8));
        let (cut, cut_rx) = watch::channel(0u64);
        let accepted = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        let (m, a, s) = (mode.clone(), accepted.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let (client, _) = tokio::select! {
                    _ = s.cancelled() => return,
                    r = listener.accept() => match r { Ok(pair) => pair, Err(_) => continue },
                };
                a.fetch_add(1, Ordering::Relaxed);
                let mode = m.load(Ordering::Relaxed);
                if mode == ProxyMode::Refuse as u8 || mode == ProxyMode::DropResponses as u8 {
                    drop(client);
                    continue;
                }
                tokio::spawn(pipe(client, upstream, m.clone(), cut_rx.clone(), s.clone()));
            }
        });
        FaultProxy {
            addr,
            mode,
            cut,
            accepted,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn set(&self, mode: ProxyMode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
    }

    /// Closes every open connection at once (new ones are served per the mode).
    pub fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn pipe(
    client: TcpStream,
    upstream: SocketAddr,
    mode: Arc<AtomicU8>,
    mut cut: watch::Receiver<u64>,
    stop: CancellationToken,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    cut.borrow_and_update();
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = copy(cr, sw, mode.clone(), false);
    let down = copy(sr, cw, mode, true);
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = cut.changed() => {}
        _ = stop.cancelled() => {}
    }
    // Both halves are dropped here: the connection closes on both sides.
}

async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: Arc<AtomicU8>,
    is_response: bool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let m = mode.load(Ordering::Relaxed);
        let forward = m == ProxyMode::Pass as u8
            || m == ProxyMode::Refuse as u8
            || (m == ProxyMode::DropResponses as u8 && !is_response);
        if forward && to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Lines of the captured log output, for tests that check what was logged.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> LogCapture {
        self.clone()
    }
}

/// Rewrites `region`'s node configuration after `adjust` had its say and restarts the node
/// gracefully (same port, same data).
pub async fn reconfigure_node(
    t: &mut TestFed,
    region: &str,
    adjust: impl FnOnce(&mut vir_node::config::NodeConfig),
) {
    let path = t
        .fed
        .data_dir
        .join("config")
        .join(format!("node-{region}.toml"));
    let mut config = vir_node::config::NodeConfig::load(&path).expect("node configuration");
    adjust(&mut config);
    std::fs::write(&path, toml::to_string(&config).expect("toml")).expect("write config");
    t.fed
        .restart_node(region, false)
        .await
        .expect("node restarts");
}

/// Rewrites the hub's configuration after `adjust` had its say and restarts it gracefully.
pub async fn reconfigure_hub(t: &mut TestFed, adjust: impl FnOnce(&mut vir_hub::HubConfig)) {
    let path = t.fed.data_dir.join("config").join("hub.toml");
    let mut config = vir_hub::config::HubConfig::load(&path).expect("hub configuration");
    adjust(&mut config);
    std::fs::write(&path, toml::to_string(&config).expect("toml")).expect("write config");
    t.fed.restart_hub(false).await.expect("hub restarts");
}

/// A node's status, asked by one of its partner organisations.
pub async fn node_status(t: &TestFed, org: &str) -> pb::NodeStatusResponse {
    t.node_client(org)
        .status(pb::NodeStatusRequest {})
        .await
        .expect("node status")
        .into_inner()
}

/// The hub's view of one region.
pub fn region_status<'a>(status: &'a pb::HubStatusResponse, region: &str) -> &'a pb::RegionStatus {
    status
        .regions
        .iter()
        .find(|r| r.region == region)
        .expect("region in hub status")
}
