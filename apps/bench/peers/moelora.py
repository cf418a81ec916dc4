"""Shared PyTorch pieces of the peers (moe_block.py, llama_train.py): one implementation each.

- MoELoRAFFN: MixLoRA's FFN: a frozen SwiGLU (x @ Wg, x @ Wu, h @ Wd), N LoRA experts (r, alpha)
  on gate/up/down, top-K routing with renormalised weights, per-expert gather / index_add combine.
- LinearRouter (MixLoRA), GCNRouter (GMoE: 2-layer GCN, hidden 256, N expert nodes + 1 input node
  per token, the straightforward dense per-token propagation of the reference code), GRURounds
  (GraphMoE: low-rank GRU, 3 rounds).
- median_ms / set_threads: timing as our side does it (median after warm-up steps); --device cuda
  (torch >= 2.0) makes every tensor the peers create land on the GPU and syncs before each reading.
Weights are random: speed does not depend on their values.
"""
import json, math, time
import torch
import torch.nn.functional as F


def set_threads(n, device="cpu"):
    torch.set_num_threads(n)
    torch.manual_seed(0)
    if device != "cpu":
        # f32 as on our side: no TF32 in matmuls (PyTorch's default, stated here so it stays so).
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_default_device(device)


def sync():
    """Wait for queued GPU work, so a wall-clock reading covers it (a no-op on the cpu)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def add_device_arg(p):
    p.add_argument("--device", default="cpu", help="cpu, or cuda for PyTorch CUDA (torch >= 2.0)")


def median_ms(step, steps, warmup):
    times = []
    for i in range(steps + warmup):
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    m = len(times) // 2
    return times[m] if len(times) % 2 else (times[m - 1] + times[m]) / 2


def print_json(out):
    print(json.dumps(out), flush=True)


def uniform(i, o):
    return ((torch.rand(i, o) * 2 - 1) * math.sqrt(6 / (i + o))).requires_grad_()


def lora_pair(n, n_in, n_out, r):
    a = (torch.rand(n, n_in, r) * 2 - 1) / math.sqrt(n_in)
    b = torch.randn(n, r, n_out) * 0.01
    return a.requires_grad_(), b.requires_grad_()


class LinearRouter:
    def __init__(self, d, n):
        self.W = (torch.randn(d, n) * 0.02).requires_grad_()
        self.params = [self.W]

    def logits(self, x):
        return x @ self.W


class GCNRouter:
    def __init__(self, d, n, hid=256):
        self.n = n
        self.Win, self.Ws = uniform(d, hid), uniform(d, hid)
        self.W1, self.W2, self.Fp = uniform(hid, hid), uniform(hid, hid), uniform(hid, 1)
        self.X = (torch.rand(n, d) * 2 - 1) * math.sqrt(6 / (n + d))
        A = torch.zeros(n + 1, n + 1)
        A[n, :n] = A[:n, n] = 1
        for i, j in [(0, 1), (2, 5), (3, 7)]:
            if j < n:
                A[i, j] = A[j, i] = 1
        A = A + torch.eye(n + 1)
        dinv = A.sum(1).rsqrt()
        self.A = dinv[:, None] * A * dinv[None, :]
        self.params = [self.Win, self.Ws, self.W1, self.W2, self.Fp]

    def logits(self, x):
        n = self.n
        u = F.silu(x @ self.Win)  # [T, h]
        v = F.silu(self.X @ self.Ws)  # [N, h]
        H = torch.cat([v.unsqueeze(0).expand(x.shape[0], -1, -1), u.unsqueeze(1)], 1)  # [T, N+1, h]
        H = F.silu(self.A @ H @ self.W1)
        H = F.silu(self.A @ H @ self.W2)
        return (H[:, :n] @ self.Fp).squeeze(-1)


class MoELoRAFFN:
    def __init__(self, Wg, Wu, Wd, router, n=8, r=4, k=2, alpha=None, dropout=0.0):
        d, ff = Wg.shape
        self.Wg, self.Wu, self.Wd = Wg, Wu, Wd
        self.n, self.k, self.s, self.dropout = n, k, (alpha if alpha is not None else 2 * r) / r, dropout
        self.Ag, self.Bg = lora_pair(n, d, ff, r)
        self.Au, self.Bu = lora_pair(n, d, ff, r)
        self.Ad, self.Bd = lora_pair(n, ff, d, r)
        self.router = router
        self.params = [self.Ag, self.Bg, self.Au, self.Bu, self.Ad, self.Bd] + router.params

    def __call__(self, x):
        """x [T, d] -> (y [T, d], router probabilities [T, N], top-K indices [T, K])."""
        s, drop = self.s, (lambda t: F.dropout(t, self.dropout) if self.dropout else t)
        probs = torch.softmax(self.router.logits(x), -1)
        w, idx = probs.topk(self.k, -1)
        w = w / w.sum(-1, keepdim=True)
        g0, u0 = x @ self.Wg, x @ self.Wu
        y = torch.zeros_like(x)
        for e in range(self.n):
            tok, slot = (idx == e).nonzero(as_tuple=True)
            if tok.numel() == 0:
                continue
            xe = x[tok]
            g = g0[tok] + s * (drop(xe) @ self.Ag[e]) @ self.Bg[e]
            u = u0[tok] + s * (drop(xe) @ self.Au[e]) @ self.Bu[e]
            h = F.silu(g) * u
            out = h @ self.Wd + s * (drop(h) @ self.Ad[e]) @ self.Bd[e]
            y = y.index_add(0, tok, out * w[tok, slot].unsqueeze(-1))
        return y, probs, idx


class GRURounds:
    """GraphMoE: `rounds` passes through the MoE FFN, a low-rank GRU (hidden 0.1 d) feeding back."""

    def __init__(self, moe, d, rounds=3):
        db = int(0.1 * d)
        u = lambda i, o: ((torch.rand(i, o) * 2 - 1) / math.sqrt(i)).requires_grad_()
        self.moe, self.rounds, self.db = moe, rounds, db
        self.Wz, self.Wr, self.Wo = u(db + d, db), u(db + d, db), u(db + d, db)
        self.bo = torch.zeros(db, requires_grad=True)
        self.Wgr = torch.zeros(db, d, requires_grad=True)
        self.params = moe.params + [self.Wz, self.Wr, self.Wo, self.bo, self.Wgr]

    def __call__(self, x):
        h = torch.zeros(x.shape[0], self.db)
        probs_all = []
        for t in range(self.rounds):
            y, probs, idx = self.moe(x)
            probs_all.append(probs)
            if t < self.rounds - 1:
                hy = torch.cat([h, y], -1)
                z = torch.sigmoid(hy @ self.Wz)
                r = torch.sigmoid(hy @ self.Wr)
                hc = torch.tanh(torch.cat([r * h, y], -1) @ self.Wo + self.bo)
                h = (1 - z) * h + z * hc
                x = x + h @ self.Wgr
        return y, torch.cat(probs_all), idx


def matmul_gflops(n=512):
    """torch.mm GFLOP/s at n^3: Debian's torch uses whatever libblas.so.3 is (the generic reference
    BLAS, ~4 GFLOP/s, unless libopenblas0-pthread is installed, ~80)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    sync()
    t0 = time.perf_counter()
    for _ in range(10):
        a @ b
    sync()
    return 10 * 2 * n**3 / (time.perf_counter() - t0) / 1e9
