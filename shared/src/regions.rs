//! The three regions of the first federation and their municipalities by CBS code
//! (domain.md "Municipalities (CBS gemeentecodes) per region"). Further regions come from
//! configuration; these are the defaults the development federation and examples use.

/// A region as shipped: its code, display name, and municipalities (CBS code, name).
pub struct KnownRegion {
    pub code: &'static str,
    pub name: &'static str,
    pub municipalities: &'static [(&'static str, &'static str)],
}

pub const DRENTHE: KnownRegion = KnownRegion {
    code: "drenthe",
    name: "Drenthe",
    municipalities: &[
        ("1680", "Aa en Hunze"),
        ("0106", "Assen"),
        ("1681", "Borger-Odoorn"),
        ("0109", "Coevorden"),
        ("0114", "Emmen"),
        ("0118", "Hoogeveen"),
        ("0119", "Meppel"),
        ("1731", "Midden-Drenthe"),
        ("1699", "Noordenveld"),
        ("1730", "Tynaarlo"),
        ("1701", "Westerveld"),
        ("1690", "De Wolden"),
    ],
};

pub const ZUID_LIMBURG: KnownRegion = KnownRegion {
    code: "zuid-limburg",
    name: "Zuid-Limburg",
    municipalities: &[
        ("0888", "Beek"),
        ("1954", "Beekdaelen"),
        ("0899", "Brunssum"),
        ("1903", "Eijsden-Margraten"),
        ("1729", "Gulpen-Wittem"),
        ("0917", "Heerlen"),
        ("0928", "Kerkrade"),
        ("0882", "Landgraaf"),
        ("0935", "Maastricht"),
        ("0938", "Meerssen"),
        ("0965", "Simpelveld"),
        ("1883", "Sittard-Geleen"),
        ("0971", "Stein"),
        ("0981", "Vaals"),
        ("0994", "Valkenburg aan de Geul"),
        ("0986", "Voerendaal"),
    ],
};

pub const HOEKSCHE_WAARD: KnownRegion = KnownRegion {
    code: "hoeksche-waard",
    name: "Hoeksche Waard",
    municipalities: &[("1963", "Hoeksche Waard")],
};

pub const ALL: [&KnownRegion; 3] = [&DRENTHE, &ZUID_LIMBURG, &HOEKSCHE_WAARD];

/// The shipped region that serves a municipality, if any.
pub fn region_of_municipality(code: &str) -> Option<&'static KnownRegion> {
    ALL.into_iter()
        .find(|r| r.municipalities.iter().any(|(c, _)| *c == code))
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_match_the_brief() {
        assert_eq!(super::DRENTHE.municipalities.len(), 12);
        assert_eq!(super::ZUID_LIMBURG.municipalities.len(), 16);
        assert_eq!(
            super::region_of_municipality("0935").unwrap().code,
            "zuid-limburg"
        );
    }
}
