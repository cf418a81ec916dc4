#!/usr/bin/env python3
"""PyTorch peer for the MoE FFN block training step (ENGINEERING.md's configuration).

1024 tokens, d 256, frozen SwiGLU FFN 1024, 8 LoRA experts r 4 on gate/up/down, top-2,
AdamW on LoRA + router; routers: linear, 2-layer GCN (hidden 256, N+1 nodes per token, the
straightforward dense per-token propagation of the reference code), 3-round GRU (GraphMoE).
The modules are peers/moelora.py's (shared with llama_train.py). Loss: MSE to a random target +
0.01 x mean router probability, as apps/bench/src/workloads.mjs's blockStepMs.
Prints one JSON line: {"threads": n, "tokens": T, "matmul_gflops": x, "linear": ms, "gcn": ms, "gru": ms}.
Run with Debian's python3-torch: /usr/bin/python3 moe_block.py --threads 1
"""
import argparse
import torch
from moelora import GCNRouter, GRURounds, LinearRouter, MoELoRAFFN, matmul_gflops, median_ms, add_device_arg, print_json, set_threads

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
add_device_arg(p)
p.add_argument("--steps", type=int, default=10)
p.add_argument("--tokens", type=int, default=1024)
p.add_argument("--routers", default="linear,gcn,gru")
args = p.parse_args()
set_threads(args.threads, args.device)

T, D, FF, N, R, K = args.tokens, 256, 1024, 8, 4, 2
Wg, Wu, Wd = torch.randn(D, FF) * 0.02, torch.randn(D, FF) * 0.02, torch.randn(FF, D) * 0.02


def make(kind):
    router = GCNRouter(D, N, 256) if kind == "gcn" else LinearRouter(D, N)
    moe = MoELoRAFFN(Wg, Wu, Wd, router, n=N, r=R, k=K)
    return GRURounds(moe, D, 3) if kind == "gru" else moe


def bench(block):
    x, target = torch.randn(T, D), torch.randn(T, D)
    opt = torch.optim.AdamW(block.params, lr=1e-4)

    def step():
        opt.zero_grad()
        y, probs, _ = block(x)
        loss = ((y - target) ** 2).mean() + 0.01 * probs.mean()
        loss.backward()
        opt.step()

    return median_ms(step, args.steps, 2)


out = {"threads": args.threads, "tokens": T, "matmul_gflops": matmul_gflops()}
for kind in args.routers.split(","):
    out[kind] = bench(make(kind))
print_json(out)
