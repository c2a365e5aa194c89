//! Metering of the table port: every request made inside [`measure`] is counted with the
//! capacity units it costs ([`crate::ports::capacity`]), whichever adapter serves it, so each
//! path (an inbound update, an API route) knows what it costs the business and a budget test
//! can hold it to a number. Outside a measured scope the decorator only passes requests on.
//!
//! A write is sized on the item before it too: the scope remembers the items its requests
//! read or wrote, which covers the read-then-write paths the repositories follow; an item the
//! scope never saw is taken as absent (a lower bound for an overwrite of an unseen item).

use async_trait::async_trait;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::ports::capacity::{item_size, read_units_of, updated, write_units};
use crate::ports::table::BATCH_WRITE_LIMIT;
use crate::ports::{Condition, Item, Key, Page, Query, Table, TableError, TxOp, Update};

/// What the table requests of one scope cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// Requests, in order, by their DynamoDB operation names.
    pub requests: Vec<&'static str>,
    pub read_units: f64,
    pub write_units: f64,
}

impl Usage {
    pub fn request_count(&self) -> usize {
        self.requests.len()
    }
}

#[derive(Default)]
struct Scope {
    usage: Mutex<Usage>,
    /// The items as this scope last saw them (`None`: seen absent or deleted).
    seen: Mutex<HashMap<Key, Option<Item>>>,
    /// The scope this one runs in: what is charged here is charged there too.
    outer: Option<Arc<Scope>>,
}

impl Scope {
    /// This scope and each one it runs in.
    fn chain(self: &Arc<Self>) -> impl Iterator<Item = &Scope> {
        std::iter::successors(Some(self.as_ref()), |s| s.outer.as_deref())
    }
}

tokio::task_local! {
    static SCOPE: Arc<Scope>;
}

/// Runs `work`, answering what its table requests cost (a scope inside another one counts
/// for both).
pub async fn measure<F: Future>(work: F) -> (F::Output, Usage) {
    let outer = SCOPE.try_with(Arc::clone).ok();
    let scope = Arc::new(Scope { outer, ..Scope::default() });
    let output = SCOPE.scope(scope.clone(), work).await;
    let usage = scope.usage.lock().map(|u| u.clone()).unwrap_or_default();
    (output, usage)
}

/// Runs `f` on the current scope and each one it runs in.
fn in_scope(f: impl Fn(&Scope)) {
    let _ = SCOPE.try_with(|scope| scope.chain().for_each(&f));
}

fn charge(operation: &'static str, requests: usize, read_units: f64, write_units: f64) {
    in_scope(|scope| {
        if let Ok(mut usage) = scope.usage.lock() {
            usage.requests.extend(std::iter::repeat_n(operation, requests));
            usage.read_units += read_units;
            usage.write_units += write_units;
        }
    });
}

fn seen(key: &Key) -> Option<Item> {
    SCOPE.try_with(|scope| scope.seen.lock().ok().and_then(|s| s.get(key).cloned().flatten())).ok().flatten()
}

fn remember(key: Key, item: Option<Item>) {
    in_scope(|scope| {
        if let Ok(mut seen) = scope.seen.lock() {
            seen.insert(key.clone(), item.clone());
        }
    });
}

fn failed_condition<T>(result: &Result<T, TableError>) -> bool {
    matches!(result, Err(TableError::ConditionFailed))
}

/// The table port, metered.
pub struct Metered {
    inner: Arc<dyn Table>,
}

impl Metered {
    pub fn new(inner: Arc<dyn Table>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl Table for Metered {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        let result = self.inner.get(key).await;
        if let Ok(found) = &result {
            charge("GetItem", 1, read_units_of(found.as_ref().map_or(0, item_size), true), 0.0);
            remember(key.clone(), found.clone());
        }
        result
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, TableError> {
        let result = self.inner.batch_get(keys).await;
        if let Ok(found) = &result {
            let mut units = 0.0;
            for key in keys {
                let item = found.iter().find(|i| Key::of(i).as_ref() == Some(key));
                units += read_units_of(item.map_or(0, item_size), true);
                remember(key.clone(), item.cloned());
            }
            charge("BatchGetItem", keys.len().div_ceil(100).max(1), units, 0.0);
        }
        result
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError> {
        let key = Key::of(&item);
        let before = key.as_ref().and_then(seen);
        let result = self.inner.put(item.clone(), condition).await;
        charge(
            "PutItem",
            1,
            0.0,
            write_units(before.as_ref(), Some(&item), false, failed_condition(&result)),
        );
        if let (Ok(()), Some(key)) = (&result, key) {
            remember(key, Some(item));
        }
        result
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> Result<Item, TableError> {
        let before = seen(key);
        let intended = updated(before.as_ref(), (&key.pk, &key.sk), &update);
        let result = self.inner.update(key, update, condition).await;
        let after = result.as_ref().ok().unwrap_or(&intended);
        charge(
            "UpdateItem",
            1,
            0.0,
            write_units(before.as_ref(), Some(after), false, failed_condition(&result)),
        );
        if let Ok(after) = &result {
            remember(key.clone(), Some(after.clone()));
        }
        result
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<Option<Item>, TableError> {
        let before = seen(key);
        let result = self.inner.delete(key, condition).await;
        let deleted = result.as_ref().ok().cloned().flatten().or(before);
        charge("DeleteItem", 1, 0.0, write_units(deleted.as_ref(), None, false, failed_condition(&result)));
        if result.is_ok() {
            remember(key.clone(), None);
        }
        result
    }

    async fn query(&self, query: Query) -> Result<Page, TableError> {
        // Only the table itself reads strongly consistent; indexes never do.
        let consistent = query.index.is_none();
        let result = self.inner.query(query).await;
        if let Ok(page) = &result {
            let size = page.items.iter().map(item_size).sum();
            charge("Query", 1, read_units_of(size, consistent), 0.0);
        }
        result
    }

    async fn scan(&self, limit: usize, start_after: Option<Item>) -> Result<Page, TableError> {
        let result = self.inner.scan(limit, start_after).await;
        if let Ok(page) = &result {
            let size = page.items.iter().map(item_size).sum();
            charge("Scan", 1, read_units_of(size, true), 0.0);
        }
        result
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), TableError> {
        let images: Vec<(Key, Option<Item>, Option<Item>)> = ops
            .iter()
            .map(|op| match op {
                TxOp::Put { item, .. } => {
                    let key = Key::of(item).unwrap_or_else(|| Key::new("", ""));
                    let before = seen(&key);
                    (key, before, Some(item.clone()))
                }
                TxOp::Update { key, update, .. } => {
                    let before = seen(key);
                    let after = updated(before.as_ref(), (&key.pk, &key.sk), update);
                    (key.clone(), before, Some(after))
                }
                TxOp::Delete { key, .. } => (key.clone(), seen(key), None),
                // A condition check is charged as a write of the item it reads.
                TxOp::Check { key, .. } => {
                    let before = seen(key);
                    (key.clone(), before.clone(), before)
                }
            })
            .collect();
        let result = self.inner.transact(ops).await;
        let failed = result.is_err();
        let units: f64 = images
            .iter()
            .map(|(_, before, after)| write_units(before.as_ref(), after.as_ref(), true, failed))
            .sum();
        charge("TransactWriteItems", 1, 0.0, units);
        if result.is_ok() {
            for (key, _, after) in images {
                remember(key, after);
            }
        }
        result
    }

    async fn batch_delete(&self, keys: &[Key]) -> Result<(), TableError> {
        let befores: Vec<Option<Item>> = keys.iter().map(seen).collect();
        let result = self.inner.batch_delete(keys).await;
        let units: f64 = befores.iter().map(|b| write_units(b.as_ref(), None, false, false)).sum();
        charge("BatchWriteItem", keys.len().div_ceil(BATCH_WRITE_LIMIT), 0.0, units);
        if result.is_ok() {
            for key in keys {
                remember(key.clone(), None);
            }
        }
        result
    }
}
