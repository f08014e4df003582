//! The README's "Sampling for AI pipelines" examples validate, and the example config uses
//! what they show.

use std::path::Path;

fn root(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
}

#[test]
fn every_yaml_block_of_the_section_validates() {
    let readme = root("README.md");
    let section = readme
        .split("## Sampling for AI pipelines")
        .nth(1)
        .expect("the section")
        .split("\n## ")
        .next()
        .unwrap();
    let blocks: Vec<&str> = section
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert_eq!(blocks.len(), 5, "one block per feature");
    for yaml in blocks {
        let profile = if yaml.starts_with("fidelity:") {
            ""
        } else {
            "fidelity: { light: { drop_events: true } }\n"
        };
        let text = format!(
            "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:4317 }} }} }}\n\
             exporters: {{ out: {{ protocol: file, path: out.jsonl }} }}\n{profile}{yaml}"
        );
        let c =
            tailsift::config::parse(&text, "README.md").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        tailsift::rules::RuleSet::compile(&c).unwrap();
    }
}

#[test]
fn the_example_config_uses_each_feature() {
    let text = root("config.example.yaml");
    let c = tailsift::config::parse(&text, "config.example.yaml").unwrap_or_else(|e| panic!("{e}"));
    for needle in [
        "slower_than",
        "sum:",
        "count:",
        "presets: [gen_ai]",
        "media:",
        "min_per_key",
        "capture:",
    ] {
        assert!(text.contains(needle), "config.example.yaml uses {needle}");
    }
    let rs = tailsift::rules::RuleSet::compile(&c).unwrap();
    assert_eq!(rs.stages().families().len(), 1);
}
