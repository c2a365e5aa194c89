//! Ports that fail or record, for what the real adapters cannot be made to do on demand.

use async_trait::async_trait;
use gestor_shared::ports::{
    FileError, Files, OutgoingMessage, Queue, QueueError, ReceivedMessage, SendOutcome, StoredObject,
};
use std::sync::Mutex;
use std::time::Duration;

/// A queue whose every send fails (`partial: false`), or that refuses the first entry of
/// every call (`partial: true`), as SQS reports per-entry failures.
pub struct BrokenQueue {
    pub partial: bool,
}

/// A queue that keeps every batch call, in order, and stores nothing else.
#[derive(Default)]
pub struct RecordingQueue {
    pub calls: Mutex<Vec<Vec<OutgoingMessage>>>,
}

impl RecordingQueue {
    pub fn calls(&self) -> Vec<Vec<OutgoingMessage>> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Queue for BrokenQueue {
    async fn send_batch(&self, _: &str, messages: Vec<OutgoingMessage>) -> Result<SendOutcome, QueueError> {
        if self.partial {
            Ok(SendOutcome { failed: messages.iter().take(1).map(|m| m.id.clone()).collect() })
        } else {
            Err(QueueError::Backend("SQS is having a bad day".into()))
        }
    }
    async fn receive(&self, _: &str, _: usize, _: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        Ok(Vec::new())
    }
    async fn ack(&self, _: &str, _: &str) -> Result<(), QueueError> {
        Ok(())
    }
    async fn set_visibility(&self, _: &str, _: &str, _: Duration) -> Result<(), QueueError> {
        Ok(())
    }
    async fn redrive(&self, _: &str, _: &str) -> Result<usize, QueueError> {
        Ok(0)
    }
}

#[async_trait]
impl Queue for RecordingQueue {
    async fn send_batch(&self, _: &str, messages: Vec<OutgoingMessage>) -> Result<SendOutcome, QueueError> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(messages);
        }
        Ok(SendOutcome::default())
    }
    async fn receive(&self, _: &str, _: usize, _: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        Ok(Vec::new())
    }
    async fn ack(&self, _: &str, _: &str) -> Result<(), QueueError> {
        Ok(())
    }
    async fn set_visibility(&self, _: &str, _: &str, _: Duration) -> Result<(), QueueError> {
        Ok(())
    }
    async fn redrive(&self, _: &str, _: &str) -> Result<usize, QueueError> {
        Ok(0)
    }
}

/// A bucket that refuses every write.
pub struct BrokenFiles;

#[async_trait]
impl Files for BrokenFiles {
    async fn put(&self, _: &str, _: Vec<u8>, _: &str) -> Result<(), FileError> {
        Err(FileError::Backend("S3 is having a bad day".into()))
    }
    async fn put_tagged(&self, _: &str, _: Vec<u8>, _: &str, _: &[(&str, &str)]) -> Result<(), FileError> {
        Err(FileError::Backend("S3 is having a bad day".into()))
    }
    async fn tags(&self, _: &str) -> Result<Vec<(String, String)>, FileError> {
        Err(FileError::NotFound)
    }
    async fn get(&self, _: &str) -> Result<StoredObject, FileError> {
        Err(FileError::NotFound)
    }
    async fn delete(&self, _: &str) -> Result<(), FileError> {
        Ok(())
    }
    async fn list(&self, _: &str) -> Result<Vec<String>, FileError> {
        Ok(Vec::new())
    }
    async fn presigned_get(&self, _: &str, _: Duration) -> Result<String, FileError> {
        Err(FileError::NotFound)
    }
    async fn presigned_put(&self, _: &str, _: &str, _: u64, _: Duration) -> Result<String, FileError> {
        Err(FileError::Backend("S3 is having a bad day".into()))
    }
}
