#!/usr/bin/env python3
"""Sends a fixed set of traces to tailsift with the official OpenTelemetry Python SDK.

Driven by tests/operator/interop_python.rs. Each case is one trace that a rule in that test's config
keeps or drops. On success the last line of stdout is one JSON object:

    {"protocol": ..., "compression": ..., "run_id": ..., "service": ..., "prompt": ...,
     "exported_spans": N,
     "traces": {case: {"trace_id": hex32, "spans": [{"span_id": hex16,
                                                     "parent_span_id": hex16 | null,
                                                     "name": ...}, ...]}}}

where "spans" lists what the SDK's exporter reported as exported, so the Rust side can compare
it span by span with what tailsift forwarded. Exits non-zero if any export failed or the flush
timed out.

Install the SDK with: python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt
"""

import argparse
import json
import sys
import threading

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind, Status, StatusCode

# Non-ASCII on purpose: tailsift records `prompt.length` in bytes, not code points.
PROMPT = (
    "Write a 10-second video script: a cat surfs a wave at dawn, the camera follows "
    "from a drone, slow motion when the wave breaks. Légende: « le chat surfeur » 🐱🌊"
)
SCOPE = "tailsift.interop"
SCOPE_VERSION = "1.0.0"
PLAIN_TRACES = 3


class CheckedExporter(SpanExporter):
    """Delegates to the OTLP exporter and records what it reported as exported or failed."""

    def __init__(self, inner):
        self.inner = inner
        self.lock = threading.Lock()
        self.exported = []
        self.failures = 0
        self.calls = 0

    def export(self, spans):
        result = self.inner.export(spans)
        with self.lock:
            self.calls += 1
            if result == SpanExportResult.SUCCESS:
                self.exported.extend(spans)
            else:
                self.failures += 1
                print(
                    f"send_traces: export of {len(spans)} spans failed: {result}",
                    file=sys.stderr,
                )
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self.inner.force_flush(timeout_millis)


def make_exporter(protocol, endpoint, compression, args):
    """The SDK's OTLP exporter; over TLS (trusting --ca-file, presenting --client-cert/--client-key
    for mTLS) when --ca-file is given, with `Authorization: Bearer --token` when given."""
    headers = {"authorization": f"Bearer {args.token}"} if args.token else None
    if protocol == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        comp = grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression
        if not args.ca_file:
            return OTLPSpanExporter(
                endpoint=endpoint, insecure=True, timeout=5, compression=comp, headers=headers
            )

        def read(path):
            with open(path, "rb") as f:
                return f.read()

        credentials = grpc.ssl_channel_credentials(
            root_certificates=read(args.ca_file),
            private_key=read(args.client_key) if args.client_key else None,
            certificate_chain=read(args.client_cert) if args.client_cert else None,
        )
        return OTLPSpanExporter(
            endpoint=endpoint,
            insecure=False,
            credentials=credentials,
            timeout=5,
            compression=comp,
            headers=headers,
        )
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    comp = Compression.Gzip if compression == "gzip" else Compression.NoCompression
    return OTLPSpanExporter(
        endpoint=endpoint,
        timeout=5,
        compression=comp,
        headers=headers,
        certificate_file=args.ca_file,
        client_certificate_file=args.client_cert,
        client_key_file=args.client_key,
    )


def trace_id_of(span):
    return format(span.get_span_context().trace_id, "032x")


def emit(tracer, run_id):
    """Emits every case; returns case name -> trace id (hex)."""
    ids = {}

    # error: a child span fails. Kept by rule `errors`.
    with tracer.start_as_current_span(
        "POST /chat", kind=SpanKind.SERVER, attributes={"interop.run_id": run_id}
    ) as root:
        with tracer.start_as_current_span("retrieve"):
            with tracer.start_as_current_span("vector.search", kind=SpanKind.CLIENT):
                pass
        with tracer.start_as_current_span("generate", kind=SpanKind.CLIENT) as gen:
            gen.record_exception(TimeoutError("model did not answer within 30s"))
            gen.set_status(Status(StatusCode.ERROR, "model timeout"))
        ids["error"] = trace_id_of(root)

    # healthz: dropped by rule `healthz`, although its root also matches the later `premium`
    # rule (first match wins).
    with tracer.start_as_current_span(
        "GET /healthz",
        kind=SpanKind.SERVER,
        attributes={"interop.run_id": run_id, "user.tier": "premium"},
    ) as root:
        with tracer.start_as_current_span("check database"):
            pass
        ids["healthz"] = trace_id_of(root)

    # experiment: a flagged experiment, kept at full fidelity: the prompt stays verbatim.
    with tracer.start_as_current_span(
        "POST /video", kind=SpanKind.SERVER, attributes={"interop.run_id": run_id}
    ) as root:
        with tracer.start_as_current_span(
            "expand prompt",
            attributes={
                "experiment.id": "exp-42",
                "prompt": PROMPT,
                "llm.tokens": 512,
                "llm.temperature": 0.7,
                "llm.cached": False,
                "pipeline.stages": ["expand", "render", "upscale"],
            },
        ) as child:
            child.add_event("llm.request", {"prompt": PROMPT})
        with tracer.start_as_current_span("render"):
            with tracer.start_as_current_span("upscale"):
                pass
        ids["experiment"] = trace_id_of(root)

    # premium: kept by rule `premium` (probability 1.0) at fidelity `lite`: prompts hashed.
    with tracer.start_as_current_span(
        "POST /chat",
        kind=SpanKind.SERVER,
        attributes={"interop.run_id": run_id, "user.tier": "premium"},
    ) as root:
        with tracer.start_as_current_span(
            "generate", kind=SpanKind.CLIENT, attributes={"prompt": PROMPT, "llm.tokens": 128}
        ) as child:
            child.add_event("llm.request", {"prompt": PROMPT})
        with tracer.start_as_current_span("moderate"):
            pass
        ids["premium"] = trace_id_of(root)

    # plain: ordinary traffic that the catch-all `rest` rule drops.
    for i in range(PLAIN_TRACES):
        with tracer.start_as_current_span(
            "GET /items", kind=SpanKind.SERVER, attributes={"interop.run_id": run_id}
        ) as root:
            with tracer.start_as_current_span("db.query", kind=SpanKind.CLIENT):
                pass
            ids[f"plain-{i}"] = trace_id_of(root)
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", choices=["grpc", "http"], required=True)
    ap.add_argument(
        "--endpoint",
        required=True,
        help="grpc: http://127.0.0.1:PORT; http: http://127.0.0.1:PORT/v1/traces",
    )
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--compression", choices=["none", "gzip"], default="none")
    ap.add_argument("--ca-file", help="TLS: trust this CA (PEM); the endpoint is https://")
    ap.add_argument("--client-cert", help="mTLS: client certificate (PEM)")
    ap.add_argument("--client-key", help="mTLS: client private key (PEM)")
    ap.add_argument("--token", help="send Authorization: Bearer TOKEN")
    args = ap.parse_args()

    service = f"interop-{args.protocol}"
    resource = Resource.create(
        {
            "service.name": service,
            "interop.run_id": args.run_id,
            "interop.compression": args.compression,
        }
    )
    provider = TracerProvider(resource=resource)
    exporter = CheckedExporter(
        make_exporter(args.protocol, args.endpoint, args.compression, args)
    )
    # Small batches: traces are split over several export requests, as under real load.
    provider.add_span_processor(
        BatchSpanProcessor(
            exporter,
            schedule_delay_millis=50,
            max_export_batch_size=5,
            export_timeout_millis=10000,
        )
    )
    tracer = provider.get_tracer(SCOPE, SCOPE_VERSION)

    ids = emit(tracer, args.run_id)
    flushed = provider.force_flush(timeout_millis=15000)
    provider.shutdown()

    if not flushed:
        print("send_traces: force_flush timed out", file=sys.stderr)
        return 1
    if exporter.failures:
        print(f"send_traces: {exporter.failures} export call(s) failed", file=sys.stderr)
        return 1

    by_trace = {tid: case for case, tid in ids.items()}
    traces = {case: {"trace_id": tid, "spans": []} for case, tid in ids.items()}
    for span in exporter.exported:
        case = by_trace.get(trace_id_of(span))
        if case is None:
            print(f"send_traces: unexpected span {span.name}", file=sys.stderr)
            return 1
        traces[case]["spans"].append(
            {
                "span_id": format(span.get_span_context().span_id, "016x"),
                "parent_span_id": (
                    format(span.parent.span_id, "016x") if span.parent is not None else None
                ),
                "name": span.name,
            }
        )
    print(
        json.dumps(
            {
                "protocol": args.protocol,
                "compression": args.compression,
                "run_id": args.run_id,
                "service": service,
                "prompt": PROMPT,
                "exported_spans": len(exporter.exported),
                "export_calls": exporter.calls,
                "traces": traces,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
