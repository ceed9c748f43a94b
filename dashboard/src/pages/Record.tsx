import { useState } from 'react';
import { evalText, getRecord, SIGNAL_FAMILIES, type EvalAnswer, type ReplayRecord } from '../api';
import { ProbeMaker } from '../components/ProbeMaker';
import { RoutingExplain } from '../components/RoutingExplain';
import { fmtConf, fmtMoney, fmtMs, fmtNum, fmtTime, str } from '../components/format';
import { Link } from '../components/router';
import { Alert, JsonBlock, Loading, Meter, Section, useAsync } from '../components/ui';

function Signals({ r }: { r: ReplayRecord }) {
  const conf = r.signal_confidences ?? {};
  const fams = Object.keys(r.signals ?? {});
  const order = [...SIGNAL_FAMILIES.filter((f) => fams.includes(f)), ...fams.filter((f) => !(SIGNAL_FAMILIES as readonly string[]).includes(f))];
  const rows = order.map((f) => ({ family: f, names: r.signals?.[f] ?? [] })).filter((x) => x.names.length > 0);
  if (rows.length === 0) return <p className="muted">No signal matched.</p>;
  return (
    <ul className="families" data-testid="record-signals">
      {rows.map((row) => (
        <li key={row.family}>
          <span className="family">{row.family}</span>
          <ul>
            {row.names.map((n) => {
              const c = conf[`${row.family}:${n}`];
              return (
                <li key={n} className="signal-line">
                  <span className="mono">{n}</span>
                  {c !== undefined ? (
                    <>
                      <Meter value={c} label={`${row.family} ${n} confidence`} />
                      <span className="mono small">{fmtConf(c)}</span>
                    </>
                  ) : null}
                </li>
              );
            })}
          </ul>
        </li>
      ))}
    </ul>
  );
}

/** The last user message of an OpenAI chat body (string or parts), if any. */
function lastUserText(body: unknown): string | null {
  let b = body;
  if (typeof b === 'string') {
    try {
      b = JSON.parse(b);
    } catch {
      return null;
    }
  }
  const msgs = (b as { messages?: { role?: string; content?: unknown }[] } | null)?.messages;
  if (!Array.isArray(msgs)) return null;
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i];
    if (m?.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) {
      return m.content
        .map((p: { type?: string; text?: string }) => (p?.type === 'text' ? p.text ?? '' : ''))
        .join('\n');
    }
  }
  return null;
}

function Trace({ text }: { text: string }) {
  const [answer, setAnswer] = useState<EvalAnswer | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    try {
      setAnswer(await evalText(text));
      setError(null);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Section title="Trace" id="trace">
      <p className="muted small">Re-evaluates the captured prompt against the live config (no backend call).</p>
      <button className="secondary" onClick={run} disabled={busy} data-testid="record-trace">
        {busy ? 'Evaluating…' : 'Show the routing trace'}
      </button>
      <Alert error={error} />
      {answer ? <RoutingExplain result={answer.result} whyNot={answer.why_not} testPrefix="record-trace" /> : null}
    </Section>
  );
}

export default function RecordPage({ id }: { id: string }) {
  const { data: r, error, loading } = useAsync(() => getRecord(id), [id]);
  if (error) return <div className="page"><Link to="/insights">← Insights</Link><Alert error={error} /></div>;
  if (loading || !r) return <Loading what="Loading the record" />;
  const ok = r.response_status == null || (r.response_status >= 200 && r.response_status < 400);
  const projections = Object.entries(r.projection_scores ?? {});
  const userText = lastUserText(r.request_body);
  return (
    <div className="page" data-testid="record-page">
      <p>
        <Link to="/insights">← Insights</Link>
      </p>
      <h1>
        Record <span className="mono">{r.id}</span>
      </h1>
      <div className="grid2">
        <Section title="Lifecycle" id="lifecycle">
          <dl className="kv">
            <dt>Time</dt>
            <dd>{fmtTime(r.timestamp)}</dd>
            <dt>Request id</dt>
            <dd className="mono">{str(r.request_id)}</dd>
            <dt>Status</dt>
            <dd className={ok ? '' : 'text-error'} data-testid="record-status">{str(r.response_status)}</dd>
            <dt>Streaming</dt>
            <dd>{r.streaming === undefined ? '–' : r.streaming ? 'yes' : 'no'}</dd>
            <dt>Duration</dt>
            <dd>{fmtMs(r.duration_ms)}</dd>
            <dt>Time to first token</dt>
            <dd>{fmtMs(r.ttft_ms)}</dd>
          </dl>
        </Section>
        <Section title="Decision" id="decision">
          <dl className="kv">
            <dt>Decision</dt>
            <dd data-testid="record-decision">{str(r.decision)}</dd>
            <dt>Tier</dt>
            <dd>{str(r.decision_tier)}</dd>
            <dt>Category</dt>
            <dd>{str(r.category)}</dd>
            <dt>Confidence</dt>
            <dd>{fmtConf(r.confidence_score)}</dd>
            <dt>Requested model</dt>
            <dd>{str(r.original_model)}</dd>
            <dt>Selected alias</dt>
            <dd data-testid="record-model">{str(r.selected_model)}</dd>
            <dt>Provider model</dt>
            <dd>{str(r.provider_model)}</dd>
            <dt>Reasoning</dt>
            <dd>{typeof r.reasoning_mode === 'boolean' ? (r.reasoning_mode ? 'on' : 'off') : str(r.reasoning_mode)}</dd>
          </dl>
        </Section>
        <Section title="Usage and cost" id="usage">
          <dl className="kv">
            <dt>Prompt tokens</dt>
            <dd>{fmtNum(r.prompt_tokens)}</dd>
            <dt>Completion tokens</dt>
            <dd>{fmtNum(r.completion_tokens)}</dd>
            <dt>Total tokens</dt>
            <dd>{fmtNum(r.total_tokens)}</dd>
            <dt>Actual cost</dt>
            <dd data-testid="record-cost">{fmtMoney(r.actual_cost, r.currency)}</dd>
            <dt>Baseline cost</dt>
            <dd>
              {fmtMoney(r.baseline_cost, r.currency)}
              {r.baseline_model ? <span className="muted small"> ({r.baseline_model})</span> : null}
            </dd>
            <dt>Savings</dt>
            <dd data-testid="record-savings">{fmtMoney(r.cost_savings, r.currency)}</dd>
          </dl>
        </Section>
        <Section title="Feedback" id="feedback">
          {r.feedback ? (
            <p data-testid="record-feedback">
              {r.feedback.rating === 'up' ? 'good' : r.feedback.rating === 'down' ? 'bad' : r.feedback.rating}
              {r.feedback.comment ? ` — ${r.feedback.comment}` : ''}
            </p>
          ) : (
            <p className="muted" data-testid="record-feedback">
              No feedback.
            </p>
          )}
        </Section>
      </div>
      {userText ? <Trace text={userText} /> : null}
      <Section title="Signals" id="signals">
        <Signals r={r} />
      </Section>
      <Section title="Projections" id="projections">
        {(r.projections?.length ?? 0) > 0 ? (
          <p>
            Outputs: <span className="mono">{r.projections!.join(', ')}</span>
          </p>
        ) : null}
        {projections.length ? (
          <ul className="plain">
            {projections.map(([k, v]) => (
              <li key={k}>
                <span className="mono">{k}</span> = {fmtConf(v)}
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted">No projection scores.</p>
        )}
      </Section>
      <Section title="Make a probe" id="probe">
        {userText ? (
          <ProbeMaker
            id={`record_${r.id.slice(0, 12)}`}
            prompt={userText}
            decision={r.decision ?? ''}
            alias={r.selected_model ?? ''}
          />
        ) : (
          <p className="muted">The prompt was not captured (or your role may not see it), so no probe can be made from this record.</p>
        )}
      </Section>
      {r.request_body !== undefined && r.request_body !== null ? (
        <Section title="Request body" id="req">
          <JsonBlock value={r.request_body} testId="record-request-body" label="Request body" />
        </Section>
      ) : null}
      {r.response_body !== undefined && r.response_body !== null ? (
        <Section title="Response body" id="resp">
          <JsonBlock value={r.response_body} testId="record-response-body" label="Response body" />
        </Section>
      ) : null}
    </div>
  );
}
