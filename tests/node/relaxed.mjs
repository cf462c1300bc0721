// How to run Node with relaxed SIMD (for the relaxed-SIMD builds): the extra
// node arguments, or null when this Node cannot run them (then the relaxed
// tests skip with the reason). Node 20 needs --experimental-wasm-relaxed-simd;
// newer Node has relaxed SIMD on by default.
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
/** { args: string[] | null, reason } */
export function relaxedNode() {
  if (cached) return cached;
  const plain = probe([]);
  if (plain.ok) return (cached = { args: [], reason: plain.reason });
  const flagged = probe(['--experimental-wasm-relaxed-simd']);
  if (flagged.ok) return (cached = { args: ['--experimental-wasm-relaxed-simd'], reason: flagged.reason });
  return (cached = { args: null, reason: `node ${process.version}: ${flagged.reason}` });
}
