// Types for wasm/engine.mjs (hand-written).

/** Every engine failure. `code` is the library's status name. */
export class QwasmError extends Error {
  readonly name: 'QwasmError';
  readonly code: 'IO' | 'BAD_MODEL' | 'UNSUPPORTED_TYPE' | 'OUT_OF_MEMORY' | 'INVALID_ARGUMENT' |
    'TRUNCATED' | 'ABORTED' | 'NETWORK' | 'INTEGRITY' | 'WORKER' | 'UNSUPPORTED_RUNTIME' | string;
  constructor(code: string, message: string);
}

export interface EngineOptions {
  /** 'st' single-threaded (default) or 'mt' pthreads (needs cross-origin isolation in browsers). */
  variant?: 'st' | 'mt';
  /** 'auto' (default): the relaxed-SIMD build when relaxedSimdSupport().ok and it is built, else
   * 'simd128'. Same bits either way. */
  simd?: 'auto' | 'simd128' | 'relaxed';
  /** Threads per context (default 1); sizes the mt variant's worker pool. */
  threads?: number;
  /** Where qwasm.mjs is (default: ../build-wasm[-mt]/qwasm.mjs next to engine.mjs). */
  moduleUrl?: string | URL;
}

export interface TensorTypeCount { type: string; count: number; }

export interface ModelInfo {
  arch: string;
  nVocab: number; nCtxTrain: number; nEmbd: number; nLayer: number; nHead: number;
  nHeadKv: number; headDim: number; nFf: number; ropeDim: number; ropeBase: number;
  ropeNeox: boolean; rmsEps: number; tiedOutput: boolean;
  bos: number; eos: number; addBos: boolean;
  nParams: number; weightBytes: number; fileBytes: number; ggufVersion: number;
  nShards: number; ropeFreqs: boolean;
  tensorTypes: TensorTypeCount[];
}

export interface EngineOnlyInfo {
  kernelPath: string;
  variant: 'st' | 'mt';
  simd: 'relaxed' | 'simd128';
  threads: number;
  crossOriginIsolated: boolean;
  wasmMemoryBytes: number;
}

export interface EngineInfo extends ModelInfo, EngineOnlyInfo {
  /** With computeSha256 / expectSha256 (per part for a split model). */
  sha256?: string | string[];
}

export interface EvalOptions {
  /** Candidates per position (default 5). */
  top?: number;
  /** Decode the first `batch` tokens as one batch, then one at a time (default: all at once). */
  batch?: number;
  nCtx?: number;
  threads?: number;
}

export interface EvalRow {
  pos: number;
  token: number;
  /** [id, logit] pairs, best first (ties by lower id). */
  top: Array<[number, number]>;
}

export interface CompleteOptions {
  prompt: string;
  maxTokens?: number;      // 128
  temperature?: number;    // 0.8; 0 = greedy
  topK?: number;           // 40; 0 = off
  topP?: number;           // 0.95; 1 = off
  minP?: number;           // 0.05; 0 = off
  repeatPenalty?: number;  // 1 = off
  repeatLastN?: number;    // 64
  /** Default: the time in seconds. */
  seed?: number | bigint;
  stop?: string | string[];
  addBos?: boolean;
  nCtx?: number;
  threads?: number;
  /** Keep the KV cache for the next cachePrompt call and reuse the common prompt prefix. */
  cachePrompt?: boolean;
  /** Checked before every token: the iteration ends (finishReason 'aborted'). */
  signal?: AbortSignal;
  /** Yield '' for tokens that produce no text yet (one step per token). */
  everyToken?: boolean;
}

export interface CompleteStats {
  promptTokens: number; promptMs: number; genTokens: number; genMs: number;
  /** Prompt tokens taken from the cached context (cachePrompt). */
  promptCached: number;
  threads: number; contextFull: boolean; nCtx?: number; stopped: boolean;
  finishReason: 'stop' | 'length' | 'eos' | 'aborted' | 'context';
}

export interface LoadOptions {
  /** Name used in messages (default: the path, URL, File name or 'model.gguf'). */
  name?: string;
  /** Called after every chunk with the bytes received so far and the file size. */
  onProgress?: (bytes: number, total: number) => void;
  /** Cancels the load: QwasmError code 'ABORTED', everything freed, the engine stays usable. */
  signal?: AbortSignal;
  /** Byte size of a ReadableStream source; `sizes` for a list of ReadableStream parts. */
  size?: number;
  sizes?: number[];
  /** Hex SHA-256 (array per part for a split model): mismatch -> INTEGRITY, nothing kept. */
  expectSha256?: string | string[];
  /** info.sha256 = hex digest of the file (array per part for a split model). */
  computeSha256?: boolean;
  /** URL loads: Range request size (default 256 MiB). */
  rangeChunkBytes?: number;
}

export type ModelSource = string | URL | Blob | ArrayBuffer | ArrayBufferView | ReadableStream<Uint8Array>;

export class Engine {
  static create(opts?: EngineOptions): Promise<Engine>;
  readonly variant: 'st' | 'mt';
  readonly threads: number;
  /** Set after each complete() iteration ends. */
  readonly lastStats: CompleteStats | null;
  /**
   * Streams a model into wasm memory (one allocation, each chunk written at its
   * offset; the header is validated as soon as it is in). Replaces the current
   * model. A string is a file path in Node unless it has a URL scheme; in
   * browsers it is a URL. URLs are fetched (size from Content-Length; without
   * it the body is buffered first); servers that support Range get
   * consecutive Range requests of rangeChunkBytes, each checked. A path or
   * URL named name-0000K-of-0000N.gguf loads all N parts; an array of sources
   * is the parts of a split model, in order. Errors: QwasmError, code ABORTED
   * when opts.signal fires, NETWORK for HTTP / connection failures, INTEGRITY
   * for a SHA-256 mismatch, OUT_OF_MEMORY when wasm memory cannot hold it.
   */
  load(source: ModelSource | ModelSource[], opts?: LoadOptions): Promise<ModelInfo>;
  info(): EngineInfo;
  engineInfo(): EngineOnlyInfo;
  detokenize(ids: ArrayLike<number>): string;
  /** SHA-256 (lower-case hex) of bytes, computed in wasm. */
  sha256(bytes: ArrayBuffer | ArrayBufferView): Promise<string>;
  kernelPath(): string;
  tokenize(text: string, opts?: { addBos?: boolean }): number[];
  tokenText(id: number): string;
  eval(tokens: ArrayLike<number>, opts?: EvalOptions): EvalRow[];
  complete(opts: CompleteOptions): AsyncGenerator<string, void, undefined>;
  unload(): void;
  dispose(): void;
}

/** printf("%.<digits>f", x), exactly. */
/** Whether relaxed SIMD with a fused multiply-add is available here (what simd 'auto' checks). */
export function relaxedSimdSupport(): { ok: boolean; reason: string };

export function formatFixed(x: number, digits: number): string;
/** printf("%g", x). */
export function formatG(x: number): string;
/** One line of `qwasm eval` output, without the newline. */
export function formatEvalRow(row: EvalRow): string;
/** What `qwasm info` prints for a model, trailing newline included. */
export function formatInfo(info: ModelInfo, path: string): string;

/** One turn of the macrotask queue (setImmediate / MessageChannel). */
export function macrotask(): Promise<void>;
/** name-0000K-of-0000N.gguf -> its parts, else null. */
export function splitName(path: string): { stem: string; part: number; total: number } | null;

/** Serves an Engine by message (wasm/worker.mjs; the in-thread mode of wasm/qwasm.mjs). */
export class EngineHost {
  constructor(post: (msg: unknown) => void, onFatal?: (e: unknown) => void);
  handle(msg: { id: number; op: string; args?: unknown }): void;
  fatal(e: unknown): void;
}
