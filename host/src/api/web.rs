//! The browser client's files: the player page at `/` (game port) and the operators' console
//! at `/console/` (where `/admin/*` is served). Plain HTML, CSS and JavaScript modules from
//! `host/web`, built into the binary (or read from `web_dir` when it is set), served with a
//! Content-Security-Policy that lets a page load only this server's own files and talk only to
//! it: whatever a module or a player writes is shown as text by the page, and even a mistake
//! there could not load a script from elsewhere.
//!
//! Owns: the files, their content types and headers. Must not touch: the WebSocket or the
//! admin API (the pages use them as any client does).

use super::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rust_embed::RustEmbed;
use std::borrow::Cow;
use std::sync::Arc;

/// The files under `host/web`.
#[derive(RustEmbed)]
#[folder = "web/"]
struct Files;

/// What a page may load and connect to: this server only (its WebSocket included); no inline
/// scripts or styles, no plugins, no framing by other sites.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
                       base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The player page and its files, for the game port.
pub fn player_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|s: State<Arc<AppState>>| file(s, "index.html")))
        .route("/{file}", get(named))
}

/// The console, for the operators' port, under `/console/` (its files too, the ones it shares
/// with the player page included, so that it works on a port of its own).
pub fn console_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route(
            "/console/",
            get(|s: State<Arc<AppState>>| file(s, "console.html")),
        )
        .route("/console/{file}", get(named))
}

async fn named(state: State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    file(state, &name).await
}

async fn file(State(app): State<Arc<AppState>>, name: &str) -> Response {
    // One plain file name: no folders, no hidden files (nor `..`).
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) {
        return not_found();
    }
    let Some(kind) = content_type(name) else {
        return not_found();
    };
    let bytes: Option<Cow<'static, [u8]>> = match &app.config.web_dir {
        Some(dir) => tokio::fs::read(dir.join(name)).await.ok().map(Cow::Owned),
        None => Files::get(name).map(|f| f.data),
    };
    let Some(bytes) = bytes else {
        return not_found();
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Small files: a reload always sees the server's own version (a hot-swapped server may
    // have been upgraded meanwhile).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The content type of a file the client is made of (`None`: not one of its kinds).
fn content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => return None,
    })
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such file").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_are_built_in() {
        for name in [
            "index.html",
            "console.html",
            "app.js",
            "console.js",
            "style.css",
        ] {
            assert!(
                Files::get(name).is_some(),
                "{name} is missing from host/web"
            );
            assert!(content_type(name).is_some(), "{name} has no content type");
        }
        assert_eq!(content_type("x.wasm"), None);
        assert_eq!(content_type("README"), None);
    }
}
