/**
 * The four task templates of SPEC section 5, built from the `*.normalized.jsonl` rows
 * ({id, question, choices[], label}). Evaluation stops at the final colon; training appends
 * " " + the answer label (trainingText).
 */
import type { Example, TaskName } from '../types.js';

/** One line of a `{task}/{split}.normalized.jsonl` file. */
export interface NormalizedRow {
  id: string;
  question: string;
  choices: string[];
  /** 0-based index of the correct choice. */
  label: number;
}

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Answer labels A, B, C, ... for n choices. */
export function letterLabels(n: number): string[] {
  if (n > LETTERS.length) throw new Error(`letterLabels: ${n} choices, at most ${LETTERS.length} supported`);
  return [...LETTERS.slice(0, n)];
}

/** ARC-Challenge and OpenBookQA: the question, then " (A) text" per choice, then "\nAnswer:". */
export function choicePrompt(question: string, choices: readonly string[]): string {
  const labels = letterLabels(choices.length);
  return 'Please choose the correct answer to the question: ' + question + choices.map((c, i) => ` (${labels[i]}) ${c}`).join('') + '\nAnswer:';
}

/**
 * BoolQ without the passage. SPEC writes "{question}?"; BoolQ's original questions have no
 * question mark, but every question in our normalized files already ends with one, so the mark is
 * added only when missing (never "??"). The prompt thus always ends in exactly one "?".
 */
export function boolqPrompt(question: string): string {
  const q = question.endsWith('?') ? question : question + '?';
  return `Please answer the following question with true or false: ${q}\nAnswer:`;
}

/**
 * Social IQa. SPEC's template reads "Question: {context} {question}"; the normalized `question`
 * field already holds exactly "{context} {question}" (joined by one space), so it goes in as is.
 * Choices follow one per line as "(A) text".
 */
export function siqaPrompt(question: string, choices: readonly string[]): string {
  const labels = letterLabels(choices.length);
  return 'Please choose the correct answer to the question.\nQuestion: ' + question + choices.map((c, i) => `\n(${labels[i]}) ${c}`).join('') + '\nAnswer:';
}

/** The Example for one normalized row of a built-in task. */
export function buildExample(task: TaskName, row: NormalizedRow): Example {
  switch (task) {
    case 'arc-challenge':
    case 'openbookqa':
      return { id: row.id, prompt: choicePrompt(row.question, row.choices), labels: letterLabels(row.choices.length), label: row.label };
    case 'siqa':
      return { id: row.id, prompt: siqaPrompt(row.question, row.choices), labels: letterLabels(row.choices.length), label: row.label };
    case 'boolq':
      // The normalized choices are ['true', 'false']; the answers are those words themselves.
      return { id: row.id, prompt: boolqPrompt(row.question), labels: [...row.choices], label: row.label };
    default:
      throw new Error(`buildExample: unknown task '${String(task)}'`);
  }
}

/** Training text: the prompt, one space, the correct answer label (SPEC section 5). */
export function trainingText(ex: Example): string {
  return ex.prompt + ' ' + ex.labels[ex.label]!;
}
