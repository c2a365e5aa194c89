//! Proof that a token controls a channel account, not just that it can read it: a token that
//! reads a public Page is not the Page's.
//!
//! `GET {graph}/debug_token?input_token=` (with the app's own token) tells what a token is:
//! - a **Page** (Messenger) needs `is_valid`, `type: PAGE` and a `profile_id` equal to the Page;
//! - an **Instagram** account needs a Page token as above, for the Page whose
//!   `instagram_business_account` is the account (`GET {graph}/{page}?fields=instagram_business_account`);
//! - a **WhatsApp** number needs a valid token whose granular scopes grant one WhatsApp Business
//!   Account (WABA) in both `whatsapp_business_messaging` and `whatsapp_business_management`,
//!   and the number listed under that WABA (`GET {graph}/{waba}/phone_numbers`).
//!
//! TikTok has no such endpoint: its `business/get` answering for the account is the proof.

use http::Method;
use serde_json::Value;

use super::{AccountInfo, GraphClient, GraphError, bearer, is_graph_id, query, text};
use crate::crypto::Secret;
use crate::inbound::Channel;

/// What `debug_token` says of a token.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenInfo {
    pub valid: bool,
    /// `USER`, `PAGE`, `SYSTEM_USER`, `APP` ...
    pub kind: Option<String>,
    /// For a Page token, the Page.
    pub profile_id: Option<String>,
    /// Each granular scope and the ids it was granted on.
    pub scopes: Vec<(String, Vec<String>)>,
}

impl TokenInfo {
    pub fn from_answer(answer: &Value) -> Self {
        let data = answer.get("data").cloned().unwrap_or(Value::Null);
        let scopes = data
            .get("granular_scopes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|scope| {
                let name = text(scope, "scope")?;
                let targets = scope.get("target_ids").and_then(Value::as_array).into_iter().flatten();
                Some((name, targets.filter_map(|t| t.as_str().map(str::to_owned)).collect()))
            })
            .collect();
        Self {
            valid: data.get("is_valid").and_then(Value::as_bool) == Some(true),
            kind: text(&data, "type"),
            profile_id: text(&data, "profile_id"),
            scopes,
        }
    }

    /// The ids `scope` was granted on.
    pub fn targets(&self, scope: &str) -> Vec<&str> {
        self.scopes
            .iter()
            .filter(|(s, _)| s == scope)
            .flat_map(|(_, t)| t.iter().map(String::as_str))
            .collect()
    }

    /// The WhatsApp Business Accounts granted for both sending and managing, in Meta's order.
    pub fn whatsapp_accounts(&self) -> Vec<&str> {
        let managed = self.targets("whatsapp_business_management");
        self.targets("whatsapp_business_messaging")
            .into_iter()
            .filter(|waba| managed.contains(waba) && is_graph_id(waba))
            .collect()
    }

    fn is_page(&self, page: &str) -> bool {
        self.valid && self.kind.as_deref() == Some("PAGE") && self.profile_id.as_deref() == Some(page)
    }
}

/// A controlled account: its name, and the business account it is under (a number's WABA,
/// an Instagram account's Page).
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub info: AccountInfo,
    pub business_account_id: Option<String>,
}

/// The token does not control the account.
const NOT_YOURS: GraphError = GraphError::Refused { status: 200, code: None };

impl GraphClient {
    /// `GET {graph}/debug_token?input_token=...` with the app token (`{app id}|{secret}`).
    pub async fn debug_token(&self, token: &Secret) -> Result<TokenInfo, GraphError> {
        let url =
            format!("{}/debug_token?{}", self.meta_graph_url, query(&[("input_token", token.expose())]));
        let (app_id, app_secret) = self.app()?;
        let app_token = Secret::new(format!("{app_id}|{}", app_secret.expose()));
        let answer = self.call(Method::GET, &url, &[bearer(&app_token)?], None).await?;
        Ok(TokenInfo::from_answer(&answer))
    }

    /// Shows that `token` controls the account `external_id` (module doc), and names it.
    pub async fn prove_control(
        &self,
        kind: Channel,
        external_id: &str,
        token: &Secret,
    ) -> Result<Control, GraphError> {
        if kind == Channel::Tiktok {
            let info = self.verify_account(kind, external_id, token).await?;
            return Ok(Control { info, business_account_id: None });
        }
        if !is_graph_id(external_id) {
            return Err(GraphError::Invalid("a Graph id is a decimal number"));
        }
        let token_info = self.debug_token(token).await?;
        if !token_info.valid {
            return Err(NOT_YOURS);
        }
        match kind {
            Channel::Messenger => {
                if !token_info.is_page(external_id) {
                    return Err(NOT_YOURS);
                }
                let info = self.verify_account(kind, external_id, token).await?;
                Ok(Control { info, business_account_id: None })
            }
            Channel::Instagram => {
                let page =
                    token_info.profile_id.clone().filter(|p| token_info.is_page(p)).ok_or(NOT_YOURS)?;
                let fields = query(&[("fields", "instagram_business_account")]);
                let url = format!("{}/{page}?{fields}", self.meta_graph_url);
                let answer = self.call(Method::GET, &url, &[bearer(token)?], None).await?;
                if answer.pointer("/instagram_business_account/id").and_then(Value::as_str)
                    != Some(external_id)
                {
                    return Err(NOT_YOURS);
                }
                let info = self.verify_account(kind, external_id, token).await?;
                Ok(Control { info, business_account_id: Some(page) })
            }
            Channel::Whatsapp => {
                for waba in token_info.whatsapp_accounts() {
                    let numbers = self.phone_numbers(waba, token).await?;
                    if let Some(number) = numbers.iter().find(|n| n.id == external_id) {
                        let name =
                            number.verified_name.clone().or_else(|| number.display_phone_number.clone());
                        let info = AccountInfo { id: external_id.to_owned(), name };
                        return Ok(Control { info, business_account_id: Some(waba.to_owned()) });
                    }
                }
                Err(NOT_YOURS)
            }
            Channel::Tiktok => Err(NOT_YOURS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debug_token_answers_are_read_as_meta_documents_them() {
        let page =
            TokenInfo::from_answer(&json!({"data": {"app_id": "1", "type": "PAGE", "application": "Gestor",
            "expires_at": 0, "is_valid": true, "profile_id": "104", "scopes": ["pages_messaging"],
            "granular_scopes": [{"scope": "pages_messaging", "target_ids": ["104"]}], "user_id": "9"}}));
        assert!(page.is_page("104"));
        assert!(!page.is_page("105"));
        let user =
            TokenInfo::from_answer(&json!({"data": {"type": "USER", "is_valid": true, "user_id": "9"}}));
        assert!(!user.is_page("9"), "a user token that can read a Page is not the Page's");
        let expired = TokenInfo::from_answer(
            &json!({"data": {"type": "PAGE", "is_valid": false, "profile_id": "104"}}),
        );
        assert!(!expired.is_page("104"));
        let waba = TokenInfo::from_answer(
            &json!({"data": {"type": "SYSTEM_USER", "is_valid": true, "granular_scopes": [
            {"scope": "whatsapp_business_management", "target_ids": ["102290129340398", "777"]},
            {"scope": "whatsapp_business_messaging", "target_ids": ["102290129340398", "888"]}]}}),
        );
        assert_eq!(
            waba.whatsapp_accounts(),
            vec!["102290129340398"],
            "granted for both sending and managing"
        );
    }
}
