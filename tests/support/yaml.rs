//! Pieces of daemon configs that many tests share, so that each test spells out only the keys
//! it is about. They go into `format!` strings: `"{QUICK_SAMPLING}{KEEP_ERRORS}{}"`.

/// `sampling:` deciding quickly: 300ms after a trace's first span, 100ms after its root,
/// ticking every 10ms. More `sampling:` keys may follow, indented by two spaces.
pub const QUICK_SAMPLING: &str =
    "sampling:\n  decision_wait: 300ms\n  root_wait: 100ms\n  tick: 10ms\n";

/// `sampling.rules`: keep every trace with an error span (rule `errors`), drop the rest (rule
/// `rest`).
pub const KEEP_ERRORS: &str = "  rules:\n    - name: errors\n      when: { span: { status: error } }\n      keep: true\n    - name: rest\n      drop: true\n";

/// `exporters:` with one `otlp_grpc` exporter `name` sending to `endpoint` in batches of at most
/// 20ms.
pub fn grpc_exporter(name: &str, endpoint: &str) -> String {
    format!(
        "exporters:\n  {name}:\n    protocol: otlp_grpc\n    endpoint: \"{endpoint}\"\n    batch: {{ timeout: 20ms }}\n"
    )
}
