#!/usr/bin/env python3
"""Checks that the Grafana dashboard and the Prometheus alerts use only tailsift's real metrics.

Every `tailsift_*` name in deploy/grafana/tailsift-dashboard.json and
deploy/prometheus/alerts.yaml must be declared in src/telemetry/names.rs (histograms also with
_bucket/_sum/_count); every label in `by (...)` and in `{...}` matchers must be one that
names.rs documents for that metric (or job/instance, or le on a _bucket series); label values
compared with = or =~ must be among the documented values; le values must be bucket bounds of
src/telemetry/metrics.rs. Standard library only. Run from anywhere:

    python3 deploy/grafana/check_metrics.py

Exit status 0 when everything matches, 1 with one line per problem otherwise.
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMES = ROOT / "src/telemetry/names.rs"
METRICS = ROOT / "src/telemetry/metrics.rs"
DASHBOARD = ROOT / "deploy/grafana/tailsift-dashboard.json"
ALERTS = ROOT / "deploy/prometheus/alerts.yaml"
GLOBAL_LABELS = {"job", "instance"}
FREE = None  # documented label whose values are free-form (rule names, exporter names)


def parse_names():
    """{metric: {label: set(values) or FREE}}, {const: metric}."""
    text = NAMES.read_text()
    metrics, consts, doc = {}, {}, []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("///"):
            doc.append(s[3:].strip())
            continue
        m = re.match(r'pub const (\w+): &str = "(\w+)";', s)
        if m:
            consts[m.group(1)] = m.group(2)
            metrics[m.group(2)] = parse_labels(" ".join(doc))
        doc = []
    return metrics, consts


def parse_labels(doc):
    labels = {}
    if "Labels:" not in doc:
        return labels
    rest = doc.split("Labels:", 1)[1]
    for m in re.finditer(r"`(\w+)`(?:\s*\(([^)]*)\))?", rest):
        name, values = m.group(1), m.group(2)
        if values is None:
            labels[name] = FREE
        else:
            vals = [v.strip() for v in values.split(",")]
            labels[name] = FREE if any(not re.fullmatch(r"\w+", v) for v in vals) else set(vals)
    return labels


def histograms(consts):
    names = set()
    for path in (ROOT / "src").rglob("*.rs"):
        for c in re.findall(r"histogram!\(\s*(?:\w+::)*names::(\w+)", path.read_text()):
            if c in consts:
                names.add(consts[c])
    return names


def buckets():
    m = re.search(r"LATENCY_BUCKETS: &\[f64\] = &\[([^\]]*)\]", METRICS.read_text(), re.S)
    return {float(v) for v in m.group(1).replace("\n", " ").split(",") if v.strip()} if m else set()


def dashboard_exprs():
    dash = json.loads(DASHBOARD.read_text())
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((f"dashboard panel '{p.get('title')}'", t["expr"]))
            walk(p.get("panels", []))

    walk(dash["panels"])
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        out.append((f"dashboard variable '{v['name']}'", q["query"] if isinstance(q, dict) else q))
    return out


def alert_exprs():
    """`expr:` values of the rule file (single line or block scalar), without a YAML library."""
    out, lines, alert = [], ALERTS.read_text().splitlines(), "?"
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*- alert:\s*(\S+)", line)
        if m:
            alert = m.group(1)
        m = re.match(r"(\s*)expr:\s*(.*)$", line)
        if m:
            indent, value = len(m.group(1)), m.group(2)
            if value in ("|", "|-", ">", ">-"):
                body = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i])
                    i += 1
                value = "\n".join(body)
                i -= 1
            out.append((f"alert {alert}", value))
        i += 1
    return out


def check(where, expr, metrics, hists, bounds, problems):
    expr_nc = re.sub(r"#.*", "", expr)
    used = set()
    for m in re.finditer(r"\b(tailsift_\w+)(\{[^}]*\})?", expr_nc):
        name, matchers = m.group(1), m.group(2) or ""
        base, suffix = name, ""
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and name[: -len(suf)] in hists:
                base, suffix = name[: -len(suf)], suf
        if base not in metrics:
            problems.append(f"{where}: unknown metric {name}")
            continue
        used.add((base, suffix))
        for lm in re.finditer(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', matchers):
            label, op, value = lm.groups()
            check_label(where, base, suffix, label, metrics, problems)
            if "$" in value:
                continue
            if label == "le":
                bound = re.sub(r"\(\.0\)\?$|\(\\\\?\.0\)\?$", "", value)
                try:
                    ok = float(bound) in bounds or bound == "+Inf"
                except ValueError:
                    ok = False
                if not ok:
                    problems.append(f"{where}: le=\"{value}\" is not a bucket bound of {base}")
                continue
            allowed = metrics[base].get(label)
            if op in ("=", "!=", "=~", "!~") and isinstance(allowed, set):
                parts = value.split("|") if op in ("=~", "!~") else [value]
                for v in parts:
                    if re.fullmatch(r"\w+", v) and v not in allowed:
                        problems.append(f"{where}: {base} has no {label}=\"{v}\" (documented: {sorted(allowed)})")
    for m in re.finditer(r"\b(?:by|without)\s*\(([^)]*)\)", expr_nc):
        for label in [l.strip() for l in m.group(1).split(",") if l.strip()]:
            for base, suffix in used:
                check_label(where, base, suffix, label, metrics, problems)


def check_label(where, base, suffix, label, metrics, problems):
    if label in GLOBAL_LABELS or (label == "le" and suffix == "_bucket"):
        return
    if label not in metrics[base]:
        problems.append(f"{where}: {base} has no label `{label}`")


def main():
    metrics, consts = parse_names()
    hists, bounds = histograms(consts), buckets()
    exprs = dashboard_exprs() + alert_exprs()
    problems = []
    for where, expr in exprs:
        check(where, expr, metrics, hists, bounds, problems)
    for p in sorted(set(problems)):
        print(p)
    referenced = {m for _, e in exprs for m in re.findall(r"\btailsift_\w+", e)}
    print(f"check_metrics: {len(exprs)} expressions, {len(referenced)} metric names, {len(set(problems))} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
