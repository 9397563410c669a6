#!/usr/bin/env python3
"""Summarise `ncu --page source --csv --print-source cuda,sass` output: totals, then the CUDA
source lines (and SASS instructions) with the most executed instructions and stall samples.
Used by scripts/gpu_check.sh (NCU=1); the column names differ a little between ncu versions, so
they are matched loosely."""
import csv
import sys


def num(x):
    try:
        return float(str(x).replace(",", ""))
    except ValueError:
        return 0.0


def main(path):
    text = open(path, errors="replace").read().splitlines()
    start = next((i for i, l in enumerate(text) if l.startswith('"#"') or l.startswith('"Address"') or
                  l.startswith('"Source"') or ('"Source"' in l and '"Address"' in l)), None)
    if start is None:
        print("no CSV table found; head of the file:")
        print("\n".join(text[:40]))
        return
    rows = list(csv.reader(text[start:]))
    head = rows[0]
    print("columns:", head)

    def col(*names):
        for n in names:
            for i, h in enumerate(head):
                if n.lower() in h.lower():
                    return i
        return None

    c_line = col("Line No")
    c_src = col("Source")  # the first "Source" column is the CUDA line, the second the SASS
    c_sass = next((i for i, h in enumerate(head) if h == "Source" and i != c_src), c_src)
    c_addr = col("Address")
    c_exec = col("Instructions Executed")
    c_stall = col("Warp Stall Sampling (All")
    need = max(x for x in (c_line, c_src, c_sass, c_addr, c_exec, c_stall) if x is not None)
    body = [r for r in rows[1:] if len(r) > need]
    # Rows without an address are per-CUDA-line aggregates: count only SASS rows.
    sass = [r for r in body if c_addr is not None and r[c_addr].strip()]
    tot_exec = sum(num(r[c_exec]) for r in sass)
    tot_stall = sum(num(r[c_stall]) for r in sass)
    print(f"sass rows {len(sass)}  instructions executed {tot_exec:.0f}  stall samples {tot_stall:.0f}")
    per_line = {}
    for r in sass:
        key = (r[c_line] if c_line is not None else "?") + "  " + r[c_src].strip()[:100]
        d = per_line.setdefault(key, [0.0, 0.0, 0])
        d[0] += num(r[c_exec])
        d[1] += num(r[c_stall])
        d[2] += 1
    print("\n== CUDA source lines by instructions executed (executed, share, stalls, share, #sass)")
    for k, (e, st, n) in sorted(per_line.items(), key=lambda kv: -kv[1][0])[:45]:
        print(f"{e:12.0f} {100 * e / max(tot_exec, 1):5.1f}% {st:7.0f} {100 * st / max(tot_stall, 1):5.1f}% {n:4d}  {k}")
    # Stall reasons (warp-state samples) over the kernel, and shared-memory wavefronts vs ideal.
    stall_cols = [i for i, h in enumerate(head) if h.startswith("stall_") and "Not Issued" not in h]
    tot = {head[i]: sum(num(r[i]) for r in sass if len(r) > i) for i in stall_cols}
    print("\n== stall samples by reason")
    for k, v in sorted(tot.items(), key=lambda kv: -kv[1])[:10]:
        print(f"{v:9.0f} {100 * v / max(sum(tot.values()), 1):5.1f}%  {k}")
    c_wf = col("L1 Wavefronts Shared")
    c_wfi = col("L1 Wavefronts Shared Ideal")
    if c_wf is not None and c_wfi is not None:
        wf = {}
        for r in sass:
            key = (r[c_line] if c_line is not None else "?") + "  " + r[c_src].strip()[:90]
            d = wf.setdefault(key, [0.0, 0.0])
            d[0] += num(r[c_wf])
            d[1] += num(r[c_wfi])
        print(f"\n== shared-memory wavefronts: total {sum(v[0] for v in wf.values()):.0f}, ideal {sum(v[1] for v in wf.values()):.0f}")
        for k, (w, wi) in sorted(wf.items(), key=lambda kv: -kv[1][0])[:15]:
            print(f"{w:12.0f} ideal {wi:12.0f}  {k}")
    print("\n== top SASS instructions by executed count")
    for r in sorted(sass, key=lambda r: -num(r[c_exec]))[:50]:
        print(f"{num(r[c_exec]):10.0f} {num(r[c_stall]):7.0f}  {r[c_sass].strip()[:70]:70s} | {r[c_src].strip()[:60]}")


if __name__ == "__main__":
    main(sys.argv[1])
