//! Errors and their web statuses: the mapping itself, S3 failing everything
//! (410 before any write, definite), a failure at the share write (500,
//! indeterminate), a missing file (410 NoSharesError), an existing child (409).

use bytes::Bytes;
use retrylab_faults::FaultModel;
use retrylab_lafs::{Cap, Design, GatewayError, LafsConfig, Outcome, WriteCheck};
use retrylab_retry::{ErrorClass, GiveUp, PolicyConfig};
use retrylab_s3::Retryable;

use crate::support::{grid, grid_with_policy, outage, s3, sim, sleep_until, S3_LATENCY_MS};

#[test]
fn web_statuses_and_names() {
    let message = String::new;
    let cases = [
        (GatewayError::NotEnoughShares { message: message() }, 410, "NotEnoughSharesError"),
        (GatewayError::NoShares { message: message() }, 410, "NoSharesError"),
        (GatewayError::Unrecoverable { message: message() }, 410, "UnrecoverableFileError"),
        (GatewayError::NotEnoughServers { message: message() }, 500, "NotEnoughServersError"),
        (GatewayError::UncoordinatedWrite { message: message() }, 500, "UncoordinatedWriteError"),
        (GatewayError::UploadUnhappiness { message: message() }, 500, "UploadUnhappinessError"),
        (GatewayError::Unexpected { message: message() }, 500, "UnexpectedError"),
        (GatewayError::ExistingChild { name: "x".into() }, 409, "ExistingChildError"),
        (GatewayError::NoSuchChild { name: "x".into() }, 404, "NoSuchChildError"),
        (GatewayError::RefusedByClient { reason: GiveUp::CircuitOpen }, 503, "RefusedByClient"),
    ];
    for (error, status, name) in cases {
        assert_eq!(error.web_status(), status, "{error}");
        assert_eq!(error.name(), name);
        assert!(error.to_string().starts_with(&format!("{status} {name}")));
    }
}

#[test]
fn a_write_the_web_client_refused_was_not_applied_and_is_not_retried() {
    let refused = <retrylab_lafs::WriteError as Retryable>::refused(GiveUp::ClientThrottled);
    assert_eq!(refused.outcome, Outcome::NotApplied);
    assert_eq!(refused.class(), ErrorClass::Refused);
    assert!(!refused.class().is_retryable());
    assert_eq!(refused.to_string(), "503 RefusedByClient: client_throttled: not sent");
}

#[test]
fn s3_failing_everything_fails_before_any_write() {
    let (create, put, get) = sim(31, |world| async move {
        let grid = grid(&world, LafsConfig::one_of_one(), s3(FaultModel::independent(1.0)));
        let gateway = grid.gateway();
        let cap = gateway.generate_mutable_cap();
        let create = gateway.create_mutable_at(&cap, Bytes::from_static(b"x")).await.unwrap_err();
        let put = gateway.put(&cap, Bytes::from_static(b"y")).await.unwrap_err();
        let get = gateway.get(&cap).await.unwrap_err();
        (create, put, get)
    });
    // The create's LIST failed, so its PUT was never sent.
    assert_eq!(
        (create.web_status(), create.error.name(), create.outcome),
        (500, "NotEnoughServersError", Outcome::NotApplied)
    );
    // The put's first servermap update found nothing recoverable.
    assert_eq!((put.web_status(), put.error.name(), put.outcome), (410, "UnrecoverableFileError", Outcome::NotApplied));
    assert_eq!((get.web_status(), get.name()), (410, "UnrecoverableFileError"));
    assert!(put.error.to_string().contains("S3Error: 500 InternalError"), "{put}");
}

#[test]
fn a_failed_share_write_is_500_and_indeterminate() {
    // A put starting at 1,000 ms sends LIST, GET (MODE_READ), LIST, GET
    // (MODE_WRITE), LIST, GET, PUT, each arriving 100 ms after the last:
    // the PUT arrives at 1,600 ms, alone in the outage.
    let start_ms = 1_000;
    let put_ms = start_ms + 6 * S3_LATENCY_MS;
    let (failure, after) = sim(32, |world| async move {
        let grid = grid(&world, LafsConfig::one_of_one(), s3(outage(put_ms - 50, put_ms + 50, 0.0)));
        let gateway = grid.gateway();
        let cap = gateway.create_mutable(Bytes::from_static(b"one\n")).await.unwrap();
        sleep_until(&world, start_ms).await;
        let failure = gateway.put(&cap, Bytes::from_static(b"two\n")).await.unwrap_err();
        (failure, gateway.get(&cap).await.unwrap())
    });
    assert_eq!(failure.web_status(), 500);
    assert_eq!(failure.error.name(), "NotEnoughServersError");
    assert_eq!(failure.outcome, Outcome::Indeterminate, "a 500 on a PUT may have landed");
    assert!(failure.to_string().contains("Publish ran out of good servers"), "{failure}");
    // It did not land (ambiguous_fraction 0): the old version is still there.
    assert_eq!((after.seqnum, &after.contents[..]), (1, &b"one\n"[..]));
}

#[test]
fn a_file_never_written_has_no_shares() {
    let error = sim(33, |world| async move {
        let grid = grid(&world, LafsConfig::one_of_one(), s3(FaultModel::default()));
        let cap = grid.gateway().generate_mutable_cap();
        grid.gateway().get(&cap).await.unwrap_err()
    });
    assert_eq!((error.web_status(), error.name()), (410, "NoSharesError"));
}

#[test]
fn adding_an_existing_child_is_409() {
    let error = sim(34, |world| async move {
        let grid = grid(&world, LafsConfig::one_of_one(), s3(FaultModel::default()));
        let gateway = grid.gateway();
        let dir = gateway.create_directory(&Default::default()).await.unwrap();
        let child = Cap::File(gateway.upload(Bytes::from_static(b"tiny")).await.unwrap());
        gateway.add_child(&dir, "a", child.clone()).await.unwrap();
        gateway.add_child(&dir, "a", child).await.unwrap_err()
    });
    assert_eq!(
        (error.web_status(), error.error.name(), error.outcome),
        (409, "ExistingChildError", Outcome::NotApplied)
    );
}

#[test]
fn a_resent_conditional_put_recognises_its_own_write() {
    // The put's PUT lands but answers 500; the server's retry layer resends
    // it at once and gets 412, because the first attempt changed the ETag.
    // The server re-reads, finds its own share there, and reports success;
    // a blind write simply overwrites again.
    let put_ms = 1_000 + 6 * S3_LATENCY_MS;
    for write_check in [WriteCheck::IfMatch, WriteCheck::Blind] {
        let (seqnum, after) = sim(35, |world| async move {
            let config = LafsConfig { design: Design { write_check, ..Design::default() }, ..LafsConfig::one_of_one() };
            let faults = outage(put_ms - 50, put_ms + 50, 1.0);
            let grid = grid_with_policy(&world, config, s3(faults), &PolicyConfig::Immediate { retries: 1 });
            let gateway = grid.gateway();
            let cap = gateway.create_mutable(Bytes::from_static(b"one\n")).await.unwrap();
            sleep_until(&world, 1_000).await;
            let seqnum = gateway.put(&cap, Bytes::from_static(b"two\n")).await.unwrap();
            assert_eq!(grid.retry_counters().retries, 1);
            (seqnum, gateway.get(&cap).await.unwrap())
        });
        assert_eq!(seqnum, 2, "{write_check:?}");
        assert_eq!((after.seqnum, &after.contents[..]), (2, &b"two\n"[..]), "{write_check:?}");
    }
}
