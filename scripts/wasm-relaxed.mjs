#!/usr/bin/env node
// Renumbers the relaxed-SIMD instructions in a linked .wasm file to the
// opcodes of the finished relaxed-SIMD standard (what every browser shipping
// it, and Node, decode). Debian's clang 14 (-mrelaxed-simd) knows only the
// proposal's early instruction set and numbering:
//   - __builtin_wasm_fma_f32x4 emits `f32x4.fma`, early opcode 0xfd 0xaf; the
//     standard calls it f32x4.relaxed_madd, 0xfd 0x105, same operands
//     (a, b, c -> a * b + c: the third operand is the addend);
//   - the integer dot product i32x4.relaxed_dot_i8x16_i7x16_add_s (0xfd 0x113:
//     lane k = c[k] + sum of a[4k+j] * b[4k+j], j < 4, a signed bytes, b bytes
//     in [0, 127]) did not exist yet. Our kernels write it as the early
//     `f32x4.fms` (__builtin_wasm_fms_f32x4, early opcode 0xfd 0xb0), which
//     has the same shape (three v128 in, one out) and which we use for nothing
//     else; this script turns every one into the dot product;
//   - likewise its i16 form i16x8.relaxed_dot_i8x16_i7x16_s (0xfd 0x112: lane
//     k = a[2k] * b[2k] + a[2k+1] * b[2k+1]) is written as the early
//     `i8x16.relaxed_swizzle` (0xfd 0xa2, two v128 in, one out, unused
//     otherwise).
// All six opcodes take two LEB128 bytes, so the file keeps its size and layout.
//
// Walks every function body instruction by instruction (so those bytes in an
// immediate, a constant or a data segment are never touched) and requires each
// body to end exactly at its declared size; anything it cannot decode is an
// error, not a guess. Other relaxed-SIMD instructions are left alone (our code
// uses none; a stray one fails validation when loaded).
//
//   node scripts/wasm-relaxed.mjs FILE.wasm [--check] [--require]
//     rewrites in place and prints how many instructions it changed;
//     --check only counts (early-numbered and standard) and changes nothing;
//     --require fails (exit 1) when the file has no fused multiply-add at all
//     (a relaxed build without one was not compiled as intended).
import { readFileSync, writeFileSync } from 'node:fs';

// early opcode (what clang 14 emits) -> standard opcode, and what we count it as
const RENUMBER = new Map([
  [0xaf, { to: 0x105, name: 'madd' }], // f32x4.fma -> f32x4.relaxed_madd
  [0xb0, { to: 0x113, name: 'dot' }], // f32x4.fms (our carrier) -> i32x4.relaxed_dot_i8x16_i7x16_add_s
  [0xa2, { to: 0x112, name: 'dot16' }], // i8x16.relaxed_swizzle (our carrier) -> i16x8.relaxed_dot_i8x16_i7x16_s
]);
const STANDARD = new Map([...RENUMBER.values()].map((v) => [v.to, v.name]));

/** Rewrites (or counts) in `bytes` (a Uint8Array, changed in place). */
export function renumberRelaxed(bytes, { write = true } = {}) {
  let pos = 0;
  const fail = (msg) => {
    throw new Error(`wasm-relaxed: ${msg} at byte ${pos}`);
  };
  const byte = () => {
    if (pos >= bytes.length) fail('unexpected end of file');
    return bytes[pos++];
  };
  const uleb = () => {
    let result = 0, shift = 0, b;
    do {
      b = byte();
      if (shift > 28 && (b & 0x70) !== 0) fail('LEB128 value too large');
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return result;
  };
  const sleb = () => { // value not needed: just its extent
    let b;
    let n = 0;
    do {
      b = byte();
      if (++n > 10) fail('LEB128 too long');
    } while (b & 0x80);
  };
  const skip = (n) => {
    if (pos + n > bytes.length) fail('unexpected end of file');
    pos += n;
  };
  const memarg = () => {
    const align = uleb();
    if (align & 0x40) uleb(); // memory index (multi-memory)
    uleb(); // offset
  };

  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d)
    fail('not a WebAssembly module');
  pos = 8;
  let changed = 0, already = 0, functions = 0;
  const counts = { madd: 0, dot: 0, dot16: 0 }; // instructions in the result
  while (pos < bytes.length) {
    const id = byte();
    const size = uleb();
    const end = pos + size;
    if (end > bytes.length) fail('section runs past the end of the file');
    if (id !== 10) { // not the code section
      pos = end;
      continue;
    }
    const count = uleb();
    for (let f = 0; f < count; f++) {
      const bodySize = uleb();
      const bodyEnd = pos + bodySize;
      if (bodyEnd > end) fail('function body runs past the code section');
      const groups = uleb();
      for (let g = 0; g < groups; g++) { uleb(); byte(); } // count, value type
      let depth = 1;
      while (depth > 0) {
        if (pos >= bodyEnd) fail(`function ${f}: body ends inside a block`);
        const op = byte();
        switch (op) {
          case 0x02: case 0x03: case 0x04: sleb(); depth++; break; // block, loop, if
          case 0x0b: depth--; break; // end
          case 0x0c: case 0x0d: uleb(); break; // br, br_if
          case 0x0e: { const n = uleb(); for (let i = 0; i <= n; i++) uleb(); break; } // br_table
          case 0x10: uleb(); break; // call
          case 0x11: uleb(); uleb(); break; // call_indirect type table
          case 0x1c: { const n = uleb(); skip(n); break; } // select t*
          case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26: uleb(); break;
          case 0x3f: case 0x40: byte(); break; // memory.size/grow memory index
          case 0x41: case 0x42: sleb(); break; // i32/i64.const
          case 0x43: skip(4); break;
          case 0x44: skip(8); break;
          case 0xd0: byte(); break; // ref.null t
          case 0xd2: uleb(); break; // ref.func
          case 0xfc: misc(); break;
          case 0xfd: simd(); break;
          case 0xfe: atomic(); break;
          default:
            if (op >= 0x28 && op <= 0x3e) memarg(); // loads and stores
            else if (op === 0x00 || op === 0x01 || op === 0x05 || op === 0x0f || op === 0x1a ||
                     op === 0x1b || (op >= 0x45 && op <= 0xc4) || op === 0xd1) { /* no immediates */ }
            else fail(`function ${f}: unknown opcode 0x${op.toString(16)}`);
        }
      }
      if (pos !== bodyEnd) fail(`function ${f}: body ends ${bodyEnd - pos} bytes after its last instruction`);
      functions++;
    }
    if (pos !== end) fail('code section size mismatch');
  }
  return { changed, already, functions, ...counts };

  function misc() {
    const sub = uleb();
    if (sub <= 7) return; // trunc_sat
    switch (sub) {
      case 8: uleb(); byte(); return; // memory.init data memory
      case 9: uleb(); return; // data.drop
      case 10: byte(); byte(); return; // memory.copy
      case 11: byte(); return; // memory.fill
      case 12: uleb(); uleb(); return; // table.init
      case 13: uleb(); return; // elem.drop
      case 14: uleb(); uleb(); return; // table.copy
      case 15: case 16: case 17: uleb(); return; // table.grow/size/fill
      default: fail(`unknown 0xfc opcode ${sub}`);
    }
  }

  function atomic() {
    const sub = uleb();
    if (sub === 0x03) { byte(); return; } // atomic.fence
    if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) { memarg(); return; }
    fail(`unknown 0xfe opcode ${sub}`);
  }

  function simd() {
    const at = pos;
    const sub = uleb();
    if (sub <= 11 || sub === 92 || sub === 93) { memarg(); return; } // loads, store, load_zero
    if (sub === 12 || sub === 13) { skip(16); return; } // v128.const, i8x16.shuffle
    if (sub >= 21 && sub <= 34) { byte(); return; } // extract/replace lane
    if (sub >= 84 && sub <= 91) { memarg(); byte(); return; } // load/store lane
    const early = RENUMBER.get(sub);
    if (early) {
      if (pos - at !== 2) fail(`unexpected encoding of early relaxed-SIMD opcode 0x${sub.toString(16)}`);
      if (write) { bytes[at] = 0x80 | (early.to & 0x7f); bytes[at + 1] = early.to >> 7; }
      changed++;
      counts[early.name]++;
      return;
    }
    const standard = STANDARD.get(sub);
    if (standard) { already++; counts[standard]++; return; }
    if (sub > 0xff) fail(`unknown SIMD opcode 0x${sub.toString(16)}`);
    // every other standard SIMD128 opcode has no immediates
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  const check = process.argv.includes('--check');
  const require = process.argv.includes('--require');
  if (!file) {
    console.error('usage: node scripts/wasm-relaxed.mjs FILE.wasm [--check]');
    process.exit(2);
  }
  const bytes = new Uint8Array(readFileSync(file));
  try {
    const r = renumberRelaxed(bytes, { write: !check });
    if (!check && r.changed) writeFileSync(file, bytes);
    console.log(`${file}: ${r.functions} functions, ${r.changed} early-numbered relaxed-SIMD instructions ` +
                `${check ? 'found' : 'renumbered'}, ${r.already} already standard ` +
                `(${r.madd} relaxed_madd, ${r.dot} i32x4.relaxed_dot_i8x16_i7x16_add_s, ${r.dot16} i16x8.relaxed_dot_i8x16_i7x16_s)`);
    if (require && r.madd === 0) {
      console.error(`${file}: no fused multiply-add in a relaxed-SIMD build`);
      process.exit(1);
    }
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
