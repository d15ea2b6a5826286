//! Rows: artifact downloads (ddi.md §1.9, hawkBit's `FileStreamingUtil`) —
//! headers, preconditions, single and multipart ranges, `.MD5SUM`, access
//! and methods, as `DdiArtifactDownloadTest` checks them.

use std::net::SocketAddr;

use fleetsim::artifact::hash_bytes;
use fleetsim::http_server::{start, ServeOptions};
use http::{Method, StatusCode};
use serde_json::json;

use crate::hawkbit_http::{
    assign_set, bounded, closed, create_target, module_and_set, path_of, serve_with_gateway_token,
    Answer, Client,
};

const SIZE: usize = fleetsim::conform::ARTIFACT_SIZE;
const MULTIPART: &str = "multipart/byteranges; boundary=THIS_STRING_SEPARATES_MULTIPART";

// `SIZE` bytes that differ from version to version (the catalogue's artifacts).
use fleetsim::conform::firmware;

fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
    a.headers.get(name).and_then(|v| v.to_str().ok())
}

/// A target `cid` and a set with `firmware(version)`; (module id, set id).
async fn target_and_set(c: &mut Client, cid: &str, version: &str) -> (u64, u64) {
    create_target(c, cid, true).await;
    module_and_set(c, version, &firmware(version)).await
}

/// Assigns set `ds` to `cid` (forced); the action id.
async fn assign(c: &mut Client, cid: &str, ds: u64) -> String {
    assign_set(c, ds, json!([{ "id": cid, "type": "forced" }])).await;
    let (_, actions) = c
        .mgmt(Method::GET, &format!("/targets/{cid}/actions"), None)
        .await;
    let ids = actions["content"].as_array().expect("actions").iter();
    let newest = ids
        .filter_map(|a| a["id"].as_u64())
        .max()
        .expect("an action");
    newest.to_string()
}

async fn finish(c: &mut Client, cid: &str, action: &str) {
    let fb = format!("/DEFAULT/controller/v1/{cid}/deploymentBase/{action}/feedback");
    let a = c.ddi(Method::POST, &fb, &[], Some(closed("success"))).await;
    assert_eq!(a.status, StatusCode::OK);
}

fn file_path(cid: &str, sm: u64) -> String {
    format!("/DEFAULT/controller/v1/{cid}/softwaremodules/{sm}/artifacts/fw.bin")
}

/// True for an RFC 1123 date as Spring writes `Last-Modified`.
fn is_http_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split(' ').collect();
    parts.len() == 6 && parts[0].ends_with(',') && parts[5] == "GMT" && parts[4].len() == 8
}

/// Row `download::headers` — `DdiArtifactDownloadTest.downloadArtifactThroughFileName`:
/// 404 before the assignment; then 200 `application/octet-stream` with
/// `Accept-Ranges: bytes`, `Last-Modified`, `Content-Disposition:
/// attachment;filename=…` and the uploaded bytes.
#[tokio::test]
async fn headers() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (sm, ds) = target_and_set(&mut c, "dev-dl-h", "1.0").await;
    let file = file_path("dev-dl-h", sm);
    assert_eq!(
        c.ddi(Method::GET, &file, &[], None).await.status,
        StatusCode::NOT_FOUND
    );
    assign(&mut c, "dev-dl-h", ds).await;
    let a = c.ddi(Method::GET, &file, &[], None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(header(&a, "content-type"), Some("application/octet-stream"));
    assert_eq!(header(&a, "accept-ranges"), Some("bytes"));
    assert_eq!(
        header(&a, "content-disposition"),
        Some("attachment;filename=fw.bin")
    );
    let modified = header(&a, "last-modified").expect("Last-Modified");
    assert!(is_http_date(modified), "{modified}");
    assert_eq!(a.body.as_ref(), firmware("1.0").as_slice());
    // HEAD: the same headers, no body.
    let h = c.ddi(Method::HEAD, &file, &[], None).await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(header(&h, "last-modified"), Some(modified));
    assert_eq!(
        header(&h, "content-length"),
        Some(SIZE.to_string().as_str())
    );
    assert!(h.body.is_empty());
}

/// Row `download::preconditions` — `DdiArtifactDownloadTest.invalidRequestsOnArtifactResource`:
/// unknown file / module → 404 (`.MD5SUM` too); `If-Match` with the sha1 →
/// 200, with anything else → 412; `bytes=1-10,hdsfjksdh` and `bytes=100-10`
/// → 416 with `Content-Range: bytes */5120`.
#[tokio::test]
async fn preconditions() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (sm, ds) = target_and_set(&mut c, "dev-dl-p", "1.0").await;
    assign(&mut c, "dev-dl-p", ds).await;
    let base = "/DEFAULT/controller/v1/dev-dl-p/softwaremodules";
    for missing in [
        format!("{base}/{sm}/artifacts/123455"),
        format!("{base}/{sm}/artifacts/123455.MD5SUM"),
        format!("{base}/1234567890/artifacts/fw.bin"),
        format!("{base}/1234567890/artifacts/fw.bin.MD5SUM"),
    ] {
        let a = c.ddi(Method::GET, &missing, &[], None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{missing}");
    }
    let file = file_path("dev-dl-p", sm);
    let sha1 = hash_bytes(&firmware("1.0")).sha1;
    let ok = c
        .ddi(Method::GET, &file, &[("if-match", &sha1)], None)
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let md5 = c
        .ddi(Method::GET, &format!("{file}.MD5SUM"), &[], None)
        .await;
    assert_eq!(md5.status, StatusCode::OK);
    let failed = c
        .ddi(Method::GET, &file, &[("if-match", "fsjkhgjfdhg")], None)
        .await;
    assert_eq!(failed.status, StatusCode::PRECONDITION_FAILED);
    for range in ["bytes=1-10,hdsfjksdh", "bytes=100-10"] {
        let a = c.ddi(Method::GET, &file, &[("range", range)], None).await;
        assert_eq!(a.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(header(&a, "content-range"), Some("bytes */5120"), "{range}");
    }
}

/// Row `download::methods_405` — `DdiArtifactDownloadTest.invalidRequestsOnArtifactResource`
/// ("not allowed methods"): PUT, DELETE and POST on the file and on its
/// `.MD5SUM` → 405.
#[tokio::test]
async fn methods_405() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (sm, ds) = target_and_set(&mut c, "dev-dl-m", "1.0").await;
    assign(&mut c, "dev-dl-m", ds).await;
    let file = file_path("dev-dl-m", sm);
    for path in [file.clone(), format!("{file}.MD5SUM")] {
        for method in [Method::PUT, Method::DELETE, Method::POST] {
            let a = c.ddi(method.clone(), &path, &[], None).await;
            assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        }
    }
}

/// Row `download::ranges_multipart` — `DdiArtifactDownloadTest.rangeDownloadArtifact`:
/// 40 consecutive ranges rebuild the file (hawkBit: 50 of a size they divide), each 206 with its `Content-Range`,
/// `Content-Length` and the quoted sha1 as ETag; `-1000` and `1000-`; a
/// range from the file's end → 416 `bytes */len`; `0-9,10-19` → one
/// `multipart/byteranges` document, byte for byte as hawkBit writes it.
#[tokio::test]
async fn ranges_multipart() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let (sm, ds) = target_and_set(&mut c, "dev-dl-r", "1.0").await;
    assign(&mut c, "dev-dl-r", ds).await;
    let file = file_path("dev-dl-r", sm);
    let data = firmware("1.0");
    let etag = format!("\"{}\"", hash_bytes(&data).sha1);
    let step = SIZE / 40;
    let mut rebuilt = Vec::new();
    for i in 0..SIZE / step {
        let (a, b) = (i * step, (i + 1) * step - 1);
        let range = format!("bytes={a}-{b}");
        let r = c.ddi(Method::GET, &file, &[("range", &range)], None).await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(header(&r, "etag"), Some(etag.as_str()));
        assert_eq!(header(&r, "content-type"), Some("application/octet-stream"));
        assert_eq!(
            header(&r, "content-length"),
            Some(step.to_string().as_str())
        );
        assert_eq!(
            header(&r, "content-range"),
            Some(format!("bytes {a}-{b}/{SIZE}").as_str())
        );
        assert!(header(&r, "last-modified").is_some());
        rebuilt.extend_from_slice(&r.body);
    }
    assert!(rebuilt == data, "the ranges rebuild the file");
    let tail = c
        .ddi(Method::GET, &file, &[("range", "bytes=-1000")], None)
        .await;
    assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.body.as_ref(), &data[SIZE - 1000..]);
    let rest = c
        .ddi(Method::GET, &file, &[("range", "bytes=1000-")], None)
        .await;
    let want = format!("bytes 1000-{}/{SIZE}", SIZE - 1);
    assert_eq!(header(&rest, "content-range"), Some(want.as_str()));
    assert_eq!(rest.body.as_ref(), &data[1000..]);
    let beyond = format!("bytes={SIZE}-");
    let r = c.ddi(Method::GET, &file, &[("range", &beyond)], None).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        header(&r, "content-range"),
        Some(format!("bytes */{SIZE}").as_str())
    );
    assert_eq!(header(&r, "accept-ranges"), Some("bytes"));

    let r = c
        .ddi(Method::GET, &file, &[("range", "bytes=0-9,10-19")], None)
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&r, "content-type"), Some(MULTIPART));
    assert_eq!(header(&r, "etag"), Some(etag.as_str()));
    assert_eq!(header(&r, "content-range"), None);
    let mut want = Vec::new();
    for (i, (a, b)) in [(0usize, 9usize), (10, 19)].into_iter().enumerate() {
        let lead = if i == 0 { "" } else { "\r\n" };
        want.extend_from_slice(
            format!(
                "{lead}--THIS_STRING_SEPARATES_MULTIPART\r\nContent-Type: application/octet-stream\r\n\
Content-Range: bytes {a}-{b}/{SIZE}\r\n\r\n"
            )
            .as_bytes(),
        );
        want.extend_from_slice(&data[a..=b]);
    }
    want.extend_from_slice(b"\r\n--THIS_STRING_SEPARATES_MULTIPART--");
    assert!(r.body.as_ref() == want.as_slice(), "{:?}", r.body);
}

/// Row `download::access` — `DdiArtifactDownloadTest.listArtifactsAccessCheck`,
/// `downloadAccessCheck`, `downloadMd5AccessCheck`: the list, the file
/// (with and without Range) and `.MD5SUM` are 404 until the module is
/// assigned; the list stays readable while the module is installed and is
/// 404 again once another set is installed.
#[tokio::test]
async fn access() {
    let (_server, mut c) = serve_with_gateway_token().await;
    let cid = "dev-dl-a";
    let (sm, ds) = target_and_set(&mut c, cid, "1.0").await;
    let file = file_path(cid, sm);
    let list = format!("/DEFAULT/controller/v1/{cid}/softwaremodules/{sm}/artifacts");
    let md5 = format!("{file}.MD5SUM");
    for (path, range) in [
        (&list, None),
        (&file, None),
        (&file, Some("bytes=0-99")),
        (&md5, None),
    ] {
        let headers: Vec<(&str, &str)> = range.map(|r| ("range", r)).into_iter().collect();
        let a = c.ddi(Method::GET, path, &headers, None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path} {range:?}");
    }
    let first = assign(&mut c, cid, ds).await;
    assert_eq!(
        c.ddi(Method::GET, &list, &[], None).await.status,
        StatusCode::OK
    );
    let full = c.ddi(Method::GET, &file, &[], None).await;
    assert_eq!(full.body.as_ref(), firmware("1.0").as_slice());
    let part = c
        .ddi(Method::GET, &file, &[("range", "bytes=0-99")], None)
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&part, "content-range"), Some("bytes 0-99/5120"));
    assert_eq!(part.body.as_ref(), &firmware("1.0")[..100]);
    let sum = c.ddi(Method::GET, &md5, &[], None).await;
    let want = format!("{}  fw.bin", hash_bytes(&firmware("1.0")).md5);
    assert_eq!(
        (sum.status, sum.body.as_ref()),
        (StatusCode::OK, want.as_bytes())
    );
    assert_eq!(
        header(&sum, "content-disposition"),
        Some("attachment;filename=fw.bin.MD5SUM")
    );

    finish(&mut c, cid, &first).await;
    let (_, ds2) = module_and_set(&mut c, "2.0", &firmware("2.0")).await;
    let second = assign(&mut c, cid, ds2).await;
    assert_eq!(
        c.ddi(Method::GET, &list, &[], None).await.status,
        StatusCode::OK,
        "installed"
    );
    finish(&mut c, cid, &second).await;
    assert_eq!(
        c.ddi(Method::GET, &list, &[], None).await.status,
        StatusCode::NOT_FOUND
    );
}

/// Row `download::synthetic_multipart` — the multipart layout of
/// `rangeDownloadArtifact` for a scenario's synthetic artifact, whose ranges
/// are generated while they are sent: a part larger than one generated
/// chunk arrives whole and in place, between hawkBit's boundary lines.
#[tokio::test]
async fn synthetic_multipart() {
    let yaml =
        "name: synthetic-multipart\nduration: 1d\nfleet:\n  - { kind: always_on, count: 1 }\n\
campaigns:\n  - { at: 0s, artifacts: [ { name: fw.bin, size: 200KiB } ] }\n";
    let scenario = fleetsim::scenario::load_str("test.yaml", yaml).expect("valid scenario");
    let opts = ServeOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        scenario: Some(scenario),
        time_scale: 1000.0,
        ..ServeOptions::default()
    };
    let server = bounded("start", start(opts)).await.expect("server starts");
    let mut c = Client::connect(server.local_addr).await;
    let root = "/DEFAULT/controller/v1/always-on-00000";
    let href = bounded("deployment", async {
        loop {
            let doc = c.send(Method::GET, root, &[], "").await.json();
            if let Some(href) = doc["_links"]["deploymentBase"]["href"].as_str() {
                return href.to_string();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    let doc = c.send(Method::GET, &path_of(&href), &[], "").await.json();
    let link = &doc["deployment"]["chunks"][0]["artifacts"][0]["_links"]["download-http"]["href"];
    let file = path_of(link.as_str().expect("download link"));
    let whole = c.send(Method::GET, &file, &[], "").await.body;
    let size = whole.len();
    assert_eq!(size, 200 * 1024);
    let r = c
        .send(
            Method::GET,
            &file,
            &[("range", "bytes=70000-139999,0-9")],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&r, "content-type"), Some(MULTIPART));
    let mut want = Vec::new();
    for (i, (a, b)) in [(0usize, 9usize), (70_000, 139_999)]
        .into_iter()
        .enumerate()
    {
        let lead = if i == 0 { "" } else { "\r\n" };
        want.extend_from_slice(
            format!(
                "{lead}--THIS_STRING_SEPARATES_MULTIPART\r\nContent-Type: application/octet-stream\r\n\
Content-Range: bytes {a}-{b}/{size}\r\n\r\n"
            )
            .as_bytes(),
        );
        want.extend_from_slice(&whole[a..=b]);
    }
    want.extend_from_slice(b"\r\n--THIS_STRING_SEPARATES_MULTIPART--");
    assert!(r.body.as_ref() == want.as_slice(), "multipart body differs");
    bounded("shutdown", server.shutdown()).await;
}
