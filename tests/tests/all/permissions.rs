//! The README's permission table is the code's: every role against every permission.

use gestor_shared::domain::{Permission, Role};

#[test]
fn the_readmes_permission_table_is_the_permission_matrix() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .unwrap_or_else(|e| panic!("{e}"));
    let start = readme.find("| permission |").unwrap_or_else(|| panic!("no permission table in the README"));
    let mut lines = readme[start..].lines();
    let header: Vec<&str> =
        lines.next().unwrap_or_default().split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
    let roles: Vec<Role> =
        header[1..].iter().map(|r| Role::parse(r).unwrap_or_else(|| panic!("{r} is no role"))).collect();
    assert_eq!(roles, Role::ALL, "one column per role, in order");
    let rows: Vec<Vec<String>> = lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.split('|').map(|c| c.trim().trim_matches('`').to_owned()).filter(|c| !c.is_empty()).collect()
        })
        .collect();
    let named: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    let all: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(named, all, "one row per permission, in order");
    for (row, permission) in rows.iter().zip(Permission::ALL) {
        for (cell, role) in row[1..].iter().zip(Role::ALL) {
            let says = cell == "yes";
            assert_eq!(
                says,
                role.allows(permission),
                "{} for {}: the README says {cell}",
                permission.as_str(),
                role.as_str()
            );
        }
    }
}
