#!/usr/bin/env python3
"""PyTorch peer for the MoE FFN block training step (ENGINEERING.md's configuration).

1024 tokens, d 256, frozen SwiGLU FFN 1024, 8 LoRA experts r 4 on gate/up/down, top-2,
AdamW on LoRA + router; routers: linear, 2-layer GCN (hidden 256, N+1 nodes per token, the
straightforward dense per-token propagation of the reference code), 3-round GRU (GraphMoE).
Prints one JSON line: {"threads": n, "linear": ms, "gcn": ms, "gru": ms}.
Run with Debian's python3-torch: /usr/bin/python3 moe_block.py --threads 1
"""
import argparse, json, math, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--steps", type=int, default=10)
p.add_argument("--tokens", type=int, default=1024)
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)

T, D, FF, N, R, K = args.tokens, 256, 1024, 8, 4, 2
s = 8 / R
Wg = torch.randn(D, FF) * 0.02
Wu = torch.randn(D, FF) * 0.02
Wd = torch.randn(FF, D) * 0.02


def lora(n_in, n_out):
    a = (torch.rand(N, n_in, R) * 2 - 1) / math.sqrt(n_in)
    b = torch.randn(N, R, n_out) * 0.01
    return a.requires_grad_(), b.requires_grad_()


class Block:
    def __init__(self, router):
        self.Ag, self.Bg = lora(D, FF)
        self.Au, self.Bu = lora(D, FF)
        self.Ad, self.Bd = lora(FF, D)
        self.router = router
        self.params = [self.Ag, self.Bg, self.Au, self.Bu, self.Ad, self.Bd] + router.params

    def moe(self, x):
        probs = torch.softmax(self.router.logits(x), -1)
        w, idx = probs.topk(K, -1)
        w = w / w.sum(-1, keepdim=True)
        g0, u0 = x @ Wg, x @ Wu
        y = torch.zeros_like(x)
        for e in range(N):
            tok, slot = (idx == e).nonzero(as_tuple=True)
            if tok.numel() == 0:
                continue
            xe = x[tok]
            g = g0[tok] + s * (xe @ self.Ag[e]) @ self.Bg[e]
            u = u0[tok] + s * (xe @ self.Au[e]) @ self.Bu[e]
            h = F.silu(g) * u
            out = h @ Wd + s * (h @ self.Ad[e]) @ self.Bd[e]
            y = y.index_add(0, tok, out * w[tok, slot].unsqueeze(-1))
        return y, probs

    def forward(self, x):
        return self.moe(x)


class Linear:
    def __init__(self):
        self.W = (torch.randn(D, N) * 0.02).requires_grad_()
        self.params = [self.W]

    def logits(self, x):
        return x @ self.W


class GCN:
    def __init__(self, hid=256):
        g = lambda i, o: ((torch.rand(i, o) * 2 - 1) * math.sqrt(6 / (i + o))).requires_grad_()
        self.Win, self.Ws = g(D, hid), g(D, hid)
        self.W1, self.W2, self.Fp = g(hid, hid), g(hid, hid), g(hid, 1)
        self.X = (torch.rand(N, D) * 2 - 1) * math.sqrt(6 / (N + D))
        A = torch.zeros(N + 1, N + 1)
        A[N, :N] = A[:N, N] = 1
        A[0, 1] = A[1, 0] = A[2, 5] = A[5, 2] = A[3, 7] = A[7, 3] = 1
        A = A + torch.eye(N + 1)
        dinv = A.sum(1).rsqrt()
        self.A = dinv[:, None] * A * dinv[None, :]
        self.params = [self.Win, self.Ws, self.W1, self.W2, self.Fp]

    def logits(self, x):
        u = F.silu(x @ self.Win)  # [T, h]
        v = F.silu(self.X @ self.Ws)  # [N, h]
        H = torch.cat([v.unsqueeze(0).expand(x.shape[0], -1, -1), u.unsqueeze(1)], 1)  # [T, N+1, h]
        H = F.silu(self.A @ H @ self.W1)
        H = F.silu(self.A @ H @ self.W2)
        return (H[:, :N] @ self.Fp).squeeze(-1)


class GRUBlock(Block):
    rounds = 3

    def __init__(self):
        super().__init__(Linear())
        db = int(0.1 * D)
        u = lambda i, o: ((torch.rand(i, o) * 2 - 1) / math.sqrt(i)).requires_grad_()
        self.Wz, self.Wr, self.Wo = u(db + D, db), u(db + D, db), u(db + D, db)
        self.bo = torch.zeros(db, requires_grad=True)
        self.Wgr = torch.zeros(db, D, requires_grad=True)
        self.params += [self.Wz, self.Wr, self.Wo, self.bo, self.Wgr]
        self.db = db

    def forward(self, x):
        h = torch.zeros(x.shape[0], self.db)
        probs_all = []
        for t in range(self.rounds):
            y, probs = self.moe(x)
            probs_all.append(probs)
            if t < self.rounds - 1:
                hy = torch.cat([h, y], -1)
                z = torch.sigmoid(hy @ self.Wz)
                r = torch.sigmoid(hy @ self.Wr)
                hc = torch.tanh(torch.cat([r * h, y], -1) @ self.Wo + self.bo)
                h = (1 - z) * h + z * hc
                x = x + h @ self.Wgr
        return y, torch.cat(probs_all)


def bench(block):
    x = torch.randn(T, D)
    target = torch.randn(T, D)
    opt = torch.optim.AdamW(block.params, lr=1e-4)
    times = []
    for i in range(args.steps + 2):
        t0 = time.perf_counter()
        opt.zero_grad()
        y, probs = block.forward(x)
        loss = ((y - target) ** 2).mean() + 0.01 * probs.mean()
        loss.backward()
        opt.step()
        if i >= 2:
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2]


def matmul_gflops():
    # Debian's torch uses whatever libblas.so.3 points to: the generic reference BLAS (~4 GFLOP/s)
    # unless libopenblas0-pthread is installed (~80). Report it so a slow peer is visible as such.
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    for _ in range(3):
        a @ b
    t0 = time.perf_counter()
    for _ in range(10):
        a @ b
    return 10 * 2 * 512**3 / (time.perf_counter() - t0) / 1e9


out = {"threads": args.threads, "tokens": T, "matmul_gflops": matmul_gflops()}
out["linear"] = bench(Block(Linear()))
out["gcn"] = bench(Block(GCN()))
out["gru"] = bench(GRUBlock())
print(json.dumps(out))
