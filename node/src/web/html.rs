//! The page layout, shared bits of HTML and the Dutch labels of the UI. maud escapes every
//! interpolated value, so nothing from a form or the database is ever HTML.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use vir_proto as pb;

use super::session::Session;

pub const STYLESHEET: &str = include_str!("stijl.css");

/// A whole page for a logged-in account: navigation by role, then `body`.
pub fn page(session: &Session, title: &str, body: Markup) -> Markup {
    let admin = session.is_admin();
    html! {
        (DOCTYPE)
        html lang="nl" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Verwijsindex" }
                link rel="stylesheet" href="/static/stijl.css";
            }
            body {
                header {
                    span.merk { "Verwijsindex" }
                    nav {
                        @if admin {
                            a href="/beheer" { "Overzicht" }
                            a href="/beheer/gebruikers" { "Gebruikers" }
                            a href="/beheer/partners" { "Partners" }
                            a href="/beheer/kandidaten" { "Kandidaat-matches" }
                            a href="/beheer/termijnen" { "Termijnen" }
                            a href="/beheer/inzage" { "Inzage" }
                            a href="/beheer/bezwaar" { "Bezwaar" }
                            a href="/beheer/rapportage" { "Rapportage" }
                            a href="/berichten" { "Berichten" }
                        } @else {
                            a href="/signalen" { "Signalen" }
                            a href="/matches" { "Matches" }
                            a href="/berichten" { "Berichten" }
                        }
                    }
                    form.uitloggen method="post" action="/uitloggen" {
                        (csrf_field(session))
                        span.wie { (session.account.username) }
                        button type="submit" { "Uitloggen" }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page without navigation (login, refusals before a session exists).
pub fn bare_page(title: &str, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="nl" {
            head {
                meta charset="utf-8";
                title { (title) " — Verwijsindex" }
                link rel="stylesheet" href="/static/stijl.css";
            }
            body { main { h1 { (title) } p { (message) } p { a href="/" { "Naar de start" } } } }
        }
    }
}

pub fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

pub fn ok(markup: Markup) -> Response {
    respond(StatusCode::OK, markup)
}

/// An error inside the layout: `message` in Dutch.
pub fn error_page(status: StatusCode, session: &Session, message: &str) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => "Niet gevonden",
        StatusCode::FORBIDDEN => "Geen toegang",
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "Onjuiste invoer",
        StatusCode::CONFLICT => "Niet mogelijk",
        _ => "Er ging iets mis",
    };
    respond(
        status,
        page(session, title, html! { p.fout role="alert" { (message) } }),
    )
}

pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name=(super::csrf::FIELD) value=(session.csrf); }
}

/// A message box above a page's content: an error (with the field it is about) or a success.
pub fn flash(error: Option<&str>, done: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { p.fout role="alert" { (e) } }
        @if let Some(d) = done { p.gelukt role="status" { (d) } }
    }
}

/// Percent-encodes a value for a query string.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn match_kind(kind: i32) -> &'static str {
    match pb::MatchKind::try_from(kind).unwrap_or(pb::MatchKind::Unspecified) {
        pb::MatchKind::Client => "zelfde jeugdige",
        pb::MatchKind::Family => "gezin",
        pb::MatchKind::Address => "zelfde adres",
        pb::MatchKind::Candidate => "kandidaat (bevestigd)",
        _ => "match",
    }
}

pub fn signal_status(status: i32) -> &'static str {
    match pb::SignalStatus::try_from(status).unwrap_or(pb::SignalStatus::Unspecified) {
        pb::SignalStatus::Active => "actief",
        pb::SignalStatus::Inactive => "ingetrokken",
        pb::SignalStatus::Expired => "verlopen",
        _ => "onbekend",
    }
}

pub fn addressee(a: i32) -> &'static str {
    match pb::Addressee::try_from(a).unwrap_or(pb::Addressee::Unspecified) {
        pb::Addressee::Parents => "ouders",
        pb::Addressee::ParentsAndYouth => "ouders en jeugdige",
        pb::Addressee::Youth => "jeugdige",
        _ => "—",
    }
}

pub fn notice_topic(topic: i32) -> &'static str {
    use pb::NoticeTopic as T;
    match T::try_from(topic).unwrap_or(T::Unspecified) {
        T::ConsultationRequested => "Overleg met de andere melders",
        T::InformingRequired => "Informeren vastleggen",
        T::Regie => "Regie (zorgcoördinatie)",
        T::DeadlineMissed => "Termijn voor overleg verstreken",
        T::RenewalDue => "Signaal loopt af: verlengen?",
        T::ArchivedSignals => "Eerdere signalen van anderen",
        T::PartyLeft => "Een melder is gestopt",
        T::SignalCorrected => "Signaal gecorrigeerd",
        T::SignalRemoved => "Signaal verwijderd",
        T::SignalDestroyed => "Uw signaal is vernietigd",
        T::DestructionRequested => "Verzoek tot vernietiging",
        T::ObjectionDecisionDue => "Beslissing op bezwaar",
        T::SignallersToInform => "Melders informeren over overlijden",
        // Kinds added later (such as verhuizing) still show, generically.
        _ => "Bericht",
    }
}

pub fn category(category: &str) -> &str {
    match category {
        "social_work" => "maatschappelijk werk",
        "jgz" => "jeugdgezondheidszorg",
        "school" => "onderwijs",
        "police" => "politie",
        "youth_care" => "jeugdhulp",
        "other" => "overig",
        other => other,
    }
}

/// A party of a match: organisation, category, region and the signaller's contact details.
pub fn party(p: &pb::MatchParty) -> Markup {
    html! {
        div.partij {
            strong { (p.organisation) } " (" (category(&p.category)) ", regio " (p.region) ")"
            @if p.contact_pending {
                br; em { "Contactgegevens volgen zodra de andere regio ze stuurt." }
            } @else if let Some(c) = &p.signaller {
                br; "Contact: " (c.name)
                @if !c.phone.is_empty() { ", tel. " (c.phone) }
                @if !c.email.is_empty() { ", " a href={ "mailto:" (c.email) } { (c.email) } }
            }
            @if !p.signalled_on.is_empty() { br; "Gesignaleerd op " (p.signalled_on) }
        }
    }
}
