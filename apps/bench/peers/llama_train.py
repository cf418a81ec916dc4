#!/usr/bin/env python3
"""PyTorch peer for LM training tokens/s: a plain Llama with MixLoRA or GMoE adapters.

Equivalence with our side (apps/bench/src/workloads.mjs trainTokensPerSec, which attaches the
method with @moegraph/trainer's attachMethod + defaultRunConfig):
- models: stories260K (dim 64, 5 layers, 8 heads, 4 KV heads, head 8, FFN 172, vocab 512, tied
  embeddings) and llama-512x8 (dim 512, 8 layers, 8 heads, head 64, FFN 1408, vocab 4096, untied),
  random weights of the same shapes (speed does not depend on weight values): RMSNorm, RoPE, causal
  grouped-query attention, SwiGLU FFN, all frozen.
- mixlora: 8 LoRA experts (r 8, alpha 16, dropout 0.05) on gate/up/down per layer, top-2 linear
  router, plain LoRA (r 8) on q,k,v,o; Mixtral load-balance loss (coef 0.001).
- gmoe: the same with r 2, alpha 4 and a GCN graph router (hidden 256, 2 layers, N+1 nodes per
  token; peers/moelora.py's GCNRouter) and a Poisson-style + Normal-style router loss on the
  probabilities (cheap terms; their exact form does not change the step's cost).
- batch and sequence length as our side (stories260K 4 x 64, llama-512x8 4 x 128), random token ids,
  cross-entropy on next tokens, AdamW (lr 1e-4) on the adapter and router parameters only.
Median step time over --steps steps after one warm-up step. Prints one JSON line:
{"threads": n, "model": name, "method": m, "tokens_per_step": B*T, "tokens_per_s": x}.
Run with Debian's python3-torch: /usr/bin/python3 llama_train.py --model stories260K --method mixlora
"""
import argparse, math
import torch
import torch.nn.functional as F
from moelora import GCNRouter, LinearRouter, MoELoRAFFN, lora_pair, median_ms, add_device_arg, print_json, set_threads

SHAPES = {
    "stories260K": dict(vocab=512, dim=64, layers=5, heads=8, kv=4, head=8, ffn=172, tied=True, batch=4, seq=64),
    "llama-512x8": dict(vocab=4096, dim=512, layers=8, heads=8, kv=8, head=64, ffn=1408, tied=False, batch=4, seq=128),
}
METHODS = {"mixlora": dict(r=8, alpha=16, router="linear"), "gmoe": dict(r=2, alpha=4, router="gcn")}
N, K, DROPOUT = 8, 2, 0.05

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
add_device_arg(p)
p.add_argument("--model", default="stories260K", choices=list(SHAPES))
p.add_argument("--method", default="mixlora", choices=list(METHODS))
p.add_argument("--steps", type=int, default=3)
args = p.parse_args()
set_threads(args.threads, args.device)
c, m = SHAPES[args.model], METHODS[args.method]
D, H, KV, HD = c["dim"], c["heads"], c["kv"], c["head"]
w = lambda i, o: torch.randn(i, o) * 0.02


def rms(x, g):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * g


class LoRALinear:
    def __init__(self, i, o):
        self.W = w(i, o)
        a, b = lora_pair(1, i, o, m["r"])
        self.A, self.B, self.s = a[0].detach().requires_grad_(), b[0].detach().requires_grad_(), m["alpha"] / m["r"]
        self.params = [self.A, self.B]

    def __call__(self, x):
        return x @ self.W + self.s * (F.dropout(x, DROPOUT) @ self.A) @ self.B


class Layer:
    def __init__(self):
        self.q, self.k, self.v, self.o = LoRALinear(D, H * HD), LoRALinear(D, KV * HD), LoRALinear(D, KV * HD), LoRALinear(H * HD, D)
        router = GCNRouter(D, N, 256) if m["router"] == "gcn" else LinearRouter(D, N)
        self.ffn = MoELoRAFFN(w(D, c["ffn"]), w(D, c["ffn"]), w(c["ffn"], D), router, n=N, r=m["r"], k=K, alpha=m["alpha"], dropout=DROPOUT)
        self.g1, self.g2 = torch.ones(D), torch.ones(D)
        self.params = self.q.params + self.k.params + self.v.params + self.o.params + self.ffn.params

    def __call__(self, x, cos, sin, routes):
        B, T, _ = x.shape
        h = rms(x, self.g1)
        q = self.q(h).view(B, T, H, HD).transpose(1, 2)
        k = self.k(h).view(B, T, KV, HD).transpose(1, 2)
        v = self.v(h).view(B, T, KV, HD).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        if KV != H:
            k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True) if hasattr(F, "scaled_dot_product_attention") else attention(q, k, v)
        x = x + self.o(a.transpose(1, 2).reshape(B, T, H * HD))
        y, probs, idx = self.ffn(rms(x, self.g2).view(B * T, D))
        routes.append((probs, idx))
        return x + y.view(B, T, D)


def attention(q, k, v):
    T = q.shape[2]
    s = (q @ k.transpose(-1, -2)) / math.sqrt(HD)
    s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    return torch.softmax(s, -1) @ v


def rope(x, cos, sin):
    x1, x2 = x[..., : HD // 2], x[..., HD // 2 :]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


def aux_loss(routes):
    if m["router"] == "linear":  # Mixtral load balance: N * sum_e f_e * P_e, coef 0.001
        terms = [N * (F.one_hot(idx, N).float().sum(1).mean(0) / K * probs.mean(0)).sum() for probs, idx in routes]
        return 0.001 * torch.stack(terms).mean()
    # GMoE: Poisson-style (KL to a Poisson over sorted probabilities) and Normal-style (load variance) terms
    terms = [(probs.sort(-1, descending=True).values * torch.log(probs.clamp_min(1e-9))).sum(-1).mean() * 0.005 + 8 * probs.mean(0).var() for probs, _ in routes]
    return torch.stack(terms).mean()


emb = w(c["vocab"], D)
out_w = emb if c["tied"] else w(c["vocab"], D)
layers = [Layer() for _ in range(c["layers"])]
norm = torch.ones(D)
B, T = c["batch"], c["seq"]
inv = 1.0 / (10000 ** (torch.arange(0, HD, 2).float() / HD))
ang = torch.arange(T).float()[:, None] * inv[None, :]
cos, sin = ang.cos(), ang.sin()
data = torch.randint(0, c["vocab"], (B, T + 1))
x_ids, y_ids = data[:, :-1], data[:, 1:]
opt = torch.optim.AdamW([p for l in layers for p in l.params], lr=1e-4)


def step():
    opt.zero_grad()
    routes = []
    h = emb[x_ids]
    for l in layers:
        h = l(h, cos, sin, routes)
    logits = rms(h, norm) @ out_w.t()
    loss = F.cross_entropy(logits.view(-1, c["vocab"]), y_ids.reshape(-1)) + aux_loss(routes)
    loss.backward()
    opt.step()


ms = median_ms(step, args.steps, 1)
print_json({"threads": args.threads, "model": args.model, "method": args.method, "tokens_per_step": B * T, "tokens_per_s": B * T / (ms / 1000)})
