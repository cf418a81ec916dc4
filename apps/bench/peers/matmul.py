#!/usr/bin/env python3
"""PyTorch / OpenBLAS peer for f32 matmul GFLOP/s (apps/bench perf, workload a).

numpy's matmul calls the BLAS behind libblas.so.3 directly (OpenBLAS when Debian's
libopenblas0-pthread is installed, else the generic reference BLAS); torch.mm is PyTorch's own path.
Threads: --threads sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before the libraries load, and
torch.set_num_threads. The BLAS libraries actually mapped into the process are read from
/proc/self/maps and reported, so a slow generic BLAS is visible as such.
Each figure is the median of --repeats timed products after one warm-up, M x K x N shapes.
Prints one JSON line: {"threads": n, "blas": [paths], "numpy": {"MxKxN": GFLOP/s} | null, "torch": {...}}.
"""
import argparse, os, time

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--repeats", type=int, default=5)
p.add_argument("--device", default="cpu", help="cpu, or cuda for PyTorch CUDA (numpy then skipped)")
p.add_argument("--shapes", default="1024x1024x1024,1024x256x1024,1024x1024x256")
args = p.parse_args()
for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ[k] = str(args.threads)

import torch  # noqa: E402
from moelora import print_json, set_threads, sync  # noqa: E402

set_threads(args.threads, args.device)
try:
    import numpy as np
except ImportError:
    np = None
if args.device != "cpu":
    np = None


def gflops(mm, a, b, flops):
    mm(a, b)
    times = []
    for _ in range(args.repeats):
        sync()
        t0 = time.perf_counter()
        mm(a, b)
        sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    return flops / times[len(times) // 2] / 1e9


out = {"threads": args.threads, "numpy": {} if np else None, "torch": {}}
for s in args.shapes.split(","):
    M, K, N = map(int, s.split("x"))
    a, b = torch.randn(M, K), torch.randn(K, N)
    out["torch"][s] = gflops(torch.mm, a, b, 2 * M * K * N)
    if np:
        out["numpy"][s] = gflops(np.matmul, a.numpy(), b.numpy(), 2 * M * K * N)
with open("/proc/self/maps") as f:
    out["blas"] = sorted({l.split()[-1] for l in f if any(n in l.split()[-1] for n in ("blas", "mkl", "lapack")) and "/" in l})
print_json(out)
