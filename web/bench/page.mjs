// web/bench/index.html: reads the query, runs the bench in a module worker
// (worker.mjs) and shows the rows. For scripts: window.qwasmBench is
// { status: 'running' | 'done' | 'error', rows: [...], error?, env }.
// With mode=paired (one thread count; tests/browser/bench-paired.mjs) the
// status becomes 'ready' after loading and warming up, and
// window.qwasmBench.rep() resolves to one tg measurement (tokens/s).
import { parseThreadList } from './bench.mjs';

const q = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const state = { status: 'running', rows: [], env: null };
state.rep = () => Promise.reject(new Error(`not ready (${state.status})`)); // replaced once the worker runs
window.qwasmBench = state;

function fail(message) {
  state.status = 'error';
  state.error = message;
  $('status').textContent = `error: ${message}`;
  $('status').className = 'error';
}

function intParam(name, def, lo, hi) {
  const s = q.get(name);
  if (s === null || s === '') return def;
  if (!/^[0-9]+$/.test(s) || Number(s) < lo || Number(s) > hi) throw new Error(`${name} expects an integer in [${lo}, ${hi}], got '${s}'`);
  return Number(s);
}

const cell = (v) => {
  if (!v.length) return '-';
  const s = [...v].sort((a, b) => a - b);
  const n = s.length, med = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return `${med.toFixed(2)} (${s[0].toFixed(2)}-${s[n - 1].toFixed(2)})`;
};

try {
  const model = q.get('model');
  if (!model) throw new Error('no model: add ?model=URL-of-a.gguf');
  const threads = parseThreadList(q.get('threads') ?? '1');
  if (!threads) throw new Error(`threads expects integers in [1, 512], got '${q.get('threads')}'`);
  const p = intParam('p', 64, 0, 1 << 16), n = intParam('n', 64, 0, 1 << 16), reps = intParam('r', 5, 1, 1000);
  if (p === 0 && n === 0) throw new Error('nothing to measure: p and n are both 0');
  let variant = q.get('variant') ?? 'auto';
  const maxThreads = Math.max(...threads);
  if (variant === 'auto') variant = maxThreads > 1 && self.crossOriginIsolated ? 'mt' : 'st';
  if (variant !== 'st' && variant !== 'mt') throw new Error(`variant expects st, mt or auto, got '${variant}'`);
  if (variant === 'st' && maxThreads > 1) throw new Error('the single-threaded build runs 1 thread (use variant=mt)');
  if (variant === 'mt' && !self.crossOriginIsolated) throw new Error('variant=mt needs a cross-origin isolated page (COOP/COEP headers)');
  const mode = q.get('mode') ?? 'table';
  if (mode !== 'table' && mode !== 'paired') throw new Error(`mode expects table or paired, got '${mode}'`);
  if (mode === 'paired' && (threads.length !== 1 || n === 0)) throw new Error('mode=paired measures one thread count and n > 0');
  const simd = q.get('simd') ?? 'auto';
  if (!['auto', 'simd128', 'relaxed'].includes(simd)) throw new Error(`simd expects auto, simd128 or relaxed, got '${simd}'`);
  const name = decodeURIComponent(new URL(model, location.href).pathname.split('/').pop());
  state.env = { userAgent: navigator.userAgent, hardwareConcurrency: navigator.hardwareConcurrency,
    crossOriginIsolated: self.crossOriginIsolated, variant, simd, threads, p, n, reps, model };
  $('env').textContent = `${navigator.userAgent} · ${navigator.hardwareConcurrency} logical CPUs · ` +
    `cross-origin isolated: ${self.crossOriginIsolated} · variant ${variant}`;
  $('pp-h').textContent = `pp${p} t/s`;
  $('tg-h').textContent = `tg${n} t/s`;
  $('status').textContent = `loading ${name}…`;
  const worker = new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module' });
  worker.onerror = (e) => fail(`worker: ${e.message || 'failed to start'}`);
  let waiting = null; // the pending rep(): { resolve, reject }
  state.rep = () => new Promise((resolve, reject) => {
    if (state.status !== 'ready') return reject(new Error(`not ready (${state.status})`));
    if (waiting) return reject(new Error('a measurement is already running'));
    waiting = { resolve, reject };
    worker.postMessage({ cmd: 'rep' });
  });
  worker.onmessage = (ev) => {
    const m = ev.data;
    if (m.type === 'ready') {
      state.status = 'ready';
      $('status').textContent = 'ready: window.qwasmBench.rep() measures one generation';
    } else if (m.type === 'rep') {
      const w = waiting;
      waiting = null;
      if (w) w.resolve(m.tg);
    } else if (m.type === 'info') {
      state.info = m.info;
      $('status').textContent = `running (${m.info.kernelPath}, ${m.info.variant})…`;
    } else if (m.type === 'row') {
      state.rows.push(m.row);
      const r = m.row;
      const tr = document.createElement('tr');
      for (const v of [r.name, r.type, r.kernels, r.variant, r.threads, cell(r.pp), cell(r.tg), `${r.memMiB.toFixed(1)} MiB`]) {
        const td = document.createElement('td');
        td.textContent = String(v);
        tr.appendChild(td);
      }
      $('results').tBodies[0].appendChild(tr);
      $('results').hidden = false;
    } else if (m.type === 'done') {
      state.status = 'done';
      $('status').textContent = 'done';
      worker.terminate();
    } else if (m.type === 'error') {
      fail(m.message);
      worker.terminate();
      if (waiting) waiting.reject(new Error(m.message));
      waiting = null;
    }
  };
  worker.postMessage({ model, name, variant, simd, threads, p, n, reps, mode });
} catch (e) {
  fail(e.message);
}
