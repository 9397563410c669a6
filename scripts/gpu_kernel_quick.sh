#!/usr/bin/env bash
# On the GPU machine, from .carry-bin/ (scripts/make_gpu_kernel_carry.sh): the GPU tests matching
# TEST_FILTER (default the ADA GPU tests), the benchmark at CFG (default the issue's target row,
# 64k 32q/8kv d128 B=1) and, with NCU=1, an Nsight Compute source-level profile of kernel K
# (default decode_mma, the 4th launch) summarised per opcode and per stalled instruction.
# Results under $OUT: tests.log, bench.txt, prof.txt, details.txt.
set -u
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
./skv_kernels_tests --gtest_filter="${TEST_FILTER:-AdaGpu.*:AdaBitplane.*}" > "$OUT/tests.log" 2>&1
echo "tests rc=$?"; grep -E "^\[  (PASSED|FAILED) |Failure|seed" "$OUT/tests.log" | head -20
./skv_attn_bench --cfg "${CFG:-65536,32,8,128,1}" --runs "${RUNS:-30}" > "$OUT/bench.txt" 2>&1; tail -2 "$OUT/bench.txt"
[ "${NCU:-0}" = 1 ] || exit 0
ncu --set full --import-source yes --clock-control none -k "regex:${K:-decode_mma}" --launch-skip 3 --launch-count 1 \
  -o /tmp/prof -f ./skv_attn_bench --cfg "${CFG:-65536,32,8,128,1}" --runs 5 > "$OUT/ncu_run.txt" 2>&1
ncu -i /tmp/prof.ncu-rep --page details > "$OUT/details.txt" 2>&1
ncu -i /tmp/prof.ncu-rep --page source --csv --print-source sass > /tmp/sass.csv 2>&1
PAGES=${PAGES:-8192} python3 - "$OUT/prof.txt" <<'PY'
import collections, csv, os, sys
rows = list(csv.reader(open('/tmp/sass.csv', errors='replace')))
i = next(i for i, r in enumerate(rows) if 'Address' in r)
h = rows[i]; ce = h.index('Instructions Executed'); cs = h.index('Source')
st = h.index('Warp Stall Sampling (All Samples)')
reasons = [j for j, x in enumerate(h) if x.startswith('stall_') and 'Not Issued' not in x]
def f(x):
    try: return float(x.replace(',', ''))
    except ValueError: return 0.0
L = [(k, f(r[st]), f(r[ce]), r[cs].strip(), {h[j]: f(r[j]) for j in reasons})
     for k, r in enumerate(rows[i + 1:]) if len(r) > ce]
pages = float(os.environ['PAGES'])
tot = sum(x[2] for x in L); tots = max(1.0, sum(x[1] for x in L))
op, ops, R = collections.Counter(), collections.Counter(), collections.Counter()
for k, s, e, src, rs in L:
    t = src.split()
    o = (t[1] if t and t[0].startswith('@') and len(t) > 1 else (t[0] if t else '?')).split('.')[0]
    op[o] += e; ops[o] += s
    for a, b in rs.items(): R[a] += b
with open(sys.argv[1], 'w') as out:
    out.write(f"warp instructions executed {tot:.0f} = {tot / pages:.0f} per page; stall samples {tots:.0f}\n")
    for a, b in R.most_common(12): out.write(f"{a:28s} {100 * b / max(1, sum(R.values())):5.1f}%\n")
    for o, e in op.most_common(40): out.write(f"{o:12s} {e / pages:8.1f}/page {100 * e / tot:5.1f}%  stalls {100 * ops[o] / tots:4.1f}%\n")
    out.write("\n== most stalled SASS instructions\n")
    for k, s, e, src, rs in sorted(L, key=lambda x: -x[1])[:40]:
        top = sorted(rs.items(), key=lambda kv: -kv[1])[:2]
        out.write(f"{k:5d} {100 * s / tots:4.1f}% ex={e:8.0f} {src[:64]:64s} {top}\n")
PY
grep -E "Duration|Issue Slots Busy|Eligible Warps|Warp Cycles Per Issued" "$OUT/details.txt" | head -6
head -30 "$OUT/prof.txt"
