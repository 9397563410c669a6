#!/usr/bin/env python3
"""torch SDPA fp16 decode baseline for skv_attn_bench's shapes (one query token, GQA).

Times F.scaled_dot_product_attention(q, k, v, enable_gqa=True) in fp16 with CUDA events,
median of many runs, rotating input sets so L2 does not serve them. Writes JSON (--json OUT).
"""
import argparse
import json
import math

import torch
import torch.nn.functional as F


def time_sdpa(ctx, hq, hkv, d, batch, runs, rotate_bytes=256 << 20):
    set_bytes = 2 * batch * hkv * ctx * d * 2
    sets = max(1, min(64, math.ceil(rotate_bytes / set_bytes)))
    data = []
    for _ in range(sets):
        q = torch.randn(batch, hq, 1, d, device="cuda", dtype=torch.float16)
        k = torch.randn(batch, hkv, ctx, d, device="cuda", dtype=torch.float16)
        v = torch.randn(batch, hkv, ctx, d, device="cuda", dtype=torch.float16)
        data.append((q, k, v))
    for i in range(5):
        F.scaled_dot_product_attention(*data[i % sets], enable_gqa=True)
    # One event pair per call, enqueued back to back behind a spinning kernel (the GPU is busy while
    # python enqueues every run), read after one synchronize: host launch overhead is not counted.
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(runs)]
    torch.cuda.synchronize()
    torch.cuda._sleep(int(2e6 * (1 + 0.2 * runs)))  # cycles: ~1 ms + ~0.2 ms a run at ~2 GHz
    for i in range(runs):
        ev[i][0].record()
        F.scaled_dot_product_attention(*data[i % sets], enable_gqa=True)
        ev[i][1].record()
    torch.cuda.synchronize()
    times = [a.elapsed_time(b) * 1e3 for a, b in ev]
    times.sort()
    del data
    torch.cuda.empty_cache()
    return times[len(times) // 2], set_bytes, sets


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default="")
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    ctxs = [4096, 65536] if a.quick else [4096, 16384, 65536, 131072]
    res = []
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}")
    for ctx in ctxs:
        for batch in (1, 8):
            for hq, hkv, d in ((32, 8, 128), (32, 32, 128), (9, 3, 64)):
                us, nbytes, sets = time_sdpa(ctx, hq, hkv, d, batch, a.runs)
                res.append(dict(ctx=ctx, hq=hq, hkv=hkv, d=d, batch=batch, sdpa_us=round(us, 3),
                                kv_bytes=nbytes, gbs=round(nbytes / (us * 1e-6) / 1e9, 1), sets=sets))
                print(f"{ctx:7d} {hq:3d}/{hkv:<3d} d{d:<4d} B{batch}: {us:9.2f} us  {res[-1]['gbs']:7.0f} GB/s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(torch=torch.__version__, device=torch.cuda.get_device_name(), results=res), f, indent=1)


if __name__ == "__main__":
    main()
