#!/usr/bin/env python3
"""The endpoint under a flood of /report requests: what the render bound buys.

    python3 benches/http_flood.py [--clients 1000] [--binary target/release/incident-monitor]
    python3 benches/http_flood.py --auth [--requests 200]

Loads the ncsc-2022 state once, then, for each setting of
[metrics] max_report_renders (the shipped 2, and 64 as the reference of an
almost unbounded endpoint), starts `run --input -` on it, fires CLIENTS
concurrent `GET /report?month=2022-06` (half en, half vi, HTML) from as many
threads, and reports the answers (200 or 503, anything else is a failure),
the wall time of the flood and the process's peak RSS growth (VmHWM, from
/proc) over its RSS before the flood. Ratios are against the reference run
in the same script.

With --auth it measures what TLS and basic auth cost a scrape instead: the
monitor with a web config (a certificate from scripts/make-certs.sh, one
user with a bcrypt hash of cost 10, as `htpasswd -nBC 10` makes), then
REQUESTS sequential HTTPS `GET /metrics` with the password, each on a new
connection as Prometheus does after an idle interval, against `GET /healthz`
(TLS, no password) and plain-HTTP `/metrics` on a monitor without a web
config: the median latency of each, and the ratios. bcrypt comes from
PyPI into the tools virtualenv.
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(field)


def get(addr, path, timeout=120):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n".encode())
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    m = re.match(rb"HTTP/1\.1 (\d+)", buf)
    return int(m.group(1)) if m else 0


def flood(binary, cfg, state, clients, renders):
    text = open(cfg).read() + f"\n[metrics]\nmax_report_renders = {renders}\n"
    run_cfg = cfg + f".{renders}.toml"
    open(run_cfg, "w").write(text)
    proc, addr = start(binary, run_cfg, state)
    assert get(addr, "/report?month=2022-06") == 200
    before = kib(proc.pid, "VmRSS:")
    results = [0] * clients
    barrier = threading.Barrier(clients)

    def one(i):
        lang = "en" if i % 2 == 0 else "vi"
        barrier.wait()
        try:
            results[i] = get(addr, f"/report?month=2022-06&lang={lang}&format=html")
        except OSError:
            results[i] = -1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    started = time.monotonic()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    peak = kib(proc.pid, "VmHWM:")
    proc.stdin.close()
    proc.terminate()
    proc.wait()
    ok = results.count(200)
    busy = results.count(503)
    other = clients - ok - busy
    return {"renders": renders, "ok": ok, "busy": busy, "other": other, "wall": wall,
            "growth_kib": peak - before}


def start(binary, cfg, state, more=()):
    proc = subprocess.Popen(
        [binary, "run", "--input", "-", "--config", cfg, "--metrics-addr", "127.0.0.1:0",
         "--state-dir", state, *more],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"serving /metrics.* addr=(\S+)", line)
        if m:
            threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()
            return proc, m.group(1)
    raise RuntimeError("the monitor did not start")


def latency(addr, path, n, ctx=None, auth=None):
    import base64
    import http.client
    import statistics
    host, port = addr.rsplit(":", 1)
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        if ctx:
            c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
        else:
            c = http.client.HTTPConnection(host, int(port), timeout=30)
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        r.read()
        c.close()
        assert r.status == 200, r.status
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def auth_costs(binary, cfg, state, n):
    import ssl
    try:
        import bcrypt
    except ImportError:
        venv = os.path.join(ROOT, ".tools/venv/bin")
        subprocess.run([os.path.join(venv, "pip"), "install", "--quiet",
                        "--disable-pip-version-check", "bcrypt"], check=True)
        os.execv(os.path.join(venv, "python"), [os.path.join(venv, "python"), *sys.argv])
    d = os.path.dirname(cfg)
    certs = os.path.join(d, "certs")
    subprocess.run([os.path.join(ROOT, "scripts/make-certs.sh"), certs], check=True)
    hashed = bcrypt.hashpw(b"scrape-password", bcrypt.gensalt(10)).decode()
    web = os.path.join(d, "web.yml")
    open(web, "w").write(
        f"tls_server_config:\n  cert_file: {certs}/server.pem\n  key_file: {certs}/server.key\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    plain, paddr = start(binary, cfg, state + "-plain")
    rows = [("plain HTTP /metrics (reference)", latency(paddr, "/metrics", n))]
    plain.stdin.close()
    plain.terminate()
    plain.wait()
    secured, saddr = start(binary, cfg, state + "-tls", ["--web-config", web])
    rows.append(("HTTPS /healthz (TLS, no password)", latency(saddr, "/healthz", n, ctx)))
    rows.append(("HTTPS /metrics with basic auth (bcrypt cost 10)",
                 latency(saddr, "/metrics", n, ctx, "prometheus:scrape-password")))
    secured.stdin.close()
    secured.terminate()
    secured.wait()
    print(f"{n} sequential requests, each on a new connection (median)")
    print("| request | median ms | / reference |")
    print("|---|---|---|")
    for name, t in rows:
        print(f"| {name} | {t * 1000:.2f} | {t / rows[0][1]:.1f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--auth", action="store_true")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/incident-monitor"))
    a = ap.parse_args()
    if not os.path.exists(a.binary):
        subprocess.run(["cargo", "build", "--release", "--bin", "incident-monitor"], cwd=ROOT,
                       check=True)
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "ncsc.toml")
        open(cfg, "w").write(open(os.path.join(ROOT, "config/ncsc-vietnam.toml")).read())
        state = os.path.join(d, "state")
        events = subprocess.run([a.binary, "generate", "--scenario", "ncsc-2022"], check=True,
                                capture_output=True).stdout
        subprocess.run([a.binary, "run", "--input", "-", "--config", cfg, "--state-dir", state],
                       input=events, check=True, capture_output=True)
        if a.auth:
            for s in ("-plain", "-tls"):
                subprocess.run(["cp", "-r", state, state + s], check=True)
            auth_costs(a.binary, cfg, state, a.requests)
            return
        rows = [flood(a.binary, cfg, state, a.clients, r) for r in (64, 2)]
    ref = rows[0]
    print(f"{a.clients} concurrent GET /report (ncsc-2022 state, HTML, en/vi)")
    print("| max_report_renders | 200 | 503 | other | flood wall s | peak RSS growth MiB | growth / reference |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['renders']} | {r['ok']} | {r['busy']} | {r['other']} | {r['wall']:.2f} | "
              f"{r['growth_kib'] / 1024:.1f} | {r['growth_kib'] / max(ref['growth_kib'], 1):.2f} |")
    if any(r["other"] for r in rows):
        sys.exit("some answers were neither the report nor 503")


if __name__ == "__main__":
    main()
