//! The real server over real HTTP: S3 behaviour retrylab relies on, and the
//! fault model on the wire slot by slot as the simulated S3 decides it.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use retrylab_faults::{FaultKind, FaultMix, FaultModel, LatencyDist};
use retrylab_s3::service::etag_of;
use retrylab_s3::{Consistency, PutCondition, S3Config, S3Request, S3Service};
use retrylab_s3_server::{RealS3Server, WireConfig, ACCESS_KEY, REGION, SECRET_KEY};
use rusty_s3::actions::{ListObjectsV2, ListObjectsV2Response};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

const BUCKET: &str = "retrylab";
/// Presigned URLs are valid for this long (S3 accepts 1 s to 7 days).
const URL_VALID: Duration = Duration::from_secs(600);

/// A presigning S3 client over reqwest (no retries: each call is one request).
struct Client {
    http: reqwest::Client,
    bucket: Bucket,
    credentials: Credentials,
}

/// What one request got back: a status, or no status at all.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    etag: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn error_code(&self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.body);
        let start = text.find("<Code>")? + "<Code>".len();
        let end = text[start..].find("</Code>")? + start;
        Some(text[start..end].to_owned())
    }
}

impl Client {
    fn new(server: &RealS3Server, timeout: Duration) -> Client {
        let endpoint = server.endpoint().parse().expect("endpoint is a URL");
        let bucket = Bucket::new(endpoint, UrlStyle::Path, BUCKET, REGION).expect("bucket");
        let http = reqwest::Client::builder().no_proxy().timeout(timeout).build().expect("client");
        Client { http, bucket, credentials: Credentials::new(ACCESS_KEY, SECRET_KEY) }
    }

    async fn send(
        &self,
        method: Method,
        url: reqwest::Url,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> reqwest::Result<Answer> {
        let mut request = self.http.request(method, url).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        let status = response.status();
        let etag = response.headers().get("etag").map(|v| v.to_str().expect("ascii etag").to_owned());
        let body = response.bytes().await?.to_vec();
        Ok(Answer { status, etag, body })
    }

    /// PUT with optional condition headers, signed with them.
    async fn put_if(&self, key: &str, body: &[u8], headers: &[(&'static str, &str)]) -> reqwest::Result<Answer> {
        let mut action = self.bucket.put_object(Some(&self.credentials), key);
        for (name, value) in headers {
            action.headers_mut().insert(*name, (*value).to_owned());
        }
        self.send(Method::PUT, action.sign(URL_VALID), headers, body.to_vec()).await
    }

    async fn put(&self, key: &str, body: &[u8]) -> reqwest::Result<Answer> {
        self.put_if(key, body, &[]).await
    }

    async fn get(&self, key: &str) -> reqwest::Result<Answer> {
        let url = self.bucket.get_object(Some(&self.credentials), key).sign(URL_VALID);
        self.send(Method::GET, url, &[], Vec::new()).await
    }

    async fn head(&self, key: &str) -> reqwest::Result<Answer> {
        let url = self.bucket.head_object(Some(&self.credentials), key).sign(URL_VALID);
        self.send(Method::HEAD, url, &[], Vec::new()).await
    }

    async fn delete(&self, key: &str) -> reqwest::Result<Answer> {
        let url = self.bucket.delete_object(Some(&self.credentials), key).sign(URL_VALID);
        self.send(Method::DELETE, url, &[], Vec::new()).await
    }

    async fn list_page(&self, prefix: &str, token: Option<&str>, max_keys: Option<usize>) -> ListObjectsV2Response {
        let mut action = self.bucket.list_objects_v2(Some(&self.credentials));
        action.with_prefix(prefix);
        if let Some(token) = token {
            action.with_continuation_token(token);
        }
        if let Some(max_keys) = max_keys {
            action.with_max_keys(max_keys);
        }
        let answer = self.send(Method::GET, action.sign(URL_VALID), &[], Vec::new()).await.expect("list answers");
        assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.body));
        ListObjectsV2::parse_response(std::str::from_utf8(&answer.body).expect("utf-8")).expect("list XML")
    }

    /// Every key under `prefix` with its ETag, page by page; also the page sizes.
    async fn list_all(&self, prefix: &str, max_keys: Option<usize>) -> (Vec<(String, Option<String>)>, Vec<usize>) {
        let (mut objects, mut pages, mut token) = (Vec::new(), Vec::new(), None::<String>);
        loop {
            let page = self.list_page(prefix, token.as_deref(), max_keys).await;
            pages.push(page.contents.len());
            objects.extend(page.contents.into_iter().map(|object| (object.key, object.etag)));
            match page.next_continuation_token {
                Some(next) => token = Some(next),
                None => return (objects, pages),
            }
        }
    }
}

fn config(faults: FaultModel) -> WireConfig {
    WireConfig { faults, ..WireConfig::healthy(&[BUCKET]) }
}

fn all_faults(kind: FaultKind) -> FaultModel {
    let mut mix = FaultMix { internal_error: 0.0, slow_down: 0.0, connection_reset: 0.0, timeout: 0.0 };
    match kind {
        FaultKind::InternalError => mix.internal_error = 1.0,
        FaultKind::SlowDown => mix.slow_down = 1.0,
        FaultKind::ConnectionReset => mix.connection_reset = 1.0,
        FaultKind::Timeout => mix.timeout = 1.0,
    }
    FaultModel { mix, ..FaultModel::independent(1.0) }
}

async fn start(config: WireConfig) -> RealS3Server {
    RealS3Server::start(config).await.expect("server starts")
}

#[tokio::test]
async fn objects_round_trip_with_s3_etags() {
    let server = start(WireConfig::healthy(&[BUCKET])).await;
    assert!(server.endpoint().starts_with("http://127.0.0.1:"), "{}", server.endpoint());
    let client = Client::new(&server, Duration::from_secs(10));
    let body = b"share 0 of seven".as_slice();
    let put = client.put("shares/aa/x/0", body).await.unwrap();
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(put.etag.as_deref(), Some(etag_of(body).as_str()));
    let get = client.get("shares/aa/x/0").await.unwrap();
    assert_eq!(
        (get.status, get.etag.as_deref(), get.body.as_slice()),
        (StatusCode::OK, Some(etag_of(body).as_str()), body)
    );
    let head = client.head("shares/aa/x/0").await.unwrap();
    assert_eq!((head.status, head.etag.as_deref()), (StatusCode::OK, Some(etag_of(body).as_str())));
    // An overwrite changes the ETag; an empty body has MD5's empty digest.
    let put = client.put("shares/aa/x/0", b"").await.unwrap();
    assert_eq!(put.etag.as_deref(), Some("\"d41d8cd98f00b204e9800998ecf8427e\""));
    assert_eq!(client.delete("shares/aa/x/0").await.unwrap().status, StatusCode::NO_CONTENT);
    let missing = client.get("shares/aa/x/0").await.unwrap();
    assert_eq!((missing.status, missing.error_code().as_deref()), (StatusCode::NOT_FOUND, Some("NoSuchKey")));
    assert_eq!(client.head("shares/aa/x/0").await.unwrap().status, StatusCode::NOT_FOUND);
    // Deleting what is not there succeeds, as on S3.
    assert_eq!(client.delete("shares/aa/x/0").await.unwrap().status, StatusCode::NO_CONTENT);
    // A key that is only a directory on disk (the parent of another key) is no object.
    client.put("dir/child", b"c").await.unwrap();
    let parent = client.get("dir").await.unwrap();
    assert_eq!((parent.status, parent.error_code().as_deref()), (StatusCode::NOT_FOUND, Some("NoSuchKey")));
    // Unsigned requests are refused.
    let unsigned = client.http.get(format!("{}/{BUCKET}/dir/child", server.endpoint())).send().await.unwrap();
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
    let counts = server.faults_injected();
    assert_eq!((counts.requests, counts.faults_total(), counts.applied_writes), (11, 0, 0));
    server.shutdown().await;
}

#[tokio::test]
async fn conditional_writes_fail_with_412_and_are_atomic_per_key() {
    let server = start(WireConfig::healthy(&[BUCKET])).await;
    let client = Client::new(&server, Duration::from_secs(10));
    let create = [("if-none-match", "*")];
    assert_eq!(client.put_if("k", b"one", &create).await.unwrap().status, StatusCode::OK);
    let again = client.put_if("k", b"two", &create).await.unwrap();
    assert_eq!(
        (again.status, again.error_code().as_deref()),
        (StatusCode::PRECONDITION_FAILED, Some("PreconditionFailed"))
    );
    let stale = client.put_if("k", b"two", &[("if-match", &etag_of(b"zero"))]).await.unwrap();
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let current = etag_of(b"one");
    let swapped = client.put_if("k", b"two", &[("if-match", &current)]).await.unwrap();
    assert_eq!((swapped.status, swapped.etag), (StatusCode::OK, Some(etag_of(b"two"))));
    assert_eq!(client.get("k").await.unwrap().body, b"two");
    // As S3 (and the simulated service): If-Match on a missing key is 404.
    let missing = client.put_if("nothing", b"x", &[("if-match", &current)]).await.unwrap();
    assert_eq!((missing.status, missing.error_code().as_deref()), (StatusCode::NOT_FOUND, Some("NoSuchKey")));
    // Racing creators and racing swappers: exactly one of each wins.
    for round in 0..3 {
        let key = format!("race/{round}");
        let bodies: Vec<Vec<u8>> = (0..8).map(|writer| format!("writer {writer}").into_bytes()).collect();
        let creates = bodies.iter().map(|body| client.put_if(&key, body, &create));
        let wins = count_ok(creates).await;
        assert_eq!(wins, 1, "round {round}: {wins} creators won");
        let winner = client.get(&key).await.unwrap().etag.expect("etag");
        let if_winner = [("if-match", winner.as_str())];
        // New bodies: rewriting the winner's own body would keep its ETag (and let a second swap match).
        let swap_bodies: Vec<Vec<u8>> = (0..8).map(|writer| format!("swapper {writer}").into_bytes()).collect();
        let swaps = swap_bodies.iter().map(|body| client.put_if(&key, body, &if_winner));
        let wins = count_ok(swaps).await;
        assert_eq!(wins, 1, "round {round}: {wins} swappers won");
    }
    server.shutdown().await;
}

/// Runs the requests concurrently; how many answered 200.
async fn count_ok(requests: impl Iterator<Item = impl std::future::Future<Output = reqwest::Result<Answer>>>) -> usize {
    let answers = join_all(requests).await;
    answers.iter().filter(|answer| answer.as_ref().is_ok_and(|a| a.status == StatusCode::OK)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_page_by_1000_in_binary_key_order_with_etags() {
    let server = start(WireConfig::healthy(&[BUCKET])).await;
    let client = Client::new(&server, Duration::from_secs(30));
    // Upper case sorts before lower case and multi-byte UTF-8 after both.
    let mut keys: Vec<String> = (0..1203).map(|k| format!("p/{k:05}")).collect();
    keys.extend(["p/Zed", "p/zed", "p/\u{e9}t\u{e9}", "p/a b"].map(String::from));
    for chunk in keys.chunks(16) {
        let puts = chunk.iter().map(|key| client.put(key, key.as_bytes()));
        for answer in join_all(puts).await {
            assert_eq!(answer.unwrap().status, StatusCode::OK);
        }
    }
    client.put("q/outside", b"x").await.unwrap();
    let expected: Vec<(String, Option<String>)> = keys
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|key| (key.clone(), Some(etag_of(key.as_bytes()))))
        .collect();
    let (listed, pages) = client.list_all("p/", None).await;
    assert_eq!(pages, [1000, keys.len() - 1000]);
    assert_eq!(listed, expected);
    let (listed, pages) = client.list_all("p/0000", Some(3)).await;
    assert_eq!(pages, [3, 3, 3, 1]);
    assert_eq!(listed.len(), 10);
    assert!(client.list_page("none/", None, None).await.contents.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn every_faulted_answer_is_a_500_with_s3s_xml_until_healed() {
    let server = start(config(FaultModel::independent(1.0))).await;
    let client = Client::new(&server, Duration::from_secs(10));
    for key in ["a", "b", "c"] {
        for answer in [client.put(key, b"body").await.unwrap(), client.get(key).await.unwrap()] {
            assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
            let text = String::from_utf8(answer.body.clone()).unwrap();
            assert!(
                text.contains("<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message>"),
                "{text}"
            );
        }
    }
    server.heal();
    // Not ambiguous: none of the faulted writes landed.
    assert_eq!(client.get("a").await.unwrap().status, StatusCode::NOT_FOUND);
    assert_eq!(client.put("a", b"body").await.unwrap().status, StatusCode::OK);
    let counts = server.faults_injected();
    assert_eq!(counts.faults.into_iter().collect::<Vec<_>>(), [("internal_error".to_owned(), 6)]);
    assert_eq!((counts.requests, counts.applied_writes), (8, 0));
    server.shutdown().await;
}

#[tokio::test]
async fn an_ambiguous_fault_lands_the_write_but_answers_500() {
    let faults = FaultModel { ambiguous_fraction: 1.0, ..FaultModel::independent(1.0) };
    let server = start(config(faults)).await;
    let client = Client::new(&server, Duration::from_secs(10));
    assert_eq!(client.put("k", b"landed").await.unwrap().status, StatusCode::INTERNAL_SERVER_ERROR);
    // A read is never applied, and a rejected conditional write does not count.
    assert_eq!(client.get("k").await.unwrap().status, StatusCode::INTERNAL_SERVER_ERROR);
    let rejected = client.put_if("k", b"again", &[("if-none-match", "*")]).await.unwrap();
    assert_eq!(rejected.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(server.faults_injected().applied_writes, 1);
    server.heal();
    let get = client.get("k").await.unwrap();
    assert_eq!((get.status, get.body.as_slice()), (StatusCode::OK, b"landed".as_slice()));
    server.shutdown().await;
}

#[tokio::test]
async fn slow_down_is_a_503() {
    let server = start(config(all_faults(FaultKind::SlowDown))).await;
    let client = Client::new(&server, Duration::from_secs(10));
    let answer = client.put("k", b"x").await.unwrap();
    assert_eq!((answer.status, answer.error_code().as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("SlowDown")));
    server.shutdown().await;
}

#[tokio::test]
async fn a_reset_reaches_the_client_as_a_connection_error_without_status() {
    let server = start(config(all_faults(FaultKind::ConnectionReset))).await;
    let client = Client::new(&server, Duration::from_secs(10));
    for key in ["a", "b"] {
        let error = client.put(key, b"x").await.expect_err("no answer");
        assert!(error.status().is_none() && !error.is_timeout(), "{error:?}");
    }
    server.heal();
    // The client reconnects; the server is fine.
    assert_eq!(client.put("a", b"x").await.unwrap().status, StatusCode::OK);
    assert_eq!(server.faults_injected().faults["connection_reset"], 2);
    server.shutdown().await;
}

/// `future`'s output and the wall time it took (real mode is wall-clock by
/// design; tokio's clock is outside madsim's).
async fn timed<T>(future: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = tokio::time::Instant::now();
    let output = future.await;
    (output, started.elapsed())
}

#[tokio::test]
async fn a_timeout_stalls_past_the_clients_timeout() {
    let client_timeout = Duration::from_millis(300);
    let server = start(WireConfig { request_timeout: client_timeout, ..config(all_faults(FaultKind::Timeout)) }).await;
    let client = Client::new(&server, client_timeout);
    let (result, waited) = timed(client.get("k")).await;
    let error = result.expect_err("never answered");
    assert!(error.is_timeout(), "{error:?}");
    assert!(waited >= client_timeout, "{waited:?}");
    assert_eq!(server.faults_injected().faults["timeout"], 1);
    server.shutdown().await;
}

#[tokio::test]
async fn answers_wait_their_latency_times_the_time_scale() {
    let server = start(WireConfig {
        latency: LatencyDist::constant_ms(400.0),
        error_latency: Some(LatencyDist::constant_ms(2000.0)),
        time_scale: 0.5,
        ..WireConfig::healthy(&[BUCKET])
    })
    .await;
    let client = Client::new(&server, Duration::from_secs(10));
    let (put, success) = timed(client.put("k", b"x")).await;
    assert_eq!(put.unwrap().status, StatusCode::OK);
    let (get, error) = timed(client.get("missing")).await;
    assert_eq!(get.unwrap().status, StatusCode::NOT_FOUND);
    // 400 ms and 2 s of virtual time at half speed; loopback adds little.
    assert!((Duration::from_millis(200)..Duration::from_millis(700)).contains(&success), "{success:?}");
    assert!((Duration::from_millis(1000)..Duration::from_millis(1500)).contains(&error), "{error:?}");
    server.shutdown().await;
}

/// The client's view of one answer, as a fault kind (`None`: answered normally).
fn seen_kind(result: &reqwest::Result<Answer>) -> Option<FaultKind> {
    match result {
        Ok(answer) if answer.status == StatusCode::INTERNAL_SERVER_ERROR => Some(FaultKind::InternalError),
        Ok(answer) if answer.status == StatusCode::SERVICE_UNAVAILABLE => Some(FaultKind::SlowDown),
        Ok(_) => None,
        Err(error) if error.is_timeout() => Some(FaultKind::Timeout),
        Err(_) => Some(FaultKind::ConnectionReset),
    }
}

#[tokio::test]
async fn a_seed_faults_the_same_slots_as_the_simulated_service() {
    let faults = FaultModel {
        mix: FaultMix { internal_error: 3.0, slow_down: 1.0, connection_reset: 1.0, timeout: 0.5 },
        ambiguous_fraction: 0.5,
        ..FaultModel::independent(0.35)
    };
    let seed = 0x5eed_0011;
    // Virtual 10 s request timeouts at a hundredth of real time: 100 ms.
    let request_timeout = Duration::from_secs(10);
    let wire = WireConfig {
        faults: faults.clone(),
        latency: LatencyDist::constant_ms(100.0),
        seed,
        time_scale: 0.01,
        request_timeout,
        ..WireConfig::healthy(&[BUCKET])
    };
    let server = start(wire.clone()).await;
    let client = Client::new(&server, request_timeout.mul_f64(wire.time_scale));
    let mut simulated = S3Service::new(
        S3Config {
            latency: wire.latency.clone(),
            error_latency: None,
            consistency: Consistency::Strong,
            faults,
            capacity: None,
            rate_limits: None,
        },
        seed,
    );
    let requests = 200u64;
    let mut expected_counts = std::collections::BTreeMap::new();
    for slot in 0..requests {
        let key = format!("k/{}", slot % 7);
        let (seen, request) = if slot % 2 == 0 {
            let body = slot.to_be_bytes();
            let seen = seen_kind(&client.put(&key, &body).await);
            (seen, S3Request::Put { key, body: body.to_vec().into(), condition: PutCondition::None })
        } else {
            (seen_kind(&client.get(&key).await), S3Request::Get { key })
        };
        assert_eq!(simulated.take_slot(), slot);
        let (_, handled) = simulated.handle(&request, slot, Duration::from_millis(slot));
        let decided = handled.fault.map(|fault| fault.kind);
        assert_eq!(seen, decided, "slot {slot}");
        if let Some(kind) = decided {
            *expected_counts.entry(kind.name().to_owned()).or_insert(0u64) += 1;
        }
    }
    let counts = server.faults_injected();
    assert_eq!(counts.requests, requests);
    assert_eq!(counts.faults, expected_counts);
    // Every kind was met, so the comparison covered each of them.
    assert_eq!(expected_counts.len(), 4, "{expected_counts:?}");
    server.shutdown().await;
}

/// The arrangement real mode uses: the server on a multi-thread runtime of
/// its own, a client on a current-thread runtime in another thread.
#[test]
fn a_server_on_its_own_runtime_serves_a_client_on_another_thread() {
    let server_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = server_runtime.block_on(start(WireConfig::healthy(&[BUCKET])));
    let endpoint = server.endpoint();
    // The client's own OS thread is the point of the test (outside madsim).
    #[allow(clippy::disallowed_methods)]
    let client_thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let bucket = Bucket::new(endpoint.parse().unwrap(), UrlStyle::Path, BUCKET, REGION).unwrap();
            let credentials = Credentials::new(ACCESS_KEY, SECRET_KEY);
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            let url = bucket.put_object(Some(&credentials), "k").sign(URL_VALID);
            let put = http.put(url.as_str()).body("x").send().await.unwrap();
            let url = bucket.get_object(Some(&credentials), "k").sign(URL_VALID);
            let get = http.get(url.as_str()).send().await.unwrap();
            (put.status(), get.status(), get.bytes().await.unwrap())
        })
    });
    let (put, get, body) = client_thread.join().unwrap();
    assert_eq!((put, get, body.as_ref()), (StatusCode::OK, StatusCode::OK, b"x".as_slice()));
    server_runtime.block_on(server.shutdown());
}

#[tokio::test]
async fn after_shutdown_nothing_listens() {
    let server = start(WireConfig::healthy(&[BUCKET])).await;
    let address = server.endpoint().trim_start_matches("http://").to_owned();
    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(address).await.is_err());
}

#[tokio::test]
async fn bad_requests_get_errors_and_the_server_serves_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start(WireConfig::healthy(&[BUCKET])).await;
    let address = server.endpoint().trim_start_matches("http://").to_owned();
    for garbage in
        [&b"GARBAGE\r\n\r\n"[..], b"PUT /retrylab/k HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"]
    {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(garbage).await.unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(answer.is_empty() || text.starts_with("HTTP/1.1 4"), "{text}");
    }
    let client = Client::new(&server, Duration::from_secs(10));
    // Signed, but no operation s3s-fs serves, and a bucket that does not exist.
    let unserved = client.bucket.delete_bucket(&client.credentials).sign(URL_VALID);
    let answer = client.send(Method::DELETE, unserved, &[], Vec::new()).await.unwrap();
    assert_eq!(answer.status, StatusCode::NOT_IMPLEMENTED, "{}", String::from_utf8_lossy(&answer.body));
    let elsewhere = Bucket::new(server.endpoint().parse().unwrap(), UrlStyle::Path, "nowhere", REGION).unwrap();
    let url = elsewhere.put_object(Some(&client.credentials), "k").sign(URL_VALID);
    let answer = client.send(Method::PUT, url, &[], b"x".to_vec()).await.unwrap();
    assert_eq!((answer.status, answer.error_code().as_deref()), (StatusCode::NOT_FOUND, Some("NoSuchBucket")));
    assert_eq!(client.put("k", b"x").await.unwrap().status, StatusCode::OK);
    server.shutdown().await;
}
