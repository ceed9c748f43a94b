// Explains one routing result: decision, alias, reasoning, matched signals by family, projection
// scores and bands, the runner-up decision and why it lost.
import { runnerUp, type RoutingResult, type WhyNot } from '../api';
import { fmtConf, str } from './format';
import { Meter } from './ui';

export function matchedByFamily(r: RoutingResult): { family: string; signals: { name: string; confidence: number }[] }[] {
  return (r.signals?.families ?? [])
    .map((f) => ({
      family: f.family,
      signals: (f.signals ?? []).filter((s) => s.matched).map((s) => ({ name: s.name, confidence: s.confidence })),
    }))
    .filter((f) => f.signals.length > 0);
}

export function RoutingExplain(props: {
  result: RoutingResult;
  whyNot: WhyNot | null;
  /** Overrides from the response headers (what the data plane actually did). */
  headerDecision?: string | null;
  headerModel?: string | null;
  testPrefix?: string;
}) {
  const r = props.result;
  const t = props.testPrefix ?? 'explain';
  const decision = props.headerDecision || r.decision;
  const model = props.headerModel || r.model;
  const reasoning = r.reasoning?.use_reasoning ?? r.model_refs?.[0]?.use_reasoning;
  const effort = r.reasoning?.effort ?? r.model_refs?.[0]?.reasoning_effort;
  const families = matchedByFamily(r);
  const runner = r.decisions?.evaluated?.find((d) => d.name === props.whyNot?.decision) ?? runnerUp(r);
  const scores = r.projections?.scores ?? [];
  const mappings = r.projections?.mappings ?? [];
  const partitions = r.projections?.partitions ?? [];

  return (
    <div className="explain stack">
      <dl className="kv">
        <dt>Decision</dt>
        <dd data-testid={`${t}-decision`}>
          {str(decision)}
          {r.is_default ? <span className="badge">default</span> : null}
          {r.confidence !== undefined ? <span className="muted small"> · {fmtConf(r.confidence)}</span> : null}
        </dd>
        <dt>Alias</dt>
        <dd data-testid={`${t}-model`}>{str(model)}</dd>
        <dt>Reasoning</dt>
        <dd data-testid={`${t}-reasoning`}>
          {reasoning === undefined ? '–' : reasoning ? `on${effort ? ` (${effort})` : ''}` : 'off'}
        </dd>
      </dl>
      {r.decisions?.reason ? <p className="muted small">{r.decisions.reason}</p> : null}

      <div data-testid={`${t}-signals`}>
        <h4>Matched signals</h4>
        {families.length === 0 ? (
          <p className="muted small">No signal matched.</p>
        ) : (
          <ul className="families">
            {families.map((f) => (
              <li key={f.family}>
                <span className="family">{f.family}</span>
                <ul>
                  {f.signals.map((s) => (
                    <li key={s.name} className="signal-line">
                      <span className="mono">{s.name}</span>
                      <Meter value={s.confidence} label={`${f.family} ${s.name} confidence`} />
                      <span className="mono small">{fmtConf(s.confidence)}</span>
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ul>
        )}
      </div>

      {scores.length || mappings.length || partitions.length ? (
        <div data-testid={`${t}-projections`}>
          <h4>Projections</h4>
          <ul className="plain">
            {scores.map((s) => {
              const bands = mappings.filter((m) => m.source === s.name);
              return (
                <li key={s.name}>
                  <span className="mono">{s.name}</span> = <strong>{fmtConf(s.value)}</strong>
                  {bands.map((b) => (
                    <span key={b.name} className="muted small">
                      {' '}
                      → {b.name}: {b.output ?? 'no band'}
                      {b.output ? ` (${fmtConf(b.confidence)})` : ''}
                    </span>
                  ))}
                </li>
              );
            })}
            {partitions.map((p) => (
              <li key={p.name}>
                <span className="mono">{p.name}</span>: winner <strong>{str(p.winner)}</strong>{' '}
                <span className="muted small">({fmtConf(p.confidence)}{p.defaulted ? ', defaulted' : ''})</span>
              </li>
            ))}
          </ul>
        </div>
      ) : null}

      <div data-testid={`${t}-why-not`}>
        <h4>Runner-up</h4>
        {runner || props.whyNot ? (
          <>
            <p>
              <span className="mono">{props.whyNot?.decision ?? runner?.name}</span>
              {runner?.priority !== undefined ? <span className="muted small"> · priority {runner.priority}</span> : null}
            </p>
            {props.whyNot?.failed?.length ? (
              <>
                <p className="muted small">Why not — conditions that failed:</p>
                <ul className="plain">
                  {props.whyNot.failed.map((f, i) => (
                    <li key={`${f.signal}-${i}`}>
                      <span className="mono">{f.signal}</span> <span className="muted small">{fmtConf(f.confidence)}</span>
                      {f.margin != null && f.margin > 0 ? (
                        <span className="muted small">
                          {' '}
                          (short by {fmtConf(f.margin)}
                          {f.threshold != null ? ` of threshold ${fmtConf(f.threshold)}` : ''})
                        </span>
                      ) : null}
                    </li>
                  ))}
                </ul>
              </>
            ) : runner?.leaves?.length ? (
              <ul className="plain">
                {runner.leaves
                  .filter((l) => !l.matched)
                  .map((l, i) => (
                    <li key={`${l.signal}-${i}`}>
                      ✗ <span className="mono">{l.signal}</span> <span className="muted small">{fmtConf(l.confidence)}</span>
                    </li>
                  ))}
              </ul>
            ) : null}
          </>
        ) : (
          <p className="muted small">No other decision was close.</p>
        )}
      </div>
    </div>
  );
}
