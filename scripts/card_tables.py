#!/usr/bin/env python3
"""Markdown tables for a world model's card from `tessera eval --json [--summary]` output.

    tessera eval --json --summary --renderings canonical,phase,... > eval.json
    python3 scripts/card_tables.py eval.json

Prints: accuracy and forwards per token per task x policy (canonical renderings), a
robustness table (accuracy per task x rendering under one policy, default `hybrid`), and the
summary (best one-token policy, fastest within one point, with remasking) when present.
"""
import json
import sys


def pct(x):
    return f"{100 * x:.1f} %"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    data = json.load(open(sys.argv[1]))
    policy = sys.argv[2] if len(sys.argv) > 2 else "hybrid"
    rows = data["rows"]
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    canon = {(r["task"], r["policy"]): r for r in rows if r["rendering"] == "canonical"}
    print(f"### Accuracy (n = {data['n']} per cell; forwards per token in brackets)\n")
    print("| task | " + " | ".join(policies) + " |")
    print("|---" * (len(policies) + 1) + "|")
    for t in tasks:
        cells = []
        for p in policies:
            r = canon.get((t, p))
            cells.append(f"{pct(r['accuracy'])} ({r['forwards_per_token']:.2f})" if r else "—")
        print(f"| {t} | " + " | ".join(cells) + " |")
    renderings = list(dict.fromkeys(r["rendering"] for r in rows))
    if len(renderings) > 1:
        varied = [t for t in tasks if any(r["task"] == t and r["rendering"] != "canonical" for r in rows)]
        print(f"\n### Robustness (`{policy}`; accuracy per rendering of the input)\n")
        print("| task | " + " | ".join(renderings) + " |")
        print("|---" * (len(renderings) + 1) + "|")
        cell = {(r["task"], r["rendering"]): r for r in rows if r["policy"] == policy}
        for t in varied:
            cells = [pct(cell[(t, g)]["accuracy"]) if (t, g) in cell else "—" for g in renderings]
            print(f"| {t} | " + " | ".join(cells) + " |")
    if "summary" in data:
        print("\n### Parallel decoding and remasking per task\n")
        print("| task | rendering | best one-token policy | fastest within 1 point | with remasking |")
        print("|---|---|---|---|---|")
        for s in data["summary"]:
            def pick(p):
                if not p:
                    return "—"
                return f"`{p['policy']}` {pct(p['accuracy'])}, {1 / max(p['forwards_per_token'], 1e-9):.1f} tokens/forward"
            print(f"| {s['task']} | {s['rendering']} | {pick(s['best_one_token'])} | "
                  f"{pick(s['fastest_within'])} | {pick(s.get('fastest_with_remask'))} |")


if __name__ == "__main__":
    main()
