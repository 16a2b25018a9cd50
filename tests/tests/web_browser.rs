//! The web UI in a real browser (issue 7): headless Chromium, driven through chromedriver,
//! logs in as a Drenthe school professional, creates a signal on a youth that Zuid-Limburg's
//! JGZ signalled already, and sees the cross-regional match with the other signaller's contact
//! details. A screenshot is saved as `target/test-artifacts/web_match.png`.
//!
//! Chromium comes from Debian's packages (`.ci/run` installs it). Without it the test fails
//! when `VIR_REQUIRE_CHROMIUM=1`, and otherwise says plainly that it skipped.

use std::path::PathBuf;
use std::time::Duration;

use vir_tests::web::dev_password;
use vir_tests::webdriver::{find_chromium, Browser};
use vir_tests::{signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(45);

fn artifact_dir() -> PathBuf {
    // <target>/tmp is given to integration tests; the artefacts go beside it.
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(&tmp).join("test-artifacts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_professional_creates_a_signal_in_the_browser_and_sees_the_cross_regional_match() {
    let Some((chromium, chromedriver)) = find_chromium() else {
        assert!(
            std::env::var("VIR_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "VIR_REQUIRE_CHROMIUM=1 but chromium/chromedriver are not installed \
             (apt-get install -y chromium chromium-driver)"
        );
        println!(
            "SKIPPED web_browser: chromium and chromedriver are not installed \
             (apt-get install -y chromium chromium-driver)"
        );
        return;
    };
    let t = TestFed::start_with(|o| o.web = true).await;
    let youth = t.youths()[0].clone();
    let bsn = youth.bsn.to_string();
    // Zuid-Limburg's JGZ signalled the youth already (another region, through the hub).
    let mut jgz = t.node_client("zuid-limburg/jgz");
    jgz.create_signal(signal_request(&bsn, "Marieke Smeets"))
        .await
        .expect("Zuid-Limburg signals");

    let ui = t.fed.web_urls["drenthe"].clone();
    let browser = Browser::start(&chromium, &chromedriver)
        .await
        .expect("headless chromium starts");

    // Log in.
    browser.goto(&format!("{ui}/login")).await.unwrap();
    browser
        .type_into("#username", "drenthe-school")
        .await
        .unwrap();
    browser
        .type_into("#password", &dev_password(&t, "drenthe-school"))
        .await
        .unwrap();
    browser
        .click("form.blok button[type=submit]")
        .await
        .unwrap();
    // Logged in: the signals page with the account's name in the header.
    browser
        .wait_for("/signalen", "drenthe-school", WAIT)
        .await
        .expect("the signals page after login");

    // Create the signal through the form.
    browser.type_into("#bsn", &bsn).await.unwrap();
    browser.type_into("#name", "Jan de Vries").await.unwrap();
    browser.type_into("#phone", "0592-123456").await.unwrap();
    browser
        .click("#nieuw-signaal button[type=submit]")
        .await
        .unwrap();
    let page = browser
        .wait_for("", "Signaal afgegeven", WAIT)
        .await
        .expect("the signal is listed");
    assert!(page.contains(&bsn));

    // The match arrives through the hub; the matches page shows it with the other side.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        browser.goto(&format!("{ui}/matches")).await.unwrap();
        let page = browser.source().await.unwrap();
        if page.contains("GGD Zuid Limburg Jeugdgezondheidszorg") && page.contains("Marieke Smeets")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no cross-regional match with contact details shown: {page}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    browser.click("#matches a").await.unwrap();
    let detail = browser
        .wait_for("", "match-detail", WAIT)
        .await
        .expect("the match page");
    assert!(detail.contains("Marieke Smeets"));
    assert!(detail.contains("Overleg"));

    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG screenshot");
    assert!(png.len() > 5_000, "a screenshot with content");
    let dir = artifact_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("web_match.png");
    std::fs::write(&file, &png).unwrap();
    println!("screenshot: {}", file.display());

    browser.quit().await;
    t.shutdown().await;
}
