/**
 * An independent, deliberately naive float64 Llama/Qwen2 forward pass over plain arrays, in
 * PyTorch's weight layout ([out, in]) and Hugging Face's half-rotation RoPE. Tests compare the
 * runtime's model against it.
 */
export interface RefWeights {
  embed: Float64Array; // [vocab, dim]
  layers: {
    attnNorm: Float64Array; ffnNorm: Float64Array;
    q: Float64Array; k: Float64Array; v: Float64Array; o: Float64Array; // [out, in]
    qBias?: Float64Array; kBias?: Float64Array; vBias?: Float64Array;
    gate: Float64Array; up: Float64Array; down: Float64Array;
  }[];
  norm: Float64Array;
  output: Float64Array; // [vocab, dim]
}

export interface RefConfig { dim: number; nHeads: number; nKvHeads: number; headDim: number; ffnDim: number; vocab: number; eps: number; theta: number }

const linear = (x: Float64Array, w: Float64Array, out: number, inp: number, b?: Float64Array) => {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b[o]! : 0;
    for (let i = 0; i < inp; i++) s += w[o * inp + i]! * x[i]!;
    y[o] = s;
  }
  return y;
};

const rms = (x: Float64Array, w: Float64Array, eps: number) => {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * w[i]!);
};

function ropeHalf(v: Float64Array, heads: number, hd: number, pos: number, theta: number): Float64Array {
  const out = v.slice();
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < hd / 2; j++) {
      const ang = pos * Math.pow(theta, (-2 * j) / hd);
      const a = v[h * hd + j]!;
      const b = v[h * hd + j + hd / 2]!;
      out[h * hd + j] = a * Math.cos(ang) - b * Math.sin(ang);
      out[h * hd + j + hd / 2] = a * Math.sin(ang) + b * Math.cos(ang);
    }
  }
  return out;
}

/** Logits [T][vocab] for one sequence. */
export function referenceForward(c: RefConfig, w: RefWeights, ids: number[]): Float64Array[] {
  const T = ids.length;
  let xs = ids.map((id) => w.embed.slice(id * c.dim, (id + 1) * c.dim));
  const qd = c.nHeads * c.headDim;
  const kd = c.nKvHeads * c.headDim;
  const group = c.nHeads / c.nKvHeads;
  for (const L of w.layers) {
    const hn = xs.map((x) => rms(x, L.attnNorm, c.eps));
    const q = hn.map((x, t) => ropeHalf(linear(x, L.q, qd, c.dim, L.qBias), c.nHeads, c.headDim, t, c.theta));
    const k = hn.map((x, t) => ropeHalf(linear(x, L.k, kd, c.dim, L.kBias), c.nKvHeads, c.headDim, t, c.theta));
    const v = hn.map((x) => linear(x, L.v, kd, c.dim, L.vBias));
    const att = xs.map((_, t) => {
      const o = new Float64Array(qd);
      for (let h = 0; h < c.nHeads; h++) {
        const kh = Math.floor(h / group);
        const s = new Float64Array(t + 1);
        for (let u = 0; u <= t; u++) {
          let d = 0;
          for (let j = 0; j < c.headDim; j++) d += q[t]![h * c.headDim + j]! * k[u]![kh * c.headDim + j]!;
          s[u] = d / Math.sqrt(c.headDim);
        }
        const m = Math.max(...s);
        const e = s.map((z) => Math.exp(z - m));
        const z = e.reduce((p, a) => p + a, 0);
        for (let u = 0; u <= t; u++) for (let j = 0; j < c.headDim; j++) o[h * c.headDim + j]! += (e[u]! / z) * v[u]![kh * c.headDim + j]!;
      }
      return linear(o, L.o, c.dim, qd);
    });
    xs = xs.map((x, t) => x.map((a, i) => a + att[t]![i]!));
    xs = xs.map((x) => {
      const h = rms(x, L.ffnNorm, c.eps);
      const g = linear(h, L.gate, c.ffnDim, c.dim);
      const u = linear(h, L.up, c.ffnDim, c.dim);
      const act = g.map((a, i) => (a / (1 + Math.exp(-a))) * u[i]!);
      const d = linear(act, L.down, c.dim, c.ffnDim);
      return x.map((a, i) => a + d[i]!);
    });
  }
  return xs.map((x) => linear(rms(x, w.norm, c.eps), w.output, c.vocab, c.dim));
}
