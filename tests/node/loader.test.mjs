// The zero-copy streaming loader (Engine.load with a URL / Blob / path /
// bytes, onProgress, AbortSignal), against a local HTTP server started here
// on 127.0.0.1 (ephemeral port, closed at the end):
//   - synth15M-q8_0 over fetch: progress monotonic, ending at the file size;
//     greedy generation byte-identical to the native CLI
//   - abort after the first chunks -> ABORTED, then a fresh load succeeds, and
//     repeated aborts do not grow wasm memory (everything was freed)
//   - the server drops the connection mid-file -> NETWORK, engine still usable
//   - a hostile file (bad magic) fails on the first chunk with the native message
//   - no Content-Length (buffered fallback), HTTP 404, Blob and path sources
//   - wasm memory after loading synth15M <= file size + KV cache + 32 MB
// Needs: bash scripts/build-wasm.sh, the native build (QW_NATIVE, default
// build/qwasm) and the shared data (QW_SHARED, default ../shared).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Engine, QwasmError } from '../../wasm/engine.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = process.env.QW_SHARED ?? path.resolve(ROOT, '../shared');
const NATIVE = process.env.QW_NATIVE ?? path.join(ROOT, 'build/qwasm');
const MODEL = path.join(SHARED, 'models', 'synth15M-q8_0.gguf');
const SMALL = path.join(SHARED, 'models', 'stories260K-q8_0.gguf');
const PROMPT = 'Once upon a time';
const MB = 1 << 20;

const skip = !fs.existsSync(NATIVE) ? `no native binary at ${NATIVE} (QW_NATIVE)`
  : !fs.existsSync(MODEL) || !fs.existsSync(SMALL) ? `no models in ${SHARED} (QW_SHARED)`
  : !fs.existsSync(path.join(ROOT, 'build-wasm', 'qwasm.mjs')) ? 'wasm build missing: run bash scripts/build-wasm.sh'
  : false;

function native(args) {
  const r = spawnSync(NATIVE, args, { encoding: 'buffer', maxBuffer: 1 << 28 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

let server, base, tmp, badPath, badBytes, engine;

before(async () => {
  if (skip) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qwasm-loader-'));
  // 8 MB that start like no GGUF at all
  badBytes = Buffer.alloc(8 * MB, 0x41);
  badBytes.write('not a model at all', 0);
  badPath = path.join(tmp, 'bad-magic.gguf');
  fs.writeFileSync(badPath, badBytes);
  server = http.createServer((req, res) => {
    const send = (file, { length = true, dropAfter = 0 } = {}) => {
      const size = fs.statSync(file).size;
      res.writeHead(200, length ? { 'Content-Type': 'application/octet-stream', 'Content-Length': size }
        : { 'Content-Type': 'application/octet-stream' });
      const s = fs.createReadStream(file, { highWaterMark: 64 * 1024 });
      let sent = 0;
      s.on('data', (c) => {
        if (dropAfter && sent + c.length > dropAfter) {
          s.destroy();
          res.socket.destroy(); // mid-file: the body is cut short
          return;
        }
        sent += c.length;
        if (!res.write(c)) { s.pause(); res.once('drain', () => s.resume()); }
      });
      s.on('end', () => res.end());
      res.on('close', () => s.destroy());
    };
    const u = req.url;
    if (u === '/model.gguf') send(MODEL);
    else if (u === '/small.gguf') send(SMALL);
    else if (u === '/nolength.gguf') send(SMALL, { length: false });
    else if (u === '/drop.gguf') send(MODEL, { dropAfter: 5 * MB });
    else if (u === '/bad.gguf') send(badPath);
    else { res.writeHead(404, { 'Content-Type': 'text/plain' }); res.end('no such file'); }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
  engine = await Engine.create({ variant: 'st' });
});

after(async () => {
  engine?.dispose();
  if (server) {
    server.closeAllConnections?.();
    await new Promise((r) => server.close(r));
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const fileSize = () => fs.statSync(MODEL).size;

async function greedy(e, n) {
  let text = '';
  for await (const piece of e.complete({ prompt: PROMPT, maxTokens: n, temperature: 0 })) text += piece;
  return PROMPT + text + '\n';
}

test('fetch synth15M-q8_0: progress reaches the size, generation equals native, memory bounded', { skip }, async () => {
  const size = fileSize();
  const seen = [];
  const memBefore = engine.mod.qwBuffer().byteLength;
  const info = await engine.load(`${base}/model.gguf`, { onProgress: (b, t) => seen.push([b, t]) });
  const memLoaded = engine.mod.qwBuffer().byteLength;
  assert.equal(info.fileBytes, size);
  assert.ok(seen.length > 1, `only ${seen.length} progress calls`);
  for (let i = 0; i < seen.length; i++) {
    assert.equal(seen[i][1], size);
    if (i) assert.ok(seen[i][0] > seen[i - 1][0], `progress not monotonic at ${i}`);
  }
  assert.equal(seen.at(-1)[0], size);

  const want = native(['run', '-m', MODEL, '-p', PROMPT, '-n', '64', '--temp', '0']);
  assert.equal(want.status, 0, want.stderr);
  assert.equal(await greedy(engine, 64), want.stdout);

  const nCtx = engine.lastStats.promptTokens + 64;
  const kv = 2 * info.nLayer * info.nHeadKv * info.headDim * 4 * nCtx;
  const memAfter = engine.mod.qwBuffer().byteLength;
  const bound = size + kv + 32 * MB;
  console.log(`# wasm memory: ${(memBefore / MB).toFixed(1)} MB before load, ` +
    `${(memLoaded / MB).toFixed(1)} MB after load, ${(memAfter / MB).toFixed(1)} MB after generation; ` +
    `file ${(size / MB).toFixed(1)} MB + KV cache ${(kv / MB).toFixed(2)} MB (n_ctx ${nCtx}) + 32 MB = ${(bound / MB).toFixed(1)} MB; ` +
    `${seen.length} chunks`);
  assert.ok(memLoaded <= size + 32 * MB, `after load: ${memLoaded} > ${size + 32 * MB}`);
  assert.ok(memAfter <= bound, `after generation: ${memAfter} > ${bound}`);
});

test('abort after the first chunks: ABORTED, nothing leaks, a fresh load works', { skip }, async () => {
  await engine.load(`${base}/model.gguf`);
  const memFull = engine.mod.qwBuffer().byteLength;
  for (let i = 0; i < 3; i++) {
    const ac = new AbortController();
    let last = 0;
    await assert.rejects(engine.load(`${base}/model.gguf`, {
      signal: ac.signal,
      onProgress: (b) => { last = b; if (b > 2 * MB) ac.abort(); },
    }), (err) => {
      assert.ok(err instanceof QwasmError, String(err));
      assert.equal(err.code, 'ABORTED');
      return true;
    });
    assert.ok(last > 2 * MB && last < fileSize(), `aborted at ${last}`);
    assert.throws(() => engine.info(), { code: 'INVALID_ARGUMENT' });
  }
  // an already-aborted signal: refused before anything is fetched
  await assert.rejects(engine.load(`${base}/model.gguf`, { signal: AbortSignal.abort() }), { code: 'ABORTED' });
  const info = await engine.load(`${base}/model.gguf`);
  assert.equal(info.fileBytes, fileSize());
  assert.equal(engine.mod.qwBuffer().byteLength, memFull, 'wasm memory grew across aborted loads');
  const want = native(['run', '-m', MODEL, '-p', PROMPT, '-n', '16', '--temp', '0']);
  assert.equal(await greedy(engine, 16), want.stdout);
});

test('connection dropped mid-file: NETWORK, then the engine still loads', { skip }, async () => {
  await assert.rejects(engine.load(`${base}/drop.gguf`), (err) => {
    assert.ok(err instanceof QwasmError, String(err));
    assert.ok(['NETWORK', 'TRUNCATED'].includes(err.code), `code ${err.code}: ${err.message}`);
    assert.match(err.message, /drop\.gguf/);
    console.log(`# dropped connection: ${err.code}: ${err.message}`);
    return true;
  });
  const info = await engine.load(`${base}/small.gguf`);
  assert.ok(info.nVocab > 0);
});

test('hostile file over HTTP: fails on the first chunk with the native message', { skip }, async () => {
  const n = native(['info', badPath]);
  assert.equal(n.status, 1);
  const prefix = `qwasm: error: cannot load model '${badPath}': `;
  assert.ok(n.stderr.startsWith(prefix), n.stderr);
  const nativeMsg = n.stderr.slice(prefix.length).replace(/\n$/, '');
  let got = 0;
  await assert.rejects(engine.load(`${base}/bad.gguf`, { name: badPath, onProgress: (b) => { got = b; } }), (err) => {
    assert.ok(err instanceof QwasmError, String(err));
    assert.equal(err.code, 'BAD_MODEL');
    assert.equal(err.message, nativeMsg);
    return true;
  });
  assert.ok(got < 1 * MB, `${got} of ${badBytes.length} bytes were taken before the failure`);
  // without a name, the URL is the prefix
  await assert.rejects(engine.load(`${base}/bad.gguf`), (err) => err.message.startsWith(`${base}/bad.gguf: gguf: `));
  await assert.rejects(engine.load(`${base}/missing.gguf`), { code: 'NETWORK', message: `${base}/missing.gguf: HTTP 404 Not Found` });
  const info = await engine.load(`${base}/small.gguf`);
  assert.ok(info.nVocab > 0);
});

test('other sources: no Content-Length, Blob, path, bytes give the same model', { skip }, async () => {
  const want = native(['run', '-m', SMALL, '-p', PROMPT, '-n', '16', '--temp', '0']).stdout;
  const size = fs.statSync(SMALL).size;
  const bytes = fs.readFileSync(SMALL);
  const sources = {
    nolength: `${base}/nolength.gguf`,
    url: new URL(`${base}/small.gguf`),
    blob: new Blob([bytes]),
    path: SMALL,
    bytes: new Uint8Array(bytes).buffer,
  };
  for (const [kind, src] of Object.entries(sources)) {
    let last = 0;
    const info = await engine.load(src, { onProgress: (b, t) => { assert.equal(t, size); assert.ok(b > last); last = b; } });
    assert.equal(last, size, kind);
    assert.equal(info.fileBytes, size, kind);
    assert.equal(await greedy(engine, 16), want, kind);
  }
});
