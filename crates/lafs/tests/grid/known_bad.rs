//! Each known-bad design produces its failure in a targeted run, and the
//! safe design, in the same run, does not:
//!
//! 1. chunked layout: a failed chunk PUT leaves a torn share at rest;
//! 2. blind writes under eventual consistency: two puts publish different
//!    contents under one seqnum (the second overwrote the first's version
//!    after a stale read both at the gateway and at the server);
//! 3. whole-bucket listing: past 1,000 objects the file's shares are not
//!    found, and every put and get is a 410;
//! 4. replayed modify: after an ambiguous 500 (the PUT landed), the retry
//!    appends the same line again.

use std::time::Duration;

use bytes::Bytes;
use retrylab_faults::FaultModel;
use retrylab_lafs::{
    AppendLine, Design, LafsConfig, Listing, ModifyRetry, Outcome, ReadCheck, ShareLayout, ShareVerdict, WriteCheck,
};
use retrylab_s3::{Consistency, PutCondition, S3Request};

use crate::support::{grid, growing, outage, s3, sim, sleep_until, S3_LATENCY_MS};

fn one_of_one(design: Design) -> LafsConfig {
    LafsConfig { design, ..LafsConfig::one_of_one() }
}

/// Puts a growing file 150 times with 5% of S3 requests failing, and counts
/// the puts after which a share at rest is corrupt.
fn torn_shares_after_faulty_puts(layout: ShareLayout, seed: u64) -> (usize, usize) {
    sim(seed, |world| async move {
        let design = Design { share_layout: layout, ..Design::default() };
        let grid = grid(&world, one_of_one(design), s3(FaultModel::independent(0.05)));
        let gateway = grid.gateway();
        let cap = gateway.generate_mutable_cap();
        // Retry the create until it lands: faults are not the point here.
        while gateway.create_mutable_at(&cap, Bytes::new()).await.is_err() {}
        let (mut torn, mut failed) = (0, 0);
        for i in 1..=150 {
            if gateway.put(&cap, growing(i, 16)).await.is_err() {
                failed += 1;
            }
            let verdicts = grid.verify_mutable_at_rest(&cap);
            if verdicts.iter().any(|v| matches!(v, ShareVerdict::Corrupt { .. })) {
                torn += 1;
                let reason = verdicts.iter().find_map(|v| match v {
                    ShareVerdict::Corrupt { reason, .. } => Some(reason.clone()),
                    ShareVerdict::Valid { .. } => None,
                });
                let reason = reason.unwrap_or_default();
                assert!(
                    reason.starts_with("block hash tree failure") || reason.starts_with("unparseable share"),
                    "{reason}"
                );
            }
        }
        (torn, failed)
    })
}

#[test]
fn chunked_layout_tears_shares() {
    // 150 puts of up to 2.4 KB in 256-byte chunks: ~10 chunk PUTs each.
    let (torn, failed) = torn_shares_after_faulty_puts(ShareLayout::Chunked { chunk_bytes: 256 }, 41);
    assert!(failed > 0);
    assert!(torn > 0, "no torn share after {failed} failed puts");
    let (torn, failed) = torn_shares_after_faulty_puts(ShareLayout::Whole, 41);
    assert!(failed > 0);
    assert_eq!(torn, 0, "whole-object shares never tear");
}

/// 60 appends under 2012 eventual consistency; returns the acknowledged
/// lines missing from the file afterwards, and how many appends failed.
fn appends_lost(design: Design, seed: u64) -> (Vec<u64>, usize) {
    sim(seed, |world| async move {
        let config = retrylab_s3::S3Config {
            consistency: Consistency::Eventual { window: Duration::from_secs(60) },
            ..s3(FaultModel::default())
        };
        let grid = grid(&world, one_of_one(design), config);
        let gateway = grid.gateway();
        let cap = gateway.create_mutable(Bytes::new()).await.unwrap();
        let mut acknowledged = Vec::new();
        let mut failed = 0;
        for i in 1..=60 {
            match gateway.modify(&cap, &AppendLine::numbered(i)).await {
                Ok(_) => acknowledged.push(i),
                Err(_) => failed += 1,
            }
        }
        world.clock().sleep(Duration::from_secs(61)).await;
        let contents = gateway.get(&cap).await.unwrap().contents;
        let lines: Vec<&[u8]> = contents.split(|b| *b == b'\n').collect();
        let lost = acknowledged.into_iter().filter(|i| !lines.contains(&i.to_string().as_bytes())).collect();
        (lost, failed)
    })
}

#[test]
fn blind_writes_on_stale_reads_lose_acknowledged_appends() {
    // The 2012 prototype: GETs trusted, writes blind.
    let trusting = Design { read_check: ReadCheck::TrustGet, ..Design::default() };
    let (lost, _) = appends_lost(Design { write_check: WriteCheck::Blind, ..trusting }, 42);
    assert!(!lost.is_empty(), "no acknowledged append lost");
    // If-Match alone loses nothing; the stale reads still cost something:
    // they fail as uncoordinated writes or take more tries.
    let (lost, _) = appends_lost(trusting, 42);
    assert!(lost.is_empty(), "{lost:?}");
    // The safe design reads no stale share either.
    let (lost, _) = appends_lost(Design::default(), 42);
    assert!(lost.is_empty(), "{lost:?}");
}

#[test]
fn whole_bucket_listing_loses_shares_past_1000_objects() {
    let run = |listing: Listing| {
        sim(43, move |world| async move {
            let design = Design { listing, ..Design::default() };
            let grid = grid(&world, one_of_one(design), s3(FaultModel::default()));
            // 1,001 other shares whose keys sort first ("2" < any letter in base32).
            for i in 0..1_001u32 {
                let key = format!("shares/22/22{i:024}/0");
                let body = Bytes::from_static(b"someone else's share");
                grid.s3_services()[0].borrow_mut().preload(&S3Request::Put {
                    key,
                    body,
                    condition: PutCondition::None,
                });
            }
            let gateway = grid.gateway();
            let cap = gateway.create_mutable(Bytes::from_static(b"1\n")).await.unwrap();
            let put = gateway.put(&cap, Bytes::from_static(b"1\n2\n")).await;
            let get = gateway.get(&cap).await;
            (
                put.map_err(|e| (e.web_status(), e.error.name())),
                get.map(|r| r.seqnum).map_err(|e| (e.web_status(), e.name())),
            )
        })
    };
    let (put, get) = run(Listing::WholeBucketFirstPage);
    assert_eq!(put, Err((410, "UnrecoverableFileError")));
    assert_eq!(get, Err((410, "NoSharesError")));
    let (put, get) = run(Listing::Prefixed);
    assert_eq!((put, get), (Ok(2), Ok(2)));
}

/// An append whose PUT lands but answers 500 (ambiguous_fraction 1), then
/// two more appends; returns the final contents at rest.
fn append_through_ambiguous_500(modify_retry: ModifyRetry, seed: u64) -> (Bytes, u32) {
    // modify at 1,000 ms: LIST, GET (servermap), LIST, GET, PUT (publish):
    // the PUT arrives at 1,400 ms.
    let start_ms = 1_000;
    let put_ms = start_ms + 4 * S3_LATENCY_MS;
    sim(seed, |world| async move {
        let design = Design { modify_retry, ..Design::default() };
        let grid = grid(&world, one_of_one(design), s3(outage(put_ms - 50, put_ms + 50, 1.0)));
        let gateway = grid.gateway();
        let cap = gateway.create_mutable(Bytes::new()).await.unwrap();
        sleep_until(&world, start_ms).await;
        let first = gateway.modify(&cap, &AppendLine::numbered(1)).await.unwrap();
        for id in 2..=3 {
            gateway.modify(&cap, &AppendLine::numbered(id)).await.unwrap();
        }
        (grid.read_mutable_at_rest(&cap).unwrap().contents, first.attempts)
    })
}

#[test]
fn replayed_modify_appends_twice() {
    let (replayed, attempts) = append_through_ambiguous_500(ModifyRetry::Replay, 44);
    assert_eq!(attempts, 2);
    assert_eq!(&replayed[..], b"1\n1\n2\n3\n");
    let (reconciled, attempts) = append_through_ambiguous_500(ModifyRetry::Reconcile, 44);
    assert_eq!(attempts, 2);
    assert_eq!(&reconciled[..], b"1\n2\n3\n");
}

#[test]
fn an_ambiguous_500_makes_the_modify_indeterminate_until_it_settles() {
    // One try only would report the first append as indeterminate: check
    // the publish outcome that drives the retry.
    let put_ms = 1_000 + 6 * S3_LATENCY_MS;
    let failure = sim(45, |world| async move {
        let grid = grid(&world, LafsConfig::one_of_one(), s3(outage(put_ms - 50, put_ms + 50, 1.0)));
        let gateway = grid.gateway();
        let cap = gateway.create_mutable(Bytes::new()).await.unwrap();
        sleep_until(&world, 1_000).await;
        let failure = gateway.put(&cap, Bytes::from_static(b"landed\n")).await.unwrap_err();
        let after = gateway.get(&cap).await.unwrap();
        assert_eq!(&after.contents[..], b"landed\n", "the ambiguous PUT did land");
        failure
    });
    assert_eq!((failure.web_status(), failure.outcome), (500, Outcome::Indeterminate));
}
