// What the benchmark scripts beside this file (bench-wasm.mjs,
// bench-paired.mjs) share: the machine description for their table headers
// and the rewriting of their marked block in docs/BENCHMARKS.md.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The CPU model name ('/proc/cpuinfo', else Node's), or '?'. */
export function cpuModel() {
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? m[1].trim() : os.cpus()[0]?.model ?? '?';
  } catch { return os.cpus()[0]?.model ?? '?'; }
}

/** `git describe --always --dirty` of the checkout at `repo`, or '?'. */
export function gitDescribe(repo) {
  const r = spawnSync('git', ['-C', repo, 'describe', '--always', '--dirty'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '?';
}

/** 'YYYY-MM-DD HH:MM UTC' of now. */
export const utcStamp = () => new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC';

/** The 1, 5 and 15 minute load averages, as one string. */
export const loadAverage = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

/**
 * Puts `text` into the file at `doc` between the lines `begin` and `end`
 * (replacing what was there); appends `heading`, then the block, when the
 * markers are absent. The file is read right before writing: others edit it too.
 */
export function writeMarkedBlock(doc, begin, end, text, heading) {
  const old = fs.readFileSync(doc, 'utf8');
  const block = `${begin}\n${text}\n${end}`;
  const b = old.indexOf(begin), e = old.indexOf(end);
  const out = b >= 0 && e > b ? old.slice(0, b) + block + old.slice(e + end.length)
    : old.replace(/\n*$/, '\n\n') + `${heading}\n\n` + block + '\n';
  fs.writeFileSync(doc, out);
}

/**
 * What a benchmark run needs and does not have, as a message (null: all
 * there): the native binary, the models under `shared`/models, the four wasm
 * builds under `repo`.
 */
export function missingInputs(native, shared, repo, models) {
  if (!fs.existsSync(native)) return `no native binary at ${native} (build it, or set QW_NATIVE)`;
  for (const m of models)
    if (!fs.existsSync(path.join(shared, 'models', m))) return `no model ${path.join(shared, 'models', m)}`;
  for (const d of ['build-wasm', 'build-wasm-mt', 'build-wasm-relaxed', 'build-wasm-mt-relaxed'])
    if (!fs.existsSync(path.join(repo, d, 'qwasm.mjs'))) return `${d}/ missing: run bash scripts/build-wasm.sh`;
  return null;
}
