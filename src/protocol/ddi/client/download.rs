//! Downloading a deployment's artifacts: Range resume across interruptions
//! and online windows, restart when a server ignores Range, verification
//! against the advertised hashes, and what happens when a URL is refused.

use rand::RngCore;

use super::http::{content_range_start, is_retriable};
use super::{ClientEnv, DdiClient, Step};
use crate::artifact::Verifier;
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

impl DdiClient {
    pub(super) fn next_download_or_done(
        &mut self,
        now: Time,
        env: &ClientEnv<'_>,
        events: &mut Vec<DdiEvent>,
    ) {
        let Some(w) = self.work.as_mut() else { return };
        if w.next_job < w.jobs.len() {
            return self.go(Step::Download, now);
        }
        w.downloaded = true;
        let n = w.jobs.len();
        let _ = (env, events);
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
