#!/usr/bin/env python3
"""End-to-end throughput benchmark: the monitor against the raw consumer and
a Python consumer, on a real Kafka-protocol broker (Tansu).

    python3 benches/e2e.py [--events 2000000] [--runs 3] [--partitions 4] [--scaling]
    python3 benches/e2e.py --runs 5 --compare before=/tmp/im-before after=target/release/incident-monitor
    python3 benches/e2e.py --runs 5 --mixed
    python3 benches/e2e.py --runs 5 --reference

It installs what it needs (scripts/tools.sh, confluent-kafka and
prometheus_client in the tools virtualenv), builds the release binaries,
starts the broker, loads a topic with `incident-monitor generate --scenario
live` (about 450-byte events, every category, re-deliveries, a few invalid
lines), then drains the same topic several times, alternating the order of:

  (a) raw      benches/raw_consumer.rs: same librdkafka and settings, counts only
  (b) monitor  incident-monitor run --until-end (default config + test-broker
               session settings): full pipeline, metrics, checkpoints
  (c) python   benches/python_consumer.py: confluent-kafka + json.loads +
               dict classification + prometheus_client counter

Each run uses a fresh consumer group (and for (b) a fresh state directory).
Rates are messages per second from each consumer's first message to the end
of every partition (group join excluded; wall time including start-up is
reported too). CPU seconds and peak RSS come from the kernel (wait4); the
broker's CPU seconds during each run from /proc (it shares the machine). With
--scaling it also drains 250k/500k/1M/2M-event topics with the monitor, and
the 2M topic with smaller dedup bounds, to show how cost grows. With
--compare it drains with the raw consumer and each given build instead, for
before/after figures of one change on the same broker in the same run. With
--mixed the events are split over four topics, one per tool format
(suricata-eve, wazuh, ecs, ocsf: `generate --format`), which the monitor reads
at once as four [[inputs]] and the raw consumer with one consumer per topic.
With --reference the monitor is measured against librdkafka's own benchmark
consumer, `rdkafka_performance -C -G` built from the same bundled librdkafka
(scripts/rdkafka-performance.sh) with the monitor's consumer settings, and
the raw consumer: CPU seconds (user + system) per million events, and the
ratios of CPU and of drain time to rdkafka_performance's (it times itself
from its first message to its last, as the monitor does). It also runs
(f) `incident-monitor run --input` on the same events written to a file
(the engine's whole job with no Kafka client), and reports the ratio at
the limit librdkafka's cost plus the engine's puts on the monitor,
((r) + (f)) / (r), and the monitor against that limit.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def tools():
    env = {}
    for line in sh([str(ROOT / "scripts/tools.sh")]).splitlines():
        k, _, v = line.partition("=")
        env[k] = v
    venv_python = ROOT / ".tools/venv/bin/python"
    try:
        sh([str(venv_python), "-c", "import confluent_kafka, prometheus_client"])
    except subprocess.CalledProcessError:
        sh([str(ROOT / ".tools/venv/bin/pip"), "install", "--quiet", "--disable-pip-version-check",
            "confluent-kafka", "prometheus_client"])
    return env, venv_python


def build():
    sh(["cargo", "build", "--release", "--bin", "incident-monitor"], cwd=ROOT)
    out = sh(["cargo", "build", "--release", "--bench", "raw_consumer", "--message-format=json"], cwd=ROOT)
    raw = None
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "raw_consumer" and msg.get("executable"):
            raw = msg["executable"]
    if raw is None:
        sys.exit("could not find the raw_consumer bench executable")
    return str(ROOT / "target/release/incident-monitor"), raw


def measure(cmd, env=None):
    """Runs cmd; returns (stdout, stderr, wall secs, cpu secs, peak RSS MiB)."""
    start = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        so, se = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed:\n{se[-3000:]}")
    return so, se, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def log_fields(stderr):
    """The fields of each JSON log line."""
    for line in stderr.splitlines():
        try:
            yield json.loads(line).get("fields", {})
        except ValueError:
            continue


def monitor_rate(stderr):
    for f in log_fields(stderr):
        if f.get("message") == "every assigned partition is drained":
            return f["messages"], f["secs_since_first_message"]
    sys.exit("the monitor did not log its drain:\n" + stderr[-3000:])


def file_rate(stderr):
    """Events and seconds of a file run, from its last log line."""
    for f in log_fields(stderr):
        if f.get("message", "").startswith("run finished"):
            return f["events_this_run"], f["secs"]
    sys.exit("the file run did not log its end:\n" + stderr[-3000:])


def state_writes(stderr):
    """Checkpoints and bytes the state topic backend logged at the end of a run."""
    for f in log_fields(stderr):
        if f.get("message") == "state topic writes":
            return {"checkpoints": f["checkpoints"], "bytes": f["bytes"]}
    sys.exit("no 'state topic writes' line in the monitor's log")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--backends", action="store_true",
                    help="instead of (c): the monitor with its state in a directory and in a Kafka state topic")
    ap.add_argument("--mixed", action="store_true",
                    help="four topics, one per tool format, read at once: the monitor (four [[inputs]]) against the raw consumer")
    ap.add_argument("--compare", nargs="+", metavar="NAME=BINARY",
                    help="instead of (b) and (c): drain with each of these incident-monitor builds "
                         "(for before/after measurements; copy a build aside before changing the code)")
    ap.add_argument("--reference", action="store_true",
                    help="instead of (c): librdkafka's rdkafka_performance (same library, the monitor's "
                         "consumer settings), CPU seconds per million events and ratios")
    args = ap.parse_args()
    builds = {}
    for spec in args.compare or []:
        name, sep, path = spec.partition("=")
        if not sep or not Path(path).is_file():
            sys.exit(f"--compare wants NAME=BINARY, got {spec!r}")
        builds[name] = str(Path(path).resolve())

    env, python = tools()
    monitor, raw = build()
    rdkafka_performance = sh([str(ROOT / "scripts/rdkafka-performance.sh")]).strip() if args.reference else None
    broker = sh([str(ROOT / "scripts/broker.sh")]).split()
    brokers = broker[0].split("=", 1)[1]
    broker_pid = int(broker[1].split("=", 1)[1])
    work = Path(tempfile.mkdtemp(prefix="im-e2e-"))
    cfg = work / "bench.toml"
    # Default config; only the test broker's session settings (its first
    # JoinGroup takes about session.timeout.ms / 2).
    cfg.write_text('[kafka.properties]\n"session.timeout.ms" = "6000"\n"heartbeat.interval.ms" = "1000"\n')

    def generate(events, seed=1, fmt="native"):
        return [monitor, "generate", "--scenario", "live", "--count", str(events), "--seed", str(seed),
                "--format", fmt, "--quiet"]

    def load(topic, events, fmt="native", seed=1):
        sh([env["TANSU"], "topic", "create", topic, "--partitions", str(args.partitions), "--broker", f"tcp://{brokers}"])
        t = time.monotonic()
        sh([*generate(events, seed, fmt), "--brokers", brokers, "--topic", topic])
        return time.monotonic() - t

    formats = ["suricata-eve", "wazuh", "ecs", "ocsf"]
    mixed_topics = [f"bench-{f}" for f in formats]
    mixed_cfg = work / "mixed.toml"
    mixed_cfg.write_text("".join(f'[[inputs]]\nname = "{f}"\ntopic = "{t}"\nformat = "{f}"\n\n'
                                 for f, t in zip(formats, mixed_topics)) + cfg.read_text())

    def broker_cpu():
        with open(f"/proc/{broker_pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def run(kind, topic, n, extra_cfg=None):
        group = f"{kind}-{topic}-{n}-{time.monotonic_ns()}"
        broker_before = broker_cpu()
        if kind == "librdkafka":
            # The monitor's consumer settings (src/kafka/client.rs) and the
            # test broker's session settings; offsets are not committed by
            # either while draining.
            props = ["group.protocol=classic", "partition.assignment.strategy=cooperative-sticky",
                     "auto.offset.reset=earliest", "enable.partition.eof=true", "fetch.wait.max.ms=100",
                     "fetch.queue.backoff.ms=10", "enable.auto.commit=false",
                     "session.timeout.ms=6000", "heartbeat.interval.ms=1000"]
            so, se, wall, cpu, rss = measure([rdkafka_performance, "-C", "-G", group, "-t", topic, "-b", brokers,
                                              "-c", str(n), "-q", *[a for p in props for a in ("-X", p)]])
            line = next((l for l in (so + se).splitlines() if " messages (" in l and " consumed in " in l), None)
            if line is None:
                sys.exit("rdkafka_performance printed no summary:\n" + (so + se)[-3000:])
            msgs = int(line.split()[1])
            secs = int(line.split(" consumed in ")[1].split("ms")[0]) / 1000
        elif kind == "raw":
            so, se, wall, cpu, rss = measure([raw, brokers, ",".join(mixed_topics) if args.mixed else topic, group, str(args.partitions)])
            r = json.loads(so.strip().splitlines()[-1])
            msgs, secs = r["messages"], r["secs_since_first_message"]
        elif kind == "file":
            # The same events from a file: the engine's whole job (decode,
            # count, checkpoint) with no Kafka client at all.
            so, se, wall, cpu, rss = measure([monitor, "--log-format", "json", "run", "--input", str(events_file),
                                              "--state-dir", str(work / f"state-{group}")])
            msgs, secs = file_rate(se)
        elif kind == "python":
            so, se, wall, cpu, rss = measure([str(python), str(ROOT / "benches/python_consumer.py"), brokers, topic, group, str(args.partitions)])
            r = json.loads(so.strip().splitlines()[-1])
            msgs, secs = r["messages"], r["secs_since_first_message"]
        else:
            c = cfg if extra_cfg is None else extra_cfg
            state = ["--state-topic", f"state-{group}"] if kind == "topic" else ["--state-dir", str(work / f"state-{group}")]
            # Mixed: the four inputs of the config, not one --topic.
            source = ["--config", str(mixed_cfg)] if args.mixed else ["--config", str(c), "--topic", topic]
            so, se, wall, cpu, rss = measure([builds.get(kind, monitor), "--log-format", "json", "run", *source, "--brokers", brokers,
                                              "--group", group, "--until-end", "--metrics-addr", "127.0.0.1:0",
                                              *state])
            msgs, secs = monitor_rate(se)
            if kind == "topic":
                w = state_writes(se)
                return {"rate": msgs / secs, "secs": secs, "wall": wall, "cpu": cpu, "rss": rss,
                        "broker_cpu": broker_cpu() - broker_before, **w}
        if msgs != n:
            sys.exit(f"{kind} consumed {msgs} of {n} messages")
        return {"rate": msgs / secs, "secs": secs, "wall": wall, "cpu": cpu, "rss": rss,
                "broker_cpu": broker_cpu() - broker_before}

    try:
        topic = "bench"
        if args.mixed:
            per = args.events // len(formats)
            args.events = per * len(formats)
            produce_secs = sum(load(t, per, f, seed) for seed, (f, t) in enumerate(zip(formats, mixed_topics), 1))
            print(f"loaded {per} events in each of {', '.join(formats)} into {args.partitions} partitions each "
                  f"in {produce_secs:.1f} s", file=sys.stderr)
        else:
            produce_secs = load(topic, args.events)
            print(f"loaded {args.events} events into {args.partitions} partitions in {produce_secs:.1f} s", file=sys.stderr)
        events_file = work / "events.jsonl"
        if args.reference:
            # The topic's events, as generated (same scenario, count and seed).
            with open(events_file, "w") as f:
                subprocess.run(generate(args.events), stdout=f, check=True)
        kinds = (["librdkafka", "raw", "monitor", "file"] if args.reference else ["raw", *builds] if builds else ["raw", "monitor", "topic"] if args.backends
                 else ["raw", "monitor"] if args.mixed else ["raw", "monitor", "python"])
        results = {k: [] for k in kinds}
        for i in range(args.runs):
            order = kinds[i % len(kinds):] + kinds[:i % len(kinds)]
            for k in order:
                r = run(k, topic, args.events)
                results[k].append(r)
                print(f"run {i + 1} {k}: {r['rate']:,.0f} msg/s", file=sys.stderr)

        def med(k, f):
            return statistics.median(r[f] for r in results[k])

        shape = (f"four topics ({', '.join(formats)}) of {args.partitions} partitions" if args.mixed
                 else f"{args.partitions} partitions")
        print(f"\n{args.events:,} events, {shape}, {args.runs} alternating runs each\n")
        print("| consumer | msg/s median | msg/s min-max | drain s (median) | wall s incl. start (median) | CPU s (median) | broker CPU s (median) | peak RSS MiB (max) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        names = {"librdkafka": "(r) rdkafka_performance -C -G", "raw": "(a) raw rdkafka consumer", "monitor": "(b) incident-monitor run --until-end", "python": "(c) Python consumer",
                 "file": "(f) incident-monitor run --input (the same events from a file)",
                 "topic": "(b') the same with --state-topic"}
        names.update({b: f"incident-monitor build {b}" for b in builds})
        for k in kinds:
            rates = [r["rate"] for r in results[k]]
            print(f"| {names[k]} | {med(k, 'rate'):,.0f} | {min(rates):,.0f} - {max(rates):,.0f} | {med(k, 'secs'):.2f} | "
                  f"{med(k, 'wall'):.2f} | {med(k, 'cpu'):.2f} | {med(k, 'broker_cpu'):.2f} | {max(r['rss'] for r in results[k]):.0f} |")
        if args.reference:
            print("\n| consumer | CPU s per million events (median) | min-max | CPU / (r) | drain time / (r) |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for k in kinds:
                per = [r["cpu"] / args.events * 1e6 for r in results[k]]
                print(f"| {names[k]} | {statistics.median(per):.3f} | {min(per):.3f} - {max(per):.3f} | "
                      f"{med(k, 'cpu') / med('librdkafka', 'cpu'):.2f} | {med(k, 'secs') / med('librdkafka', 'secs'):.2f} |")
            # Pairwise: each run's monitor against the same round's reference.
            pairs = [m["cpu"] / r["cpu"] for m, r in zip(results["monitor"], results["librdkafka"])]
            print(f"\nmonitor / rdkafka_performance CPU, per round: {', '.join(f'{x:.2f}' for x in pairs)}; "
                  f"median {statistics.median(pairs):.2f}")
            # The physical limit the issue names: librdkafka's own cost plus
            # the engine's, each round's (r) + (f).
            limit = [m["cpu"] / (r["cpu"] + f["cpu"])
                     for m, r, f in zip(results["monitor"], results["librdkafka"], results["file"])]
            floor = [(r["cpu"] + f["cpu"]) / r["cpu"] for r, f in zip(results["librdkafka"], results["file"])]
            print(f"((r) + (f)) / (r), the ratio at the limit, per round: {', '.join(f'{x:.2f}' for x in floor)}; "
                  f"median {statistics.median(floor):.2f}")
            print(f"monitor / ((r) + (f)) CPU, per round: {', '.join(f'{x:.2f}' for x in limit)}; "
                  f"median {statistics.median(limit):.2f}")
            return
        if builds:
            print("\n" + "; ".join(f"{b}/(a) = {med(b, 'rate') / med('raw', 'rate'):.3f}" for b in builds))
            return
        if args.mixed:
            print(f"\n(b)/(a) = {med('monitor', 'rate') / med('raw', 'rate'):.3f} (four inputs, each its own consumer, decoder and apply thread)")
            return
        if args.backends:
            print(f"\n(b')/(b) = {med('topic', 'rate') / med('monitor', 'rate'):.3f}; "
                  f"state topic writes per drain (median): {med('topic', 'checkpoints'):.0f} checkpoints, "
                  f"{med('topic', 'bytes') / 2**20:.1f} MiB, {med('topic', 'bytes') / med('topic', 'secs') / 2**20:.1f} MiB/s of drain")
            return
        print(f"\n(b)/(a) = {med('monitor', 'rate') / med('raw', 'rate'):.3f}; "
              f"(b)/(c) = {med('monitor', 'rate') / med('python', 'rate'):.2f}")

        if args.scaling:
            print("\n| monitor on | msg/s | drain s | CPU s | peak RSS MiB |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for n in [250_000, 500_000, 1_000_000]:
                t = f"scale-{n}"
                load(t, n)
                r = run("monitor", t, n)
                print(f"| {n:,} events | {r['rate']:,.0f} | {r['secs']:.2f} | {r['cpu']:.2f} | {r['rss']:.0f} |")
            r = results["monitor"][0]
            print(f"| {args.events:,} events | {r['rate']:,.0f} | {r['secs']:.2f} | {r['cpu']:.2f} | {r['rss']:.0f} |")
            for max_ids in [100_000, 500_000]:
                c = work / f"dedup-{max_ids}.toml"
                c.write_text(cfg.read_text() + f"[dedup]\nmax_ids_per_partition = {max_ids}\n")
                r = run("monitor", topic, args.events, c)
                print(f"| {args.events:,} events, dedup.max_ids_per_partition = {max_ids:,} | {r['rate']:,.0f} | {r['secs']:.2f} | {r['cpu']:.2f} | {r['rss']:.0f} |")
    finally:
        os.kill(broker_pid, 15)


if __name__ == "__main__":
    main()
