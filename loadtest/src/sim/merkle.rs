//! RFC 6962 §2.1 Merkle tree hashing: leaf and node hashes, an append-only frontier that yields
//! the root of the current size in O(log n), and a plain recursive reference for tests.

use ring::digest::{digest, Context, SHA256};

pub type Hash = [u8; 32];

pub fn sha256(data: &[u8]) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, data).as_ref());
    out
}

/// `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[0]);
    ctx.update(leaf);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[1]);
    ctx.update(left);
    ctx.update(right);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Roots of the perfect subtrees along the right edge of the tree, largest first.
///
/// Invariant: `nodes.len() == size.count_ones()` and `nodes[i]` covers the i-th set bit of
/// `size` counted from the most significant one. The RFC 6962 split (largest power of two
/// smaller than n) decomposes n exactly along these bits, so folding them right to left
/// gives the RFC root.
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    nodes: Vec<Hash>,
    size: u64,
}

impl Frontier {
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut size = self.size;
        while size & 1 == 1 {
            // Proven invariant: a set low bit means a same-sized subtree is on the stack.
            let left = self.nodes.pop().expect("frontier invariant");
            hash = node_hash(&left, &hash);
            size >>= 1;
        }
        self.nodes.push(hash);
        self.size += 1;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(last) = iter.next() else {
            return sha256(&[]);
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// Reference MTH over leaf hashes, straight from the RFC's recursive definition.
pub fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaves[0],
        n => {
            // Largest power of two strictly below n = highest set bit of n - 1.
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontier_matches_reference_for_every_size() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut f = Frontier::default();
        assert_eq!(f.root(), reference_root(&[]));
        for (i, l) in leaves.iter().enumerate() {
            f.push(*l);
            assert_eq!(f.root(), reference_root(&leaves[..=i]), "size {}", i + 1);
        }
    }

    #[test]
    fn reference_split_is_largest_power_below_n() {
        // n = 5 splits 4 | 1; n = 4 splits 2 | 2.
        let l: Vec<Hash> = (0u8..5).map(|i| leaf_hash(&[i])).collect();
        let four = node_hash(&node_hash(&l[0], &l[1]), &node_hash(&l[2], &l[3]));
        assert_eq!(reference_root(&l[..4]), four);
        assert_eq!(reference_root(&l), node_hash(&four, &l[4]));
    }
}
