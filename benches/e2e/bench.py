#!/usr/bin/env python3
"""tailsift end-to-end benchmarks (python3 standard library only).

  bench.py e2e     throughput, CPU per span, peak RSS and decision lateness of tailsift
                   ("keep errors + 10% of the rest", "keep everything") next to Rotel pass-through
  bench.py memory  RSS per buffered span for 10k..1M held traces, and CPU per span with ~10k vs
                   ~1M live traces at a fixed rate

benches/e2e/run.sh and benches/e2e/memory.sh are the entry points; see benches/e2e/README.md.
CPU is the process's own utime+stime from /proc/<pid>/stat over the measured window (read by
tailsift-loadgen at the window's edges), so load-generator contention changes the throughput
figures but not the CPU per span.
"""

import argparse
import datetime
import json
import os
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
ROTEL_VERSION = "0.0.1a15"
SPANS_PER_TRACE = 8

# Targets from the benchmark issue.
TARGET_RATIO = {"keep-errors-p01": 0.5, "keep-all": 1.0}
TARGET_P99_S = 0.050


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes


class Procs:
    """Processes this run started; all are stopped (by pid) on exit."""

    def __init__(self):
        self.procs = []

    def start(self, name, argv, logdir, env=None):
        out = open(os.path.join(logdir, name + ".log"), "wb")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                             cwd=logdir)
        p.bench_name = name
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, wait=20.0):
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                log(f"  {p.bench_name} (pid {p.pid}) did not stop in {wait}s: SIGKILL")
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(reversed(self.procs)):
            self.stop(p, wait=5.0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_tcp(port, proc, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.bench_name} exited with {proc.returncode} "
                               f"(see its log)")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{proc.bench_name}: port {port} not open after {timeout}s")


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_ready(metrics_port, proc, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.bench_name} exited with {proc.returncode} "
                               f"(see its log)")
        try:
            http_get(f"http://127.0.0.1:{metrics_port}/readyz", timeout=1.0)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{proc.bench_name}: /readyz not 200 after {timeout}s")


def proc_cpu_s(pid, clk_tck):
    """utime + stime of a process so far, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / clk_tck
    except (OSError, IndexError, ValueError):
        return None


def proc_status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ---------------------------------------------------------------- prometheus text


def parse_prom(text):
    """{(name, frozenset(labels)): value} from Prometheus text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        try:
            head, value = line.rsplit(" ", 1)
            value = float(value)
        except ValueError:
            continue
        labels = {}
        if "{" in head:
            name, rest = head.split("{", 1)
            rest = rest.rstrip("}")
            for part in split_labels(rest):
                k, v = part.split("=", 1)
                labels[k] = v.strip('"')
        else:
            name = head
        out[(name, frozenset(labels.items()))] = value
    return out


def split_labels(s):
    parts, cur, quoted = [], "", False
    for ch in s:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return parts


def prom_sum(m, name, **match):
    """Sum of the series of `name` whose labels include `match`."""
    total = 0.0
    for (n, labels), v in m.items():
        if n == name and all((k, val) in labels for k, val in match.items()):
            total += v
    return total


def buckets(m, name):
    """{le: cumulative count} of histogram `name`, summed over its other labels."""
    b = {}
    for (n, labels), v in m.items():
        if n == name + "_bucket":
            le = dict(labels).get("le")
            le = float("inf") if le == "+Inf" else float(le)
            b[le] = b.get(le, 0.0) + v
    return b


def quantile(bkts, q):
    """Prometheus histogram_quantile: linear interpolation inside the bucket.

    Returns (value in seconds or None, note); note is ">" when the quantile falls in the +Inf
    bucket (then the value is the largest finite bound)."""
    if not bkts:
        return None, "absent"
    les = sorted(bkts)
    total = bkts[les[-1]]
    if total <= 0:
        return None, "no samples"
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le in les:
        c = bkts[le]
        if c >= rank:
            if le == float("inf"):
                return prev_le, ">"
            if c == prev_c:
                return le, ""
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c), ""
        prev_le, prev_c = le, c
    return les[-1], ""


def window_p99(start_text, end_text):
    """p99 over the measured window from two /metrics snapshots: lateness if tailsift has it
    (due time -> export queue), else the first-span -> decision delay."""
    a, b = parse_prom(start_text), parse_prom(end_text)
    for name, what in (("tailsift_decision_lateness_seconds", "lateness (due -> export queue)"),
                       ("tailsift_decision_delay_seconds", "decision delay (first span -> decision)")):
        eb = buckets(b, name)
        if eb:
            sb = buckets(a, name)
            diff = {le: eb[le] - sb.get(le, 0.0) for le in eb}
            v, note = quantile(diff, 0.99)
            return {"metric": name, "what": what, "p99_s": v, "note": note,
                    "samples": diff.get(float("inf"), 0.0)}
    return {"metric": None, "what": "absent", "p99_s": None, "note": "absent", "samples": 0}


def prom_prefix_sum(m, prefix):
    """Sum of the series whose name starts with `prefix` (the Collector's Prometheus names
    carry unit and `_total` suffixes), histogram parts excluded."""
    return sum(v for (n, _), v in m.items() if n.startswith(prefix)
               and not n.endswith(("_bucket", "_sum", "_count")))


def collector_p99(start_text, end_text):
    """The Collector decides on a 1 s tick: a trace due between two ticks waits for the next,
    so its lateness is up to 1 s plus the decision run. Reported: p99 of the decision run
    (otelcol_processor_tail_sampling_sampling_decision_timer_latency, ms) over the window,
    plus the tick's 0.99 s (the p99 of a wait spread evenly over the 1 s tick)."""
    a, b = parse_prom(start_text), parse_prom(end_text)
    name = next((n[: -len("_bucket")] for n, _ in b
                 if n.startswith("otelcol_processor_tail_sampling_sampling_decision_timer_latency")
                 and n.endswith("_bucket")), None)
    if name is None:
        return {"metric": None, "what": "absent", "p99_s": None, "note": "absent", "samples": 0}
    eb, sb = buckets(b, name), buckets(a, name)
    diff = {le: eb[le] - sb.get(le, 0.0) for le in eb}
    v, note = quantile(diff, 0.99)
    return {"metric": name, "what": "0.99 s tick wait + p99 of the decision run",
            "p99_s": None if v is None else 0.99 + v / 1000.0, "note": note,
            "samples": diff.get(float("inf"), 0.0)}


# ---------------------------------------------------------------- building blocks


class Env:
    def __init__(self, args):
        self.args = args
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        self.bin_dir = os.path.join(target, "release")
        self.tailsift = args.tailsift_bin or os.path.join(self.bin_dir, "tailsift")
        self.loadgen = os.path.join(self.bin_dir, "tailsift-loadgen")
        # The cell being run (the matrix changes them between runs).
        self.compression = args.compression
        self.request_spans = args.request_spans
        self.clk_tck = int(subprocess.check_output(["getconf", "CLK_TCK"]).decode().strip())
        self.procs = Procs()
        self.sink_threads = str(args.sink_threads)
        self.workdir = tempfile.mkdtemp(prefix="tailsift-bench-")

    def pin(self, argv, cpus):
        """argv run on the given CPUs (taskset -c), or as it is."""
        return ["taskset", "-c", cpus] + argv if cpus else argv

    def server(self, argv):
        return self.pin(argv, self.args.server_cpus)

    def build(self):
        if self.args.no_build:
            return
        log("building tailsift and tailsift-loadgen (--release) ...")
        subprocess.check_call(["cargo", "build", "--release", "--quiet", "-p", "tailsift",
                               "-p", "tailsift-loadgen"], cwd=ROOT)

    def scenario_dir(self, name):
        d = os.path.join(self.workdir, name)
        os.makedirs(d, exist_ok=True)
        return d

    def start_sink(self, d):
        port = free_port()
        stats = os.path.join(d, "sink.json")
        p = self.procs.start("sink", self.pin([self.loadgen, "--threads", self.sink_threads, "sink",
                                               "--listen", f"127.0.0.1:{port}",
                                               "--stats-file", stats], self.args.load_cpus), d)
        wait_tcp(port, p)
        return p, port, stats

    def start_tailsift(self, d, config, sink_port, extra_yaml="", **params):
        grpc, metrics = free_port(), free_port()
        compression = self.compression
        if self.args.compression_level is not None and compression != "none":
            compression += f"\n    compression_level: {self.args.compression_level}"
        values = {"GRPC_PORT": grpc, "METRICS_PORT": metrics, "SINK_PORT": sink_port,
                  "COMPRESSION": compression, "DECISION_WAIT": "2s",
                  "ROOT_WAIT": "500ms", "MAX_TRACES": 1000000, "MAX_BUFFER_BYTES": "2GiB"}
        values.update(params)
        with open(os.path.join(HERE, config)) as f:
            text = string.Template(f.read()).substitute(values) + extra_yaml
        path = os.path.join(d, "tailsift.yaml")
        with open(path, "w") as f:
            f.write(text)
        env = None
        if self.args.preload:
            env = dict(os.environ, LD_PRELOAD=self.args.preload)
        p = self.procs.start("tailsift", self.server([self.tailsift, "--config", path]), d,
                             env=env)
        wait_ready(metrics, p)
        return p, grpc, metrics

    def collector_bin(self):
        """The Collector built by tests/peers/build.sh (built there the first time)."""
        path = os.environ.get("TAILSIFT_OTELCOL_BIN")
        if path:
            return path
        out = subprocess.check_output(["bash", os.path.join(ROOT, "tests/peers/build.sh"),
                                       "collector"], cwd=ROOT)
        return out.decode().strip().splitlines()[-1]

    def start_collector(self, d, config, sink_port):
        grpc, metrics = free_port(), free_port()
        values = {"GRPC_PORT": grpc, "METRICS_PORT": metrics, "SINK_PORT": sink_port,
                  "COMPRESSION": self.compression, "DECISION_WAIT": "2s",
                  "ROOT_WAIT": "500ms", "MAX_TRACES": 1000000}
        with open(os.path.join(HERE, config)) as f:
            text = string.Template(f.read()).substitute(values)
        path = os.path.join(d, "otelcol.yaml")
        with open(path, "w") as f:
            f.write(text)
        p = self.procs.start("otelcol", self.server([self.collector_bin(), "--config", path]), d)
        wait_tcp(grpc, p)
        wait_tcp(metrics, p)
        return p, grpc, metrics

    def rotel_agent(self):
        path = os.environ.get("ROTEL_AGENT")
        if path:
            return path
        find = [sys.executable, "-c",
                "import rotel, os; print(os.path.dirname(rotel.__file__))"]
        try:
            d = subprocess.check_output(find, stderr=subprocess.DEVNULL).decode().strip()
        except subprocess.CalledProcessError:
            log(f"installing rotel {ROTEL_VERSION} from PyPI ...")
            subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "--pre",
                                   f"rotel=={ROTEL_VERSION}"])
            d = subprocess.check_output(find).decode().strip()
        return os.path.join(d, "rotel-agent")

    def rotel_argv(self, agent, d, grpc, http, sink_port):
        return [agent, "start",
                "--otlp-grpc-endpoint", f"127.0.0.1:{grpc}",
                "--otlp-http-endpoint", f"127.0.0.1:{http}",
                "--otlp-receiver-metrics-disabled", "--otlp-receiver-logs-disabled",
                "--exporter", "otlp",
                "--otlp-exporter-endpoint", f"http://127.0.0.1:{sink_port}",
                "--otlp-exporter-protocol", "grpc",
                "--otlp-exporter-compression", self.compression,
                "--batch-max-size", "8192", "--batch-timeout", "200ms",
                "--pid-file", os.path.join(d, "rotel.pid"),
                "--log-file", os.path.join(d, "rotel-agent.log")]
        # Internal telemetry is off unless --enable-internal-telemetry is given.

    def start_rotel(self, d, sink_port):
        grpc, http = free_port(), free_port()
        argv = self.rotel_argv(self.rotel_agent(), d, grpc, http, sink_port)
        p = self.procs.start("rotel", self.server(argv), d)
        wait_tcp(grpc, p)
        return p, grpc, argv

    def loadgen_send(self, d, grpc_port, pid, extra):
        argv = self.pin([self.loadgen, "--threads", str(self.args.loadgen_threads), "send",
                         "--endpoint", f"http://127.0.0.1:{grpc_port}",
                         "--connections", str(self.args.connections),
                         "--inflight", str(self.args.inflight),
                         "--traces-per-request", str(self.request_spans // SPANS_PER_TRACE),
                         "--clk-tck", str(self.clk_tck)], self.args.load_cpus)
        if pid is not None:
            argv += ["--pid", str(pid)]
        argv += extra
        with open(os.path.join(d, "loadgen.err"), "wb") as err:
            out = subprocess.check_output(argv, stderr=err, cwd=d)
        return json.loads(out)

    def close(self):
        self.procs.stop_all()
        if not self.args.keep:
            subprocess.call(["rm", "-rf", self.workdir])
        else:
            log(f"logs and configs kept in {self.workdir}")


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def metrics(port):
    return parse_prom(http_get(f"http://127.0.0.1:{port}/metrics"))


def wait_drained(metrics_port, timeout=15.0):
    """Until tailsift's buffer and exporter queue are empty (all decided and sent)."""
    deadline = time.time() + timeout
    m = metrics(metrics_port)
    while time.time() < deadline:
        if (prom_sum(m, "tailsift_buffer_spans") == 0
                and prom_sum(m, "tailsift_exporter_queue_spans") == 0):
            break
        time.sleep(0.25)
        m = metrics(metrics_port)
    return m


def wait_sink_stable(stats, quiet=1.0, timeout=15.0):
    deadline = time.time() + timeout
    last, since = None, time.time()
    while time.time() < deadline:
        n = read_json(stats).get("spans")
        if n != last:
            last, since = n, time.time()
        elif time.time() - since >= quiet:
            break
        time.sleep(0.1)
    return read_json(stats)


def mib(kib):
    return None if kib is None else kib / 1024.0


def fmt(v, spec, none="-"):
    return none if v is None else format(v, spec)


def write_results(kind, doc):
    out_dir = os.path.join(ROOT, "bench-results")
    os.makedirs(out_dir, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    path = os.path.join(out_dir, f"{kind}-{stamp}.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
    print(f"\nresults: {os.path.relpath(path, os.getcwd())}")


def machine_info():
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg_at_start": load,
            "kernel": os.uname().release, "time": datetime.datetime.now().isoformat()}


# ---------------------------------------------------------------- e2e


SCENARIO_LABEL = {
    "keep-errors-p01": "tailsift, keep errors + 10%",
    "keep-all": "tailsift, keep all",
    "rotel": "Rotel pass-through",
    "collector-keep-errors-p01": "Collector tail_sampling, keep errors + 10%",
}


def run_cell(env, name, window, rep):
    """One scenario at the current request size and compression; its result record."""
    a = env.args
    r = {"scenario": name, "request_spans": env.request_spans, "compression": env.compression,
         "rep": rep}
    log(f"== {name}, {env.request_spans}-span requests, export compression {env.compression}: "
        f"warm-up {a.warmup}s, measured window {a.window}s")
    d = env.scenario_dir(f"{name}-{env.request_spans}-{env.compression}-{rep}")
    sink, sink_port, stats = env.start_sink(d)
    if name == "rotel":
        p, grpc, argv = env.start_rotel(d, sink_port)
        r["rotel_argv"] = argv[1:]
        time.sleep(0.5)
        lg = env.loadgen_send(d, grpc, p.pid, window)
        sink_stats = wait_sink_stable(stats)
        r["server"] = {"refused_requests": None, "exporter_failed_spans": None,
                       "exporter_sent_spans": None}
        r["p99"] = {"metric": None, "what": "n/a (pass-through)", "p99_s": None,
                    "note": "n/a", "samples": 0}
        expected = lg["spans_sent"]
    elif name.startswith("collector"):
        p, grpc, mport = env.start_collector(d, name + ".yaml", sink_port)
        lg = env.loadgen_send(d, grpc, p.pid, window + [
            "--metrics-url", f"http://127.0.0.1:{mport}/metrics", "--metrics-dump", d])
        with open(os.path.join(d, "metrics-start.txt")) as f1, \
                open(os.path.join(d, "metrics-end.txt")) as f2:
            start_text, end_text = f1.read(), f2.read()
        r["p99"] = collector_p99(start_text, end_text)
        r["buffered_spans"] = SPANS_PER_TRACE * prom_prefix_sum(
            parse_prom(end_text), "otelcol_processor_tail_sampling_sampling_traces_on_memory")
        # Decided after decision_wait, exported after the batch timeout: then quiet.
        time.sleep(3.0)
        sink_stats = wait_sink_stable(stats, quiet=2.0)
        m = metrics(mport)
        r["server"] = {
            "refused_requests": prom_prefix_sum(m, "otelcol_receiver_refused_spans"),
            "exporter_failed_spans": prom_prefix_sum(m, "otelcol_exporter_send_failed_spans"),
            "exporter_sent_spans": prom_prefix_sum(m, "otelcol_exporter_sent_spans"),
        }
        expected = r["server"]["exporter_sent_spans"]
    else:
        # `rules@write` / `rules@fsync`: the same rules with the storage log on.
        rules, _, sync = name.partition("@")
        extra = ""
        if sync:
            extra = (f"storage:\n  directory: {os.path.join(d, 'storage')}\n"
                     f"  max_bytes: 64GiB\n  sync: {sync}\n")
        p, grpc, mport = env.start_tailsift(d, rules + ".yaml", sink_port, extra)
        lg = env.loadgen_send(d, grpc, p.pid, window + [
            "--metrics-url", f"http://127.0.0.1:{mport}/metrics", "--metrics-dump", d])
        m = wait_drained(mport)
        sink_stats = wait_sink_stable(stats)
        with open(os.path.join(d, "metrics-start.txt")) as f1, \
                open(os.path.join(d, "metrics-end.txt")) as f2:
            r["p99"] = window_p99(f1.read(), f2.read())
        r["server"] = {
            "accepted_spans": prom_sum(m, "tailsift_receiver_accepted_spans_total"),
            "refused_requests": prom_sum(m, "tailsift_receiver_requests_total",
                                         outcome="refused"),
            "invalid_requests": prom_sum(m, "tailsift_receiver_requests_total",
                                         outcome="invalid"),
            "exporter_failed_spans": prom_sum(m, "tailsift_exporter_failed_spans_total"),
            "exporter_sent_spans": prom_sum(m, "tailsift_exporter_sent_spans_total"),
            "kept_spans": prom_sum(m, "tailsift_decided_spans_total", verdict="kept"),
            "dropped_spans": prom_sum(m, "tailsift_decided_spans_total", verdict="dropped"),
            "early_decided_traces": prom_sum(m, "tailsift_early_decided_traces_total"),
        }
        r["buffered_spans"] = prom_sum(parse_prom(open(os.path.join(
            d, "metrics-end.txt")).read()), "tailsift_buffer_spans")
        expected = r["server"]["exporter_sent_spans"]
    r["peak_rss_kib"] = proc_status_kib(p.pid, "VmHWM")
    r["sink_cpu_s"] = proc_cpu_s(sink.pid, env.clk_tck)
    env.procs.stop(p)
    env.procs.stop(sink)
    r["loadgen"] = lg
    r["sink"] = sink_stats
    r["sink_matches"] = sink_stats.get("spans") == expected
    w = lg.get("window", {})
    r["spans_per_s"] = w.get("spans_per_s")
    r["cpu_us_per_span"] = w.get("cpu_us_per_span")
    r["cpu_cores"] = w.get("cpu_cores")
    held = r.get("buffered_spans")
    r["rss_per_buffered_span_b"] = (r["peak_rss_kib"] * 1024 / held) if held else None
    return r
    log(f"   {fmt(r['spans_per_s'], ',.0f')} spans/s, "
        f"{fmt(r['cpu_us_per_span'], '.3f')} us/span, "
        f"peak RSS {fmt(mib(r['peak_rss_kib']), '.0f')} MiB")



def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def run_e2e(env):
    a = env.args
    window = ["--warmup", f"{a.warmup}s", "--duration", f"{a.window}s"]
    if a.rate:
        window += ["--rate", str(a.rate)]
    if a.matrix:
        sizes = [int(x) for x in a.matrix_sizes.split(",") if x]
        comps = [x for x in a.matrix_compressions.split(",") if x]
    else:
        sizes, comps = [a.request_spans], [a.compression]
    load_at_start = os.getloadavg()
    results = []
    for size in sizes:
        for comp in comps:
            env.request_spans, env.compression = size, comp
            for rep in range(a.repeat):
                for name in a.scenarios.split(","):
                    results.append(run_cell(env, name, window, rep))
    load_at_end = os.getloadavg()

    print()
    print(f"{'scenario':<28}{'req':>6}{'comp':>6}{'buffered spans':>16}{'RSS B/buffered span':>21}")
    for r in results:
        print(f"{r['scenario']:<28}{r['request_spans']:>6}{r['compression']:>6}"
              f"{fmt(r.get('buffered_spans'), ',.0f'):>16}"
              f"{fmt(r.get('rss_per_buffered_span_b'), ',.0f'):>21}")
    print()
    print(f"{'scenario':<27}{'req':>6}{'comp':>6}{'spans/s':>11}{'CPU us/span':>13}{'cores':>7}"
          f"{'peak RSS MiB':>14}{'refused':>9}{'failed':>8}{'p99 ms':>9}{'vs rotel':>10}"
          f"{'target':>9}")
    ok_all = True
    cells = {}
    for r in results:
        cells.setdefault((r["request_spans"], r["compression"], r["scenario"]), []).append(r)
    for r in results:
        lg = r["loadgen"]
        srv = r["server"]
        refused = lg["requests_refused"] + int(srv.get("refused_requests") or 0)
        failed = lg["requests_failed"] + int(srv.get("exporter_failed_spans") or 0)
        r["refused"], r["failed"] = refused, failed
        rotel = median(x["cpu_us_per_span"] for x in
                       cells.get((r["request_spans"], r["compression"], "rotel"), []))
        ratio = (r["cpu_us_per_span"] / rotel) if rotel and r["cpu_us_per_span"] else None
        r["ratio_vs_rotel"] = ratio
        target = TARGET_RATIO.get(r["scenario"])
        verdict = ""
        if target is not None and ratio is not None:
            verdict = f"<={target} " + ("ok" if ratio <= target else "MISS")
            ok_all &= ratio <= target
        p99 = r["p99"]
        p99_txt = "-" if p99["p99_s"] is None else f"{p99['note']}{p99['p99_s'] * 1000:.1f}"
        if p99["p99_s"] is not None and p99["metric"] == "tailsift_decision_lateness_seconds":
            ok_all &= p99["p99_s"] <= TARGET_P99_S and p99["note"] != ">"
        ok_all &= refused == 0 and failed == 0 and r["sink_matches"]
        print(f"{r['scenario']:<27}{r['request_spans']:>6}{r['compression']:>6}"
              f"{fmt(r['spans_per_s'], ',.0f'):>11}"
              f"{fmt(r['cpu_us_per_span'], '.3f'):>13}{fmt(r['cpu_cores'], '.2f'):>7}"
              f"{fmt(mib(r['peak_rss_kib']), '.0f'):>14}{refused:>9}{failed:>8}{p99_txt:>9}"
              f"{fmt(ratio, '.2f'):>10}{verdict:>9}")
    print()
    for r in results:
        if r["p99"]["metric"]:
            print(f"p99 of {r['scenario']}: {r['p99']['what']} "
                  f"({r['p99']['metric']}, {r['p99']['samples']:.0f} traces in the window)")
            break
    for r in results:
        srv = r["server"]
        extra = ""
        if srv.get("kept_spans") is not None:
            extra = (f", kept {srv['kept_spans']:.0f} / accepted {srv['accepted_spans']:.0f}"
                     f", exported {srv['exporter_sent_spans']:.0f}")
        print(f"{r['scenario']} ({r['request_spans']}, {r['compression']}): loadgen sent "
              f"{r['loadgen']['spans_sent']} spans "
              f"({r['loadgen']['spans_per_s']:,.0f}/s over {r['loadgen']['elapsed_s']:.1f}s, "
              f"request p99 {r['loadgen']['request_latency_ms']['p99']:.1f} ms){extra}; "
              f"sink got {r['sink'].get('spans')} using {fmt(r['sink_cpu_s'], '.1f')} CPU s "
              f"({'matches' if r['sink_matches'] else 'MISMATCH'})")
    print(f"\nall targets met: {'yes' if ok_all else 'NO'} "
          f"(load: {'full speed' if not a.rate else f'{a.rate:,.0f} spans/s'}; "
          f"load average at start {load_at_start[0]:.2f}, at the end {load_at_end[0]:.2f})")
    print()
    print(markdown_table(cells, results, a, load_at_start, load_at_end))
    write_results("e2e", {"kind": "e2e", "machine": machine_info(), "args": vars(env.args),
                          "targets": {"ratio_vs_rotel": TARGET_RATIO, "p99_s": TARGET_P99_S},
                          "loadavg_at_end": load_at_end,
                          "all_targets_met": ok_all, "results": results})


def markdown_table(cells, results, a, load_at_start, load_at_end):
    """The README's table: one row per request size x compression x process, medians over
    the repetitions (min-max when there are several)."""
    cpu = f"CPU µs/span{' (median, min-max)' if a.repeat > 1 else ''}"
    out = [f"| request | export | process | spans/s | {cpu} | vs Rotel | peak RSS | "
           f"refused / failed | p99 due → export queue |",
           "|---|---|---|---|---|---|---|---|---|"]
    seen = []
    for r in results:
        key = (r["request_spans"], r["compression"], r["scenario"])
        if key not in seen:
            seen.append(key)
    for key in seen:
        rs = cells[key]
        size, comp, name = key
        c = [x["cpu_us_per_span"] for x in rs if x["cpu_us_per_span"] is not None]
        c_txt = fmt(median(c), ".2f")
        if len(c) > 1:
            c_txt += f" ({min(c):.2f}-{max(c):.2f})"
        ratio = median(x.get("ratio_vs_rotel") for x in rs)
        p99 = median(x["p99"]["p99_s"] for x in rs)
        over = any(x["p99"]["note"] == ">" for x in rs)
        p99_txt = "-" if p99 is None else f"{'> ' if over else ''}{p99 * 1000:,.0f} ms"
        if name.startswith("collector") and p99 is not None:
            p99_txt += " (1 s tick)"
        out.append(
            f"| {size} spans | {comp} | {SCENARIO_LABEL.get(name, name)} "
            f"| {fmt(median(x['spans_per_s'] for x in rs), ',.0f')} | {c_txt} "
            f"| {fmt(ratio, '.2f')} | {fmt(mib(median(x['peak_rss_kib'] for x in rs)), ',.0f')} MiB "
            f"| {sum(x['refused'] for x in rs)} / {sum(x['failed'] for x in rs)} | {p99_txt} |")
    cmd = " ".join(["benches/e2e/run.sh"] + sys.argv[2:])
    out.append("")
    out.append(f"{datetime.date.today().isoformat()}, {os.cpu_count()} cores, `{cmd}`, "
               f"load average {load_at_start[0]:.1f} at the start and {load_at_end[0]:.1f} "
               f"at the end; windows of {a.window:g} s after {a.warmup:g} s of warm-up, "
               f"{a.repeat} run(s) per cell.")
    return "\n".join(out)


# ---------------------------------------------------------------- memory


def wait_buffered(mport, spans, proc, timeout):
    deadline = time.time() + timeout
    m = metrics(mport)
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("tailsift exited")
        if prom_sum(m, "tailsift_buffer_spans") >= spans:
            return m, True
        time.sleep(0.25)
        m = metrics(mport)
    return m, False


def run_memory(env):
    a = env.args
    held = {"DECISION_WAIT": "10m", "ROOT_WAIT": "10m", "MAX_TRACES": 4000000,
            "MAX_BUFFER_BYTES": "12GiB"}
    rows = []
    for n in [int(x) for x in a.traces.split(",") if x]:
        log(f"== memory: {n} traces held")
        d = env.scenario_dir(f"memory-{n}")
        sink, sink_port, _ = env.start_sink(d)
        extra = ""
        if a.storage:
            # The log's budget is far above what the run writes, so nothing is refused.
            extra = (f"storage:\n  directory: {os.path.join(d, 'storage')}\n"
                     f"  max_bytes: 64GiB\n  sync: write\n")
        p, grpc, mport = env.start_tailsift(d, "keep-errors-p01.yaml", sink_port, extra, **held)
        time.sleep(1.0)
        started = proc_status_kib(p.pid, "VmRSS")
        # Warm-up: a few traces of other ids (another seed) over the same connections, held
        # like the rest, so that what the first requests set up once (connection buffers, the
        # allocator's per-thread arenas) is in the baseline, not divided among the spans.
        warm = 0
        if a.memory_warmup > 0:
            env.loadgen_send(d, grpc, None, ["--unique-traces", str(a.memory_warmup),
                                             "--seed", "4242"])
            m, _ = wait_buffered(mport, a.memory_warmup * SPANS_PER_TRACE, p, timeout=60)
            time.sleep(0.5)
            warm = prom_sum(m, "tailsift_buffer_spans")
            warm_bytes = prom_sum(m, "tailsift_buffer_bytes")
        base = proc_status_kib(p.pid, "VmRSS")
        t0 = time.time()
        lg = env.loadgen_send(d, grpc, None, ["--unique-traces", str(n)])
        send_s = time.time() - t0
        m, complete = wait_buffered(mport, warm + n * SPANS_PER_TRACE, p, timeout=60)
        time.sleep(0.5)  # let the allocator settle; the gauge is updated on ticks
        rss = proc_status_kib(p.pid, "VmRSS")
        hwm = proc_status_kib(p.pid, "VmHWM")
        spans = prom_sum(m, "tailsift_buffer_spans") - warm
        held_bytes = prom_sum(m, "tailsift_buffer_bytes") - (warm_bytes if warm else 0)
        env.procs.stop(p, sig=signal.SIGKILL)
        env.procs.stop(sink)
        encoded = lg["mean_span_bytes"]
        per_span = (rss - base) * 1024.0 / max(spans, 1)
        limit = 1.2 * encoded
        rows.append({"traces": n, "spans_held": spans, "complete": complete,
                     "refused": lg["requests_refused"], "failed": lg["requests_failed"],
                     "send_s": send_s, "send_spans_per_s": lg["spans_per_s"],
                     "rss_started_kib": started, "warmup_spans": warm,
                     "rss_baseline_kib": base, "rss_kib": rss, "hwm_kib": hwm,
                     "rss_growth_per_span": per_span, "encoded_span_bytes": encoded,
                     # The request body as received, per span (the loadgen's default of 64
                     # traces per request: 512 spans): span, its framing, shared resource/scope.
                     "body_bytes_per_span": lg.get("mean_request_bytes", 0) / (SPANS_PER_TRACE * 64),
                     "buffer_bytes_per_span": held_bytes / max(spans, 1),
                     "target_bytes_per_span": limit, "ok": per_span <= limit and complete})
        log(f"   {spans:.0f} spans held, RSS +{(rss - base) / 1024:.0f} MiB, "
            f"{per_span:.0f} B/span (target <= {limit:.0f}; request body "
            f"{rows[-1]['body_bytes_per_span']:.1f} B/span)")

    flat = []
    if not a.skip_flat:
        for wait in a.flat_waits.split(","):
            secs = parse_secs(wait)
            warm = secs + a.flat_settle
            log(f"== flat cost: {a.flat_rate:.0f} spans/s, decision_wait {wait} "
                f"(~{a.flat_rate / SPANS_PER_TRACE * secs:,.0f} live traces), warm-up {warm:.0f}s, "
                f"window {a.flat_window}s")
            d = env.scenario_dir(f"flat-{wait}")
            sink, sink_port, _ = env.start_sink(d)
            p, grpc, mport = env.start_tailsift(
                d, "keep-errors-p01.yaml", sink_port, DECISION_WAIT=wait, ROOT_WAIT=wait,
                MAX_TRACES=4000000, MAX_BUFFER_BYTES="12GiB")
            lg = env.loadgen_send(d, grpc, p.pid, [
                "--rate", str(a.flat_rate), "--warmup", f"{warm}s",
                "--duration", f"{a.flat_window}s",
                "--metrics-url", f"http://127.0.0.1:{mport}/metrics", "--metrics-dump", d])
            with open(os.path.join(d, "metrics-start.txt")) as f1, \
                    open(os.path.join(d, "metrics-end.txt")) as f2:
                t1, t2 = f1.read(), f2.read()
            ms, me, p99 = parse_prom(t1), parse_prom(t2), window_p99(t1, t2)
            hwm = proc_status_kib(p.pid, "VmHWM")
            m = metrics(mport)
            env.procs.stop(p, sig=signal.SIGKILL)
            env.procs.stop(sink)
            w = lg["window"]
            flat.append({"decision_wait": wait, "rate": a.flat_rate,
                         "live_traces_start": prom_sum(ms, "tailsift_buffer_traces"),
                         "live_traces_end": prom_sum(me, "tailsift_buffer_traces"),
                         "spans_per_s": w["spans_per_s"], "cpu_us_per_span": w["cpu_us_per_span"],
                         "cpu_cores": w["cpu_cores"], "peak_rss_kib": hwm, "p99": p99,
                         "sys_us_per_span": w["cpu_sys_s"] * 1e6 / max(w["spans_ok"], 1),
                         "minor_faults_per_span": w["minor_faults"] / max(w["spans_ok"], 1),
                         "refused": lg["requests_refused"] + prom_sum(
                             m, "tailsift_receiver_requests_total", outcome="refused"),
                         "failed": lg["requests_failed"] + prom_sum(
                             m, "tailsift_exporter_failed_spans_total"),
                         "early_decided": prom_sum(m, "tailsift_early_decided_traces_total")})
            log(f"   {w['spans_per_s']:,.0f} spans/s, {w['cpu_us_per_span']:.3f} us/span, "
                f"{flat[-1]['live_traces_end']:,.0f} live traces")

    print()
    print("Buffered memory (decision_wait 10m: nothing decided"
          f"{'; storage on, sync: write' if a.storage else ''})")
    print(f"{'traces':>9}{'spans held':>12}{'RSS base MiB':>14}{'RSS MiB':>9}"
          f"{'RSS B/span':>12}{'encoded B/span':>16}{'held B/span':>13}{'target B/span':>15}"
          f"{'':>6}")
    ok_all = True
    for r in rows:
        ok_all &= r["ok"] and r["refused"] == 0 and r["failed"] == 0
        print(f"{r['traces']:>9}{r['spans_held']:>12.0f}{mib(r['rss_baseline_kib']):>14.0f}"
              f"{mib(r['rss_kib']):>9.0f}{r['rss_growth_per_span']:>12.0f}"
              f"{r['encoded_span_bytes']:>16.0f}{r['buffer_bytes_per_span']:>13.0f}"
              f"{r['target_bytes_per_span']:>15.0f}{'ok' if r['ok'] else 'MISS':>6}")
    print(f"  RSS B/span = (VmRSS - VmRSS after start-up and {a.memory_warmup} warm-up traces) / "
          "spans held after them; encoded = mean encoded Span message; held = "
          "tailsift_buffer_bytes / spans; target = 1.2 x encoded")
    if flat:
        print()
        print(f"CPU per span as live traces grow (rate {a.flat_rate:,.0f} spans/s, "
              f"keep errors + 10%)")
        print(f"{'decision_wait':>14}{'live traces':>13}{'spans/s':>10}{'CPU us/span':>13}"
              f"{'of it sys':>11}{'faults/span':>13}{'cores':>7}{'peak RSS MiB':>14}"
              f"{'p99 ms':>8}{'refused':>9}{'failed':>8}")
        for r in flat:
            p99 = r["p99"]
            p99_txt = "-" if p99["p99_s"] is None else f"{p99['note']}{p99['p99_s'] * 1000:.1f}"
            print(f"{r['decision_wait']:>14}{r['live_traces_end']:>13,.0f}{r['spans_per_s']:>10,.0f}"
                  f"{r['cpu_us_per_span']:>13.3f}{r['sys_us_per_span']:>11.3f}"
                  f"{r['minor_faults_per_span']:>13.3f}{r['cpu_cores']:>7.2f}"
                  f"{mib(r['peak_rss_kib']):>14.0f}{p99_txt:>8}{r['refused']:>9.0f}"
                  f"{r['failed']:>8.0f}")
            ok_all &= r["refused"] == 0 and r["failed"] == 0
        costs = [r["cpu_us_per_span"] for r in flat]
        spread = max(costs) / min(costs) - 1 if min(costs) > 0 else None
        flat_ok = spread is not None and spread <= 0.20
        ok_all &= flat_ok
        print(f"  largest / smallest CPU per span: +{spread * 100:.0f}% "
              f"(target within 20%: {'ok' if flat_ok else 'MISS'})")
    print(f"\nall targets met: {'yes' if ok_all else 'NO'} "
          f"(load average at start {machine_info()['loadavg_at_start'][0]:.2f})")
    write_results("memory", {"kind": "memory", "machine": machine_info(), "args": vars(env.args),
                             "all_targets_met": ok_all, "memory": rows, "flat": flat})


# ---------------------------------------------------------------- outage


OUTAGE_RULES = {
    "keep-all": "    - { name: all, keep: true }",
    "keep-errors-p01": "    - { name: errors, when: { span: { status: error } }, keep: true }\n"
                       "    - { name: rest, probability: 0.1 }",
}


def run_outage(env):
    """Storage on, load at a fixed rate, the backend down for --outage seconds then back:
    refusals, RSS against memory_limit (and against what memory_limit counts), parked spans
    and the log's size during the outage, then the time until everything accepted has reached
    the backend. Fails unless nothing was refused or failed, everything drained, and peak RSS
    stayed under memory_limit."""
    a = env.args
    d = env.scenario_dir("outage")
    sink_port = free_port()  # nothing listens there until the backend returns
    p, grpc, mport = env.start_tailsift(
        d, "outage.yaml", sink_port, DECISION_WAIT=a.decision_wait, ROOT_WAIT="2s",
        RULES=OUTAGE_RULES[a.rules], STORAGE_DIR=os.path.join(d, "storage"))
    limit = prom_sum(metrics(mport), "tailsift_memory_limit_bytes")
    duration = a.outage + a.after
    argv = [env.loadgen, "--threads", str(a.loadgen_threads), "send",
            "--endpoint", f"http://127.0.0.1:{grpc}", "--connections", str(a.connections),
            "--inflight", str(a.inflight),
            "--traces-per-request", str(env.request_spans // SPANS_PER_TRACE),
            "--rate", str(a.rate), "--duration", f"{duration:g}s"]
    log(f"== outage: {a.rate:g} spans/s for {duration:g} s, backend down for the first "
        f"{a.outage:g} s ({a.rules}, memory_limit {limit / 2**20:.0f} MiB)")
    out_path, err_path = os.path.join(d, "loadgen.json"), os.path.join(d, "loadgen.err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        lg = subprocess.Popen(argv, stdout=out, stderr=err, cwd=d)
    t0 = time.time()
    timeline, peak = [], {"rss_kib": 0, "parked": 0, "storage_bytes": 0, "retained": 0,
                          "counted": 0}

    def sample(phase):
        m = metrics(mport)
        row = {"t": round(time.time() - t0, 1), "phase": phase,
               "rss_kib": proc_status_kib(p.pid, "VmRSS"),
               "parked": prom_sum(m, "tailsift_export_parked_spans"),
               "buffer_spans": prom_sum(m, "tailsift_buffer_spans"),
               "storage_bytes": prom_sum(m, "tailsift_storage_bytes"),
               "retained": prom_sum(m, "tailsift_buffer_retained_bytes"),
               "parked_bytes": prom_sum(m, "tailsift_export_parked_bytes"),
               "refused": prom_sum(m, "tailsift_receiver_requests_total", outcome="refused")}
        # What memory_limit counts (bytes being received aside).
        row["counted"] = (row["retained"] + (row["parked_bytes"] or 0)
                          + prom_sum(m, "tailsift_exporter_queue_bytes")
                          + prom_sum(m, "tailsift_export_pending_bytes"))
        timeline.append(row)
        for k in peak:
            peak[k] = max(peak[k], row[k] or 0)
        return m, row

    while time.time() - t0 < a.outage:
        if p.poll() is not None:
            raise RuntimeError("tailsift exited during the outage")
        sample("outage")
        time.sleep(1.0)
    _, at_end = sample("outage")
    log(f"outage over: {at_end['parked']:.0f} spans parked, log {at_end['storage_bytes'] / 1e6:.0f} MB, "
        f"RSS {at_end['rss_kib'] / 1024:.0f} MiB, counted in memory_limit "
        f"{at_end['counted'] / 2**20:.0f} MiB (parked entries {at_end['parked_bytes'] / 2**20:.0f} "
        f"MiB), {at_end['refused']:.0f} requests refused")
    sink = env.procs.start("sink", [env.loadgen, "--threads", env.sink_threads, "sink",
                                    "--listen", f"127.0.0.1:{sink_port}", "--stats-file",
                                    os.path.join(d, "sink.json")], d)
    back = time.time()
    lg.wait()
    sent = read_json(out_path)
    drained_at = None
    deadline = time.time() + a.drain_timeout
    while time.time() < deadline:
        m, row = sample("after")
        if (row["parked"] == 0 and row["buffer_spans"] == 0
                and prom_sum(m, "tailsift_exporter_queue_spans") == 0):
            drained_at = time.time()
            break
        time.sleep(1.0)
    got = wait_sink_stable(os.path.join(d, "sink.json"), quiet=2.0, timeout=30.0)
    m = metrics(mport)
    exported = prom_sum(m, "tailsift_exporter_sent_spans_total")
    failed = prom_sum(m, "tailsift_exporter_failed_spans_total")
    hwm = proc_status_kib(p.pid, "VmHWM")
    env.procs.stop(p)
    env.procs.stop(sink)
    accepted = sent.get("spans_sent", 0)
    result = {
        "rate": a.rate, "outage_s": a.outage, "after_s": a.after, "rules": a.rules,
        "memory_limit_bytes": limit, "spans_accepted": accepted,
        "spans_refused": sent.get("spans_refused"), "requests_refused": sent.get("requests_refused"),
        "peak_parked": peak["parked"], "peak_storage_bytes": peak["storage_bytes"],
        "peak_rss_kib": peak["rss_kib"], "vm_hwm_kib": hwm, "peak_retained_bytes": peak["retained"],
        "peak_counted_bytes": peak["counted"], "at_outage_end": at_end,
        "drain_s": None if drained_at is None else drained_at - back,
        "exported_spans": exported, "failed_spans": failed, "sink_spans": got.get("spans"),
        "machine": machine_info(), "timeline": timeline,
    }
    print("\n| rate | outage | rules | refused | peak parked | peak log | peak RSS | memory_limit "
          "| accepted | delivered | failed | drain after the backend's return |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {a.rate:,.0f} spans/s | {a.outage:g} s | {a.rules} | "
          f"{result['spans_refused']} spans | {peak['parked']:,.0f} | "
          f"{peak['storage_bytes'] / 1e9:.2f} GB | {fmt(mib(hwm), '.0f')} MiB | "
          f"{limit / 2**20:.0f} MiB | {accepted:,} | {fmt(got.get('spans'), ',')} | {failed:.0f} | "
          f"{fmt(result['drain_s'], '.0f')} s |")
    write_results("outage", result)
    ok = (result["spans_refused"] == 0 and failed == 0 and drained_at is not None
          and hwm * 1024 < limit
          and (a.rules != "keep-all" or got.get("spans") == accepted))
    if not ok:
        raise RuntimeError("the outage was not absorbed: see the table above")


def parse_secs(s):
    s = s.strip()
    for unit, mult in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if s.endswith(unit):
            return float(s[: -len(unit)]) * mult
    return float(s)


def main():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--no-build", action="store_true", help="use the binaries already built")
    common.add_argument("--keep", action="store_true",
                        help="keep logs, configs and metrics dumps (printed path)")
    common.add_argument("--connections", type=int, default=4)
    common.add_argument("--inflight", type=int, default=2,
                        help="requests in flight per connection")
    common.add_argument("--sink-threads", type=int, default=1,
                        help="runtime threads of the counting sink")
    common.add_argument("--compression", choices=["none", "gzip"], default="gzip",
                        help="compression of exports to the sink, every process alike (default "
                             "gzip, the exporters' default; Rotel and the Collector take "
                             "gzip or none)")
    common.add_argument("--compression-level", type=int, default=None,
                        help="tailsift's exporter compression_level (default: its default)")
    common.add_argument("--request-spans", type=int, default=512,
                        help="spans per request (a multiple of 8: half of them start new "
                             "traces, half finish the previous request's)")
    common.add_argument("--tailsift-bin", default=None,
                        help="tailsift binary to run (default: the one built)")
    common.add_argument("--preload", default=None,
                        help="LD_PRELOAD for tailsift, e.g. another malloc for a build on the "
                             "system allocator (--no-default-features)")
    common.add_argument("--server-cpus", default=None,
                        help="taskset -c list for the process under test, e.g. 1 or 0,1")
    common.add_argument("--load-cpus", default=None,
                        help="taskset -c list for the load generator and the sink, e.g. 0")
    common.add_argument("--loadgen-threads", type=int, default=1,
                        help="runtime threads of the load generator")
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="kind", required=True)
    e = sub.add_parser("e2e", parents=[common], help="throughput / CPU / RSS vs rotel")
    e.add_argument("--warmup", type=float, default=4.0, help="seconds of load before measuring")
    e.add_argument("--window", type=float, default=15.0, help="measured seconds")
    e.add_argument("--scenarios", default="keep-errors-p01,keep-all,rotel,collector-keep-errors-p01",
                   help="collector-keep-errors-p01 is the Collector with tail_sampling, built by "
                        "tests/peers/build.sh; RULES@write and RULES@fsync (e.g. "
                        "keep-errors-p01@write) run tailsift with the storage log on")
    e.add_argument("--rate", type=float, default=None,
                   help="spans per second for every scenario (default: as fast as possible)")
    e.add_argument("--matrix", action="store_true",
                   help="every request size x compression (--matrix-sizes, "
                        "--matrix-compressions) x scenario, then the README's Markdown table")
    e.add_argument("--matrix-sizes", default="64,512,8192")
    e.add_argument("--matrix-compressions", default="gzip,none")
    e.add_argument("--repeat", type=int, default=1,
                   help="runs per cell (the tables show medians)")
    m = sub.add_parser("memory", parents=[common],
                       help="RSS per buffered span; CPU per span vs live traces")
    m.add_argument("--traces", default="10000,100000,1000000")
    m.add_argument("--skip-flat", action="store_true")
    m.add_argument("--memory-warmup", type=int, default=1000,
                   help="traces sent (and held) before the baseline is taken; 0: none")
    m.add_argument("--storage", action="store_true",
                   help="hold the traces with storage on (a log in the run's directory)")
    m.add_argument("--flat-rate", type=float, default=200000.0, help="spans per second")
    m.add_argument("--flat-waits", default="400ms,40s",
                   help="decision_wait (= root_wait) values: live traces = rate / 8 x wait")
    m.add_argument("--flat-settle", type=float, default=5.0,
                   help="seconds past decision_wait before measuring")
    m.add_argument("--flat-window", type=float, default=15.0)
    o = sub.add_parser("outage", parents=[common],
                       help="storage on, backend down for a while under steady load")
    o.add_argument("--rate", type=float, default=20000.0, help="spans per second")
    o.add_argument("--outage", type=float, default=600.0, help="seconds the backend is down")
    o.add_argument("--after", type=float, default=30.0,
                   help="seconds of load after the backend returns")
    o.add_argument("--rules", choices=sorted(OUTAGE_RULES), default="keep-all")
    o.add_argument("--decision-wait", default="10s")
    o.add_argument("--drain-timeout", type=float, default=900.0)
    args = ap.parse_args()
    env = Env(args)
    try:
        env.build()
        for b in (env.tailsift, env.loadgen):
            if not os.access(b, os.X_OK):
                sys.exit(f"{b} not found: build with cargo build --release")
        if args.kind == "e2e":
            run_e2e(env)
        elif args.kind == "outage":
            run_outage(env)
        else:
            run_memory(env)
    except (RuntimeError, subprocess.CalledProcessError) as err:
        log(f"bench failed: {err}")
        args.keep = True
        sys.exit(1)
    finally:
        env.close()


if __name__ == "__main__":
    main()
