//! Ports: the storage, queue and file operations the repositories and functions rely on.
//! Each has an AWS adapter and an embedded one in `crate::adapters`.

pub mod capacity;
pub mod files;
pub mod mail;
pub mod queue;
pub mod secrets;
pub mod table;

pub use files::{FileError, Files, ObjectInfo, StoredObject};
pub use mail::{Mail, MailError, Mailer};
pub use queue::{OutgoingMessage, Queue, QueueError, ReceivedMessage, SendOutcome};
pub use table::{Condition, Index, Item, Key, Page, Query, SortKey, Table, TableError, TxOp, Update};
