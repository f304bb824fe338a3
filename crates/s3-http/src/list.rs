//! A ListObjectsV2 answer as the `ListPage` the simulated service returns.

use retrylab_s3::{ETag, ListPage, ObjectSummary};
use rusty_s3::actions::ListObjectsV2;

/// The objects, ETags, sizes and continuation token of a ListObjectsV2
/// body. Every listed object must carry its ETag and size, as S3's do: the
/// simulated page always has them, and a listing without them is not one.
/// The error says why the body is not a listing.
pub(crate) fn parse_list_page(body: &[u8]) -> Result<ListPage, String> {
    let text = std::str::from_utf8(body).map_err(|error| format!("not UTF-8: {error}"))?;
    // rusty-s3 drops the token of a listing that is not truncated, and
    // rejects a truncated one without a token.
    let parsed = ListObjectsV2::parse_response(text).map_err(|error| error.to_string())?;
    let objects = parsed
        .contents
        .into_iter()
        .map(|content| {
            let etag = content.etag.ok_or_else(|| format!("{}: no ETag", content.key))?;
            let size = content.size.ok_or_else(|| format!("{}: no Size", content.key))?;
            Ok(ObjectSummary { key: content.key, etag: ETag::from_quoted(&etag), size })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(ListPage { objects, next_continuation_token: parsed.next_continuation_token })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

    fn listing(contents: &str, truncated: bool, token: Option<&str>) -> Vec<u8> {
        let token = token.map(|t| format!("<NextContinuationToken>{t}</NextContinuationToken>")).unwrap_or_default();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"{NAMESPACE}\"><Name>b</Name>\
             <Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>{truncated}</IsTruncated>\
             {contents}{token}</ListBucketResult>"
        )
        .into_bytes()
    }

    fn content(key: &str, etag: &str, size: u64) -> String {
        format!("<Contents><Key>{key}</Key><ETag>{etag}</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>")
    }

    #[test]
    fn objects_etags_sizes_and_the_token_are_read() {
        let contents = content("p/a", "&quot;0cc175b9c0f1b6a831c399e269772661&quot;", 1) + &content("p/b", "\"e\"", 0);
        let page = parse_list_page(&listing(&contents, true, Some("p/b"))).unwrap();
        let keys: Vec<_> = page.objects.iter().map(|o| (o.key.as_str(), o.etag.as_str(), o.size)).collect();
        assert_eq!(keys, [("p/a", "\"0cc175b9c0f1b6a831c399e269772661\"", 1), ("p/b", "\"e\"", 0)]);
        assert_eq!(page.next_continuation_token.as_deref(), Some("p/b"));
    }

    #[test]
    fn a_complete_listing_has_no_token_and_may_be_empty() {
        let page = parse_list_page(&listing("", false, None)).unwrap();
        assert_eq!(page, ListPage { objects: vec![], next_continuation_token: None });
    }

    #[test]
    fn what_is_not_a_listing_is_an_error_not_a_panic() {
        let truncated_without_token = listing(&content("p/a", "\"e\"", 1), true, None);
        let no_etag = listing("<Contents><Key>p/a</Key><Size>1</Size></Contents>", false, None);
        let no_size = listing("<Contents><Key>p/a</Key><ETag>\"e\"</ETag></Contents>", false, None);
        let bad_size = listing(&content("p/a", "\"e\"", 1).replace("<Size>1", "<Size>-1"), false, None);
        for body in [&truncated_without_token, &no_etag, &no_size, &bad_size, &b"<html/>".to_vec(), &vec![0xff]] {
            assert!(parse_list_page(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }
}
