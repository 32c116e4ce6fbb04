"""The consumer a user would otherwise write in Python, for the end-to-end
benchmark (benches/e2e.py): confluent-kafka, json.loads, a dict
classification and a prometheus_client counter labelled by category and
severity. Same consumer settings as the monitor where they exist.

Usage: python_consumer.py BROKERS TOPIC GROUP PARTITIONS
Prints one JSON line like the raw consumer.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError
from prometheus_client import Counter

TYPES = {
    "phishing": "phishing", "spear-phishing": "phishing", "credential-harvesting": "phishing",
    "deface": "deface", "defacement": "deface", "website-defacement": "deface",
    "malware": "malware", "ransomware": "malware", "trojan": "malware", "botnet": "malware",
    "backdoor": "malware", "worm": "malware",
    "ddos": "ddos", "dos": "ddos",
    "intrusion": "intrusion", "unauthorized-access": "intrusion", "exploit": "intrusion",
    "brute-force": "intrusion",
}
SEVERITY = {"low": "low", "medium": "medium", "high": "high", "critical": "critical"}
INCIDENTS = Counter("incidents", "Incidents", ["category", "severity"])


def severity(v):
    if isinstance(v, str):
        return SEVERITY.get(v.lower(), "unknown")
    if isinstance(v, int) and not isinstance(v, bool):
        return "low" if 1 <= v <= 3 else "medium" if v <= 6 else "high" if v <= 8 else "critical" if v <= 10 else "unknown"
    return "unknown"


def main():
    brokers, topic, group, partitions = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    c = Consumer({
        "bootstrap.servers": brokers,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 100,
        "fetch.queue.backoff.ms": 10,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
    })
    c.subscribe([topic])
    n = 0
    first = None
    eof = set()
    while len(eof) < partitions or n == 0:
        for m in c.consume(num_messages=1000, timeout=1.0):
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                continue
            if first is None:
                first = time.monotonic()
            n += 1
            eof.discard(m.partition())
            try:
                e = json.loads(m.value())
            except ValueError:
                continue
            if not isinstance(e, dict):
                continue
            category = TYPES.get(str(e.get("type", "")).lower(), "other")
            INCIDENTS.labels(category, severity(e.get("severity"))).inc()
    secs = time.monotonic() - first if first else 0.0
    c.close()
    print(json.dumps({"messages": n, "secs_since_first_message": secs}))


if __name__ == "__main__":
    main()
