/**
 * Opens the HTML report in headless Chromium (Debian's /usr/bin/chromium via playwright-core) and
 * checks that the tables and charts render. Without Chromium the test is skipped locally but FAILS
 * under CI=true (install it: apt-get install -y --no-install-recommends chromium).
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fakeResult } from '../testing.js';
import { renderHtml } from './html.js';
import { summarize, toEntry } from './summary.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const haveChromium = existsSync(CHROMIUM);
const inCI = process.env.CI === 'true' || process.env.CI === '1';

function reportFile(): string {
  const results = (['mixlora', 'gmoe', 'graphmoe'] as const).flatMap((m, mi) =>
    (['arc-challenge', 'boolq'] as const).flatMap((t) => [0, 1, 2].map((seed) => fakeResult(m, t, seed, 0.4 + mi * 0.05 + seed * 0.01))),
  );
  const entries = results.map(toEntry);
  const html = renderHtml(summarize(entries, { tasks: ['arc-challenge', 'boolq'] }), entries, { title: 'Report <test>', suite: 'table', profile: 'quick' });
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'bench-html-')), 'report.html');
  writeFileSync(file, html);
  return file;
}

describe('HTML report in a real browser', () => {
  if (!haveChromium && inCI) {
    it('needs Chromium under CI', () => {
      expect.fail(`Chromium not found at ${CHROMIUM}; CI must install it (apt-get install -y --no-install-recommends chromium)`);
    });
    return;
  }
  it.skipIf(!haveChromium)(`renders tables and charts in headless Chromium (${CHROMIUM})`, async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(pathToFileURL(reportFile()).href);
      expect(await page.title()).toBe('Report <test>');
      // Tables: 3 method rows, 2 tasks x (acc, std) + 2 averages + name column.
      const rows = page.locator('#accuracy-table tbody tr');
      expect(await rows.count()).toBe(3);
      expect(await rows.nth(2).locator('td').count()).toBe(1 + 2 * 3);
      expect(await rows.nth(2).locator('td').first().textContent()).toBe('GraphMoE');
      expect(await page.locator('#accuracy-table td.best b').count()).toBeGreaterThan(0);
      expect(await page.locator('#efficiency-table tbody tr').count()).toBe(3);
      // Charts: bars with error bars, expert-load bars, one loss chart per task, each laid out with a size.
      const acc = page.locator('svg[data-chart="accuracy"]');
      expect(await acc.locator('rect.bar').count()).toBe(3 * 3); // 3 methods x (2 tasks + Avg.)
      expect(await acc.locator('g.error-bar').count()).toBe(9);
      expect(await page.locator('svg[data-chart="expert-load"] rect.bar').count()).toBe(3 * 4);
      expect(await page.locator('svg[data-chart="expert-load"] line.ref-line').count()).toBe(1);
      for (const t of ['arc-challenge', 'boolq']) expect(await page.locator(`svg[data-chart="loss-${t}"] path.line`).count()).toBe(3);
      for (const svg of await page.locator('svg.chart').all()) {
        const box = await svg.boundingBox();
        expect(box && box.width > 100 && box.height > 100).toBe(true);
      }
      const bar = await acc.locator('rect.bar').first().boundingBox();
      expect(bar!.height).toBeGreaterThan(1);
      expect(errors).toEqual([]);
      expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]); // self-contained
    } finally {
      await browser.close();
    }
  });
});
