//! The table port's contract: every scenario runs unchanged against the embedded table and
//! against DynamoDB (the emulator). Scenarios use their own partitions, and each run gets a
//! fresh table, so they are independent of each other.
//!
//! Index queries on real DynamoDB are eventually consistent; the emulator and the embedded
//! store apply index changes at once, which is what lets these tests read right after writing.

mod batches;
mod queries;

use std::fmt::Debug;
use std::sync::Arc;

use gestor_shared::adapters::dynamo::{DynamoTable, create_table};
use gestor_shared::adapters::embedded;
use gestor_shared::adapters::embedded_table::EmbeddedTable;
use gestor_shared::ports::{Condition, Index, Item, Key, Query, SortKey, Table, TableError};
use gestor_shared::ports::{TxOp, Update};
use serde_json::{Value, json};

use self::batches::{
    batch_delete, batch_get, cancelled_transaction_applies_nothing, invalid_transactions,
    transaction_applies_everything,
};
use self::queries::{index_follows_writes, index_queries, pagination, query_sort_conditions, sparse_index};
use super::aws_env;

type Shared = Arc<dyn Table>;

fn item(value: Value) -> Item {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn row(pk: &str, sk: &str) -> Item {
    item(json!({"pk": pk, "sk": sk}))
}

/// An item in gsi1 and, when `subject` is given, in the subject index.
fn indexed(pk: &str, sk: &str, gsi1: (&str, &str), subject: Option<(&str, &str)>) -> Item {
    let mut item = row(pk, sk);
    item.insert("gsi1pk".into(), json!(gsi1.0));
    item.insert("gsi1sk".into(), json!(gsi1.1));
    if let Some((spk, ssk)) = subject {
        item.insert("subject".into(), json!(spk));
        item.insert("subject_sk".into(), json!(ssk));
    }
    item
}

fn key(pk: &str, sk: &str) -> Key {
    Key::new(pk, sk)
}

fn sks(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i["sk"].as_str().unwrap().to_owned()).collect()
}

async fn get(table: &Shared, pk: &str, sk: &str) -> Option<Item> {
    table.get(&key(pk, sk)).await.unwrap()
}

async fn put_all(table: &Shared, items: impl IntoIterator<Item = Item>) {
    for item in items {
        table.put(item, None).await.unwrap();
    }
}

async fn update(table: &Shared, pk: &str, sk: &str, update: Update) -> Item {
    table.update(&key(pk, sk), update, None).await.unwrap()
}

fn equals(name: &str, value: Value) -> Option<Condition> {
    Some(Condition::Equals(name.into(), value))
}

#[track_caller]
fn assert_condition_failed<T: Debug>(result: Result<T, TableError>) {
    assert!(matches!(result, Err(TableError::ConditionFailed)), "{result:?}");
}

#[track_caller]
fn assert_invalid<T: Debug>(result: Result<T, TableError>) {
    assert!(matches!(result, Err(TableError::Invalid(_))), "{result:?}");
}

/// Every item of the query, page by page, checking that no page exceeds the limit and that
/// the pages end. Answers the items and the number of pages read.
async fn collect(table: &Shared, query: Query) -> (Vec<Item>, usize) {
    let limit = query.limit;
    let (mut all, mut pages, mut start) = (Vec::new(), 0, None);
    loop {
        let page = table.query(query.clone().start_after(start)).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= limit, "a page exceeds the limit");
        assert!(pages < 100, "the pages never end");
        all.extend(page.items);
        match page.last_key {
            Some(key) => start = Some(key),
            None => return (all, pages),
        }
    }
}

async fn embedded_table() -> (Shared, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = embedded::open(&dir.path().join("store.redb")).unwrap();
    (Arc::new(EmbeddedTable::new(db).unwrap()), dir)
}

async fn aws_table() -> Option<Shared> {
    let config = aws_env::config().await?;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let name = aws_env::unique_name("contract-table");
    create_table(&client, &name).await.unwrap();
    Some(Arc::new(DynamoTable::new(client, name)))
}

/// One embedded test and one AWS test per scenario.
macro_rules! contract {
    ($($scenario:ident),* $(,)?) => {
        mod embedded_adapter {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    let (table, _dir) = super::embedded_table().await;
                    super::$scenario(table).await;
                }
            )*
        }
        mod aws_adapter {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    let Some(table) = super::aws_table().await else { return };
                    super::$scenario(table).await;
                }
            )*
        }
    };
}

contract!(
    round_trip,
    conditional_put,
    optimistic_version_check,
    failed_delete_keeps_the_item,
    update_creates_sets_removes_and_adds,
    invalid_requests_are_refused,
    expired_items_are_still_stored,
    query_sort_conditions,
    pagination,
    index_queries,
    sparse_index,
    index_follows_writes,
    transaction_applies_everything,
    cancelled_transaction_applies_nothing,
    invalid_transactions,
    batch_get,
    batch_delete,
    scan_reads_every_item_in_pages,
);

/// Embedded only: moto serves requests on several threads without locking its tables, so
/// concurrent updates lose writes there (98 of 100 counted); DynamoDB documents `ADD` and
/// conditional writes as atomic, which is what this checks of the embedded table.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_concurrent_writes_are_atomic() {
    let (table, _dir) = embedded_table().await;
    concurrent_writes_are_atomic(table).await;
}

/// Provisioning twice is harmless, and leaves TTL on.
#[tokio::test]
async fn aws_create_table_is_idempotent() {
    let Some(config) = aws_env::config().await else {
        return;
    };
    let client = aws_sdk_dynamodb::Client::new(&config);
    let name = aws_env::unique_name("contract-table");
    create_table(&client, &name).await.unwrap();
    create_table(&client, &name).await.unwrap();
    let ttl = client.describe_time_to_live().table_name(&name).send().await.unwrap();
    let ttl = ttl.time_to_live_description.unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    let table = client.describe_table().table_name(&name).send().await.unwrap();
    let indexes = table.table.unwrap().global_secondary_indexes.unwrap_or_default();
    let mut names: Vec<_> = indexes.iter().filter_map(|i| i.index_name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["bysubject", "gsi1", "gsi2"]);
}

/// The embedded table keeps its items across a reopen of the database.
#[tokio::test]
async fn embedded_table_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let stored = indexed("R", "1", ("L", "a"), None);
    {
        let table = EmbeddedTable::new(embedded::open(&path).unwrap()).unwrap();
        table.put(stored.clone(), None).await.unwrap();
    }
    let table: Shared = Arc::new(EmbeddedTable::new(embedded::open(&path).unwrap()).unwrap());
    assert_eq!(get(&table, "R", "1").await, Some(stored));
    let index = table.query(Query::index(Index::Gsi1, "L")).await.unwrap();
    assert_eq!(sks(&index.items), ["1"]);
}

async fn round_trip(table: Shared) {
    let stored = item(json!({
        "pk": "T#1", "sk": "C#1", "name": "Ana", "age": 31, "ratio": 0.25, "negative": -7,
        "big": 9_007_199_254_740_993_i64, "vip": true, "note": null, "empty": "",
        "tags": ["a", 1, false, null, {"deep": [[], {}]}],
        "address": {"city": "Lisboa", "geo": {"lat": 38.72, "lng": -9.14}},
    }));
    table.put(stored.clone(), None).await.unwrap();
    assert_eq!(get(&table, "T#1", "C#1").await, Some(stored));
    assert_eq!(get(&table, "T#1", "C#2").await, None);
    assert_eq!(get(&table, "T#2", "C#1").await, None);

    // A put replaces the whole item.
    let replaced = item(json!({"pk": "T#1", "sk": "C#1", "name": "Bia"}));
    table.put(replaced.clone(), None).await.unwrap();
    assert_eq!(get(&table, "T#1", "C#1").await, Some(replaced.clone()));

    // Integral numbers read back as integers, whatever their spelling (DynamoDB canonicalises).
    let floats = item(json!({"pk": "T#1", "sk": "C#3", "whole": 2.0, "half": 2.5}));
    table.put(floats, None).await.unwrap();
    let read = get(&table, "T#1", "C#3").await.unwrap();
    assert_eq!((&read["whole"], &read["half"]), (&json!(2), &json!(2.5)));

    let deleted = table.delete(&key("T#1", "C#1"), None).await.unwrap();
    assert_eq!(deleted, Some(replaced));
    assert_eq!(get(&table, "T#1", "C#1").await, None);
    assert_eq!(table.delete(&key("T#1", "C#1"), None).await.unwrap(), None);
}

async fn conditional_put(table: Shared) {
    let first = item(json!({"pk": "P", "sk": "1", "v": 1}));
    table.put(first.clone(), Some(Condition::NotExists)).await.unwrap();
    let second = item(json!({"pk": "P", "sk": "1", "v": 2}));
    assert_condition_failed(table.put(second.clone(), Some(Condition::NotExists)).await);
    assert_eq!(get(&table, "P", "1").await, Some(first));

    assert_condition_failed(table.put(row("P", "2"), Some(Condition::Exists)).await);
    assert_eq!(get(&table, "P", "2").await, None);

    table.put(second.clone(), Some(Condition::Exists)).await.unwrap();
    assert_eq!(get(&table, "P", "1").await, Some(second.clone()));

    // Lacks: the item is there without the attribute (a missing item does not lack it).
    let lacks = |name: &str| Some(Condition::Lacks(name.into()));
    assert_condition_failed(table.put(row("P", "3"), lacks("hidden")).await);
    assert_condition_failed(table.put(second.clone(), lacks("v")).await);
    let third = item(json!({"pk": "P", "sk": "1", "v": 3}));
    table.put(third.clone(), lacks("hidden")).await.unwrap();
    assert_eq!(get(&table, "P", "1").await, Some(third));
}

async fn optimistic_version_check(table: Shared) {
    let doc = key("V", "doc");
    put_all(&table, [item(json!({"pk": "V", "sk": "doc", "version": 1, "status": "open"}))]).await;

    let stale = Update::default().set("version", 2).set("title", "stale");
    assert_condition_failed(table.update(&doc, stale, equals("version", json!(2))).await);
    let unchanged = get(&table, "V", "doc").await.unwrap();
    assert_eq!(unchanged["version"], json!(1));
    assert!(!unchanged.contains_key("title"));

    let fresh = Update::default().set("version", 2).set("title", "fresh");
    let both = Condition::All(vec![
        Condition::Equals("version".into(), json!(1)),
        Condition::Equals("status".into(), json!("open")),
    ]);
    let after = table.update(&doc, fresh, Some(both)).await.unwrap();
    assert_eq!((&after["version"], &after["title"]), (&json!(2), &json!("fresh")));
    assert_eq!(get(&table, "V", "doc").await, Some(after));

    // Numbers compare by value; strings never equal numbers.
    let set_n = |n: i64| Update::default().set("n", n);
    table.update(&doc, set_n(1), equals("version", json!(2.0))).await.unwrap();
    assert_condition_failed(table.update(&doc, set_n(2), equals("version", json!("2"))).await);

    // Conditions on containers, and on a missing attribute. (Not compared with null: moto
    // takes a missing attribute as equal to NULL, DynamoDB does not.)
    let nested = json!({"a": [1, "x"], "b": {"c": true}});
    update(&table, "V", "doc", Update::default().set("meta", nested.clone())).await;
    table.update(&doc, set_n(3), equals("meta", nested)).await.unwrap();
    assert_condition_failed(table.update(&doc, set_n(4), equals("nothing", json!(0))).await);
    assert_eq!(get(&table, "V", "doc").await.unwrap()["n"], json!(3));

    // A conditional update of an absent item fails and creates nothing.
    let ghost = key("V", "ghost");
    for condition in [equals("version", json!(1)), Some(Condition::Exists), Some(Condition::All(vec![]))] {
        assert_condition_failed(table.update(&ghost, set_n(1), condition).await);
    }
    assert_eq!(get(&table, "V", "ghost").await, None);
    table.update(&ghost, set_n(1), Some(Condition::NotExists)).await.unwrap();
    assert!(get(&table, "V", "ghost").await.is_some());
}

async fn failed_delete_keeps_the_item(table: Shared) {
    let stored = item(json!({"pk": "D", "sk": "1", "version": 3}));
    table.put(stored.clone(), None).await.unwrap();
    assert_condition_failed(table.delete(&key("D", "1"), equals("version", json!(2))).await);
    assert_eq!(get(&table, "D", "1").await, Some(stored.clone()));
    assert_condition_failed(table.delete(&key("D", "absent"), Some(Condition::Exists)).await);

    let deleted = table.delete(&key("D", "1"), equals("version", json!(3))).await;
    assert_eq!(deleted.unwrap(), Some(stored));
    assert_eq!(get(&table, "D", "1").await, None);
}

async fn update_creates_sets_removes_and_adds(table: Shared) {
    let create = Update::default().set("name", "Ana").set("tags", json!(["a"])).add("visits", 3);
    let created = update(&table, "U", "1", create).await;
    let expected = item(json!({"pk": "U", "sk": "1", "name": "Ana", "tags": ["a"], "visits": 3}));
    assert_eq!(created, expected);
    assert_eq!(get(&table, "U", "1").await, Some(expected));

    let change = Update::default()
        .set("name", "Bia")
        .set("profile", json!({"lang": "pt", "age": 40}))
        .remove("tags")
        .remove("never_there")
        .add("visits", -5)
        .add("fresh", 2);
    let expected = item(json!({
        "pk": "U", "sk": "1", "name": "Bia", "profile": {"lang": "pt", "age": 40},
        "visits": -2, "fresh": 2,
    }));
    assert_eq!(update(&table, "U", "1", change).await, expected);
    assert_eq!(get(&table, "U", "1").await, Some(expected));

    // Removing everything but the key still leaves the item.
    let strip = ["name", "profile", "visits", "fresh"].into_iter().fold(Update::default(), Update::remove);
    assert_eq!(update(&table, "U", "1", strip).await, row("U", "1"));
    assert_eq!(get(&table, "U", "1").await, Some(row("U", "1")));
}

async fn invalid_requests_are_refused(table: Shared) {
    let kept = item(json!({"pk": "I", "sk": "1", "name": "x"}));
    table.put(kept.clone(), None).await.unwrap();
    let k = key("I", "1");
    let change = |update: Update| table.update(&k, update, None);
    assert_invalid(change(Update::default().add("name", 1)).await);
    assert_invalid(change(Update::default().set("pk", "other")).await);
    assert_invalid(change(Update::default().set("a", 1).remove("a")).await);
    assert_invalid(change(Update::default().set("gsi1pk", 5)).await);
    assert_invalid(change(Update::default()).await);
    let wrong_index = json!({"pk": "I", "sk": "2", "gsi1pk": 5, "gsi1sk": "x"});
    assert_invalid(table.put(item(wrong_index), None).await);
    let wrong_subject = json!({"pk": "I", "sk": "3", "subject": "s", "subject_sk": true});
    assert_invalid(table.put(item(wrong_subject), None).await);
    assert_invalid(table.put(item(json!({"pk": "I", "sk": 4})), None).await);
    assert_invalid(table.put(item(json!({"pk": "", "sk": "5"})), None).await);
    assert_invalid(table.query(Query::table("I").limit(0)).await);
    let inverted = SortKey::Between("b".into(), "a".into());
    assert_invalid(table.query(Query::table("I").sort(inverted)).await);

    assert_eq!(get(&table, "I", "1").await, Some(kept));
    assert_eq!(get(&table, "I", "2").await, None);
    assert_eq!(get(&table, "I", "3").await, None);
}

async fn concurrent_writes_are_atomic(table: Shared) {
    let counters: Vec<_> = (0..20)
        .map(|_| {
            let table = Arc::clone(&table);
            tokio::spawn(async move {
                for _ in 0..5 {
                    update(&table, "C", "counter", Update::default().add("n", 1)).await;
                }
            })
        })
        .collect();
    for task in counters {
        task.await.unwrap();
    }
    assert_eq!(get(&table, "C", "counter").await.unwrap()["n"], json!(100));

    // Of racing creators, exactly one wins.
    let racers: Vec<_> = (0..10)
        .map(|i| {
            let table = Arc::clone(&table);
            let claim = item(json!({"pk": "C", "sk": "lock", "owner": i}));
            tokio::spawn(async move { table.put(claim, Some(Condition::NotExists)).await })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(()) => winners += 1,
            Err(TableError::ConditionFailed) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(winners, 1);
}

async fn expired_items_are_still_stored(table: Shared) {
    // The store may sweep expired items eventually, never at once: readers filter them.
    let expired = item(json!({"pk": "E", "sk": "1", "expires_at": 1_000_000_000}));
    table.put(expired.clone(), None).await.unwrap();
    assert_eq!(get(&table, "E", "1").await, Some(expired.clone()));
    assert_eq!(table.query(Query::table("E")).await.unwrap().items, [expired]);
}

async fn scan_reads_every_item_in_pages(table: Shared) {
    // Each run has a fresh table: these are all of its items, in several partitions and one
    // in an index, read back once each however the pages fall.
    let mut written: Vec<Item> = (0..7).map(|n| row(&format!("S{}", n % 3), &n.to_string())).collect();
    written.push(indexed("T", "x", ("G", "1"), Some(("who", "ITEM#1"))));
    put_all(&table, written.clone()).await;
    let mut seen = Vec::new();
    let mut start = None;
    for _ in 0..20 {
        let page = table.scan(3, start.take()).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items);
        match page.last_key {
            Some(last) => start = Some(last),
            None => break,
        }
    }
    let key_of = |i: &Item| (i["pk"].as_str().unwrap().to_owned(), i["sk"].as_str().unwrap().to_owned());
    let mut expected: Vec<_> = written.iter().map(key_of).collect();
    let mut found: Vec<_> = seen.iter().map(key_of).collect();
    expected.sort();
    found.sort();
    assert_eq!(found, expected);
    assert!(seen.contains(&written[7]), "items come whole");
    assert_invalid(table.scan(0, None).await);
}
