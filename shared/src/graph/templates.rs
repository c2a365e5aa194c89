//! A WhatsApp Business Account's message templates:
//! `GET {graph}/{waba_id}/message_templates?fields=...&limit=100`, page after page by the
//! answer's `paging.cursors.after` (never by its `paging.next` URL, which names Meta's host
//! whatever base URL is configured).

use http::Method;
use serde_json::Value;

use super::{GraphClient, GraphError, bearer, is_graph_id, query, text};
use crate::crypto::Secret;
use crate::repo::templates::Template;

/// Pages read at most: 6,000 templates, Meta's most for a verified business's account.
const MOST_PAGES: usize = 60;
const FIELDS: &str = "name,language,status,category,id,components,rejected_reason";

impl GraphClient {
    pub async fn message_templates(
        &self,
        waba_id: &str,
        token: &Secret,
    ) -> Result<Vec<Template>, GraphError> {
        if !is_graph_id(waba_id) {
            return Err(GraphError::Invalid("a Graph id is a decimal number"));
        }
        let mut templates = Vec::new();
        let mut after: Option<String> = None;
        for page in 0..MOST_PAGES {
            let mut params = vec![("fields", FIELDS), ("limit", "100")];
            if let Some(cursor) = &after {
                params.push(("after", cursor));
            }
            let url = format!("{}/{waba_id}/message_templates?{}", self.meta_graph_url, query(&params));
            let answer = self.call(Method::GET, &url, &[bearer(token)?], None).await?;
            templates.extend(
                answer.get("data").and_then(Value::as_array).into_iter().flatten().filter_map(template),
            );
            let more = answer.pointer("/paging/next").is_some();
            match answer.pointer("/paging/cursors/after").and_then(Value::as_str) {
                // A partial list would delete the templates it missed.
                Some(_) if more && page + 1 == MOST_PAGES => {
                    return Err(GraphError::Unexpected("more templates than a sync reads".into()));
                }
                Some(cursor) if more && after.as_deref() != Some(cursor) => after = Some(cursor.to_owned()),
                _ => return Ok(templates),
            }
        }
        Ok(templates)
    }
}

fn template(value: &Value) -> Option<Template> {
    let body = value
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("BODY")))
        .and_then(|c| text(c, "text"));
    let reason = text(value, "rejected_reason").filter(|r| r != "NONE");
    Some(Template {
        name: text(value, "name")?,
        language: text(value, "language")?,
        status: text(value, "status").unwrap_or_else(|| "UNKNOWN".into()),
        category: text(value, "category"),
        id: text(value, "id"),
        parameters: body.as_deref().map(placeholders).unwrap_or(0),
        body,
        reason,
    })
}

/// The distinct `{{...}}` placeholders of a body: `{{1}}`, `{{2}}`, or named ones.
pub fn placeholders(body: &str) -> u32 {
    let mut seen = std::collections::BTreeSet::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !name.is_empty() && !name.contains('{') {
            seen.insert(name.to_owned());
        }
        rest = &after[end + 2..];
    }
    u32::try_from(seen.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_templates_body_and_placeholders_are_read_from_its_components() {
        let value = json!({"name": "seguimiento_pedido", "language": "es_MX", "status": "APPROVED",
            "category": "UTILITY", "id": "1234567890",
            "components": [{"type": "HEADER", "format": "TEXT", "text": "Pedido"},
                           {"type": "BODY", "text": "Hola {{1}}, tu pedido {{2}} va en camino. Gracias, {{1}}."}]});
        let t = template(&value).unwrap_or_else(|| panic!("a template"));
        assert_eq!(
            (t.parameters, t.body.as_deref()),
            (2, Some("Hola {{1}}, tu pedido {{2}} va en camino. Gracias, {{1}}."))
        );
        assert_eq!(placeholders("Hola {{nombre}}, {{ pedido }} {{}} {{"), 2);
        assert!(template(&json!({"language": "es"})).is_none(), "a template without a name is skipped");
    }
}
