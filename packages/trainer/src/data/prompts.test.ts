/** The SPEC section 5 prompts, exactly, for the first test example of each task in the real files. */
import { describe, expect, it } from 'vitest';
import { loadExamples } from './load.js';
import { boolqPrompt, trainingText } from './prompts.js';

describe('task prompts from the normalized files', () => {
  it('arc-challenge', async () => {
    const [ex] = await loadExamples({ task: 'arc-challenge' }, 'test');
    expect(ex).toEqual({
      id: 'arc-challenge-test-0',
      prompt:
        'Please choose the correct answer to the question: An astronomer observes that a planet rotates faster after a meteorite impact. ' +
        'Which is the most likely effect of this increase in rotation? (A) Planetary density will decrease. (B) Planetary years will become longer. ' +
        '(C) Planetary days will become shorter. (D) Planetary gravity will become stronger.\nAnswer:',
      labels: ['A', 'B', 'C', 'D'],
      label: 2,
    });
    expect(trainingText(ex!)).toBe(ex!.prompt + ' C');
  });

  it('openbookqa', async () => {
    const [ex] = await loadExamples({ task: 'openbookqa' }, 'test');
    expect(ex!.prompt).toBe(
      'Please choose the correct answer to the question: A person wants to start saving money so that they can afford a nice vacation at the end of the year. ' +
        'After looking over their budget and expenses, they decide the best way to save money is to (A) make more phone calls (B) quit eating lunch out ' +
        '(C) buy less with monopoly money (D) have lunch with friends\nAnswer:',
    );
    expect(ex!.labels).toEqual(['A', 'B', 'C', 'D']);
    expect(ex!.label).toBe(1);
  });

  it('boolq (no passage; one question mark even though the data already has it)', async () => {
    const [ex] = await loadExamples({ task: 'boolq' }, 'test');
    expect(ex).toEqual({
      id: 'boolq-test-0',
      prompt: 'Please answer the following question with true or false: does ethanol take more energy make that produces?\nAnswer:',
      labels: ['true', 'false'],
      label: 1,
    });
    expect(trainingText(ex!)).toBe(ex!.prompt + ' false');
    expect(boolqPrompt('is the sky blue')).toBe('Please answer the following question with true or false: is the sky blue?\nAnswer:');
  });

  it('siqa (the normalized question is already "{context} {question}")', async () => {
    const [ex] = await loadExamples({ task: 'siqa' }, 'test');
    expect(ex).toEqual({
      id: 'siqa-test-0',
      prompt:
        "Please choose the correct answer to the question.\nQuestion: Tracy didn't go home that evening and resisted Riley's attacks. What does Tracy need to do before this?\n" +
        '(A) make a new plan\n(B) Go home and see Riley\n(C) Find somewhere to go\nAnswer:',
      labels: ['A', 'B', 'C'],
      label: 2,
    });
  });

  it('reads the train split and every example has a valid label', async () => {
    const all = await loadExamples({ task: 'arc-challenge' }, 'train');
    expect(all.length).toBe(1119);
    expect(all.every((e) => e.label >= 0 && e.label < e.labels.length && e.prompt.endsWith('\nAnswer:'))).toBe(true);
    // ARC has a few 3- and 5-choice questions: labels follow the choice count.
    expect(new Set(all.map((e) => e.labels.length))).toEqual(new Set([3, 4, 5]));
  });
});
