//! Counts per key (connections per address, sessions per address, open rooms per player) that
//! forget a key when its count reaches zero, so that their maps hold only keys with something
//! counted.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// Lowers `key`'s count by one, forgetting the key at zero.
pub(crate) fn lower<K: Hash + Eq, N, S: BuildHasher>(map: &mut HashMap<K, N, S>, key: &K)
where
    N: Copy + PartialEq + std::ops::SubAssign + From<u8>,
{
    if let Some(n) = map.get_mut(key) {
        *n -= N::from(1);
        if *n == N::from(0) {
            map.remove(key);
        }
    }
}
