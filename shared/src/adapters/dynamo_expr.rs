//! DynamoDB expressions built from the port's conditions, updates and sort-key ranges. Every
//! attribute name and value goes through a placeholder, so no name is ever spliced into an
//! expression (reserved words and odd characters are then harmless).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::codec::to_attribute;
use crate::ports::table::{Condition, PK, SortKey, Update};

pub type Names = HashMap<String, String>;
pub type Values = HashMap<String, AttributeValue>;

/// The placeholders one request's expressions share.
#[derive(Debug, Default)]
pub struct Expressions {
    names: Names,
    values: Values,
}

impl Expressions {
    pub fn name(&mut self, name: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, n)| n.as_str() == name) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    pub fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn string(&mut self, value: &str) -> String {
        self.value(AttributeValue::S(value.to_owned()))
    }

    pub fn condition(&mut self, condition: &Condition) -> String {
        match condition {
            Condition::Exists => format!("attribute_exists({})", self.name(PK)),
            Condition::NotExists => format!("attribute_not_exists({})", self.name(PK)),
            Condition::Equals(name, value) => {
                format!("{} = {}", self.name(name), self.value(to_attribute(value)))
            }
            Condition::Lacks(name) => {
                format!("attribute_exists({}) AND attribute_not_exists({})", self.name(PK), self.name(name))
            }
            Condition::All(conditions) => {
                let mut parts = vec![format!("attribute_exists({})", self.name(PK))];
                parts.extend(conditions.iter().map(|c| format!("({})", self.condition(c))));
                parts.join(" AND ")
            }
        }
    }

    /// `None` for an update with no action: DynamoDB rejects an empty update expression.
    pub fn update(&mut self, update: &Update) -> Option<String> {
        let mut clauses = Vec::new();
        if !update.set.is_empty() {
            let sets: Vec<_> = update
                .set
                .iter()
                .map(|(name, value)| format!("{} = {}", self.name(name), self.value(to_attribute(value))))
                .collect();
            clauses.push(format!("SET {}", sets.join(", ")));
        }
        if !update.remove.is_empty() {
            let removes: Vec<_> = update.remove.iter().map(|name| self.name(name)).collect();
            clauses.push(format!("REMOVE {}", removes.join(", ")));
        }
        if !update.add.is_empty() {
            let adds: Vec<_> = update
                .add
                .iter()
                .map(|(name, by)| {
                    format!("{} {}", self.name(name), self.value(AttributeValue::N(by.to_string())))
                })
                .collect();
            clauses.push(format!("ADD {}", adds.join(", ")));
        }
        (!clauses.is_empty()).then(|| clauses.join(" "))
    }

    pub fn key_condition(
        &mut self,
        partition_attribute: &str,
        partition: &str,
        sort_attribute: &str,
        sort: &SortKey,
    ) -> String {
        let partition = format!("{} = {}", self.name(partition_attribute), self.string(partition));
        let sort_condition = match sort {
            SortKey::All => return partition,
            SortKey::BeginsWith(prefix) => {
                format!("begins_with({}, {})", self.name(sort_attribute), self.string(prefix))
            }
            SortKey::Between(low, high) => format!(
                "{} BETWEEN {} AND {}",
                self.name(sort_attribute),
                self.string(low),
                self.string(high)
            ),
            SortKey::GreaterThan(v) => self.comparison(sort_attribute, ">", v),
            SortKey::GreaterOrEqual(v) => self.comparison(sort_attribute, ">=", v),
            SortKey::LessThan(v) => self.comparison(sort_attribute, "<", v),
            SortKey::LessOrEqual(v) => self.comparison(sort_attribute, "<=", v),
        };
        format!("{partition} AND {sort_condition}")
    }

    fn comparison(&mut self, name: &str, operator: &str, value: &str) -> String {
        format!("{} {operator} {}", self.name(name), self.string(value))
    }

    /// The maps to send, `None` when empty: DynamoDB rejects empty placeholder maps.
    pub fn into_maps(self) -> (Option<Names>, Option<Values>) {
        let names = (!self.names.is_empty()).then_some(self.names);
        let values = (!self.values.is_empty()).then_some(self.values);
        (names, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_use_placeholders_only() {
        let mut e = Expressions::default();
        let c = Condition::All(vec![
            Condition::Equals("version".into(), json!(3)),
            Condition::Equals("status".into(), json!("open")),
        ]);
        let text = e.condition(&c);
        assert_eq!(text, "attribute_exists(#n0) AND (#n1 = :v0) AND (#n2 = :v1)");
        let (names, values) = e.into_maps();
        let names = names.unwrap();
        assert_eq!(names["#n0"], "pk");
        assert_eq!(names["#n1"], "version");
        assert_eq!(values.unwrap()[":v0"], AttributeValue::N("3".into()));
    }

    #[test]
    fn names_are_shared_between_condition_and_update() {
        let mut e = Expressions::default();
        let condition = e.condition(&Condition::Equals("v".into(), json!(1)));
        let update = e.update(&Update::default().set("v", 2).remove("old").add("n", -1));
        assert_eq!(condition, "#n0 = :v0");
        assert_eq!(update.unwrap(), "SET #n0 = :v1 REMOVE #n1 ADD #n2 :v2");
    }

    #[test]
    fn empty_update_has_no_expression() {
        let mut e = Expressions::default();
        assert_eq!(e.update(&Update::default()), None);
        assert_eq!(e.into_maps(), (None, None));
    }

    #[test]
    fn key_conditions() {
        let mut e = Expressions::default();
        let between = SortKey::Between("a".into(), "b".into());
        assert_eq!(e.key_condition("pk", "p", "sk", &between), "#n0 = :v0 AND #n1 BETWEEN :v1 AND :v2");
        let mut e = Expressions::default();
        let prefix = SortKey::BeginsWith("x".into());
        assert_eq!(e.key_condition("gsi1pk", "p", "gsi1sk", &prefix), "#n0 = :v0 AND begins_with(#n1, :v1)");
        let mut e = Expressions::default();
        assert_eq!(e.key_condition("pk", "p", "sk", &SortKey::All), "#n0 = :v0");
    }
}
