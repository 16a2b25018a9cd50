//! Policy reports of the region (003 art. 25; 004 §15): counts that can never be traced to a
//! youth or a professional.

/// Cells below this count are suppressed unless the configuration says otherwise.
pub fn default_threshold() -> u64 {
    5
}
