// Choosing between the baseline SIMD128 and the relaxed-SIMD builds:
//   - scripts/wasm-relaxed.mjs renumbers clang 14's early f32x4.fma opcode
//     (0xfd 0xaf) to the standard f32x4.relaxed_madd (0xfd 0x105), and our
//     carriers, the early f32x4.fms (0xfd 0xb0) and i8x16.relaxed_swizzle
//     (0xfd 0xa2), to i32x4.relaxed_dot_i8x16_i7x16_add_s (0xfd 0x113) and
//     i16x8.relaxed_dot_i8x16_i7x16_s (0xfd 0x112), only where they are
//     instructions (not in an immediate), and refuses what it cannot decode
//   - the relaxed builds contain relaxed_madd and no early opcode; the
//     baseline builds contain neither
//   - Engine.create: 'auto' takes the relaxed build where Node has relaxed SIMD
//     with a fused multiply-add (reported as simd 'relaxed', kernel path
//     wasm-relaxed-simd) and the baseline otherwise; 'relaxed' without support
//     is UNSUPPORTED_RUNTIME; 'simd128' always the baseline; a server that
//     has only the baseline builds still works under 'auto'
// (That both builds compute the native engine's bits is parity.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { Engine, relaxedSimdSupport } from '../../wasm/engine.mjs';
import { renumberRelaxed } from '../../scripts/wasm-relaxed.mjs';
import { relaxedNode } from './relaxed.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUILDS = { st: 'build-wasm', mt: 'build-wasm-mt', 'st-relaxed': 'build-wasm-relaxed', 'mt-relaxed': 'build-wasm-mt-relaxed' };
const missing = Object.values(BUILDS).filter((d) => !fs.existsSync(path.join(ROOT, d, 'qwasm.wasm')));
const skipBuilds = missing.length ? `wasm builds missing (${missing.join(', ')}): run bash scripts/build-wasm.sh` : false;

// a module: one function (no params, result v128) whose body holds the early
// fma and the early fms, each on three v128.const, plus an i32.const whose
// LEB bytes and a data segment that both contain the byte pattern 0xfd 0xaf 0x01
function handMade() {
  const v128 = (b) => [0xfd, 0x0c, ...new Array(16).fill(b)];
  const body = [0x00, // no locals
    ...v128(1), ...v128(2), ...v128(3),
    0xfd, 0xaf, 0x01, // f32x4.fma (early numbering)
    ...v128(4), ...v128(5),
    0xfd, 0xb0, 0x01, // f32x4.fms (early numbering): the dot product's carrier
    ...v128(6),
    0xfd, 0xa2, 0x01, // i8x16.relaxed_swizzle (early numbering): the i16 dot product's carrier
    0x41, 0xfd, 0xaf, 0x01, 0x1a, // i32.const with bytes fd af 01, drop
    0x0b];
  const code = [0x01, 0x80 | (body.length & 0x7f), body.length >> 7, ...body]; // LEB128 size
  const codeSize = code.length;
  const data = [0x01, 0x00, 0x41, 0x00, 0x0b, 0x03, 0xfd, 0xaf, 0x01]; // one active segment at 0
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type () -> v128
    0x03, 0x02, 0x01, 0x00, // one function
    0x05, 0x03, 0x01, 0x00, 0x01, // memory 1 page
    0x0a, codeSize, ...code,
    0x0b, data.length, ...data]);
}

test('wasm-relaxed.mjs renumbers the instruction and nothing else', () => {
  const bytes = handMade();
  const before = Uint8Array.from(bytes);
  const count = renumberRelaxed(Uint8Array.from(bytes), { write: false });
  assert.deepEqual(count, { changed: 3, already: 0, functions: 1, madd: 1, dot: 1, dot16: 1 });
  const r = renumberRelaxed(bytes);
  assert.equal(r.changed, 3);
  const diff = [...bytes.keys()].filter((i) => bytes[i] !== before[i]);
  const at = before.indexOf(0xaf); // the first 0xfd 0xaf 0x01 is the instruction
  const fms = before.indexOf(0xb0);
  const swz = before.indexOf(0xa2);
  assert.deepEqual(diff, [at, at + 1, fms, fms + 1, swz, swz + 1]);
  assert.deepEqual([...bytes.subarray(at - 1, at + 2)], [0xfd, 0x85, 0x02]);
  assert.deepEqual([...bytes.subarray(fms - 1, fms + 2)], [0xfd, 0x93, 0x02]);
  assert.deepEqual([...bytes.subarray(swz - 1, swz + 2)], [0xfd, 0x92, 0x02]);
  // i32.const and data keep their bytes: 0xfd 0xaf 0x01 still occurs twice
  const s = Buffer.from(bytes).toString('hex');
  assert.equal(s.split('fdaf01').length - 1, 2);
  // a second pass finds it renumbered
  assert.deepEqual(renumberRelaxed(bytes, { write: false }), { changed: 0, already: 3, functions: 1, madd: 1, dot: 1, dot16: 1 });
  // the result is a valid module where relaxed SIMD exists
  if (relaxedSimdSupport().ok) assert.equal(WebAssembly.validate(bytes), true);
});

test('wasm-relaxed.mjs refuses what it cannot decode', () => {
  const bytes = handMade();
  const bad = Uint8Array.from(bytes);
  bad[bad.indexOf(0x41)] = 0xd7; // an opcode that does not exist
  assert.throws(() => renumberRelaxed(bad), /unknown opcode 0xd7/);
  assert.throws(() => renumberRelaxed(bytes.subarray(0, bytes.length - 12)), /past|end/);
  assert.throws(() => renumberRelaxed(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), /not a WebAssembly module/);
});

test('the relaxed builds hold relaxed_madd, the baseline builds no relaxed SIMD', { skip: skipBuilds }, () => {
  for (const [name, dir] of Object.entries(BUILDS)) {
    const r = renumberRelaxed(new Uint8Array(fs.readFileSync(path.join(ROOT, dir, 'qwasm.wasm'))), { write: false });
    assert.equal(r.changed, 0, `${name}: early-numbered fma left in the file`);
    if (name.endsWith('relaxed')) {
      assert.ok(r.madd > 10, `${name}: only ${r.madd} relaxed_madd`);
      // the i32 dot only in qw_wasm_fma_fused()'s probe; the kernels use the i16 form
      assert.ok(r.dot >= 1, `${name}: no i32 relaxed dot product (the probe's)`);
      assert.ok(r.dot16 > 10, `${name}: only ${r.dot16} relaxed i16 dot products`);
    } else assert.equal(r.already, 0, `${name}: relaxed SIMD in a baseline build`);
  }
});

test('Engine.create: auto, simd128 and relaxed in this Node', { skip: skipBuilds }, async () => {
  const support = relaxedSimdSupport();
  const auto = await Engine.create({});
  try {
    assert.equal(auto.engineInfo().simd, support.ok ? 'relaxed' : 'simd128');
    assert.equal(auto.kernelPath(), support.ok ? 'wasm-relaxed-simd' : 'wasm-simd128');
  } finally {
    auto.dispose();
  }
  const base = await Engine.create({ simd: 'simd128', variant: 'mt', threads: 2 });
  try {
    assert.deepEqual([base.engineInfo().simd, base.kernelPath()], ['simd128', 'wasm-simd128']);
  } finally {
    base.dispose();
  }
  if (!support.ok) {
    await assert.rejects(Engine.create({ simd: 'relaxed' }), (e) =>
      e.code === 'UNSUPPORTED_RUNTIME' && e.message.includes(support.reason));
  }
  await assert.rejects(Engine.create({ simd: 'avx2' }), { code: 'INVALID_ARGUMENT' });
});

test('Engine.create under relaxed SIMD: auto picks the relaxed builds', { skip: skipBuilds || (relaxedNode().args ? false : relaxedNode().reason) }, () => {
  const engine = pathToFileURL(path.join(ROOT, 'wasm/engine.mjs')).href;
  const script = `
    const { Engine, relaxedSimdSupport } = await import(${JSON.stringify(engine)});
    const out = { support: relaxedSimdSupport() };
    for (const [variant, threads] of [['st', 1], ['mt', 2]]) {
      const e = await Engine.create({ variant, threads });
      out[variant] = [e.engineInfo().simd, e.kernelPath()];
      e.dispose();
    }
    const b = await Engine.create({ simd: 'simd128' });
    out.forced = [b.engineInfo().simd, b.kernelPath()];
    b.dispose();
    process.stdout.write(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, [...relaxedNode().args, '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.support.ok, true);
  assert.deepEqual(out.st, ['relaxed', 'wasm-relaxed-simd']);
  assert.deepEqual(out.mt, ['relaxed', 'wasm-relaxed-simd']);
  assert.deepEqual(out.forced, ['simd128', 'wasm-simd128']);
});

test('auto falls back to the baseline build when the relaxed build is not there', { skip: skipBuilds || (relaxedNode().args ? false : relaxedNode().reason) }, () => {
  // the layout of a server that only has build-wasm/: engine.mjs beside it, no -relaxed dirs
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qwasm-simd-'));
  try {
    fs.mkdirSync(path.join(dir, 'wasm'));
    fs.copyFileSync(path.join(ROOT, 'wasm/engine.mjs'), path.join(dir, 'wasm/engine.mjs'));
    fs.cpSync(path.join(ROOT, 'build-wasm'), path.join(dir, 'build-wasm'), { recursive: true });
    const engine = pathToFileURL(path.join(dir, 'wasm/engine.mjs')).href;
    const script = `
      const { Engine, relaxedSimdSupport } = await import(${JSON.stringify(engine)});
      const e = await Engine.create({});
      const out = { support: relaxedSimdSupport().ok, simd: e.engineInfo().simd, path: e.kernelPath() };
      e.dispose();
      out.forced = await Engine.create({ simd: 'relaxed' }).then(() => 'created', (err) => err.code);
      process.stdout.write(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, [...relaxedNode().args, '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out, { support: true, simd: 'simd128', path: 'wasm-simd128', forced: 'WORKER' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
