// Prepended (--extern-pre-js) to the ES module that Emscripten 3.1.6 emits.
// Its Node code paths use CommonJS `require` and `__dirname`, which an ES
// module does not have; provide both under Node only (browsers skip this).
const __qwIsNode = typeof process == 'object' && typeof process.versions == 'object' &&
    typeof process.versions.node == 'string';
const require = __qwIsNode ? (await import('module')).createRequire(import.meta.url) : undefined;
const __dirname = __qwIsNode ? require('path').dirname(require('url').fileURLToPath(import.meta.url)) : '';
