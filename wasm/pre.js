// --pre-js: runs inside the module factory. The current memory buffer, for
// wasm/engine.mjs: after memory growth (possibly by another thread) the
// HEAP* views on Module can be stale; wasmMemory.buffer never is.
Module['qwBuffer'] = function () { return wasmMemory.buffer; };
