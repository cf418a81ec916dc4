/** Writes OUT/report.md, OUT/report.html and OUT/summary.json from the stored results. */
import path from 'node:path';
import type { TaskName } from '../contract.js';
import { writeFileAtomic, type StoredResult } from '../runner.js';
import { renderHtml } from './html.js';
import { renderMarkdown, type ReportMeta } from './markdown.js';
import { summarize, toEntry, type Summary } from './summary.js';

export interface WrittenReports {
  markdown: string;
  markdownFile: string;
  htmlFile: string;
  summaryFile: string;
  summary: Summary;
}

export function writeReports(outDir: string, results: StoredResult[], meta: ReportMeta, opts: { tasks?: TaskName[]; order?: string[] } = {}): WrittenReports {
  const entries = results.map(toEntry);
  const summary = summarize(entries, opts);
  const backends = [...new Set(results.map((r) => r.backend))].join('+');
  const m: ReportMeta = { generatedAt: new Date().toISOString(), backend: backends || undefined, ...meta };
  const markdown = renderMarkdown(summary, m);
  const markdownFile = path.join(outDir, 'report.md');
  const htmlFile = path.join(outDir, 'report.html');
  const summaryFile = path.join(outDir, 'summary.json');
  writeFileAtomic(markdownFile, markdown);
  writeFileAtomic(htmlFile, renderHtml(summary, entries, m));
  writeFileAtomic(summaryFile, `${JSON.stringify({ meta: m, ...summary }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1)}\n`);
  return { markdown, markdownFile, htmlFile, summaryFile, summary };
}
