//! Artifact downloads: the body and its hash, headers, ranges, preconditions,
//! the `.MD5SUM` file and access rules.

use super::super::{case_fn, ensure, Answer, Case, Ctx, Stop, Verdict};
use super::{deployment, download_href, first_artifact};
use crate::management::OrderKind;
use fleetsim_core::artifact::hash_bytes;
use fleetsim_core::message::Method;
use serde_json::Value;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    vec![
        Case { id: "DDI-DL-001", core: true, run: case_fn!(full_download),
            clause: "ddi.md §1.9 (FileStreamingUtil); DdiArtifactDownloadTest.downloadArtifactThroughFileName",
            title: "The download is 200 with the advertised size and sha1, Content-Disposition attachment and Accept-Ranges: bytes" },
        Case { id: "DDI-DL-002", core: true, run: case_fn!(single_range),
            clause: "ddi.md §1.9 (Range → 206); DdiArtifactDownloadTest.rangeDownloadArtifact",
            title: "Range: bytes=100-199 is 206 with Content-Range: bytes 100-199/size and those bytes" },
        Case { id: "DDI-DL-003", core: false, run: case_fn!(multi_range),
            clause: "ddi.md §1.9 (several ranges → multipart/byteranges)",
            title: "Range: bytes=0-9,20-29 is one 206 multipart/byteranges answer" },
        Case { id: "DDI-DL-004", core: false, run: case_fn!(unsatisfiable_416),
            clause: "ddi.md §1.9; DdiArtifactDownloadTest.invalidRequestsOnArtifactResource",
            title: "A range starting past the end is 416 with Content-Range: bytes */size" },
        Case { id: "DDI-DL-005", core: false, run: case_fn!(if_match_412),
            clause: "ddi.md §1.9 (If-Match ≠ sha1 → 412); DdiArtifactDownloadTest.invalidRequestsOnArtifactResource",
            title: "If-Match with another tag is 412; with the artifact's sha1 it is 200" },
        Case { id: "DDI-DL-006", core: false, run: case_fn!(etag_is_sha1),
            clause: "ddi.md §1.9 (ETag: \"<sha1>\")",
            title: "The download's ETag is the artifact's sha1 in quotes" },
        Case { id: "DDI-DL-007", core: false, run: case_fn!(md5sum_file),
            clause: "ddi.md §1.9 (.MD5SUM: \"<md5>  <filename>\")",
            title: "The md5sum link answers `<md5>  <filename>`" },
        Case { id: "DDI-DL-008", core: false, run: case_fn!(foreign_download_404),
            clause: "ddi.md §1.9 (access: an active action must contain the module)",
            title: "Another device without the assignment gets 404 for the artifact" },
    ]
}

/// A forced assignment's first artifact: (device, artifact, download href).
async fn artifact(cx: &mut Ctx<'_>) -> Result<(String, Value, String), Stop> {
    let (cid, _, _, doc) = deployment(cx, OrderKind::Forced).await?;
    let a = first_artifact(&doc)?.clone();
    let href = download_href(cx, &a)?;
    Ok((cid, a, href))
}

/// The advertised size of `artifact`.
fn size_of(artifact: &Value) -> Result<u64, Stop> {
    artifact["size"]
        .as_u64()
        .ok_or_else(|| Stop::Fail(format!("the artifact has no size: {artifact}")))
}

async fn ranged(cx: &mut Ctx<'_>, href: &str, range: &str) -> Result<Answer, Stop> {
    cx.send(Method::Get, href, &[("range", range)], None).await
}

async fn full_download(cx: &mut Ctx<'_>) -> Verdict {
    let (_, art, href) = artifact(cx).await?;
    let a = cx.get(&href).await?;
    a.expect(200, "the download")?;
    let size = size_of(&art)?;
    ensure(a.body.len() as u64 == size, || {
        format!("{} bytes downloaded, {size} advertised", a.body.len())
    })?;
    let sha1 = hash_bytes(&a.body).sha1;
    ensure(
        art["hashes"]["sha1"].as_str() == Some(sha1.as_str()),
        || {
            format!(
                "the bytes' sha1 {sha1} is not the advertised {}",
                art["hashes"]["sha1"]
            )
        },
    )?;
    let cd = a.header("content-disposition").unwrap_or("");
    ensure(cd.starts_with("attachment"), || {
        format!("Content-Disposition `{cd}` is not attachment")
    })?;
    let ar = a.header("accept-ranges").unwrap_or("");
    ensure(ar == "bytes", || {
        format!("Accept-Ranges is `{ar}`, not bytes")
    })
}

async fn single_range(cx: &mut Ctx<'_>) -> Verdict {
    let (_, art, href) = artifact(cx).await?;
    let size = size_of(&art)?;
    let full = cx.get(&href).await?;
    full.expect(200, "the download")?;
    let a = ranged(cx, &href, "bytes=100-199").await?;
    a.expect(206, "Range: bytes=100-199")?;
    let want = format!("bytes 100-199/{size}");
    let got = a.header("content-range").unwrap_or("");
    ensure(got == want, || {
        format!("Content-Range `{got}`, expected `{want}`")
    })?;
    ensure(full.body.get(100..200) == Some(&a.body[..]), || {
        format!(
            "the 206 body ({} bytes) is not bytes 100-199 of the file",
            a.body.len()
        )
    })
}

async fn multi_range(cx: &mut Ctx<'_>) -> Verdict {
    let (_, _, href) = artifact(cx).await?;
    let a = ranged(cx, &href, "bytes=0-9,20-29").await?;
    a.expect(206, "Range: bytes=0-9,20-29")?;
    let ct = a.header("content-type").unwrap_or("");
    ensure(
        ct.starts_with("multipart/byteranges") && ct.contains("boundary="),
        || format!("Content-Type `{ct}` is not multipart/byteranges with a boundary"),
    )
}

async fn unsatisfiable_416(cx: &mut Ctx<'_>) -> Verdict {
    let (_, art, href) = artifact(cx).await?;
    let size = size_of(&art)?;
    let a = ranged(cx, &href, &format!("bytes={size}-")).await?;
    a.expect(416, "a range starting at the file's end")?;
    let want = format!("bytes */{size}");
    let got = a.header("content-range").unwrap_or("");
    ensure(got == want, || {
        format!("Content-Range `{got}`, expected `{want}`")
    })
}

async fn if_match_412(cx: &mut Ctx<'_>) -> Verdict {
    let (_, art, href) = artifact(cx).await?;
    let a = cx
        .send(Method::Get, &href, &[("if-match", "fsjkhgjfdhg")], None)
        .await?;
    a.expect(412, "If-Match with another tag")?;
    let sha1 = art["hashes"]["sha1"].as_str().unwrap_or("").to_string();
    let a = cx
        .send(Method::Get, &href, &[("if-match", &sha1)], None)
        .await?;
    a.expect(200, "If-Match with the artifact's sha1")
}

async fn etag_is_sha1(cx: &mut Ctx<'_>) -> Verdict {
    let (_, art, href) = artifact(cx).await?;
    let a = cx.send(Method::Head, &href, &[], None).await?;
    let a = if a.status == 200 && a.header("etag").is_some() {
        a
    } else {
        cx.get(&href).await?
    };
    let want = format!("\"{}\"", art["hashes"]["sha1"].as_str().unwrap_or(""));
    let got = a.header("etag").unwrap_or("");
    ensure(got == want, || format!("ETag `{got}`, expected `{want}`"))
}

async fn md5sum_file(cx: &mut Ctx<'_>) -> Verdict {
    let (_, art, _) = artifact(cx).await?;
    let links = &art["_links"];
    let href = ["md5sum-http", "md5sum"]
        .iter()
        .find_map(|r| links[*r]["href"].as_str())
        .ok_or_else(|| Stop::Fail(format!("no md5sum-http or md5sum link: {links}")))?
        .to_string();
    let a = cx.get(&href).await?;
    a.expect(200, "the .MD5SUM file")?;
    let want = format!(
        "{}  {}",
        art["hashes"]["md5"].as_str().unwrap_or(""),
        art["filename"].as_str().unwrap_or("")
    );
    let got = String::from_utf8_lossy(&a.body);
    ensure(got.trim_end() == want, || {
        format!("`{got}`, expected `{want}`")
    })
}

async fn foreign_download_404(cx: &mut Ctx<'_>) -> Verdict {
    let (cid, _, href) = artifact(cx).await?;
    let other = cx.device(2);
    cx.register(std::slice::from_ref(&other)).await?;
    let theirs =
        super::super::path_of(&href).replacen(&format!("/{cid}/"), &format!("/{other}/"), 1);
    ensure(theirs.contains(&other), || {
        format!("the download link {href} does not name the device; cannot ask for it as another")
    })?;
    let a = cx.get(&theirs).await?;
    a.expect(404, "the artifact as a device without the assignment")
}
