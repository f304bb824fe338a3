//! Corrupt shares: S3 answers reads tampered or stale, or keeps a share
//! bit-flipped or truncated. The safe design detects each (signature, block
//! hash tree, container checks: Tahoe-LAFS's `CorruptShareError`), reads from
//! other shares when k intact ones are left, and never returns wrong contents
//! as ok.

use bytes::Bytes;
use retrylab_faults::{Corruption, FaultModel};
use retrylab_lafs::Grid;

use crate::support::{grid, growing, s3, sim, three_of_ten};

/// Makes the first `servers` buckets corrupt as `corruption` says (the others stay clean).
fn corrupt_servers(grid: &Grid, servers: usize, corruption: &Corruption) {
    for service in grid.s3_services().iter().take(servers) {
        service.borrow_mut().set_corruption(corruption.clone());
    }
}

fn tampered_reads() -> Corruption {
    Corruption { tampered_read: 1.0, ..Corruption::default() }
}

/// What a failed read says about the shares it rejected.
fn names_corrupt_shares(message: &str) -> bool {
    message.contains("CorruptShareError") || message.contains("bad share") || message.contains("signature is invalid")
}

#[test]
fn a_mutable_read_detects_tampered_shares_and_reads_intact_ones() {
    let mut failed_reads = 0;
    for seed in 0..12 {
        let failed = sim(seed, |world| async move {
            let grid = grid(&world, three_of_ten(), s3(FaultModel::default()));
            let gateway = grid.gateway();
            let contents = growing(40, 20);
            let cap = gateway.create_mutable(contents.clone()).await.unwrap();
            // Seven of ten servers answer every read tampered: three intact shares are enough.
            corrupt_servers(&grid, 7, &tampered_reads());
            let read = gateway.get(&cap).await.expect("three intact shares remain");
            assert_eq!(read.contents, contents, "seed {seed}: wrong contents returned as ok");
            // All ten: a read may fail, but never returns wrong contents.
            corrupt_servers(&grid, 10, &tampered_reads());
            match gateway.get(&cap).await {
                Ok(read) => {
                    assert_eq!(read.contents, contents, "seed {seed}: wrong contents returned as ok");
                    0
                }
                Err(error) => {
                    assert!(
                        names_corrupt_shares(&error.to_string()),
                        "seed {seed}: the error does not name the corrupt shares: {error}"
                    );
                    1
                }
            }
        });
        failed_reads += failed;
    }
    assert!(failed_reads > 0, "tampering with every share never made a read fail: is it applied?");
}

#[test]
fn a_mutable_read_survives_a_bucket_of_bit_flipped_and_truncated_shares() {
    for seed in 0..12 {
        sim(seed, |world| async move {
            let grid = grid(&world, three_of_ten(), s3(FaultModel::default()));
            let gateway = grid.gateway();
            let cap = gateway.create_mutable(growing(3, 0)).await.unwrap();
            // Four servers store every later share damaged: half bit-flipped, half truncated.
            corrupt_servers(&grid, 2, &Corruption { bit_flip: 1.0, ..Corruption::default() });
            for service in &grid.s3_services()[2..4] {
                service.borrow_mut().set_corruption(Corruption { truncate: 1.0, ..Corruption::default() });
            }
            let contents = growing(30, 10);
            // The put may fail (a server cannot test a share it cannot parse), never corrupt.
            let _ = gateway.put(&cap, contents.clone()).await;
            let corrupted: usize = grid.s3_services().iter().map(|s| s.borrow().corrupted_keys().count()).sum();
            assert!(corrupted > 0, "seed {seed}: nothing was corrupted at rest");
            match gateway.get(&cap).await {
                Ok(read) => assert!(
                    read.contents == contents || read.contents == growing(3, 0),
                    "seed {seed}: a version nobody wrote returned as ok (seqnum {})",
                    read.seqnum
                ),
                Err(error) => panic!("seed {seed}: six intact servers should be enough: {error}"),
            }
        });
    }
}

fn data(len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| (i * 13 % 251) as u8).collect::<Vec<u8>>())
}

#[test]
fn an_immutable_download_detects_tampered_shares() {
    let mut failed_downloads = 0;
    for seed in 0..12 {
        failed_downloads += sim(seed, |world| async move {
            let grid = grid(&world, three_of_ten(), s3(FaultModel::default()));
            let gateway = grid.gateway();
            let cap = gateway.upload(data(5000)).await.unwrap();
            corrupt_servers(&grid, 7, &tampered_reads());
            assert_eq!(gateway.download(&cap).await.expect("three intact shares remain"), data(5000));
            corrupt_servers(&grid, 10, &tampered_reads());
            match gateway.download(&cap).await {
                Ok(bytes) => {
                    assert_eq!(bytes, data(5000), "seed {seed}: wrong bytes returned as ok");
                    0
                }
                Err(error) => {
                    assert!(error.to_string().contains("bad"), "seed {seed}: {error}");
                    1
                }
            }
        });
    }
    assert!(failed_downloads > 0, "tampering with every share never made a download fail");
}
