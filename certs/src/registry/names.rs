//! Reference lists for the synthetic registry: Dutch given names, surnames, streets, and a
//! postcode range per municipality (approximate, but in the right part of the country).

/// Given names common for people born since 2000.
pub(super) const CHILD_NAMES_MALE: &[&str] = &[
    "Daan", "Sem", "Noah", "Lucas", "Levi", "Finn", "Milan", "Bram", "Jesse", "Thijs", "Luuk",
    "Ruben", "Sven", "Stijn", "Tim", "Lars", "Jayden", "Mees", "Teun", "Gijs", "Julian", "Max",
    "Thomas", "Sam", "Mohammed", "Adam", "Liam", "Jens", "Hugo", "Siem",
];
pub(super) const CHILD_NAMES_FEMALE: &[&str] = &[
    "Emma", "Julia", "Mila", "Tess", "Sophie", "Zoë", "Sara", "Nora", "Yara", "Eva", "Liv",
    "Lotte", "Anna", "Evi", "Saar", "Noa", "Lisa", "Fleur", "Fenna", "Isa", "Sanne", "Lieke",
    "Roos", "Femke", "Nina", "Maud", "Jasmijn", "Amira", "Vera", "Ilse",
];

/// Given names common for people born 1970-2000.
pub(super) const ADULT_NAMES_MALE: &[&str] = &[
    "Jan", "Pieter", "Kees", "Mark", "Dennis", "Jeroen", "Martijn", "Erik", "Bas", "Michiel",
    "Sander", "Marco", "Patrick", "Richard", "Robert", "Johan", "Wouter", "Joost", "Niels",
    "Remco", "Bart", "Rick", "Ahmed", "Hendrik", "Willem", "Arjan", "Frank", "Maarten",
];
pub(super) const ADULT_NAMES_FEMALE: &[&str] = &[
    "Sandra",
    "Monique",
    "Linda",
    "Marieke",
    "Esther",
    "Petra",
    "Anouk",
    "Ingrid",
    "Wendy",
    "Mirjam",
    "Karin",
    "Ellen",
    "Saskia",
    "Nicole",
    "Annemarie",
    "Judith",
    "Manon",
    "Kim",
    "Iris",
    "Chantal",
    "Fatima",
    "Astrid",
    "Marloes",
    "Ilona",
    "Hanneke",
    "Yvonne",
];

/// Extra given names used as second names ("Johannes Petrus").
pub(super) const SECOND_NAMES_MALE: &[&str] = &[
    "Johannes",
    "Petrus",
    "Hendrikus",
    "Cornelis",
    "Willem",
    "Jacobus",
    "Antonius",
    "Gerardus",
];
pub(super) const SECOND_NAMES_FEMALE: &[&str] = &[
    "Maria",
    "Johanna",
    "Wilhelmina",
    "Cornelia",
    "Elisabeth",
    "Catharina",
    "Hendrika",
    "Anna",
];

/// (prefix, surname): the prefix is empty when there is none.
pub(super) const SURNAMES: &[(&str, &str)] = &[
    ("", "Jansen"),
    ("de", "Jong"),
    ("de", "Vries"),
    ("van den", "Berg"),
    ("van", "Dijk"),
    ("", "Bakker"),
    ("", "Janssen"),
    ("", "Visser"),
    ("", "Smit"),
    ("", "Meijer"),
    ("de", "Boer"),
    ("", "Mulder"),
    ("de", "Groot"),
    ("", "Bos"),
    ("", "Vos"),
    ("", "Peters"),
    ("", "Hendriks"),
    ("van", "Leeuwen"),
    ("", "Dekker"),
    ("", "Brouwer"),
    ("de", "Wit"),
    ("", "Dijkstra"),
    ("", "Smits"),
    ("de", "Graaf"),
    ("van der", "Meer"),
    ("van der", "Linden"),
    ("", "Kok"),
    ("", "Jacobs"),
    ("de", "Haan"),
    ("", "Vermeulen"),
    ("van den", "Heuvel"),
    ("van der", "Veen"),
    ("van den", "Broek"),
    ("de", "Bruijn"),
    ("", "Schouten"),
    ("", "Willems"),
    ("", "Hoekstra"),
    ("", "Koster"),
    ("", "Prins"),
    ("'t", "Hart"),
    ("'t", "Hooft"),
    ("in 't", "Veld"),
    ("van", "Beek"),
    ("", "Lubbers"),
    ("", "Hofstee"),
    ("", "Schmitz"),
    ("", "Coenen"),
    ("", "Huijts"),
    ("", "Claessens"),
    ("", "Ramdin"),
    ("", "Yilmaz"),
    ("", "El Amrani"),
];

pub(super) const STREETS: &[&str] = &[
    "Kerkstraat",
    "Dorpsstraat",
    "Molenweg",
    "Schoolstraat",
    "Julianastraat",
    "Beatrixlaan",
    "Wilhelminastraat",
    "Stationsweg",
    "Hoofdstraat",
    "Brink",
    "Esweg",
    "Markt",
    "Lindenlaan",
    "Eikenlaan",
    "Beukenlaan",
    "Prinses Irenestraat",
    "Oranjestraat",
    "Nieuwstraat",
    "Kastanjelaan",
    "Sportlaan",
    "Vondellaan",
    "Rembrandtstraat",
    "Burgemeester de Withstraat",
    "Veldweg",
    "Dijkstraat",
    "Parallelweg",
    "Akkerstraat",
    "Heidelaan",
    "Weverstraat",
    "Kloosterstraat",
];

/// Additions to a house number, as the BRP writes them.
pub(super) const ADDITIONS: &[&str] = &["A", "B", "C", "1", "2", "bis", "hs", "rd"];

/// Postcode digit range (inclusive) per CBS municipality code. Approximate, but each range lies
/// in the municipality's part of the country, so the addresses look plausible to a reader.
pub(super) const POSTCODE_RANGES: &[(&str, u16, u16)] = &[
    // Drenthe
    ("1680", 9450, 9469),
    ("0106", 9400, 9409),
    ("1681", 7880, 7889),
    ("0109", 7740, 7759),
    ("0114", 7811, 7849),
    ("0118", 7900, 7909),
    ("0119", 7940, 7949),
    ("1731", 9410, 9439),
    ("1699", 9300, 9339),
    ("1730", 9470, 9489),
    ("1701", 7970, 7991),
    ("1690", 7920, 7929),
    // Zuid-Limburg
    ("0888", 6190, 6191),
    ("1954", 6360, 6366),
    ("0899", 6440, 6447),
    ("1903", 6245, 6269),
    ("1729", 6270, 6289),
    ("0917", 6411, 6433),
    ("0928", 6460, 6469),
    ("0882", 6370, 6374),
    ("0935", 6211, 6229),
    ("0938", 6230, 6231),
    ("0965", 6350, 6352),
    ("1883", 6130, 6167),
    ("0971", 6170, 6171),
    ("0981", 6290, 6295),
    ("0994", 6300, 6325),
    ("0986", 6367, 6369),
    // Hoeksche Waard
    ("1963", 3260, 3299),
];

/// The postcode digit range of a municipality; a broad national range for one not listed.
pub(super) fn postcode_range(municipality: &str) -> (u16, u16) {
    POSTCODE_RANGES
        .iter()
        .find(|(code, _, _)| *code == municipality)
        .map_or((1000, 9999), |&(_, lo, hi)| (lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_municipality_has_a_postcode_range() {
        for region in vir_shared::regions::ALL {
            for (code, name) in region.municipalities {
                assert!(
                    POSTCODE_RANGES.iter().any(|(c, _, _)| c == code),
                    "{name} ({code}) has no postcode range"
                );
            }
        }
        for (code, lo, hi) in POSTCODE_RANGES {
            assert!(lo <= hi && *lo >= 1000, "{code}");
        }
    }

    #[test]
    fn surnames_use_lowercase_prefixes() {
        assert!(SURNAMES.iter().any(|(p, _)| *p == "van der"));
        assert!(SURNAMES.iter().any(|(p, _)| *p == "'t"));
        for (prefix, surname) in SURNAMES {
            assert_eq!(prefix.to_lowercase(), *prefix);
            assert!(!surname.is_empty());
        }
    }
}
