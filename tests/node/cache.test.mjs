// complete({ cachePrompt: true }): the engine keeps the context and a later
// prompt that starts with the same tokens decodes only the rest.
//   - the tokens reused are the longest common prefix (at least the last
//     prompt token is decoded again), reported as stats.promptCached and as
//     usage.prompt_tokens_details.cached_tokens in chat completions
//   - exactness: the greedy tokens after a cached prefix are the ones a
//     fresh context gives on the same decode schedule (prefix as one batch,
//     then the rest as one batch)
//   - a different prompt, another thread count, a new model or a call
//     without cachePrompt do not reuse anything wrongly
// Needs: bash scripts/build-wasm.sh and the shared data (QW_SHARED).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Engine } from '../../wasm/engine.mjs';
import { createEngine } from '../../wasm/qwasm.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = process.env.QW_SHARED ?? path.resolve(ROOT, '../shared');
const MODEL = path.join(SHARED, 'models', 'stories260K-q8_0.gguf');
const OTHER = path.join(SHARED, 'models', 'stories260K-q4_0.gguf');
const skip = !fs.existsSync(MODEL) || !fs.existsSync(OTHER) ? `no models in ${SHARED} (QW_SHARED)`
  : !fs.existsSync(path.join(ROOT, 'build-wasm', 'qwasm.mjs')) ? 'wasm build missing: run bash scripts/build-wasm.sh'
  : false;

async function run(e, opts) {
  let text = '';
  for await (const piece of e.complete(opts)) text += piece;
  return { text, stats: e.lastStats };
}

// greedy ids on a fresh context: `prefix` as one batch, then `rest` as one, then n tokens one at a time
function greedyOnSchedule(e, prefix, rest, n) {
  const m = e.mod, V = e.info().nVocab;
  const ctx = e.newContext(prefix.length + rest.length + n, 1);
  const tp = e.alloc(4 * Math.max(prefix.length, rest.length, 1)), id = e.alloc(4), val = e.alloc(4);
  const ids = [];
  try {
    const decode = (toks) => {
      new Int32Array(m.qwBuffer(), tp, toks.length).set(toks);
      assert.equal(m._qwb_decode(ctx, tp, toks.length, 0), 0);
    };
    decode(prefix);
    decode(rest);
    for (let i = 0; i < n; i++) {
      assert.equal(m._qwb_top_k(ctx, V, -1, 1, id, val), 1);
      const t = new Int32Array(m.qwBuffer(), id, 1)[0];
      ids.push(t);
      if (t === e.info().eos) break;
      decode([t]);
    }
  } finally {
    e.free(tp); e.free(id); e.free(val);
    m._qwb_context_free(ctx);
  }
  return ids;
}

test('cachePrompt: reuses the common prefix, exactly as a fresh context with the same schedule', { skip }, async () => {
  const e = await Engine.create({});
  try {
    await e.load(MODEL);
    const p1 = 'Once upon a time, there was a little girl';
    const p2 = p1 + ' who liked to play with her dog';
    const ids1 = e.tokenize(p1), ids2 = e.tokenize(p2);
    let k = 0;
    while (k < ids1.length && ids1[k] === ids2[k]) k++;
    assert.ok(k >= ids1.length - 1 && k > 3, `common prefix ${k} of ${ids1.length}`);

    const a = await run(e, { prompt: p1, maxTokens: 0, cachePrompt: true });
    assert.equal(a.stats.promptCached, 0);
    const b = await run(e, { prompt: p2, maxTokens: 24, temperature: 0, cachePrompt: true });
    assert.equal(b.stats.promptCached, k);
    assert.equal(b.stats.promptTokens, ids2.length);
    const want = greedyOnSchedule(e, ids2.slice(0, k), ids2.slice(k), 24).filter((t) => t !== e.info().eos);
    assert.ok(want.length > 8 && b.stats.genTokens === want.length, `${want.length} ${b.stats.genTokens}`);
    // (detokenize may drop the first piece's leading space, the stream keeps it)
    assert.equal(b.text.trimStart(), e.detokenize(want).trimStart());

    // the same prompt again: everything but its last token comes from the cache
    const c = await run(e, { prompt: p2, maxTokens: 4, temperature: 0, cachePrompt: true });
    assert.equal(c.stats.promptCached, ids2.length - 1);
    // an unrelated prompt shares only BOS
    const d = await run(e, { prompt: 'The cat sat', maxTokens: 4, temperature: 0, cachePrompt: true });
    assert.equal(d.stats.promptCached, e.info().addBos ? 1 : 0);
    // without cachePrompt nothing is reused, and the cache stays for the next caching call
    const f = await run(e, { prompt: 'The cat sat', maxTokens: 4, temperature: 0 });
    assert.equal(f.stats.promptCached, 0);
    const g = await run(e, { prompt: 'The cat sat on', maxTokens: 4, temperature: 0, cachePrompt: true });
    assert.ok(g.stats.promptCached >= 3, `${g.stats.promptCached}`);
    // another model: the cache is gone
    await e.load(OTHER);
    const h = await run(e, { prompt: 'The cat sat on', maxTokens: 4, temperature: 0, cachePrompt: true });
    assert.equal(h.stats.promptCached, 0);
  } finally {
    e.dispose();
  }
});

test('cachePrompt through the worker API: chat turns report cached_tokens', { skip }, async () => {
  const e = await createEngine({ model: MODEL });
  try {
    const messages = [{ role: 'user', content: 'Once upon a time' }];
    const r1 = await e.chat.completions.create({ messages, maxTokens: 16, temperature: 0, cachePrompt: true });
    assert.equal(r1.usage.prompt_tokens_details.cached_tokens, 0);
    messages.push(r1.choices[0].message, { role: 'user', content: 'And then?' });
    const stream = await e.chat.completions.create({ messages, maxTokens: 16, temperature: 0, cachePrompt: true, stream: true });
    let usage = null;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    assert.ok(usage.prompt_tokens_details.cached_tokens > 4, JSON.stringify(usage));
    assert.ok(usage.prompt_tokens_details.cached_tokens < usage.prompt_tokens);
    // without it: nothing cached is reported
    const r3 = await e.chat.completions.create({ messages, maxTokens: 4, temperature: 0 });
    assert.equal(r3.usage.prompt_tokens_details.cached_tokens, 0);
  } finally {
    await e.dispose();
  }
});
