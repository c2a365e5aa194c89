//! Key formats of the contact item and its companion items (infra/DATA-MODEL.md).

use crate::domain::TenantId;
use crate::ports::Key;

pub fn contact(tenant: &TenantId, id: &str) -> Key {
    Key::new(format!("{tenant}#CONTACT"), id)
}

pub fn contacts_partition(tenant: &TenantId) -> String {
    format!("{tenant}#CONTACT")
}

/// One contact per phone number in a tenant: the claim item makes it unique.
pub fn phone_claim(tenant: &TenantId, e164: &str) -> Key {
    Key::new(format!("{tenant}#CONTACT#PHONE"), e164)
}

pub fn email_claim(tenant: &TenantId, email: &str) -> Key {
    Key::new(format!("{tenant}#CONTACT#EMAIL"), email)
}

/// One contact per channel identity (WhatsApp wa_id, PSID, IGSID, TikTok open id).
pub fn identity_claim(tenant: &TenantId, channel: &str, external_id: &str) -> Key {
    Key::new(format!("{tenant}#CONTACT#IDENTITY"), format!("{channel}#{external_id}"))
}

/// The contacts carrying a tag, by contact id.
pub fn tag_member(tenant: &TenantId, tag: &str, id: &str) -> Key {
    Key::new(tag_partition(tenant, tag), id)
}

pub fn tag_partition(tenant: &TenantId, tag: &str) -> String {
    format!("{tenant}#CONTACT#TAG#{tag}")
}

/// gsi1: contacts by lifecycle, by id.
pub fn lifecycle_partition(tenant: &TenantId, lifecycle: &str) -> String {
    format!("{tenant}#CONTACT#LIFECYCLE#{lifecycle}")
}

/// gsi2: contacts by folded name, for prefix search.
pub fn name_partition(tenant: &TenantId) -> String {
    format!("{tenant}#CONTACT#NAME")
}

/// Lowercase without Spanish accents, so that `q=jose` finds "José".
pub fn fold_name(name: &str) -> String {
    name.trim()
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            '#' => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn folds_accents_and_case() {
        assert_eq!(super::fold_name(" José Peña "), "jose pena");
    }
}
