//! One page of a list, as every list route answers it: `{"items": [...], "next_cursor": ...}`
//! (API.md), and the one way to read a page: the limit and cursor from the query, the cursor
//! checked against the tenant and the query it was made for.

use serde::Serialize;
use std::borrow::Cow;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::problem::ApiError;
use super::request::Call;
use super::service::Core;
use crate::ports::Item;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The query parameters of every list (API.md), for its OpenAPI operation:
/// `params(PageQuery, ...)`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl<T> Page<T> {
    /// The same page with each item shown differently (a stored record as its API view).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

impl Core {
    /// Reads the page a call asks for: `list(limit, start_after)` answers the items and the key
    /// to continue after. `query` names the list and its filter, so that a cursor of another
    /// list, another filter or another tenant is refused (400).
    pub async fn page<T, E>(
        &self,
        call: &Call,
        query: &str,
        list: impl AsyncFnOnce(usize, Option<Item>) -> Result<(Vec<T>, Option<Item>), E>,
    ) -> Result<Page<T>, ApiError>
    where
        ApiError: From<E>,
    {
        let caller = call.caller()?;
        let (limit, cursor) = call.page_params()?;
        let start = match cursor {
            Some(c) => Some(self.cursors.decode(&caller.tenant, query, c)?),
            None => None,
        };
        let (items, last) = list(limit, start).await?;
        let next_cursor = last.map(|key| self.cursors.encode(&caller.tenant, query, &key));
        Ok(Page { items, next_cursor })
    }
}

// The schema is written by hand so that a page of `Contact` is named `ContactPage` in the
// document, as a type of its own would be.
impl<T: ToSchema> PartialSchema for Page<T> {
    fn schema() -> RefOr<Schema> {
        let next_cursor = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .description(Some("Pass as `cursor` for the next page; `null` on the last page."));
        ObjectBuilder::new()
            .property("items", ArrayBuilder::new().items(Ref::from_schema_name(T::name())))
            .required("items")
            .property("next_cursor", next_cursor)
            .into()
    }
}

impl<T: ToSchema> ToSchema for Page<T> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("{}Page", T::name()))
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}
