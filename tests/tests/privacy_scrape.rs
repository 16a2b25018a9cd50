//! Privacy scrape: an end-to-end scenario (signals in several regions on the synthetic
//! registry's youths, regional, national and family matches, refusals, withdrawals, reports)
//! with every log event of every service captured at DEBUG level, as text and as JSON, and the
//! `/metrics` page of every service scraped. None of the BSNs, names, birth dates, streets or
//! postcodes of the people involved may appear anywhere in it. A control proves the scanner
//! finds a BSN once one is logged.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use vir_proto as pb;
use vir_shared::metrics::http::scrape;
use vir_shared::person::Person;
use vir_tests::{eventually, signal_request, start_date, TestFed};

const WAIT: Duration = Duration::from_secs(30);

/// A log sink shared by all threads.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// Whether `needle` occurs in `haystack` as a whole word or number (not inside a longer one).
fn occurs(haystack: &str, needle: &str) -> bool {
    if needle.trim().is_empty() {
        return false;
    }
    haystack.match_indices(needle).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + needle.len()..].chars().next();
        let joins = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        !joins(before) && !joins(after)
    })
}

/// Everything about a person that must never be in a log or a metric.
fn needles(p: &Person) -> Vec<String> {
    let mut out = vec![
        p.bsn.to_string(),
        p.surname.clone(),
        p.birth_date.format("%Y-%m-%d").to_string(),
        p.birth_date.format("%d-%m-%Y").to_string(),
        p.address.postcode.to_string(),
        p.address.postcode.to_string().replace(' ', ""),
        p.address.street.clone(),
    ];
    out.extend(p.given_names.split_whitespace().map(str::to_owned));
    if !p.surname_prefix.is_empty() {
        out.push(format!("{} {}", p.surname_prefix, p.surname));
    }
    out
}

/// The needles found in `haystack`, with the context they were found in.
fn findings(haystack: &str, people: &[&Person]) -> Vec<String> {
    let mut out = Vec::new();
    for p in people {
        for needle in needles(p) {
            if occurs(haystack, &needle) {
                let at = haystack.find(&needle).unwrap_or(0);
                let start = haystack[..at]
                    .char_indices()
                    .rev()
                    .nth(80)
                    .map_or(0, |(i, _)| i);
                let end = (at + needle.len() + 80).min(haystack.len());
                let end = (end..=haystack.len())
                    .find(|&i| haystack.is_char_boundary(i))
                    .unwrap_or(haystack.len());
                out.push(format!("{needle:?} in …{}…", &haystack[start..end]));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_in_logs_or_metrics() {
    let text_logs = Capture::default();
    let json_logs = Capture::default();
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("debug"))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(text_logs.clone()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_span_list(true)
                .with_writer(json_logs.clone()),
        )
        .init();

    let t = TestFed::start().await;
    let youths: Vec<Person> = t.youths().into_iter().cloned().collect();
    // Siblings share a parent: signals on two of them make a family match.
    let unrelated = t.unrelated_youths();
    let (cross, regional, withdrawn) = (unrelated[0], unrelated[1], unrelated[2]);
    let taken = [&cross.bsn, &regional.bsn, &withdrawn.bsn];
    let youths: Vec<Person> = youths
        .into_iter()
        .filter(|y| !taken.contains(&&y.bsn))
        .collect();
    let siblings: Vec<&Person> = youths
        .iter()
        .enumerate()
        .find_map(|(i, a)| {
            youths[i + 1..]
                .iter()
                .find(|b| b.parents.iter().any(|p| a.parents.contains(p)))
                .map(|b| vec![a, b])
        })
        .expect("the registry has siblings");
    let adult = t.adult().clone();

    let mut school = t.node_client("drenthe/school");
    let mut police = t.node_client("drenthe/police");
    let mut limburg = t.node_client("zuid-limburg/jgz");
    let mut hw = t.node_client("hoeksche-waard/cjg");
    for (org, person) in [
        ("drenthe/school", cross),
        ("zuid-limburg/jgz", cross),
        ("drenthe/school", regional),
        ("drenthe/police", regional),
        ("hoeksche-waard/cjg", withdrawn),
        ("zuid-limburg/jgz", withdrawn),
        ("drenthe/school", siblings[0]),
        ("drenthe/police", siblings[1]),
    ] {
        t.node_client(org)
            .create_signal(signal_request(&person.bsn.to_string(), "Pat Smit"))
            .await
            .unwrap_or_else(|e| panic!("{org} signals: {e}"));
    }
    // Refusals: an adult, a BSN that fails the 11-test, a second signal by the same partner.
    for bsn in [
        adult.bsn.to_string(),
        "123456789".into(),
        cross.bsn.to_string(),
    ] {
        assert!(school
            .create_signal(signal_request(&bsn, "Pat Smit"))
            .await
            .is_err());
    }
    eventually("the national match on both sides", WAIT, || {
        let (mut school, mut limburg) = (school.clone(), limburg.clone());
        async move {
            let a = school.list_matches(pb::ListMatchesRequest {}).await.ok()?;
            let b = limburg.list_matches(pb::ListMatchesRequest {}).await.ok()?;
            let national = |m: &pb::ListMatchesResponse| {
                m.matches
                    .iter()
                    .flat_map(|m| &m.others)
                    .any(|o| o.region == "zuid-limburg" || o.region == "drenthe")
            };
            (national(a.get_ref()) && national(b.get_ref())).then_some(())
        }
    })
    .await;
    // Withdraw the Hoeksche Waard signal: its national match ends.
    let hw_signals = hw
        .list_signals(pb::ListSignalsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .signals;
    hw.withdraw_signal(pb::WithdrawSignalRequest {
        signal_id: hw_signals[0].id.clone(),
    })
    .await
    .expect("withdraw");
    // Reports, status and notifications run through logging paths too.
    t.node_client("drenthe/beheer")
        .admin_policy_report(pb::PolicyReportRequest::default())
        .await
        .expect("report");
    for client in [&mut school, &mut police, &mut limburg, &mut hw] {
        client
            .list_notifications(pb::ListNotificationsRequest {})
            .await
            .expect("notifications");
        client
            .status(pb::NodeStatusRequest {})
            .await
            .expect("status");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let file = &t.fed.file;
    let mut pages = String::new();
    let urls = [&file.pseudonymiser.metrics, &file.hub.metrics]
        .into_iter()
        .chain(file.nodes.iter().map(|n| &n.metrics));
    for url in urls {
        let url = url.as_ref().expect("every service serves metrics");
        pages += &scrape(url).await.expect("scrape");
    }
    assert!(pages.contains("vir_node_signals"), "the scrape worked");

    let mut people: Vec<&Person> =
        vec![cross, regional, withdrawn, siblings[0], siblings[1], &adult];
    let parents: Vec<&Person> = people
        .iter()
        .flat_map(|p| p.parents.clone())
        .filter_map(|bsn| t.registry.people.iter().find(|q| q.bsn == bsn))
        .collect();
    people.extend(parents);
    // A newborn's birth date could be today's date, which logs carry for other reasons.
    people.retain(|p| p.birth_date != start_date());

    let text = text_logs.text();
    let json = json_logs.text();
    assert!(
        text.lines().count() > 100 && json.lines().count() > 100,
        "the logs were captured ({} text lines, {} JSON lines)",
        text.lines().count(),
        json.lines().count()
    );
    assert!(json.lines().all(|l| l.starts_with('{')), "JSON lines");
    let found: Vec<String> = [
        ("text logs", &text),
        ("JSON logs", &json),
        ("metrics", &pages),
    ]
    .iter()
    .flat_map(|(what, haystack)| {
        findings(haystack, &people)
            .into_iter()
            .map(move |f| format!("{what}: {f}"))
    })
    .collect();
    assert!(
        found.is_empty(),
        "personal data found:\n{}",
        found.join("\n")
    );

    // Control: once a BSN is logged, the scanner finds it in both formats.
    tracing::debug!(bsn = %cross.bsn, "control event with a BSN on purpose");
    tracing::debug!("control event naming {}", cross.surname);
    assert!(!findings(&text_logs.text(), &[cross]).is_empty());
    assert_eq!(findings(&json_logs.text(), &[cross]).len(), 2);
    t.shutdown().await;
}
