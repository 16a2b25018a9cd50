//! The inputs of the `address` and `fallback` key domains (ARCHITECTURE.md "Pseudonymisation"),
//! normalised so that the same person or address written differently gives the same key.
//!
//! Fallback (002 art. 8.5-8.7; Jeugdwet: verwijsindexservicenummer): a youth without a usable
//! BSN is matched on surname, birth date and gender. Signallers write Dutch surnames in many
//! ways ("Van der Berg", "Berg, van der", "v.d. Berg", "Bérg"), so the surname is folded to
//! lower-case ASCII (diacritics dropped), split into words, and the prefixes ("van", "der",
//! "de", "'t", …) are dropped wherever they stand. What remains is joined without spaces.
//! Such keys only make CANDIDATE matches: a person (the regional administrator) confirms.
//!
//! Address (002 art. 1 "Match" 2b; Jeugdwet 7.1.2.3 d): postcode, house number and addition,
//! upper-case without spaces or punctuation.
//!
//! These functions produce the OPRF input bytes; the node never sends them anywhere but blinded
//! to the pseudonymiser.

use chrono::NaiveDate;
use unicode_normalization::UnicodeNormalization;

use crate::person::{Gender, Person};
use crate::Postcode;

/// Dutch surname prefixes (voorvoegsels) and their common abbreviations, after folding.
/// "s" and "t" are what remains of "'s" and "'t" once the apostrophe splits the word.
const PREFIXES: &[&str] = &[
    "van", "von", "vander", "vanden", "vd", "v", "der", "den", "de", "del", "della", "di", "da",
    "do", "dos", "das", "du", "d", "het", "t", "s", "te", "ter", "ten", "in", "op", "aan", "bij",
    "onder", "over", "uit", "voor", "la", "le", "les", "l", "zu", "zum", "am", "auf", "af",
];

/// Folds text to lower-case ASCII letters and digits; every other character becomes a space
/// (a word break).
fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfkd() {
        match c {
            'a'..='z' | '0'..='9' => out.push(c),
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            // Combining marks left by the decomposition: the diacritics themselves.
            '\u{0300}'..='\u{036f}' => {}
            'ß' => out.push_str("ss"),
            'æ' | 'Æ' => out.push_str("ae"),
            'œ' | 'Œ' => out.push_str("oe"),
            'ø' | 'Ø' => out.push('o'),
            'ł' | 'Ł' => out.push('l'),
            'đ' | 'Đ' => out.push('d'),
            'ı' => out.push('i'),
            'þ' | 'Þ' => out.push_str("th"),
            _ => out.push(' '),
        }
    }
    out
}

/// The normalised surname: "Van der Berg", "Berg, van der", "v.d. Berg" and "berg" all give
/// "berg". A surname made only of prefixes ("Van") keeps them, so it never becomes empty.
pub fn normalise_surname(surname: &str) -> String {
    let folded = fold(surname);
    let words: Vec<&str> = folded.split_whitespace().collect();
    let kept: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !PREFIXES.contains(w))
        .collect();
    if kept.is_empty() {
        words.concat()
    } else {
        kept.concat()
    }
}

/// A given name folded the same way (first word only): for the administrator's comparison and
/// the registry search, never part of a key.
pub fn normalise_given_name(given: &str) -> String {
    fold(given)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The gender as written in the sources: V (vrouw), M (man), O (onbekend).
pub fn gender_code(gender: Gender) -> &'static str {
    match gender {
        Gender::Female => "V",
        Gender::Male => "M",
        Gender::Unknown => "O",
    }
}

/// Reads a gender as a signaller writes it: V/F/vrouw/female, M/man/male, O/X/U/onbekend.
pub fn parse_gender(text: &str) -> Option<Gender> {
    match text.trim().to_lowercase().as_str() {
        "v" | "f" | "vrouw" | "female" => Some(Gender::Female),
        "m" | "man" | "male" => Some(Gender::Male),
        "o" | "x" | "u" | "onbekend" | "unknown" => Some(Gender::Unknown),
        _ => None,
    }
}

/// The fallback-domain input: `SURNAME|YYYY-MM-DD|G` with the normalised surname.
pub fn fallback_input(surname: &str, birth_date: NaiveDate, gender: Gender) -> String {
    format!(
        "{}|{}|{}",
        normalise_surname(surname),
        birth_date.format("%Y-%m-%d"),
        gender_code(gender)
    )
}

/// The fallback-domain input of a person in the registry (prefix and surname together).
pub fn fallback_input_of(person: &Person) -> String {
    let surname = format!("{} {}", person.surname_prefix, person.surname);
    fallback_input(&surname, person.birth_date, person.gender)
}

/// The address-domain input: `POSTCODE|HOUSENUMBER|ADDITION`, the addition upper-case with
/// only letters and digits ("2-a", "2 A" and "2a" are one address).
pub fn address_input(postcode: &Postcode, house_number: u32, addition: Option<&str>) -> String {
    let addition: String = addition
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_uppercase();
    format!("{}|{}|{}", postcode.as_str(), house_number, addition)
}

/// The address-domain input of a person's registry address.
pub fn address_input_of(person: &Person) -> String {
    address_input(
        &person.address.postcode,
        person.address.house_number,
        person.address.addition.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_issue_example_gives_one_key() {
        let a = fallback_input("Van der Berg", date("2012-03-04"), Gender::Female);
        let b = fallback_input("Berg, van der", date("2012-03-04"), Gender::Female);
        assert_eq!(a, b);
        assert_eq!(a, "berg|2012-03-04|V");
        assert_eq!(normalise_given_name("Anna"), normalise_given_name("anna"));
    }

    #[test]
    fn case_diacritics_spaces_and_prefixes_are_normalised() {
        for written in [
            "van der berg",
            "VAN DER BERG",
            "Berg",
            "  Berg ",
            "v.d. Berg",
            "vd Berg",
            "Bërg",
            "Berg, v.d.",
        ] {
            assert_eq!(normalise_surname(written), "berg", "{written}");
        }
        assert_eq!(normalise_surname("'t Hart"), "hart");
        assert_eq!(normalise_surname("Hart, 't"), "hart");
        assert_eq!(normalise_surname("de Vries"), "vries");
        assert_eq!(normalise_surname("Vries, de"), "vries");
        assert_eq!(normalise_surname("d'Ancona"), "ancona");
        assert_eq!(normalise_surname("Çelik"), "celik");
        assert_eq!(normalise_surname("Jansen-de Vries"), "jansenvries");
        assert_eq!(normalise_surname("Jansen - De Vries"), "jansenvries");
        assert_eq!(normalise_surname("Ĳzerman"), "ijzerman");
        assert_eq!(normalise_surname("Strauß"), "strauss");
        // Different people stay different.
        assert_ne!(normalise_surname("Berg"), normalise_surname("Bergh"));
        assert_ne!(normalise_surname("van Dam"), normalise_surname("Damme"));
    }

    #[test]
    fn a_surname_of_prefixes_only_is_kept() {
        assert_eq!(normalise_surname("Van"), "van");
        assert_eq!(normalise_surname("De"), "de");
        assert_eq!(normalise_surname(""), "");
    }

    #[test]
    fn gender_and_date_are_part_of_the_key() {
        let f = fallback_input("Berg", date("2012-03-04"), Gender::Female);
        assert_ne!(f, fallback_input("Berg", date("2012-03-04"), Gender::Male));
        assert_ne!(
            f,
            fallback_input("Berg", date("2012-03-05"), Gender::Female)
        );
        assert_eq!(parse_gender("V"), Some(Gender::Female));
        assert_eq!(parse_gender("f"), Some(Gender::Female));
        assert_eq!(parse_gender("M"), Some(Gender::Male));
        assert_eq!(parse_gender("X"), Some(Gender::Unknown));
        assert_eq!(parse_gender("?"), None);
    }

    #[test]
    fn addresses_normalise_postcode_and_addition() {
        let pc: Postcode = "9401 ab".parse().unwrap();
        assert_eq!(address_input(&pc, 12, Some("2-a")), "9401AB|12|2A");
        assert_eq!(
            address_input(&pc, 12, Some(" 2 A")),
            address_input(&pc, 12, Some("2a"))
        );
        assert_eq!(address_input(&pc, 12, None), "9401AB|12|");
        assert_ne!(
            address_input(&pc, 12, None),
            address_input(&pc, 12, Some("A"))
        );
    }
}
