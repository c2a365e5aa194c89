//! A contact's editable fields, from a create body or a JSON merge patch (RFC 7396), validated
//! as a whole so every error is reported at once.

use gestor_shared::domain::{Email, Phone};
use gestor_shared::http::{ApiError, FieldError};
use gestor_shared::ids::MemberId;
use gestor_shared::repo::contacts::{Contact, Lifecycle};
use serde_json::{Map, Value, json};

pub const EDITABLE: [&str; 7] = ["name", "phones", "emails", "lifecycle", "tags", "attributes", "owner_id"];
const READ_ONLY: [&str; 6] = ["id", "identities", "restrictions", "created_at", "updated_at", "version"];

pub const MAX_PHONES: usize = 10;
pub const MAX_EMAILS: usize = 10;
/// Tags are index items written in the contact's transaction; 25 keeps a worst-case update
/// (every phone, email and tag replaced) within DynamoDB's 100 operations.
pub const MAX_TAGS: usize = 25;
pub const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;

/// The validated editable fields of a contact.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    pub name: Option<String>,
    pub phones: Vec<Phone>,
    pub emails: Vec<Email>,
    pub lifecycle: Lifecycle,
    pub tags: Vec<String>,
    pub attributes: Map<String, Value>,
    pub owner_id: Option<MemberId>,
}

impl Fields {
    /// The editable fields as the API shows them: the document a merge patch applies to.
    pub fn document(contact: &Contact) -> Value {
        json!({
            "name": contact.name,
            "phones": contact.phones,
            "emails": contact.emails,
            "lifecycle": contact.lifecycle,
            "tags": contact.tags,
            "attributes": contact.attributes,
            "owner_id": contact.owner_id,
        })
    }

    fn empty_document() -> Value {
        json!({"name": null, "phones": [], "emails": [], "lifecycle": "lead", "tags": [],
               "attributes": {}, "owner_id": null})
    }

    /// A new contact's fields from a create body.
    pub fn from_create(body: Map<String, Value>) -> Result<Self, ApiError> {
        let mut errors = check_names(&body, false);
        if body.contains_key("attributes") && !body["attributes"].is_object() && !body["attributes"].is_null()
        {
            errors.push(FieldError::new("attributes", "must be an object of custom fields"));
        }
        let mut doc = Self::empty_document();
        merge_patch(&mut doc, &Value::Object(body));
        Self::validate(doc, errors)
    }

    /// The contact's fields after applying a merge patch (`version` is read by the caller).
    pub fn from_patch(current: &Contact, patch: Map<String, Value>) -> Result<Self, ApiError> {
        let mut errors = check_names(&patch, true);
        if patch.get("lifecycle").is_some_and(Value::is_null) {
            errors.push(FieldError::new("lifecycle", "cannot be removed; set lead, client or inactive"));
        }
        let mut doc = Self::document(current);
        let mut patch = patch;
        patch.remove("version");
        merge_patch(&mut doc, &Value::Object(patch));
        Self::validate(doc, errors)
    }

    fn validate(doc: Value, mut errors: Vec<FieldError>) -> Result<Self, ApiError> {
        let name = match &doc["name"] {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => {
                errors.push(FieldError::new("name", "must not be blank; send null to remove it"));
                None
            }
            Value::String(s) if s.trim().chars().count() > 200 => {
                errors.push(FieldError::new("name", "must be at most 200 characters"));
                None
            }
            Value::String(s) if s.chars().any(char::is_control) => {
                errors.push(FieldError::new("name", "must not contain control characters"));
                None
            }
            Value::String(s) => Some(s.trim().to_owned()),
            _ => {
                errors.push(FieldError::new("name", "must be a string or null"));
                None
            }
        };
        let phones = list(&doc["phones"], "phones", MAX_PHONES, &mut errors, |s| {
            Phone::parse(s).map_err(|e| e.to_string())
        });
        let emails = list(&doc["emails"], "emails", MAX_EMAILS, &mut errors, |s| {
            Email::parse(s).map_err(|e| e.to_string())
        });
        let tags = list(&doc["tags"], "tags", MAX_TAGS, &mut errors, |s| {
            let tag = s.trim();
            if tag.is_empty() || tag.chars().count() > 50 || tag.chars().any(char::is_control) {
                Err("must be 1 to 50 characters without control characters".to_owned())
            } else {
                Ok(tag.to_owned())
            }
        });
        let lifecycle = match doc["lifecycle"].as_str().and_then(Lifecycle::parse) {
            Some(l) => l,
            None => {
                errors.push(FieldError::new("lifecycle", "must be one of lead, client, inactive"));
                Lifecycle::Lead
            }
        };
        let attributes = match &doc["attributes"] {
            Value::Object(map) => {
                if serde_json::to_vec(map).map(|b| b.len()).unwrap_or(0) > MAX_ATTRIBUTES_BYTES {
                    errors.push(FieldError::new("attributes", "must be at most 16 KiB of JSON"));
                }
                for key in map.keys() {
                    if key.is_empty() || key.chars().count() > 64 {
                        errors.push(FieldError::new(
                            format!("attributes.{key}"),
                            "names must be 1 to 64 characters",
                        ));
                    }
                }
                map.clone()
            }
            Value::Null => Map::new(),
            _ => Map::new(),
        };
        let owner_id = match &doc["owner_id"] {
            Value::Null => None,
            Value::String(s) => match MemberId::parse(s) {
                Ok(id) => Some(id),
                Err(_) => {
                    errors.push(FieldError::new("owner_id", "must be a member id (mb_...) or null"));
                    None
                }
            },
            _ => {
                errors.push(FieldError::new("owner_id", "must be a member id (mb_...) or null"));
                None
            }
        };
        if errors.is_empty() && name.is_none() && phones.is_empty() && emails.is_empty() {
            errors.push(FieldError::new("name", "a contact needs at least a name, a phone or an email"));
        }
        if errors.is_empty() {
            Ok(Self { name, phones, emails, lifecycle, tags, attributes, owner_id })
        } else {
            Err(ApiError::invalid_fields(errors))
        }
    }

    /// Names of the fields that differ from the contact's current ones.
    pub fn changed_from(&self, contact: &Contact) -> Vec<String> {
        let mut changed = Vec::new();
        let mut note = |name: &str, differs: bool| {
            if differs {
                changed.push(name.to_owned());
            }
        };
        note("name", self.name != contact.name);
        note("phones", self.phones != contact.phones);
        note("emails", self.emails != contact.emails);
        note("lifecycle", self.lifecycle != contact.lifecycle);
        note("tags", self.tags != contact.tags);
        note("attributes", self.attributes != contact.attributes);
        note("owner_id", self.owner_id != contact.owner_id);
        changed
    }

    pub fn apply(self, contact: &mut Contact) {
        contact.name = self.name;
        contact.phones = self.phones;
        contact.emails = self.emails;
        contact.lifecycle = self.lifecycle;
        contact.tags = self.tags;
        contact.attributes = self.attributes;
        contact.owner_id = self.owner_id;
    }
}

fn check_names(body: &Map<String, Value>, patch: bool) -> Vec<FieldError> {
    body.keys()
        .filter(|k| !(patch && *k == "version"))
        .filter_map(|k| {
            if READ_ONLY.contains(&k.as_str()) {
                Some(FieldError::new(k.clone(), "is read-only"))
            } else if !EDITABLE.contains(&k.as_str()) {
                Some(FieldError::new(k.clone(), "is not a contact field"))
            } else {
                None
            }
        })
        .collect()
}

/// A list of strings, each parsed; duplicates (after normalising) are dropped.
fn list<T: PartialEq>(
    value: &Value,
    field: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Vec<T> {
    let items = match value {
        Value::Null => return Vec::new(),
        Value::Array(items) => items,
        _ => {
            errors.push(FieldError::new(field, "must be an array of strings"));
            return Vec::new();
        }
    };
    if items.len() > max {
        errors.push(FieldError::new(field, format!("must have at most {max} entries")));
        return Vec::new();
    }
    let mut parsed = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str().map(&parse) {
            Some(Ok(v)) if !parsed.contains(&v) => parsed.push(v),
            Some(Ok(_)) => {}
            Some(Err(message)) => errors.push(FieldError::new(format!("{field}[{i}]"), message)),
            None => errors.push(FieldError::new(format!("{field}[{i}]"), "must be a string")),
        }
    }
    parsed
}

/// RFC 7396: objects merge recursively, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_patch(&mut doc, &json!({"a": {"b": null, "e": 3}, "d": [2]}));
        assert_eq!(doc, json!({"a": {"c": 2, "e": 3}, "d": [2]}));
    }

    #[test]
    fn create_reports_every_bad_field() {
        let err = Fields::from_create(obj(json!({
            "phones": ["abc"], "emails": ["nope"], "lifecycle": "vip", "id": "ct_x", "color": 1
        })));
        let Err(ApiError::BadRequest { errors, .. }) = err else { panic!("expected 400") };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in ["phones[0]", "emails[0]", "lifecycle", "id", "color"] {
            assert!(fields.contains(&f), "{f} missing in {fields:?}");
        }
    }

    #[test]
    fn create_needs_a_way_to_know_the_person() {
        assert!(Fields::from_create(obj(json!({"tags": ["vip"]}))).is_err());
        assert!(Fields::from_create(obj(json!({"phones": ["+52 55 1234 5678"]}))).is_ok());
    }

    #[test]
    fn phones_are_normalised_and_deduplicated() {
        let fields = Fields::from_create(obj(
            json!({"phones": ["+52 55 1234 5678", "+5215512345678", "+525512345678"]}),
        ));
        assert_eq!(fields.map(|f| f.phones.len()).ok(), Some(1));
    }
}
