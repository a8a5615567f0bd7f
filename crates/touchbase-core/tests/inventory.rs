//! The inventory's rules, driven through the file format as a user meets them.

use touchbase_core::file;

const DEMO: &str = include_str!("../../touchbase/src/demo/northwind.yaml");

#[test]
fn demo_inventory_is_valid() {
    let inventory = file::parse_inventory(DEMO).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        inventory.points.len() >= 25,
        "the demo has {} points",
        inventory.points.len()
    );
}
