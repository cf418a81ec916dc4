/** Data: task prompts, loading examples, tokenising and batching. */
export { buildExample, trainingText, choicePrompt, boolqPrompt, siqaPrompt, letterLabels, type NormalizedRow } from './prompts.js';
export { DEFAULT_TEMPLATE, parseTemplate, renderTemplate, type Template, type TemplatePart } from './template.js';
export { loadExamples, loadNormalizedRows, loadCustomJSONL, loadLLMAdaptersJSON, commonsenseDir, type LoadConfig, type Split } from './load.js';
export { encodeTrain, makeBatches, packRows, truncateLeft, type TrainItem, type Batch, type BatchOptions, type EncodeTrainOptions } from './batch.js';
