//! The CHK-like immutable share: layout, building, verification.
//!
//! No encryption: Tahoe-LAFS encrypts immutable files with a convergent key
//! before coding them; nothing here depends on the bytes being ciphertext,
//! so the model codes the plaintext.
//!
//! Layout (big-endian): `version (u8, 1) | k (u8) | N (u8) | data length
//! (u64) | block length (u64) | N block hashes (N x 32) | block`. The cap's
//! UEB hash covers k, N, both lengths and every block hash, so one share is
//! checked on its own: its hash list against the cap, its block against its
//! entry in the list.

use bytes::{BufMut, Bytes, BytesMut};

use crate::cap::{ImmutableCap, StorageIndex};
use crate::erasure::Codec;
use crate::hash::{tagged_hash, tagged_hash_16, Hash};

const HEADER_BYTES: usize = 19;

fn ueb_hash(k: u8, n: u8, data_bytes: u64, block_bytes: u64, hashes: &[u8]) -> Hash {
    tagged_hash("ueb", &[&[k, n], &data_bytes.to_be_bytes(), &block_bytes.to_be_bytes(), hashes])
}

fn block_hash(block: &[u8]) -> Hash {
    tagged_hash("immutable block", &[block])
}

/// The convergent storage index of `data` under `convergence` and the encoding.
pub fn storage_index(convergence: &[u8; 32], codec: &Codec, data: &[u8]) -> StorageIndex {
    let params = [codec.needed(), codec.total()];
    let key = tagged_hash_16("convergent key", &[convergence, &params, data]);
    StorageIndex(tagged_hash_16("immutable storage index", &[&key]))
}

/// The cap and the N shares of `data`.
pub fn build(convergence: &[u8; 32], codec: &Codec, data: &Bytes) -> (ImmutableCap, Vec<Bytes>) {
    let blocks = codec.encode(data);
    let block_bytes = codec.block_bytes(data.len() as u64);
    let mut hashes = Vec::with_capacity(blocks.len() * 32);
    for block in &blocks {
        hashes.extend_from_slice(&block_hash(block));
    }
    let (k, n) = (codec.needed(), codec.total());
    let cap = ImmutableCap {
        storage_index: storage_index(convergence, codec, data),
        ueb_hash: ueb_hash(k, n, data.len() as u64, block_bytes, &hashes),
        shares_needed: k,
        shares_total: n,
        size: data.len() as u64,
    };
    let shares = blocks
        .iter()
        .map(|block| {
            let mut out = BytesMut::with_capacity(HEADER_BYTES + hashes.len() + block.len());
            out.put_u8(1);
            out.put_u8(k);
            out.put_u8(n);
            out.put_u64(data.len() as u64);
            out.put_u64(block_bytes);
            out.put_slice(&hashes);
            out.put_slice(block);
            out.freeze()
        })
        .collect();
    (cap, shares)
}

/// The verified block of share `shnum`, or why it is corrupt.
pub fn verify(cap: &ImmutableCap, shnum: u8, share: &Bytes) -> Result<Bytes, String> {
    let header = share.get(..HEADER_BYTES).ok_or("unparseable share: truncated header")?;
    let (k, n) = (header[1], header[2]);
    let data_bytes = u64::from_be_bytes(header[3..11].try_into().unwrap_or([0; 8]));
    let block_bytes = u64::from_be_bytes(header[11..19].try_into().unwrap_or([0; 8]));
    if header[0] != 1 || k != cap.shares_needed || n != cap.shares_total || data_bytes != cap.size {
        return Err("share parameters do not match the cap".into());
    }
    let hashes_end = HEADER_BYTES + 32 * usize::from(n);
    let hashes = share.get(HEADER_BYTES..hashes_end).ok_or("unparseable share: truncated hash list")?;
    if ueb_hash(k, n, data_bytes, block_bytes, hashes) != cap.ueb_hash {
        return Err("URI extension hash failure: block hash list does not match the cap".into());
    }
    let block = share.slice(hashes_end.min(share.len())..);
    let start = 32 * usize::from(shnum);
    let expected = hashes.get(start..start + 32).ok_or("share number out of range")?;
    if block.len() as u64 != block_bytes || block_hash(&block) != expected {
        return Err("block hash failure: block does not match its hash".into());
    }
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immutable_round_trip_and_tamper() {
        let codec = Codec::new(3, 10).unwrap();
        let data = Bytes::from((0..1000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
        let (cap, shares) = build(&[0; 32], &codec, &data);
        let blocks: Vec<(u8, Bytes)> =
            [1u8, 5, 8].iter().map(|&i| (i, verify(&cap, i, &shares[usize::from(i)]).unwrap())).collect();
        assert_eq!(codec.decode(&blocks, cap.size).unwrap(), data);
        let mut tampered = shares[0].to_vec();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(verify(&cap, 0, &Bytes::from(tampered)).is_err());
        assert!(verify(&cap, 1, &shares[0]).is_err());
    }
}
