//! A raw HTTP/1.1 server for what wiremock cannot do: cut bodies, lying lengths, paced bytes.

use super::*;

// ---------------------------------------------------------------------------
// A raw HTTP/1.1 server for what wiremock cannot do
// ---------------------------------------------------------------------------

/// A request as the raw server read it (request line and headers only).
#[derive(Clone, Debug)]
pub(super) struct RawRequest {
    pub(super) line: String,
    pub(super) headers: Vec<(String, String)>,
}

impl RawRequest {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn range_from(&self) -> Option<usize> {
        range_from(self.header("range"))
    }
}

/// What the raw server writes: a head (whose Content-Length may promise more
/// than `body`), the body (optionally paced), then it closes the connection.
pub(super) struct Reply {
    pub(super) head: String,
    pub(super) body: Vec<u8>,
    pub(super) pace: Option<(usize, Duration)>,
}

impl Reply {
    /// `status` with `Content-Length: declared_len` and `body` (maybe shorter).
    pub(super) fn new(
        status: &str,
        headers: &[(&str, String)],
        declared_len: usize,
        body: Vec<u8>,
    ) -> Reply {
        let mut head =
            format!("HTTP/1.1 {status}\r\nContent-Length: {declared_len}\r\nConnection: close\r\n");
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        Reply {
            head,
            body,
            pace: None,
        }
    }

    /// A correct artifact answer (200 or 206) for a request resuming at `from`.
    pub(super) fn artifact(bytes: &[u8], from: Option<usize>) -> Reply {
        let n = bytes.len();
        let octets = ("Content-Type", "application/octet-stream".to_string());
        let ranges = ("Accept-Ranges", "bytes".to_string());
        match from {
            Some(f) if f < n => Reply::new(
                "206 Partial Content",
                &[
                    octets,
                    ranges,
                    ("Content-Range", format!("bytes {f}-{}/{n}", n - 1)),
                ],
                n - f,
                bytes[f..].to_vec(),
            ),
            _ => Reply::new("200 OK", &[octets, ranges], n, bytes.to_vec()),
        }
    }

    /// Writes the body `chunk` bytes at a time, `every` apart.
    pub(super) fn paced(mut self, chunk: usize, every: Duration) -> Reply {
        self.pace = Some((chunk, every));
        self
    }
}

pub(super) type Handler = dyn Fn(usize, &RawRequest) -> Reply + Send + Sync;

/// One request per connection; the handler gets the request's index (0, 1, …).
pub(super) struct RawServer {
    pub(super) addr: SocketAddr,
    pub(super) seen: Arc<Mutex<Vec<RawRequest>>>,
}

impl RawServer {
    pub(super) async fn start(
        handler: impl Fn(usize, &RawRequest) -> Reply + Send + Sync + 'static,
    ) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let s = seen.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (h, s) = (handler.clone(), s.clone());
                tokio::spawn(async move {
                    let _ = serve_raw(sock, &*h, &s).await;
                });
            }
        });
        RawServer { addr, seen }
    }

    /// `http://127.0.0.1:port`.
    pub(super) fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(super) fn artifact_href(&self) -> String {
        format!(
            "{}{CONTROLLER}/{{id}}/softwaremodules/1/artifacts/{FILE}",
            self.base()
        )
    }

    pub(super) fn requests(&self) -> Vec<RawRequest> {
        self.seen.lock().unwrap().clone()
    }
}

pub(super) async fn serve_raw(
    mut sock: TcpStream,
    handler: &Handler,
    seen: &Mutex<Vec<RawRequest>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 2048];
    let end = loop {
        let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut tmp))
            .await
            .map_err(|_| std::io::Error::other("idle client"))??;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if buf.len() > 64 * 1024 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or("").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let req = RawRequest { line, headers };
    let index = {
        let mut s = seen.lock().unwrap();
        s.push(req.clone());
        s.len() - 1
    };
    let reply = handler(index, &req);
    sock.write_all(reply.head.as_bytes()).await?;
    match reply.pace {
        Some((chunk, every)) => {
            for piece in reply.body.chunks(chunk.max(1)) {
                sock.write_all(piece).await?;
                sock.flush().await?;
                tokio::time::sleep(every).await;
            }
        }
        None => sock.write_all(&reply.body).await?,
    }
    sock.flush().await?;
    // FIN, not RST: what was written arrives before the end of the stream.
    sock.shutdown().await
}
