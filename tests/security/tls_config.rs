//! `validate` (and the daemon's start) on TLS files: a missing file, unreadable PEM and a key
//! that does not match its certificate are each reported with the key path and the file.

use crate::support;

use std::path::Path;
use support::certs::{self, Ca};
use tailsift::config::{parse, ConfigError};

fn receiver(cert: &Path, key: &Path, extra: &str) -> String {
    format!(
        "receivers: {{ otlp: {{ http: {{ endpoint: 127.0.0.1:0, tls: {{ cert_file: \"{}\", key_file: \"{}\"{extra} }} }} }} }}\n\
         exporters: {{ out: {{ protocol: file, path: /dev/null }} }}\n",
        cert.display(),
        key.display()
    )
}

fn errors(yaml: &str) -> Vec<String> {
    match parse(yaml, "tls.yaml") {
        Err(ConfigError::Invalid { errors, .. }) => errors.iter().map(|e| e.to_string()).collect(),
        other => panic!("expected validation errors, got {other:?}"),
    }
}

#[track_caller]
fn has(errors: &[String], needles: &[&str]) {
    assert!(
        errors.iter().any(|e| needles.iter().all(|n| e.contains(n))),
        "no error with {needles:?} in {errors:#?}"
    );
}

#[test]
fn a_key_of_another_certificate_is_named_with_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ca");
    let cert = certs::write(dir.path(), "a.pem", &ca.server(1).cert_pem);
    let key = certs::write(dir.path(), "b.key", &ca.server(2).key_pem);
    let e = errors(&receiver(&cert, &key, ""));
    has(
        &e,
        &[
            "receivers.otlp.http.tls.key_file: ",
            "b.key",
            "does not belong to the certificate",
            "a.pem",
        ],
    );
}

#[test]
fn unreadable_pem_and_swapped_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ca");
    let leaf = ca.server(1);
    let garbage = certs::write(
        dir.path(),
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    );
    let key = certs::write(dir.path(), "k.pem", &leaf.key_pem);
    has(
        &errors(&receiver(&garbage, &key, "")),
        &[
            "receivers.otlp.http.tls.cert_file",
            "garbage.pem",
            "not valid PEM",
        ],
    );
    let cert = certs::write(dir.path(), "c.pem", &leaf.cert_pem);
    // cert and key given the wrong way round
    let e = errors(&receiver(&key, &cert, ""));
    has(
        &e,
        &[
            "receivers.otlp.http.tls.cert_file",
            "k.pem",
            "holds no certificate",
        ],
    );
    let e = errors(&receiver(&cert, &cert, ""));
    has(
        &e,
        &[
            "receivers.otlp.http.tls.key_file",
            "c.pem",
            "holds no private key",
        ],
    );
}

#[test]
fn a_missing_client_ca_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ca");
    let leaf = ca.server(1);
    let cert = certs::write(dir.path(), "c.pem", &leaf.cert_pem);
    let key = certs::write(dir.path(), "k.pem", &leaf.key_pem);
    let e = errors(&receiver(
        &cert,
        &key,
        ", client_ca_file: /nonexistent/clients.pem",
    ));
    has(
        &e,
        &[
            "receivers.otlp.http.tls.client_ca_file",
            "/nonexistent/clients.pem",
            "cannot read the file",
        ],
    );
    assert!(
        parse(&receiver(&cert, &key, ""), "ok.yaml").is_ok(),
        "the same files are fine"
    );
}

#[test]
fn an_exporter_ca_file_without_a_certificate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = certs::write(dir.path(), "empty.pem", "");
    let yaml = format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:0 }} }} }}\n\
         exporters: {{ tempo: {{ protocol: otlp_http, endpoint: \"https://tempo:4318\", tls: {{ ca_file: \"{}\" }} }} }}\n",
        empty.display()
    );
    has(
        &errors(&yaml),
        &[
            "exporters.tempo.tls.ca_file",
            "empty.pem",
            "holds no certificate",
        ],
    );
}

#[tokio::test]
async fn the_daemon_refuses_to_start_when_a_file_broke_after_validation() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ca");
    let leaf = ca.server(1);
    let cert = certs::write(dir.path(), "c.pem", &leaf.cert_pem);
    let key = certs::write(dir.path(), "k.pem", &leaf.key_pem);
    let config = parse(&receiver(&cert, &key, ""), "ok.yaml").unwrap();
    std::fs::remove_file(&key).unwrap();
    let listeners = tailsift::server::Listeners::bind(&config).await.unwrap();
    let e = tailsift::server::run(config, listeners, std::future::pending())
        .await
        .expect_err("start fails");
    let shown = e.to_string();
    assert!(
        shown.starts_with("receivers.otlp.http.tls.key_file: "),
        "{shown}"
    );
    assert!(
        shown.contains("k.pem") && shown.contains("cannot read the file"),
        "{shown}"
    );
}

/// Every YAML example of the README's "TLS and authentication" section validates, with its
/// `/etc/tailsift/...` files generated.
#[test]
fn the_readme_tls_examples_validate() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("### TLS and authentication")
        .nth(1)
        .expect("the section")
        .split("\n## ")
        .next()
        .unwrap()
        .split("\n### ")
        .next()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (ca, clients) = (Ca::new("ca"), Ca::new("clients"));
    let (server, client) = (ca.server(1), clients.client(2));
    for (sub, files) in [
        ("backend-ca", vec![("ca.crt", ca.pem.clone())]),
        (
            "client",
            vec![
                ("tls.crt", client.cert_pem.clone()),
                ("tls.key", client.key_pem.clone()),
            ],
        ),
        (
            "tls",
            vec![
                ("tls.crt", server.cert_pem.clone()),
                ("tls.key", server.key_pem.clone()),
                ("ca.crt", clients.pem.clone()),
            ],
        ),
        (
            "tokens",
            vec![("ingest", "t1\n".into()), ("scrape", "t2\n".into())],
        ),
    ] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
        for (name, text) in files {
            std::fs::write(root.join(sub).join(name), text).unwrap();
        }
    }
    let blocks: Vec<&str> = section
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 3, "the section's examples");
    for block in blocks {
        let mut yaml = block.replace("/etc/tailsift/", &format!("{}/", root.display()));
        if !yaml.contains("receivers:") {
            yaml.push_str("receivers: { otlp: { grpc: { endpoint: 127.0.0.1:0 } } }\n");
        }
        if !yaml.contains("exporters:") {
            yaml.push_str("exporters: { out: { protocol: file, path: /dev/null } }\n");
        }
        if let Err(e) = parse(&yaml, "README.md") {
            panic!("{e}\n{yaml}");
        }
    }
}
