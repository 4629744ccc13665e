//! What the CRI names and keeps beside the engine's objects: a pod's and a container's CRI
//! metadata (name, namespace, uid, attempt) ride in the engine's annotations under
//! `io.strata.cri.*` keys (hidden from CRI clients), and engine names follow kubelet's
//! docker-era convention (`k8s_POD_<name>_<namespace>_<uid>_<attempt>`), so a pod or
//! container is recognisable in `strata ps` and a second create with the same metadata is
//! refused by the engine's unique names.

use k8s_cri::v1::{ContainerMetadata, PodSandboxMetadata};
use std::collections::{BTreeMap, HashMap};

/// The prefix of the keys the CRI keeps for itself.
pub const PREFIX: &str = "io.strata.cri.";
/// Marks an object made through the CRI (CRI lists show only these).
pub const KIND: &str = "io.strata.cri.kind";
const NAME: &str = "io.strata.cri.name";
const NAMESPACE: &str = "io.strata.cri.namespace";
const UID: &str = "io.strata.cri.uid";
const ATTEMPT: &str = "io.strata.cri.attempt";
/// The runtime handler a pod was made for.
pub const HANDLER: &str = "io.strata.cri.runtime-handler";
/// A pod's log directory.
pub const LOG_DIRECTORY: &str = "io.strata.cri.log-directory";
/// The image as kubelet named it (a container's `image` field).
pub const IMAGE: &str = "io.strata.cri.image";
/// The pod's PID namespace mode (`pod`, `container`).
pub const PID_MODE: &str = "io.strata.cri.pid";

/// The engine name of a pod.
pub fn pod_name(m: &PodSandboxMetadata) -> String {
    format!("k8s_POD_{}_{}_{}_{}", m.name, m.namespace, m.uid, m.attempt)
}

/// The engine name of a container of pod `p`.
pub fn container_name(m: &ContainerMetadata, p: &PodSandboxMetadata) -> String {
    format!(
        "k8s_{}_{}_{}_{}_{}",
        m.name, p.name, p.namespace, p.uid, m.attempt
    )
}

/// A pod's annotations for the engine: the client's and the CRI's own.
pub fn pod_annotations(
    m: &PodSandboxMetadata,
    given: &HashMap<String, String>,
) -> BTreeMap<String, String> {
    let mut a: BTreeMap<String, String> = given.clone().into_iter().collect();
    a.insert(KIND.into(), "sandbox".into());
    a.insert(NAME.into(), m.name.clone());
    a.insert(NAMESPACE.into(), m.namespace.clone());
    a.insert(UID.into(), m.uid.clone());
    a.insert(ATTEMPT.into(), m.attempt.to_string());
    a
}

/// A container's annotations for the engine.
pub fn container_annotations(
    m: &ContainerMetadata,
    given: &HashMap<String, String>,
) -> BTreeMap<String, String> {
    let mut a: BTreeMap<String, String> = given.clone().into_iter().collect();
    a.insert(KIND.into(), "container".into());
    a.insert(NAME.into(), m.name.clone());
    a.insert(ATTEMPT.into(), m.attempt.to_string());
    a
}

/// The pod metadata kept in `a`.
pub fn pod_metadata(a: &BTreeMap<String, String>) -> PodSandboxMetadata {
    PodSandboxMetadata {
        name: get(a, NAME),
        uid: get(a, UID),
        namespace: get(a, NAMESPACE),
        attempt: get(a, ATTEMPT).parse().unwrap_or(0),
    }
}

/// The container metadata kept in `a`.
pub fn container_metadata(a: &BTreeMap<String, String>) -> ContainerMetadata {
    ContainerMetadata {
        name: get(a, NAME),
        attempt: get(a, ATTEMPT).parse().unwrap_or(0),
    }
}

/// Whether `a` marks an object the CRI made of `kind` (`sandbox`, `container`).
pub fn is_cri(a: &BTreeMap<String, String>, kind: &str) -> bool {
    a.get(KIND).is_some_and(|k| k == kind)
}

/// The client's annotations (the CRI's own removed).
pub fn public(a: &BTreeMap<String, String>) -> HashMap<String, String> {
    a.iter()
        .filter(|(k, _)| !k.starts_with(PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A label map as the CRI returns it.
pub fn labels(l: &BTreeMap<String, String>) -> HashMap<String, String> {
    l.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Whether `labels` has every pair of `selector` (a list filter's label selector).
pub fn selects(selector: &HashMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// `a[key]` or "".
pub fn get(a: &BTreeMap<String, String>, key: &str) -> String {
    a.get(key).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_stays_hidden() {
        let m = PodSandboxMetadata {
            name: "web".into(),
            uid: "u-1".into(),
            namespace: "default".into(),
            attempt: 2,
        };
        let given = HashMap::from([("team".to_string(), "a".to_string())]);
        let a = pod_annotations(&m, &given);
        assert_eq!(pod_metadata(&a), m);
        assert!(is_cri(&a, "sandbox") && !is_cri(&a, "container"));
        assert_eq!(public(&a), given);
        assert_eq!(pod_name(&m), "k8s_POD_web_default_u-1_2");
        let c = ContainerMetadata {
            name: "app".into(),
            attempt: 0,
        };
        assert_eq!(container_name(&c, &m), "k8s_app_web_default_u-1_0");
        assert_eq!(container_metadata(&container_annotations(&c, &given)), c);
    }

    #[test]
    fn a_selector_needs_every_pair() {
        let l = BTreeMap::from([("a".to_string(), "1".to_string()), ("b".into(), "2".into())]);
        assert!(selects(&HashMap::new(), &l));
        assert!(selects(&HashMap::from([("a".into(), "1".into())]), &l));
        assert!(!selects(&HashMap::from([("a".into(), "2".into())]), &l));
        assert!(!selects(&HashMap::from([("c".into(), "1".into())]), &l));
    }
}
