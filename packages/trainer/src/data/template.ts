/**
 * Prompt templates for custom multiple-choice data (RunConfig.template).
 *
 * Syntax, placeholders in braces:
 *   {question}   the line's question text
 *   {choices}    every choice as " (A) text (B) text ..." (the ARC/OBQA layout, leading space)
 *   {choice:N}   the text of choice N (0-based)
 *   {label:N}    the answer label of choice N (A, B, ... or the line's own `labels`)
 *   {label}      the answer slot: optional, and only at the very end. What comes before it is the
 *                prompt (trailing spaces dropped, so "Answer: {label}" gives the prompt "Answer:");
 *                training text is always prompt + " " + label, as for the built-in tasks.
 *   {{ and }}    literal braces
 * Any other {...} is an error. Without {label} the whole rendered template is the prompt; by
 * convention it ends with "\nAnswer:" (nothing is appended).
 */

export type TemplatePart =
  | { kind: 'text'; text: string }
  | { kind: 'question' }
  | { kind: 'choices' }
  | { kind: 'choice'; index: number }
  | { kind: 'labelOf'; index: number };

export interface Template {
  source: string;
  parts: TemplatePart[];
}

/** The default template for custom data: the ARC/OBQA prompt of SPEC section 5. */
export const DEFAULT_TEMPLATE = 'Please choose the correct answer to the question: {question}{choices}\nAnswer: {label}';

/** Parse a template; errors name the offending placeholder and its character offset. */
export function parseTemplate(source: string): Template {
  const parts: TemplatePart[] = [];
  let text = '';
  let sawLabel = false;
  const flush = () => {
    if (text) parts.push({ kind: 'text', text });
    text = '';
  };
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (sawLabel) throw new Error(`template: {label} must end the template, found more text at offset ${i}: ${JSON.stringify(source)}`);
    if (c === '}') {
      if (source[i + 1] !== '}') throw new Error(`template: unmatched '}' at offset ${i} (write '}}' for a literal brace): ${JSON.stringify(source)}`);
      text += '}';
      i++;
      continue;
    }
    if (c !== '{') {
      text += c;
      continue;
    }
    if (source[i + 1] === '{') {
      text += '{';
      i++;
      continue;
    }
    const end = source.indexOf('}', i);
    if (end < 0) throw new Error(`template: unclosed '{' at offset ${i}: ${JSON.stringify(source)}`);
    const name = source.slice(i + 1, end);
    const indexed = /^(choice|label):(\d+)$/.exec(name);
    if (name === 'label') {
      // The prompt stops before the answer; the space before {label} is the one trainingText adds.
      text = text.replace(/[ \t]+$/, '');
      sawLabel = true;
    } else if (name === 'question' || name === 'choices') {
      flush();
      parts.push({ kind: name });
    } else if (indexed) {
      flush();
      parts.push({ kind: indexed[1] === 'choice' ? 'choice' : 'labelOf', index: Number(indexed[2]) });
    } else {
      throw new Error(`template: unknown placeholder {${name}} at offset ${i} (known: {question}, {choices}, {choice:N}, {label:N}, {label}): ${JSON.stringify(source)}`);
    }
    i = end;
  }
  flush();
  return { source, parts };
}

/** Render a template's prompt for one question; throws if {choice:N}/{label:N} is out of range. */
export function renderTemplate(t: Template, q: { question: string; choices: readonly string[]; labels: readonly string[] }): string {
  let out = '';
  for (const p of t.parts) {
    if (p.kind === 'text') out += p.text;
    else if (p.kind === 'question') out += q.question;
    else if (p.kind === 'choices') out += q.choices.map((c, i) => ` (${q.labels[i]}) ${c}`).join('');
    else {
      if (p.index >= q.choices.length) {
        throw new Error(`template: {${p.kind === 'choice' ? 'choice' : 'label'}:${p.index}} but this question has ${q.choices.length} choices`);
      }
      out += p.kind === 'choice' ? q.choices[p.index]! : q.labels[p.index]!;
    }
  }
  return out;
}
