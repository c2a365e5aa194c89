//! The cost of an inbound message in table requests.

use super::*;

/// Counts the table requests the worker makes, to keep the cost per message in view.
struct Counting {
    inner: Arc<dyn gestor_shared::ports::Table>,
    calls: Mutex<Vec<&'static str>>,
}

impl Counting {
    fn note(&self, call: &'static str) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
    }
}

#[async_trait::async_trait]
impl gestor_shared::ports::Table for Counting {
    async fn get(
        &self,
        key: &gestor_shared::ports::Key,
    ) -> Result<Option<gestor_shared::ports::Item>, gestor_shared::ports::TableError> {
        self.note("GetItem");
        self.inner.get(key).await
    }
    async fn batch_get(
        &self,
        keys: &[gestor_shared::ports::Key],
    ) -> Result<Vec<gestor_shared::ports::Item>, gestor_shared::ports::TableError> {
        self.note("BatchGetItem");
        self.inner.batch_get(keys).await
    }
    async fn put(
        &self,
        item: gestor_shared::ports::Item,
        condition: Option<gestor_shared::ports::Condition>,
    ) -> Result<(), gestor_shared::ports::TableError> {
        self.note("PutItem");
        self.inner.put(item, condition).await
    }
    async fn update(
        &self,
        key: &gestor_shared::ports::Key,
        update: gestor_shared::ports::Update,
        condition: Option<gestor_shared::ports::Condition>,
    ) -> Result<gestor_shared::ports::Item, gestor_shared::ports::TableError> {
        self.note("UpdateItem");
        self.inner.update(key, update, condition).await
    }
    async fn delete(
        &self,
        key: &gestor_shared::ports::Key,
        condition: Option<gestor_shared::ports::Condition>,
    ) -> Result<Option<gestor_shared::ports::Item>, gestor_shared::ports::TableError> {
        self.note("DeleteItem");
        self.inner.delete(key, condition).await
    }
    async fn query(
        &self,
        query: gestor_shared::ports::Query,
    ) -> Result<gestor_shared::ports::Page, gestor_shared::ports::TableError> {
        self.note("Query");
        self.inner.query(query).await
    }
    async fn transact(
        &self,
        ops: Vec<gestor_shared::ports::TxOp>,
    ) -> Result<(), gestor_shared::ports::TableError> {
        self.note("TransactWriteItems");
        self.inner.transact(ops).await
    }
    async fn batch_delete(
        &self,
        keys: &[gestor_shared::ports::Key],
    ) -> Result<(), gestor_shared::ports::TableError> {
        self.note("BatchWriteItem");
        self.inner.batch_delete(keys).await
    }
}

/// The AWS requests behind one inbound message: printed for the record, bounded so that a
/// change that multiplies them fails here.
#[tokio::test]
async fn requests_per_inbound_message() {
    let w = world().await;
    let counting = Arc::new(Counting { inner: w.backend.table.clone(), calls: Mutex::new(Vec::new()) });
    let backend = Backend { table: counting.clone(), ..w.backend.clone() };
    let settings = Settings::read(|_| None, true).unwrap_or_else(|e| panic!("{e}"));
    let inbound = Inbound::new(&backend, &settings)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_clock(w.inbound.clock.clone());
    let mut measured = Vec::new();
    for (case, id) in [
        ("first message of a new customer", "wamid.Q1"),
        ("next message of the same customer", "wamid.Q2"),
        ("a repeated delivery", "wamid.Q2"),
    ] {
        if let Ok(mut calls) = counting.calls.lock() {
            calls.clear();
        }
        let mut event = SqsEvent::default();
        event.records = vec![record(
            0,
            &whatsapp_message(
                id,
                "5215512345678",
                1_795_860_000,
                json!({"type": "text", "text": {"body": "hola"}}),
            ),
        )];
        assert!(inbound.handle(event).await.batch_item_failures.is_empty());
        let calls = counting.calls.lock().map(|c| c.clone()).unwrap_or_default();
        let events = if case.starts_with("a repeated") { 0 } else { 1 };
        println!(
            "{case}: {} table requests {calls:?}, {events} SendMessageBatch of domain events",
            calls.len()
        );
        measured.push(calls.len());
    }
    assert!(measured[0] <= 14, "{measured:?}");
    assert!(measured[1] <= 12, "{measured:?}");
    assert!(measured[2] <= 3, "a repeat stops at the claim: {measured:?}");
}
