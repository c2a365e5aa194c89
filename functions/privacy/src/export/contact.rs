//! A contact's export: the contact and its channel identities, its conversations, their
//! messages and notes, the audit entries about them, and the messages' files.

use gestor_shared::domain::TenantId;
use gestor_shared::ports::{FileError, Files};
use gestor_shared::repo::holdings::Holdings;
use gestor_shared::repo::messages::Message;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use time::OffsetDateTime;

use super::{Counts, Document, ExportError, file_name, request_part, to_value};

/// The schema of a contact's `export.json` (`contact.schema.json` beside this file).
pub const SCHEMA: &str = include_str!("contact.schema.json");
/// Its `schema` field.
pub const SCHEMA_ID: &str = "gestordigital.export.v1";

/// The CSV tables. A column holding a list or an object holds it as JSON text.
const TABLES: [(&str, &str, &[&str]); 6] = [
    (
        "contact.csv",
        "contact",
        &[
            "id",
            "name",
            "phones",
            "emails",
            "lifecycle",
            "tags",
            "attributes",
            "restrictions",
            "owner_id",
            "created_at",
            "updated_at",
        ],
    ),
    ("identities.csv", "identities", &["channel", "external_id"]),
    (
        "conversations.csv",
        "conversations",
        &["id", "channel", "channel_account_id", "status", "assignee_id", "last_message_at", "created_at"],
    ),
    (
        "messages.csv",
        "messages",
        &[
            "id",
            "conversation_id",
            "direction",
            "kind",
            "text",
            "status",
            "status_at",
            "reply_to",
            "reactions",
            "deleted",
            "edited_at",
            "sent_by",
            "file",
            "created_at",
        ],
    ),
    ("notes.csv", "notes", &["id", "conversation_id", "text", "sent_by", "created_at"]),
    (
        "audit_entries.csv",
        "audit_entries",
        &["id", "at", "actor", "action", "resource", "outcome", "changed_fields"],
    ),
];

/// The document of `holdings`, with the messages' files read from `files`.
pub async fn document(
    tenant: &TenantId,
    request_id: &str,
    kind: &str,
    holdings: &Holdings,
    files: &dyn Files,
    at: OffsetDateTime,
) -> Result<Document, ExportError> {
    let mut included: Vec<(String, Vec<u8>)> = Vec::new();
    let mut listed = Vec::new();
    let mut paths = BTreeMap::new();
    for (message_id, key) in holdings.file_keys(tenant) {
        let media = holdings
            .messages
            .iter()
            .chain(&holdings.notes)
            .find(|m| m.id.as_str() == message_id)
            .and_then(|m| m.media.as_ref());
        let (mime, name) = (media.and_then(|m| m.mime_type.clone()), media.and_then(|m| m.filename.clone()));
        match files.get(&key).await {
            Ok(object) => {
                let path = format!("media/{}", file_name(&message_id, name.as_deref(), mime.as_deref()));
                listed.push(json!({
                    "message_id": message_id, "path": path, "mime_type": mime,
                    "size": object.bytes.len(), "sha256": media.and_then(|m| m.sha256.clone()),
                }));
                paths.insert(message_id, path.clone());
                included.push((path, object.bytes));
            }
            // Never downloaded (the channel's link expired first), or unsent since.
            Err(FileError::NotFound) => listed.push(json!({
                "message_id": message_id, "path": null, "mime_type": mime, "size": null, "sha256": null,
            })),
            Err(e) => return Err(e.into()),
        }
    }
    let messages = |list: &[Message]| -> Result<Vec<Value>, ExportError> {
        list.iter()
            .map(|m| {
                let mut value = to_value(m)?;
                if let Some(media) = value.get_mut("media").and_then(Value::as_object_mut) {
                    // Where the bucket keeps it is ours; where the archive has it is theirs.
                    media.remove("file_key");
                }
                if let Some(object) = value.as_object_mut() {
                    object.insert("file".into(), paths.get(m.id.as_str()).map_or(Value::Null, |p| json!(p)));
                }
                Ok(value)
            })
            .collect()
    };
    let json = json!({
        "schema": SCHEMA_ID,
        "request": request_part(request_id, kind, at)?,
        "subject": {"type": "contact", "id": holdings.contact.id.as_str()},
        "contact": to_value(&holdings.contact)?,
        "identities": to_value(&holdings.contact.identities)?,
        "conversations": to_value(&holdings.conversations)?,
        "messages": messages(&holdings.messages)?,
        "notes": messages(&holdings.notes)?,
        "audit_entries": to_value(&holdings.audit)?,
        "files": listed,
    });
    let counts = Counts::from([
        ("contacts".into(), 1),
        ("conversations".into(), holdings.conversations.len() as u64),
        ("messages".into(), holdings.messages.len() as u64),
        ("notes".into(), holdings.notes.len() as u64),
        ("audit_entries".into(), holdings.audit.len() as u64),
        ("files".into(), included.len() as u64),
    ]);
    Ok(Document { json, schema: SCHEMA, tables: TABLES.to_vec(), files: included, counts })
}
