//! Mutable files with no faults: erasure coding, share verification and
//! tampering, 100 puts of a growing file at 1-of-1 and 3-of-10, the S3
//! request count of a put, and determinism.

use bytes::Bytes;
use retrylab_faults::FaultModel;
use retrylab_lafs::erasure::Codec;
use retrylab_lafs::{LafsConfig, ShareVerdict};
use retrylab_s3::{PutCondition, S3Request};

use crate::support::{grid, growing, s3, sim, three_of_ten};

#[test]
fn erasure_three_of_ten_recovers_from_any_three_shares() {
    let codec = Codec::new(3, 10).unwrap();
    let data = Bytes::from((0..1000u32).map(|i| (i * 31 % 256) as u8).collect::<Vec<u8>>());
    let blocks = codec.encode(&data);
    let mut subsets = 0;
    for a in 0..10u8 {
        for b in a + 1..10 {
            for c in b + 1..10 {
                let chosen: Vec<(u8, Bytes)> = [a, b, c].iter().map(|&i| (i, blocks[usize::from(i)].clone())).collect();
                assert_eq!(codec.decode(&chosen, data.len() as u64).unwrap(), data, "shares {a} {b} {c}");
                subsets += 1;
            }
        }
    }
    assert_eq!(subsets, 120);
    // Two shares are not enough.
    let two: Vec<(u8, Bytes)> = [0u8, 9].iter().map(|&i| (i, blocks[usize::from(i)].clone())).collect();
    assert!(codec.decode(&two, data.len() as u64).is_err());
}

fn hundred_puts(config: LafsConfig, seed: u64) {
    let (servers, shares_total) = (config.servers, usize::from(config.shares_total));
    let (last, verdicts, requests_per_put) = sim(seed, |world| async move {
        let grid = grid(&world, config, s3(FaultModel::default()));
        let gateway = grid.gateway();
        let cap = gateway.create_mutable(Bytes::new()).await.unwrap();
        let mut requests_per_put = Vec::new();
        for i in 1..=100u64 {
            let before = grid.s3_requests();
            let seqnum = gateway.put(&cap, growing(i, 64)).await.unwrap();
            requests_per_put.push(grid.s3_requests() - before);
            assert_eq!(seqnum, i + 1);
        }
        let last = gateway.get(&cap).await.unwrap();
        (last, grid.verify_mutable_at_rest(&cap), requests_per_put)
    });
    assert_eq!(last.seqnum, 101);
    assert_eq!(last.contents, growing(100, 64));
    assert!(last.contents.len() > 4000, "the read needed a second slot_readv for the block");
    assert_eq!(verdicts.len(), shares_total);
    for verdict in verdicts {
        match verdict {
            ShareVerdict::Valid { seqnum, .. } => assert_eq!(seqnum, 101),
            ShareVerdict::Corrupt { reason, .. } => panic!("corrupt share at rest: {reason}"),
        }
    }
    // Per server: two servermap reads (LIST + GET each), then LIST + GET +
    // PUT. With more than one share, each servermap read also GETs the kept
    // previous version and the write first PUTs it (none before the first put).
    let (first, later) = if shares_total > 1 { (8, 10) } else { (7, 7) };
    assert_eq!(requests_per_put[0], first * u64::from(servers), "{requests_per_put:?}");
    assert!(requests_per_put[1..].iter().all(|&r| r == later * u64::from(servers)), "{requests_per_put:?}");
}

#[test]
fn hundred_puts_one_of_one() {
    hundred_puts(LafsConfig::one_of_one(), 1);
}

#[test]
fn hundred_puts_three_of_ten() {
    hundred_puts(three_of_ten(), 2);
}

#[test]
fn a_tampered_share_is_a_block_hash_tree_failure() {
    // 1-of-1: the only share is corrupt, so the read fails as in 2012.
    let (error, verdicts) = sim(3, |world| async move {
        let grid = grid(&world, LafsConfig::one_of_one(), s3(FaultModel::default()));
        let gateway = grid.gateway();
        let cap = gateway.create_mutable(Bytes::from_static(b"hello, world\n")).await.unwrap();
        tamper_last_byte(&grid, 0);
        (gateway.get(&cap).await.unwrap_err(), grid.verify_mutable_at_rest(&cap))
    });
    assert_eq!(error.web_status(), 410);
    assert_eq!(error.name(), "NotEnoughSharesError");
    let message = error.to_string();
    assert!(message.contains("found 1 bad shares encoding 1-of-1"), "{message}");
    assert!(
        message.contains("CorruptShareError server=server0 shnum[0]: block hash tree failure: new hash"),
        "{message}"
    );
    assert!(message.contains("at [0 of 1] (leaf [0] of 1)"), "{message}");
    assert!(
        matches!(&verdicts[..], [ShareVerdict::Corrupt { reason, .. }] if reason.starts_with("block hash tree failure")),
        "{verdicts:?}"
    );

    // 3-of-10: one bad share is routed around.
    let (read, verdicts) = sim(4, |world| async move {
        let grid = grid(&world, three_of_ten(), s3(FaultModel::default()));
        let gateway = grid.gateway();
        let cap = gateway.create_mutable(Bytes::from_static(b"hello, world\n")).await.unwrap();
        tamper_last_byte(&grid, 0);
        (gateway.get(&cap).await.unwrap(), grid.verify_mutable_at_rest(&cap))
    });
    assert_eq!(&read.contents[..], b"hello, world\n");
    assert_eq!(verdicts.iter().filter(|v| matches!(v, ShareVerdict::Corrupt { .. })).count(), 1);
    assert_eq!(verdicts.iter().filter(|v| matches!(v, ShareVerdict::Valid { .. })).count(), 9);
}

/// Flips the last byte (inside the block) of the one share object in server `server`'s bucket.
fn tamper_last_byte(grid: &retrylab_lafs::Grid, server: usize) {
    let mut service = grid.s3_services()[server].borrow_mut();
    let objects = service.snapshot();
    assert_eq!(objects.len(), 1, "one share per bucket");
    let (key, body) = &objects[0];
    let mut tampered = body.to_vec();
    *tampered.last_mut().unwrap() ^= 0x01;
    service.preload(&S3Request::Put { key: key.clone(), body: Bytes::from(tampered), condition: PutCondition::None });
}

#[test]
fn a_seed_replays_to_the_same_trace() {
    let run = |seed| {
        retrylab_sim::run(&retrylab_sim::WorldConfig::new(seed), |world| async move {
            let grid = grid(&world, three_of_ten(), s3(FaultModel::independent(0.05)));
            let gateway = grid.gateway();
            let cap = gateway.generate_mutable_cap();
            let _ = gateway.create_mutable_at(&cap, Bytes::new()).await;
            let mut outcomes = Vec::new();
            for i in 1..=20 {
                outcomes.push(gateway.put(&cap, growing(i, 8)).await.map_err(|e| e.to_string()));
            }
            outcomes
        })
        .unwrap()
    };
    let (a, b) = (run(9), run(9));
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.output, b.output);
    assert_ne!(run(10).trace_hash, a.trace_hash);
}
