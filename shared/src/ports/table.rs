//! The table port: the subset of DynamoDB that the repositories need, expressed in our own
//! types so that the embedded store can honour exactly the same contract.
//!
//! Items are JSON objects. Every item carries the string attributes `pk` and `sk`; items may
//! carry the index attributes named in [`Index`] and the TTL attribute [`TTL_ATTRIBUTE`].
//! Numbers are JSON numbers (integers in practice); binary data is not stored in items.

use async_trait::async_trait;
use serde_json::{Map, Value};

pub type Item = Map<String, Value>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
/// Epoch seconds after which an item may be removed by the store. Only a backstop: code that
/// reads an item with this attribute must treat an expired one as absent.
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// Most items a single batch-delete call to DynamoDB accepts; adapters chunk larger batches.
pub const BATCH_WRITE_LIMIT: usize = 25;
/// Most operations one DynamoDB transaction accepts.
pub const TRANSACTION_LIMIT: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }

    /// The key of an item, if it has string `pk` and `sk` attributes.
    pub fn of(item: &Item) -> Option<Self> {
        Some(Self { pk: item.get(PK)?.as_str()?.to_owned(), sk: item.get(SK)?.as_str()?.to_owned() })
    }
}

/// Global secondary indexes of the table. Each one is a (partition, sort) pair of string
/// attributes; an item without the partition attribute is not in the index (sparse index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    /// General-purpose lookups, overloaded per item type (see infra/DATA-MODEL.md).
    Gsi1,
    /// A second general-purpose index, for item types that need two alternate orders.
    Gsi2,
    /// Every item holding a person's data, by whose data it is: export and erasure query it.
    Subject,
}

impl Index {
    pub const ALL: [Index; 3] = [Index::Gsi1, Index::Gsi2, Index::Subject];

    pub fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1",
            Index::Gsi2 => "gsi2",
            Index::Subject => "bysubject",
        }
    }

    pub fn partition_attribute(self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1pk",
            Index::Gsi2 => "gsi2pk",
            Index::Subject => "subject",
        }
    }

    pub fn sort_attribute(self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1sk",
            Index::Gsi2 => "gsi2sk",
            Index::Subject => "subject_sk",
        }
    }
}

/// A condition on the current state of one item, checked atomically with the write.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The item exists.
    Exists,
    /// No item has this key.
    NotExists,
    /// The item exists and the attribute equals the value.
    Equals(String, Value),
    /// The item exists without the attribute.
    Lacks(String),
    /// The item exists and every condition holds.
    All(Vec<Condition>),
}

/// A partial update of one item, applied as DynamoDB's `UpdateItem` does: when the item is
/// absent it is created from the key and the update (unless a condition prevents that).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// Attributes to set to these values.
    pub set: Item,
    /// Attributes to remove.
    pub remove: Vec<String>,
    /// Numeric attributes to increase by these amounts (absent counts as 0): atomic counters.
    pub add: Vec<(String, i64)>,
}

impl Update {
    pub fn set(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set.insert(name.into(), value.into());
        self
    }

    pub fn remove(mut self, name: impl Into<String>) -> Self {
        self.remove.push(name.into());
        self
    }

    pub fn add(mut self, name: impl Into<String>, by: i64) -> Self {
        self.add.push((name.into(), by));
        self
    }
}

/// Which sort keys a query returns within its partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    All,
    BeginsWith(String),
    /// Inclusive on both ends, as DynamoDB's `BETWEEN`.
    Between(String, String),
    /// Strictly greater / less than, and their inclusive forms.
    GreaterThan(String),
    GreaterOrEqual(String),
    LessThan(String),
    LessOrEqual(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `None` queries the table itself.
    pub index: Option<Index>,
    /// The value of the partition attribute (`pk`, or the index's partition attribute).
    pub partition: String,
    pub sort: SortKey,
    /// Ascending by sort key when true.
    pub forward: bool,
    /// Most items in one page (the adapter may return fewer, never more).
    pub limit: usize,
    /// Where the previous page stopped: its `last_key`.
    pub start_after: Option<Item>,
}

impl Query {
    pub fn table(partition: impl Into<String>) -> Self {
        Self {
            index: None,
            partition: partition.into(),
            sort: SortKey::All,
            forward: true,
            limit: 100,
            start_after: None,
        }
    }

    pub fn index(index: Index, partition: impl Into<String>) -> Self {
        Self { index: Some(index), ..Self::table(partition) }
    }

    pub fn sort(mut self, sort: SortKey) -> Self {
        self.sort = sort;
        self
    }

    pub fn backward(mut self) -> Self {
        self.forward = false;
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    pub fn start_after(mut self, last_key: Option<Item>) -> Self {
        self.start_after = last_key;
        self
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// The key attributes of the last item read (table key plus the index's attributes when
    /// querying an index) when more items may follow; `None` when the query is exhausted.
    pub last_key: Option<Item>,
}

/// One operation of a transaction: all of them apply, or none does.
#[derive(Debug, Clone, PartialEq)]
pub enum TxOp {
    Put { item: Item, condition: Option<Condition> },
    Update { key: Key, update: Update, condition: Option<Condition> },
    Delete { key: Key, condition: Option<Condition> },
    Check { key: Key, condition: Condition },
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("the condition on the item does not hold")]
    ConditionFailed,
    /// One entry per operation, in order: `true` where that operation's condition failed.
    #[error("the transaction was cancelled")]
    TransactionCanceled { failed: Vec<bool> },
    #[error("invalid request to the table: {0}")]
    Invalid(String),
    #[error("the table is throttling requests")]
    Throttled,
    #[error("table backend failure: {0}")]
    Backend(String),
}

#[async_trait]
pub trait Table: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError>;

    /// Reads up to 100 items by key; absent ones are skipped. Order is not guaranteed.
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, TableError>;

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError>;

    /// Applies the update and answers the item as it is afterwards.
    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> Result<Item, TableError>;

    /// Deletes the item and answers it as it was, if it existed.
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<Option<Item>, TableError>;

    async fn query(&self, query: Query) -> Result<Page, TableError>;

    /// Up to [`TRANSACTION_LIMIT`] operations on distinct items, all or nothing.
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), TableError>;

    /// Deletes any number of items (chunked as the backend requires); absent keys are fine.
    async fn batch_delete(&self, keys: &[Key]) -> Result<(), TableError>;

    /// Every item, a page of at most `limit` after `start_after` (a page's `last_key`), in no
    /// order to rely on: DynamoDB's `Scan`, which reads (and bills) the whole table. Only for
    /// what must see every item whatever its key: a whole account's erasure, and the canary
    /// check that nothing of an erased person is left anywhere.
    async fn scan(&self, limit: usize, start_after: Option<Item>) -> Result<Page, TableError>;
}
