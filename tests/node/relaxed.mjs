// How to run Node with relaxed SIMD (for the relaxed-SIMD builds): the extra
// node arguments, or null when this Node cannot run them (then the relaxed
// tests skip with the reason). Node 20 needs --experimental-wasm-relaxed-simd,
// and --no-liftoff: its V8 (11.3) computes i32x4.relaxed_dot_i8x16_i7x16_add_s
// wrongly in the baseline compiler (twice the products, the addend ignored;
// optimized code is right), which the engine's probe detects. Newer Node has
// relaxed SIMD on by default.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ENGINE = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../wasm/engine.mjs')).href;
const PROBE = `import(${JSON.stringify(ENGINE)}).then((m) => { const r = m.relaxedSimdSupport(); ` +
  'process.stdout.write(JSON.stringify(r)); })';

function probe(args) {
  const r = spawnSync(process.execPath, [...args, '-e', PROBE], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, reason: (r.stderr || `exit ${r.status}`).trim().split('\n')[0] };
  return JSON.parse(r.stdout);
}

let cached;
/** { args: string[] | null, reason }. With QW_REQUIRE_RELAXED=1 (scripts/test.sh)
 * a Node that cannot run the relaxed builds is an error, not a skip. */
export function relaxedNode() {
  if (cached) return cached;
  cached = find();
  if (!cached.args && process.env.QW_REQUIRE_RELAXED === '1')
    throw new Error(`QW_REQUIRE_RELAXED=1 but this Node cannot run the relaxed-SIMD builds: ${cached.reason}`);
  return cached;
}

function find() {
  const plain = probe([]);
  if (plain.ok) return { args: [], reason: plain.reason };
  let last = plain;
  for (const args of [['--experimental-wasm-relaxed-simd'], ['--experimental-wasm-relaxed-simd', '--no-liftoff']]) {
    last = probe(args);
    if (last.ok) return { args, reason: last.reason };
  }
  return { args: null, reason: `node ${process.version}: ${last.reason}` };
}
