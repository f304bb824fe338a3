//! A storage server that crashes in the middle of requests and restarts:
//! its handlers are aborted, their per-index locks handed on, its open
//! immutable buckets forgotten, and the grid goes on working.

use std::time::Duration;

use bytes::Bytes;
use retrylab_faults::FaultModel;
use retrylab_sim::SimClock;

use crate::support::{grid, growing, s3, sim, three_of_ten};

#[test]
fn a_server_crash_mid_write_releases_its_locks_and_buckets() {
    for seed in 0..8 {
        sim(seed, |world| async move {
            let grid = grid(&world, three_of_ten(), s3(FaultModel::default()));
            let gateway = grid.gateway();
            let cap = gateway.create_mutable(growing(1, 0)).await.unwrap();
            let server = grid.servers()[0].clone();
            let node = server.node();
            // Crash server 0 a little into a put and an upload running at once
            // (requests take 100 ms at S3: each is mid-flight at 150 ms).
            let crasher = {
                let (net, server) = (world.net().clone(), server.clone());
                madsim::task::spawn_local(async move {
                    SimClock.sleep(Duration::from_millis(150 + seed * 37)).await;
                    net.crash(node);
                    SimClock.sleep(Duration::from_millis(500)).await;
                    server.restart();
                    net.restart(node);
                })
            };
            let data = Bytes::from(vec![7u8; 4000]);
            let (put, upload) = futures::join!(gateway.put(&cap, growing(2, 0)), gateway.upload(data.clone()));
            crasher.await.expect("crasher task");
            // Aborted handlers dropped their guards; the restart dropped the buckets.
            assert_eq!(server.locks_held(), 0, "seed {seed}: a crashed handler still holds a lock");
            assert_eq!(server.buckets_open(), 0, "seed {seed}: a bucket survived the crash");
            // The grid works again, through the restarted server too.
            let seqnum = gateway.put(&cap, growing(3, 0)).await.expect("a put after the restart");
            let read = gateway.get(&cap).await.expect("a read after the restart");
            assert_eq!((read.seqnum, read.contents), (seqnum, growing(3, 0)), "seed {seed} (put before: {put:?})");
            if let Ok(cap) = upload {
                assert_eq!(gateway.download(&cap).await.expect("an acknowledged upload downloads"), data);
            }
            let again = gateway.upload(Bytes::from(vec![9u8; 4000])).await.expect("an upload after the restart");
            assert_eq!(gateway.download(&again).await.unwrap(), Bytes::from(vec![9u8; 4000]));
        });
    }
}

#[test]
fn a_restart_forgets_buckets_left_open_by_an_upload_in_flight() {
    sim(3, |world| async move {
        let grid = grid(&world, three_of_ten(), s3(FaultModel::default()));
        let server = grid.servers()[0].clone();
        let index = retrylab_lafs::StorageIndex([5; 16]);
        let shares = [0u8, 1].into_iter().collect();
        let (_, allocated) = server.allocate_buckets(index, [0; 32], shares).await.expect("allocate");
        assert_eq!(allocated.len(), 2);
        server.write_bucket(index, 0, 0, Bytes::from_static(b"half a share")).await.expect("write");
        assert_eq!(server.buckets_open(), 2);
        // The crash happens between write and close: after the restart the close finds nothing.
        world.net().crash(server.node());
        server.restart();
        world.net().restart(server.node());
        assert_eq!(server.buckets_open(), 0);
        assert!(server.close_bucket(index, 0).await.is_err(), "a half-written share was stored after a crash");
    });
}
