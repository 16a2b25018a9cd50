//! The web UI over real HTTPS (issue 7): login and lockout by the clock, CSRF refusals,
//! field-named refusals of bad input, the partner API's authorization (another
//! organisation's signal or match is not found, administrator pages only for the
//! administrator), account management, and the access log naming the account.

use std::time::Duration;

use reqwest::StatusCode;
use vir_proto as pb;
use vir_tests::web::{dev_password, WebClient};
use vir_tests::{signal_request, TestFed};

async fn web_fed() -> TestFed {
    TestFed::start_with(|o| o.web = true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_locks_after_five_failures_for_fifteen_minutes_by_the_clock() {
    let t = web_fed().await;
    let web = WebClient::new(&t, "drenthe");
    let password = dev_password(&t, "drenthe-school");

    // Without a session every page sends the browser to the login page, keeping the target.
    let anonymous = web.get("/signalen").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(
        anonymous.location.as_deref(),
        Some("/login?volgende=/signalen")
    );

    for attempt in 1..=4 {
        let refused = web.login("drenthe-school", "wrong-password-123").await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
        assert!(refused
            .body
            .contains("Onjuiste gebruikersnaam of wachtwoord"));
    }
    let locked = web.login("drenthe-school", "wrong-password-123").await;
    assert_eq!(locked.status, StatusCode::LOCKED);
    assert!(locked.body.contains("tijdelijk geblokkeerd"));
    // Locked means locked: the right password is refused too, and no session is made.
    let still = web.login("drenthe-school", &password).await;
    assert_eq!(still.status, StatusCode::LOCKED);
    assert_eq!(web.get("/signalen").await.status, StatusCode::SEE_OTHER);

    // Fourteen minutes later still locked; after fifteen the account opens again.
    t.clock.advance(chrono::Duration::minutes(14));
    assert_eq!(
        web.login("drenthe-school", &password).await.status,
        StatusCode::LOCKED
    );
    t.clock.advance(chrono::Duration::minutes(2));
    let ok = web.login("drenthe-school", &password).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let home = web.get("/signalen").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Signalen van uw organisatie"));

    // A session ends after its 8 hours by the clock, and on logout.
    t.clock
        .advance(chrono::Duration::hours(8) + chrono::Duration::minutes(1));
    assert_eq!(web.get("/signalen").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        web.login("drenthe-school", &password).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(web.get("/signalen").await.status, StatusCode::OK);
    let logout = web.post_form("/signalen", "/uitloggen", &[]).await;
    assert_eq!(logout.location.as_deref(), Some("/login"));
    assert_eq!(web.get("/signalen").await.status, StatusCode::SEE_OTHER);

    // An unknown user gets the same answer as a wrong password.
    let other = WebClient::new(&t, "drenthe");
    let unknown = other.login("nobody-here", "whatever-password").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_refuse_missing_csrf_tokens_and_name_the_bad_field() {
    let t = web_fed().await;
    let youth = t.youths()[0].clone();
    let bsn = youth.bsn.to_string();
    let web = WebClient::new(&t, "drenthe");

    // The login form itself: without the double-submit cookie's token, 403.
    let no_token = web
        .post(
            "/login",
            &[
                ("username", "drenthe-school"),
                ("password", &dev_password(&t, "drenthe-school")),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);

    assert_eq!(
        web.login("drenthe-school", &dev_password(&t, "drenthe-school"))
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    // A create without the session's token is refused and creates nothing.
    for token in ["", "0000"] {
        let forged = web
            .post(
                "/signalen",
                &[("csrf", token), ("bsn", &bsn), ("name", "Jan de Vries")],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(forged.body.contains("CSRF"));
    }
    let mut school = t.node_client("drenthe/school");
    let listed = school
        .list_signals(pb::ListSignalsRequest {})
        .await
        .unwrap()
        .into_inner()
        .signals;
    assert!(listed.is_empty(), "a forged form created a signal");

    // Bad input: 400 naming the field, the form shown again with what was typed.
    let bad_bsn = web
        .post_form(
            "/signalen",
            "/signalen",
            &[("bsn", "123456789"), ("name", "Jan de Vries")],
        )
        .await;
    assert_eq!(bad_bsn.status, StatusCode::BAD_REQUEST);
    assert!(bad_bsn.body.contains("«bsn»"), "{}", bad_bsn.body);
    assert!(bad_bsn.body.contains("value=\"Jan de Vries\""));
    let no_name = web
        .post_form("/signalen", "/signalen", &[("bsn", &bsn), ("name", "")])
        .await;
    assert_eq!(no_name.status, StatusCode::BAD_REQUEST);
    assert!(
        no_name.body.contains("«signaller.name»"),
        "{}",
        no_name.body
    );
    let bad_date = web
        .post_form(
            "/signalen",
            "/signalen",
            &[
                ("bsn", &bsn),
                ("name", "Jan"),
                ("phone", "0592-1"),
                ("end_date", "morgen"),
            ],
        )
        .await;
    assert_eq!(bad_date.status, StatusCode::BAD_REQUEST);
    assert!(bad_date.body.contains("«end_date»"), "{}", bad_date.body);
    let bad_urgency = web
        .post_form(
            "/signalen",
            "/signalen",
            &[
                ("bsn", &bsn),
                ("name", "Jan"),
                ("phone", "0592-1"),
                ("urgency", "9"),
            ],
        )
        .await;
    assert_eq!(bad_urgency.status, StatusCode::BAD_REQUEST);
    assert!(bad_urgency.body.contains("«urgency»"));

    // And a good one goes through: 303 back to the list, which shows the youth.
    let created = web
        .post_form(
            "/signalen",
            "/signalen",
            &[
                ("bsn", &bsn),
                ("name", "Jan de Vries"),
                ("phone", "0592-123456"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let list = web.get(created.location.as_deref().unwrap()).await;
    assert!(list.body.contains(&bsn));
    assert!(list.body.contains("Signaal afgegeven"), "{}", list.body);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_professional_sees_only_their_own_organisation_and_the_access_log_names_them() {
    let t = web_fed().await;
    let youths = t.unrelated_youths();
    let (a, b) = (youths[0].bsn.to_string(), youths[1].bsn.to_string());
    let mut school = t.node_client("drenthe/school");
    let school_signal = school
        .create_signal(signal_request(&a, "Jan de Vries"))
        .await
        .unwrap()
        .into_inner();
    let mut jgz = t.node_client("drenthe/jgz");
    jgz.create_signal(signal_request(&b, "Els Bakker"))
        .await
        .unwrap();

    let web = WebClient::new(&t, "drenthe");
    web.login("drenthe-jgz", &dev_password(&t, "drenthe-jgz"))
        .await;
    let list = web.get("/signalen").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains(&b));
    assert!(
        !list.body.contains(&a),
        "another organisation's signal shown"
    );
    // Withdrawing, renewing or informing on the school's signal: not found for the JGZ.
    for action in ["intrekken", "verlengen"] {
        let refused = web
            .post_form(
                "/signalen",
                &format!("/signalen/{}/{action}", school_signal.id),
                &[],
            )
            .await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{action}");
    }
    let informing = web
        .post_form(
            "/signalen",
            &format!("/signalen/{}/informeren", school_signal.id),
            &[("informed", "parents")],
        )
        .await;
    assert_eq!(informing.status, StatusCode::NOT_FOUND);
    let still = school
        .list_signals(pb::ListSignalsRequest {})
        .await
        .unwrap()
        .into_inner()
        .signals;
    assert_eq!(still[0].status, pb::SignalStatus::Active as i32);
    assert_eq!(
        web.get("/matches/not-a-match-of-yours").await.status,
        StatusCode::NOT_FOUND
    );
    // Administrator pages are the administrator's.
    assert_eq!(web.get("/beheer").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        web.get("/beheer/gebruikers").await.status,
        StatusCode::FORBIDDEN
    );

    // The access log (NEN 7513) names the account the UI acted for.
    let mut admin = t.node_client("drenthe/beheer");
    let log = admin
        .admin_access_log(pb::AdminAccessLogRequest {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert!(log
        .iter()
        .any(|e| e.action == "ListSignals" && e.on_behalf_of == "web:drenthe-jgz"));
    assert!(log.iter().any(|e| e.action == "WithdrawSignal"
        && e.on_behalf_of == "web:drenthe-jgz"
        && e.result != "ok"));
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_administrator_creates_accounts_and_resets_a_lockout() {
    let t = web_fed().await;
    let admin = WebClient::new(&t, "drenthe");
    let login = admin
        .login("drenthe-beheer", &dev_password(&t, "drenthe-beheer"))
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert_eq!(login.location.as_deref(), Some("/"));
    let overview = admin.get("/beheer").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.body.contains("kandidaat-match"));
    // The administrator does not signal.
    assert_eq!(admin.get("/signalen").await.status, StatusCode::FORBIDDEN);

    let school_oin = t
        .fed
        .file
        .organisation("drenthe/school")
        .unwrap()
        .oin
        .clone();
    let school_oin = school_oin.as_str();
    // Refusals name the field.
    let short = admin
        .post_form(
            "/beheer/gebruikers",
            "/beheer/gebruikers",
            &[
                ("partner_oin", school_oin),
                ("username", "p.jansen"),
                ("email", "p.jansen@school.example"),
                ("password", "kort"),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.body.contains("«password»"));
    let taken = admin
        .post_form(
            "/beheer/gebruikers",
            "/beheer/gebruikers",
            &[
                ("partner_oin", school_oin),
                ("username", "drenthe-school"),
                ("email", "x@school.example"),
                ("password", "een-lang-wachtwoord"),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST);
    assert!(taken.body.contains("«username»"));
    let stranger = admin
        .post_form(
            "/beheer/gebruikers",
            "/beheer/gebruikers",
            &[
                ("partner_oin", "00000099000000009999"),
                ("username", "p.jansen"),
                ("email", "p.jansen@school.example"),
                ("password", "een-lang-wachtwoord"),
            ],
        )
        .await;
    assert_eq!(stranger.status, StatusCode::BAD_REQUEST);
    assert!(stranger.body.contains("«partner_oin»"));

    let created = admin
        .post_form(
            "/beheer/gebruikers",
            "/beheer/gebruikers",
            &[
                ("partner_oin", school_oin),
                ("username", "p.jansen"),
                ("email", "p.jansen@school.example"),
                ("password", "een-lang-wachtwoord"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let users = admin.get("/beheer/gebruikers").await;
    assert!(users.body.contains("p.jansen"));

    // The new professional logs in, locks themselves out, and the administrator resets it.
    let jansen = WebClient::new(&t, "drenthe");
    assert_eq!(
        jansen.login("p.jansen", "een-lang-wachtwoord").await.status,
        StatusCode::SEE_OTHER
    );
    let locked_out = WebClient::new(&t, "drenthe");
    for _ in 0..5 {
        locked_out.login("p.jansen", "verkeerd-wachtwoord").await;
    }
    assert_eq!(
        locked_out
            .login("p.jansen", "een-lang-wachtwoord")
            .await
            .status,
        StatusCode::LOCKED
    );
    let users = admin.get("/beheer/gebruikers").await;
    assert!(users.body.contains("geblokkeerd"));
    let id_start = users
        .body
        .find("p.jansen")
        .and_then(|at| users.body[at..].find("/beheer/gebruikers/").map(|i| at + i))
        .expect("reset form of p.jansen")
        + "/beheer/gebruikers/".len();
    let id = &users.body[id_start..id_start + 36];
    let reset = admin
        .post_form(
            "/beheer/gebruikers",
            &format!("/beheer/gebruikers/{id}/wachtwoord"),
            &[("password", "nog-een-lang-wachtwoord")],
        )
        .await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER, "{}", reset.body);
    // The reset ended the old session and lifted the lock.
    assert_eq!(jansen.get("/signalen").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        locked_out
            .login("p.jansen", "nog-een-lang-wachtwoord")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
    t.shutdown().await;
}

/// The policy reports in the UI (003 art. 25; 004 §15): the administrator's page shows the
/// same tables as `AdminPolicyReport`, small cells hidden as "x", each table as a CSV download;
/// a professional has no access.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_administrator_sees_policy_reports_with_small_cells_hidden_and_downloads_csv() {
    let t = web_fed().await;
    let youths = t.unrelated_youths();
    let mut school = t.node_client("drenthe/school");
    // Three signals by one organisation: a cell of 3, below the threshold of 5.
    for youth in youths.iter().take(3) {
        school
            .create_signal(signal_request(&youth.bsn.to_string(), "Jan de Vries"))
            .await
            .unwrap();
    }
    let mut api = t.node_client("drenthe/beheer");
    let report = api
        .admin_policy_report(pb::PolicyReportRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(!report.tables.is_empty());
    let hidden = report.tables.iter().any(|table| {
        table.rows.iter().any(|row| {
            row.cells
                .iter()
                .any(|c| matches!(c.cell, Some(pb::report_cell::Cell::Suppressed(_))))
        })
    });
    assert!(hidden, "a cell of 3 must be suppressed");

    let admin = WebClient::new(&t, "drenthe");
    admin
        .login("drenthe-beheer", &dev_password(&t, "drenthe-beheer"))
        .await;
    let page = admin.get("/beheer/rapportage").await;
    assert_eq!(page.status, StatusCode::OK);
    for table in &report.tables {
        assert!(page.body.contains(&table.title), "{} missing", table.title);
        assert!(page
            .body
            .contains(&format!("/beheer/rapportage/{}.csv", table.id)));
    }
    assert!(
        page.body.contains("<td>x</td>"),
        "the hidden cell is shown as x"
    );
    assert!(page.body.contains("data:image/svg+xml;base64,"), "charts");

    let table = &report.tables[0];
    let csv = admin
        .get(&format!("/beheer/rapportage/{}.csv", table.id))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv
        .content_type
        .as_deref()
        .is_some_and(|v| v.starts_with("text/csv")));
    assert_eq!(csv.body, table.csv);
    assert_eq!(
        admin
            .get("/beheer/rapportage/geen-rapport.csv")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Not a valid date: refused with the field named, nothing made.
    let bad = admin.get("/beheer/rapportage?van=gisteren").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let professional = WebClient::new(&t, "drenthe");
    professional
        .login("drenthe-school", &dev_password(&t, "drenthe-school"))
        .await;
    assert_eq!(
        professional.get("/beheer/rapportage").await.status,
        StatusCode::FORBIDDEN
    );
}
