/** Model-file I/O: byte sources (file, memory, HTTP ranges), GGUF, safetensors, HF folders. */
export {
  type ByteSource,
  type SourceOptions,
  type HttpSourceOptions,
  SourceNotFoundError,
  memorySource,
  fileSource,
  httpSource,
  openSource,
  readAll,
  isUrl,
  hfFileUrl,
  hfAuthHeaders,
} from './source.js';
export {
  type GGUFValue,
  type GGUFTensorInfo,
  type GGUFFile,
  GGML_TYPE,
  GGUF_VALUE_TYPE,
  readGGUF,
  readGGUFTensor,
  /** GGUF tensor reader (same as readGGUFTensor). */
  readTensor,
  ggufMetadata,
  ggufRequire,
  ggufNumber,
  ggufString,
  ggufArray,
  ggufArchitecture,
  ggufTensor,
} from './gguf.js';
export {
  type SafetensorsDType,
  type SafetensorsTensorInfo,
  type SafetensorsFile,
  type SafetensorsWant,
  type SafetensorsInput,
  readSafetensors,
  readSafetensorsTensor,
  encodeSafetensors,
  writeSafetensors,
} from './safetensors.js';
export { type HFModel, type HFTensorInfo, type HFModelOptions, openHFModel, hfRepoUrl } from './hf.js';
export { type Want, f16ToF32, f32ToF16, bf16ToF32, f32ToBF16 } from './decode.js';
