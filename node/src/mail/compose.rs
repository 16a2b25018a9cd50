//! What a mail says: per kind of notification a Dutch subject and a few sentences with one deep
//! link into the web UI, and nothing else. No name of a youth or a professional, no BSN, no
//! organisation, no concern:
//!
//! > "In deze mailberichten staan geen namen van jeugdigen genoemd maar er staat een deeplink
//! > (een hyperlink die linkt naar de website ZVJ) zodat de hulpverlener direct naar het
//! > systeem ZVJ en de betreffende jeugdige gaat." (004 §11)
//!
//! > "Melders ontvangen een bericht via de mailfunctie. In het e-mailbericht wordt niet de naam
//! > van een jeugdige en professionals genoemd. Met behulp van een deeplink kan gegaan worden
//! > naar het systeem ZVJ." (004 §13)
//!
//! This is the mail hook: [`for_notice`] decides per notice topic (the text stored in
//! `notices.topic`) whether and how it is mailed; a topic it does not know yet (a kind added
//! later, such as a move) is mailed with a generic text, so no kind is silently dropped.

/// The text of one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailText {
    pub subject: String,
    pub body: String,
}

const FOOTER: &str = "Log in om de gegevens te zien. In deze e-mail staan bewust geen namen \
of andere gegevens van de jeugdige of van professionals.\n\n-- \nVerwijsindex (automatisch \
bericht; antwoorden op deze e-mail worden niet gelezen)";

fn text(subject: &str, lead: &str, link: &str) -> MailText {
    MailText {
        subject: format!("Verwijsindex: {subject}"),
        body: format!("{lead}\n\n{link}\n\n{FOOTER}\n"),
    }
}

/// A join of `base` (no trailing slash needed) and `path`.
pub fn link(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// A match notification: a new match on one of the organisation's signals.
pub fn for_match(base: &str, match_id: &str) -> MailText {
    text(
        "nieuwe match op een signaal van uw organisatie",
        "Er is een nieuwe match: een andere professional is betrokken bij een jeugdige bij wie \
         uw organisatie een signaal heeft afgegeven. Bekijk de match en neem contact op:",
        &link(base, &format!("/matches/{match_id}")),
    )
}

/// A notice, by its stored topic; `None` for topics that only accompany a match mail (the
/// match page shows them) and would otherwise double every match mail.
pub fn for_notice(base: &str, topic: &str, match_id: &str) -> Option<MailText> {
    let to_match = |lead: &str, subject: &str| {
        let path = if match_id.is_empty() {
            "/berichten".to_owned()
        } else {
            format!("/matches/{match_id}")
        };
        Some(text(subject, lead, &link(base, &path)))
    };
    let to_messages =
        |lead: &str, subject: &str| Some(text(subject, lead, &link(base, "/berichten")));
    let to_deadlines =
        |lead: &str, subject: &str| Some(text(subject, lead, &link(base, "/beheer/termijnen")));
    match topic {
        // Shown with the match the match mail links to.
        "consultation_requested" | "informing_required" | "regie" | "archived_signals" => None,
        "renewal_due" => to_messages(
            "Een signaal van uw organisatie loopt binnenkort af. Verleng het als de zorg blijft:",
            "herinnering: signaal loopt af",
        ),
        "deadline_missed" => to_match(
            "De termijn voor overleg tussen de melders van een match is verstreken. U bent als \
             coördinator ingelicht:",
            "termijn voor overleg verstreken",
        ),
        "party_left" => to_match(
            "Een andere betrokkene bij een match van uw organisatie is gestopt:",
            "wijziging in een match",
        ),
        "signal_corrected" | "signal_removed" => to_messages(
            "Een signaal waarmee uw organisatie een match had, is gecorrigeerd of verwijderd:",
            "wijziging in een match",
        ),
        "signal_destroyed" => to_messages(
            "Een signaal van uw organisatie is vernietigd:",
            "signaal vernietigd",
        ),
        "destruction_requested" | "signallers_to_inform" => to_deadlines(
            "Er is een nieuwe taak voor de beheerder:",
            "nieuwe beheertaak",
        ),
        "objection_decision_due" => to_deadlines(
            "Er is een bezwaar waarop binnen de termijn beslist moet worden:",
            "beslistermijn bezwaar",
        ),
        _ => to_messages(
            "Er is een nieuw bericht voor uw organisatie in de Verwijsindex:",
            "nieuw bericht",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mail_has_one_deep_link_and_no_identifying_field() {
        let m = for_match("https://vir.example/", "m-1");
        assert!(m.body.contains("https://vir.example/matches/m-1"));
        assert_eq!(m.body.matches("https://").count(), 1);
        let unknown = for_notice("https://vir.example", "moved_out", "").expect("mailed");
        assert!(unknown.body.contains("https://vir.example/berichten"));
        assert!(for_notice("https://vir.example", "consultation_requested", "m").is_none());
        let due = for_notice("https://vir.example", "renewal_due", "").expect("mailed");
        assert!(due.subject.contains("loopt af"));
    }
}
