//! The live page: `GET /` from a browser (`Accept: text/html`, no upgrade). One self-contained
//! HTML file (`live.html`: markup, CSS and JavaScript, no CDN, no build step) compiled into the
//! binary, so it works offline and on a phone.
//!
//! The page opens the lite stream over a same-origin WebSocket (`ws:` or `wss:` as the page
//! was loaded) and reads the per-log table from `/health/deep` every 2 s: it needs no endpoint
//! of its own. With auth on, a `?token=` in the page's address is passed on to both. A filter
//! box puts its text into the WebSocket URL's `keyword=` parameter (server-side filters).
//!
//! Every value from a certificate is written with `textContent`; the Content-Security-Policy
//! below additionally forbids loading anything from elsewhere.

use super::http::{Response, TEXT_HTML};

/// The page, as served.
pub(crate) const LIVE_HTML: &str = include_str!("live.html");

/// The page's own inline script and style only; network access to this origin only.
const HEADERS: &str = "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; \
style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'\r\nX-Content-Type-Options: nosniff\r\n";

/// The 200 answer carrying the page.
pub(crate) fn response() -> Response {
    Response::new(200, TEXT_HTML, LIVE_HTML.as_bytes().to_vec()).with_headers(HEADERS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_self_contained_and_never_writes_stream_data_as_html() {
        for outside in ["http://", "https://", "//cdn", "<link", "src=\""] {
            assert!(!LIVE_HTML.contains(outside), "loads something: {outside}");
        }
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!LIVE_HTML.contains(sink), "HTML sink {sink}");
        }
        assert!(
            LIVE_HTML.contains("name=\"viewport\""),
            "readable on a phone"
        );
        let wire = String::from_utf8(response().encode()).unwrap();
        assert!(wire.contains("\r\nContent-Security-Policy: default-src 'none';"));
        assert!(wire.contains("connect-src 'self'"));
    }
}
