//! The healthy DDI flow on wiremock, and the knobs that break it.

use super::*;

// ---------------------------------------------------------------------------
// The healthy DDI flow on wiremock
// ---------------------------------------------------------------------------

/// A correct artifact answer: 200, or 206 from the requested byte, or 416.
pub(super) fn serve_artifact(bytes: &[u8], req: &Request) -> ResponseTemplate {
    let range = req.headers.get("range").and_then(|v| v.to_str().ok());
    let n = bytes.len();
    match range_from(range) {
        Some(from) if from >= n => ResponseTemplate::new(416)
            .insert_header("content-range", format!("bytes */{n}").as_str()),
        Some(from) => ResponseTemplate::new(206)
            .insert_header("accept-ranges", "bytes")
            .insert_header(
                "content-range",
                format!("bytes {from}-{}/{n}", n - 1).as_str(),
            )
            .set_body_raw(bytes[from..].to_vec(), "application/octet-stream"),
        None => ResponseTemplate::new(200)
            .insert_header("accept-ranges", "bytes")
            .set_body_raw(bytes.to_vec(), "application/octet-stream"),
    }
}

pub(super) fn hal(body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        serde_json::to_vec(body).expect("json"),
        "application/hal+json",
    )
}

/// The controller id in a controller resource path.
pub(super) fn id_in(path: &str) -> String {
    path.strip_prefix(CONTROLLER)
        .unwrap_or(path)
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_string()
}

/// A root answer with no action.
pub(super) fn idle_root() -> Value {
    json!({"config": {"polling": {"sleep": "00:01:00"}}, "_links": {}})
}

/// Shared state of the healthy flow.
#[derive(Default)]
pub(super) struct FlowState {
    /// Controller id → `finished` of its accepted `closed` feedback.
    pub(super) closed: HashMap<String, String>,
    /// Feedbacks the healthy feedback resource answered: controller id,
    /// `execution`, when.
    pub(super) feedback_log: Vec<(String, String, Instant)>,
}

/// A wiremock server serving a healthy DDI flow, plus what it needs to build
/// overrides.
pub(super) struct Ddi {
    pub(super) server: MockServer,
    pub(super) artifact: Arc<Vec<u8>>,
    pub(super) state: Arc<Mutex<FlowState>>,
}

/// Knobs of the healthy flow.
pub(super) struct Flow {
    /// Artifact size.
    pub(super) size: usize,
    /// Where the artifact link points (`{id}` is replaced); default: the mock.
    pub(super) artifact_href: Option<String>,
    /// Hashes advertised for the artifact; default: the real ones.
    pub(super) advertised: Option<Hashes>,
}

impl Default for Flow {
    fn default() -> Self {
        Flow {
            size: 64 * 1024,
            artifact_href: None,
            advertised: None,
        }
    }
}

impl Ddi {
    pub(super) async fn start() -> Ddi {
        Ddi::start_with(Flow::default()).await
    }

    /// Mounts root, deploymentBase, feedback and artifact at the default
    /// priority (5); tests override a part with priority 1.
    pub(super) async fn start_with(flow: Flow) -> Ddi {
        let server = MockServer::start().await;
        let uri = server.uri();
        let artifact = Arc::new(test_bytes(flow.size));
        let state = Arc::new(Mutex::new(FlowState::default()));
        let hashes = flow.advertised.unwrap_or_else(|| hash_bytes(&artifact));
        let href = flow.artifact_href.unwrap_or_else(|| {
            format!("{uri}{CONTROLLER}/{{id}}/softwaremodules/1/artifacts/{FILE}")
        });

        // Root: offers the action until a `closed` feedback is accepted; then
        // links installedBase after success (FINISHED) and nothing after failure (ERROR).
        let (st, u) = (state.clone(), uri.clone());
        Mock::given(method("GET"))
            .and(path_regex(ROOT_RE))
            .respond_with(move |req: &Request| {
                let id = id_in(req.url.path());
                let st = st.lock().unwrap();
                let links = match st.closed.get(&id).map(String::as_str) {
                    None => json!({"deploymentBase": {
                        "href": format!("{u}{CONTROLLER}/{id}/deploymentBase/{ACTION}?c=1")
                    }}),
                    Some("failure") => json!({}),
                    Some(_) => json!({"installedBase": {
                        "href": format!("{u}{CONTROLLER}/{id}/installedBase/{ACTION}")
                    }}),
                };
                hal(&json!({"config": {"polling": {"sleep": "00:01:00"}}, "_links": links}))
            })
            .mount(&server)
            .await;

        let size = flow.size;
        Mock::given(method("GET"))
            .and(path_regex(DEPLOYMENT_RE))
            .respond_with(move |req: &Request| {
                let id = id_in(req.url.path());
                hal(&deployment_json(&href.replace("{id}", &id), size, &hashes))
            })
            .mount(&server)
            .await;

        // Feedback: 200; once closed, 410 Gone (ddi.md §1.4).
        let st = state.clone();
        Mock::given(method("POST"))
            .and(path_regex(FEEDBACK_RE))
            .respond_with(move |req: &Request| {
                let id = id_in(req.url.path());
                let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
                    return ResponseTemplate::new(400);
                };
                let mut st = st.lock().unwrap();
                let execution = body["status"]["execution"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                st.feedback_log
                    .push((id.clone(), execution, Instant::now()));
                if st.closed.contains_key(&id) {
                    return ResponseTemplate::new(410);
                }
                if body["status"]["execution"] == "closed" {
                    let finished = body["status"]["result"]["finished"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    st.closed.insert(id, finished);
                }
                ResponseTemplate::new(200)
            })
            .mount(&server)
            .await;

        let bytes = artifact.clone();
        Mock::given(method("GET"))
            .and(path_regex(ARTIFACT_RE))
            .respond_with(move |req: &Request| serve_artifact(&bytes, req))
            .mount(&server)
            .await;

        Ddi {
            server,
            artifact,
            state,
        }
    }

    pub(super) fn uri(&self) -> String {
        self.server.uri()
    }

    /// Mounts `mock` on this server.
    pub(super) async fn mount(&self, mock: Mock) {
        mock.mount(&self.server).await;
    }

    pub(super) async fn requests(&self) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .expect("request recording is on")
    }

    /// Received requests with method `m` for resource `res`.
    pub(super) async fn matching(&self, m: &str, res: Res) -> Vec<Request> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.method.as_str() == m && classify(r.url.path()) == Some(res))
            .collect()
    }

    pub(super) async fn root_polls(&self) -> usize {
        self.matching("GET", Res::Root).await.len()
    }

    pub(super) async fn deployment_fetches(&self) -> usize {
        self.matching("GET", Res::Deployment).await.len()
    }

    pub(super) async fn artifact_requests(&self) -> Vec<Request> {
        self.matching("GET", Res::Artifact).await
    }

    /// Feedback bodies received, in order.
    pub(super) async fn feedbacks(&self) -> Vec<Value> {
        self.matching("POST", Res::Feedback)
            .await
            .iter()
            .map(|r| serde_json::from_slice(&r.body).expect("feedback body is JSON"))
            .collect()
    }

    pub(super) async fn closed_feedbacks(&self) -> Vec<Value> {
        self.feedbacks()
            .await
            .into_iter()
            .filter(|f| f["status"]["execution"] == "closed")
            .collect()
    }

    pub(super) fn closed_with(&self, id: &str) -> Option<String> {
        self.state.lock().unwrap().closed.get(id).cloned()
    }
}

/// The deploymentBase document of action [`ACTION`] with one artifact.
pub(super) fn deployment_json(href: &str, size: usize, hashes: &Hashes) -> Value {
    json!({
        "id": ACTION.to_string(),
        "deployment": {
            "download": "forced",
            "update": "forced",
            "chunks": [{
                "part": "os",
                "version": "2.0.0",
                "name": "fw",
                "artifacts": [{
                    "filename": FILE,
                    "hashes": {"sha1": hashes.sha1, "md5": hashes.md5, "sha256": hashes.sha256},
                    "size": size,
                    "_links": {"download-http": {"href": href}}
                }]
            }]
        }
    })
}

/// Which DDI resource of the healthy flow a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Res {
    Root,
    Deployment,
    Feedback,
    Artifact,
}

pub(super) fn classify(p: &str) -> Option<Res> {
    let rest = p.strip_prefix(CONTROLLER)?.strip_prefix('/')?;
    let segs: Vec<&str> = rest.split('/').collect();
    match segs[1..] {
        [] if !segs[0].is_empty() => Some(Res::Root),
        ["deploymentBase", "7"] => Some(Res::Deployment),
        ["deploymentBase", "7", "feedback"] => Some(Res::Feedback),
        ["softwaremodules", "1", "artifacts", FILE] => Some(Res::Artifact),
        _ => None,
    }
}

pub(super) fn execution(f: &Value) -> &str {
    f["status"]["execution"].as_str().unwrap_or("")
}

pub(super) fn finished(f: &Value) -> &str {
    f["status"]["result"]["finished"].as_str().unwrap_or("")
}

pub(super) fn details(f: &Value) -> String {
    f["status"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// Real-time gaps between consecutive instants.
pub(super) fn gaps(times: &[Instant]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

/// A responder that records when it answered and answers `template`.
pub(super) fn timed(
    times: &Arc<Mutex<Vec<Instant>>>,
    template: ResponseTemplate,
) -> impl Fn(&Request) -> ResponseTemplate + Send + Sync + 'static {
    let times = times.clone();
    move |_req: &Request| {
        times.lock().unwrap().push(Instant::now());
        template.clone()
    }
}

/// Root polls after the preflight one get `template`; the preflight gets a
/// valid idle root so the run starts.
pub(super) async fn mount_bad_root(
    ddi: &Ddi,
    template: ResponseTemplate,
    times: &Arc<Mutex<Vec<Instant>>>,
) {
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(ROOT_RE))
            .respond_with(hal(&idle_root()))
            .up_to_n_times(1)
            .with_priority(1),
    )
    .await;
    ddi.mount(
        Mock::given(method("GET"))
            .and(path_regex(ROOT_RE))
            .respond_with(timed(times, template))
            .with_priority(2),
    )
    .await;
}
