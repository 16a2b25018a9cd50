//! Working days: weekends and Dutch public holidays do not count (003 art. 10.1 "vijf
//! werkdagen"; 002 art. 10.1). The holidays are those of the Algemene termijnenwet art. 3:
//! Nieuwjaarsdag, Tweede Paasdag, Koningsdag, 5 mei, Hemelvaartsdag, Tweede Pinksterdag and both
//! Christmas days. Easter is computed with the anonymous Gregorian algorithm. Good Friday is
//! not in that law; a region may count it as a holiday (`consultation.good_friday`).

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// Easter Sunday of `year` in the Gregorian calendar (anonymous Gregorian algorithm, also
/// known as Meeus/Jones/Butcher). Valid for every year the calendar has existed.
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    // month is 3 or 4 and day 1..=31 by construction; the fallback is never taken.
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).unwrap_or(NaiveDate::MIN)
}

/// The day the King's (or Queen's) birthday is celebrated: 27 April since 2014, 30 April
/// before; on a Sunday it moves to the Saturday before.
fn kings_day(year: i32) -> Option<NaiveDate> {
    let day = if year >= 2014 { 27 } else { 30 };
    let date = NaiveDate::from_ymd_opt(year, 4, day)?;
    Some(if date.weekday() == Weekday::Sun {
        date - Duration::days(1)
    } else {
        date
    })
}

/// The working-day calendar of a region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calendar {
    /// Count Good Friday as a holiday (not in the Algemene termijnenwet).
    pub good_friday: bool,
}

impl Calendar {
    /// A public holiday by the Algemene termijnenwet art. 3 (plus Good Friday if configured).
    pub fn is_public_holiday(&self, date: NaiveDate) -> bool {
        let (year, month, day) = (date.year(), date.month(), date.day());
        let fixed = matches!((month, day), (1, 1) | (5, 5) | (12, 25) | (12, 26));
        if fixed || kings_day(year) == Some(date) {
            return true;
        }
        let offset = (date - easter_sunday(year)).num_days();
        // Easter Monday +1, Ascension +39, Whit Monday +50; Good Friday -2.
        matches!(offset, 1 | 39 | 50) || (self.good_friday && offset == -2)
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !self.is_public_holiday(date)
    }

    /// The `n`-th working day after `from` (`from` itself does not count): a term of `n`
    /// working days that starts on `from` ends at the end of this day. `n = 0` gives `from`.
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> NaiveDate {
        let mut date = from;
        let mut left = n;
        while left > 0 {
            date = date.succ_opt().unwrap_or(NaiveDate::MAX);
            if date == NaiveDate::MAX {
                return date;
            }
            if self.is_working_day(date) {
                left -= 1;
            }
        }
        date
    }

    /// The first working day after `date`.
    pub fn next_working_day(&self, date: NaiveDate) -> NaiveDate {
        self.add_working_days(date, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn easter_dates_match_the_published_tables() {
        for (year, month, day) in [
            (1961, 4, 2),
            (2000, 4, 23),
            (2008, 3, 23),
            (2011, 4, 24),
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2028, 4, 16),
            (2038, 4, 25),
            (2285, 3, 22),
        ] {
            assert_eq!(easter_sunday(year), d(year, month, day), "{year}");
        }
    }

    #[test]
    fn dutch_public_holidays_2026() {
        let cal = Calendar::default();
        for holiday in [
            d(2026, 1, 1),
            d(2026, 4, 6),  // Tweede Paasdag
            d(2026, 4, 27), // Koningsdag (a Monday)
            d(2026, 5, 5),
            d(2026, 5, 14), // Hemelvaartsdag
            d(2026, 5, 25), // Tweede Pinksterdag
            d(2026, 12, 25),
            d(2026, 12, 26),
        ] {
            assert!(cal.is_public_holiday(holiday), "{holiday}");
        }
        assert!(!cal.is_public_holiday(d(2026, 4, 3)), "Good Friday");
        assert!(Calendar { good_friday: true }.is_public_holiday(d(2026, 4, 3)));
        // Koningsdag 2025 fell on a Sunday: celebrated on Saturday 26 April.
        assert!(cal.is_public_holiday(d(2025, 4, 26)));
        assert!(!cal.is_public_holiday(d(2025, 4, 27)));
        assert!(cal.is_public_holiday(d(2013, 4, 30)));
    }

    /// 003 art. 10.1: five working days over Easter skip the weekend and Easter Monday.
    #[test]
    fn five_working_days_over_easter_art_10_1() {
        let cal = Calendar::default();
        // Wednesday 1 April 2026: Thu 2, Fri 3, (Sat, Sun, Easter Monday), Tue 7, Wed 8, Thu 9.
        assert_eq!(cal.add_working_days(d(2026, 4, 1), 5), d(2026, 4, 9));
        assert_eq!(cal.next_working_day(d(2026, 4, 9)), d(2026, 4, 10));
        // From a Friday: the next working day is Tuesday after Easter Monday.
        assert_eq!(cal.next_working_day(d(2026, 4, 3)), d(2026, 4, 7));
        assert_eq!(cal.add_working_days(d(2026, 4, 1), 0), d(2026, 4, 1));
        // 10 working days (002 art. 10.1) across Koningsdag and 5 May 2026.
        assert_eq!(cal.add_working_days(d(2026, 4, 24), 10), d(2026, 5, 12));
    }
}
