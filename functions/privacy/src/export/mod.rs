//! The archive the rights of access and portability deliver: `export.json` (everything in
//! one document, described by `schema.json`, which the archive carries too), one CSV per
//! table of it for a spreadsheet, and a contact's files under `media/`. JSON and CSV are the
//! portable formats; the files are as the customer sent them. What a contact's and a
//! member's documents hold: `contact.rs`, `member.rs`.

use gestor_shared::ports::FileError;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use time::OffsetDateTime;
use zip::write::SimpleFileOptions;

pub mod contact;
pub mod member;

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

/// An export's content before it is zipped.
pub struct Document {
    /// `export.json`.
    pub json: Value,
    /// `schema.json`: the JSON Schema `json` follows.
    pub schema: &'static str,
    /// The CSV tables: file name, the document's array (or object) and its columns.
    pub tables: Vec<(&'static str, &'static str, &'static [&'static str])>,
    /// The files, by their path in the archive.
    pub files: Vec<(String, Vec<u8>)>,
    pub counts: Counts,
}

impl Document {
    /// The zip: the document, its schema and tables compressed, the files stored as they
    /// are (photos, audio and video are compressed already).
    pub fn archive(self) -> Result<Archive, ExportError> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let text = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        let pretty =
            serde_json::to_vec_pretty(&self.json).map_err(|e| ExportError::Archive(e.to_string()))?;
        let mut entries: Vec<(String, Vec<u8>, SimpleFileOptions)> = vec![
            ("export.json".into(), pretty, text),
            ("schema.json".into(), self.schema.as_bytes().to_vec(), text),
        ];
        for (name, table, columns) in &self.tables {
            let rows = match &self.json[*table] {
                Value::Array(rows) => rows.clone(),
                one => vec![one.clone()],
            };
            entries.push(((*name).into(), csv(&rows, columns).into_bytes(), text));
        }
        entries.extend(self.files.into_iter().map(|(path, bytes)| (path, bytes, stored)));
        for (name, bytes, options) in entries {
            zip.start_file(name, options).map_err(|e| ExportError::Archive(e.to_string()))?;
            zip.write_all(&bytes).map_err(|e| ExportError::Archive(e.to_string()))?;
        }
        let bytes = zip.finish().map_err(|e| ExportError::Archive(e.to_string()))?.into_inner();
        Ok(Archive { bytes, counts: self.counts })
    }
}

/// The `request` part of every export.
fn request_part(request_id: &str, kind: &str, at: OffsetDateTime) -> Result<Value, ExportError> {
    Ok(json!({"id": request_id, "kind": kind, "generated_at": rfc3339(at)?}))
}

pub(crate) fn to_value(value: &impl Serialize) -> Result<Value, ExportError> {
    serde_json::to_value(value).map_err(|e| ExportError::Archive(e.to_string()))
}

pub(crate) fn rfc3339(at: OffsetDateTime) -> Result<String, ExportError> {
    at.format(&time::format_description::well_known::Rfc3339).map_err(|e| ExportError::Archive(e.to_string()))
}

/// A file's name in the archive: the message's id (unique), then the name the customer gave
/// it (only safe characters kept) or an extension for its type.
pub(crate) fn file_name(message_id: &str, name: Option<&str>, mime: Option<&str>) -> String {
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
