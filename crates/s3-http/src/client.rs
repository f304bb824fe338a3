//! `HttpS3Client`: an `ObjectStore` that sends each request once, signed,
//! to a real S3-compatible server, and reports its answer as `SimS3Client`
//! reports the simulated one.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, CONTENT_LENGTH, ETAG, IF_MATCH, IF_NONE_MATCH};
use reqwest::{redirect, retry, RequestBuilder, Url};
use retrylab_s3::{
    ETag, ObjectStore, PutCondition, S3ErrorCode, S3Request, S3Response, StoreError, LIST_PAGE_KEYS_MAX,
};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use crate::errors::{service_error, transport_error, xml_error_code};
use crate::list::parse_list_page;

/// How long a signed URL stays valid. A URL is signed just before it is
/// sent, so this only has to cover the trip to the server (and any clock
/// skew between client and server); S3 accepts 1 second to 7 days.
const SIGNED_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Why a client could not be built from its settings.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientBuildError {
    #[error("endpoint {endpoint:?}: {message}")]
    Endpoint { endpoint: String, message: String },
    #[error("request timeout: must be more than zero")]
    ZeroTimeout,
    #[error("HTTP client: {0}")]
    Http(String),
}

/// A connection pool to one bucket of an S3-compatible server, addressed
/// path-style (`http://127.0.0.1:PORT/bucket/key`). Cheap to clone: clones
/// share the pool.
///
/// Nothing in it retries, so every attempt the retry layer makes is one
/// HTTP request and every failure reaches it: reqwest's retry policy is
/// `never`, redirects are not followed (a 3xx is an error), and no proxy is
/// consulted (a loopback server must be reached directly, whatever
/// `HTTP_PROXY` says). The one resend below retrylab is hyper's, of a
/// request it never wrote because the kept-alive connection it picked had
/// already closed: the server never saw that request, and every HTTP
/// client (the AWS SDKs' too) does the same.
#[derive(Clone)]
pub struct HttpS3Client(Arc<Connection>);

struct Connection {
    http: reqwest::Client,
    bucket: Bucket,
    credentials: Credentials,
    request_timeout: Duration,
}

impl HttpS3Client {
    /// A client of `bucket` at `endpoint` (`http://127.0.0.1:PORT`), signing
    /// with SigV4 for `region`. `request_timeout` bounds each request, from
    /// sending it to the last byte of its answer, in wall-clock time (real
    /// mode scales the scenario's timeout before passing it).
    pub fn new(
        endpoint: &str,
        bucket: &str,
        region: &str,
        access_key: &str,
        secret_key: &str,
        request_timeout: Duration,
    ) -> Result<HttpS3Client, ClientBuildError> {
        let endpoint_error = |message: String| ClientBuildError::Endpoint { endpoint: endpoint.to_owned(), message };
        let url = Url::parse(endpoint).map_err(|error| endpoint_error(error.to_string()))?;
        let bucket = Bucket::new(url, UrlStyle::Path, bucket.to_owned(), region.to_owned())
            .map_err(|error| endpoint_error(error.to_string()))?;
        if request_timeout.is_zero() {
            return Err(ClientBuildError::ZeroTimeout);
        }
        let http = reqwest::Client::builder()
            .timeout(request_timeout)
            .retry(retry::never())
            .redirect(redirect::Policy::none())
            .no_proxy()
            // Without it, a kept-alive request waits on Nagle's algorithm
            // and the peer's delayed ACK (about 40 ms on Linux).
            .tcp_nodelay(true)
            .http1_only()
            .build()
            .map_err(|error| ClientBuildError::Http(error.to_string()))?;
        let credentials = Credentials::new(access_key, secret_key);
        Ok(HttpS3Client(Arc::new(Connection { http, bucket, credentials, request_timeout })))
    }

    pub fn request_timeout(&self) -> Duration {
        self.0.request_timeout
    }

    /// Creates the bucket; one that already exists is fine (a loopback
    /// server is this client's own, so "exists" means "ours").
    pub async fn create_bucket(&self) -> Result<(), StoreError> {
        let action = self.0.bucket.create_bucket(&self.0.credentials);
        let request = self.0.http.put(action.sign(SIGNED_URL_LIFETIME)).body(action.body());
        let answer = exchange(request).await?;
        let exists = matches!(xml_error_code(&answer.body), Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists"));
        if answer.is_success() || exists {
            Ok(())
        } else {
            Err(service_error(answer.status, &answer.body))
        }
    }

    /// The signed HTTP request for `request`.
    fn http_request(&self, request: &S3Request) -> RequestBuilder {
        let Connection { http, bucket, credentials, .. } = &*self.0;
        let credentials = Some(credentials);
        match request {
            S3Request::Put { key, body, condition } => {
                let url = bucket.put_object(credentials, key).sign(SIGNED_URL_LIFETIME);
                let put = http.put(url).body(body.clone());
                match condition {
                    PutCondition::None => put,
                    PutCondition::IfNoneMatch => put.header(IF_NONE_MATCH, "*"),
                    PutCondition::IfMatch(etag) => put.header(IF_MATCH, etag.as_str()),
                }
            }
            S3Request::Get { key } => http.get(bucket.get_object(credentials, key).sign(SIGNED_URL_LIFETIME)),
            S3Request::Head { key } => http.head(bucket.head_object(credentials, key).sign(SIGNED_URL_LIFETIME)),
            S3Request::Delete { key } => http.delete(bucket.delete_object(credentials, key).sign(SIGNED_URL_LIFETIME)),
            S3Request::List { prefix, continuation_token, keys_max } => {
                let mut list = bucket.list_objects_v2(credentials);
                // Keys come back as stored, XML-escaped: URL-encoded keys
                // would need every server to encode them (s3s-fs 0.14 says
                // it did but does not), and retrylab's keys are valid XML.
                list.query_mut().remove("encoding-type");
                if !prefix.is_empty() {
                    list.with_prefix(prefix.as_str());
                }
                if let Some(token) = continuation_token {
                    list.with_continuation_token(token.as_str());
                }
                // The simulated service's bounds, so both see the same page
                // size (S3 itself caps it at 1,000; not every server does).
                list.with_max_keys((*keys_max).clamp(1, LIST_PAGE_KEYS_MAX));
                http.get(list.sign(SIGNED_URL_LIFETIME))
            }
        }
    }
}

impl ObjectStore for HttpS3Client {
    async fn send(&self, request: S3Request) -> Result<S3Response, StoreError> {
        let answer = exchange(self.http_request(&request)).await?;
        if !answer.is_success() {
            return Err(service_error(answer.status, &answer.body));
        }
        decode_success(&request, answer)
    }
}

/// What came back: the status, the headers retrylab reads and the whole body.
struct Answer {
    status: u16,
    etag: Option<ETag>,
    content_length: Option<u64>,
    body: Bytes,
}

impl Answer {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends the request once and reads the whole answer, within the client's
/// timeout (it covers the body too).
async fn exchange(request: RequestBuilder) -> Result<Answer, StoreError> {
    let response = request.send().await.map_err(|error| transport_error(&error))?;
    let status = response.status().as_u16();
    let (etag, content_length) = read_headers(response.headers());
    let body = response.bytes().await.map_err(|error| transport_error(&error))?;
    Ok(Answer { status, etag, content_length, body })
}

/// The ETag and Content-Length headers, when present and readable. The
/// length is read from the header rather than the body: a HEAD answer has
/// the object's length and no body.
fn read_headers(headers: &HeaderMap) -> (Option<ETag>, Option<u64>) {
    let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    let etag = text(ETAG).map(ETag::from_quoted);
    let content_length = text(CONTENT_LENGTH).and_then(|length| length.parse().ok());
    (etag, content_length)
}

/// A 2xx answer as the response the simulated service would give. One
/// without what that response needs (an ETag, a size, a listing) is S3's
/// `InternalError`: the server answered, but not with an answer.
fn decode_success(request: &S3Request, answer: Answer) -> Result<S3Response, StoreError> {
    let unreadable = StoreError::Service(S3ErrorCode::InternalError);
    match request {
        S3Request::Put { .. } => Ok(S3Response::Put { etag: answer.etag.ok_or(unreadable)? }),
        S3Request::Get { .. } => Ok(S3Response::Get { etag: answer.etag.ok_or(unreadable)?, body: answer.body }),
        S3Request::Head { .. } => Ok(S3Response::Head {
            etag: answer.etag.ok_or(unreadable)?,
            size: answer.content_length.ok_or(unreadable)?,
        }),
        S3Request::Delete { .. } => Ok(S3Response::Delete),
        // The reason is dropped: `StoreError` is a code, as S3's answer is.
        S3Request::List { .. } => parse_list_page(&answer.body).map(S3Response::List).map_err(|_reason| unreadable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> HttpS3Client {
        HttpS3Client::new("http://127.0.0.1:9", "bucket", "us-east-1", "key", "secret", Duration::from_secs(1)).unwrap()
    }

    fn answer(status: u16, etag: Option<&str>, content_length: Option<u64>, body: &'static [u8]) -> Answer {
        Answer { status, etag: etag.map(ETag::from_quoted), content_length, body: Bytes::from_static(body) }
    }

    #[test]
    fn the_client_and_its_requests_can_move_between_threads() {
        fn send_and_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: &T) {}
        let client = client();
        send_and_sync(&client);
        // Built, not polled: no runtime needed.
        send(&client.send(S3Request::Get { key: "k".into() }));
    }

    #[test]
    fn bad_settings_are_errors_that_say_which() {
        let new = |endpoint: &str, timeout_ms| {
            HttpS3Client::new(endpoint, "b", "us-east-1", "k", "s", Duration::from_millis(timeout_ms)).err()
        };
        assert!(matches!(new("127.0.0.1:9000", 1), Some(ClientBuildError::Endpoint { .. })));
        assert!(matches!(new("ftp://127.0.0.1/", 1), Some(ClientBuildError::Endpoint { .. })));
        assert_eq!(new("http://127.0.0.1:9000", 0), Some(ClientBuildError::ZeroTimeout));
        assert_eq!(new("http://127.0.0.1:9000", 1), None);
        let message = new("nonsense", 1).unwrap().to_string();
        assert!(message.starts_with("endpoint \"nonsense\": "), "{message}");
    }

    #[test]
    fn requests_are_signed_path_style_with_their_conditions() {
        let client = client();
        let put = |condition| {
            let request = S3Request::Put { key: "shares/a b".into(), body: Bytes::from_static(b"x"), condition };
            client.http_request(&request).build().unwrap()
        };
        let plain = put(PutCondition::None);
        assert_eq!(plain.method(), "PUT");
        assert_eq!(plain.url().path(), "/bucket/shares/a%20b");
        assert!(plain.url().query().unwrap().contains("X-Amz-Signature="), "{}", plain.url());
        assert!(plain.headers().get(IF_MATCH).is_none() && plain.headers().get(IF_NONE_MATCH).is_none());
        assert_eq!(put(PutCondition::IfNoneMatch).headers()[IF_NONE_MATCH], "*");
        assert_eq!(put(PutCondition::IfMatch("\"abc\"".into())).headers()[IF_MATCH], "\"abc\"");
    }

    #[test]
    fn listings_carry_prefix_token_and_bounded_page_size() {
        let client = client();
        let list = |prefix: &str, token: Option<&str>, keys_max| {
            let request =
                S3Request::List { prefix: prefix.into(), continuation_token: token.map(str::to_owned), keys_max };
            let built = client.http_request(&request).build().unwrap();
            built.url().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect::<Vec<_>>()
        };
        let query = list("p/", Some("p/k"), 5000);
        let value = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(value("list-type"), Some("2"));
        assert_eq!(value("prefix"), Some("p/"));
        assert_eq!(value("continuation-token"), Some("p/k"));
        assert_eq!(value("max-keys"), Some("1000"));
        assert_eq!(value("encoding-type"), None);
        let query = list("", None, 0);
        assert!(!query.iter().any(|(k, _)| k == "prefix" || k == "continuation-token"));
        assert!(query.contains(&("max-keys".into(), "1".into())));
    }

    #[test]
    fn a_success_without_what_the_response_needs_is_an_internal_error() {
        let internal = Err(StoreError::Service(S3ErrorCode::InternalError));
        let get = S3Request::Get { key: "k".into() };
        let head = S3Request::Head { key: "k".into() };
        let put = S3Request::Put { key: "k".into(), body: Bytes::new(), condition: PutCondition::None };
        let list = S3Request::List { prefix: String::new(), continuation_token: None, keys_max: 1000 };
        assert_eq!(decode_success(&get, answer(200, None, Some(1), b"x")), internal);
        assert_eq!(decode_success(&put, answer(200, None, Some(0), b"")), internal);
        assert_eq!(decode_success(&head, answer(200, Some("\"e\""), None, b"")), internal);
        assert_eq!(decode_success(&list, answer(200, None, None, b"<html/>")), internal);
        let head_answer = decode_success(&head, answer(200, Some("\"e\""), Some(7), b"")).unwrap();
        assert_eq!(head_answer, S3Response::Head { etag: ETag::from_quoted("\"e\""), size: 7 });
        let delete = S3Request::Delete { key: "k".into() };
        assert_eq!(decode_success(&delete, answer(204, None, None, b"")), Ok(S3Response::Delete));
    }

    #[test]
    fn etags_from_servers_compare_as_s3_quotes_them() {
        let quoted = retrylab_s3::types::quoted_md5_hex(b"a");
        assert_eq!(ETag::from_quoted(&quoted), ETag::of(Bytes::from_static(b"a")));
        assert_eq!(ETag::from_quoted(quoted.trim_matches('"')).as_str(), quoted);
        assert_eq!(ETag::from_quoted("W/\"weak\"").as_str(), "W/\"weak\"");
    }
}
