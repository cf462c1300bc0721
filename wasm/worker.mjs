// The qwasm engine in a worker: a browser module Worker
// (new Worker(url, { type: 'module' })) or a Node worker_threads Worker, same
// file. It hosts the in-thread Engine (engine.mjs) behind EngineHost, which
// serves {id, op, args} requests and answers {id, ok, value | error}, streams
// completion pieces and load progress as messages, and handles cancel
// messages between tokens. wasm/qwasm.mjs is the main-thread side.
//
// A wasm trap or any error that is not a QwasmError posts {fatal} and ends
// the worker; so does an uncaught error or unhandled rejection. The main
// thread then rejects every pending call with code WORKER.
import { EngineHost } from './engine.mjs';

const IS_BROWSER_WORKER = typeof WorkerGlobalScope === 'function' && typeof self === 'object' &&
  self instanceof WorkerGlobalScope; // eslint-disable-line no-undef

let post, close;
if (IS_BROWSER_WORKER) {
  post = (m, transfer) => self.postMessage(m, transfer ?? []);
  close = () => self.close();
} else {
  const { parentPort } = await import('node:worker_threads');
  if (!parentPort) throw new Error('wasm/worker.mjs runs as a worker (see wasm/qwasm.mjs)');
  post = (m) => parentPort.postMessage(m);
  close = () => process.exit(1);
}

const host = new EngineHost(post, () => setTimeout(close, 0));

const onUncaught = (e) => host.fatal(e instanceof Error ? e : new Error(String(e?.message ?? e)));
if (IS_BROWSER_WORKER) {
  self.onmessage = (ev) => host.handle(ev.data);
  self.addEventListener('error', (ev) => { ev.preventDefault(); onUncaught(ev.error ?? ev.message); });
  self.addEventListener('unhandledrejection', (ev) => { ev.preventDefault(); onUncaught(ev.reason); });
  self.addEventListener('messageerror', () => onUncaught(new Error('a message could not be deserialized')));
} else {
  const { parentPort } = await import('node:worker_threads');
  parentPort.on('message', (m) => host.handle(m));
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
}
post({ ready: true });
