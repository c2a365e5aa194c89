//! The business's settings as the frontend writes them (`PATCH /v1/tenant`, and the name and
//! time zone of a sign-up), checked field by field.

use gestor_shared::http::{ApiError, FieldError};
use gestor_shared::repo::tenants::{MODULES, Opening, Tenant, WEEKDAYS};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

const MAX_NAME: usize = 120;
/// Openings per day (a split shift, a lunch break).
const MAX_OPENINGS: usize = 4;

/// What a `PATCH /v1/tenant` changes; absent fields stay.
#[derive(Debug, Default, PartialEq)]
pub struct SettingsPatch {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub business_hours: Option<BTreeMap<String, Vec<Opening>>>,
    pub modules: Option<Vec<String>>,
    pub row_scoping: Option<bool>,
    pub read_receipts: Option<bool>,
}

impl SettingsPatch {
    pub const FIELDS: [&'static str; 6] =
        ["name", "timezone", "business_hours", "modules", "row_scoping", "read_receipts"];

    pub fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        if let Some(unknown) = body.keys().find(|k| !Self::FIELDS.contains(&k.as_str())) {
            errors.push(FieldError::new(unknown.clone(), "is not a setting of the business"));
        }
        let mut patch = Self::default();
        if let Some(v) = body.get("name") {
            patch.name = name(v).map_err(|m| errors.push(FieldError::new("name", m))).ok();
        }
        if let Some(v) = body.get("timezone") {
            patch.timezone = timezone(v).map_err(|m| errors.push(FieldError::new("timezone", m))).ok();
        }
        if let Some(v) = body.get("business_hours") {
            patch.business_hours =
                business_hours(v).map_err(|(f, m)| errors.push(FieldError::new(f, m))).ok();
        }
        if let Some(v) = body.get("modules") {
            patch.modules = modules(v).map_err(|m| errors.push(FieldError::new("modules", m))).ok();
        }
        for (field, slot) in
            [("row_scoping", &mut patch.row_scoping), ("read_receipts", &mut patch.read_receipts)]
        {
            if let Some(v) = body.get(field) {
                match v.as_bool() {
                    Some(b) => *slot = Some(b),
                    None => errors.push(FieldError::new(field, "must be true or false")),
                }
            }
        }
        if errors.is_empty() { Ok(patch) } else { Err(ApiError::invalid_fields(errors)) }
    }

    /// The names of the settings it changes, for the audit entry.
    pub fn fields(&self) -> Vec<String> {
        let set = [
            self.name.is_some(),
            self.timezone.is_some(),
            self.business_hours.is_some(),
            self.modules.is_some(),
            self.row_scoping.is_some(),
            self.read_receipts.is_some(),
        ];
        Self::FIELDS.iter().zip(set).filter(|(_, s)| *s).map(|(f, _)| (*f).to_owned()).collect()
    }

    pub fn apply(self, tenant: &mut Tenant) {
        if let Some(v) = self.name {
            tenant.name = v;
        }
        if let Some(v) = self.timezone {
            tenant.timezone = v;
        }
        if let Some(v) = self.business_hours {
            tenant.business_hours = v;
        }
        if let Some(v) = self.modules {
            tenant.modules = v;
        }
        if let Some(v) = self.row_scoping {
            tenant.row_scoping = v;
        }
        if let Some(v) = self.read_receipts {
            tenant.read_receipts = v;
        }
    }
}

pub fn name(v: &Value) -> Result<String, String> {
    let name = v.as_str().map(str::trim).unwrap_or_default();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(format!("must be the business's name, 1 to {MAX_NAME} characters"));
    }
    Ok(name.to_owned())
}

pub fn timezone(v: &Value) -> Result<String, String> {
    let zone = v.as_str().unwrap_or_default();
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => Ok(tz.name().to_owned()),
        Err(_) => Err("must be an IANA time zone such as America/Mexico_City".into()),
    }
}

fn modules(v: &Value) -> Result<Vec<String>, String> {
    let wrong = || format!("must be a list of modules among {}", MODULES.join(", "));
    let list = v.as_array().ok_or_else(wrong)?;
    let mut chosen = Vec::new();
    for m in list {
        let m = m.as_str().filter(|m| MODULES.contains(m)).ok_or_else(wrong)?;
        if !chosen.iter().any(|c| c == m) {
            chosen.push(m.to_owned());
        }
    }
    // In the catalogue's order, whatever order they came in.
    chosen.sort_by_key(|m| MODULES.iter().position(|x| x == m));
    Ok(chosen)
}

/// `HH:MM` as minutes from midnight; `24:00` closes at midnight.
fn minutes(t: &str) -> Option<u32> {
    let (h, m) = t.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn business_hours(v: &Value) -> Result<BTreeMap<String, Vec<Opening>>, (String, String)> {
    let field = |f: &str| format!("business_hours.{f}");
    let Some(days) = v.as_object() else {
        return Err(("business_hours".into(), format!("must be an object by day: {}", WEEKDAYS.join(", "))));
    };
    let mut hours = BTreeMap::new();
    for (day, openings) in days {
        if !WEEKDAYS.contains(&day.as_str()) {
            return Err((field(day), format!("is not a day: {}", WEEKDAYS.join(", "))));
        }
        let wrong = || {
            (
                field(day),
                format!(
                    "must be up to {MAX_OPENINGS} openings {{\"from\": \"09:00\", \"to\": \"18:00\"}}, in order, not overlapping"
                ),
            )
        };
        let list = openings.as_array().filter(|l| l.len() <= MAX_OPENINGS).ok_or_else(wrong)?;
        let mut day_hours: Vec<Opening> = Vec::new();
        let mut last_end = 0;
        for opening in list {
            let from = opening.get("from").and_then(Value::as_str).ok_or_else(wrong)?;
            let to = opening.get("to").and_then(Value::as_str).ok_or_else(wrong)?;
            let (start, end) = (minutes(from).ok_or_else(wrong)?, minutes(to).ok_or_else(wrong)?);
            if start >= end
                || (!day_hours.is_empty() && start < last_end)
                || opening.as_object().is_some_and(|o| o.len() != 2)
            {
                return Err(wrong());
            }
            last_end = end;
            day_hours.push(Opening { from: from.to_owned(), to: to.to_owned() });
        }
        hours.insert(day.clone(), day_hours);
    }
    Ok(hours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        let patch = SettingsPatch::parse(&body(json!({
            "name": " Tienda Lupita ", "timezone": "America/Bogota", "read_receipts": false,
            "modules": ["deals", "contacts", "deals"],
            "business_hours": {"mon": [{"from": "09:00", "to": "14:00"}, {"from": "16:00", "to": "20:00"}], "sun": []},
        })));
        let patch = patch.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(patch.name.as_deref(), Some("Tienda Lupita"));
        assert_eq!(patch.modules, Some(vec!["contacts".to_owned(), "deals".to_owned()]));
        assert_eq!(patch.business_hours.as_ref().map(|h| h["mon"].len()), Some(2));
        assert_eq!(patch.fields(), ["name", "timezone", "business_hours", "modules", "read_receipts"]);

        for (bad, field) in [
            (json!({"timezone": "Mexico City"}), "timezone"),
            (json!({"name": ""}), "name"),
            (json!({"modules": ["crm"]}), "modules"),
            (json!({"business_hours": {"lun": []}}), "business_hours.lun"),
            (json!({"business_hours": {"mon": [{"from": "18:00", "to": "09:00"}]}}), "business_hours.mon"),
            (
                json!({"business_hours": {"tue": [{"from": "09:00", "to": "13:00"}, {"from": "12:00", "to": "15:00"}]}}),
                "business_hours.tue",
            ),
            (json!({"business_hours": {"wed": [{"from": "9:00", "to": "13:00"}]}}), "business_hours.wed"),
            (json!({"read_receipts": "no"}), "read_receipts"),
            (json!({"plan": "pro"}), "plan"),
        ] {
            let Err(ApiError::BadRequest { errors, .. }) = SettingsPatch::parse(&body(bad.clone())) else {
                panic!("{bad} was taken")
            };
            assert_eq!(errors[0].field, field, "{bad}");
        }
    }
}
