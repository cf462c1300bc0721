// Module worker for web/bench/index.html: runs web/bench/bench.mjs on the
// in-thread Engine (wasm/engine.mjs) here, off the page's main thread (as the
// worker API runs it), and posts each result row back.
//   in:  { model, name, variant, simd, threads: [..], p, n, reps }
//   out: { type: 'info', info } | { type: 'row', row } | { type: 'done' } | { type: 'error', message, code }
// With mode: 'paired' (one thread count) it measures on demand instead:
//   out: { type: 'info', info }, then { type: 'ready' } once warmed up;
//   in:  { cmd: 'rep' } -> out: { type: 'rep', tg }   (one tg of n tokens, t/s)
import { Engine } from '../../wasm/engine.mjs';
import { runBench, tgSession } from './bench.mjs';

let session = null;

self.onmessage = async (ev) => {
  const o = ev.data;
  if (o.cmd === 'rep') {
    try {
      self.postMessage({ type: 'rep', tg: session.rep() });
    } catch (e) {
      self.postMessage({ type: 'error', message: String(e && e.message || e), code: e && e.code });
    }
    return;
  }
  let engine = null;
  try {
    const maxThreads = Math.max(...o.threads);
    engine = await Engine.create({ variant: o.variant, simd: o.simd ?? 'auto', threads: maxThreads });
    await engine.load(o.model, { name: o.name });
    self.postMessage({ type: 'info', info: engine.info() });
    if (o.mode === 'paired') {
      session = tgSession(engine, { n: o.n, threads: maxThreads });
      self.postMessage({ type: 'ready' });
      engine = null; // kept for the session until the page terminates this worker
      return;
    }
    await runBench(engine, {
      p: o.p, n: o.n, reps: o.reps, threads: o.threads, name: o.name,
      memory: () => engine.mod.qwBuffer().byteLength / (1024 * 1024),
      onRow: (row) => self.postMessage({ type: 'row', row }),
    });
    self.postMessage({ type: 'done' });
  } catch (e) {
    self.postMessage({ type: 'error', message: String(e && e.message || e), code: e && e.code });
  } finally {
    if (engine) engine.dispose();
  }
};
