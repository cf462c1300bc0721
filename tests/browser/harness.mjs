// Helpers shared by the browser tests (node --test tests/browser/).
// Debian's Chromium (/usr/bin/chromium) driven by playwright-core, headless; the
// dev server (scripts/serve.mjs) on a free port; console errors collected;
// screenshots saved to tests/artifacts/ (git-ignored).
//
//   import { test } from 'node:test';
//   import { setup } from './harness.mjs';
//   test('something', async (t) => {
//     const env = await setup(t);            // null (test skipped) only when chromium is absent outside CI
//     if (!env) return;
//     const page = await env.newPage();      // page.errors: console errors + uncaught exceptions
//     await page.goto(env.server.url + 'web/');
//     ...
//     await env.screenshot(page, 'name');    // tests/artifacts/name.png
//   });
//   // browser, server and pages are closed after the test (t.after)
//
// When chromium is missing: outside CI the test is skipped with a message saying
// how to install it (bash scripts/deps.sh browser); with CI set it is a failure.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../scripts/serve.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED = path.resolve(REPO, '../shared');
export const ARTIFACTS = path.join(REPO, 'tests/artifacts');
export const CHROMIUM = process.env.QWASM_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update'];

const INSTALL_HINT = 'install it with: bash scripts/deps.sh browser';

/** Why the browser tests cannot run here (a string), or null when they can. */
export function missingBrowser() {
  if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} not found; ${INSTALL_HINT}`;
  if (!fs.existsSync(path.join(REPO, 'node_modules/playwright-core')))
    return `node_modules/playwright-core not found; ${INSTALL_HINT}`;
  return null;
}

/** Launches headless Chromium (throws with a clear message when it cannot). */
export async function launchBrowser() {
  const missing = missingBrowser();
  if (missing) throw new Error(`browser tests: ${missing}`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** Starts scripts/serve.mjs on a free port of 127.0.0.1 (options as startServer's). */
export function serve(opts = {}) {
  return startServer({ root: REPO, host: '127.0.0.1', port: 0, ...opts });
}

/**
 * Wraps a page so that console errors and uncaught exceptions are collected in
 * page.errors (strings). `ignore`: regexps of console errors that are expected.
 */
export function watchErrors(page, ignore = []) {
  page.errors = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    // reported with its URL by the 'response' handler below
    if (/^Failed to load resource: the server responded with a status of/.test(text)) return;
    if (!ignore.some((r) => r.test(text))) page.errors.push(`console: ${text}`);
  });
  page.on('response', (r) => {
    if (r.status() < 400) return;
    const text = `HTTP ${r.status()} ${r.url()}`;
    if (!ignore.some((re) => re.test(text))) page.errors.push(text);
  });
  page.on('pageerror', (e) => page.errors.push(`pageerror: ${e.message}`));
  return page.errors;
}

/** Saves a PNG of a page or locator to tests/artifacts/<name>.png; returns its path. */
export async function screenshot(target, name, opts = {}) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await target.screenshot({ path: file, ...opts });
  return file;
}

/**
 * Per-test environment: { browser, server, newPage(opts), screenshot, url(p) }.
 * Returns null after t.skip() when chromium is absent and CI is not set; in CI
 * that case throws. Everything is closed when the test ends.
 *   opts.server: options for serve() (e.g. { isolate: false }); opts.browser: an
 *   already launched browser to reuse (then it is not closed here).
 */
export async function setup(t, opts = {}) {
  const missing = missingBrowser();
  if (missing) {
    if (process.env.CI) throw new Error(`browser tests: ${missing} (CI is set, so this is a failure)`);
    t.skip(`browser tests skipped: ${missing}`);
    return null;
  }
  const ownBrowser = !opts.browser;
  const browser = opts.browser ?? await launchBrowser();
  const server = await serve(opts.server ?? {});
  const contexts = [];
  t.after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    if (ownBrowser) await browser.close().catch(() => {});
    await server.close();
  });
  return {
    browser,
    server,
    url: (p = '') => server.url + p.replace(/^\//, ''),
    /** A page in a fresh browser context (own cache storage); page.errors collects errors. */
    async newPage({ viewport = { width: 1280, height: 800 }, ignoreErrors = [], context } = {}) {
      let ctx = context;
      if (!ctx) {
        ctx = await browser.newContext({ viewport });
        contexts.push(ctx);
      }
      const page = await ctx.newPage();
      watchErrors(page, ignoreErrors);
      return page;
    },
    /** A fresh browser context (pages in it share Cache Storage and localStorage). */
    async newContext(o = { viewport: { width: 1280, height: 800 } }) {
      const ctx = await browser.newContext(o);
      contexts.push(ctx);
      return ctx;
    },
    screenshot,
  };
}

/**
 * The greedy continuation llama.cpp printed for `prompt` (reference file
 * ../shared/reference/greedy-<model>.txt, without its leading "<s> " and the prompt).
 */
export function referenceContinuation(model = 'stories260K-f32', prompt = 'Once upon a time') {
  const file = path.join(SHARED, 'reference', `greedy-${model}.txt`);
  let text = fs.readFileSync(file, 'utf8');
  if (!text.startsWith('<s> ')) throw new Error(`${file}: expected it to start with "<s> "`);
  text = text.slice(4);
  if (!text.startsWith(prompt)) throw new Error(`${file}: expected the prompt "${prompt}" after <s>`);
  return text.slice(prompt.length).replace(/\n$/, '');
}

/** Polls fn() until it returns a truthy value (returned) or `timeout` ms pass (throws `what`). */
export async function waitFor(fn, { timeout = 30000, interval = 50, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}
