//! Mail notifications (issue 7; 004 §11, §13): every notified professional gets one mail per
//! match and per deadline reminder, with a deep link into the web UI that works for a
//! logged-in professional, and no name of a youth or professional, no BSN. Mails wait in the
//! durable outbox while the SMTP server is down, across a node crash, and are sent once it is
//! back.

use std::time::Duration;

use reqwest::StatusCode;
use vir_tests::web::{dev_password, ReceivedMail, SmtpSink, WebClient};
use vir_tests::{eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(40);

/// The deep link of a mail body: its only `https://` URL.
fn deep_link(mail: &ReceivedMail) -> String {
    let body = mail.body();
    assert_eq!(body.matches("https://").count(), 1, "one link: {body}");
    let start = body.find("https://").unwrap();
    body[start..].split_whitespace().next().unwrap().to_owned()
}

fn match_mails(mails: &[ReceivedMail]) -> Vec<&ReceivedMail> {
    mails
        .iter()
        .filter(|m| {
            m.header("Subject")
                .is_some_and(|s| s.contains("nieuwe match"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_professional_gets_one_mail_with_a_working_deep_link_and_no_names() {
    let smtp_port = vir_shared::ports::free_port().unwrap();
    let mut t = TestFed::start_with(move |o| {
        o.web = true;
        o.smtp_port = Some(smtp_port);
    })
    .await;
    let youths = t.unrelated_youths();
    let (youth, other_youth) = (youths[0].clone(), youths[1].clone());
    let bsn = youth.bsn.to_string();

    // A second professional at the Drenthe school, created by the administrator.
    let admin = WebClient::new(&t, "drenthe");
    admin
        .login("drenthe-beheer", &dev_password(&t, "drenthe-beheer"))
        .await;
    let school_oin = t
        .fed
        .file
        .organisation("drenthe/school")
        .unwrap()
        .oin
        .clone();
    let created = admin
        .post_form(
            "/beheer/gebruikers",
            "/beheer/gebruikers",
            &[
                ("partner_oin", school_oin.as_str()),
                ("username", "p.jansen"),
                ("email", "p.jansen@school.example"),
                ("password", "een-lang-wachtwoord"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);

    // A cross-regional match while no SMTP server listens: the mails wait in the outbox.
    let mut school = t.node_client("drenthe/school");
    let mut jgz = t.node_client("zuid-limburg/jgz");
    school
        .create_signal(signal_request(&bsn, "Jan de Vries"))
        .await
        .unwrap();
    jgz.create_signal(signal_request(&bsn, "Marieke Smeets"))
        .await
        .unwrap();
    let node_db = t.fed.node_storage_url("drenthe").unwrap();
    eventually(
        "match mails queued and refused by the absent server",
        WAIT,
        || {
            let url = node_db.clone();
            async move {
                let waiting = sqlx_count(
                    &url,
                    "SELECT COUNT(*) FROM mail_outbox WHERE sent_ms IS NULL",
                )
                .await;
                let refused = sqlx_count(
                    &url,
                    "SELECT COUNT(*) FROM mail_outbox WHERE sent_ms IS NULL AND attempts > 0",
                )
                .await;
                (waiting >= 2 && refused >= 1).then_some(())
            }
        },
    )
    .await;
    // A crash of the node loses nothing: the outbox is in its storage.
    t.fed.restart_node("drenthe", true).await.unwrap();
    let sink = SmtpSink::start_on(smtp_port).await;

    let expected = [
        "school@drenthe.vir.example",
        "p.jansen@school.example",
        "jgz@zuid-limburg.vir.example",
    ];
    eventually(
        "a match mail to every professional of both organisations",
        WAIT,
        || {
            let by = sink.by_recipient();
            let done = expected
                .iter()
                .all(|r| by.get(*r).is_some_and(|m| !match_mails(m).is_empty()));
            async move { done.then_some(()) }
        },
    )
    .await;
    // Give a duplicate the chance to arrive before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let by = sink.by_recipient();
    for recipient in expected {
        assert_eq!(
            match_mails(&by[recipient]).len(),
            1,
            "one match mail for {recipient}"
        );
    }
    // Nobody else at either organisation's region was told.
    for other in ["jgz@drenthe.vir.example", "school@zuid-limburg.vir.example"] {
        assert!(!by.contains_key(other), "{other} got mail");
    }

    // No BSN, no name of the youth or of a professional, no organisation; only the link.
    let forbidden = [
        bsn.clone(),
        youth.surname.clone(),
        youth.given_names.clone(),
        youth.display_name(),
        "Jan de Vries".into(),
        "Marieke Smeets".into(),
        "Smeets".into(),
        "Regenboog".into(),
        "GGD".into(),
        youth.address.postcode.to_string(),
    ];
    for mail in sink.mails() {
        for word in &forbidden {
            assert!(
                !mail.data.contains(word.as_str()) && !mail.body().contains(word.as_str()),
                "a mail contains {word:?}"
            );
        }
        assert!(mail.from.ends_with(".vir.example"));
    }

    // The deep link works for a logged-in professional: the match with the other side.
    let jansen_mail = match_mails(&by["p.jansen@school.example"])[0].clone();
    let link = deep_link(&jansen_mail);
    let drenthe_ui = &t.fed.web_urls["drenthe"];
    assert!(
        link.starts_with(&format!("{drenthe_ui}/matches/")),
        "{link}"
    );
    let jansen = WebClient::new(&t, "drenthe");
    // Not logged in: to the login page, which comes back to the link.
    let anonymous = jansen.get(&link).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert!(anonymous
        .location
        .unwrap()
        .starts_with("/login?volgende=/matches/"));
    jansen.login("p.jansen", "een-lang-wachtwoord").await;
    let page = jansen.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("GGD Zuid Limburg Jeugdgezondheidszorg"));
    assert!(
        page.body.contains("Marieke Smeets"),
        "contact details shown"
    );
    // The other side's link works on its own node.
    let zl_mail = match_mails(&by["jgz@zuid-limburg.vir.example"])[0].clone();
    let zl_link = deep_link(&zl_mail);
    let zl = WebClient::new(&t, "zuid-limburg");
    zl.login("zuid-limburg-jgz", &dev_password(&t, "zuid-limburg-jgz"))
        .await;
    let zl_page = zl.get(&zl_link).await;
    assert_eq!(zl_page.status, StatusCode::OK);
    assert!(zl_page.body.contains("CBS De Regenboog Assen"));
    // Another organisation following the link finds nothing.
    let other = WebClient::new(&t, "drenthe");
    other
        .login("drenthe-jgz", &dev_password(&t, "drenthe-jgz"))
        .await;
    assert_eq!(other.get(&link).await.status, StatusCode::NOT_FOUND);

    // A deadline reminder: a signal ending in 20 days is reminded 14 days before its end.
    let today = vir_tests::start_date();
    let mut request = signal_request(&other_youth.bsn.to_string(), "Jan de Vries");
    request.end_date = (today + chrono::Days::new(20))
        .format("%Y-%m-%d")
        .to_string();
    school.create_signal(request).await.unwrap();
    t.clock.advance(chrono::Duration::days(7));
    let reminder = |m: &ReceivedMail| {
        m.header("Subject")
            .is_some_and(|s| s.contains("signaal loopt af"))
    };
    eventually(
        "a renewal reminder mail to both school professionals",
        WAIT,
        || {
            let by = sink.by_recipient();
            let done = ["school@drenthe.vir.example", "p.jansen@school.example"]
                .iter()
                .all(|r| by.get(*r).is_some_and(|m| m.iter().any(reminder)));
            async move { done.then_some(()) }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let by = sink.by_recipient();
    for r in ["school@drenthe.vir.example", "p.jansen@school.example"] {
        let reminders: Vec<_> = by[r].iter().filter(|m| reminder(m)).collect();
        assert_eq!(reminders.len(), 1, "one reminder for {r}");
        let link = deep_link(reminders[0]);
        assert!(link.ends_with("/berichten"), "{link}");
        for word in [&other_youth.surname, &other_youth.bsn.to_string()] {
            assert!(!reminders[0].data.contains(word.as_str()));
        }
    }
    t.shutdown().await;
}

async fn sqlx_count(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .expect("open node db");
    sqlx::query_scalar(sql)
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0)
}
