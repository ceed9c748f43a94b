import { useMemo, useState, type FormEvent } from 'react';
import { evalText, getTopology, type EvalAnswer, type RoutingResult, type Topology } from '../api';
import { RoutingExplain } from '../components/RoutingExplain';
import { Alert, Loading, Section, useAsync } from '../components/ui';

interface Node {
  key: string;
  label: string;
  col: number;
  y: number;
  group?: string;
}
interface Edge {
  from: string;
  to: string;
}

const COL_X = [10, 320, 600, 900];
const COL_W = [230, 200, 220, 200];
const ROW_H = 22;
const TOP = 40;

/** Lays out the four columns and resolves the references between them. */
function layout(t: Topology) {
  const nodes: Node[] = [];
  const edges: Edge[] = [];
  const lookup = new Map<string, string>();

  const signals = [...t.signals].sort((a, b) => a.family.localeCompare(b.family) || a.name.localeCompare(b.name));
  signals.forEach((s, i) => {
    const key = `s:${s.id}`;
    nodes.push({ key, label: `${s.family}: ${s.name}`, col: 0, y: TOP + i * ROW_H, group: s.family });
    lookup.set(s.id, key);
    lookup.set(`${s.family}:${s.name}`, key);
  });
  t.projections.forEach((p, i) => {
    const key = `p:${p.id}`;
    nodes.push({ key, label: p.name ? `${p.kind}: ${p.name}` : p.id, col: 1, y: TOP + i * ROW_H * 1.6 });
    const names = p.name ? [p.name, `${p.kind}:${p.name}`] : [];
    for (const k of [p.id, ...names, ...(p.outputs ?? []).flatMap((o) => [o, `projection:${o}`])]) {
      if (!lookup.has(k)) lookup.set(k, key);
    }
  });
  const decisions = [...t.decisions].sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0));
  decisions.forEach((d, i) => {
    nodes.push({ key: `d:${d.name}`, label: d.priority !== undefined ? `${d.name} · ${d.priority}` : d.name, col: 2, y: TOP + i * ROW_H * 1.4 });
  });
  const aliases = Array.from(new Set([...t.aliases, ...t.decisions.flatMap((d) => d.models)]));
  aliases.forEach((a, i) => {
    const isDefault = a === t.default_model;
    nodes.push({ key: `a:${a}`, label: isDefault ? `${a} (default)` : a, col: 3, y: TOP + i * ROW_H * 2 });
  });

  for (const p of t.projections) {
    for (const input of p.inputs) {
      const from = lookup.get(input);
      if (from && from !== `p:${p.id}`) edges.push({ from, to: `p:${p.id}` });
    }
  }
  for (const d of t.decisions) {
    for (const s of Array.from(new Set(d.signals))) {
      const from = lookup.get(s);
      if (from) edges.push({ from, to: `d:${d.name}` });
    }
    for (const m of d.models) edges.push({ from: `d:${d.name}`, to: `a:${m}` });
  }
  const height = Math.max(...nodes.map((n) => n.y), TOP) + ROW_H * 2;
  return { nodes, edges, height, lookup };
}

function highlightFrom(r: RoutingResult, lookup: Map<string, string>): Set<string> {
  const on = new Set<string>();
  for (const f of r.signals?.families ?? []) {
    for (const s of f.signals) {
      if (!s.matched) continue;
      const k = lookup.get(`${f.family}:${s.name}`);
      if (k) on.add(k);
    }
  }
  for (const m of r.projections?.mappings ?? []) {
    if (!m.output) continue;
    for (const id of [`mapping:${m.name}`, `projection:${m.output}`, `score:${m.source}`]) {
      const k = lookup.get(id);
      if (k) on.add(k);
    }
  }
  for (const p of r.projections?.partitions ?? []) {
    const k = lookup.get(`partition:${p.name}`);
    if (k && p.winner) on.add(k);
  }
  if (r.decision) on.add(`d:${r.decision}`);
  if (r.model) on.add(`a:${r.model}`);
  return on;
}

function Graph({ t, result }: { t: Topology; result: RoutingResult | null }) {
  const { nodes, edges, height, lookup } = useMemo(() => layout(t), [t]);
  const byKey = useMemo(() => new Map(nodes.map((n) => [n.key, n])), [nodes]);
  const on = useMemo(() => (result ? highlightFrom(result, lookup) : null), [result, lookup]);
  const width = COL_X[3] + COL_W[3] + 10;
  const headers = ['Signals', 'Projections', 'Decisions', 'Aliases'];
  const summary =
    `${t.signals.length} signals, ${t.projections.length} projections, ${t.decisions.length} decisions, ` +
    `${t.aliases.length} aliases.` +
    (result ? ` Chosen: ${result.decision ?? 'none'} → ${result.model ?? 'none'}.` : '');
  return (
    <div className="svg-wrap" tabIndex={0} aria-label="Topology graph (scrollable)">
      <svg
        data-testid="topology-svg"
        role="img"
        aria-label={summary}
        width={width}
        height={height}
        viewBox={`0 0 ${width} ${height}`}
        className={on ? 'topo has-highlight' : 'topo'}
      >
        {headers.map((h, i) => (
          <text key={h} x={COL_X[i]} y={20} className="topo-head">
            {h}
          </text>
        ))}
        <g className="edges">
          {edges.map((e, i) => {
            const a = byKey.get(e.from);
            const b = byKey.get(e.to);
            if (!a || !b) return null;
            const x1 = COL_X[a.col] + COL_W[a.col];
            const x2 = COL_X[b.col];
            const y1 = a.y;
            const y2 = b.y;
            const mx = (x1 + x2) / 2;
            const hot = !!on && on.has(e.from) && on.has(e.to);
            return (
              <path
                key={i}
                d={`M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`}
                className={hot ? 'edge hot' : 'edge'}
              />
            );
          })}
        </g>
        <g className="nodes">
          {nodes.map((n) => {
            const hot = !!on && on.has(n.key);
            const w = COL_W[n.col];
            const label = n.label.length > 34 ? n.label.slice(0, 33) + '…' : n.label;
            return (
              <g
                key={n.key}
                transform={`translate(${COL_X[n.col]},${n.y - 9})`}
                className={`node col${n.col}${hot ? ' hot' : ''}`}
                data-testid={hot ? `topology-hot-${n.key}` : undefined}
                data-hot={hot ? 'true' : undefined}
              >
                <title>{n.label}</title>
                <rect width={w} height={18} rx={4} />
                <text x={6} y={13}>
                  {label}
                </text>
              </g>
            );
          })}
        </g>
      </svg>
    </div>
  );
}

export default function TopologyPage() {
  const { data, error, loading, reload } = useAsync(getTopology, []);
  const [text, setText] = useState('');
  const [answer, setAnswer] = useState<EvalAnswer | null>(null);
  const [evalError, setEvalError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const run = async (e: FormEvent) => {
    e.preventDefault();
    if (!text.trim()) return;
    setBusy(true);
    setEvalError(null);
    try {
      setAnswer(await evalText(text));
    } catch (err) {
      setEvalError(err);
    } finally {
      setBusy(false);
    }
  };

  if (error) return <Alert error={error} />;
  if (loading && !data) return <Loading what="Loading the topology" />;
  if (!data) return null;
  return (
    <div className="page">
      <div className="page-head">
        <h1>Topology</h1>
        <button className="secondary" onClick={() => void reload()}>
          Refresh
        </button>
      </div>
      <form onSubmit={run} className="row align-end">
        <label className="grow">
          Test query
          <input value={text} onChange={(e) => setText(e.target.value)} data-testid="topology-query" placeholder="Type a prompt to see how it routes" />
        </label>
        <button type="submit" disabled={busy || !text.trim()} data-testid="topology-eval">
          {busy ? 'Evaluating…' : 'Evaluate'}
        </button>
        {answer ? (
          <button type="button" className="secondary" onClick={() => setAnswer(null)}>
            Clear highlight
          </button>
        ) : null}
      </form>
      <Alert error={evalError} />
      <div className="topo-layout">
        <Graph t={data} result={answer?.result ?? null} />
        {answer ? (
          <Section title="Result" id="topo-result">
            <RoutingExplain result={answer.result} whyNot={answer.why_not} testPrefix="topology" />
          </Section>
        ) : null}
      </div>
    </div>
  );
}
