// The worker-based API (wasm/qwasm.mjs + wasm/worker.mjs), in Node
// (worker_threads), single-threaded and pthreads variants:
//   - greedy completion in a worker equals the native CLI's text
//   - chat.completions (non-stream and stream): content equals the
//     completion, usage counts match the tokenizer and the generated tokens
//   - abort mid-generation: no piece after the abort, the worker stops within
//     one token, the next call works
//   - error codes cross the worker boundary as QwasmError (bad magic, a
//     truncated file, out-of-range tokens, bad arguments)
//   - HTTP Range loading (a local node:http server, tiny rangeChunkBytes):
//     same eval rows as the path load; a server that ignores Range; a 200 or
//     a wrong Content-Range on a later request; a dropped connection gives
//     NETWORK and a retry works
//   - split models (3 parts cut here from stories260K): by URL, path and
//     Blob list, per-part SHA-256
//   - INTEGRITY mismatch, computeSha256 (checked against node:crypto)
//   - OUT_OF_MEMORY for a file wasm memory cannot hold and for a KV cache
//     that cannot fit; the engine stays usable
//   - dispose ends the worker (a child process exits by itself); a wasm trap
//     or an uncaught error in the worker rejects pending calls with WORKER
// Needs: bash scripts/build-wasm.sh, the native build (QW_NATIVE, default
// build/qwasm) and the shared data (QW_SHARED, default ../shared).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { createEngine, QwasmError, plainTemplate } from '../../wasm/qwasm.mjs';
import { relaxedSimdSupport } from '../../wasm/engine.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = process.env.QW_SHARED ?? path.resolve(ROOT, '../shared');
const NATIVE = process.env.QW_NATIVE ?? path.join(ROOT, 'build/qwasm');
const SMALL = path.join(SHARED, 'models', 'stories260K-q8_0.gguf');
const BIG = path.join(SHARED, 'models', 'synth15M-q8_0.gguf');
const PROMPT = 'Once upon a time';

const skip = !fs.existsSync(NATIVE) ? `no native binary at ${NATIVE} (QW_NATIVE)`
  : !fs.existsSync(SMALL) || !fs.existsSync(BIG) ? `no models in ${SHARED} (QW_SHARED)`
  : !fs.existsSync(path.join(ROOT, 'build-wasm', 'qwasm.mjs')) ||
    !fs.existsSync(path.join(ROOT, 'build-wasm-mt', 'qwasm.mjs')) ? 'wasm build missing: run bash scripts/build-wasm.sh'
  : false;

function native(args) {
  const r = spawnSync(NATIVE, args, { encoding: 'buffer', maxBuffer: 1 << 28 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}
const nativeGreedy = new Map();
function wantGreedy(model, n) {
  const k = `${model}:${n}`;
  if (!nativeGreedy.has(k)) {
    const r = native(['run', '-m', model, '-p', PROMPT, '-n', String(n), '--temp', '0']);
    assert.equal(r.status, 0, r.stderr);
    // `run` prints the prompt, the text and a newline
    assert.ok(r.stdout.startsWith(PROMPT) && r.stdout.endsWith('\n'));
    nativeGreedy.set(k, r.stdout.slice(PROMPT.length, -1));
  }
  return nativeGreedy.get(k);
}

async function text(c) {
  let s = '';
  for await (const p of c) s += p;
  return s;
}
const greedy = (e, n = 64) => text(e.complete({ prompt: PROMPT, maxTokens: n, temperature: 0 }));

function isQ(code) {
  return (err) => {
    assert.ok(err instanceof QwasmError, `not a QwasmError: ${err?.stack ?? err}`);
    assert.equal(err.name, 'QwasmError');
    assert.equal(err.code, code, `${err.code}: ${err.message}`);
    return true;
  };
}

// ---- split GGUF files (as llama.cpp's gguf-split writes them: all metadata
// in part 1, split.no / split.count / split.tensors.count in every part)
function splitGguf(buf, n) {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const u32 = () => { const v = dv.getUint32(pos, true); pos += 4; return v; };
  const u64 = () => { const v = Number(dv.getBigUint64(pos, true)); pos += 8; return v; };
  const str = () => { const l = u64(); const s = buf.subarray(pos, pos + l).toString('utf8'); pos += l; return s; };
  assert.equal(buf.subarray(0, 4).toString(), 'GGUF');
  pos = 4;
  assert.equal(u32(), 3);
  const nT = u64(), nKv = u64();
  const size = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const skip1 = (t) => {
    if (t === 8) str();
    else if (t === 9) { const et = u32(), k = u64(); for (let i = 0; i < k; i++) skip1(et); }
    else pos += size[t];
  };
  let align = 32;
  for (let i = 0; i < nKv; i++) {
    const key = str(), t = u32();
    if (key === 'general.alignment') { align = dv.getUint32(pos, true); }
    skip1(t);
  }
  const kvEnd = pos;
  assert.equal(align, 32);
  const tensors = [];
  for (let i = 0; i < nT; i++) {
    const start = pos;
    const name = str(), nd = u32();
    pos += 8 * nd;
    const type = u32();
    const offPos = pos;
    const offset = u64();
    tensors.push({ name, info: buf.subarray(start, offPos), type, offset });
  }
  const dataStart = Math.ceil(pos / align) * align;
  const byOff = [...tensors].sort((a, b) => a.offset - b.offset);
  byOff.forEach((t, i) => { t.size = (i + 1 < byOff.length ? byOff[i + 1].offset : buf.length - dataStart) - t.offset; });
  const parts = [];
  for (let p = 0; p < n; p++) {
    const mine = tensors.filter((_, i) => Math.floor(i * n / nT) === p);
    const chunks = [];
    const le = (v, k) => { const b = Buffer.alloc(k); if (k === 8) b.writeBigUInt64LE(BigInt(v)); else b.writeUIntLE(v, 0, k); return b; };
    const s = (x) => { const b = Buffer.from(x); return Buffer.concat([le(b.length, 8), b]); };
    chunks.push(Buffer.from('GGUF'), le(3, 4), le(mine.length, 8), le((p === 0 ? nKv : 0) + 3, 8));
    if (p === 0) chunks.push(buf.subarray(24, kvEnd));
    chunks.push(s('split.no'), le(2, 4), le(p, 2), s('split.count'), le(2, 4), le(n, 2),
      s('split.tensors.count'), le(5, 4), le(nT, 4));
    let off = 0;
    const data = [];
    for (const t of mine) {
      chunks.push(t.info, le(off, 8));
      const padded = Math.ceil(t.size / align) * align;
      const d = Buffer.alloc(padded);
      buf.copy(d, 0, dataStart + t.offset, dataStart + t.offset + t.size);
      data.push(d);
      off += padded;
    }
    let head = Buffer.concat(chunks);
    head = Buffer.concat([head, Buffer.alloc(Math.ceil(head.length / align) * align - head.length)]);
    parts.push(Buffer.concat([head, ...data]));
  }
  return parts;
}

// ---- the HTTP server: /<mode>/<file>
//   r        Range supported (206 + Content-Range), else 200
//   plain    ignores Range (200, whole file)
//   late200  206 for the first range, 200 (whole file) for later ones
//   badrange later ranges answered with a Content-Range one byte off
//   drop     the next `drops` answers to a later range stop halfway (socket destroyed)
//   huge     a valid GGUF header in a file announced as 4 GB - 1 MB
let server, base, tmp;
const files = new Map();
const log = [];
let drops = 0;

function serve(req, res) {
  const u = new URL(req.url, 'http://localhost');
  const [, mode, ...rest] = u.pathname.split('/');
  const name = rest.join('/');
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  log.push({ mode, name, range: req.headers.range ?? null });
  const body = files.get(name);
  if (!body) { res.writeHead(404); res.end('no such file'); return; }
  const whole = () => { res.writeHead(200, { 'Content-Length': body.length, 'Accept-Ranges': mode === 'plain' ? 'none' : 'bytes' }); res.end(body); };
  if (mode === 'huge') {
    const total = 0xfff00000, end = Math.min(Number(range?.[2] ?? total - 1), total - 1);
    res.writeHead(206, { 'Content-Length': end + 1, 'Content-Range': `bytes 0-${end}/${total}` });
    res.write(body.subarray(0, 65536));
    return; // the client gives up on it
  }
  if (mode === 'plain' || !range) return whole();
  const start = Number(range[1]);
  const end = Math.min(Number(range[2]), body.length - 1);
  if (start > 0 && mode === 'late200') return whole();
  const cr = mode === 'badrange' && start > 0 ? `bytes ${start + 1}-${end + 1}/${body.length}` : `bytes ${start}-${end}/${body.length}`;
  res.writeHead(206, { 'Content-Length': end - start + 1, 'Content-Range': cr });
  if (mode === 'drop' && start > 0 && drops > 0) {
    drops--;
    res.write(body.subarray(start, start + (end - start + 1) / 2), () => res.socket.destroy());
    return;
  }
  res.end(body.subarray(start, end + 1));
}

let splitPaths, splitParts;
before(async () => {
  if (skip) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qwasm-api-'));
  files.set('small.gguf', fs.readFileSync(SMALL));
  files.set('big.gguf', fs.readFileSync(BIG));
  splitParts = splitGguf(files.get('small.gguf'), 3);
  splitPaths = splitParts.map((b, i) => {
    const n = `split-0000${i + 1}-of-00003.gguf`;
    files.set(n, b);
    const p = path.join(tmp, n);
    fs.writeFileSync(p, b);
    return p;
  });
  server = http.createServer(serve);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(async () => {
  if (server) {
    server.closeAllConnections?.();
    await new Promise((r) => server.close(r));
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------- tests --

for (const [variant, threads] of [['st', 1], ['mt', 2]]) {
  test(`${variant}: greedy completion in a worker equals the native CLI; chat shapes and usage`, { skip }, async () => {
    const e = await createEngine({ model: BIG, variant, threads });
    try {
      const info = await e.info();
      assert.equal(info.variant, variant);
      assert.equal(info.threads, threads);
      assert.equal(info.kernelPath, relaxedSimdSupport().ok ? 'wasm-relaxed-simd' : 'wasm-simd128');
      assert.equal(info.crossOriginIsolated, false);
      assert.ok(info.wasmMemoryBytes >= fs.statSync(BIG).size, `${info.wasmMemoryBytes}`);
      assert.equal(info.fileBytes, fs.statSync(BIG).size);
      const want = wantGreedy(BIG, 64);
      const c = e.complete({ prompt: PROMPT, maxTokens: 64, temperature: 0 });
      assert.equal(await text(c), want);
      const st = await c.stats;
      assert.equal(st.finishReason, 'length');
      assert.equal(st.genTokens, 64);
      assert.equal(st.threads, threads);
      const nPrompt = native(['tokenize', '-m', BIG, PROMPT]).stdout.trim().split(/\s+/).length;
      assert.equal(st.promptTokens, nPrompt);

      const messages = [{ role: 'user', content: PROMPT }];
      const r = await e.chat.completions.create({ messages, maxTokens: 64, temperature: 0 });
      assert.equal(r.object, 'chat.completion');
      assert.match(r.id, /^chatcmpl-/);
      assert.ok(Number.isInteger(r.created) && Math.abs(r.created - Date.now() / 1000) < 60);
      assert.equal(r.model, 'synth15M-q8_0.gguf');
      assert.deepEqual(r.choices, [{ index: 0, message: { role: 'assistant', content: want }, finish_reason: 'length' }]);
      assert.deepEqual(r.usage, { prompt_tokens: nPrompt, completion_tokens: 64, total_tokens: nPrompt + 64,
        prompt_tokens_details: { cached_tokens: 0 } });

      const chunks = [];
      for await (const ch of await e.chat.completions.create({ messages, stream: true, max_tokens: 64, temperature: 0 })) chunks.push(ch);
      assert.ok(chunks.length > 2);
      for (const ch of chunks) {
        assert.equal(ch.object, 'chat.completion.chunk');
        assert.equal(ch.id, chunks[0].id);
        assert.equal(ch.choices.length, 1);
      }
      assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
      assert.equal(chunks.slice(0, -1).map((ch) => ch.choices[0].delta.content).join(''), want);
      assert.ok(chunks.slice(0, -1).every((ch) => ch.choices[0].finish_reason === null));
      const last = chunks.at(-1);
      assert.equal(last.choices[0].finish_reason, 'length');
      assert.deepEqual(last.usage, { prompt_tokens: nPrompt, completion_tokens: 64, total_tokens: nPrompt + 64,
        prompt_tokens_details: { cached_tokens: 0 } });
    } finally {
      await e.dispose();
    }
  });

  test(`${variant}: abort mid-generation stops within one token; the next call works`, { skip }, async () => {
    const e = await createEngine({ model: BIG, variant, threads });
    try {
      const ac = new AbortController();
      let seen = 0, after = 0;
      const c = e.complete({ prompt: PROMPT, maxTokens: 200, temperature: 0, signal: ac.signal });
      for await (const p of c) {
        if (ac.signal.aborted) after++;
        seen++;
        if (seen === 8) ac.abort();
      }
      const st = await c.stats;
      assert.equal(after, 0, 'pieces after the abort');
      assert.equal(st.finishReason, 'aborted');
      // the worker handles the cancel message between two tokens and then
      // samples no further token (pieces in flight when the abort happened
      // are dropped on this side: the check above)
      assert.equal(st.tokensAfterCancel, 0);
      assert.ok(st.genTokens >= seen && st.genTokens < 200, `generated ${st.genTokens} tokens, ${seen} seen before the abort`);
      console.log(`# abort: ${seen} pieces seen, ${st.genTokens} tokens generated (${st.genTokens - seen} in flight)`);
      // leaving the loop early also cancels
      const c2 = e.complete({ prompt: PROMPT, maxTokens: 200, temperature: 0 });
      let k = 0;
      for await (const p of c2) { assert.equal(typeof p, 'string'); if (++k === 3) break; }
      const st2 = await c2.stats;
      assert.equal(st2.finishReason, 'aborted');
      assert.equal(st2.tokensAfterCancel, 0);
      assert.ok(st2.genTokens >= 3 && st2.genTokens < 200, `${st2.genTokens}`);
      // an already-aborted signal: nothing generated
      const c3 = e.complete({ prompt: PROMPT, maxTokens: 20, temperature: 0, signal: AbortSignal.abort() });
      assert.equal(await text(c3), '');
      assert.equal((await c3.stats).finishReason, 'aborted');
      assert.equal(await greedy(e, 32), wantGreedy(BIG, 32));
    } finally {
      await e.dispose();
    }
  });
}

test('error codes cross the worker boundary; the engine stays usable', { skip }, async () => {
  const e = await createEngine({ model: SMALL });
  try {
    // bad magic: the native loader's message
    const bad = path.join(tmp, 'bad-magic.gguf');
    fs.writeFileSync(bad, Buffer.concat([Buffer.from('not a model at all'), Buffer.alloc(4096, 0x41)]));
    const n = native(['info', bad]);
    const prefix = `qwasm: error: cannot load model '${bad}': `;
    assert.ok(n.status === 1 && n.stderr.startsWith(prefix), n.stderr);
    await assert.rejects(e.load(bad), (err) => isQ('BAD_MODEL')(err) && err.message === n.stderr.slice(prefix.length).trim());
    // the first 200 KB of a model: the stream ends early
    await assert.rejects(e.load(new Uint8Array(files.get('small.gguf').subarray(0, 200000)), { name: 'cut.gguf' }), (err) =>
      isQ('TRUNCATED')(err) && /^cut\.gguf: the stream ended after 200000 of 200000 bytes|cut\.gguf/.test(err.message));
    await assert.rejects(e.load(path.join(tmp, 'missing.gguf')), isQ('IO'));
    await assert.rejects(e.load({ not: 'a source' }), isQ('INVALID_ARGUMENT'));
    await assert.rejects(e.load(new ReadableStream()), isQ('INVALID_ARGUMENT')); // no size
    // no model loaded now
    await assert.rejects(e.tokenize('x'), isQ('INVALID_ARGUMENT'));
    const info = await e.info();
    assert.equal(info.nVocab, undefined);
    assert.equal(info.variant, 'st');

    await e.load(SMALL);
    await assert.rejects(e.eval([1, 512, 3]), (err) => isQ('INVALID_ARGUMENT')(err) && /512 at index 1 is out of range/.test(err.message));
    await assert.rejects(e.detokenize([-1]), isQ('INVALID_ARGUMENT'));
    await assert.rejects(e.eval([1, 2], { top: 0 }), isQ('INVALID_ARGUMENT'));
    await assert.rejects(text(e.complete({ prompt: 42 })), isQ('INVALID_ARGUMENT'));
    await assert.rejects(text(e.complete({ prompt: PROMPT, stop: '' })), isQ('INVALID_ARGUMENT'));
    await assert.rejects(e.chat.completions.create({ messages: [{ role: 'robot', content: 'x' }] }), isQ('INVALID_ARGUMENT'));
    // a ReadableStream with its size, transferred to the worker
    const b = files.get('small.gguf');
    const rs = new ReadableStream({ start(c) { for (let o = 0; o < b.length; o += 50000) c.enqueue(new Uint8Array(b.subarray(o, o + 50000))); c.close(); } });
    await e.load(rs, { size: b.length, name: 'stream.gguf' });
    assert.equal(await greedy(e, 32), wantGreedy(SMALL, 32));
    // eval rows as `qwasm eval` prints them (numbers compared as printed)
    const toks = await e.tokenize(PROMPT);
    assert.equal(await e.detokenize(toks.slice(1)), ' ' + PROMPT);
    const rows = await e.eval(toks, { top: 3 });
    const nat = native(['eval', '-m', SMALL, '--tokens', toks.join(' '), '--top', '3']).stdout.trim().split('\n').map(JSON.parse);
    assert.equal(rows.length, nat.length);
    rows.forEach((r, i) => {
      assert.equal(r.pos, nat[i].pos);
      assert.deepEqual(r.top.map((x) => x[0]), nat[i].top.map((x) => x[0]));
      r.top.forEach(([, l], j) => assert.equal(l.toFixed(6), nat[i].top[j][1].toFixed(6)));
    });
  } finally {
    await e.dispose();
  }
  // after dispose: INVALID_ARGUMENT
  await assert.rejects(e.info(), isQ('INVALID_ARGUMENT'));
  await assert.rejects(text(e.complete({ prompt: PROMPT })), isQ('INVALID_ARGUMENT'));
});

test('plainTemplate', () => {
  assert.equal(plainTemplate([{ role: 'user', content: 'Once upon a time' }]), 'Once upon a time');
  assert.equal(plainTemplate([{ role: 'system', content: 'S' }, { role: 'user', content: 'U1' },
    { role: 'assistant', content: ' A1' }, { role: 'user', content: 'U2' }]), 'S\n\nU1 A1\nU2');
  assert.equal(plainTemplate([{ role: 'assistant', content: 'A' }, { role: 'user', content: 'U' }]), 'A\nU');
  assert.throws(() => plainTemplate('x'), isQ('INVALID_ARGUMENT'));
});

test('HTTP Range loading: chunks verified, same results; servers that ignore or break Range', { skip }, async () => {
  const e = await createEngine({});
  try {
    const ref = await createEngine({ model: SMALL, worker: false });
    const toks = [1, 403, 407, 261, 378, 300, 291];
    const want = await ref.eval(toks, { top: 8 });
    await ref.dispose();
    const size = files.get('small.gguf').length;
    const chunk = 48 * 1024;
    for (const mode of ['r', 'plain']) {
      log.length = 0;
      const seen = [];
      const info = await e.load(`${base}/${mode}/small.gguf`, { rangeChunkBytes: chunk, onProgress: (b, t) => seen.push([b, t]) });
      assert.equal(info.fileBytes, size);
      assert.deepEqual(await e.eval(toks, { top: 8 }), want);
      assert.equal(seen.at(-1)[0], size);
      assert.ok(seen.every(([b, t], i) => t === size && (i === 0 || b > seen[i - 1][0])));
      if (mode === 'r') {
        // consecutive ranges covering the file exactly
        const n = Math.ceil(size / chunk);
        assert.equal(log.length, n);
        log.forEach((r, i) => assert.equal(r.range, `bytes=${i * chunk}-${Math.min((i + 1) * chunk, size) - 1}`));
      } else {
        assert.equal(log.length, 1);
      }
    }
    assert.equal(await greedy(e, 32), wantGreedy(SMALL, 32));
    // a later range answered 200, or with the wrong bytes: NETWORK
    await assert.rejects(e.load(`${base}/late200/small.gguf`, { rangeChunkBytes: chunk }),
      (err) => isQ('NETWORK')(err) && /HTTP 200/.test(err.message) && /expected 206/.test(err.message));
    await assert.rejects(e.load(`${base}/badrange/small.gguf`, { rangeChunkBytes: chunk }),
      (err) => isQ('NETWORK')(err) && /Content-Range/.test(err.message));
    // a connection dropped inside a range: NETWORK naming the file; the retry works
    drops = 1;
    await assert.rejects(e.load(`${base}/drop/big.gguf`, { rangeChunkBytes: 4 << 20 }),
      (err) => isQ('NETWORK')(err) && /big\.gguf/.test(err.message));
    assert.equal(drops, 0);
    const info = await e.load(`${base}/drop/big.gguf`, { rangeChunkBytes: 4 << 20 });
    assert.equal(info.fileBytes, fs.statSync(BIG).size);
    assert.equal(await greedy(e, 16), wantGreedy(BIG, 16));
    await assert.rejects(e.load(`${base}/r/nothing.gguf`), (err) => isQ('NETWORK')(err) && /HTTP 404/.test(err.message));
  } finally {
    await e.dispose();
  }
});

test('split models: URL, path and Blob parts; per-part SHA-256', { skip }, async () => {
  const e = await createEngine({});
  try {
    const want = wantGreedy(SMALL, 32);
    const sums = splitParts.map((b) => crypto.createHash('sha256').update(b).digest('hex'));
    log.length = 0;
    let info = await e.load(`${base}/r/split-00002-of-00003.gguf`, { rangeChunkBytes: 64 * 1024, computeSha256: true });
    assert.equal(info.nShards, 3);
    assert.deepEqual(info.sha256, sums);
    assert.deepEqual(new Set(log.map((r) => r.name)), new Set(['split-00001-of-00003.gguf', 'split-00002-of-00003.gguf', 'split-00003-of-00003.gguf']));
    assert.equal(await greedy(e, 32), want);
    info = await e.load(splitPaths[2], { expectSha256: sums.map((s) => s.toUpperCase()) });
    assert.equal(info.nShards, 3);
    assert.equal(await greedy(e, 32), want);
    info = await e.load(splitParts.map((b, i) => new Blob([b])), { name: 'x-00001-of-00003.gguf' });
    assert.equal(info.nShards, 3);
    assert.equal(await greedy(e, 32), want);
    // one part alone, or parts out of order
    await assert.rejects(e.load(new Blob([splitParts[0]]), { name: 'x-00001-of-00003.gguf' }),
      (err) => isQ('UNSUPPORTED_TYPE')(err) && /must be streamed with all their parts/.test(err.message));
    await assert.rejects(e.load([splitParts[1], splitParts[0], splitParts[2]], { name: 'x-00001-of-00003.gguf' }),
      (err) => isQ('BAD_MODEL')(err) && err.message === 'x-00001-of-00003.gguf says it is part 2 of 3, expected 1 of 3');
    // a part missing on the server
    files.delete('split-00003-of-00003.gguf');
    await assert.rejects(e.load(`${base}/r/split-00001-of-00003.gguf`),
      (err) => isQ('NETWORK')(err) && /split-00003-of-00003\.gguf: HTTP 404/.test(err.message));
    files.set('split-00003-of-00003.gguf', splitParts[2]);
    await assert.rejects(e.load(splitPaths[0], { expectSha256: sums[0] }), isQ('INVALID_ARGUMENT'));
  } finally {
    await e.dispose();
  }
});

test('INTEGRITY and computeSha256', { skip }, async () => {
  const e = await createEngine({});
  try {
    const sum = crypto.createHash('sha256').update(files.get('small.gguf')).digest('hex');
    const info = await e.load(`${base}/r/small.gguf`, { computeSha256: true });
    assert.equal(info.sha256, sum);
    const wrong = sum.slice(0, -1) + (sum.at(-1) === '0' ? '1' : '0');
    await assert.rejects(e.load(SMALL, { expectSha256: wrong }),
      (err) => isQ('INTEGRITY')(err) && err.message.includes(sum) && err.message.includes(wrong));
    await assert.rejects(e.tokenize('x'), isQ('INVALID_ARGUMENT')); // nothing kept
    await assert.rejects(e.load(SMALL, { expectSha256: 'abc' }), isQ('INVALID_ARGUMENT'));
    const ok = await e.load(SMALL, { expectSha256: sum });
    assert.equal(ok.sha256, sum);
    assert.equal(await greedy(e, 16), wantGreedy(SMALL, 16));
  } finally {
    await e.dispose();
  }
});

test('OUT_OF_MEMORY: a file wasm memory cannot hold, a KV cache that cannot fit; the engine stays usable', { skip }, async () => {
  const e = await createEngine({ model: BIG });
  try {
    const mem0 = (await e.info()).wasmMemoryBytes;
    await assert.rejects(e.load(`${base}/huge/big.gguf`),
      (err) => isQ('OUT_OF_MEMORY')(err) && /4293918720/.test(err.message));
    await e.load(BIG);
    await assert.rejects(text(e.complete({ prompt: PROMPT, maxTokens: 8, nCtx: 1 << 20 })),
      (err) => isQ('OUT_OF_MEMORY')(err) && /1048576-token context/.test(err.message));
    await assert.rejects(e.eval([1, 2, 3], { nCtx: 1 << 20 }), isQ('OUT_OF_MEMORY'));
    assert.equal(await greedy(e, 16), wantGreedy(BIG, 16));
    const mem1 = (await e.info()).wasmMemoryBytes;
    assert.ok(mem1 <= mem0 + 64 * 2 ** 20, `wasm memory grew from ${mem0} to ${mem1}`);
  } finally {
    await e.dispose();
  }
});

test('dispose ends the worker: nothing keeps Node alive', { skip }, async () => {
  const script = `
    import { createEngine } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'wasm/qwasm.mjs')).href)};
    for (const [variant, threads] of [['st', 1], ['mt', 2]]) {
      const e = await createEngine({ model: ${JSON.stringify(SMALL)}, variant, threads });
      let s = '';
      for await (const p of e.complete({ prompt: 'Once upon a time', maxTokens: 8, temperature: 0 })) s += p;
      await e.dispose();
      console.log(variant, s.length > 0);
    }`;
  const t0 = Date.now();
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const code = await new Promise((resolve) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); resolve('timeout'); }, 20000);
    child.on('exit', (c) => { clearTimeout(timer); resolve(c); });
  });
  assert.equal(code, 0, `exit ${code} after ${Date.now() - t0} ms: ${err}`);
  assert.equal(out, 'st true\nmt true\n');
});

test('a worker crash (wasm trap, uncaught error) rejects pending calls with WORKER', { skip }, async () => {
  for (const how of ['trap', 'throw']) {
    const e = await createEngine({ model: BIG });
    const c = e.complete({ prompt: PROMPT, maxTokens: 100000, temperature: 0.8, nCtx: 2048 });
    const queued = e.tokenize('x'); // waits behind the completion
    let pieces = 0;
    const iter = (async () => { for await (const p of c) { pieces++; if (pieces === 3) e._c.call('crash', { how }).catch(() => {}); } })();
    // the crash hook runs at once (between two tokens): 'trap' reads far out
    // of wasm memory, 'throw' throws from a timer
    await assert.rejects(iter, isQ('WORKER'));
    await assert.rejects(c.stats, isQ('WORKER'));
    await assert.rejects(queued, isQ('WORKER'));
    await assert.rejects(e.info(), isQ('INVALID_ARGUMENT'));
    await e.dispose();
  }
});

// Opt-in (slow, needs ~3 GB of memory): QW_BIG_MODEL=/path/to/a >2 GB .gguf, e.g.
//   build/qwasm synth --shape llama3.2-1b --type F16 -o /tmp/big.gguf   (2.47 GB)
// loaded over HTTP in 256 MiB Range requests: SHA-256 as node:crypto's,
// greedy text as native's.
const BIG_MODEL = process.env.QW_BIG_MODEL;
test('a file over 2 GB over HTTP Range (QW_BIG_MODEL)', { skip: skip || (!BIG_MODEL && 'set QW_BIG_MODEL to run') }, async () => {
  const size = fs.statSync(BIG_MODEL).size;
  assert.ok(size > 2 ** 31, `${BIG_MODEL} is not over 2 GB`);
  const bigServer = http.createServer((req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    const s = m ? Number(m[1]) : 0, end = m ? Math.min(Number(m[2]), size - 1) : size - 1;
    res.writeHead(m ? 206 : 200, { 'Content-Length': end - s + 1, ...(m ? { 'Content-Range': `bytes ${s}-${end}/${size}` } : {}) });
    fs.createReadStream(BIG_MODEL, { start: s, end }).pipe(res);
  });
  await new Promise((r) => bigServer.listen(0, '127.0.0.1', r));
  const hash = crypto.createHash('sha256');
  for await (const c of fs.createReadStream(BIG_MODEL)) hash.update(c);
  const e = await createEngine({});
  try {
    const info = await e.load(`http://127.0.0.1:${bigServer.address().port}/big.gguf`, { computeSha256: true });
    assert.equal(info.fileBytes, size);
    assert.equal(info.sha256, hash.digest('hex'));
    assert.equal(await greedy(e, 4), wantGreedy(BIG_MODEL, 4));
  } finally {
    await e.dispose();
    bigServer.closeAllConnections?.();
    await new Promise((r) => bigServer.close(r));
  }
});
