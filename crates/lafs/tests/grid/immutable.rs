//! Immutable uploads and downloads: literal caps for small files (no server
//! request), CHK round trips at 1-of-1 and 3-of-10, servers of happiness.

use bytes::Bytes;
use retrylab_faults::FaultModel;
use retrylab_lafs::{FileCap, LafsConfig, Outcome};

use crate::support::{grid, outage, s3, sim, sleep_until, three_of_ten};

fn data(len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>())
}

fn round_trip(config: LafsConfig, seed: u64) {
    sim(seed, |world| async move {
        let grid = grid(&world, config, s3(FaultModel::default()));
        let gateway = grid.gateway();
        for len in [0usize, 55, 56, 10_000] {
            let before = grid.s3_requests();
            let cap = gateway.upload(data(len)).await.unwrap();
            let literal = matches!(cap, FileCap::Literal(_));
            assert_eq!(literal, len <= 55, "size {len}: {cap}");
            assert_eq!(grid.s3_requests() == before, literal, "literal caps make no request (size {len})");
            assert_eq!(gateway.download(&cap).await.unwrap(), data(len), "size {len}");
            assert_eq!(grid.download_immutable_at_rest(&cap).unwrap(), data(len), "size {len} at rest");
            // Uploading the same bytes again converges on the same cap.
            assert_eq!(gateway.upload(data(len)).await.unwrap(), cap);
        }
    });
}

#[test]
fn round_trip_one_of_one() {
    round_trip(LafsConfig::one_of_one(), 11);
}

#[test]
fn round_trip_three_of_ten() {
    round_trip(three_of_ten(), 12);
}

#[test]
fn upload_is_unhappy_when_s3_is_down() {
    let failure = sim(13, |world| async move {
        // Every request from 1 s on fails.
        let grid = grid(&world, three_of_ten(), s3(outage(1_000, u64::MAX, 0.0)));
        sleep_until(&world, 1_000).await;
        grid.gateway().upload(data(1_000)).await.unwrap_err()
    });
    assert_eq!(failure.web_status(), 500);
    assert_eq!(failure.error.name(), "UploadUnhappinessError");
    // The allocate LISTs failed: nothing was written.
    assert_eq!(failure.outcome, Outcome::NotApplied);
}
