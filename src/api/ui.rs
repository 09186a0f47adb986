//! The dashboard, `GET /ui`: one HTML page, its script and its style sheet,
//! embedded in the binary at build time (`src/api/ui/`), served without the
//! token.
//!
//! Invariant: the page holds no secret and no data. What it shows it fetches
//! with the token the operator gives it (typed in, or `#token=…` in the URL
//! fragment, which a browser never sends), from the same endpoints `ctl` uses,
//! each behind `Authorization: Bearer`. Nothing comes from outside the binary:
//! the Content-Security-Policy allows scripts, styles and connections to this
//! origin only, and no inline script or style.

use actix_web::http::header;
use actix_web::HttpResponse;

const PAGE: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/style.css");

/// Only this origin's script, style and endpoints; no inline script or
/// style, no frames, no forms posted elsewhere, no base tag. `data:` images
/// for the empty favicon only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                       form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &str, text: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        // A new binary may bring a new page: always asked again.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(text)
}

pub(super) async fn page() -> HttpResponse {
    asset("text/html; charset=utf-8", PAGE)
}

pub(super) async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub(super) async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_assets_and_has_no_inline_script() {
        assert!(PAGE.contains(r#"<script src="/ui/app.js""#), "the script");
        assert!(PAGE.contains(r#"href="/ui/style.css""#), "the style sheet");
        // Every <script> has a src (CSP refuses inline ones anyway), and no
        // asset names another origin.
        assert_eq!(PAGE.matches("<script").count(), 1);
        assert!(!PAGE.contains(" style="), "no inline style attribute");
        for text in [PAGE, SCRIPT, STYLE] {
            // The SVG namespace is a name, not a place anything is loaded from.
            let text = text.replace("http://www.w3.org/2000/svg", "");
            assert!(!text.contains("http://") && !text.contains("https://"));
        }
        // The script never puts the token in a URL.
        assert!(!SCRIPT.contains("?token") && !SCRIPT.contains("&token"));
        assert!(CSP.contains("script-src 'self';") && !CSP.contains("unsafe"));
    }
}
