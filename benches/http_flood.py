#!/usr/bin/env python3
"""The endpoint under a flood of /report requests: what the render bound buys.

    python3 benches/http_flood.py [--clients 1000] [--binary target/release/incident-monitor]

Loads the ncsc-2022 state once, then, for each setting of
[metrics] max_report_renders (the shipped 2, and 64 as the reference of an
almost unbounded endpoint), starts `run --input -` on it, fires CLIENTS
concurrent `GET /report?month=2022-06` (half en, half vi, HTML) from as many
threads, and reports the answers (200 or 503, anything else is a failure),
the wall time of the flood and the process's peak RSS growth (VmHWM, from
/proc) over its RSS before the flood. Ratios are against the reference run
in the same script.
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
    proc = subprocess.Popen(
        [binary, "run", "--input", "-", "--config", run_cfg, "--metrics-addr", "127.0.0.1:0",
         "--state-dir", state],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    addr = None
    for line in proc.stderr:
        m = re.search(r"serving /metrics.* addr=(\S+)", line)
        if m:
            addr = m.group(1)
            break
    threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=1000)
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
