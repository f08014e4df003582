//! The Kubernetes monitoring manifests point at what the Deployment and Service really expose:
//! the ServiceMonitor selects the Service by its labels and names one of its ports, the
//! PodMonitor selects the pod template and names a container port, and the scrape annotations
//! name the metrics port. (A wrong label or port name fails silently in a cluster: no targets.)

use serde::Deserialize;
use serde_yaml::Value;
use std::path::Path;

fn manifest(rel: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/kubernetes")
        .join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every `key: value` of `selector` is among `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let sel = selector.as_mapping().expect("matchLabels is a mapping");
    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn names(ports: &Value) -> Vec<&str> {
    ports
        .as_sequence()
        .expect("ports")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect()
}

#[test]
fn monitors_select_the_service_and_pods_and_name_their_ports() {
    let service = manifest("service.yaml");
    let deployment = manifest("deployment.yaml");
    let pod = &deployment["spec"]["template"];
    let container = &pod["spec"]["containers"][0];

    let sm = manifest("monitoring/servicemonitor.yaml");
    assert_eq!(sm["kind"], "ServiceMonitor");
    assert!(
        selects(
            &sm["spec"]["selector"]["matchLabels"],
            &service["metadata"]["labels"]
        ),
        "the ServiceMonitor does not select the Service"
    );
    let port = sm["spec"]["endpoints"][0]["port"].as_str().unwrap();
    assert!(names(&service["spec"]["ports"]).contains(&port), "{port}");
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");

    let pm = manifest("monitoring/podmonitor.yaml");
    assert_eq!(pm["kind"], "PodMonitor");
    assert!(
        selects(
            &pm["spec"]["selector"]["matchLabels"],
            &pod["metadata"]["labels"]
        ),
        "the PodMonitor does not select the pods"
    );
    let port = pm["spec"]["podMetricsEndpoints"][0]["port"]
        .as_str()
        .unwrap();
    assert!(names(&container["ports"]).contains(&port), "{port}");

    // The annotations for annotation-based discovery name the same port number.
    let metrics_port = container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "metrics")
        .map(|p| p["containerPort"].as_u64().unwrap())
        .unwrap();
    let annotated = pod["metadata"]["annotations"]["prometheus.io/port"]
        .as_str()
        .unwrap();
    assert_eq!(annotated, metrics_port.to_string());

    let k = manifest("monitoring/kustomization.yaml");
    let resources: Vec<&str> = k["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(resources, ["servicemonitor.yaml"], "one monitor, not both");
}

/// The tailsift config embedded in a ConfigMap document of `rel`, parsed and validated.
fn embedded_config(rel: &str) -> tailsift::config::Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/kubernetes")
        .join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let map = serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{rel}: {e}")))
        .find(|d| d["kind"] == "ConfigMap")
        .unwrap_or_else(|| panic!("{rel}: no ConfigMap"));
    let yaml = map["data"]["config.yaml"].as_str().expect("config.yaml");
    tailsift::config::parse(yaml, rel).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Host and port of `cluster.nats` (one server).
fn nats_of(c: &tailsift::config::Config) -> (String, u64) {
    let url = &c.cluster.as_ref().expect("a cluster: block").nats;
    let hostport = url.strip_prefix("nats://").expect("nats:// URL");
    let (host, port) = hostport.rsplit_once(':').expect("host:port");
    (host.to_string(), port.parse().expect("port"))
}

#[test]
fn the_replicas_and_the_sidecars_share_decisions_over_the_nats_service() {
    let nats = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/nats.yaml");
    let text = std::fs::read_to_string(nats).expect("nats.yaml");
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).expect("yaml"))
        .collect();
    let service = docs
        .iter()
        .find(|d| d["kind"] == "Service")
        .expect("Service");
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("Deployment");
    assert!(selects(
        &service["spec"]["selector"],
        &deployment["spec"]["template"]["metadata"]["labels"]
    ));
    let name = service["metadata"]["name"].as_str().unwrap();
    let port = service["spec"]["ports"][0]["port"].as_u64().unwrap();
    let target = service["spec"]["ports"][0]["targetPort"].as_str().unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert!(names(&container["ports"]).contains(&target), "{target}");

    // The Deployment's replicas, in the Service's namespace.
    let (host, p) = nats_of(&embedded_config("configmap.yaml"));
    assert_eq!((host.as_str(), p), (name, port));
    // The sidecars, from other namespaces.
    let (host, p) = nats_of(&embedded_config("sidecar/sidecar.yaml"));
    assert!(host.starts_with(&format!("{name}.")), "{host}");
    assert_eq!(p, port);

    let k = manifest("kustomization.yaml");
    let resources: Vec<&str> = k["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    assert!(resources.contains(&"nats.yaml"), "{resources:?}");
}
