//! The table port over DynamoDB through the official SDK.
//!
//! Requests are checked against DynamoDB's rules first (see `table_rules`), so both adapters
//! refuse the same requests with the same `TableError::Invalid`.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters as _;
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, ConditionCheck, Delete, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ReturnValue,
    ScalarAttributeType, TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem,
    Update as DynamoUpdate, WriteRequest,
};

use super::codec::{AttributeMap, from_attributes, key_attributes, to_attributes};
use super::dynamo_expr::Expressions;
use super::table_rules::{
    BATCH_GET_LIMIT, check_item, check_key, check_query, check_transaction, check_update, distinct_keys,
    invalid,
};
use crate::ports::table::{
    BATCH_WRITE_LIMIT, Condition, Item, Key, PK, Page, Query, SK, Table, TableError, TxOp, Update,
};
use crate::resources::TABLE;

/// Rounds of resending what a batch call left unprocessed before reporting throttling.
const BATCH_ATTEMPTS: u32 = 6;

#[derive(Clone, Debug)]
pub struct DynamoTable {
    client: Client,
    table: String,
}

impl DynamoTable {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self { client, table: table_name.into() }
    }

    fn missing_attributes() -> TableError {
        TableError::Backend("DynamoDB answered no attributes for ALL_NEW".into())
    }
}

fn classify<E, R>(error: SdkError<E, R>) -> TableError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = error.as_service_error().and_then(ProvideErrorMetadata::code).map(str::to_owned);
    match code.as_deref() {
        Some("ConditionalCheckFailedException") => TableError::ConditionFailed,
        Some("ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded") => {
            TableError::Throttled
        }
        Some("ValidationException") => {
            let message = error.as_service_error().and_then(ProvideErrorMetadata::message);
            TableError::Invalid(message.unwrap_or("rejected by DynamoDB").to_owned())
        }
        _ => TableError::Backend(DisplayErrorContext(&error).to_string()),
    }
}

/// A cancelled transaction, told apart by its reasons: condition failures are the caller's to
/// handle (`TransactionCanceled`), the other reasons are throttling or invalid requests. A
/// cancellation by a conflicting concurrent transaction also answers `TransactionCanceled`,
/// with no flag set, since retrying is the caller's decision.
fn classify_transaction<R: std::fmt::Debug>(
    error: SdkError<TransactWriteItemsError, R>,
    ops: usize,
) -> TableError {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = error.as_service_error()
    else {
        return classify(error);
    };
    let codes: Vec<&str> =
        cancelled.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None")).collect();
    let failed: Vec<bool> = (0..ops).map(|i| codes.get(i) == Some(&"ConditionalCheckFailed")).collect();
    if failed.contains(&true) {
        return TableError::TransactionCanceled { failed };
    }
    let any = |wanted: &[&str]| codes.iter().any(|code| wanted.contains(code));
    if any(&["ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"]) {
        TableError::Throttled
    } else if any(&["ValidationError", "ItemCollectionSizeLimitExceeded"]) {
        TableError::Invalid(cancelled.message().unwrap_or("invalid transaction").to_owned())
    } else {
        TableError::TransactionCanceled { failed }
    }
}

fn build_failed(error: BuildError) -> TableError {
    TableError::Backend(format!("cannot build the DynamoDB request: {error}"))
}

/// A short, growing pause before resending unprocessed batch entries.
async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(2 << attempt.min(5))).await;
}

impl DynamoTable {
    fn transact_item(&self, op: TxOp) -> Result<TransactWriteItem, TableError> {
        let mut expressions = Expressions::default();
        let item = match op {
            TxOp::Put { item, condition } => {
                let condition = condition.map(|c| expressions.condition(&c));
                let (names, values) = expressions.into_maps();
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_attributes(&item)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_failed)?;
                TransactWriteItem::builder().put(put)
            }
            TxOp::Update { key, update, condition } => {
                let condition = condition.map(|c| expressions.condition(&c));
                let expression = expressions.update(&update);
                let (names, values) = expressions.into_maps();
                let update = DynamoUpdate::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)))
                    .set_update_expression(expression)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_failed)?;
                TransactWriteItem::builder().update(update)
            }
            TxOp::Delete { key, condition } => {
                let condition = condition.map(|c| expressions.condition(&c));
                let (names, values) = expressions.into_maps();
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_failed)?;
                TransactWriteItem::builder().delete(delete)
            }
            TxOp::Check { key, condition } => {
                let condition = expressions.condition(&condition);
                let (names, values) = expressions.into_maps();
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)))
                    .condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_failed)?;
                TransactWriteItem::builder().condition_check(check)
            }
        };
        Ok(item.build())
    }

    async fn batch_get_chunk(&self, keys: Vec<AttributeMap>) -> Result<Vec<Item>, TableError> {
        let mut found = Vec::with_capacity(keys.len());
        let mut pending = Some(keys);
        for attempt in 0..BATCH_ATTEMPTS {
            let Some(keys) = pending.take().filter(|keys| !keys.is_empty()) else {
                return Ok(found);
            };
            if attempt > 0 {
                backoff(attempt).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(build_failed)?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(classify)?;
            let mut responses = output.responses.unwrap_or_default();
            found.extend(responses.remove(&self.table).unwrap_or_default().into_iter().map(from_attributes));
            pending = output
                .unprocessed_keys
                .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                .map(|request| request.keys);
        }
        match pending {
            Some(keys) if !keys.is_empty() => Err(TableError::Throttled),
            _ => Ok(found),
        }
    }

    async fn batch_delete_chunk(&self, keys: &[Key]) -> Result<(), TableError> {
        let mut pending = keys
            .iter()
            .map(|key| {
                let delete = DeleteRequest::builder()
                    .set_key(Some(key_attributes(key)))
                    .build()
                    .map_err(build_failed)?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>, TableError>>()?;
        for attempt in 0..BATCH_ATTEMPTS {
            if pending.is_empty() {
                return Ok(());
            }
            if attempt > 0 {
                backoff(attempt).await;
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(classify)?;
            pending = output
                .unprocessed_items
                .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                .unwrap_or_default();
        }
        if pending.is_empty() { Ok(()) } else { Err(TableError::Throttled) }
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        check_key(key)?;
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.item.map(from_attributes))
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, TableError> {
        let keys = distinct_keys(keys)?;
        if keys.len() > BATCH_GET_LIMIT {
            return Err(invalid(format!("batch_get reads at most {BATCH_GET_LIMIT} keys")));
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.batch_get_chunk(keys.iter().map(key_attributes).collect()).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError> {
        check_item(&item)?;
        let mut expressions = Expressions::default();
        let condition = condition.map(|c| expressions.condition(&c));
        let (names, values) = expressions.into_maps();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attributes(&item)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> Result<Item, TableError> {
        check_update(key, &update)?;
        let mut expressions = Expressions::default();
        let condition = condition.map(|c| expressions.condition(&c));
        let expression = expressions.update(&update);
        let (names, values) = expressions.into_maps();
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .set_update_expression(expression)
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(classify)?;
        output.attributes.map(from_attributes).ok_or_else(Self::missing_attributes)
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<Option<Item>, TableError> {
        check_key(key)?;
        let mut expressions = Expressions::default();
        let condition = condition.map(|c| expressions.condition(&c));
        let (names, values) = expressions.into_maps();
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.attributes.filter(|a| !a.is_empty()).map(from_attributes))
    }

    async fn query(&self, query: Query) -> Result<Page, TableError> {
        check_query(&query)?;
        let (partition_attribute, sort_attribute) = match query.index {
            None => (PK, SK),
            Some(index) => (index.partition_attribute(), index.sort_attribute()),
        };
        let mut expressions = Expressions::default();
        let key_condition =
            expressions.key_condition(partition_attribute, &query.partition, sort_attribute, &query.sort);
        let (names, values) = expressions.into_maps();
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(query.index.map(|index| index.name().to_owned()))
            .key_condition_expression(key_condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .scan_index_forward(query.forward)
            .limit(i32::try_from(query.limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(query.start_after.as_ref().map(to_attributes))
            // Reads of the table itself see every write before them, as the embedded store
            // does; an index can only be read eventually consistently.
            .set_consistent_read(query.index.is_none().then_some(true))
            .send()
            .await
            .map_err(classify)?;
        Ok(Page {
            items: output.items.unwrap_or_default().into_iter().map(from_attributes).collect(),
            last_key: output.last_evaluated_key.filter(|k| !k.is_empty()).map(from_attributes),
        })
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), TableError> {
        check_transaction(&ops)?;
        let count = ops.len();
        let items = ops.into_iter().map(|op| self.transact_item(op)).collect::<Result<Vec<_>, _>>()?;
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| classify_transaction(e, count))?;
        Ok(())
    }

    async fn scan(&self, limit: usize, start_after: Option<Item>) -> Result<Page, TableError> {
        if limit == 0 {
            return Err(TableError::Invalid("a scan's limit must be at least 1".into()));
        }
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start_after.as_ref().map(to_attributes))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(Page {
            items: output.items.unwrap_or_default().into_iter().map(from_attributes).collect(),
            last_key: output.last_evaluated_key.filter(|k| !k.is_empty()).map(from_attributes),
        })
    }

    async fn batch_delete(&self, keys: &[Key]) -> Result<(), TableError> {
        let keys = distinct_keys(keys)?;
        for chunk in keys.chunks(BATCH_WRITE_LIMIT) {
            self.batch_delete_chunk(chunk).await?;
        }
        Ok(())
    }
}

/// Creates the table as `crate::resources::TABLE` describes it, waits until it is active and
/// turns TTL on. An existing table is not changed beyond turning TTL on.
pub async fn create_table(client: &Client, name: &str) -> Result<(), TableError> {
    let string = |attribute: &str| {
        AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_failed)
    };
    let key = |attribute: &str, key_type: KeyType| {
        KeySchemaElement::builder().attribute_name(attribute).key_type(key_type).build().map_err(build_failed)
    };
    let mut definitions = vec![string(TABLE.partition_key)?, string(TABLE.sort_key)?];
    let mut indexes = Vec::new();
    for index in TABLE.indexes {
        definitions.push(string(index.partition_attribute())?);
        definitions.push(string(index.sort_attribute())?);
        indexes.push(
            GlobalSecondaryIndex::builder()
                .index_name(index.name())
                .key_schema(key(index.partition_attribute(), KeyType::Hash)?)
                .key_schema(key(index.sort_attribute(), KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(build_failed)?,
        );
    }
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(definitions))
        .key_schema(key(TABLE.partition_key, KeyType::Hash)?)
        .key_schema(key(TABLE.sort_key, KeyType::Range)?)
        .set_global_secondary_indexes(Some(indexes))
        .send()
        .await;
    match created {
        Ok(_) => {}
        // Already there (maybe from a run that failed before enabling TTL): finish the job.
        Err(error) if error.code() == Some("ResourceInUseException") => {}
        Err(error) => return Err(classify(error)),
    }
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(Duration::from_secs(300))
        .await
        .map_err(|e| TableError::Backend(DisplayErrorContext(&e).to_string()))?;
    let current = client.describe_time_to_live().table_name(name).send().await.map_err(classify)?;
    let status = current.time_to_live_description.and_then(|d| d.time_to_live_status);
    if matches!(status, Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)) {
        return Ok(());
    }
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(TABLE.ttl_attribute)
        .enabled(true)
        .build()
        .map_err(build_failed)?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(classify)?;
    Ok(())
}
