//! The one time format of sort keys.

use time::{OffsetDateTime, UtcOffset};

/// UTC RFC 3339 with exactly three fraction digits (`2026-11-28T10:00:00.000Z`): one width
/// for every instant, so that string order is time order. Times before year 0 clamp to its
/// start (the `time` crate stops at 9999 at the other end).
pub fn fixed_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    if t.year() < 0 {
        return "0000-01-01T00:00:00.000Z".to_owned();
    }
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn fixed_time_has_one_width_and_sorts_as_time() {
        let times = [
            datetime!(1969-12-31 23:59:59.5 UTC),
            datetime!(2026-11-28 10:00:00 UTC),
            datetime!(2026-11-28 04:00:00.001 -06:00),
            datetime!(2026-11-28 10:00:00.010 UTC),
            datetime!(9999-12-31 23:59:59.999 UTC),
        ];
        let formatted: Vec<String> = times.iter().map(|t| fixed_time(*t)).collect();
        assert_eq!(formatted[1], "2026-11-28T10:00:00.000Z");
        assert_eq!(formatted[2], "2026-11-28T10:00:00.001Z");
        assert!(formatted.iter().all(|f| f.len() == 24), "{formatted:?}");
        assert!(formatted.windows(2).all(|w| w[0] < w[1]), "{formatted:?}");
        assert_eq!(fixed_time(datetime!(-0001-06-01 0:00 UTC)), "0000-01-01T00:00:00.000Z");
    }
}
