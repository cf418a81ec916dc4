/** Model hyper-parameters, read from GGUF metadata or a Hugging Face config.json. */

export interface LlamaConfig {
  /** 'llama' covers Llama 2/3, Yi and Mistral-style layouts; 'qwen2' adds q/k/v biases. */
  arch: 'llama' | 'qwen2';
  vocabSize: number;
  dim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  ffnDim: number;
  normEps: number;
  ropeTheta: number;
  /** 'interleaved' for GGUF llama (weights permuted by the converter), 'half' for HF and GGUF qwen2. */
  ropeLayout: 'interleaved' | 'half';
  tiedEmbeddings: boolean;
  qkvBias: boolean;
  maxSeqLen: number;
  bos: number | null;
  eos: number | null;
}

function need(src: string, key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${src}: missing or invalid '${key}' (got ${JSON.stringify(v)})`);
  return v;
}

const ARCHES = new Set(['llama', 'qwen2']);

/** From GGUF metadata; `hasOutput` says whether an `output.weight` tensor exists (else tied). */
export function configFromGGUF(file: string, meta: Map<string, unknown>, hasOutput: boolean, vocabFromTensor?: number): LlamaConfig {
  const arch = meta.get('general.architecture');
  if (typeof arch !== 'string' || !ARCHES.has(arch)) {
    throw new Error(`${file}: unsupported architecture '${String(arch)}' (supported: llama, qwen2)`);
  }
  const k = (s: string) => meta.get(`${arch}.${s}`);
  const dim = need(file, `${arch}.embedding_length`, k('embedding_length'));
  const nHeads = need(file, `${arch}.attention.head_count`, k('attention.head_count'));
  const tokens = meta.get('tokenizer.ggml.tokens');
  const vocab = (k('vocab_size') as number | undefined) ?? vocabFromTensor ?? (Array.isArray(tokens) ? tokens.length : undefined);
  const num = (key: string) => {
    const v = meta.get(key);
    return typeof v === 'number' ? v : null;
  };
  return {
    arch: arch as LlamaConfig['arch'],
    vocabSize: need(file, `${arch}.vocab_size`, vocab),
    dim,
    nLayers: need(file, `${arch}.block_count`, k('block_count')),
    nHeads,
    nKvHeads: (k('attention.head_count_kv') as number | undefined) ?? nHeads,
    headDim: (k('attention.key_length') as number | undefined) ?? dim / nHeads,
    ffnDim: need(file, `${arch}.feed_forward_length`, k('feed_forward_length')),
    normEps: (k('attention.layer_norm_rms_epsilon') as number | undefined) ?? 1e-5,
    ropeTheta: (k('rope.freq_base') as number | undefined) ?? 10000,
    ropeLayout: arch === 'llama' ? 'interleaved' : 'half',
    tiedEmbeddings: !hasOutput,
    qkvBias: arch === 'qwen2',
    maxSeqLen: (k('context_length') as number | undefined) ?? 2048,
    bos: num('tokenizer.ggml.bos_token_id'),
    eos: num('tokenizer.ggml.eos_token_id'),
  };
}

/** From a Hugging Face config.json object. */
export function configFromHF(file: string, c: Record<string, unknown>): LlamaConfig {
  const type = c.model_type;
  const arch = type === 'qwen2' ? 'qwen2' : type === 'llama' || type === 'mistral' || type === 'yi' ? 'llama' : null;
  if (!arch) throw new Error(`${file}: unsupported model_type '${String(type)}' (supported: llama, mistral, yi, qwen2)`);
  const dim = need(file, 'hidden_size', c.hidden_size);
  const nHeads = need(file, 'num_attention_heads', c.num_attention_heads);
  const id = (v: unknown) => (typeof v === 'number' ? v : Array.isArray(v) && typeof v[0] === 'number' ? v[0] : null);
  return {
    arch,
    vocabSize: need(file, 'vocab_size', c.vocab_size),
    dim,
    nLayers: need(file, 'num_hidden_layers', c.num_hidden_layers),
    nHeads,
    nKvHeads: (c.num_key_value_heads as number | undefined) ?? nHeads,
    headDim: (c.head_dim as number | undefined) ?? dim / nHeads,
    ffnDim: need(file, 'intermediate_size', c.intermediate_size),
    normEps: (c.rms_norm_eps as number | undefined) ?? 1e-6,
    ropeTheta: (c.rope_theta as number | undefined) ?? 10000,
    ropeLayout: 'half',
    tiedEmbeddings: (c.tie_word_embeddings as boolean | undefined) ?? false,
    qkvBias: arch === 'qwen2' || c.attention_bias === true,
    maxSeqLen: (c.max_position_embeddings as number | undefined) ?? 2048,
    bos: id(c.bos_token_id),
    eos: id(c.eos_token_id),
  };
}

export function validateConfig(src: string, c: LlamaConfig): void {
  if (c.nHeads % c.nKvHeads !== 0) throw new Error(`${src}: head_count ${c.nHeads} is not a multiple of head_count_kv ${c.nKvHeads}`);
  if (c.headDim % 2 !== 0) throw new Error(`${src}: head size ${c.headDim} must be even for rotary embeddings`);
}
