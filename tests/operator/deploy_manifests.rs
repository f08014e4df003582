//! The Kubernetes monitoring manifests point at what the Deployment and Service really expose:
//! the ServiceMonitor selects the Service by its labels and names one of its ports, the
//! PodMonitor selects the pod template and names a container port, and the scrape annotations
//! name the metrics port. (A wrong label or port name fails silently in a cluster: no targets.)

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
