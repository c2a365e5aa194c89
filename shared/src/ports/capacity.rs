//! DynamoDB's capacity units, computed by its published rules from the items a request reads
//! and writes. One calculator for both adapters (the metering decorator calls it), since the
//! emulator answers fixed figures and the embedded store answers none.
//!
//! The rules:
//! - an item's size is the sum of its attribute names' and values' sizes (strings in UTF-8
//!   bytes, numbers about one byte per two digits plus one, booleans and nulls one byte, lists
//!   and maps three bytes plus one per element plus their elements);
//! - a write costs one unit per KB of the item, rounded up; an update or a replacing put is
//!   sized on the larger of the item before and after; a delete on the item deleted;
//! - every index whose key attributes the item has costs a write more, sized like the item
//!   (each index projects it whole); one whose key moves costs a delete plus a put; one the
//!   item leaves or enters costs one;
//! - a transaction costs twice that on the base table (not on the indexes);
//! - a write whose condition fails still costs its base-table units, and no index units;
//! - a strongly consistent read costs one unit per 4 KB (rounded up, per item for `GetItem`
//!   and `BatchGetItem`, over the whole page for a query), an eventually consistent one half;
//!   a read that finds nothing still costs the minimum.

use serde_json::{Map, Value};

use super::table::{Index, Item, Update};

const KB: usize = 1024;
const READ_BLOCK: usize = 4 * KB;

/// The size DynamoDB gives an item, in bytes.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 1,
        Value::String(s) => s.len(),
        Value::Number(n) => {
            let digits = n.to_string().bytes().filter(u8::is_ascii_digit).count();
            digits.div_ceil(2) + 1
        }
        Value::Array(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        Value::Object(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
    }
}

/// Write units of writing `size` bytes once: at least one.
pub fn write_units_of(size: usize) -> f64 {
    size.div_ceil(KB).max(1) as f64
}

/// Read units of reading `size` bytes (one item, or a whole query page).
pub fn read_units_of(size: usize, consistent: bool) -> f64 {
    let blocks = size.div_ceil(READ_BLOCK).max(1) as f64;
    if consistent { blocks } else { blocks / 2.0 }
}

/// The index key of an item in `index`, when the item is in it (it has both key attributes).
fn index_key(item: &Item, index: Index) -> Option<(&Value, &Value)> {
    Some((item.get(index.partition_attribute())?, item.get(index.sort_attribute())?))
}

/// The index write units of turning `before` into `after` (either absent). Every index
/// projects the whole item, so each index write is sized like a table write of the item.
fn index_writes(before: Option<&Item>, after: Option<&Item>) -> f64 {
    let old_units = write_units_of(before.map_or(0, item_size));
    let new_units = write_units_of(after.map_or(0, item_size));
    let mut units = 0.0;
    for index in Index::ALL {
        let old = before.and_then(|b| index_key(b, index));
        let new = after.and_then(|a| index_key(a, index));
        units += match (old, new) {
            (None, None) => 0.0,
            (Some(old), Some(new)) if old == new && before == after => 0.0,
            // Same key: the projected item is rewritten in place.
            (Some(old), Some(new)) if old == new => old_units.max(new_units),
            // A moved key: the old entry deleted, the new one put.
            (Some(_), Some(_)) => old_units + new_units,
            (Some(_), None) => old_units,
            (None, Some(_)) => new_units,
        };
    }
    units
}

/// The units of one write turning `before` into `after` (`None`: absent), in a transaction
/// or not, whose condition held or failed.
pub fn write_units(before: Option<&Item>, after: Option<&Item>, transactional: bool, failed: bool) -> f64 {
    let size = before.map_or(0, item_size).max(after.map_or(0, item_size));
    let base = write_units_of(size) * if transactional { 2.0 } else { 1.0 };
    if failed { base } else { base + index_writes(before, after) }
}

/// The item an update leaves, applied to `before` (absent: created from the key and the
/// update), as the store applies it.
pub fn updated(before: Option<&Item>, key: (&str, &str), update: &Update) -> Item {
    let mut item = before.cloned().unwrap_or_else(|| {
        Map::from_iter([
            (super::table::PK.to_owned(), Value::from(key.0)),
            (super::table::SK.to_owned(), Value::from(key.1)),
        ])
    });
    for (name, value) in &update.set {
        item.insert(name.clone(), value.clone());
    }
    for name in &update.remove {
        item.remove(name);
    }
    for (name, by) in &update.add {
        let now = item.get(name).and_then(Value::as_i64).unwrap_or(0);
        item.insert(name.clone(), Value::from(now + by));
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(value: Value) -> Item {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn sizes_follow_the_published_rules() {
        assert_eq!(item_size(&item(json!({"pk": "abc"}))), 5);
        assert_eq!(item_size(&item(json!({"n": 12345}))), 1 + 3 + 1);
        assert_eq!(item_size(&item(json!({"b": true, "z": null}))), 4);
        assert_eq!(item_size(&item(json!({"l": ["ab", 1]}))), 1 + 3 + (1 + 2) + (1 + 2));
        assert_eq!(item_size(&item(json!({"m": {"k": "v"}}))), 1 + 3 + 1 + 1 + 1);
        assert_eq!(item_size(&item(json!({"ñ": "é"}))), 4, "UTF-8 bytes");
    }

    #[test]
    fn writes_cost_a_unit_per_kb_of_the_larger_image_plus_index_writes() {
        let small = item(json!({"pk": "a", "sk": "b"}));
        let big = item(json!({"pk": "a", "sk": "b", "x": "y".repeat(1500)}));
        assert_eq!(write_units(None, Some(&small), false, false), 1.0);
        assert_eq!(write_units(None, Some(&big), false, false), 2.0);
        assert_eq!(write_units(Some(&big), Some(&small), false, false), 2.0, "an update shrinking it");
        assert_eq!(write_units(None, Some(&small), true, false), 2.0, "transactions double");
        assert_eq!(write_units(Some(&big), None, false, false), 2.0, "a delete");

        let indexed = item(json!({"pk": "a", "sk": "b", "gsi1pk": "S#open", "gsi1sk": "t1"}));
        assert_eq!(write_units(None, Some(&indexed), false, false), 2.0, "one index entry put");
        assert_eq!(write_units(None, Some(&indexed), true, false), 3.0, "indexes are not doubled");
        let moved = item(json!({"pk": "a", "sk": "b", "gsi1pk": "S#open", "gsi1sk": "t2"}));
        assert_eq!(write_units(Some(&indexed), Some(&moved), false, false), 3.0, "a moved key: delete + put");
        let mut same_key = indexed.clone();
        same_key.insert("note".into(), json!("x"));
        assert_eq!(write_units(Some(&indexed), Some(&same_key), false, false), 2.0, "rewritten in place");
        assert_eq!(write_units(Some(&indexed), Some(&small), false, false), 2.0, "leaving the index");
        assert_eq!(write_units(None, Some(&indexed), false, true), 1.0, "a failed condition still costs");
        let mut big_indexed = big.clone();
        big_indexed.insert("gsi1pk".into(), json!("S#open"));
        big_indexed.insert("gsi1sk".into(), json!("t1"));
        assert_eq!(write_units(None, Some(&big_indexed), false, false), 4.0, "index writes are sized too");
        let no_sort = item(json!({"pk": "a", "sk": "b", "gsi1pk": "S#open"}));
        assert_eq!(
            write_units(None, Some(&no_sort), false, false),
            1.0,
            "not in an index without its sort key"
        );
    }

    #[test]
    fn reads_cost_a_unit_per_4_kb_and_half_when_eventually_consistent() {
        assert_eq!(read_units_of(0, true), 1.0, "a miss costs the minimum");
        assert_eq!(read_units_of(4096, true), 1.0);
        assert_eq!(read_units_of(4097, true), 2.0);
        assert_eq!(read_units_of(4097, false), 1.0);
        assert_eq!(read_units_of(100, false), 0.5);
    }

    #[test]
    fn an_update_is_applied_as_the_store_applies_it() {
        let before = item(json!({"pk": "a", "sk": "b", "n": 1, "gone": true}));
        let update = Update::default().set("x", "y").remove("gone").add("n", 2).add("m", 1);
        assert_eq!(
            Value::Object(updated(Some(&before), ("a", "b"), &update)),
            json!({"pk": "a", "sk": "b", "n": 3, "m": 1, "x": "y"})
        );
        assert_eq!(
            Value::Object(updated(None, ("a", "b"), &Update::default().set("x", 1))),
            json!({"pk": "a", "sk": "b", "x": 1})
        );
    }
}
