//! The `/metrics` listener: plain HTTP (axum), GET only, the Prometheus text format.

use std::net::SocketAddr;

use anyhow::Context;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::ServiceMetrics;

/// The content type of the Prometheus text exposition format 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `GET /metrics` on `addr` until `shutdown`. Returns the bound address (port 0 works).
pub async fn serve(
    addr: SocketAddr,
    metrics: ServiceMetrics,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics listener {addr}"))?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(answer_scrape))
        .with_state(metrics);
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "metrics listener failed");
        }
    });
    tracing::info!(%local, "metrics listener (plain HTTP, GET /metrics)");
    Ok((local, task))
}

async fn answer_scrape(State(metrics): State<ServiceMetrics>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        metrics.render().await,
    )
}

/// Fetches a `/metrics` page (`http://HOST:PORT/metrics`) with a plain HTTP/1.1 GET, for
/// `virctl status` and tests. Times out after a few seconds, so a hung service shows as down.
pub async fn scrape(url: &str) -> anyhow::Result<String> {
    use http_body_util::{BodyExt, Empty};
    use hyper::body::Bytes;

    let fetch = async {
        let uri: hyper::Uri = url.parse().with_context(|| format!("metrics URL {url}"))?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http"),
            "{url}: only http:// is served"
        );
        let authority = uri
            .authority()
            .with_context(|| format!("{url}: no host"))?
            .clone();
        let stream = tokio::net::TcpStream::connect(authority.as_str())
            .await
            .with_context(|| format!("connecting to {authority}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = hyper::Request::get(uri.path())
            .header(hyper::header::HOST, authority.as_str())
            .body(Empty::<Bytes>::new())?;
        let response = sender.send_request(request).await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url}: HTTP {}",
            response.status()
        );
        let body = response.into_body().collect().await?.to_bytes();
        String::from_utf8(body.to_vec()).context("metrics page is not UTF-8")
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), fetch)
        .await
        .map_err(|_| anyhow::anyhow!("{url}: no answer within 5 s"))?
}

/// The sum of the samples of metric `name` whose labels include every `label="value"` pair
/// given (none: all samples). Reads the text format as [`serve`] writes it.
pub fn sample_sum(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in page.lines() {
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = match line.rsplit_once(' ') {
            Some(parts) => parts,
            None => continue,
        };
        let (metric, label_text) = match series.split_once('{') {
            Some((m, rest)) => (m, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name {
            continue;
        }
        let wanted = labels.iter().all(|(k, v)| {
            label_text
                .split(',')
                .any(|pair| pair == format!("{k}=\"{v}\""))
        });
        if let (true, Ok(v)) = (wanted, value.parse::<f64>()) {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// The value of `label` on the first sample of metric `name` (e.g. the version in
/// `vir_build_info`).
pub fn label_value(page: &str, name: &str, label: &str) -> Option<String> {
    let prefix = format!("{name}{{");
    let line = page.lines().find(|l| l.starts_with(&prefix))?;
    let labels = line.strip_prefix(&prefix)?.split('}').next()?;
    labels.split(',').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == label).then(|| v.trim_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# HELP vir_build_info x\n# TYPE vir_build_info gauge\nvir_build_info{service=\"hub\",version=\"0.1.0\"} 1\nvir_hub_signals{region=\"drenthe\"} 3\nvir_hub_signals{region=\"zuid-limburg\"} 4\nvir_up 1\n";

    #[test]
    fn reads_samples_and_labels() {
        assert_eq!(sample_sum(PAGE, "vir_hub_signals", &[]), Some(7.0));
        assert_eq!(
            sample_sum(PAGE, "vir_hub_signals", &[("region", "drenthe")]),
            Some(3.0)
        );
        assert_eq!(sample_sum(PAGE, "vir_up", &[]), Some(1.0));
        assert_eq!(sample_sum(PAGE, "vir_missing", &[]), None);
        assert_eq!(
            label_value(PAGE, "vir_build_info", "version").as_deref(),
            Some("0.1.0")
        );
    }

    #[tokio::test]
    async fn serves_what_it_renders() {
        let metrics = crate::metrics::ServiceMetrics::new("hub");
        metrics.gauge("vir_test_gauge", "A test gauge.").set(42);
        let stop = CancellationToken::new();
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), metrics, stop.clone())
            .await
            .unwrap();
        let page = scrape(&format!("http://{addr}/metrics")).await.unwrap();
        assert_eq!(sample_sum(&page, "vir_test_gauge", &[]), Some(42.0));
        assert!(scrape(&format!("http://{addr}/other")).await.is_err());
        stop.cancel();
        task.await.unwrap();
    }
}
