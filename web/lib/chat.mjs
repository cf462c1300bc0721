// Conversation state and streaming generation, shared by the chat page and the widget.

export const DEFAULT_SETTINGS = Object.freeze({
  systemPrompt: '',
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  maxTokens: 200,
  threads: 'auto',
});

/** Each setting's valid range, for the form and for values read back from storage. */
export const SETTING_LIMITS = {
  temperature: [0, 5],
  topK: [0, 1000],
  topP: [0, 1],
  minP: [0, 1],
  maxTokens: [1, 4096],
};

/** Settings with every field valid (bad or missing values fall back to the defaults). */
export function normalizeSettings(s = {}) {
  const out = { ...DEFAULT_SETTINGS };
  if (typeof s.systemPrompt === 'string') out.systemPrompt = s.systemPrompt;
  for (const [k, [lo, hi]] of Object.entries(SETTING_LIMITS)) {
    const v = Number(s[k]);
    if (s[k] !== '' && s[k] !== null && s[k] !== undefined && Number.isFinite(v) && v >= lo && v <= hi)
      out[k] = k === 'topK' || k === 'maxTokens' ? Math.round(v) : v;
  }
  if (s.threads === 'auto' || (Number.isInteger(Number(s.threads)) && Number(s.threads) >= 1 && Number(s.threads) <= 16))
    out.threads = s.threads === 'auto' ? 'auto' : Number(s.threads);
  return out;
}

/** localStorage-backed JSON value (silently in-memory when storage is unavailable). */
export class Stored {
  constructor(key, fallback) { this.key = key; this.fallback = fallback; }
  get() {
    try {
      const v = localStorage.getItem(this.key);
      return v === null ? structuredClone(this.fallback) : JSON.parse(v);
    } catch {
      return structuredClone(this.fallback);
    }
  }
  set(v) {
    try { localStorage.setItem(this.key, JSON.stringify(v)); } catch { /* storage full or blocked */ }
  }
  clear() { try { localStorage.removeItem(this.key); } catch { /* ignore */ } }
}

/**
 * Streams one assistant reply. messages: the conversation so far including the
 * new user message ([{role, content}]); the system prompt is put first.
 * onPiece(text) for every piece; resolves to { text, pieces, finishReason, tokensPerSecond, ms }.
 * `signal` stops generation (finishReason 'aborted'; no throw).
 */
export async function generateReply(engine, messages, settings, { onPiece, signal, threads, info, template } = {}) {
  let msgs = [];
  if (settings.systemPrompt) msgs.push({ role: 'system', content: settings.systemPrompt });
  for (const m of messages) msgs.push({ role: m.role, content: m.content });
  let dropped = 0;
  if (info && template) ({ msgs, dropped } = await fitToContext(engine, msgs, info, settings.maxTokens, template));
  const stream = await engine.chat.completions.create({
    messages: msgs, stream: true,
    temperature: settings.temperature, topK: settings.topK, topP: settings.topP, minP: settings.minP,
    maxTokens: settings.maxTokens, signal, ...(threads ? { threads } : {}),
    // each turn's prompt repeats the conversation: decode only what is new
    cachePrompt: true,
  });
  let text = '', pieces = 0, finishReason = null, usage = null, tFirst = 0;
  const t0 = performance.now();
  for await (const chunk of stream) {
    const ch = chunk.choices?.[0];
    const piece = ch?.delta?.content;
    if (piece) {
      if (!pieces) tFirst = performance.now();
      pieces++;
      text += piece;
      onPiece?.(piece, text);
    }
    if (ch?.finish_reason) finishReason = ch.finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  const t1 = performance.now();
  if (signal?.aborted) finishReason = 'aborted';
  // the API reports a full context as 'length': tell them apart by the count
  if (finishReason === 'length' && usage && usage.completion_tokens < settings.maxTokens) finishReason = 'context';
  const genTokens = usage?.completion_tokens ?? pieces;
  // tokens after the first over the time since the first: the generation rate without the prompt
  const span = (t1 - tFirst) / 1000;
  const tokensPerSecond = genTokens > 1 && span > 0 ? (genTokens - 1) / span : NaN;
  return { text, pieces, finishReason: finishReason ?? 'stop', tokensPerSecond, ms: t1 - t0, usage, dropped };
}

/**
 * Drops the oldest non-system messages until the prompt leaves room for the
 * reply in the model's context (nCtxTrain): at least maxTokens, or half the
 * context when maxTokens is larger. The newest message always stays (if it
 * alone is too long, the engine's error says so). Returns { msgs, dropped }.
 */
export async function fitToContext(engine, msgs, info, maxTokens, template) {
  const limit = info?.nCtxTrain;
  if (!(limit > 0)) return { msgs, dropped: 0 };
  const budget = Math.max(8, limit - Math.min(maxTokens, Math.floor(limit / 2)));
  let m = msgs.slice(), dropped = 0;
  for (;;) {
    const n = (await engine.tokenize(template(m))).length;
    if (n <= budget) return { msgs: m, dropped };
    const i = m.findIndex((x) => x.role !== 'system');
    if (i < 0 || i === m.length - 1) return { msgs: m, dropped };
    m.splice(i, 1);
    dropped++;
  }
}

/**
 * Threads for one generation: with the 'auto' setting, tiny models (< 8 MB of
 * weights) run on one thread, where waking other threads per matmul costs more
 * than it gains (stories260K in Chromium on 2 busy cores, medians: ~1600-1900
 * tokens/s on 1 thread vs ~160 on 2); otherwise every thread of the engine.
 */
export function threadsFor(settingThreads, info) {
  const n = info?.threads ?? 1;
  if (settingThreads === 'auto' && (info?.weightBytes ?? Infinity) < 8e6) return 1;
  return n;
}

/**
 * Coalesces streamed text updates to one DOM write per animation frame
 * (writing every piece lays the growing message out again each time; for a
 * 1000-token reply of stories260K, median 4.7 s -> 3.5 s on a loaded 2-core
 * machine). update(text) schedules; flush() writes now.
 */
export function frameBatcher(write) {
  let pending = null, scheduled = false;
  const run = () => {
    scheduled = false;
    if (pending === null) return;
    const t = pending;
    pending = null;
    write(t);
  };
  return {
    update(text) {
      pending = text;
      if (!scheduled) { scheduled = true; requestAnimationFrame(run); }
    },
    flush: run,
  };
}

/** Human text for an error (QwasmError codes get a hint). */
/** The note under a finished reply (undefined when there is nothing to say):
 * why it ended early and which old messages did not fit the context. */
export function replyNote(r) {
  const notes = { aborted: 'stopped', length: 'max tokens reached', context: 'context full: start a new chat' };
  const why = [notes[r.finishReason]];
  if (r.dropped) why.push(`the ${r.dropped} oldest message${r.dropped === 1 ? '' : 's'} did not fit the model's context and were left out`);
  return why.filter(Boolean).join('; ') || undefined;
}

export function describeError(e) {
  const msg = e?.message ?? String(e);
  switch (e?.code) {
    case 'NETWORK': return `Download failed: ${msg}`;
    case 'INTEGRITY': return `The model file failed its integrity check: ${msg}`;
    case 'BAD_MODEL': case 'TRUNCATED': return `Not a usable GGUF model: ${msg}`;
    case 'UNSUPPORTED_TYPE': return `This model uses something qwasm does not support: ${msg}`;
    case 'OUT_OF_MEMORY': return `Not enough memory for this model: ${msg}`;
    case 'WORKER':
      if (/dynamically imported module|build-wasm/.test(msg))
        return `The engine could not start: ${msg}. Is the WebAssembly module built and served (bash scripts/build-wasm.sh)?`;
      return `The engine stopped unexpectedly: ${msg}`;
    case 'ABORTED': return 'Cancelled.';
    default: return msg;
  }
}
