//! GetContainerEvents: the created, started, stopped and deleted events of CRI containers,
//! read from the engine's event log every [`POLL`] from the time the stream opened. Each
//! carries its pod's PodSandboxStatus and the ContainerStatus of every container of the pod,
//! as containerd sends them. Containers that exit on their own are brought up to date at
//! each poll, so their `die` reaches the log (and the stream) without another client.

use crate::state::Cri;
use crate::{container, meta, sandbox};
use k8s_cri::v1::{
    ContainerEventResponse, ContainerEventType, ContainerStatus, PodSandboxMetadata,
};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use strata_engine::db::events::Event;
use strata_engine::Engine;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

/// How often the event log is read.
pub const POLL: Duration = Duration::from_millis(200);

/// The stream GetContainerEvents answers with.
pub type EventStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<ContainerEventResponse, Status>> + Send>>;

/// The CRI event type of an engine container event's action, if it has one.
pub fn event_type(action: &str) -> Option<ContainerEventType> {
    Some(match action {
        "create" => ContainerEventType::ContainerCreatedEvent,
        "start" => ContainerEventType::ContainerStartedEvent,
        "die" => ContainerEventType::ContainerStoppedEvent,
        "remove" => ContainerEventType::ContainerDeletedEvent,
        _ => return None,
    })
}

/// Whether an engine container name is a CRI container's (kubelet's naming; not an infra).
fn cri_name(name: &str) -> bool {
    name.starts_with("k8s_") && !name.starts_with("k8s_POD_")
}

/// Whether `container` (an engine name) is the name of a container of the pod with this
/// metadata: kubelet's `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`.
pub fn named_in_pod(container: &str, pod: &PodSandboxMetadata) -> bool {
    let suffix = format!("_{}_{}_{}_", pod.name, pod.namespace, pod.uid);
    let Some(rest) = container.strip_prefix("k8s_") else {
        return false;
    };
    rest.rfind(&suffix).is_some_and(|i| {
        let attempt = &rest[i + suffix.len()..];
        i > 0 && !attempt.is_empty() && attempt.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The CRI pod a container named `name` belonged to (a deleted container's row is gone).
fn pod_by_name(e: &Engine, name: &str) -> Option<String> {
    let pods = e.db.pods().ok()?;
    pods.into_iter()
        .filter(|p| meta::is_cri(&p.config.annotations, "sandbox"))
        .find(|p| named_in_pod(name, &meta::pod_metadata(&p.config.annotations)))
        .map(|p| p.id)
}

/// The statuses of a pod's CRI containers.
pub fn pod_container_statuses(e: &Engine, pod: &str) -> Vec<ContainerStatus> {
    let members = e.db.pod_containers(pod).unwrap_or_default();
    members
        .iter()
        .filter(|c| meta::is_cri(&c.config.annotations, "container"))
        .filter_map(|c| container::status(e, &c.id, false).ok().map(|(s, _)| s))
        .collect()
}

/// What the poller remembers between polls.
pub struct Watch {
    /// The last event seen.
    after: i64,
    /// When the stream opened (ns).
    since: i64,
    /// The pod of each CRI container seen (a deleted container's row is gone).
    pods: HashMap<String, String>,
}

impl Watch {
    /// A watch from now on.
    pub fn new(e: &Engine) -> Result<Watch, Status> {
        let since = strata_os::clock::now_nanos();
        let all =
            e.db.containers()
                .map_err(|err| crate::status::engine("GetContainerEvents", err))?;
        let pods = all
            .into_iter()
            .filter(|c| meta::is_cri(&c.config.annotations, "container"))
            .filter_map(|c| Some((c.id, c.pod?)))
            .collect();
        Ok(Watch {
            after: 0,
            since,
            pods,
        })
    }

    /// The pod of a CRI container event's container; `None` if it is not one of ours.
    fn pod_of(&mut self, e: &Engine, ev: &Event) -> Option<Option<String>> {
        match e.db.container(&ev.id) {
            Ok(Some(c)) if meta::is_cri(&c.config.annotations, "container") => {
                if let Some(p) = &c.pod {
                    self.pods.insert(c.id.clone(), p.clone());
                }
                Some(c.pod)
            }
            Ok(Some(_)) => None,
            _ => match self.pods.get(&ev.id) {
                Some(p) => Some(Some(p.clone())),
                None => cri_name(&ev.name).then(|| pod_by_name(e, &ev.name)),
            },
        }
    }

    /// The events since the last poll.
    pub fn poll(&mut self, e: &Engine) -> Result<Vec<ContainerEventResponse>, Status> {
        // Containers that exited on their own: refreshing records their `die`.
        for mut c in e.db.containers().unwrap_or_default() {
            if !meta::is_cri(&c.config.annotations, "container") {
                continue;
            }
            if let Some(p) = &c.pod {
                self.pods.insert(c.id.clone(), p.clone());
            }
            if c.state.status.is_live() {
                let _ = strata_engine::container::status::refresh(e, &mut c);
            }
        }
        let events =
            e.db.events(self.after, self.since, i64::MAX)
                .map_err(|err| crate::status::engine("GetContainerEvents", err))?;
        let mut out = Vec::new();
        for ev in events {
            self.after = ev.seq;
            let Some(kind) = (ev.kind == "container")
                .then(|| event_type(&ev.action))
                .flatten()
            else {
                continue;
            };
            let Some(pod) = self.pod_of(e, &ev) else {
                continue;
            };
            if kind == ContainerEventType::ContainerDeletedEvent {
                self.pods.remove(&ev.id);
            }
            let pod_sandbox_status = pod
                .as_deref()
                .and_then(|p| sandbox::status(e, p, false).ok())
                .map(|(s, _)| s);
            let containers_statuses = pod
                .as_deref()
                .map(|p| pod_container_statuses(e, p))
                .unwrap_or_default();
            out.push(ContainerEventResponse {
                container_id: ev.id,
                container_event_type: kind as i32,
                created_at: ev.time,
                pod_sandbox_status,
                containers_statuses,
            });
        }
        Ok(out)
    }
}

/// The event stream: a task polls the engine until the client goes.
pub async fn stream(cri: Arc<Cri>) -> Result<EventStream, Status> {
    let mut watch = cri.blocking(Watch::new).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(POLL) => {}
            }
            let polled = cri
                .blocking(move |e| {
                    let r = watch.poll(e);
                    Ok((watch, r))
                })
                .await;
            let events = match polled {
                Ok((w, r)) => {
                    watch = w;
                    r
                }
                Err(s) => {
                    tracing::warn!(error = %s.message(), "GetContainerEvents: poll failed");
                    return;
                }
            };
            match events {
                Ok(v) => {
                    for ev in v {
                        if tx.send(Ok(ev)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(s) => tracing::warn!(error = %s.message(), "GetContainerEvents: poll failed"),
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_actions_map_to_cri_event_types() {
        assert_eq!(
            event_type("create"),
            Some(ContainerEventType::ContainerCreatedEvent)
        );
        assert_eq!(
            event_type("start"),
            Some(ContainerEventType::ContainerStartedEvent)
        );
        assert_eq!(
            event_type("die"),
            Some(ContainerEventType::ContainerStoppedEvent)
        );
        assert_eq!(
            event_type("remove"),
            Some(ContainerEventType::ContainerDeletedEvent)
        );
        assert_eq!(event_type("kill"), None);
        assert_eq!(event_type("oom"), None);
    }

    #[test]
    fn a_container_name_names_its_pod() {
        let pod = PodSandboxMetadata {
            name: "web".into(),
            namespace: "default".into(),
            uid: "u-1".into(),
            attempt: 0,
        };
        assert!(named_in_pod("k8s_app_web_default_u-1_0", &pod));
        assert!(named_in_pod("k8s_my_side_car_web_default_u-1_12", &pod));
        assert!(!named_in_pod("k8s_app_web_default_u-2_0", &pod));
        assert!(!named_in_pod("k8s__web_default_u-1_0", &pod));
        assert!(!named_in_pod("k8s_app_web_default_u-1_x", &pod));
        assert!(!named_in_pod("app_web_default_u-1_0", &pod));
    }

    #[test]
    fn infra_names_are_not_containers() {
        assert!(cri_name("k8s_app_web_default_uid_0"));
        assert!(!cri_name("k8s_POD_web_default_uid_0"));
        assert!(!cri_name("quirky_turing"));
    }
}
