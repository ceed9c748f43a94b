import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import {
  evalText,
  getRecord,
  getTopology,
  sendFeedback,
  streamChat,
  errorMessage,
  type ChatMessage,
  type ChatStreamMeta,
  type ChatUsage,
  type EvalAnswer,
  type ReplayRecord,
} from '../api';
import { appendProbeSnippet, yamlStr } from '../components/draft';
import { fmtMoney, fmtNum } from '../components/format';
import { RoutingExplain } from '../components/RoutingExplain';
import { Alert } from '../components/ui';

interface Turn {
  id: number;
  prompt: string;
  answer: string;
  streaming: boolean;
  error?: string;
  meta?: ChatStreamMeta;
  usage?: ChatUsage | null;
  evalAnswer?: EvalAnswer | null;
  evalError?: string;
  record?: ReplayRecord | null;
  recordMissing?: boolean;
  feedback?: 'up' | 'down';
  feedbackError?: string;
  probe?: string;
  probeSaved?: boolean;
}

/** The replay record is written after the stream ends: the server waits up to 3 s for it. */
async function fetchRecord(id: string): Promise<ReplayRecord | null> {
  try {
    return await getRecord(id, 3000);
  } catch {
    return null;
  }
}

function makeProbe(t: Turn, n: number): string {
  const decision = t.meta?.decision || t.evalAnswer?.result.decision || 'unknown';
  const model = t.meta?.model || t.evalAnswer?.result.model || 'unknown';
  return [
    `  - id: ${decision}`,
    `    expected_decision: ${decision}`,
    `    expected_alias: ${model}`,
    `    variants:`,
    `      - id: playground_${n}`,
    `        query: ${yamlStr(t.prompt)}`,
    '',
  ].join('\n');
}

function AnswerPanel({ turn, onUpdate }: { turn: Turn; onUpdate: (p: Partial<Turn>) => void }) {
  const rec = turn.record;
  const replayId = turn.meta?.replayId;
  const feedback = async (rating: 'up' | 'down') => {
    if (!replayId) return;
    try {
      await sendFeedback(replayId, rating);
      onUpdate({ feedback: rating, feedbackError: undefined });
    } catch (e) {
      onUpdate({ feedbackError: errorMessage(e) });
    }
  };
  const currency = rec?.currency ?? null;
  return (
    <aside className="answer-panel card" aria-label="Routing details">
      {turn.evalAnswer ? (
        <RoutingExplain
          result={turn.evalAnswer.result}
          whyNot={turn.evalAnswer.why_not}
          headerDecision={turn.meta?.decision}
          headerModel={turn.meta?.model}
          testPrefix="playground"
        />
      ) : (
        <dl className="kv">
          <dt>Decision</dt>
          <dd data-testid="playground-decision">{turn.meta?.decision ?? '–'}</dd>
          <dt>Alias</dt>
          <dd data-testid="playground-model">{turn.meta?.model ?? '–'}</dd>
        </dl>
      )}
      {turn.evalError ? <p className="muted small">Explanation unavailable: {turn.evalError}</p> : null}
      <h4>Usage and cost</h4>
      <dl className="kv">
        <dt>Prompt tokens</dt>
        <dd>{fmtNum(rec?.prompt_tokens ?? turn.usage?.prompt_tokens)}</dd>
        <dt>Completion tokens</dt>
        <dd>{fmtNum(rec?.completion_tokens ?? turn.usage?.completion_tokens)}</dd>
        <dt>Cost</dt>
        <dd data-testid="playground-cost">{fmtMoney(rec?.actual_cost, currency)}</dd>
        <dt>Savings</dt>
        <dd data-testid="playground-savings">
          {fmtMoney(rec?.cost_savings, currency)}
          {rec?.baseline_model ? <span className="muted small"> vs {rec.baseline_model}</span> : null}
        </dd>
      </dl>
      {turn.recordMissing ? <p className="muted small">The replay record is not available (yet).</p> : null}
      {replayId ? (
        <p className="small muted">
          Record <a href={`/insights/${encodeURIComponent(replayId)}`}>{replayId.slice(0, 12)}</a>
        </p>
      ) : null}
      <div className="row">
        <button
          className={turn.feedback === 'up' ? 'icon pressed' : 'icon'}
          aria-label="Good answer"
          aria-pressed={turn.feedback === 'up'}
          disabled={!replayId || turn.streaming}
          onClick={() => void feedback('up')}
          data-testid="feedback-up"
        >
          Good
        </button>
        <button
          className={turn.feedback === 'down' ? 'icon pressed' : 'icon'}
          aria-label="Bad answer"
          aria-pressed={turn.feedback === 'down'}
          disabled={!replayId || turn.streaming}
          onClick={() => void feedback('down')}
          data-testid="feedback-down"
        >
          Bad
        </button>
        <button
          className="secondary small"
          disabled={turn.streaming}
          onClick={() => onUpdate({ probe: makeProbe(turn, turn.id), probeSaved: false })}
          data-testid="playground-make-probe"
        >
          Make probe
        </button>
      </div>
      {turn.feedback ? <p className="small muted" role="status">Thanks — feedback saved.</p> : null}
      {turn.feedbackError ? <Alert error={turn.feedbackError} /> : null}
      {turn.probe ? (
        <div className="stack">
          <label>
            Probe snippet (a decisions entry of a probe manifest; correct the expected route if this one was wrong)
            <textarea
              className="code"
              rows={7}
              value={turn.probe}
              onChange={(e) => onUpdate({ probe: e.target.value, probeSaved: false })}
              data-testid="playground-probe"
            />
          </label>
          <button
            className="secondary small"
            onClick={() => {
              appendProbeSnippet(turn.probe!);
              void navigator.clipboard?.writeText(turn.probe!).catch(() => undefined);
              onUpdate({ probeSaved: true });
            }}
            data-testid="playground-probe-save"
          >
            Copy to the Probes page
          </button>
          {turn.probeSaved ? (
            <p className="small muted" role="status">
              Added to the Probes page (and copied to the clipboard).
            </p>
          ) : null}
        </div>
      ) : null}
    </aside>
  );
}

export default function PlaygroundPage() {
  const [models, setModels] = useState<string[]>(['MoM', 'auto']);
  const [model, setModel] = useState('MoM');
  const [system, setSystem] = useState('');
  const [input, setInput] = useState('');
  const [turns, setTurns] = useState<Turn[]>([]);
  const [error, setError] = useState<unknown>(null);
  const ctl = useRef<AbortController | null>(null);
  const nextId = useRef(1);
  const busy = turns.some((t) => t.streaming);

  useEffect(() => {
    getTopology()
      .then((t) => setModels(['MoM', 'auto', ...t.aliases.filter((a) => a !== 'MoM' && a !== 'auto')]))
      .catch(() => undefined);
    return () => ctl.current?.abort();
  }, []);

  const update = (id: number, p: Partial<Turn>) => setTurns((ts) => ts.map((t) => (t.id === id ? { ...t, ...p } : t)));

  const send = async (e?: FormEvent) => {
    e?.preventDefault();
    const prompt = input.trim();
    if (!prompt || busy) return;
    setError(null);
    const id = nextId.current++;
    const history: ChatMessage[] = [];
    if (system.trim()) history.push({ role: 'system', content: system.trim() });
    for (const t of turns) {
      if (t.error && !t.answer) continue;
      history.push({ role: 'user', content: t.prompt }, { role: 'assistant', content: t.answer });
    }
    history.push({ role: 'user', content: prompt });
    setTurns((ts) => [...ts, { id, prompt, answer: '', streaming: true }]);
    setInput('');

    evalText(prompt)
      .then((r) => update(id, { evalAnswer: r }))
      .catch((err) => update(id, { evalError: errorMessage(err) }));

    const c = new AbortController();
    ctl.current = c;
    let meta: ChatStreamMeta | undefined;
    try {
      const usage = await streamChat(
        { model, messages: history },
        {
          onMeta: (m) => {
            meta = m;
            update(id, { meta: m });
          },
          onDelta: (piece) =>
            setTurns((ts) => ts.map((t) => (t.id === id ? { ...t, answer: t.answer + piece } : t))),
        },
        c.signal,
      );
      update(id, { streaming: false, usage });
    } catch (err) {
      const aborted = c.signal.aborted;
      update(id, { streaming: false, error: aborted ? 'Stopped.' : errorMessage(err) });
    } finally {
      if (ctl.current === c) ctl.current = null;
    }
    const replayId = meta?.replayId;
    if (replayId) {
      const rec = await fetchRecord(replayId);
      update(id, rec ? { record: rec } : { recordMissing: true });
    }
  };

  const onKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void send();
  };

  return (
    <div className="page">
      <h1>Playground</h1>
      <div className="grid2">
        <label>
          Model
          <select value={model} onChange={(e) => setModel(e.target.value)} data-testid="playground-model-select">
            {models.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <label>
          System prompt (optional)
          <input value={system} onChange={(e) => setSystem(e.target.value)} data-testid="playground-system" />
        </label>
      </div>

      <ol className="chat" aria-label="Conversation" aria-live="polite">
        {turns.map((t) => (
          <li key={t.id} className="turn">
            <div className="bubble user">
              <span className="sr-only">You: </span>
              {t.prompt}
            </div>
            <div className="turn-answer">
              <div className="bubble assistant" data-testid="playground-answer" aria-busy={t.streaming}>
                <span className="sr-only">Answer: </span>
                {t.answer || (t.streaming ? <span className="muted">…</span> : null)}
                {t.error ? <div className="alert" role="alert">{t.error}</div> : null}
              </div>
              <AnswerPanel turn={t} onUpdate={(p) => update(t.id, p)} />
            </div>
          </li>
        ))}
      </ol>

      <Alert error={error} />
      <form onSubmit={send} className="stack composer">
        <label>
          Message (Ctrl+Enter sends)
          <textarea
            rows={3}
            value={input}
            onChange={(e) => setInput(e.target.value)}
            onKeyDown={onKey}
            data-testid="playground-input"
          />
        </label>
        <div className="row">
          <button type="submit" disabled={busy || !input.trim()} data-testid="playground-send">
            Send
          </button>
          <button
            type="button"
            className="secondary"
            disabled={!busy}
            onClick={() => ctl.current?.abort()}
            data-testid="playground-stop"
          >
            Stop
          </button>
          <button
            type="button"
            className="secondary"
            disabled={busy || turns.length === 0}
            onClick={() => setTurns([])}
            data-testid="playground-clear"
          >
            New conversation
          </button>
        </div>
      </form>
    </div>
  );
}
