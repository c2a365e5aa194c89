//! Transactions and batch scenarios.

use gestor_shared::ports::table::TRANSACTION_LIMIT;

use super::*;

pub async fn transaction_applies_everything(table: Shared) {
    let account = item(json!({"pk": "X", "sk": "account", "balance": 10, "version": 1}));
    put_all(&table, [account, row("X", "old"), row("X", "guard")]).await;
    let entry = item(json!({"pk": "X", "sk": "entry#1", "amount": -3}));
    table
        .transact(vec![
            TxOp::Put { item: entry.clone(), condition: Some(Condition::NotExists) },
            TxOp::Update {
                key: key("X", "account"),
                update: Update::default().add("balance", -3).set("version", 2),
                condition: equals("version", json!(1)),
            },
            TxOp::Delete { key: key("X", "old"), condition: Some(Condition::Exists) },
            TxOp::Check { key: key("X", "guard"), condition: Condition::Exists },
            TxOp::Update { key: key("X", "created"), update: Update::default().add("n", 1), condition: None },
        ])
        .await
        .unwrap();
    let account = get(&table, "X", "account").await.unwrap();
    assert_eq!((&account["balance"], &account["version"]), (&json!(7), &json!(2)));
    assert_eq!(get(&table, "X", "entry#1").await, Some(entry));
    assert_eq!(get(&table, "X", "old").await, None);
    assert_eq!(get(&table, "X", "guard").await, Some(row("X", "guard")));
    assert_eq!(get(&table, "X", "created").await.unwrap()["n"], json!(1));
}

pub async fn cancelled_transaction_applies_nothing(table: Shared) {
    let account = item(json!({"pk": "Y", "sk": "account", "balance": 10, "version": 5}));
    put_all(&table, [account.clone(), row("Y", "old"), row("Y", "taken")]).await;
    let ops = |version: i64| {
        vec![
            TxOp::Put { item: row("Y", "entry#1"), condition: Some(Condition::NotExists) },
            TxOp::Update {
                key: key("Y", "account"),
                update: Update::default().add("balance", -3),
                condition: equals("version", json!(version)),
            },
            TxOp::Delete { key: key("Y", "old"), condition: None },
            TxOp::Put { item: row("Y", "taken"), condition: Some(Condition::NotExists) },
            TxOp::Check { key: key("Y", "missing"), condition: Condition::Exists },
        ]
    };
    for (version, expected) in [(4, [false, true, false, true, true]), (5, [false, false, false, true, true])]
    {
        match table.transact(ops(version)).await {
            Err(TableError::TransactionCanceled { failed }) => assert_eq!(failed, expected),
            other => panic!("expected a cancelled transaction, got {other:?}"),
        }
    }
    assert_eq!(get(&table, "Y", "account").await, Some(account));
    assert_eq!(get(&table, "Y", "entry#1").await, None);
    assert_eq!(get(&table, "Y", "old").await, Some(row("Y", "old")));
}

pub async fn invalid_transactions(table: Shared) {
    let same_key = vec![
        TxOp::Put { item: row("Z", "1"), condition: None },
        TxOp::Check { key: key("Z", "1"), condition: Condition::NotExists },
    ];
    let too_many = (0..=TRANSACTION_LIMIT)
        .map(|i| TxOp::Put { item: row("Z", &format!("n{i}")), condition: None })
        .collect();
    let empty_update = vec![TxOp::Update { key: key("Z", "2"), update: Update::default(), condition: None }];
    for ops in [same_key, too_many, empty_update, Vec::new()] {
        assert_invalid(table.transact(ops).await);
    }
    assert!(table.query(Query::table("Z")).await.unwrap().items.is_empty());
}

pub async fn batch_get(table: Shared) {
    let stored: Vec<Item> = (0..5).map(|i| item(json!({"pk": "B", "sk": i.to_string(), "n": i}))).collect();
    put_all(&table, stored.clone()).await;
    let keys =
        [key("B", "0"), key("B", "3"), key("B", "absent"), key("B", "3"), key("other", "0"), key("B", "4")];
    let mut got = table.batch_get(&keys).await.unwrap();
    got.sort_by_key(|i| i["sk"].as_str().unwrap().to_owned());
    assert_eq!(got, [stored[0].clone(), stored[3].clone(), stored[4].clone()]);
    assert!(table.batch_get(&[]).await.unwrap().is_empty());

    let hundred: Vec<Key> = (0..100).map(|i| key("B", &i.to_string())).collect();
    assert_eq!(table.batch_get(&hundred).await.unwrap().len(), 5);
}

pub async fn batch_delete(table: Shared) {
    let doomed: Vec<Item> =
        (0..60).map(|i| format!("{i:02}")).map(|sk| indexed("K", &sk, ("KL", &sk), None)).collect();
    put_all(&table, doomed.iter().cloned()).await;
    put_all(&table, [row("K2", "00"), indexed("KK", "1", ("KL", "zz"), None)]).await;

    let mut keys: Vec<Key> = doomed.iter().map(|i| Key::of(i).unwrap()).collect();
    keys.extend([key("K", "absent"), key("K", "00")]);
    table.batch_delete(&keys).await.unwrap();

    assert!(table.query(Query::table("K")).await.unwrap().items.is_empty());
    assert_eq!(sks(&table.query(Query::table("K2")).await.unwrap().items), ["00"]);
    let index = table.query(Query::index(Index::Gsi1, "KL")).await.unwrap();
    assert_eq!(sks(&index.items), ["1"]);
    table.batch_delete(&[]).await.unwrap();
}
