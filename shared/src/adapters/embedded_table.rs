//! The table port over the embedded redb database, with DynamoDB's semantics: conditions are
//! checked inside the write transaction that applies the write, and redb runs one write
//! transaction at a time, so conditional writes and counters are atomic as on DynamoDB.
//!
//! Keys are encoded so that byte order is DynamoDB's order: each key string followed by a NUL
//! byte. Strings compare as their UTF-8 bytes, a shorter prefix sorts first (its NUL is below
//! any byte of a longer string) and no two keys collide, because NUL is refused in key strings.

use std::ops::Bound;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde_json::Value;

use super::embedded_eval::{canonical_numbers, holds, updated};
use super::table_rules::{
    BATCH_GET_LIMIT, check_item, check_key, check_query, check_transaction, check_update, distinct_keys,
    invalid,
};
use crate::ports::table::{
    Condition, Index, Item, Key, PK, Page, Query, SK, SortKey, Table, TableError, TxOp, Update,
};

type Bytes = &'static [u8];
type Def = TableDefinition<'static, Bytes, Bytes>;

/// Prefixed so that the embedded queue can share the database.
const ITEMS: Def = TableDefinition::new("table_items");
const GSI1: Def = TableDefinition::new("table_gsi1");
const GSI2: Def = TableDefinition::new("table_gsi2");
const SUBJECT: Def = TableDefinition::new("table_bysubject");

fn index_table(index: Index) -> Def {
    match index {
        Index::Gsi1 => GSI1,
        Index::Gsi2 => GSI2,
        Index::Subject => SUBJECT,
    }
}

#[derive(Clone)]
pub struct EmbeddedTable {
    db: Arc<Database>,
}

impl EmbeddedTable {
    /// Creates the table's redb tables if needed, so that readers never meet a missing one.
    pub fn new(db: Arc<Database>) -> Result<Self, TableError> {
        let txn = db.begin_write().map_err(backend)?;
        for def in [ITEMS, GSI1, GSI2, SUBJECT] {
            txn.open_table(def).map_err(backend)?;
        }
        txn.commit().map_err(backend)?;
        Ok(Self { db })
    }

    /// Runs blocking redb work off the async runtime's threads.
    async fn run<T, F>(&self, work: F) -> Result<T, TableError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, TableError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || work(&db)).await.map_err(backend)?
    }
}

fn backend(error: impl std::fmt::Display) -> TableError {
    TableError::Backend(error.to_string())
}

/// Each part followed by NUL; see the module documentation for why this preserves order.
fn encode(parts: &[&str]) -> Result<Vec<u8>, TableError> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for part in parts {
        if part.as_bytes().contains(&0) {
            return Err(invalid("the embedded table refuses NUL characters in key values"));
        }
        out.extend_from_slice(part.as_bytes());
        out.push(0);
    }
    Ok(out)
}

fn item_key(key: &Key) -> Result<Vec<u8>, TableError> {
    encode(&[&key.pk, &key.sk])
}

/// The item's entry key in the index, when it has both index attributes (DynamoDB leaves an
/// item out of an index unless all of the index's key attributes are present).
fn index_entry(index: Index, key: &Key, item: &Item) -> Result<Option<Vec<u8>>, TableError> {
    let attribute = |name| item.get(name).and_then(Value::as_str);
    match (attribute(index.partition_attribute()), attribute(index.sort_attribute())) {
        (Some(ipk), Some(isk)) => encode(&[ipk, isk, &key.pk, &key.sk]).map(Some),
        _ => Ok(None),
    }
}

fn decode(bytes: &[u8]) -> Result<Item, TableError> {
    serde_json::from_slice(bytes).map_err(|e| backend(format!("corrupt stored item: {e}")))
}

fn load(table: &impl ReadableTable<Bytes, Bytes>, key: &[u8]) -> Result<Option<Item>, TableError> {
    match table.get(key).map_err(backend)? {
        Some(guard) => decode(guard.value()).map(Some),
        None => Ok(None),
    }
}

/// The tables one write transaction changes, opened together so every write keeps the
/// indexes in step with the items.
struct Writer<'t> {
    items: redb::Table<'t, Bytes, Bytes>,
    indexes: Vec<(Index, redb::Table<'t, Bytes, Bytes>)>,
}

impl<'t> Writer<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, TableError> {
        let items = txn.open_table(ITEMS).map_err(backend)?;
        let indexes = Index::ALL
            .iter()
            .map(|&index| Ok((index, txn.open_table(index_table(index)).map_err(backend)?)))
            .collect::<Result<_, TableError>>()?;
        Ok(Self { items, indexes })
    }

    /// Also where a key with a NUL is refused, inside the transaction, so nothing is written.
    fn current(&self, key: &Key) -> Result<Option<Item>, TableError> {
        load(&self.items, &item_key(key)?)
    }

    fn store(&mut self, key: &Key, old: Option<&Item>, new: &Item) -> Result<(), TableError> {
        let bytes = serde_json::to_vec(new).map_err(backend)?;
        let stored_key = item_key(key)?;
        for (index, table) in &mut self.indexes {
            let before = old.map(|item| index_entry(*index, key, item)).transpose()?.flatten();
            let after = index_entry(*index, key, new)?;
            if before == after {
                continue;
            }
            if let Some(entry) = before {
                table.remove(entry.as_slice()).map_err(backend)?;
            }
            if let Some(entry) = after {
                table.insert(entry.as_slice(), stored_key.as_slice()).map_err(backend)?;
            }
        }
        self.items.insert(stored_key.as_slice(), bytes.as_slice()).map_err(backend)?;
        Ok(())
    }

    fn erase(&mut self, key: &Key, old: &Item) -> Result<(), TableError> {
        for (index, table) in &mut self.indexes {
            if let Some(entry) = index_entry(*index, key, old)? {
                table.remove(entry.as_slice()).map_err(backend)?;
            }
        }
        self.items.remove(item_key(key)?.as_slice()).map_err(backend)?;
        Ok(())
    }

    fn apply(&mut self, key: &Key, old: Option<&Item>, effect: &Effect) -> Result<(), TableError> {
        match (effect, old) {
            (Effect::Store(new), _) => self.store(key, old, new),
            (Effect::Erase, Some(old)) => self.erase(key, old),
            (Effect::Erase, None) | (Effect::Keep, _) => Ok(()),
        }
    }
}

/// What one operation does to its item, decided before anything is written.
enum Effect {
    Keep,
    Store(Item),
    Erase,
}

/// Checks the operation's condition against the item as it is and computes the write.
fn effect(op: TxOp, key: &Key, current: Option<&Item>) -> Result<Effect, TableError> {
    let condition = match &op {
        TxOp::Put { condition, .. } | TxOp::Update { condition, .. } | TxOp::Delete { condition, .. } => {
            condition.as_ref()
        }
        TxOp::Check { condition, .. } => Some(condition),
    };
    if condition.is_some_and(|c| !holds(c, current)) {
        return Err(TableError::ConditionFailed);
    }
    Ok(match op {
        TxOp::Put { mut item, .. } => {
            canonical_numbers(&mut item);
            Effect::Store(item)
        }
        TxOp::Update { update, .. } => Effect::Store(updated(key, current, update)?),
        TxOp::Delete { .. } => Effect::Erase,
        TxOp::Check { .. } => Effect::Keep,
    })
}

/// The byte range of a query's sort condition within `prefix` (the encoded partition part):
/// inclusive start, exclusive end. `s\0` starts the entries whose sort value is `s`, `s\x01`
/// ends them.
fn sort_range(prefix: &[u8], sort: &SortKey) -> Result<(Vec<u8>, Vec<u8>), TableError> {
    let at = |s: &str, end: u8| -> Result<Vec<u8>, TableError> {
        let mut bytes = prefix.to_vec();
        let mut part = encode(&[s])?;
        if let Some(last) = part.last_mut() {
            *last = end;
        }
        bytes.append(&mut part);
        Ok(bytes)
    };
    let whole = || {
        let mut end = prefix.to_vec();
        if let Some(last) = end.last_mut() {
            *last = 1;
        }
        end
    };
    Ok(match sort {
        SortKey::All => (prefix.to_vec(), whole()),
        SortKey::BeginsWith(s) => {
            let mut start = at(s, 0)?;
            start.pop();
            // Valid UTF-8 never holds 0xFF, so raising the last byte bounds the prefix.
            let mut end = start.clone();
            if let Some(last) = end.last_mut() {
                *last += 1;
            }
            (start, end)
        }
        SortKey::Between(low, high) => (at(low, 0)?, at(high, 1)?),
        SortKey::GreaterThan(s) => (at(s, 1)?, whole()),
        SortKey::GreaterOrEqual(s) => (at(s, 0)?, whole()),
        SortKey::LessThan(s) => (prefix.to_vec(), at(s, 0)?),
        SortKey::LessOrEqual(s) => (prefix.to_vec(), at(s, 1)?),
    })
}

/// The encoded key a page stopped at, from the `last_key` the previous page answered.
fn resume_key(query: &Query, start: &Item) -> Result<Vec<u8>, TableError> {
    let attribute = |name: &str| {
        start
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("the starting key lacks `{name}`")))
    };
    let (pk, sk) = (attribute(PK)?, attribute(SK)?);
    let (partition, parts) = match query.index {
        None => (pk, vec![pk, sk]),
        Some(index) => {
            let ipk = attribute(index.partition_attribute())?;
            (ipk, vec![ipk, attribute(index.sort_attribute())?, pk, sk])
        }
    };
    if partition != query.partition {
        return Err(invalid("the starting key belongs to another partition"));
    }
    encode(&parts)
}

fn last_key(index: Option<Index>, item: &Item) -> Item {
    let mut names = vec![PK, SK];
    if let Some(index) = index {
        names.extend([index.partition_attribute(), index.sort_attribute()]);
    }
    names.into_iter().filter_map(|name| Some((name.to_owned(), item.get(name)?.clone()))).collect()
}

fn run_query(db: &Database, query: &Query) -> Result<Page, TableError> {
    let (mut start, mut end) = sort_range(&encode(&[&query.partition])?, &query.sort)?;
    if let Some(after) = &query.start_after {
        let resume = resume_key(query, after)?;
        if query.forward {
            // Every stored key is complete, so none lies strictly between `resume` and
            // `resume\0`: this is the first key after it.
            let mut next = resume;
            next.push(0);
            start = start.max(next);
        } else {
            end = end.min(resume);
        }
    }
    let mut page = Page::default();
    if start >= end {
        return Ok(page);
    }
    let txn = db.begin_read().map_err(backend)?;
    let source = txn.open_table(query.index.map_or(ITEMS, index_table)).map_err(backend)?;
    let items = match query.index {
        Some(_) => Some(txn.open_table(ITEMS).map_err(backend)?),
        None => None,
    };
    let range = (Bound::Included(start.as_slice()), Bound::Excluded(end.as_slice()));
    let entries = source.range::<&[u8]>(range).map_err(backend)?;
    let entries: Box<dyn Iterator<Item = _>> =
        if query.forward { Box::new(entries) } else { Box::new(entries.rev()) };
    for entry in entries.take(query.limit) {
        let (_, value) = entry.map_err(backend)?;
        let item = match &items {
            None => decode(value.value())?,
            Some(items) => {
                load(items, value.value())?.ok_or_else(|| backend("an index entry points to no item"))?
            }
        };
        page.items.push(item);
    }
    // As DynamoDB does, a full page always carries a `last_key`, even when nothing follows.
    if page.items.len() == query.limit {
        page.last_key = page.items.last().map(|item| last_key(query.index, item));
    }
    Ok(page)
}

fn write<T>(
    db: &Database,
    work: impl FnOnce(&mut Writer<'_>) -> Result<T, TableError>,
) -> Result<T, TableError> {
    let txn = db.begin_write().map_err(backend)?;
    let answer = {
        let mut writer = Writer::open(&txn)?;
        work(&mut writer)?
    };
    txn.commit().map_err(backend)?;
    Ok(answer)
}

/// One conditional write: answers the item before and after.
fn write_one(db: &Database, key: Key, op: TxOp) -> Result<(Option<Item>, Effect), TableError> {
    write(db, |writer| {
        let old = writer.current(&key)?;
        let effect = effect(op, &key, old.as_ref())?;
        writer.apply(&key, old.as_ref(), &effect)?;
        Ok((old, effect))
    })
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        check_key(key)?;
        let stored = item_key(key)?;
        self.run(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            load(&txn.open_table(ITEMS).map_err(backend)?, &stored)
        })
        .await
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, TableError> {
        let keys = distinct_keys(keys)?;
        if keys.len() > BATCH_GET_LIMIT {
            return Err(invalid(format!("batch_get reads at most {BATCH_GET_LIMIT} keys")));
        }
        let stored = keys.iter().map(item_key).collect::<Result<Vec<_>, _>>()?;
        self.run(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let items = txn.open_table(ITEMS).map_err(backend)?;
            let mut found = Vec::with_capacity(stored.len());
            for key in &stored {
                found.extend(load(&items, key)?);
            }
            Ok(found)
        })
        .await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError> {
        let key = check_item(&item)?;
        self.run(move |db| write_one(db, key, TxOp::Put { item, condition }).map(|_| ())).await
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> Result<Item, TableError> {
        check_update(key, &update)?;
        let key = key.clone();
        let op = TxOp::Update { key: key.clone(), update, condition };
        self.run(move |db| match write_one(db, key, op)? {
            (_, Effect::Store(item)) => Ok(item),
            _ => Err(backend("an update produced no item")),
        })
        .await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<Option<Item>, TableError> {
        check_key(key)?;
        let key = key.clone();
        let op = TxOp::Delete { key: key.clone(), condition };
        self.run(move |db| write_one(db, key, op).map(|(old, _)| old)).await
    }

    async fn query(&self, query: Query) -> Result<Page, TableError> {
        check_query(&query)?;
        self.run(move |db| run_query(db, &query)).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), TableError> {
        let keys = check_transaction(&ops)?;
        self.run(move |db| {
            write(db, |writer| {
                let mut planned = Vec::with_capacity(ops.len());
                let mut failed = vec![false; ops.len()];
                for ((op, key), failed) in ops.into_iter().zip(&keys).zip(&mut failed) {
                    let old = writer.current(key)?;
                    match effect(op, key, old.as_ref()) {
                        Ok(effect) => planned.push((key, old, effect)),
                        Err(TableError::ConditionFailed) => *failed = true,
                        Err(other) => return Err(other),
                    }
                }
                // Returning the error drops the write transaction unapplied: all or nothing.
                if failed.contains(&true) {
                    return Err(TableError::TransactionCanceled { failed });
                }
                for (key, old, effect) in &planned {
                    writer.apply(key, old.as_ref(), effect)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn scan(&self, limit: usize, start_after: Option<Item>) -> Result<Page, TableError> {
        if limit == 0 {
            return Err(invalid("a scan's limit must be at least 1"));
        }
        let after = match &start_after {
            Some(item) => {
                Some(item_key(&Key::of(item).ok_or_else(|| invalid("a scan resumes after a key"))?)?)
            }
            None => None,
        };
        self.run(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let items = txn.open_table(ITEMS).map_err(backend)?;
            let entries = match &after {
                Some(after) => items.range::<&[u8]>((Bound::Excluded(after.as_slice()), Bound::Unbounded)),
                None => items.range::<&[u8]>(..),
            }
            .map_err(backend)?;
            let mut page = Page::default();
            for entry in entries.take(limit) {
                let (_, value) = entry.map_err(backend)?;
                page.items.push(decode(value.value())?);
            }
            if page.items.len() == limit {
                page.last_key = page.items.last().map(|item| last_key(None, item));
            }
            Ok(page)
        })
        .await
    }

    async fn batch_delete(&self, keys: &[Key]) -> Result<(), TableError> {
        let keys = distinct_keys(keys)?;
        if keys.is_empty() {
            return Ok(());
        }
        self.run(move |db| {
            write(db, |writer| {
                for key in &keys {
                    if let Some(old) = writer.current(key)? {
                        writer.erase(key, &old)?;
                    }
                }
                Ok(())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_keys_sort_as_dynamodb_strings() {
        let pairs = [("a", "x"), ("a", "xy"), ("a", "y"), ("ab", "a"), ("b", "")];
        let encoded: Vec<_> = pairs.iter().map(|(p, s)| encode(&[p, s]).unwrap()).collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(encoded, sorted);
        assert!(encode(&["a\0x", "y"]).is_err());
        assert!(encode(&["é", "a"]).unwrap() > encode(&["z", "a"]).unwrap());
    }

    #[test]
    fn sort_ranges_select_the_right_keys() {
        let prefix = encode(&["p"]).unwrap();
        let keys = ["a", "ab", "b", "ba", "c"];
        let select = |sort: SortKey| -> Vec<&str> {
            let (start, end) = sort_range(&prefix, &sort).unwrap();
            keys.iter()
                .copied()
                .filter(|k| {
                    let e = encode(&["p", k, "pk", "sk"]).unwrap();
                    e >= start && e < end
                })
                .collect()
        };
        assert_eq!(select(SortKey::All), keys);
        assert_eq!(select(SortKey::BeginsWith("a".into())), ["a", "ab"]);
        assert_eq!(select(SortKey::Between("ab".into(), "ba".into())), ["ab", "b", "ba"]);
        assert_eq!(select(SortKey::GreaterThan("b".into())), ["ba", "c"]);
        assert_eq!(select(SortKey::GreaterOrEqual("b".into())), ["b", "ba", "c"]);
        assert_eq!(select(SortKey::LessThan("b".into())), ["a", "ab"]);
        assert_eq!(select(SortKey::LessOrEqual("b".into())), ["a", "ab", "b"]);
    }

    #[tokio::test]
    async fn nul_in_key_values_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join("t.redb")).unwrap());
        let table = EmbeddedTable::new(db).unwrap();
        let item = |value: serde_json::Value| value.as_object().cloned().unwrap();
        let bad = table.put(item(serde_json::json!({"pk": "a\0b", "sk": "x"})), None).await;
        assert!(matches!(bad, Err(TableError::Invalid(_))), "{bad:?}");
        let in_index = serde_json::json!({"pk": "a", "sk": "x", "gsi1pk": "l\0", "gsi1sk": "s"});
        let bad = table.put(item(in_index), None).await;
        assert!(matches!(bad, Err(TableError::Invalid(_))), "{bad:?}");
        assert_eq!(table.get(&Key::new("a", "x")).await.unwrap(), None);
        let bad = table.get(&Key::new("a", "x\0")).await;
        assert!(matches!(bad, Err(TableError::Invalid(_))), "{bad:?}");
        let bad = table.query(Query::table("a").sort(SortKey::BeginsWith("\0".into()))).await;
        assert!(matches!(bad, Err(TableError::Invalid(_))), "{bad:?}");
    }
}
