//! Interactive WhatsApp replies (API.md): up to three reply buttons, or a list of up to ten
//! rows in sections, with WhatsApp's limits checked here so that the channel never refuses
//! one for its shape. What is stored is the normalized form the sender turns into the
//! Cloud API's `interactive` object.

use gestor_shared::http::{ApiError, FieldError};
use serde_json::{Map, Value, json};

const MAX_BODY: usize = 1_024;
const MAX_BUTTONS: usize = 3;
const MAX_BUTTON_TITLE: usize = 20;
const MAX_BUTTON_ID: usize = 256;
const MAX_LIST_BUTTON: usize = 20;
const MAX_SECTIONS: usize = 10;
const MAX_ROWS: usize = 10;
const MAX_ROW_TITLE: usize = 24;
const MAX_ROW_DESCRIPTION: usize = 72;
const MAX_ROW_ID: usize = 200;
const MAX_SECTION_TITLE: usize = 24;

/// A text of 1 to `most` characters at `field`, or why not.
fn text(value: Option<&Value>, field: &str, most: usize, errors: &mut Vec<FieldError>) -> String {
    match value.and_then(Value::as_str).map(str::trim) {
        Some(t) if !t.is_empty() && t.chars().count() <= most => t.to_owned(),
        _ => {
            errors.push(FieldError::new(field, format!("must be a text of 1 to {most} characters")));
            String::new()
        }
    }
}

/// The normalized interactive message and its body text.
pub fn parse(interactive: &Map<String, Value>) -> Result<(Value, String), ApiError> {
    let mut errors = Vec::new();
    let body = text(interactive.get("body"), "interactive.body", MAX_BODY, &mut errors);
    let normalized = match interactive.get("type").and_then(Value::as_str) {
        Some("buttons") => {
            let buttons = interactive.get("buttons").and_then(Value::as_array).cloned().unwrap_or_default();
            if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
                errors.push(FieldError::new("interactive.buttons", "must hold 1 to 3 buttons"));
            }
            let mut ids = std::collections::HashSet::new();
            let buttons: Vec<Value> = buttons
                .iter()
                .map(|b| {
                    let id = text(b.get("id"), "interactive.buttons.id", MAX_BUTTON_ID, &mut errors);
                    let title =
                        text(b.get("title"), "interactive.buttons.title", MAX_BUTTON_TITLE, &mut errors);
                    if !ids.insert(id.clone()) {
                        errors.push(FieldError::new("interactive.buttons.id", "must differ between buttons"));
                    }
                    json!({"id": id, "title": title})
                })
                .collect();
            json!({"type": "buttons", "body": body, "buttons": buttons})
        }
        Some("list") => {
            let button = text(interactive.get("button"), "interactive.button", MAX_LIST_BUTTON, &mut errors);
            let sections = interactive.get("sections").and_then(Value::as_array).cloned().unwrap_or_default();
            if sections.is_empty() || sections.len() > MAX_SECTIONS {
                errors.push(FieldError::new("interactive.sections", "must hold 1 to 10 sections"));
            }
            let several = sections.len() > 1;
            let mut rows_total = 0;
            let sections: Vec<Value> = sections
                .iter()
                .map(|section| {
                    let mut out = json!({});
                    if several || section.get("title").is_some() {
                        out["title"] = text(section.get("title"), "interactive.sections.title", MAX_SECTION_TITLE, &mut errors).into();
                    }
                    let rows = section.get("rows").and_then(Value::as_array).cloned().unwrap_or_default();
                    if rows.is_empty() {
                        errors.push(FieldError::new("interactive.sections.rows", "must hold at least one row"));
                    }
                    rows_total += rows.len();
                    let rows: Vec<Value> = rows
                        .iter()
                        .map(|row| {
                            let mut r = json!({
                                "id": text(row.get("id"), "interactive.sections.rows.id", MAX_ROW_ID, &mut errors),
                                "title": text(row.get("title"), "interactive.sections.rows.title", MAX_ROW_TITLE, &mut errors),
                            });
                            if row.get("description").is_some_and(|d| !d.is_null()) {
                                r["description"] = text(row.get("description"), "interactive.sections.rows.description", MAX_ROW_DESCRIPTION, &mut errors).into();
                            }
                            r
                        })
                        .collect();
                    out["rows"] = rows.into();
                    out
                })
                .collect();
            if rows_total > MAX_ROWS {
                errors.push(FieldError::new("interactive.sections.rows", "must be at most 10 rows in all"));
            }
            json!({"type": "list", "body": body, "button": button, "sections": sections})
        }
        _ => {
            errors.push(FieldError::new("interactive.type", "must be buttons or list"));
            Value::Null
        }
    };
    if errors.is_empty() { Ok((normalized, body)) } else { Err(ApiError::invalid_fields(errors)) }
}
