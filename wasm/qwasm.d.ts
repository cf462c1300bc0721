// Types for wasm/qwasm.mjs, qwasm's public JavaScript API (hand-written).
// Reference: docs/JSAPI.md.
//
// Deviations from / extensions of the contract (/tmp/s2/contract.md):
//  - Extensions only; nothing in the contract is changed.
//  - load(): also takes an array of sources (the parts of a split model, in
//    order), `sizes` (ReadableStream parts) and `rangeChunkBytes`.
//  - sha256 of a split model is an array of per-part digests, and
//    expectSha256 must then be an array (one digest per part).
//  - complete(): aborting (or leaving the for-await loop) stops the stream
//    at once on the calling side: pieces the worker produced after the abort
//    are dropped, and the worker stops before its next token.
//  - Stream chunks: the first chunk carries delta {role: 'assistant',
//    content: ''}; the last has finish_reason, delta {} and `usage`. The
//    stream object also has a `stats` promise.
//  - A non-streaming chat request whose signal is aborted rejects with
//    code ABORTED.
//  - Errors that are not QwasmErrors inside the worker (a wasm trap, a bug)
//    end the worker: code WORKER.
//  - expectSha256 is checked before the model is parsed: a mismatch is
//    INTEGRITY even when the bytes would not parse.

export type QwasmErrorCode = 'IO' | 'BAD_MODEL' | 'TRUNCATED' | 'UNSUPPORTED_TYPE' | 'OUT_OF_MEMORY' |
  'INVALID_ARGUMENT' | 'ABORTED' | 'NETWORK' | 'INTEGRITY' | 'WORKER' | 'UNSUPPORTED_RUNTIME';

/** Every rejection (the same class as engine.mjs's). `name` is 'QwasmError' and `code`
 * survives the worker boundary. */
export class QwasmError extends Error {
  readonly name: 'QwasmError';
  readonly code: QwasmErrorCode;
  constructor(code: QwasmErrorCode | string, message: string);
}

/** A single model file. */
export type ModelSource =
  | string            // URL (browsers; relative to the page) or, in Node, a file path (URLs need a scheme)
  | URL
  | Blob              // File included
  | ArrayBuffer
  | ArrayBufferView
  | ReadableStream<Uint8Array>; // needs `size`
/** A source, or the parts of a split model in order (name-00001-of-0000N.gguf ...). A URL or
 * path named like a part loads all parts by itself. */
export type ModelSources = ModelSource | ModelSource[];

export interface LoadOptions {
  /** Byte size when the model is a ReadableStream. */
  size?: number;
  /** Byte sizes of ReadableStream parts (a list of sources). */
  sizes?: number[];
  /** Name used in messages (default: path / URL / File name / 'model.gguf'). */
  name?: string;
  /** (bytesLoaded, totalBytes) after each chunk, on the calling thread; monotonic, ends at total. */
  onProgress?: (bytesLoaded: number, totalBytes: number) => void;
  /** Cancels the load: code ABORTED, nothing kept, the engine stays usable. */
  signal?: AbortSignal;
  /** Lower/upper-case hex SHA-256 of the file (an array, one per part, for a split model):
   * checked once the bytes are in; a mismatch rejects with code INTEGRITY and keeps nothing. */
  expectSha256?: string | string[];
  /** Put the file's SHA-256 in ModelInfo.sha256. */
  computeSha256?: boolean;
  /** URLs: Range request size (default 256 MiB). Larger files come as consecutive
   * Range requests (each checked: 206 + matching Content-Range). */
  rangeChunkBytes?: number;
}

export interface CreateEngineOptions extends LoadOptions {
  /** Loaded before createEngine resolves (optional). */
  model?: ModelSources;
  /** Threads per context (default 1). */
  threads?: number;
  /** 'auto' (default): 'mt' when threads > 1 and (Node or crossOriginIsolated), else 'st'
   * (then with 1 thread). 'mt' needs SharedArrayBuffer (cross-origin isolation in browsers). */
  variant?: 'auto' | 'st' | 'mt';
  /** Which build: 'auto' (default) uses the relaxed-SIMD build when the runtime has relaxed SIMD
   * with a fused multiply-add (Chromium-based browsers since version 114 on x86 with FMA3 or
   * ARM64; Node 20 only with --experimental-wasm-relaxed-simd --no-liftoff), else the baseline build.
   * Both compute the same bits; relaxed is faster (docs/BENCHMARKS.md). 'relaxed' without support rejects with
   * UNSUPPORTED_RUNTIME. */
  simd?: 'auto' | 'simd128' | 'relaxed';
  /** true (default): a Web Worker / worker_threads worker; false: in this thread, same async API. */
  worker?: boolean;
  /** Override where the wasm module factory is (default ../build-wasm[-mt]/qwasm.mjs beside wasm/). */
  moduleUrl?: string | URL;
  /** Override the worker script (default ./worker.mjs beside qwasm.mjs). */
  workerUrl?: string | URL;
}

export interface TensorTypeCount { type: string; count: number; }

export interface EngineInfo {
  kernelPath: 'wasm-relaxed-simd' | 'wasm-simd128' | 'scalar';
  variant: 'st' | 'mt';
  /** The build running: 'relaxed' (fused multiply-add) or 'simd128'. */
  simd: 'relaxed' | 'simd128';
  threads: number;
  crossOriginIsolated: boolean;
  /** Current size of the wasm memory (grows, never shrinks). */
  wasmMemoryBytes: number;
}

export interface ModelInfo extends EngineInfo {
  arch: string;
  nVocab: number; nCtxTrain: number; nEmbd: number; nLayer: number; nHead: number;
  nHeadKv: number; headDim: number; nFf: number; ropeDim: number; ropeBase: number;
  ropeNeox: boolean; rmsEps: number; tiedOutput: boolean;
  bos: number; eos: number; addBos: boolean;
  nParams: number; weightBytes: number; fileBytes: number; ggufVersion: number;
  nShards: number; ropeFreqs: boolean;
  tensorTypes: TensorTypeCount[];
  /** With computeSha256 / expectSha256: hex digest (per part for a split model). */
  sha256?: string | string[];
}

export interface SamplingOptions {
  maxTokens?: number;      // 128
  temperature?: number;    // 0.8; 0 = greedy
  topK?: number;           // 40; 0 = off
  topP?: number;           // 0.95; 1 = off
  minP?: number;           // 0.05; 0 = off
  repeatPenalty?: number;  // 1 = off
  repeatLastN?: number;    // 64
  /** Default: the time in seconds. */
  seed?: number;
  /** Generation stops before the first occurrence (not included in the text). */
  stop?: string | string[];
  /** Context size (default: prompt + maxTokens, at most the training context). */
  nCtx?: number;
  /** Keep this call's KV cache in the engine and, when a later cachePrompt call's prompt starts
   * with the same tokens, decode only the rest (default false). For chats, whose prompt repeats
   * the conversation every turn. Logits then differ in the last bits from a fresh run's (other
   * batches), so greedy text can differ from `qwasm run` on a near tie. */
  cachePrompt?: boolean;
  signal?: AbortSignal;
}

export interface CompleteOptions extends SamplingOptions {
  prompt: string;
  /** Default: the model's add_bos flag. */
  addBos?: boolean;
}

export interface CompleteStats {
  promptTokens: number; promptMs: number; genTokens: number; genMs: number; threads: number;
  /** Prompt tokens taken from the cached context (cachePrompt), not decoded again. */
  promptCached: number;
  finishReason: 'stop' | 'length' | 'eos' | 'aborted' | 'context';
  contextFull: boolean; stopped: boolean; nCtx?: number;
  /** After a cancel: tokens the worker sampled after the cancel message arrived (0). */
  tokensAfterCancel?: number;
}

export interface Completion extends AsyncIterable<string> {
  /** Resolves when generation ends (rejects with the error the iteration throws). */
  stats: Promise<CompleteStats>;
  next(): Promise<IteratorResult<string>>;
  return(): Promise<IteratorResult<string>>;
}

export interface ChatUsage {
  prompt_tokens: number; completion_tokens: number; total_tokens: number;
  /** cached_tokens: prompt tokens reused from the cached context (cachePrompt). */
  prompt_tokens_details: { cached_tokens: number };
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string | Array<{ type: 'text'; text: string }>;
}

export interface ChatRequest extends SamplingOptions {
  messages: ChatMessage[];
  stream?: boolean;
  /** (messages) => prompt, applied on the calling side (default plainTemplate). */
  template?: (messages: ChatMessage[]) => string;
  /** Reported back as `model` (default: the loaded file's name). */
  model?: string;
  // OpenAI spellings, also accepted
  max_tokens?: number; top_p?: number; top_k?: number; min_p?: number;
  repeat_penalty?: number;
}

export interface ChatCompletion {
  id: string; object: 'chat.completion'; created: number; model: string;
  choices: [{ index: 0; message: { role: 'assistant'; content: string }; finish_reason: 'stop' | 'length' }];
  usage: ChatUsage;
}

export interface ChatCompletionChunk {
  id: string; object: 'chat.completion.chunk'; created: number; model: string;
  choices: [{ index: 0; delta: { role?: 'assistant'; content?: string }; finish_reason: 'stop' | 'length' | null }];
  /** On the last chunk only. */
  usage?: ChatUsage;
}

export interface ChatCompletionStream extends AsyncIterable<ChatCompletionChunk> {
  stats: Promise<CompleteStats>;
}

export interface EvalRow { pos: number; token: number; top: Array<[number, number]>; }

export interface QwasmEngine {
  readonly variant: 'st' | 'mt';
  readonly threads: number;
  /** (Re)loads a model; the previous one is freed first. */
  load(model: ModelSources, opts?: LoadOptions): Promise<ModelInfo>;
  /** ModelInfo + EngineInfo; EngineInfo alone while no model is loaded. */
  info(): Promise<ModelInfo | EngineInfo>;
  tokenize(text: string, opts?: { addBos?: boolean }): Promise<number[]>;
  detokenize(ids: ArrayLike<number>): Promise<string>;
  complete(opts: CompleteOptions): Completion;
  chat: {
    completions: {
      create(req: ChatRequest & { stream: true }): Promise<ChatCompletionStream>;
      create(req: ChatRequest & { stream?: false }): Promise<ChatCompletion>;
    };
  };
  /** Teacher-forced top-k logits per position, as `qwasm eval` prints them. */
  eval(tokens: ArrayLike<number>, opts?: { top?: number; batch?: number; nCtx?: number }): Promise<EvalRow[]>;
  /** Ends the worker; later calls reject with INVALID_ARGUMENT. */
  dispose(): Promise<void>;
}

export function createEngine(opts?: CreateEngineOptions): Promise<QwasmEngine>;

/** The plain prompt format: system message(s) + "\n\n", then the contents; an assistant
 * message continues the user message before it, other boundaries are "\n". */
export function plainTemplate(messages: ChatMessage[]): string;
