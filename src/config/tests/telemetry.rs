//! Rejections under `telemetry:`.

use super::{assert_has, example, invalid, invalid_config, BASE};

#[test]
fn rejects_bad_metrics_endpoint() {
    let mut c = example();
    c.telemetry.metrics.as_mut().unwrap().endpoint = "8888".into();
    let errs = invalid_config(&c);
    assert_has(&errs, "telemetry.metrics.endpoint", &["`8888` has no port"]);
}

#[test]
fn rejects_metrics_on_a_receiver_port() {
    let mut c = example();
    c.telemetry.metrics.as_mut().unwrap().endpoint = "0.0.0.0:4318".into();
    let errs = invalid_config(&c);
    assert_has(
        &errs,
        "telemetry.metrics.endpoint",
        &["same port as receivers.otlp.http.endpoint"],
    );
}

#[test]
fn rejects_word_that_is_not_a_level() {
    for bad in ["warning", "verbose"] {
        let errs = invalid(&format!(
            "{BASE}telemetry: {{ logs: {{ level: {bad} }} }}\n"
        ));
        assert_has(
            &errs,
            "telemetry.logs.level",
            &[
                &format!("`{bad}` is not a log level"),
                "error, warn, info, debug or trace",
            ],
        );
    }
}

#[test]
fn rejects_invalid_filter_directive_and_empty_level() {
    for (level, needle) in [
        (
            "info,tailsift=loud",
            "`info,tailsift=loud` is not a valid log filter directive",
        ),
        ("", "empty"),
    ] {
        let errs = invalid(&format!(
            "{BASE}telemetry: {{ logs: {{ level: \"{level}\" }} }}\n"
        ));
        assert_has(&errs, "telemetry.logs.level", &[needle]);
    }
}

#[test]
fn accepts_levels_and_directives() {
    for ok in [
        "error",
        "warn",
        "INFO",
        "debug",
        "trace",
        "off",
        "info,tailsift::buffer=debug",
        "tailsift=trace",
    ] {
        let mut c = example();
        c.telemetry.logs.level = ok.into();
        assert_eq!(c.validate(), Ok(()), "{ok}");
    }
}
