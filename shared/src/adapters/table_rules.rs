//! The request rules DynamoDB enforces, checked the same way by both table adapters so that
//! a request the embedded store accepts is one the service accepts too (and fails with the
//! same `TableError::Invalid` before any network round trip on AWS).

use std::collections::HashSet;

use serde_json::Value;

use crate::ports::table::{
    Index, Item, Key, PK, Query, SK, SortKey, TRANSACTION_LIMIT, TableError, TxOp, Update,
};

/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// Most keys one BatchGetItem call accepts.
pub const BATCH_GET_LIMIT: usize = 100;

pub fn invalid(message: impl Into<String>) -> TableError {
    TableError::Invalid(message.into())
}

pub fn check_key(key: &Key) -> Result<(), TableError> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(invalid("key attributes cannot be empty strings"));
    }
    Ok(())
}

/// The key of an item to write, after checking its key and index attributes.
pub fn check_item(item: &Item) -> Result<Key, TableError> {
    let key = Key::of(item).ok_or_else(|| invalid("an item needs string `pk` and `sk`"))?;
    check_key(&key)?;
    for index in Index::ALL {
        for name in [index.partition_attribute(), index.sort_attribute()] {
            if let Some(value) = item.get(name) {
                check_index_value(name, value)?;
            }
        }
    }
    if approximate_size(item) > MAX_ITEM_BYTES {
        return Err(invalid("item size has exceeded the maximum allowed size"));
    }
    Ok(key)
}

/// DynamoDB rejects a secondary-index key attribute of any type but a non-empty string.
fn check_index_value(name: &str, value: &Value) -> Result<(), TableError> {
    match value {
        Value::String(s) if !s.is_empty() => Ok(()),
        Value::String(_) => Err(invalid(format!("index key attribute `{name}` cannot be empty"))),
        _ => Err(invalid(format!("type mismatch for index key attribute `{name}`"))),
    }
}

fn is_index_attribute(name: &str) -> bool {
    Index::ALL.iter().any(|index| index.partition_attribute() == name || index.sort_attribute() == name)
}

/// An update needs at least one action: a transaction's update requires an expression, and
/// the emulator fails on an `UpdateItem` without one, so an empty update is refused everywhere
/// rather than behaving differently per backend.
pub fn check_update(key: &Key, update: &Update) -> Result<(), TableError> {
    check_key(key)?;
    if update.set.is_empty() && update.remove.is_empty() && update.add.is_empty() {
        return Err(invalid("an update needs at least one action"));
    }
    let names = update
        .set
        .keys()
        .map(String::as_str)
        .chain(update.remove.iter().map(String::as_str))
        .chain(update.add.iter().map(|(name, _)| name.as_str()));
    let mut seen = HashSet::new();
    for name in names {
        if name == PK || name == SK {
            return Err(invalid(format!("cannot update key attribute `{name}`")));
        }
        if name.is_empty() {
            return Err(invalid("attribute names cannot be empty"));
        }
        if !seen.insert(name) {
            return Err(invalid(format!("two document paths overlap: `{name}`")));
        }
    }
    for (name, value) in &update.set {
        if is_index_attribute(name) {
            check_index_value(name, value)?;
        }
    }
    if let Some((name, _)) = update.add.iter().find(|(name, _)| is_index_attribute(name)) {
        return Err(invalid(format!("type mismatch for index key attribute `{name}`")));
    }
    Ok(())
}

pub fn check_query(query: &Query) -> Result<(), TableError> {
    if query.limit == 0 {
        return Err(invalid("query limit must be at least 1"));
    }
    if query.partition.is_empty() {
        return Err(invalid("the partition value cannot be empty"));
    }
    let bounds: &[&String] = match &query.sort {
        SortKey::All => &[],
        SortKey::Between(low, high) => {
            if low > high {
                return Err(invalid("BETWEEN needs its lower bound not above its upper bound"));
            }
            &[low, high]
        }
        SortKey::BeginsWith(v)
        | SortKey::GreaterThan(v)
        | SortKey::GreaterOrEqual(v)
        | SortKey::LessThan(v)
        | SortKey::LessOrEqual(v) => &[v],
    };
    if bounds.iter().any(|b| b.is_empty()) {
        return Err(invalid("sort key conditions cannot compare with an empty string"));
    }
    Ok(())
}

/// The keys the operations touch, in order, after checking the transaction's shape.
pub fn check_transaction(ops: &[TxOp]) -> Result<Vec<Key>, TableError> {
    if ops.is_empty() || ops.len() > TRANSACTION_LIMIT {
        return Err(invalid(format!("a transaction holds 1 to {TRANSACTION_LIMIT} operations")));
    }
    let mut keys = Vec::with_capacity(ops.len());
    let mut seen = HashSet::new();
    for op in ops {
        let key = match op {
            TxOp::Put { item, .. } => check_item(item)?,
            TxOp::Update { key, update, .. } => {
                check_update(key, update)?;
                key.clone()
            }
            TxOp::Delete { key, .. } | TxOp::Check { key, .. } => {
                check_key(key)?;
                key.clone()
            }
        };
        if !seen.insert(key.clone()) {
            return Err(invalid("a transaction cannot include two operations on one item"));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// The distinct keys, in first-seen order: DynamoDB rejects duplicates in one batch call, and
/// the port promises to accept them.
pub fn distinct_keys(keys: &[Key]) -> Result<Vec<Key>, TableError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        check_key(key)?;
        if seen.insert(key) {
            out.push(key.clone());
        }
    }
    Ok(out)
}

/// DynamoDB's size accounting, close enough to refuse what the service would refuse: names and
/// strings count their UTF-8 bytes, numbers about one byte per two digits, containers 3 bytes
/// plus one per element.
pub fn approximate_size(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 1,
        Value::Number(n) => n.to_string().len().div_ceil(2) + 1,
        Value::String(s) => s.len(),
        Value::Array(values) => 3 + values.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        Value::Object(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::table::Condition;
    use serde_json::json;

    fn item(value: Value) -> Item {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn items_need_string_keys_and_string_index_attributes() {
        assert!(check_item(&item(json!({"pk": "a", "sk": "b", "gsi1pk": "x"}))).is_ok());
        for bad in [
            json!({"pk": "a"}),
            json!({"pk": "a", "sk": 1}),
            json!({"pk": "", "sk": "b"}),
            json!({"pk": "a", "sk": "b", "gsi1pk": 7}),
            json!({"pk": "a", "sk": "b", "subject_sk": null}),
            json!({"pk": "a", "sk": "b", "gsi2sk": ""}),
            json!({"pk": "a", "sk": "b", "blob": "x".repeat(MAX_ITEM_BYTES)}),
        ] {
            assert!(matches!(check_item(&item(bad.clone())), Err(TableError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn updates_cannot_touch_keys_or_overlap() {
        let key = Key::new("a", "b");
        assert!(check_update(&key, &Update::default().set("x", 1).add("n", 1)).is_ok());
        for bad in [
            Update::default().set("pk", "z"),
            Update::default().remove("sk"),
            Update::default().set("x", 1).remove("x"),
            Update::default().add("n", 1).add("n", 2),
            Update::default().set("gsi1pk", 3),
            Update::default().add("gsi1sk", 1),
            Update::default(),
        ] {
            assert!(matches!(check_update(&key, &bad), Err(TableError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn transactions_need_distinct_keys_and_bounded_size() {
        let check = |k: &str| TxOp::Check { key: Key::new("p", k), condition: Condition::Exists };
        assert!(check_transaction(&[check("1"), check("2")]).is_ok());
        assert!(check_transaction(&[]).is_err());
        assert!(check_transaction(&[check("1"), check("1")]).is_err());
        let many: Vec<_> = (0..=TRANSACTION_LIMIT).map(|i| check(&i.to_string())).collect();
        assert!(check_transaction(&many).is_err());
        assert!(check_transaction(&many[..TRANSACTION_LIMIT]).is_ok());
    }

    #[test]
    fn queries_are_checked() {
        assert!(check_query(&Query::table("p")).is_ok());
        assert!(check_query(&Query::table("p").limit(0)).is_err());
        assert!(check_query(&Query::table("")).is_err());
        let inverted = SortKey::Between("b".into(), "a".into());
        assert!(check_query(&Query::table("p").sort(inverted)).is_err());
        assert!(check_query(&Query::table("p").sort(SortKey::BeginsWith(String::new()))).is_err());
    }
}
