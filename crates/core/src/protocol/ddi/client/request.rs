//! What a DDI client sends: the request of each step, with the headers every
//! request carries.

use super::consent::{activate_body, feedback_body};
use super::http::{config_body, feedback};
use super::media::body_request;
use super::{ClientEnv, DdiClient, Step};
use crate::message::{Method, Request};
use crate::protocol::ddi::event::DdiEvent;
use crate::protocol::ddi::wire::{Execution, Finished};
use crate::time::Time;

impl DdiClient {
    /// The request to send now, if one is due.
    pub fn poll_transmit(
        &mut self,
        now: Time,
        env: &ClientEnv<'_>,
        events: &mut Vec<DdiEvent>,
    ) -> Option<Request> {
        if self.in_flight || now < self.due {
            return None;
        }
        if let Step::Install = self.step {
            self.step = self.install_result();
        }
        let mut req = self.request(env)?;
        self.add_if_none_match(&mut req, env);
        req.headers.insert("accept", env.settings.encoding.accept());
        if let Some(auth) = env.authorization {
            req.headers.insert("authorization", auth.to_string());
        }
        let scheduled = matches!(self.step, Step::Poll { scheduled: true });
        events.push(DdiEvent::Sent {
            kind: self.step.kind(),
            scheduled,
        });
        self.in_flight = true;
        Some(req)
    }

    /// The final feedback of an install that has ended.
    fn install_result(&self) -> Step {
        if self.work.as_ref().is_some_and(|w| w.will_fail) {
            return Step::Feedback(
                Execution::Closed,
                Finished::Failure,
                "install failed: image rejected by bootloader".into(),
            );
        }
        let version = self.work.as_ref().map_or("", |w| w.version.as_str());
        Step::Feedback(
            Execution::Closed,
            Finished::Success,
            format!("installed version {version}"),
        )
    }

    /// The request of the current step (none while installing, or if the
    /// step lost its work).
    fn request(&self, env: &ClientEnv<'_>) -> Option<Request> {
        let enc = env.settings.encoding;
        let root = root_url(env);
        let req = match &self.step {
            Step::Poll { .. } => Request::new(Method::Get, root),
            Step::ConfigData => body_request(
                Method::Put,
                format!("{root}/configData"),
                enc,
                &config_body(env.controller_id),
            ),
            Step::FetchDeployment => Request::new(Method::Get, self.work.as_ref()?.url.clone()),
            Step::Feedback(execution, finished, details) => {
                let w = self.work.as_ref()?;
                // `cnt` advances only with `per_artifact` (else 0, as always).
                let cnt = if env.settings.feedback.per_artifact {
                    w.next_job as u32
                } else {
                    0
                };
                let progress =
                    (*execution == Execution::Proceeding).then_some((cnt, w.jobs.len() as u32));
                let mut body = feedback(*execution, *finished, details, progress);
                body.status.code = self.status_code(env, *execution);
                body_request(
                    Method::Post,
                    format!("{root}/deploymentBase/{}/feedback", w.body_id),
                    enc,
                    &body,
                )
            }
            Step::Download => {
                let w = self.work.as_ref()?;
                let job = w.jobs.get(w.next_job)?;
                let mut req = Request::new(Method::Get, job.url.clone());
                let from = w.verifier.received();
                if from > 0 {
                    req.headers.insert("range", format!("bytes={from}-"));
                }
                req
            }
            Step::FetchCancel(url) | Step::FetchInstalled(url) => {
                Request::new(Method::Get, url.clone())
            }
            Step::CancelFeedback(action, execution) => {
                let (finished, details) = match execution {
                    Execution::Rejected => (Finished::None, "cancel rejected: installing"),
                    _ => (Finished::Success, "canceled on server request"),
                };
                let body = feedback(*execution, finished, details, None);
                body_request(
                    Method::Post,
                    format!("{root}/cancelAction/{action}/feedback"),
                    enc,
                    &body,
                )
            }
            Step::FetchConfirmation(_, url) => Request::new(Method::Get, url.clone()),
            Step::ConfirmationFeedback(id, answer) => body_request(
                Method::Post,
                format!("{root}/confirmationBase/{id}/feedback"),
                enc,
                &feedback_body(*answer),
            ),
            Step::ActivateAutoConfirm => body_request(
                Method::Post,
                format!("{root}/confirmationBase/activateAutoConfirm"),
                enc,
                &activate_body(env.controller_id),
            ),
            Step::Install => return None,
        };
        Some(req)
    }
}

/// `{base_url}/{tenant}/controller/v1/{controllerId}`, the URL of every poll:
/// one allocation of the exact size, no formatting machinery.
fn root_url(env: &ClientEnv<'_>) -> String {
    const MIDDLE: &str = "/controller/v1/";
    let parts = [env.base_url, "/", env.tenant, MIDDLE, env.controller_id];
    let mut url = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        url.push_str(part);
    }
    url
}
