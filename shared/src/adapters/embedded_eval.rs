//! DynamoDB's conditions and update actions evaluated on an in-memory item, for the embedded
//! table, which checks and applies them inside its write transaction.

use serde_json::{Number, Value};

use super::table_rules::{check_item, invalid};
use crate::ports::table::{Condition, Item, Key, PK, SK, TableError, Update};

pub fn holds(condition: &Condition, item: Option<&Item>) -> bool {
    match condition {
        Condition::Exists => item.is_some(),
        Condition::NotExists => item.is_none(),
        Condition::Equals(name, value) => {
            item.and_then(|item| item.get(name)).is_some_and(|current| same(current, value))
        }
        Condition::Lacks(name) => item.is_some_and(|item| !item.contains_key(name)),
        Condition::All(conditions) => item.is_some() && conditions.iter().all(|c| holds(c, item)),
    }
}

/// DynamoDB's `=`: numbers compare by value (so 1 equals 1.0), containers element-wise.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (integer(x), integer(y)) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn integer(n: &Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
}

/// The item after an `UpdateItem`: created from the key when absent, as DynamoDB does.
pub fn updated(key: &Key, current: Option<&Item>, update: Update) -> Result<Item, TableError> {
    let mut item = current.cloned().unwrap_or_else(|| {
        Item::from_iter([
            (PK.to_owned(), Value::String(key.pk.clone())),
            (SK.to_owned(), Value::String(key.sk.clone())),
        ])
    });
    item.extend(update.set);
    for name in &update.remove {
        item.remove(name);
    }
    for (name, by) in update.add {
        let sum = match item.get(&name) {
            None => Value::from(by),
            Some(Value::Number(n)) => match integer(n) {
                Some(n) => integral(n + i128::from(by)),
                None => {
                    Number::from_f64(n.as_f64().unwrap_or(0.0) + by as f64).map_or(Value::Null, Value::Number)
                }
            },
            Some(_) => return Err(invalid(format!("ADD needs a number in `{name}`"))),
        };
        item.insert(name, sum);
    }
    canonical_numbers(&mut item);
    check_item(&item)?;
    Ok(item)
}

fn integral(n: i128) -> Value {
    if let Ok(i) = i64::try_from(n) {
        Value::from(i)
    } else if let Ok(u) = u64::try_from(n) {
        Value::from(u)
    } else {
        #[allow(clippy::cast_precision_loss)]
        Number::from_f64(n as f64).map_or(Value::Null, Value::Number)
    }
}

/// DynamoDB keeps numbers in a canonical form and answers 1.0 as 1; storing them the same way
/// keeps what a read returns identical on both adapters.
pub fn canonical_numbers(item: &mut Item) {
    fn walk(value: &mut Value) {
        match value {
            Value::Number(n) if n.is_f64() => {
                const EXACT: f64 = 9_007_199_254_740_992.0;
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() <= EXACT {
                    #[allow(clippy::cast_possible_truncation)]
                    let i = f as i64;
                    *value = Value::from(i);
                }
            }
            Value::Array(values) => values.iter_mut().for_each(walk),
            Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    item.values_mut().for_each(walk);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equality_compares_numbers_by_value() {
        assert!(same(&json!([1, {"a": 2.0}]), &json!([1.0, {"a": 2}])));
        assert!(same(&json!(u64::MAX), &json!(u64::MAX)));
        assert!(!same(&json!(1), &json!("1")));
        assert!(!same(&json!([1]), &json!([1, 2])));
        assert!(!same(&json!({"a": 1}), &json!({"b": 1})));
    }

    #[test]
    fn conditions_need_the_item_where_dynamodb_does() {
        let item = json!({"pk": "p", "sk": "s", "v": 1}).as_object().cloned().unwrap();
        let v1 = Condition::Equals("v".into(), json!(1));
        assert!(holds(&v1, Some(&item)));
        assert!(!holds(&v1, None));
        assert!(holds(&Condition::All(vec![]), Some(&item)));
        assert!(!holds(&Condition::All(vec![]), None));
        assert!(!holds(&Condition::All(vec![v1, Condition::NotExists]), Some(&item)));
    }

    #[test]
    fn updates_create_and_count() {
        let key = Key::new("p", "s");
        let created = updated(&key, None, Update::default().add("n", 2)).unwrap();
        assert_eq!(created, json!({"pk": "p", "sk": "s", "n": 2}).as_object().cloned().unwrap());
        // Sums beyond i64 are kept exactly while they fit a u64, as DynamoDB's 38 digits do.
        let big = Update::default().add("n", i64::MAX);
        let once = updated(&key, Some(&created), big.clone()).unwrap();
        assert_eq!(once["n"], json!(i64::MAX as u64 + 2));
        let twice = updated(&key, Some(&once), big).unwrap();
        assert!(twice["n"].is_f64());
        let text = updated(&key, None, Update::default().set("n", "x")).unwrap();
        assert!(updated(&key, Some(&text), Update::default().add("n", 1)).is_err());
        let float = updated(&key, None, Update::default().set("f", 1.5).add("f2", 1)).unwrap();
        assert_eq!(updated(&key, Some(&float), Update::default().add("f", 1)).unwrap()["f"], json!(2.5));
    }

    #[test]
    fn integral_floats_become_integers() {
        let mut item =
            json!({"a": 2.0, "b": [3.0, 0.5], "c": {"d": -0.0}, "e": 1e300}).as_object().cloned().unwrap();
        canonical_numbers(&mut item);
        assert_eq!(item["a"], json!(2));
        assert!(item["a"].is_i64());
        assert_eq!(item["b"], json!([3, 0.5]));
        assert!(item["c"]["d"].is_i64());
        assert!(item["e"].is_f64());
    }
}
