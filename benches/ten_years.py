#!/usr/bin/env python3
"""Ten years of a national centre's volume as native JSONL on stdout:
150,000 incidents from 2016 to 2025 (nine types, sectors, severities and
provinces, some without), seeded. The state-size benchmark of
docs/benchmarks.md counts it:

    python3 benches/ten_years.py > /tmp/ten.jsonl
    incident-monitor --quiet run --input /tmp/ten.jsonl --state-dir /tmp/ten \
        --config config/ncsc-vietnam.toml
    du -sb /tmp/ten
"""
import datetime
import json
import random
import sys

TYPES = ["phishing", "deface", "malware", "ddos", "intrusion", "botnet",
         "ransomware", "exploit", "port-scan"]
SECTORS = ["government", "finance", "education", "healthcare", "energy",
           "telecom", "transport", "manufacturing", "retail", "media", None]
PROVINCES = ["Hà Nội", "Ho Chi Minh", "Đà Nẵng", "Hai Phong", "TP. Cần Thơ",
             "Nghệ An", "Quảng Ninh", "Bình Dương", "Đồng Nai", "Khánh Hòa",
             "Thanh Hóa", "Hue", "Vientiane", None]
SEVERITIES = ["low", "medium", "high", "critical", None]


def main() -> None:
    rng = random.Random(2016)
    start = datetime.datetime(2016, 1, 1, tzinfo=datetime.timezone.utc)
    span = int((datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc) - start).total_seconds())
    out = sys.stdout
    for i in range(150_000):
        t = start + datetime.timedelta(seconds=rng.randrange(span))
        e = {"id": f"TEN-{i:06d}", "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "type": rng.choice(TYPES)}
        sev = rng.choice(SEVERITIES)
        if sev:
            e["severity"] = sev
        target = {}
        sector, province = rng.choice(SECTORS), rng.choice(PROVINCES)
        if sector:
            target["sector"] = sector
        if province:
            target["province"] = province
        if target:
            e["target"] = target
        out.write(json.dumps(e, ensure_ascii=False))
        out.write("\n")


if __name__ == "__main__":
    main()
