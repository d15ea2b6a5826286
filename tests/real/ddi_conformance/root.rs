//! Rows: the root resource — media type by default, plug and play.

use http::{Method, StatusCode};

use crate::hawkbit_http::serve_with_gateway_token;

/// `DdiRootControllerTest.apiReturnsJSONByDefault`: no `Accept` header gets
/// `application/hal+json`.
#[tokio::test]
async fn json_by_default() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let a = c
        .ddi(Method::GET, "/DEFAULT/controller/v1/dev-json", &[], None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let media = a.headers.get("content-type").and_then(|v| v.to_str().ok());
    assert_eq!(media, Some("application/hal+json"), "{:?}", a.headers);
    assert!(a.json()["config"]["polling"]["sleep"].is_string());
}
