//! Whether a request's cookies can be read one way only: a page is kept or reused only then.

use axum::http::{HeaderMap, header};

/// Whether the request's cookies say one thing only: every `Cookie` header is plain visible
/// ASCII without percent-encoding, the session cookie appears at most once, and its value is
/// the session the session layer resolved (`None`: neither has one). Anything else could be
/// read differently by another parser (tower-cookies decodes names and values, trims, and
/// keeps the last of two), so such a request is served but its page is never kept or reused.
pub(super) fn cookies_unambiguous(headers: &HeaderMap, name: &str, resolved: Option<&str>) -> bool {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let bytes = value.as_bytes();
        if bytes.iter().any(|b| !(0x20..0x7f).contains(b) || *b == b'%') {
            return false;
        }
        let Ok(text) = std::str::from_utf8(bytes) else { return false };
        for pair in text.split(';') {
            let cookie_name = pair.split_once('=').map_or(pair, |(n, _)| n).trim();
            if cookie_name == name {
                if found.is_some() {
                    return false;
                }
                found = Some(pair.split_once('=').map_or("", |(_, v)| v).trim());
            }
        }
    }
    found == resolved
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn cookies_that_could_be_read_two_ways_are_never_cached() {
        let name = "onecity_session";
        let with = |values: &[&[u8]]| {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append(header::COOKIE, HeaderValue::from_bytes(v).unwrap());
            }
            headers
        };
        assert!(cookies_unambiguous(&with(&[b"lang=en; onecity_session=abc"]), name, Some("abc")));
        assert!(cookies_unambiguous(&with(&[b"lang=en"]), name, None));
        assert!(cookies_unambiguous(&HeaderMap::new(), name, None));
        // The session layer found a session this reading does not see, or another one.
        let hostile: [&[&[u8]]; 5] = [
            &[b"onecity%5Fsession=abc"],
            &[b"x=\xc3\xa9; onecity_session=abc"],
            &[b"x=\xc3\xa9", b"onecity_session=abc"],
            &[b"onecity_session=abc", b"onecity_session=def"],
            &[b"onecity_session=abc; onecity_session=abc"],
        ];
        for cookies in hostile {
            assert!(!cookies_unambiguous(&with(cookies), name, Some("abc")), "{cookies:?}");
        }
        assert!(
            cookies_unambiguous(&with(&[b" onecity_session =abc"]), name, Some("abc")),
            "trimmed, as the layer does"
        );
        assert!(!cookies_unambiguous(&with(&[b"onecity_session=abc"]), name, None), "the layer saw none");
        assert!(!cookies_unambiguous(&with(&[b"onecity_session=abc"]), name, Some("def")));
    }
}
