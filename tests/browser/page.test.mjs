// The chat page (web/index.html) in headless Chromium, served by scripts/serve.mjs.
// Needs build-wasm/ and build-wasm-mt/ (scripts/build-wasm.sh), models/stories260K-f32.gguf
// (bash models/fetch.sh stories260K) and ../shared (models, reference outputs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { setup, screenshot, referenceContinuation, REPO, SHARED } from './harness.mjs';

const MODEL_PATH = '/models/stories260K-f32.gguf';
const MODEL_FILE = path.join(REPO, 'models/stories260K-f32.gguf');
const SHARED_MODELS = path.join(SHARED, 'models');
const LOAD_TIMEOUT = 60000;
const GEN_TIMEOUT = 60000;

const modelRequests = (server, p = MODEL_PATH) => server.requests.filter((r) => r.path === p);

async function openChat(env, { context, viewport, ignoreErrors } = {}) {
  const page = await env.newPage({ context, viewport, ignoreErrors });
  await page.goto(env.url('web/'));
  return page;
}

async function waitLoaded(page) {
  await page.waitForFunction(() => window.qwasmApp?.loaded === true || !document.getElementById('error').hidden,
    null, { timeout: LOAD_TIMEOUT });
  const err = await page.evaluate(() => (document.getElementById('error').hidden ? null : document.getElementById('error-text').textContent));
  assert.equal(err, null, `the page showed an error while loading: ${err}`);
}

async function setSettings(page, { temperature, maxTokens, systemPrompt, threads }) {
  await page.click('#settings-button');
  if (threads !== undefined) await page.selectOption('#set-threads', String(threads));
  if (temperature !== undefined) await page.fill('#set-temperature', String(temperature));
  if (maxTokens !== undefined) await page.fill('#set-maxtokens', String(maxTokens));
  if (systemPrompt !== undefined) await page.fill('#set-system', systemPrompt);
  await page.click('#settings-save');
  await page.waitForFunction(() => !document.getElementById('settings').open);
}

/** Sends a message through the UI and waits for the reply; returns the generation record. */
async function sendAndWait(page, text) {
  const before = await page.evaluate(() => window.qwasmApp.messages.length);
  await page.fill('#input', text);
  await page.click('#send');
  await page.waitForFunction((n) => window.qwasmApp.gen?.done && window.qwasmApp.messages.length >= n + 2,
    before, { timeout: GEN_TIMEOUT });
  return page.evaluate(() => ({ ...window.qwasmApp.gen, messages: window.qwasmApp.messages }));
}

function noErrors(page) {
  assert.deepEqual(page.errors, [], 'console errors / uncaught exceptions on the page');
}

test('default model: progress reaches 100%, greedy reply equals llama.cpp\'s, screenshots', async (t) => {
  const env = await setup(t);
  if (!env) return;
  const page = await openChat(env);
  await waitLoaded(page);
  const st = await page.evaluate(() => ({ progress: window.qwasmApp.progress, lastLoad: window.qwasmApp.lastLoad,
    bar: document.getElementById('progress').value, text: document.getElementById('progress-text').textContent,
    status: document.getElementById('load-status').textContent, path: document.getElementById('path').textContent }));
  const size = fs.statSync(MODEL_FILE).size;
  // the engine's own progress reports end at the full size
  assert.deepEqual(st.progress, { loaded: size, total: size });
  assert.equal(st.bar, 100);
  assert.match(st.text, /100%/);
  assert.equal(st.lastLoad.from, 'network');
  assert.equal(st.lastLoad.cached, true);
  assert.match(st.status, /stories260K-f32\.gguf/);
  // Chromium has relaxed SIMD: the page runs the fused multiply-add build where it is fused
  const relaxed = await page.evaluate(async () => (await import('/wasm/engine.mjs')).relaxedSimdSupport().ok);
  assert.match(st.path, relaxed ? /wasm-relaxed-simd/ : /wasm-simd128/);
  assert.match(st.path, /cross-origin isolated/);
  const reqs = modelRequests(env.server);
  assert.ok(reqs.length >= 1 && reqs.every((r) => r.status === 200 || r.status === 206), JSON.stringify(reqs));

  await setSettings(page, { temperature: 0, maxTokens: 64 });
  const gen = await sendAndWait(page, 'Once upon a time');
  const reply = gen.messages.at(-1);
  assert.equal(reply.role, 'assistant');
  assert.equal(reply.content, referenceContinuation('stories260K-f32', 'Once upon a time'));
  assert.equal(gen.finishReason, 'length');
  const shown = await page.locator('.msg.assistant .text').last().textContent();
  assert.equal(shown, reply.content);
  const speed = await page.textContent('#speed');
  assert.match(speed, /[\d.]+ tokens\/s/);
  // 'auto' runs this tiny model on one thread
  assert.equal(gen.threads, 1);

  // two threads (the pthreads build): the same text
  await setSettings(page, { threads: 2 });
  await waitLoaded(page);
  await page.waitForFunction(() => window.qwasmApp.loaded && window.qwasmApp.info?.threads === 2, null, { timeout: LOAD_TIMEOUT });
  assert.match(await page.textContent('#path'), /up to 2 threads \(mt\)/);
  await page.click('#new-chat');
  const gen2 = await sendAndWait(page, 'Once upon a time');
  assert.equal(gen2.threads, 2);
  assert.equal(gen2.messages.at(-1).content, reply.content);
  assert.match(await page.textContent('#speed'), /2 threads/);
  await setSettings(page, { threads: 'auto' });
  await page.waitForFunction(() => window.qwasmApp.loaded, null, { timeout: LOAD_TIMEOUT });
  await page.click('#new-chat');
  await sendAndWait(page, 'Once upon a time');

  await screenshot(page, 'page-desktop');
  // a phone: reload at 375x667 (model from the cache, conversation kept, model panel folded)
  await page.setViewportSize({ width: 375, height: 667 });
  await page.reload();
  await waitLoaded(page);
  assert.equal(await page.locator('.msg.assistant .text').last().textContent(), reply.content);
  assert.equal(await page.locator('#model-panel').evaluate((d) => d.open), false);
  assert.ok(await page.isVisible('#input') && await page.isVisible('#send'));
  await screenshot(page, 'page-phone');
  // nothing sticks out sideways on a phone
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 375px phone`);
  noErrors(page);
});

test('stop halts generation within one token; the next message still works', async (t) => {
  const env = await setup(t);
  if (!env) return;
  const page = await openChat(env);
  await waitLoaded(page);
  await setSettings(page, { temperature: 0.9, maxTokens: 400 });
  // click Stop (a real click on the button) as soon as the 5th piece is on screen
  await page.evaluate(() => {
    const obs = new MutationObserver(() => {
      const g = window.qwasmApp.gen;
      if (g && !g.done && g.pieces >= 5 && g.piecesAtStop === null) {
        obs.disconnect();
        document.getElementById('stop').click();
      }
    });
    obs.observe(document.getElementById('messages'), { subtree: true, childList: true, characterData: true });
  });
  await page.fill('#input', 'Once upon a time');
  await page.click('#send');
  await page.waitForFunction(() => window.qwasmApp.gen?.done, null, { timeout: GEN_TIMEOUT });
  const g = await page.evaluate(() => ({ ...window.qwasmApp.gen, messages: window.qwasmApp.messages }));
  assert.ok(g.piecesAtStop !== null && g.piecesAtStop >= 5, `stop was not clicked (${JSON.stringify(g)})`);
  assert.ok(g.pieces - g.piecesAtStop <= 1, `${g.pieces - g.piecesAtStop} pieces arrived after Stop`);
  assert.equal(g.finishReason, 'aborted');
  assert.equal(g.messages.at(-1).note, 'stopped');
  assert.ok(await page.isVisible('#send'));
  assert.ok(!(await page.isVisible('#stop')));

  await setSettings(page, { temperature: 0, maxTokens: 16 });
  const next = await sendAndWait(page, 'Lily');
  assert.equal(next.messages.at(-1).role, 'assistant');
  assert.ok(next.messages.at(-1).content.length > 0, 'the message after a stop got no reply');
  assert.equal(next.finishReason, 'length');
  assert.ok(next.pieces >= 1 && next.pieces <= 16, `${next.pieces} pieces for 16 tokens`);
  noErrors(page);
});

test('a long conversation drops its oldest messages to fit the context instead of failing', async (t) => {
  const env = await setup(t);
  if (!env) return;
  const page = await openChat(env);
  await waitLoaded(page);
  // stories260K: 2048 tokens of context; long messages (~800 tokens each) and short
  // replies: the third turn cannot keep the first
  await setSettings(page, { temperature: 0.8, maxTokens: 16 });
  const nCtx = await page.evaluate(() => window.qwasmApp.info.nCtxTrain);
  assert.equal(nCtx, 2048);
  const long = 'Lily and Tom went to the park to play. '.repeat(55);
  const nTok = await page.evaluate((t) => window.qwasmApp.engine.tokenize(t), long);
  assert.ok(nTok.length > 700 && nTok.length < 1000, `${nTok.length} tokens`);
  let g, turns = 0, total = 0;
  while (turns < 4) {
    g = await sendAndWait(page, long + `Turn ${turns}.`);
    turns++;
    const last = g.messages.at(-1);
    assert.equal(last.role, 'assistant');
    assert.ok(!/^error/.test(last.note ?? ''), `turn ${turns}: ${last.note}`);
    total += last.content.length;
    if (g.dropped > 0) break;
  }
  assert.equal(turns, 3, `dropped only after ${turns} turns (${total} characters of replies)`);
  assert.ok(g.dropped > 0);
  assert.match(g.messages.at(-1).note, /did not fit the model's context/);
  assert.equal(g.messages.length, 2 * turns, 'the page itself keeps the whole conversation');
  noErrors(page);
});

test('reload: model from the cache without a request, conversation kept; a corrupted entry is fetched again', async (t) => {
  const env = await setup(t);
  if (!env) return;
  const context = await env.newContext();
  const page = await openChat(env, { context });
  await waitLoaded(page);
  assert.equal(modelRequests(env.server).length, 1);
  await setSettings(page, { temperature: 0, maxTokens: 8 });
  const first = await sendAndWait(page, 'Once upon a time');

  // 1. reload: cache hit, no request for the model at all
  env.server.requests.length = 0;
  await page.reload();
  await waitLoaded(page);
  assert.equal((await page.evaluate(() => window.qwasmApp.lastLoad)).from, 'cache');
  assert.deepEqual(modelRequests(env.server), [], 'the model was requested although it is cached');
  assert.ok(env.server.requests.some((r) => r.path === '/web/app.mjs'), 'the server log saw the reload');
  const texts = await page.locator('.msg .text').allTextContents();
  assert.deepEqual(texts, first.messages.map((m) => m.content), 'the conversation did not survive the reload');
  const temp = await page.evaluate(() => window.qwasmApp.settings.temperature);
  assert.equal(temp, 0, 'settings did not survive the reload');

  // 2. corrupt the cached copy (same length, one byte changed): detected, fetched again, cache repaired
  const flipped = await page.evaluate(async () => {
    const keys = await caches.keys();
    const cache = await caches.open('qwasm-models-v1');
    const [req] = await cache.keys();
    const bytes = new Uint8Array(await (await cache.match(req)).arrayBuffer());
    const at = bytes.length - 1000;
    bytes[at] ^= 0x40;
    await cache.put(req, new Response(bytes, { headers: { 'Content-Length': String(bytes.length) } }));
    return { keys, url: req.url, len: bytes.length };
  });
  assert.ok(flipped.url.endsWith(MODEL_PATH));
  env.server.requests.length = 0;
  await page.reload();
  await waitLoaded(page);
  const ll = await page.evaluate(() => window.qwasmApp.lastLoad);
  assert.equal(ll.from, 'network');
  assert.equal(ll.cached, true);
  assert.match(ll.notice, /cached copy/);
  assert.match(await page.textContent('#load-status'), /cached copy/);
  assert.equal(modelRequests(env.server).filter((r) => r.method === 'GET').length, 1);
  const want = crypto.createHash('sha256').update(fs.readFileSync(MODEL_FILE)).digest('hex');
  const repaired = await page.evaluate(async () => {
    const cache = await caches.open('qwasm-models-v1');
    const [req] = await cache.keys();
    const buf = await (await cache.match(req)).arrayBuffer();
    const d = await crypto.subtle.digest('SHA-256', buf);
    const meta = await (await (await caches.open('qwasm-models-meta-v1')).match(req.url)).json();
    return { sha: [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join(''), meta };
  });
  assert.equal(repaired.sha, want);
  assert.equal(repaired.meta.sha256, want);

  // 3. a truncated cached copy (shorter than recorded) is detected as well
  await page.evaluate(async () => {
    const cache = await caches.open('qwasm-models-v1');
    const [req] = await cache.keys();
    const bytes = new Uint8Array(await (await cache.match(req)).arrayBuffer()).slice(0, 500000);
    await cache.put(req, new Response(bytes));
  });
  env.server.requests.length = 0;
  await page.reload();
  await waitLoaded(page);
  assert.equal((await page.evaluate(() => window.qwasmApp.lastLoad)).from, 'network');
  assert.equal(modelRequests(env.server).filter((r) => r.method === 'GET').length, 1);
  // and it still generates the right text (in a new chat)
  await page.click('#new-chat');
  assert.equal(await page.locator('.msg').count(), 0);
  const again = await sendAndWait(page, 'Once upon a time');
  assert.equal(again.messages.at(-1).content, referenceContinuation().slice(0, again.messages.at(-1).content.length));
  assert.ok(again.messages.at(-1).content.length > 10);
  noErrors(page);
});

test('an aborted download shows an error, retry works, and a model cached before stays cached', async (t) => {
  const env = await setup(t, { server: { mounts: { shared: SHARED_MODELS } } });
  if (!env) return;
  // the browser reports the cut connection on the console: expected here
  const page = await openChat(env, { ignoreErrors: [/ERR_CONTENT_LENGTH_MISMATCH/] });
  await waitLoaded(page); // caches the default model
  const other = '/shared/stories260K-q8_0.gguf';
  const otherSize = fs.statSync(path.join(SHARED_MODELS, 'stories260K-q8_0.gguf')).size;
  env.server.setFault(other, { dropAfterBytes: 150000, times: 1 });
  await page.fill('#model-url', other);
  await page.click('#load-model');
  await page.waitForSelector('#error:not([hidden])', { timeout: LOAD_TIMEOUT });
  const msg = await page.textContent('#error-text');
  assert.match(msg, /^Download failed: stories260K-q8_0\.gguf: the connection broke off after /);
  assert.ok(await page.isVisible('#retry'));
  assert.ok(modelRequests(env.server, other).some((r) => r.dropped), 'the server did not drop the connection');
  assert.equal(await page.evaluate(() => window.qwasmApp.loaded), false);
  await screenshot(page, 'page-download-error');
  const cachedUrls = () => page.evaluate(async () => (await (await caches.open('qwasm-models-v1')).keys()).map((r) => new URL(r.url).pathname));
  assert.deepEqual(await cachedUrls(), [MODEL_PATH], 'the partial download was cached, or the old model was dropped');

  // retry over a slow line: the progress line shows MB, MB/s and the time left
  env.server.setFault(other, { bytesPerSecond: 250000 });
  await page.evaluate(() => {
    window.progressTexts = [];
    new MutationObserver(() => window.progressTexts.push(document.getElementById('progress-text').textContent))
      .observe(document.getElementById('progress-text'), { childList: true, characterData: true, subtree: true });
  });
  await page.click('#retry');
  await waitLoaded(page);
  const texts = await page.evaluate(() => window.progressTexts);
  assert.ok(texts.some((x) => /^0\.\d \/ 0\.4 MB · 0\.[1-4] MB\/s · \d+ s left$/.test(x)), JSON.stringify(texts));
  const st = await page.evaluate(() => ({ lastLoad: window.qwasmApp.lastLoad, progress: window.qwasmApp.progress }));
  assert.equal(st.lastLoad.from, 'network');
  assert.deepEqual(st.progress, { loaded: otherSize, total: otherSize });
  assert.deepEqual((await cachedUrls()).sort(), [MODEL_PATH, other].sort());
  const listed = await page.locator('#cached-list li').evaluateAll((lis) => lis.map((li) => new URL(li.dataset.url).pathname));
  assert.deepEqual(listed.sort(), [MODEL_PATH, other].sort());

  // an HTTP error and a file that is not a model: clear errors, nothing cached
  env.server.setFault(other, { status: 404 });
  await page.locator(`#cached-list li[data-url$="${other}"] .delete`).click();
  await page.waitForFunction((o) => ![...document.querySelectorAll('#cached-list li')].some((li) => li.dataset.url?.endsWith(o)), other);
  await page.click('#load-model');
  await page.waitForSelector('#error:not([hidden])', { timeout: LOAD_TIMEOUT });
  assert.equal(await page.textContent('#error-text'), 'Download failed: stories260K-q8_0.gguf: HTTP 404 Not Found');
  await page.fill('#model-url', '/web/style.css');
  await page.click('#load-model');
  await page.waitForSelector('#error:not([hidden])', { timeout: LOAD_TIMEOUT });
  assert.match(await page.textContent('#error-text'), /^Not a usable GGUF model: /);
  assert.deepEqual(await cachedUrls(), [MODEL_PATH]);
  page.errors = page.errors.filter((e) => !/^HTTP 404 .*stories260K-q8_0\.gguf$/.test(e)); // the forced 404

  // a download cancelled half-way: nothing cached, no error box
  await page.fill('#model-url', other);
  env.server.setFault(other, { bytesPerSecond: 100000 });
  await page.click('#load-model');
  await page.waitForFunction(() => window.qwasmApp.progress?.loaded > 0, null, { timeout: LOAD_TIMEOUT });
  await page.click('#cancel-load');
  await page.waitForFunction(() => !window.qwasmApp.loading, null, { timeout: LOAD_TIMEOUT });
  assert.equal(await page.textContent('#load-status'), 'Loading cancelled.');
  assert.equal(await page.isVisible('#error'), false);
  assert.deepEqual(await cachedUrls(), [MODEL_PATH]);

  // the model cached before still loads from the cache, without a request
  env.server.requests.length = 0;
  await page.locator(`#cached-list li[data-url$="${MODEL_PATH}"] .cached-name`).click();
  await page.waitForFunction(() => window.qwasmApp.loaded && window.qwasmApp.lastLoad?.from === 'cache', null, { timeout: LOAD_TIMEOUT });
  assert.deepEqual(modelRequests(env.server), []);

  noErrors(page);
});

test('without cross-origin isolation the page runs single-threaded and says so', async (t) => {
  const env = await setup(t, { server: { isolate: false } });
  if (!env) return;
  const page = await openChat(env);
  await waitLoaded(page);
  const info = await page.evaluate(() => ({ iso: crossOriginIsolated, info: window.qwasmApp.info }));
  assert.equal(info.iso, false);
  assert.equal(info.info.threads, 1);
  assert.equal(info.info.variant, 'st');
  assert.match(await page.textContent('#path'), /single-threaded/);
  await page.click('#settings-button');
  assert.equal(await page.isDisabled('#set-threads'), true);
  assert.match(await page.textContent('#threads-note'), /not cross-origin isolated/);
  await page.click('#settings-form button[value=cancel]');
  await setSettings(page, { temperature: 0, maxTokens: 12 });
  const g = await sendAndWait(page, 'Once upon a time');
  assert.equal(g.messages.at(-1).content, referenceContinuation().slice(0, g.messages.at(-1).content.length));
  assert.ok(g.pieces >= 1 && g.pieces <= 12, `${g.pieces} pieces for 12 tokens`);

  // a local file (the f16 model: same greedy text)
  await page.setInputFiles('#model-file', path.join(SHARED_MODELS, 'stories260K-f16.gguf'));
  await page.waitForFunction(() => window.qwasmApp.loaded && window.qwasmApp.lastLoad?.from === 'file', null, { timeout: LOAD_TIMEOUT });
  assert.equal(await page.textContent('#model-name'), 'stories260K-f16.gguf');
  await page.click('#new-chat');
  const f = await sendAndWait(page, 'Once upon a time');
  assert.equal(f.messages.at(-1).content, referenceContinuation('stories260K-f16').slice(0, f.messages.at(-1).content.length));
  assert.ok(f.messages.at(-1).content.length > 20);
  noErrors(page);
});
