//! The archive the rights of access and portability deliver: `export.json` (everything in
//! one document, described by `schema.json`, which the archive carries too), one CSV per
//! table of it for a spreadsheet, and the messages' files under `media/`. JSON and CSV are
//! the portable formats; the files are as the customer sent them.

use gestor_shared::domain::TenantId;
use gestor_shared::ports::{FileError, Files};
use gestor_shared::repo::holdings::Holdings;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use time::OffsetDateTime;

/// The schema the archive's `export.json` follows (`functions/privacy/export.schema.json`).
pub const SCHEMA: &str = include_str!("../export.schema.json");
/// The `schema` field of every export of this shape.
pub const SCHEMA_ID: &str = "gestordigital.export.v1";

/// The CSV tables: file name, the document's array, and its columns. A column holding a
/// list or an object holds it as JSON text.
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

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("files: {0}")]
    Files(#[from] FileError),
    #[error("the archive: {0}")]
    Archive(String),
}

/// What an export held, per table: the request's `counts`.
pub type Counts = BTreeMap<String, u64>;

/// The archive, and its counts.
pub struct Archive {
    pub bytes: Vec<u8>,
    pub counts: Counts,
}

/// Builds the archive of `holdings`, reading the messages' files from `files`.
pub async fn archive(
    tenant: &TenantId,
    request_id: &str,
    kind: &str,
    holdings: &Holdings,
    files: &dyn Files,
    at: OffsetDateTime,
) -> Result<Archive, ExportError> {
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
    let messages = |list: &[gestor_shared::repo::messages::Message]| -> Result<Vec<Value>, ExportError> {
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
    let document = json!({
        "schema": SCHEMA_ID,
        "request": {"id": request_id, "kind": kind, "generated_at": rfc3339(at)?},
        "subject": {"type": "contact", "id": holdings.contact.id.as_str()},
        "contact": to_value(&holdings.contact)?,
        "identities": to_value(&holdings.contact.identities)?,
        "conversations": to_value(&holdings.conversations)?,
        "messages": messages(&holdings.messages)?,
        "notes": messages(&holdings.notes)?,
        "audit_entries": to_value(&holdings.audit)?,
        "files": listed,
    });
    let mut counts = Counts::new();
    counts.insert("contacts".into(), 1);
    counts.insert("conversations".into(), holdings.conversations.len() as u64);
    counts.insert("messages".into(), holdings.messages.len() as u64);
    counts.insert("notes".into(), holdings.notes.len() as u64);
    counts.insert("audit_entries".into(), holdings.audit.len() as u64);
    counts.insert("files".into(), included.len() as u64);

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let text = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    // Photos, audio and video are compressed already.
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let pretty = serde_json::to_vec_pretty(&document).map_err(|e| ExportError::Archive(e.to_string()))?;
    let mut entries: Vec<(String, Vec<u8>, zip::write::SimpleFileOptions)> =
        vec![("export.json".into(), pretty, text), ("schema.json".into(), SCHEMA.as_bytes().to_vec(), text)];
    for (name, table, columns) in TABLES {
        let rows = match &document[table] {
            Value::Array(rows) => rows.clone(),
            one => vec![one.clone()],
        };
        entries.push((name.into(), csv(&rows, columns).into_bytes(), text));
    }
    entries.extend(included.into_iter().map(|(path, bytes)| (path, bytes, stored)));
    for (name, bytes, options) in entries {
        zip.start_file(name, options).map_err(|e| ExportError::Archive(e.to_string()))?;
        zip.write_all(&bytes).map_err(|e| ExportError::Archive(e.to_string()))?;
    }
    let bytes = zip.finish().map_err(|e| ExportError::Archive(e.to_string()))?.into_inner();
    Ok(Archive { bytes, counts })
}

fn to_value(value: &impl Serialize) -> Result<Value, ExportError> {
    serde_json::to_value(value).map_err(|e| ExportError::Archive(e.to_string()))
}

fn rfc3339(at: OffsetDateTime) -> Result<String, ExportError> {
    at.format(&time::format_description::well_known::Rfc3339).map_err(|e| ExportError::Archive(e.to_string()))
}

/// A file's name in the archive: the message's id (unique), then the name the customer gave
/// it (only safe characters kept) or an extension for its type.
fn file_name(message_id: &str, name: Option<&str>, mime: Option<&str>) -> String {
    let safe: String = name
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(100)
        .collect();
    let safe = safe.trim_start_matches('.');
    if !safe.is_empty() {
        return format!("{message_id}-{safe}");
    }
    let extension = match mime.unwrap_or_default().split(';').next().unwrap_or_default().trim() {
        "image/jpeg" => ".jpg",
        "image/png" => ".png",
        "image/webp" => ".webp",
        "image/gif" => ".gif",
        "video/mp4" => ".mp4",
        "audio/ogg" => ".ogg",
        "audio/mpeg" => ".mp3",
        "audio/mp4" | "audio/aac" => ".m4a",
        "application/pdf" => ".pdf",
        _ => "",
    };
    format!("{message_id}{extension}")
}

/// RFC 4180: every field quoted, quotes doubled, rows ended by CRLF; a list or an object is
/// written as JSON text, an absent value as an empty field.
fn csv(rows: &[Value], columns: &[&str]) -> String {
    let field = |value: Option<&Value>| -> String {
        let text = match value {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        format!("\"{}\"", text.replace('"', "\"\""))
    };
    let mut out = String::new();
    let header: Vec<String> = columns.iter().map(|c| field(Some(&json!(c)))).collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for row in rows {
        let object = row.as_object().cloned().unwrap_or_else(Map::new);
        let line: Vec<String> = columns.iter().map(|c| field(object.get(*c))).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_every_field_and_writes_lists_as_json() {
        let rows = vec![json!({"a": "dijo \"hola\"\n", "b": ["x", "y"], "c": null})];
        assert_eq!(
            csv(&rows, &["a", "b", "c"]),
            "\"a\",\"b\",\"c\"\r\n\"dijo \"\"hola\"\"\n\",\"[\"\"x\"\",\"\"y\"\"]\",\"\"\r\n"
        );
    }

    #[test]
    fn a_file_keeps_a_safe_form_of_its_name_or_gets_an_extension() {
        assert_eq!(file_name("ms_1", Some("../factura 1.pdf"), None), "ms_1-_factura_1.pdf");
        assert_eq!(file_name("ms_1", None, Some("image/jpeg")), "ms_1.jpg");
        assert_eq!(file_name("ms_1", Some("..."), Some("x/unknown")), "ms_1");
    }
}
