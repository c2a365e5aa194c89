//! A member's export: their profile in the business, the businesses the user belongs to,
//! their sessions (IP, browser, device, time zone) and what they did in the business.

use gestor_shared::repo::holdings::MemberHoldings;
use serde_json::json;
use time::OffsetDateTime;

use super::{Counts, Document, ExportError, request_part, to_value};

/// The schema of a member's `export.json` (`member.schema.json` beside this file).
pub const SCHEMA: &str = include_str!("member.schema.json");
/// Its `schema` field.
pub const SCHEMA_ID: &str = "gestordigital.member-export.v1";

/// The CSV tables. A column holding a list or an object holds it as JSON text.
const TABLES: [(&str, &str, &[&str]); 4] = [
    ("member.csv", "member", &["id", "email", "name", "role", "team_ids", "created_at"]),
    ("memberships.csv", "memberships", &["tenant_id", "tenant_name", "role"]),
    (
        "sessions.csv",
        "sessions",
        &["id", "ip", "user_agent", "device", "timezone", "country", "first_seen", "last_seen"],
    ),
    (
        "audit_entries.csv",
        "audit_entries",
        &["id", "at", "action", "resource", "outcome", "ip", "user_agent", "changed_fields"],
    ),
];

/// The document of `holdings`.
pub fn document(
    request_id: &str,
    kind: &str,
    holdings: &MemberHoldings,
    at: OffsetDateTime,
) -> Result<Document, ExportError> {
    let memberships: Vec<_> = holdings
        .memberships
        .iter()
        .map(|m| json!({"tenant_id": m.tenant.as_str(), "tenant_name": m.tenant_name, "role": m.role}))
        .collect();
    let json = json!({
        "schema": SCHEMA_ID,
        "request": request_part(request_id, kind, at)?,
        "subject": {"type": "member", "id": holdings.member.id.as_str()},
        "member": to_value(&holdings.member)?,
        "memberships": memberships,
        "sessions": to_value(&holdings.sessions)?,
        "audit_entries": to_value(&holdings.audit)?,
    });
    let counts = Counts::from([
        ("members".into(), 1),
        ("memberships".into(), holdings.memberships.len() as u64),
        ("sessions".into(), holdings.sessions.len() as u64),
        ("audit_entries".into(), holdings.audit.len() as u64),
    ]);
    Ok(Document { json, schema: SCHEMA, tables: TABLES.to_vec(), files: Vec::new(), counts })
}
