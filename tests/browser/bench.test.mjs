// The bench page (web/bench/index.html) in headless Chromium: the table mode
// that scripts/bench-wasm.sh reads, and the paired mode (a warmed-up engine,
// one measurement per window.qwasmBench.rep()) that bench-paired.mjs drives.
// Speeds are not asserted (the machine is shared); what is checked is that
// each mode produces what its harness reads, and rejects what it cannot do.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { setup, SHARED } from './harness.mjs';

const MODEL = '/shared/models/stories260K-q8_0.gguf';

async function openBench(env, query) {
  const page = await env.newPage();
  await page.goto(env.url(`web/bench/index.html?${query}`));
  await page.waitForFunction(() => window.qwasmBench && window.qwasmBench.status !== 'running', null,
    { timeout: 120000, polling: 200 });
  return page;
}

const isRate = (x) => typeof x === 'number' && Number.isFinite(x) && x > 0;

test('bench page, table mode: one row per thread count with pp and tg repetitions', { timeout: 180000 }, async (t) => {
  const env = await setup(t, { server: { mounts: { shared: SHARED } } });
  if (!env) return;
  const page = await openBench(env, `model=${MODEL}&threads=1,2&variant=mt&p=8&n=8&r=2`);
  const st = await page.evaluate(() => window.qwasmBench);
  assert.equal(st.status, 'done', st.error);
  assert.deepEqual(st.rows.map((r) => r.threads), [1, 2]);
  for (const r of st.rows) {
    assert.equal(r.pp.length, 2);
    assert.equal(r.tg.length, 2);
    assert.ok([...r.pp, ...r.tg].every(isRate), JSON.stringify(r));
    assert.match(r.kernels, /^wasm-/);
    assert.equal(r.variant, 'mt');
  }
  assert.deepEqual(page.errors, []);
});

test('bench page, paired mode: ready after warm-up, then one tg per rep()', { timeout: 180000 }, async (t) => {
  const env = await setup(t, { server: { mounts: { shared: SHARED } } });
  if (!env) return;
  const page = await openBench(env, `mode=paired&model=${MODEL}&threads=2&variant=mt&p=0&n=16`);
  assert.equal(await page.evaluate(() => window.qwasmBench.status), 'ready',
    await page.evaluate(() => window.qwasmBench.error));
  const reps = [];
  for (let i = 0; i < 3; i++) reps.push(await page.evaluate(() => window.qwasmBench.rep()));
  assert.ok(reps.every(isRate), JSON.stringify(reps));
  // one measurement at a time: a second rep() while one runs is refused, the first still resolves
  const both = await page.evaluate(async () => {
    const a = window.qwasmBench.rep();
    const b = await window.qwasmBench.rep().then(() => 'resolved', (e) => `rejected: ${e.message}`);
    return { a: await a, b };
  });
  assert.ok(isRate(both.a));
  assert.match(both.b, /^rejected: a measurement is already running/);
  assert.equal(await page.evaluate(() => window.qwasmBench.status), 'ready');
  assert.deepEqual(page.errors, []);
});

test('bench page, paired mode: one thread count and n > 0 only; unknown modes are errors', { timeout: 60000 }, async (t) => {
  const env = await setup(t, { server: { mounts: { shared: SHARED } } });
  if (!env) return;
  for (const [query, message] of [
    [`mode=paired&model=${MODEL}&threads=1,2&variant=mt`, /mode=paired measures one thread count and n > 0/],
    [`mode=paired&model=${MODEL}&threads=1&n=0&p=8`, /mode=paired measures one thread count and n > 0/],
    [`mode=fast&model=${MODEL}`, /mode expects table or paired, got 'fast'/],
  ]) {
    const page = await openBench(env, query);
    const st = await page.evaluate(() => ({ status: window.qwasmBench.status, error: window.qwasmBench.error }));
    assert.equal(st.status, 'error', query);
    assert.match(st.error, message);
    await assert.rejects(page.evaluate(() => window.qwasmBench.rep()), /not ready \(error\)/);
  }
});
