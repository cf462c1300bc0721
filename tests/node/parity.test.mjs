// WebAssembly parity: the Node CLI twin (wasm/cli.mjs) must print exactly what
// the native CLI (build/qwasm) prints, for every model in the shared data, with
// the single-threaded build and with the pthreads build (2 threads), each in
// its baseline SIMD128 and its relaxed-SIMD (fused multiply-add) form; the
// relaxed ones run under the flags Node needs (tests/node/relaxed.mjs) and
// skip, saying why, when Node cannot run them:
//   run --temp 0 -n 64     greedy text, byte for byte
//   eval --top 5           reference prompt + 20 further ids (llama.cpp's greedy
//                          continuation from ../shared/reference), byte for byte,
//                          i.e. the same top-5 ids and the same float logits
//   tokenize               ids of a few texts
// and errors: hostile files give a QwasmError (BAD_MODEL / TRUNCATED) with the
// native message, after which a valid model loads; CLI error lines and exit
// codes equal the native ones.
// Needs: bash scripts/build-wasm.sh, the native build (QW_NATIVE, default
// build/qwasm) and the shared data (QW_SHARED, default ../shared).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Engine, QwasmError } from '../../wasm/engine.mjs';
import { relaxedNode } from './relaxed.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = process.env.QW_SHARED ?? path.resolve(ROOT, '../shared');
const NATIVE = process.env.QW_NATIVE ?? path.join(ROOT, 'build/qwasm');
const CLI = path.join(ROOT, 'wasm/cli.mjs');
const MODELS_DIR = path.join(SHARED, 'models');
const models = fs.existsSync(MODELS_DIR)
  ? fs.readdirSync(MODELS_DIR).filter((f) => f.endsWith('.gguf')).sort()
  : [];
const VARIANTS = [
  { name: 'st', dir: 'build-wasm', args: ['--wasm', 'st', '--simd', 'simd128'], threads: 1 },
  { name: 'mt', dir: 'build-wasm-mt', args: ['--wasm', 'mt', '--simd', 'simd128', '--threads', '2'], threads: 2 },
  { name: 'st-relaxed', dir: 'build-wasm-relaxed', args: ['--wasm', 'st', '--simd', 'relaxed'], threads: 1, relaxed: true },
  { name: 'mt-relaxed', dir: 'build-wasm-mt-relaxed', args: ['--wasm', 'mt', '--simd', 'relaxed', '--threads', '2'], threads: 2, relaxed: true },
];
const PROMPT = 'Once upon a time';
const TEXTS = ['Once upon a time', 'Hello world', ' two  spaces\nand a newline',
  'naïve café — 日本語 🙂', '1234567 tokens, (punctuation)!'];

const haveNative = fs.existsSync(NATIVE);
const haveData = models.length > 0;
const builds = VARIANTS.filter((v) => fs.existsSync(path.join(ROOT, v.dir, 'qwasm.mjs')));
const skip = !haveNative ? `no native binary at ${NATIVE} (QW_NATIVE)`
  : !haveData ? `no models in ${MODELS_DIR} (QW_SHARED)`
  : builds.length < VARIANTS.length ? 'wasm builds missing: run bash scripts/build-wasm.sh'
  : false;

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'buffer', maxBuffer: 1 << 28 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), raw: r.stdout };
}
const native = (args) => sh(NATIVE, args);
const twin = (args, nodeArgs = []) => sh(process.execPath, [...nodeArgs, CLI, ...args]);
const relaxed = relaxedNode();

// prompt ids + the first 20 greedy ids of llama.cpp's reference for this model
function referenceTokens(model) {
  const ref = path.join(SHARED, 'reference', `toplogits-${model.replace(/\.gguf$/, '')}.txt`);
  if (!fs.existsSync(ref)) return null;
  const text = fs.readFileSync(ref, 'utf8');
  const p = /^prompt_tokens[^:]*:\s*([0-9 ]+)$/m.exec(text);
  if (!p) return null;
  const ids = p[1].trim().split(/\s+/).map(Number);
  const greedy = [...text.matchAll(/^g\d+ (\d+) /gm)].map((m) => Number(m[1]));
  if (greedy.length < 64) return null;
  return ids.concat(greedy.slice(0, 64));
}

const nativeHasBatch = haveNative &&
  !/unknown option/.test(native(['eval', '--batch', '1']).stderr);

for (const model of models) {
  const M = path.join(MODELS_DIR, model);
  test(`parity ${model}`, { skip }, async (t) => {
    const nRun = native(['run', '-m', M, '-p', PROMPT, '-n', '64', '--temp', '0']);
    assert.equal(nRun.status, 0, nRun.stderr);
    const tokens = referenceTokens(model) ??
      native(['tokenize', '-m', M, PROMPT]).stdout.trim().split(' ').map(Number);
    const evalArgs = ['eval', '-m', M, '--tokens', tokens.join(' '), '--top', '5'];
    const nEval = native(evalArgs);
    assert.equal(nEval.status, 0, nEval.stderr);
    assert.equal(nEval.stdout.trim().split('\n').length, tokens.length);
    const nBatch = nativeHasBatch ? native([...evalArgs, '--batch', '5']) : null;
    const nTok = TEXTS.map((s) => native(['tokenize', '-m', M, s]));

    for (const v of VARIANTS) {
      const vskip = v.relaxed && !relaxed.args ? relaxed.reason : false;
      const nodeArgs = v.relaxed ? relaxed.args : [];
      await t.test(`${v.name}: run --temp 0 -n 64`, { skip: vskip }, () => {
        const w = twin(['run', '-m', M, '-p', PROMPT, '-n', '64', '--temp', '0', ...v.args], nodeArgs);
        assert.equal(w.status, 0, w.stderr);
        assert.ok(w.raw.equals(nRun.raw), `greedy text differs:\nnative: ${JSON.stringify(nRun.stdout)}\nwasm:   ${JSON.stringify(w.stdout)}`);
        assert.match(w.stderr, new RegExp(`^prompt: \\d+ tokens in [0-9.]+ ms \\([0-9.inf]+ tok/s\\) \\| generation: \\d+ tokens in [0-9.]+ ms \\([0-9.]+ tok/s\\) \\| threads ${v.threads}\\n$`));
      });
      await t.test(`${v.name}: eval --top 5 (${tokens.length} positions, one batch)`, { skip: vskip }, () => {
        const w = twin([...evalArgs, ...v.args], nodeArgs);
        assert.equal(w.status, 0, w.stderr);
        assert.equal(w.stdout, nEval.stdout);
      });
      await t.test(`${v.name}: eval --batch 5`, { skip: vskip || (nativeHasBatch ? false : 'native eval has no --batch yet') }, () => {
        const w = twin([...evalArgs, '--batch', '5', ...v.args], nodeArgs);
        assert.equal(w.status, 0, w.stderr);
        assert.equal(w.stdout, nBatch.stdout);
      });
      await t.test(`${v.name}: tokenize`, { skip: vskip }, () => {
        TEXTS.forEach((s, i) => {
          const w = twin(['tokenize', '-m', M, s, ...v.args], nodeArgs);
          assert.equal(w.status, nTok[i].status);
          assert.equal(w.stdout, nTok[i].stdout, `tokenize ${JSON.stringify(s)}`);
        });
      });
    }
  });
}

test('eval --batch: first N as one batch, then one at a time', { skip }, async () => {
  // Independent of the native option: the split protocol must reproduce the
  // whole-batch top ids position for position, and --batch N >= n must be
  // byte-identical to one batch.
  const M = path.join(MODELS_DIR, models.find((m) => m.startsWith('stories260K')) ?? models[0]);
  const tokens = (referenceTokens(path.basename(M)) ?? [1, 403, 407, 261, 378]).join(' ');
  const one = twin(['eval', '-m', M, '--tokens', tokens]);
  const all = twin(['eval', '-m', M, '--tokens', tokens, '--batch', '1000']);
  const split = twin(['eval', '-m', M, '--tokens', tokens, '--batch', '5']);
  assert.equal(all.stdout, one.stdout);
  const ids = (s) => s.trim().split('\n').map((l) => JSON.parse(l).top.map((x) => x[0]).join(','));
  assert.equal(split.stdout.trim().split('\n').length, one.stdout.trim().split('\n').length);
  assert.deepEqual(ids(split.stdout).slice(0, 5), ids(one.stdout).slice(0, 5));
});

test('hostile files: QwasmError with the native message, then a valid model loads', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qwasm-node-'));
  try {
    const valid = path.join(MODELS_DIR, models.find((m) => m.startsWith('stories260K')) ?? models[0]);
    const bytes = fs.readFileSync(valid);
    const files = {
      'truncated-header.gguf': bytes.subarray(0, 1000),
      'truncated-data.gguf': bytes.subarray(0, Math.floor(bytes.length * 0.7)),
      'bad-magic.gguf': Buffer.from('not a model at all'),
      'tiny.gguf': Buffer.from('GGUF'),
    };
    const e = await Engine.create({ variant: 'st' });
    try {
      for (const [name, data] of Object.entries(files)) {
        const f = path.join(dir, name);
        fs.writeFileSync(f, data);
        const n = native(['info', f]);
        assert.equal(n.status, 1);
        const prefix = `qwasm: error: cannot load model '${f}': `;
        assert.ok(n.stderr.startsWith(prefix), n.stderr);
        const nativeMsg = n.stderr.slice(prefix.length).replace(/\n$/, '');
        // by path
        await assert.rejects(e.load(f), (err) => {
          assert.ok(err instanceof QwasmError, String(err));
          assert.ok(['BAD_MODEL', 'TRUNCATED'].includes(err.code), `${name}: code ${err.code}`);
          assert.equal(err.message, nativeMsg);
          return true;
        });
        // by bytes, named like the file
        await assert.rejects(e.load(new Uint8Array(data).buffer, { name: f }), (err) =>
          err instanceof QwasmError && err.message === nativeMsg);
        // the CLI twin prints the same line
        const w = twin(['info', f]);
        assert.equal(w.status, n.status);
        assert.equal(w.stderr, n.stderr);
      }
      assert.equal(files['bad-magic.gguf'].length > 0, true);
      await assert.rejects(e.load(path.join(dir, 'bad-magic.gguf')), { code: 'BAD_MODEL' });
      const info = await e.load(valid);
      assert.ok(info.nVocab > 0);
      assert.deepEqual(e.tokenize(PROMPT), native(['tokenize', '-m', valid, PROMPT]).stdout.trim().split(' ').map(Number));
      let text = '';
      for await (const piece of e.complete({ prompt: PROMPT, maxTokens: 16, temperature: 0 })) text += piece;
      assert.equal(PROMPT + text + '\n', native(['run', '-m', valid, '-p', PROMPT, '-n', '16', '--temp', '0']).stdout);
      assert.throws(() => e.eval([1, 999999]), { name: 'QwasmError', code: 'INVALID_ARGUMENT' });
    } finally {
      e.dispose();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI error lines and exit codes equal the native ones', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qwasm-node-'));
  try {
    const M = path.join(MODELS_DIR, models.find((m) => m.startsWith('stories260K')) ?? models[0]);
    fs.writeFileSync(path.join(dir, 'empty.gguf'), '');
    const cases = [
      ['run', '-m', path.join(dir, 'nope.gguf'), '-p', 'hi'],
      ['info', path.join(dir, 'empty.gguf')],
      ['info', dir],
      ['eval', '-m', M, '--tokens', '1 403 99999'],
      ['eval', '-m', M, '--tokens', '1 -5'],
      ['eval', '-m', M, '--tokens', '1 abc'],
      ['eval', '-m', M],
      ['run', '-m', M],
      ['run', '-m', M, '-p', 'hi', '--temp', 'nan'],
      ['run', '-m', M, '-p', 'hi', '-n', '-3'],
      ['run', '-m', M, '-p', 'hi', '--threads', '0'],
      ['run', '-m', M, '-p', 'hi', '--frobnicate', '1'],
      ['frobnicate'],
      ['run', '-m', M, '-p', 'Once upon a time there was', '--ctx', '3'],
      ['run', '-m'],
      ['tokenize', '-m', M],
    ];
    for (const c of cases) {
      const n = native(c), w = twin(c);
      assert.deepEqual([w.status, w.stderr], [n.status, n.stderr], c.join(' '));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
