export { TokenType } from './types.js';
export type { Tokenizer, EncodeOptions, DecodeOptions } from './types.js';
export { SpmTokenizer, SPM_SPACE, type SpmVocab } from './spm.js';
export {
  BpeTokenizer,
  BYTES_TO_UNICODE,
  UNICODE_TO_BYTES,
  PRETOKENIZE_PATTERNS,
  pretokenizerForPre,
  unicodeToBytes,
  type BpeVocab,
  type PretokenizeKind,
} from './bpe.js';
export { HFTokenizer, tokenizerFromHF } from './hf.js';
export {
  tokenizerFromGGUF,
  ggufToHFTokenizerJson,
  ggufToHFTokenizerConfig,
  type GGUFMetadata,
  type HFTokenizerJson,
  type HFAddedToken,
} from './gguf.js';
export { TokenStreamDecoder } from './stream.js';
