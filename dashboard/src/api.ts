// The dashboard's only way to the server: one fetch wrapper, the typed API of
// docs/dashboard.md, and the defensive parsing of the looser shapes (insights, calibration).

// ---------------------------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------------------------

export class ApiError extends Error {
  status: number;
  code: string;
  body: unknown;
  constructor(status: number, code: string, message: string, body: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
  /** Diagnostics carried by a 422 answer (top-level `diagnostics`), if any. */
  get diagnostics(): Diagnostic[] {
    const d = this.body && typeof this.body === 'object' ? (this.body as { diagnostics?: unknown }).diagnostics : null;
    return Array.isArray(d) ? (d as Diagnostic[]) : [];
  }
}

let csrfToken: string | null = null;
let onUnauthorized: (() => void) | null = null;

export function setCsrf(token: string | null | undefined): void {
  csrfToken = token ?? null;
}

/** Called (once per 401) so the app can go to /login. */
export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';

interface RequestOptions {
  signal?: AbortSignal;
  /** Do not redirect to /login on 401 (login itself, auth state). */
  noAuthRedirect?: boolean;
}

function headersFor(method: Method, hasBody: boolean): Record<string, string> {
  const h: Record<string, string> = { accept: 'application/json' };
  if (hasBody) h['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) h['x-csrf-token'] = csrfToken;
  return h;
}

async function errorFrom(res: Response): Promise<ApiError> {
  let body: unknown = null;
  let message = `${res.status} ${res.statusText}`.trim();
  let code = String(res.status);
  try {
    const text = await res.text();
    if (text) {
      try {
        body = JSON.parse(text);
        const err = (body as { error?: { message?: string; code?: string } }).error;
        if (err && typeof err === 'object') {
          if (err.message) message = err.message;
          if (err.code) code = err.code;
        } else if (typeof (body as { message?: unknown }).message === 'string') {
          message = (body as { message: string }).message;
        }
      } catch {
        body = text;
        message = text.slice(0, 500);
      }
    }
  } catch {
    /* body unreadable: keep the status line */
  }
  return new ApiError(res.status, code, message, body);
}

/** Low-level: performs the request, handles csrf and 401; returns the Response (2xx only). */
export async function rawRequest(
  method: Method,
  path: string,
  body?: unknown,
  opts: RequestOptions = {},
): Promise<Response> {
  const hasBody = body !== undefined;
  const res = await fetch(path, {
    method,
    headers: headersFor(method, hasBody),
    body: hasBody ? JSON.stringify(body) : undefined,
    credentials: 'same-origin',
    signal: opts.signal,
  });
  if (!res.ok) {
    const err = await errorFrom(res);
    if (res.status === 401 && !opts.noAuthRedirect && onUnauthorized) onUnauthorized();
    throw err;
  }
  return res;
}

export async function request<T>(
  method: Method,
  path: string,
  body?: unknown,
  opts: RequestOptions = {},
): Promise<T> {
  const res = await rawRequest(method, path, body, opts);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  if (!text) return undefined as T;
  return JSON.parse(text) as T;
}

function qs(params: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

const enc = encodeURIComponent;

export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

// ---------------------------------------------------------------------------------------------
// Auth and users
// ---------------------------------------------------------------------------------------------

export type Role = 'read' | 'write' | 'admin';

export interface User {
  username: string;
  role: Role;
  created_at?: string;
}

export interface AuthState {
  setup_mode: boolean;
  has_users: boolean;
  readonly: boolean;
  user: User | null;
  csrf: string | null;
}

export async function getAuthState(): Promise<AuthState> {
  const s = await request<AuthState>('GET', '/api/auth/state', undefined, { noAuthRedirect: true });
  setCsrf(s.csrf);
  return s;
}

export async function login(username: string, password: string): Promise<{ user: User; csrf: string }> {
  const r = await request<{ user: User; csrf: string }>(
    'POST',
    '/api/auth/login',
    { username, password },
    { noAuthRedirect: true },
  );
  setCsrf(r.csrf);
  return r;
}

export async function bootstrap(username: string, password: string): Promise<{ user: User; csrf?: string }> {
  const r = await request<{ user: User; csrf?: string }>(
    'POST',
    '/api/auth/bootstrap',
    { username, password },
    { noAuthRedirect: true },
  );
  if (r && r.csrf) setCsrf(r.csrf);
  return r;
}

export async function logout(): Promise<void> {
  try {
    await request<void>('POST', '/api/auth/logout', undefined, { noAuthRedirect: true });
  } finally {
    setCsrf(null);
  }
}

export const listUsers = () => request<User[]>('GET', '/api/users');
export const createUser = (username: string, password: string, role: Role) =>
  request<User>('POST', '/api/users', { username, password, role });
export const updateUser = (name: string, patch: { role?: Role; password?: string }) =>
  request<User>('PATCH', `/api/users/${enc(name)}`, patch);
export const deleteUser = (name: string) => request<void>('DELETE', `/api/users/${enc(name)}`);

export interface ApiToken {
  id: string;
  name: string;
  created_at?: string;
}
export const listTokens = () => request<ApiToken[]>('GET', '/api/tokens');
export const createToken = (name: string) =>
  request<ApiToken & { token: string }>('POST', '/api/tokens', { name });
export const deleteToken = (id: string) => request<void>('DELETE', `/api/tokens/${enc(id)}`);

export interface AuditEntry {
  at: string;
  user: string;
  action: string;
  detail?: unknown;
}
export const listAudit = (limit = 100) => request<AuditEntry[]>('GET', `/api/audit${qs({ limit })}`);

// ---------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------

export interface Diagnostic {
  severity: 'error' | 'warning' | string;
  message: string;
  path?: string;
  line: number;
  column: number;
  end_line?: number;
  end_column?: number;
}

export const checkBackend = (url: string, api_key?: string) =>
  request<{ models: string[] }>('POST', '/api/setup/backend', api_key ? { url, api_key } : { url });

export interface Profile {
  id: string;
  title?: string;
}
export const listProfiles = () => request<Profile[]>('GET', '/api/profiles');
export const getProfile = (id: string) => request<{ yaml: string }>('GET', `/api/profiles/${enc(id)}`);
export const importUrl = (url: string) => request<{ yaml: string }>('POST', '/api/import', { url });

export interface Review {
  valid: boolean;
  diagnostics: Diagnostic[];
  aliases: string[];
  missing_aliases: string[];
  can_activate: boolean;
  /** The YAML reviewed (compiled from the DSL when DSL was given). */
  yaml?: string;
  decisions?: number;
  /** Why the backend could not be asked for its models (missing aliases unknown then). */
  backend_error?: string | null;
}
export const setupReview = (src: { yaml?: string; dsl?: string }, backend_url: string, api_key?: string) =>
  request<Review>('POST', '/api/setup/review', api_key ? { ...src, backend_url, api_key } : { ...src, backend_url });
export const setupActivate = (yaml: string, backend_url: string, api_key?: string) =>
  request<{ generation: number }>(
    'POST',
    '/api/setup/activate',
    api_key ? { yaml, backend_url, api_key } : { yaml, backend_url },
  );

// ---------------------------------------------------------------------------------------------
// Config builder
// ---------------------------------------------------------------------------------------------

export interface ConfigState {
  yaml: string;
  /** null when the config cannot be written as DSL (`dsl_error` says why). */
  dsl: string | null;
  dsl_error?: string | null;
  config_path?: string;
  version: string | number | null;
  generation: number;
}
export interface Validation {
  valid: boolean;
  diagnostics: Diagnostic[];
}
export const getConfig = () => request<ConfigState>('GET', '/api/config');
export const validateYaml = (yaml: string, signal?: AbortSignal) =>
  request<Validation>('POST', '/api/config/validate', { yaml }, { signal });
export const compileDsl = (dsl: string, base_yaml?: string, signal?: AbortSignal) =>
  request<Validation & { yaml?: string }>(
    'POST',
    '/api/dsl/compile',
    base_yaml ? { dsl, base_yaml } : { dsl },
    { signal },
  );

/** Format answers 422 with diagnostics on a parse error; both outcomes are returned. */
export async function formatDsl(dsl: string): Promise<{ dsl?: string; diagnostics?: Diagnostic[] }> {
  try {
    return await request<{ dsl?: string; diagnostics?: Diagnostic[] }>('POST', '/api/dsl/format', { dsl });
  } catch (e) {
    if (e instanceof ApiError && e.status === 422 && e.body && typeof e.body === 'object') {
      const d = (e.body as { diagnostics?: Diagnostic[] }).diagnostics;
      if (Array.isArray(d)) return { diagnostics: d };
    }
    throw e;
  }
}
export const decompileYaml = (yaml: string) => request<{ dsl: string }>('POST', '/api/dsl/decompile', { yaml });

export interface RouteChoice {
  decision: string | null;
  model: string | null;
}
export interface ImpactRow {
  id: string;
  before: RouteChoice;
  after: RouteChoice;
  cost_before?: number | null;
  cost_after?: number | null;
}
export interface Impact {
  records: number;
  covered: number;
  covered_share: number;
  changed: number;
  changed_share: number;
  cost_before: number | null;
  cost_after: number | null;
  currency?: string;
  note?: string | null;
  rows: ImpactRow[];
}
export interface ProbeResult {
  name: string;
  prompt: string;
  expected: Partial<RouteChoice>;
  actual: Partial<RouteChoice>;
  passed: boolean;
  error?: string;
}
export interface ProbeRun {
  passed: number;
  total: number;
  results: ProbeResult[];
}
export interface Preview {
  diff: string;
  impact: Impact | null;
  probes: ProbeRun | null;
}
export const previewConfig = (yaml: string, limit?: number) =>
  request<Preview>('POST', '/api/config/preview', limit ? { yaml, limit } : { yaml });
export const deployConfig = (yaml: string, message: string) =>
  request<{ version: string | number; generation: number }>('POST', '/api/config/deploy', { yaml, message });

export interface ConfigVersion {
  id: string | number;
  author: string;
  created_at: string;
  message: string;
  yaml?: string;
}
export const listVersions = () => request<ConfigVersion[]>('GET', '/api/config/versions');
export const getVersion = (id: string | number) =>
  request<ConfigVersion>('GET', `/api/config/versions/${enc(String(id))}`);
export const diffVersions = (from: string | number, to: string | number) =>
  request<{ diff: string }>('GET', `/api/config/diff${qs({ from: String(from), to: String(to) })}`);
export const rollbackConfig = (version: string | number) =>
  request<{ version: string | number; generation: number }>('POST', '/api/config/rollback', { version });

// ---------------------------------------------------------------------------------------------
// Routing result (the engine trace, `vllm-sr eval --json` field `trace`)
// ---------------------------------------------------------------------------------------------

export interface TraceSignal {
  name: string;
  matched: boolean;
  confidence: number;
  value?: number;
}
export interface TraceFamily {
  family: string;
  evaluated: boolean;
  elapsed_ns?: number;
  signals: TraceSignal[];
}
export interface TracePartition {
  name: string;
  family?: string;
  contenders?: string[];
  winner: string | null;
  confidence: number;
  defaulted?: boolean;
}
export interface TraceScore {
  name: string;
  value: number;
  terms?: { signal: string; weight: number; value: number; contribution: number }[];
}
export interface TraceMapping {
  name: string;
  source: string;
  score: number;
  output: string | null;
  confidence: number;
}
export interface TraceLeaf {
  signal: string;
  matched: boolean;
  confidence: number;
}
export interface TraceDecision {
  name: string;
  tier?: number;
  priority?: number;
  matched: boolean;
  confidence: number;
  matched_rules?: string[];
  leaves?: TraceLeaf[];
}
export interface RoutingResult {
  decision: string | null;
  confidence?: number;
  model: string | null;
  is_default?: boolean;
  model_refs?: { model: string; use_reasoning?: boolean; reasoning_effort?: string }[];
  reasoning?: { use_reasoning?: boolean; effort?: string | null; family?: string | null } | null;
  signals?: { families: TraceFamily[] };
  projections?: { partitions?: TracePartition[]; scores?: TraceScore[]; mappings?: TraceMapping[] };
  decisions?: { strategy?: string; evaluated: TraceDecision[]; winner?: string | null; reason?: string };
  timing?: Record<string, number>;
}
export interface WhyNot {
  decision: string;
  failed: { signal: string; confidence: number; threshold?: number | null; margin?: number | null }[];
}
export interface EvalAnswer {
  result: RoutingResult;
  why_not: WhyNot | null;
}
export const evalText = (text: string, yaml?: string, signal?: AbortSignal) =>
  request<EvalAnswer>('POST', '/api/eval', yaml ? { text, yaml } : { text }, { signal });

/** The first decision after the winner in evaluation order that did not match (fallback for why_not). */
export function runnerUp(r: RoutingResult): TraceDecision | null {
  const ev = r.decisions?.evaluated ?? [];
  return ev.find((d) => d.name !== r.decision && !d.matched) ?? null;
}

// ---------------------------------------------------------------------------------------------
// Playground
// ---------------------------------------------------------------------------------------------

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}
export interface ChatStreamMeta {
  replayId: string | null;
  decision: string | null;
  model: string | null;
  headers: Record<string, string>;
}
export interface ChatUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

/**
 * Streams a chat completion: calls onMeta once with the x-vsr-* headers, onDelta for each text
 * piece as it arrives; resolves with the usage (if the stream carried one).
 */
export async function streamChat(
  body: { model: string; messages: ChatMessage[] },
  cb: { onMeta: (m: ChatStreamMeta) => void; onDelta: (text: string) => void },
  signal: AbortSignal,
): Promise<ChatUsage | null> {
  const res = await rawRequest(
    'POST',
    '/api/playground/chat',
    { ...body, stream: true, stream_options: { include_usage: true } },
    { signal },
  );
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (k.startsWith('x-vsr-')) headers[k] = v;
  });
  cb.onMeta({
    replayId: res.headers.get('x-vsr-replay-id'),
    decision: res.headers.get('x-vsr-selected-decision'),
    model: res.headers.get('x-vsr-selected-model'),
    headers,
  });
  let usage: ChatUsage | null = null;
  const ctype = res.headers.get('content-type') ?? '';
  if (!res.body || ctype.includes('application/json')) {
    // A non-streamed answer (some backends ignore stream: true).
    const j = (await res.json()) as {
      choices?: { message?: { content?: string } }[];
      usage?: ChatUsage;
    };
    const text = j.choices?.[0]?.message?.content ?? '';
    if (text) cb.onDelta(text);
    return j.usage ?? null;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  const handleLine = (line: string) => {
    if (!line.startsWith('data:')) return;
    const data = line.slice(5).trim();
    if (!data || data === '[DONE]') return;
    try {
      const j = JSON.parse(data) as {
        choices?: { delta?: { content?: string | null; reasoning_content?: string | null } }[];
        usage?: ChatUsage | null;
        error?: { message?: string };
      };
      if (j.error) throw new Error(j.error.message ?? 'stream error');
      const piece = j.choices?.[0]?.delta?.content;
      if (piece) cb.onDelta(piece);
      if (j.usage) usage = j.usage;
    } catch (e) {
      if (e instanceof SyntaxError) return; // a partial or non-JSON line: skip
      throw e;
    }
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      handleLine(line);
    }
  }
  buf += decoder.decode();
  if (buf) handleLine(buf.replace(/\r$/, ''));
  return usage;
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

export const SIGNAL_FAMILIES = [
  'keyword',
  'embedding',
  'domain',
  'fact_check',
  'user_feedback',
  'preference',
  'language',
  'context',
  'structure',
  'complexity',
  'modality',
  'authz',
  'jailbreak',
  'pii',
  'projection',
] as const;

export interface ReplayRecord {
  id: string;
  timestamp: string | number;
  request_id?: string;
  decision?: string | null;
  decision_tier?: number | null;
  category?: string | null;
  original_model?: string | null;
  selected_model?: string | null;
  provider_model?: string | null;
  reasoning_mode?: string | boolean | null;
  confidence_score?: number | null;
  signals?: Partial<Record<string, string[]>>;
  signal_confidences?: Record<string, number>;
  projections?: string[];
  projection_scores?: Record<string, number>;
  request_body?: unknown;
  response_body?: unknown;
  response_status?: number | null;
  streaming?: boolean;
  duration_ms?: number | null;
  ttft_ms?: number | null;
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  total_tokens?: number | null;
  actual_cost?: number | null;
  baseline_cost?: number | null;
  cost_savings?: number | null;
  currency?: string | null;
  baseline_model?: string | null;
  feedback?: { rating: 'up' | 'down' | string; comment?: string } | null;
}

export interface RecordPage {
  items: ReplayRecord[];
  next_cursor: string | null;
  total?: number;
}

export interface RecordFilter {
  limit?: number;
  cursor?: string;
  decision?: string;
  model?: string;
  status?: string;
  since?: string;
  until?: string;
  search?: string;
}
export const listRecords = (f: RecordFilter) =>
  request<RecordPage>('GET', `/api/records${qs({ limit: 25, ...f })}`);
/** One replay record; `waitMs` lets the server wait that long for a record not stored yet. */
export const getRecord = (id: string, waitMs?: number) =>
  request<ReplayRecord>('GET', `/api/records/${enc(id)}${qs({ wait_ms: waitMs })}`);
export const sendFeedback = (id: string, rating: 'up' | 'down', comment?: string) =>
  request<void>('POST', `/api/records/${enc(id)}/feedback`, comment ? { rating, comment } : { rating });

// ---------------------------------------------------------------------------------------------
// Insights (parsed defensively: the aggregate shape may drift)
// ---------------------------------------------------------------------------------------------

export interface NameValue {
  name: string;
  value: number;
}
export interface TokenRow {
  name: string;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}
export interface SeriesPoint {
  t: number;
  requests: number;
  actual_cost: number;
  baseline_cost: number;
  savings: number;
}
export interface CostSummary {
  total_saved: number | null;
  saved_percent: number | null;
  baseline_spend: number | null;
  actual_spend: number | null;
  currency: string | null;
}
export interface Insights {
  cost: CostSummary;
  total_requests: number | null;
  model_selection: NameValue[];
  decision_distribution: NameValue[];
  signal_distribution: NameValue[];
  token_volume: TokenRow[];
  tokens_by_decision: TokenRow[];
  tokens_by_model: TokenRow[];
  series: SeriesPoint[];
  /** Filter choices over all records (may be empty). */
  available_decisions: string[];
  available_models: string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

function num(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}
function pick(o: Obj | undefined, ...keys: string[]): unknown {
  if (!o) return undefined;
  for (const k of keys) if (o[k] !== undefined && o[k] !== null) return o[k];
  return undefined;
}

/** Accepts [{name,value}], [{name,count}], [[name, value]] or {name: value}. */
function nameValues(v: unknown): NameValue[] {
  if (Array.isArray(v)) {
    const out: NameValue[] = [];
    for (const it of v) {
      if (Array.isArray(it) && it.length >= 2) {
        out.push({ name: String(it[0]), value: num(it[1]) ?? 0 });
      } else if (isObj(it)) {
        const name = pick(it, 'name', 'key', 'label', 'model', 'decision', 'family');
        const value = num(pick(it, 'value', 'count', 'requests', 'total'));
        out.push({ name: String(name ?? '?'), value: value ?? 0 });
      }
    }
    return out;
  }
  if (isObj(v)) return Object.entries(v).map(([name, value]) => ({ name, value: num(value) ?? 0 }));
  return [];
}

function tokenRows(v: unknown): TokenRow[] {
  const items: [string, Obj][] = [];
  if (isObj(v) && (num(v.input_tokens) !== null || num(v.prompt_tokens) !== null)) {
    items.push(['all', v]);
  } else if (Array.isArray(v)) {
    for (const it of v) if (isObj(it)) items.push([String(pick(it, 'name', 'key', 'label') ?? '?'), it]);
  } else if (isObj(v)) {
    for (const [k, it] of Object.entries(v)) if (isObj(it)) items.push([k, it]);
  }
  return items.map(([name, o]) => {
    const p = num(pick(o, 'prompt_tokens', 'input_tokens', 'prompt')) ?? 0;
    const c = num(pick(o, 'completion_tokens', 'output_tokens', 'completion')) ?? 0;
    return { name, prompt_tokens: p, completion_tokens: c, total_tokens: num(pick(o, 'total_tokens', 'total')) ?? p + c };
  });
}

function toUnix(v: unknown): number | null {
  const n = num(v);
  if (n !== null) return n > 1e12 ? n / 1000 : n;
  if (typeof v === 'string') {
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? null : ms / 1000;
  }
  return null;
}

function series(v: unknown): SeriesPoint[] {
  // The replay store answers {bucket, points: [...]}; the contract, a bare array.
  if (isObj(v) && Array.isArray(v.points)) v = v.points;
  if (!Array.isArray(v)) return [];
  const out: SeriesPoint[] = [];
  for (const it of v) {
    if (!isObj(it)) continue;
    const t = toUnix(pick(it, 't', 'start', 'time', 'ts', 'bucket', 'timestamp'));
    if (t === null) continue;
    const actual = num(pick(it, 'actual_cost', 'actual_spend', 'actual', 'cost')) ?? 0;
    const baseline = num(pick(it, 'baseline_cost', 'baseline_spend', 'baseline')) ?? 0;
    out.push({
      t,
      requests: num(pick(it, 'requests', 'record_count', 'count')) ?? 0,
      actual_cost: actual,
      baseline_cost: baseline,
      savings: num(pick(it, 'savings', 'total_saved', 'cost_savings', 'saved')) ?? baseline - actual,
    });
  }
  return out.sort((a, b) => a.t - b.t);
}

export function parseInsights(raw: unknown): Insights {
  const top = isObj(raw) ? raw : {};
  const agg = isObj(top.aggregates) ? top.aggregates : top;
  const costSrc = (isObj(agg.cost) ? agg.cost : isObj(agg.summary) ? agg.summary : agg) as Obj;
  const breakdown = isObj(agg.token_breakdown) ? agg.token_breakdown : undefined;
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const baseline = num(pick(costSrc, 'baseline_spend', 'baseline_cost', 'total_baseline_cost', 'baseline'));
  const actual = num(pick(costSrc, 'actual_spend', 'actual_cost', 'total_actual_cost', 'actual', 'total_cost'));
  let saved = num(pick(costSrc, 'total_saved', 'saved', 'total_savings', 'cost_savings', 'savings'));
  if (saved === null && baseline !== null && actual !== null) saved = baseline - actual;
  let pct = num(pick(costSrc, 'saved_percent', 'savings_percent', 'saved_pct', 'percent'));
  if (pct === null && saved !== null && baseline) pct = (saved / baseline) * 100;
  const currency = pick(costSrc, 'currency') ?? pick(agg, 'currency');
  return {
    cost: {
      total_saved: saved,
      saved_percent: pct,
      baseline_spend: baseline,
      actual_spend: actual,
      currency: typeof currency === 'string' ? currency : null,
    },
    total_requests: num(pick(agg, 'total_requests', 'record_count', 'requests', 'total', 'count')),
    model_selection: nameValues(pick(agg, 'model_selection', 'models', 'by_model')),
    decision_distribution: nameValues(pick(agg, 'decision_distribution', 'decisions', 'by_decision')),
    signal_distribution: nameValues(pick(agg, 'signal_distribution', 'signals', 'by_signal_family')),
    token_volume: tokenRows(pick(agg, 'token_volume')),
    tokens_by_decision: tokenRows(pick(agg, 'tokens_by_decision') ?? pick(breakdown, 'by_decision')),
    tokens_by_model: tokenRows(pick(agg, 'tokens_by_model') ?? pick(breakdown, 'by_selected_model', 'by_model')),
    series: series(pick(top, 'series') ?? pick(agg, 'series', 'time_series')),
    available_decisions: strings(agg.available_decisions),
    available_models: strings(agg.available_models),
  };
}

export async function getInsights(p: { since?: string; until?: string; bucket?: 'hour' | 'day' }): Promise<Insights> {
  return parseInsights(await request<unknown>('GET', `/api/insights${qs(p)}`));
}

// ---------------------------------------------------------------------------------------------
// Calibration (histograms: numbers over [0,1], or bins {lo|min|start, hi|max|end, count})
// ---------------------------------------------------------------------------------------------

export interface Bin {
  lo: number;
  hi: number;
  count: number;
}
export interface Band {
  name: string;
  min: number | null;
  max: number | null;
}
export interface CalibrationItem {
  name: string;
  bins: Bin[];
  threshold: number | null;
  bands: Band[];
}
export interface Calibration {
  signals: CalibrationItem[];
  scores: CalibrationItem[];
  near_misses: Obj[];
}

function bins(v: unknown, range?: [number, number]): Bin[] {
  if (isObj(v)) {
    // {edges:[...], counts:[...]} or {bins:[...]}
    const edges = v.edges;
    const counts = v.counts;
    if (Array.isArray(edges) && Array.isArray(counts)) {
      return counts.map((c, i) => ({
        lo: num(edges[i]) ?? i,
        hi: num(edges[i + 1]) ?? i + 1,
        count: num(c) ?? 0,
      }));
    }
    if (Array.isArray(v.bins)) return bins(v.bins, range);
    return [];
  }
  if (!Array.isArray(v) || v.length === 0) return [];
  if (typeof v[0] === 'number' || typeof v[0] === 'string') {
    const [a, b] = range ?? [0, 1];
    const w = (b - a) / v.length;
    return v.map((c, i) => ({ lo: a + i * w, hi: a + (i + 1) * w, count: num(c) ?? 0 }));
  }
  return v.filter(isObj).map((o, i) => ({
    lo: num(pick(o, 'lo', 'min', 'start', 'from', 'x0')) ?? i,
    hi: num(pick(o, 'hi', 'max', 'end', 'to', 'x1')) ?? i + 1,
    count: num(pick(o, 'count', 'n', 'value')) ?? 0,
  }));
}

function calItem(o: unknown): CalibrationItem | null {
  if (!isObj(o)) return null;
  const lo = num(pick(o, 'min', 'range_min'));
  const hi = num(pick(o, 'max', 'range_max'));
  const bandsRaw = Array.isArray(o.bands) ? o.bands : [];
  return {
    name: String(pick(o, 'name', 'id') ?? '?'),
    bins: bins(o.histogram, lo !== null && hi !== null ? [lo, hi] : undefined),
    threshold: num(o.threshold),
    bands: bandsRaw.filter(isObj).map((b) => ({
      name: String(pick(b, 'name') ?? ''),
      min: num(pick(b, 'min', 'gte', 'gt')),
      max: num(pick(b, 'max', 'lte', 'lt')),
    })),
  };
}

export async function getCalibration(): Promise<Calibration> {
  const raw = await request<unknown>('GET', '/api/calibration');
  const o = isObj(raw) ? raw : {};
  const list = (v: unknown) => (Array.isArray(v) ? v.map(calItem).filter((x): x is CalibrationItem => !!x) : []);
  return {
    signals: list(o.signals),
    scores: list(o.scores),
    near_misses: Array.isArray(o.near_misses) ? o.near_misses.filter(isObj) : [],
  };
}

// ---------------------------------------------------------------------------------------------
// Topology, probes, status, logs
// ---------------------------------------------------------------------------------------------

export interface Topology {
  signals: { id: string; family: string; name: string }[];
  projections: { id: string; kind: string; name?: string; inputs: string[]; outputs?: string[] }[];
  decisions: { name: string; priority?: number; tier?: number; signals: string[]; models: string[] }[];
  aliases: string[];
  default_model: string | null;
}
export async function getTopology(): Promise<Topology> {
  const t = await request<Partial<Topology>>('GET', '/api/topology');
  return {
    signals: t.signals ?? [],
    projections: (t.projections ?? []).map((p) => ({ ...p, inputs: p.inputs ?? [] })),
    decisions: (t.decisions ?? []).map((d) => ({ ...d, signals: d.signals ?? [], models: d.models ?? [] })),
    aliases: t.aliases ?? [],
    default_model: t.default_model ?? null,
  };
}

export const runProbes = (p: { manifest?: string; yaml?: string }) =>
  request<ProbeRun>('POST', '/api/probes/run', p);

export interface Status {
  setup_mode: boolean;
  generation: number | null;
  config_path: string | null;
  data_plane?: string;
  readonly?: boolean;
  backends: { alias: string; name?: string; endpoint: string; healthy: boolean | null; ejected?: boolean }[];
  encoder: { model?: string; queue?: number; loaded?: boolean; load_error?: string | null } | null;
  replay: { backend?: string; records?: number | null } | null;
}
export const getStatus = () => request<Status>('GET', '/api/status');

export interface LogLine {
  at: string;
  level: string;
  target?: string;
  message: string;
}
export const getLogs = (level: string, limit = 200) =>
  request<LogLine[]>('GET', `/api/logs${qs({ level, limit })}`);
