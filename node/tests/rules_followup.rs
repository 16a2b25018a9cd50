//! After a match, on every backend: who coordinates (003 Bijlage 2; 004 §5; 002 art. 14), the
//! consultation deadline in working days and its escalation (003 art. 10.1, 13; 002 art. 10.1),
//! and the informing duty (003 art. 9).

mod common;

use common::*;
use vir_node::config::Category;
use vir_node::informing::InformingRecord;
use vir_node::rules::regie::Basis;
use vir_node::rules::{
    Addressee, Coordinator, RegieFallback, RegieMode, RegieRules, RuleError, RulesConfig,
    SignalOptions,
};
use vir_node::store::notices::Topic;

fn hoeksche_waard(cjg: &vir_node::config::Partner) -> RulesConfig {
    let mut rules = RulesConfig::default();
    rules.signals.urgency_codes = true;
    rules.signals.chain_registration = true;
    rules.regie = RegieRules {
        mode: RegieMode::Proposal,
        categories: vec![Category::YouthCare],
        fallback: RegieFallback::Coordinator,
    };
    rules.coordinators = vec![Coordinator {
        oin: cjg.oin.clone(),
        municipalities: vec![],
    }];
    rules
}

/// 003 Bijlage 2: Maatschappelijk Werk among the signallers has regie over JGZ; until then JGZ
/// does; the proposal binds at first and the signallers may change it.
#[tokio::test]
async fn drenthe_regie_picks_social_work_over_jgz_bijlage_2() {
    for_each_backend("rules_regie_drenthe", |url| async move {
        let youth = bsn(41_000_000);
        let (school, jgz, mw) = (
            partner(1, Category::School),
            partner(2, Category::Jgz),
            partner(3, Category::SocialWork),
        );
        let f = fixture(
            &url,
            at(2026, 5, 11, 9, 0),
            RulesConfig::default(),
            &[school.clone(), jgz.clone(), mw.clone()],
            vec![person(&youth, day(2014, 1, 1))],
        )
        .await;
        f.index
            .create_signal(&school, new_signal(&youth, "School"))
            .await
            .unwrap();
        f.index
            .create_signal(&jgz, new_signal(&youth, "JGZ"))
            .await
            .unwrap();
        f.index.process_followups().await.unwrap();
        let regie = |p| {
            let index = f.index.clone();
            async move {
                index.follow_ups(&p).await.unwrap()[0]
                    .regie
                    .clone()
                    .unwrap()
            }
        };
        let r = regie(school.clone()).await;
        assert_eq!(
            (r.coordinator_oin.as_str(), r.basis),
            (jgz.oin.as_str(), Basis::Proposal)
        );

        f.index
            .create_signal(&mw, new_signal(&youth, "MW"))
            .await
            .unwrap();
        f.index.process_followups().await.unwrap();
        let r = regie(school.clone()).await;
        assert_eq!(r.coordinator_oin, mw.oin.as_str(), "social work over JGZ");
        let told = notices_of(&f.index, &school, Topic::Regie).await;
        assert_eq!(told.len(), 2, "told of the proposal and of the change");
        assert_eq!(told[1].parties[0].organisation, mw.organisation);

        // The signallers change it; the choice stands.
        let match_id = f.index.follow_ups(&school).await.unwrap()[0]
            .match_id
            .clone();
        f.index
            .set_regie(&school, &match_id, jgz.oin.as_str())
            .await
            .unwrap();
        f.index.process_followups().await.unwrap();
        let r = regie(mw.clone()).await;
        assert_eq!(
            (r.coordinator_oin.as_str(), r.basis),
            (jgz.oin.as_str(), Basis::Chosen)
        );
        let err = f
            .index
            .set_regie(&school, &match_id, "00000099999999999999")
            .await
            .unwrap_err();
        assert!(
            matches!(err, RuleError::Invalid(_)),
            "only a party of the match: {err:?}"
        );
    })
    .await;
}

/// 004 §5, §12: an urgent Hoeksche Waard signal gets coordination at once, even without a
/// match: Bureau Jeugdzorg if involved, else the CJG's regisseur.
#[tokio::test]
async fn urgent_hoeksche_waard_signal_gets_a_coordinator_without_a_match_par_5() {
    for_each_backend("rules_regie_urgent", |url| async move {
        let (calm, urgent) = (bsn(41_000_100), bsn(41_000_200));
        let (school, cjg) = (partner(1, Category::School), partner(2, Category::Jgz));
        let f = fixture(
            &url,
            at(2026, 5, 11, 9, 0),
            hoeksche_waard(&cjg),
            &[school.clone(), cjg.clone()],
            vec![
                person(&calm, day(2014, 1, 1)),
                person(&urgent, day(2014, 1, 1)),
            ],
        )
        .await;
        let laag = SignalOptions::from_request(0, false, &f.index.rules.config.signals).unwrap();
        assert_eq!(
            laag.urgency, 1,
            "without a code a Hoeksche Waard signal is laag"
        );
        f.index
            .create_signal_with(&school, new_signal(&calm, "Calm"), laag)
            .await
            .unwrap();
        let two = SignalOptions::from_request(2, false, &f.index.rules.config.signals).unwrap();
        f.index
            .create_signal_with(&school, new_signal(&urgent, "Urgent"), two)
            .await
            .unwrap();
        f.index.process_followups().await.unwrap();

        let regie = notices_of(&f.index, &cjg, Topic::Regie).await;
        assert_eq!(
            regie.len(),
            1,
            "only the urgent youth gets a coordinator, at once"
        );
        assert_eq!(regie[0].detail, Basis::Urgent.as_str());
        let told = notices_of(&f.index, &school, Topic::Regie).await;
        assert_eq!(told.len(), 1);
        assert_eq!(
            told[0].parties[0].oin,
            cjg.oin.as_str(),
            "the signaller learns who coordinates"
        );
        // Elsewhere urgency codes are refused.
        assert!(SignalOptions::from_request(2, false, &RulesConfig::default().signals).is_err());
    })
    .await;
}

/// 003 art. 10.1, 13: 5 working days from a match on Wednesday 1 April 2026 skip the weekend
/// and Easter Monday: due Thursday 9 April; the coordinator is alerted on Friday 10 April, not
/// before, and a signaller who recorded the consultation is not escalated.
#[tokio::test]
async fn missed_five_working_days_over_easter_escalates_on_the_right_day_art_10_1() {
    for_each_backend("rules_deadline", |url| async move {
        let youth = bsn(41_000_300);
        let (school, jgz, coordinator, admin) = (
            partner(1, Category::School),
            partner(2, Category::Jgz),
            partner(3, Category::Other),
            administrator(9),
        );
        let mut rules = RulesConfig::default();
        rules.coordinators = vec![vir_node::rules::Coordinator {
            oin: coordinator.oin.clone(),
            municipalities: vec![],
        }];
        let f = fixture(
            &url,
            at(2026, 4, 1, 10, 0),
            rules,
            &[
                school.clone(),
                jgz.clone(),
                coordinator.clone(),
                admin.clone(),
            ],
            vec![person(&youth, day(2014, 1, 1))],
        )
        .await;
        f.index
            .create_signal(&school, new_signal(&youth, "School"))
            .await
            .unwrap();
        f.index
            .create_signal(&jgz, new_signal(&youth, "JGZ"))
            .await
            .unwrap();
        f.index.process_followups().await.unwrap();
        let asked = notices_of(&f.index, &school, Topic::ConsultationRequested).await;
        assert_eq!(asked.len(), 1, "the system asks each signaller (001 Q7)");
        assert_eq!(asked[0].due_on, Some(day(2026, 4, 9)));
        let follow = f.index.follow_ups(&jgz).await.unwrap();
        let c = follow[0].consultation.clone().unwrap();
        assert_eq!(
            (c.due_on, c.escalate_on),
            (day(2026, 4, 9), day(2026, 4, 10))
        );
        // JGZ consults in time (on Tuesday after Easter); the school does not.
        go_to(&f, at(2026, 4, 6, 8, 0)).await;
        assert!(notices_of(&f.index, &coordinator, Topic::DeadlineMissed)
            .await
            .is_empty());
        go_to(&f, at(2026, 4, 7, 15, 0)).await;
        f.index
            .record_consultation(&jgz, &follow[0].match_id, None)
            .await
            .unwrap();

        for (when, expected) in [
            (at(2026, 4, 9, 23, 0), 0),
            (at(2026, 4, 10, 0, 0), 1),
            (at(2026, 4, 13, 8, 0), 1),
        ] {
            go_to(&f, when).await;
            let alerts = notices_of(&f.index, &coordinator, Topic::DeadlineMissed).await;
            assert_eq!(alerts.len(), expected, "on {when}");
        }
        let alert = &notices_of(&f.index, &coordinator, Topic::DeadlineMissed).await[0];
        assert_eq!(
            alert.parties[0].organisation, school.organisation,
            "names who missed it"
        );
        let overview = f.index.deadline_overview(&admin).await.unwrap();
        assert_eq!(
            overview.missed.len(),
            1,
            "the administrator's overview shows it"
        );
        assert!(overview.missed[0].0.escalated_ms.is_some());
    })
    .await;
}

/// 002 art. 10.1: Zuid-Limburg counts 10 working days (here across Koningsdag and 5 May).
#[tokio::test]
async fn zuid_limburg_ten_working_days_art_10_1() {
    for_each_backend("rules_deadline_zl", |url| async move {
        let youth = bsn(41_000_400);
        let (school, jgz) = (partner(1, Category::School), partner(2, Category::Jgz));
        let mut rules = RulesConfig::default();
        rules.consultation.working_days = 10;
        rules.regie.mode = RegieMode::Chosen;
        let f = fixture(
            &url,
            at(2026, 4, 24, 10, 0),
            rules,
            &[school.clone(), jgz.clone()],
            vec![person(&youth, day(2014, 1, 1))],
        )
        .await;
        f.index
            .create_signal(&school, new_signal(&youth, "School"))
            .await
            .unwrap();
        f.index
            .create_signal(&jgz, new_signal(&youth, "JGZ"))
            .await
            .unwrap();
        f.index.process_followups().await.unwrap();
        let v = &f.index.follow_ups(&school).await.unwrap()[0];
        assert_eq!(v.consultation.as_ref().unwrap().due_on, day(2026, 5, 12));
        let r = v.regie.as_ref().unwrap();
        assert_eq!(
            (r.coordinator_oin.as_str(), r.basis),
            ("", Basis::SignallersDecide),
            "002 art. 14.1: they choose"
        );
    })
    .await;
}

/// 003 art. 9: a match on a signal without an informing record prompts its signaller; the
/// record must fit the age band (9.2) or give a reason for postponing (9.3).
#[tokio::test]
async fn informing_is_prompted_at_the_match_and_follows_the_age_bands_art_9() {
    for_each_backend("rules_informing", |url| async move {
        let youth = bsn(41_000_500);
        let (school, jgz) = (partner(1, Category::School), partner(2, Category::Jgz));
        // 14 years old: parents and youth.
        let f = fixture(
            &url,
            at(2026, 5, 11, 9, 0),
            RulesConfig::default(),
            &[school.clone(), jgz.clone()],
            vec![person(&youth, day(2012, 1, 1))],
        )
        .await;
        let (a, _) = f
            .index
            .create_signal(&school, new_signal(&youth, "School"))
            .await
            .unwrap();
        let parents_only = InformingRecord {
            informed: Some(Addressee::Parents),
            ..Default::default()
        };
        let err = f
            .index
            .record_informing(&school, &a.id, parents_only)
            .await
            .unwrap_err();
        assert!(
            matches!(err, RuleError::Invalid(_)),
            "14: the youth too (003 art. 9.2)"
        );
        let both = InformingRecord {
            informed: Some(Addressee::ParentsAndYouth),
            informed_on: Some(day(2026, 5, 11)),
            ..Default::default()
        };
        f.index
            .record_informing(&school, &a.id, both)
            .await
            .unwrap();

        let (b, _) = f
            .index
            .create_signal(&jgz, new_signal(&youth, "JGZ"))
            .await
            .unwrap();
        f.index.process_followups().await.unwrap();
        assert!(
            notices_of(&f.index, &school, Topic::InformingRequired)
                .await
                .is_empty(),
            "informed already"
        );
        let prompt = notices_of(&f.index, &jgz, Topic::InformingRequired).await;
        assert_eq!(prompt.len(), 1);
        assert_eq!(prompt[0].detail, "parents_and_youth");
        let postponed = InformingRecord {
            postponed_reason: Some("safety of the youth".into()),
            ..Default::default()
        };
        f.index
            .record_informing(&jgz, &b.id, postponed)
            .await
            .unwrap();
        f.index.process_followups().await.unwrap();
        assert_eq!(
            notices_of(&f.index, &jgz, Topic::InformingRequired)
                .await
                .len(),
            1,
            "prompted once"
        );
    })
    .await;
}
