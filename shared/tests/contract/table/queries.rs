//! Query scenarios: sort-key conditions, pagination and the secondary indexes.

use std::collections::BTreeSet;

use super::*;

async fn index_sks(table: &Shared, index: Index, partition: &str) -> Vec<String> {
    sks(&table.query(Query::index(index, partition)).await.unwrap().items)
}

fn attribute(items: &[Item], name: &str) -> Vec<String> {
    items.iter().map(|i| i[name].as_str().unwrap().to_owned()).collect()
}

pub async fn query_sort_conditions(table: Shared) {
    let keys = ["a", "a#", "a#1", "a#2", "ab", "b", "b#1", "ba", "c", "é"];
    put_all(&table, keys.iter().map(|sk| row("Q", sk))).await;
    // Neighbouring partitions sharing a prefix must not leak into the results.
    put_all(&table, [row("Q#", "a"), row("Qa", "a"), row("P", "b")]).await;

    let cases: Vec<(SortKey, Vec<&str>)> = vec![
        (SortKey::All, keys.to_vec()),
        (SortKey::BeginsWith("a#".into()), vec!["a#", "a#1", "a#2"]),
        (SortKey::BeginsWith("a".into()), vec!["a", "a#", "a#1", "a#2", "ab"]),
        (SortKey::BeginsWith("z".into()), vec![]),
        (SortKey::Between("a#1".into(), "b".into()), vec!["a#1", "a#2", "ab", "b"]),
        (SortKey::Between("b".into(), "b".into()), vec!["b"]),
        (SortKey::GreaterThan("b".into()), vec!["b#1", "ba", "c", "é"]),
        (SortKey::GreaterOrEqual("b".into()), vec!["b", "b#1", "ba", "c", "é"]),
        (SortKey::LessThan("a#1".into()), vec!["a", "a#"]),
        (SortKey::LessOrEqual("a#1".into()), vec!["a", "a#", "a#1"]),
        (SortKey::GreaterThan("é".into()), vec![]),
    ];
    for (sort, expected) in cases {
        let forward = table.query(Query::table("Q").sort(sort.clone())).await.unwrap();
        assert_eq!(sks(&forward.items), expected, "{sort:?} forward");
        assert_eq!(forward.last_key, None);
        let backward = table.query(Query::table("Q").sort(sort.clone()).backward()).await.unwrap();
        let reversed: Vec<&str> = expected.into_iter().rev().collect();
        assert_eq!(sks(&backward.items), reversed, "{sort:?} backward");
    }
    let empty = table.query(Query::table("nobody")).await.unwrap();
    assert!(empty.items.is_empty() && empty.last_key.is_none());
}

pub async fn pagination(table: Shared) {
    let expected: Vec<String> = (0..23).map(|i| format!("item#{i:02}")).collect();
    put_all(&table, expected.iter().map(|sk| row("G", sk))).await;
    put_all(&table, [row("G", "other"), row("H", "item#00")]).await;

    let query = Query::table("G").sort(SortKey::BeginsWith("item#".into())).limit(5);
    let (all, pages) = collect(&table, query.clone()).await;
    assert_eq!(sks(&all), expected);
    assert_eq!(pages, 5);

    let (all, _) = collect(&table, query.clone().backward()).await;
    let reversed: Vec<String> = expected.iter().rev().cloned().collect();
    assert_eq!(sks(&all), reversed);

    // A page's last_key is the table key of its last item.
    let first = table.query(query.clone()).await.unwrap();
    assert_eq!(first.last_key, Some(row("G", "item#04")));

    // An exactly full last page may or may not carry a last_key (DynamoDB's does); either way,
    // following last_key reads every item once and ends.
    let below_20 = Query::table("G").sort(SortKey::LessThan("item#20".into())).limit(5);
    let (all, pages) = collect(&table, below_20).await;
    assert_eq!(sks(&all), expected[..20]);
    assert!(pages == 4 || pages == 5, "{pages} pages");

    let (all, _) = collect(&table, Query::table("G").limit(1)).await;
    assert_eq!(all.len(), 24);
}

pub async fn index_queries(table: Shared) {
    // Contacts of one tenant by e-mail, spread over several table partitions.
    let emails = ["ana@x", "bia@x", "caio@y", "dora@x", "eva@z", "fabio@x", "gil@y"];
    for (i, email) in emails.iter().enumerate() {
        let (pk, sk) = (format!("T#{}", i % 3), format!("C#{i}"));
        let item = indexed(&pk, &sk, ("TENANT#1", email), Some(("S#ana", &sk)));
        table.put(item, None).await.unwrap();
    }
    put_all(&table, [indexed("T#9", "C#9", ("TENANT#2", "ana@x"), None)]).await;

    let page = table.query(Query::index(Index::Gsi1, "TENANT#1")).await.unwrap();
    assert_eq!(attribute(&page.items, "gsi1sk"), emails);
    let first = indexed("T#0", "C#0", ("TENANT#1", "ana@x"), Some(("S#ana", "C#0")));
    assert_eq!(page.items[0], first);

    let middle = SortKey::Between("bia@x".into(), "eva@z".into());
    let query = Query::index(Index::Gsi1, "TENANT#1").sort(middle).backward();
    let page = table.query(query).await.unwrap();
    assert_eq!(attribute(&page.items, "gsi1sk"), ["eva@z", "dora@x", "caio@y", "bia@x"]);

    // An index page's last_key holds the table key and the index key.
    let query = Query::index(Index::Gsi1, "TENANT#1").limit(3);
    let first = table.query(query.clone()).await.unwrap();
    let expected = json!({"pk": "T#2", "sk": "C#2", "gsi1pk": "TENANT#1", "gsi1sk": "caio@y"});
    assert_eq!(first.last_key, Some(item(expected)));
    let (all, _) = collect(&table, query.clone()).await;
    assert_eq!(attribute(&all, "gsi1sk"), emails);
    let (all, _) = collect(&table, query.clone().backward()).await;
    let reversed: Vec<&str> = emails.iter().rev().copied().collect();
    assert_eq!(attribute(&all, "gsi1sk"), reversed);
    let (all, _) = collect(&table, query.sort(SortKey::BeginsWith("d".into()))).await;
    assert_eq!(sks(&all), ["C#3"]);

    // The subject index holds every item of one person.
    let (all, _) = collect(&table, Query::index(Index::Subject, "S#ana").limit(2)).await;
    let got: BTreeSet<String> = sks(&all).into_iter().collect();
    assert_eq!(all.len(), emails.len());
    assert_eq!(got, (0..emails.len()).map(|i| format!("C#{i}")).collect());
    let from_5 = SortKey::GreaterOrEqual("C#5".into());
    let page = table.query(Query::index(Index::Subject, "S#ana").sort(from_5)).await.unwrap();
    assert_eq!(sks(&page.items), ["C#5", "C#6"]);
    assert!(index_sks(&table, Index::Gsi2, "TENANT#1").await.is_empty());
}

pub async fn sparse_index(table: Shared) {
    put_all(&table, [indexed("S", "1", ("L", "a"), None), row("S", "2")]).await;
    put_all(&table, [item(json!({"pk": "S", "sk": "3", "gsi1sk": "b"}))]).await;
    // DynamoDB indexes an item only when it has all of the index's key attributes.
    put_all(&table, [item(json!({"pk": "S", "sk": "4", "gsi1pk": "L"}))]).await;
    assert_eq!(index_sks(&table, Index::Gsi1, "L").await, ["1"]);
    assert!(index_sks(&table, Index::Subject, "L").await.is_empty());
}

pub async fn index_follows_writes(table: Shared) {
    let in_l = || index_sks(&table, Index::Gsi1, "L");
    put_all(&table, [indexed("F", "1", ("L", "b"), None), indexed("F", "2", ("L", "c"), None)]).await;
    assert_eq!(in_l().await, ["1", "2"]);

    // Changing the sort attribute moves the item.
    update(&table, "F", "2", Update::default().set("gsi1sk", "a")).await;
    assert_eq!(in_l().await, ["2", "1"]);
    // Changing the partition attribute moves it to another partition of the index.
    update(&table, "F", "2", Update::default().set("gsi1pk", "M")).await;
    assert_eq!(in_l().await, ["1"]);
    assert_eq!(index_sks(&table, Index::Gsi1, "M").await, ["2"]);
    // Removing the partition attribute takes it out, setting it again brings it back.
    update(&table, "F", "2", Update::default().remove("gsi1pk")).await;
    assert!(index_sks(&table, Index::Gsi1, "M").await.is_empty());
    update(&table, "F", "2", Update::default().set("gsi1pk", "L")).await;
    assert_eq!(in_l().await, ["2", "1"]);
    // A put without index attributes replaces the item and leaves the index.
    put_all(&table, [row("F", "2")]).await;
    assert_eq!(in_l().await, ["1"]);
    table.delete(&key("F", "1"), None).await.unwrap();
    assert!(in_l().await.is_empty());

    // Transactions maintain the index too.
    let move_to = |sk: &str| Update::default().set("gsi1pk", "L").set("gsi1sk", sk);
    let put = indexed("F", "3", ("L", "x"), None);
    table
        .transact(vec![
            TxOp::Put { item: put, condition: None },
            TxOp::Update { key: key("F", "2"), update: move_to("y"), condition: None },
        ])
        .await
        .unwrap();
    assert_eq!(in_l().await, ["3", "2"]);
    table
        .transact(vec![
            TxOp::Delete { key: key("F", "3"), condition: None },
            TxOp::Update { key: key("F", "2"), update: move_to("a"), condition: None },
        ])
        .await
        .unwrap();
    assert_eq!(in_l().await, ["2"]);
}
