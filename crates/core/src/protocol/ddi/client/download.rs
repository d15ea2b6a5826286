//! Downloading a deployment's artifacts: Range resume across interruptions
//! and online windows, restart when a server ignores Range, verification
//! against the advertised hashes, and what happens when a URL is refused.

use rand::RngCore;

use super::http::is_retriable;
use super::{ClientEnv, DdiClient, Step};
use crate::artifact::Verifier;
use crate::message::content_range_start;
use crate::message::Response;
use crate::protocol::ddi::event::DdiEvent;
use crate::protocol::ddi::wire::{DeploymentBase, Execution, Finished};
use crate::time::Time;

/// One file to download.
pub(super) struct Job {
    pub(super) url: String,
    filename: String,
    size: u64,
    sha256: Option<String>,
    sha1: Option<String>,
    md5: Option<String>,
}

/// The files of a deployment, in chunk order.
pub(super) fn artifact_jobs(d: &DeploymentBase) -> Vec<Job> {
    d.deployment
        .chunks
        .iter()
        .flat_map(|c| c.artifacts.iter())
        .map(|a| Job {
            url: a.download_href().unwrap_or_default().to_string(),
            filename: a.filename.clone(),
            size: a.size,
            sha256: a.hashes.sha256.clone(),
            sha1: a.hashes.sha1.clone(),
            md5: a.hashes.md5.clone(),
        })
        .collect()
}

/// The first artifact whose advertised hashes are incomplete or malformed
/// (`sha1` and `md5` required, `sha256` optional; lower- or upper-case hex of
/// 40, 32 and 64 digits), with what is wrong — for DDI-HASHES.
pub(super) fn bad_hashes(d: &DeploymentBase) -> Option<Box<(String, &'static str)>> {
    let hex = |h: &str, len: usize| h.len() == len && h.bytes().all(|b| b.is_ascii_hexdigit());
    d.deployment
        .chunks
        .iter()
        .flat_map(|c| c.artifacts.iter())
        .find_map(|a| {
            let h = &a.hashes;
            let what = match (&h.sha1, &h.md5) {
                (None, None) => "no sha1 and no md5",
                (None, _) => "no sha1",
                (_, None) => "no md5",
                (Some(s), _) if !hex(s, 40) => "sha1 is not 40 hex digits",
                (_, Some(m)) if !hex(m, 32) => "md5 is not 32 hex digits",
                _ if h.sha256.as_deref().is_some_and(|s| !hex(s, 64)) => {
                    "sha256 is not 64 hex digits"
                }
                _ => return None,
            };
            Some(Box::new((a.filename.clone(), what)))
        })
}

impl DdiClient {
    pub(super) fn next_download_or_done(
        &mut self,
        now: Time,
        env: &ClientEnv<'_>,
        events: &mut Vec<DdiEvent>,
    ) {
        let Some(w) = self.work.as_mut() else { return };
        if w.next_job < w.jobs.len() {
            if env.settings.feedback.per_artifact && w.announced <= w.next_job {
                w.announced = w.next_job + 1;
                let name = &w.jobs[w.next_job].filename;
                let what = format!("Downloading {name}");
                return self.go(
                    Step::Feedback(Execution::Download, Finished::None, what),
                    now,
                );
            }
            return self.go(Step::Download, now);
        }
        w.downloaded = true;
        let n = w.jobs.len();
        let _ = events;
        self.go(
            Step::Feedback(
                Execution::Downloaded,
                Finished::None,
                format!("downloaded {n} artifacts"),
            ),
            now,
        );
    }

    /// Appends a (possibly partial) download body; restarts on a mismatch.
    pub(super) fn take_download_piece(&mut self, resp: &Response, events: &mut Vec<DdiEvent>) {
        let Some(w) = self.work.as_mut() else { return };
        let from = w.verifier.received();
        let served_from = if resp.status == 206 {
            resp.headers
                .get("content-range")
                .and_then(content_range_start)
        } else {
            None
        };
        if from > 0 {
            events.push(DdiEvent::RangeAnswered {
                from,
                status: resp.status,
                served_from,
            });
        }
        let offset = match (resp.status, served_from) {
            (206, Some(start)) => start,
            (206, None) => from,
            _ => {
                // A full body: whatever we had is superseded.
                w.verifier = Verifier::new();
                0
            }
        };
        if offset != w.verifier.received() || w.verifier.append(offset, &resp.body).is_err() {
            w.verifier = Verifier::new();
        }
    }

    pub(super) fn on_download(
        &mut self,
        now: Time,
        resp: &Response,
        env: &ClientEnv<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<DdiEvent>,
    ) {
        match resp.status {
            200 | 206 => self.take_download_piece(resp, events),
            416 => {
                if let Some(w) = self.work.as_mut() {
                    w.verifier = Verifier::new();
                }
                return self.retry(now, Some(resp), env, rng, events);
            }
            s if is_retriable(s) => return self.retry(now, Some(resp), env, rng, events),
            s => {
                // 403/404/410: the URL may have expired or the action was withdrawn;
                // fetch the deployment again for fresh links, a few times at most.
                let Some(w) = self.work.as_mut() else { return };
                w.refusals += 1;
                if w.refusals >= super::MAX_REFUSALS {
                    return self.close_failed(
                        now,
                        format!("download refused with status {s}"),
                        events,
                    );
                }
                return self.go(Step::FetchDeployment, now);
            }
        }
        let Some(w) = self.work.as_mut() else { return };
        let Some(job) = w.jobs.get(w.next_job) else {
            return;
        };
        let received = w.verifier.received();
        if received < job.size {
            // Short body without a transport error: resume where it stopped.
            return self.retry(now, Some(resp), env, rng, events);
        }
        let verifier = std::mem::take(&mut w.verifier);
        let matches = verifier.finish(env.catalog).is_some_and(|h| {
            let want = [
                (&job.sha256, &h.sha256),
                (&job.sha1, &h.sha1),
                (&job.md5, &h.md5),
            ];
            let mut checked = want.iter().filter(|(w, _)| w.is_some()).peekable();
            checked.peek().is_some()
                && checked.all(|(w, got)| w.as_deref().is_some_and(|w| w.eq_ignore_ascii_case(got)))
        }) && received == job.size;
        events.push(DdiEvent::ArtifactChecked {
            action: w.action,
            matches,
        });
        w.download_failures = 0;
        if matches {
            w.next_job += 1;
            self.failures = 0;
            if env.settings.feedback.per_artifact {
                // Progress: `cnt` = artifacts finished (ddi.md §1.4).
                let what = format!("Downloaded {} of {} artifacts", w.next_job, w.jobs.len());
                return self.go(
                    Step::Feedback(Execution::Proceeding, Finished::None, what),
                    now,
                );
            }
            return self.next_download_or_done(now, env, events);
        }
        w.hash_failures += 1;
        if w.hash_failures >= 2 {
            let name = job.filename.clone();
            return self.close_failed(now, format!("hash mismatch for {name}"), events);
        }
        self.go(Step::Download, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(hashes: &str) -> DeploymentBase {
        let text = format!(
            r#"{{"id":"1","deployment":{{"download":"forced","update":"forced","chunks":[{{"part":"os","version":"1","name":"fw",
               "artifacts":[{{"filename":"fw.bin","hashes":{hashes},"size":3,"_links":{{}}}}]}}]}}}}"#
        );
        serde_json::from_str(&text).expect("deployment parses")
    }

    #[test]
    fn hashes_need_sha1_and_md5_of_the_right_length() {
        let sha1 = "a".repeat(40);
        let md5 = "b".repeat(32);
        let ok = deployment(&format!(r#"{{"sha1":"{sha1}","md5":"{md5}"}}"#));
        assert!(bad_hashes(&ok).is_none());
        let cases = [
            (format!(r#"{{"sha1":"{sha1}"}}"#), "no md5"),
            (format!(r#"{{"md5":"{md5}"}}"#), "no sha1"),
            (r#"{}"#.to_string(), "no sha1 and no md5"),
            (
                format!(r#"{{"sha1":"{sha1}x","md5":"{md5}"}}"#),
                "sha1 is not 40 hex digits",
            ),
            (
                format!(r#"{{"sha1":"{sha1}","md5":"{}"}}"#, "z".repeat(32)),
                "md5 is not 32 hex digits",
            ),
            (
                format!(r#"{{"sha1":"{sha1}","md5":"{md5}","sha256":"00"}}"#),
                "sha256 is not 64 hex digits",
            ),
        ];
        for (hashes, want) in cases {
            let bad = bad_hashes(&deployment(&hashes)).expect(want);
            assert_eq!(*bad, ("fw.bin".to_string(), want));
        }
    }
}
