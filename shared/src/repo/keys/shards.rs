//! Spreading a global partition over a few: the shard of an id.

/// The shard of `id` among `shards`: the same id always lands on the same one.
pub fn shard(id: &str, shards: u32) -> u32 {
    id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % shards
}
