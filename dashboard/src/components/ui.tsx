import { useCallback, useEffect, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { errorMessage, type Diagnostic } from '../api';

export function Alert({ error, testId }: { error: unknown; testId?: string }) {
  if (!error) return null;
  return (
    <div className="alert" role="alert" data-testid={testId}>
      {typeof error === 'string' ? error : errorMessage(error)}
    </div>
  );
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <div className="notice" role="status">
      {children}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

export function Stat(props: { label: string; value: ReactNode; testId?: string; hint?: string }) {
  return (
    <div className="stat card">
      <div className="stat-label">{props.label}</div>
      <div className="stat-value" data-testid={props.testId}>
        {props.value}
      </div>
      {props.hint ? <div className="muted small">{props.hint}</div> : null}
    </div>
  );
}

export function Section(props: { title: string; children: ReactNode; actions?: ReactNode; id?: string }) {
  return (
    <section className="card section" aria-labelledby={props.id ? `${props.id}-h` : undefined}>
      <header className="section-head">
        <h2 id={props.id ? `${props.id}-h` : undefined}>{props.title}</h2>
        {props.actions ? <div className="row">{props.actions}</div> : null}
      </header>
      {props.children}
    </section>
  );
}

/** Loads data once (and again on `reload()` or when deps change). */
export function useAsync<T>(fn: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(fn, deps);
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    setLoading(true);
    try {
      const d = await run();
      if (mine === seq.current) {
        setData(d);
        setError(null);
      }
    } catch (e) {
      if (mine === seq.current) setError(e);
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  }, [run]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, loading, reload, setData };
}

export function useInterval(fn: () => void, ms: number | null) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (ms === null) return;
    const h = window.setInterval(() => ref.current(), ms);
    return () => window.clearInterval(h);
  }, [ms]);
}

export function DiagnosticsList({ items, testId }: { items: Diagnostic[]; testId?: string }) {
  return (
    <div data-testid={testId} aria-live="polite">
      {items.length === 0 ? (
        <p className="muted small">No diagnostics.</p>
      ) : (
        <ul className="diagnostics">
          {items.map((d, i) => (
            <li
              key={i}
              className={d.severity === 'error' ? 'sev-error' : 'sev-warning'}
              data-severity={d.severity}
              title={d.severity}
            >
              <span className="mono">{`${d.line}:${d.column}:`}</span> {d.message}
              {d.path ? <span className="muted small"> ({d.path})</span> : null}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function DiffView({ diff, testId }: { diff: string; testId?: string }) {
  if (!diff.trim()) return <p className="muted" data-testid={testId}>No differences.</p>;
  return (
    <pre className="diff" data-testid={testId} tabIndex={0} aria-label="Unified diff">
      {diff.split('\n').map((l, i) => {
        const cls =
          l.startsWith('+++') || l.startsWith('---')
            ? 'diff-file'
            : l.startsWith('@@')
              ? 'diff-hunk'
              : l.startsWith('+')
                ? 'diff-add'
                : l.startsWith('-')
                  ? 'diff-del'
                  : '';
        return (
          <span key={i} className={cls}>
            {l}
            {'\n'}
          </span>
        );
      })}
    </pre>
  );
}

export function Tabs<K extends string>(props: {
  tabs: { key: K; label: string }[];
  active: K;
  onChange: (k: K) => void;
  label: string;
}) {
  const refs = useRef<Record<string, HTMLButtonElement | null>>({});
  const onKey = (e: KeyboardEvent, i: number) => {
    const n = props.tabs.length;
    let j = -1;
    if (e.key === 'ArrowRight') j = (i + 1) % n;
    if (e.key === 'ArrowLeft') j = (i - 1 + n) % n;
    if (j >= 0) {
      e.preventDefault();
      props.onChange(props.tabs[j].key);
      refs.current[props.tabs[j].key]?.focus();
    }
  };
  return (
    <div role="tablist" aria-label={props.label} className="tabs">
      {props.tabs.map((t, i) => (
        <button
          key={t.key}
          ref={(el) => {
            refs.current[t.key] = el;
          }}
          role="tab"
          id={`tab-${t.key}`}
          aria-selected={props.active === t.key}
          aria-controls={`panel-${t.key}`}
          tabIndex={props.active === t.key ? 0 : -1}
          className={props.active === t.key ? 'tab active' : 'tab'}
          onClick={() => props.onChange(t.key)}
          onKeyDown={(e) => onKey(e, i)}
          data-testid={`tab-${t.key}`}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}

export function JsonBlock({ value, testId, label }: { value: unknown; testId?: string; label: string }) {
  let text: string;
  if (typeof value === 'string') {
    try {
      text = JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      text = value;
    }
  } else text = JSON.stringify(value, null, 2);
  return (
    <pre className="json" data-testid={testId} tabIndex={0} aria-label={label}>
      {text}
    </pre>
  );
}

/** A bar of 0..1, e.g. a confidence. */
export function Meter({ value, label }: { value: number; label: string }) {
  const v = Math.max(0, Math.min(1, Number.isFinite(value) ? value : 0));
  return (
    <span className="meter" role="meter" aria-valuemin={0} aria-valuemax={1} aria-valuenow={v} aria-label={label}>
      <span style={{ width: `${v * 100}%` }} />
    </span>
  );
}

/** A table header row: the named columns, then an unnamed (screen-reader "Actions") one. */
export function HeadRow({ columns, actions = false }: { columns: string[]; actions?: boolean }) {
  return (
    <thead>
      <tr>
        {columns.map((c) => (
          <th scope="col" key={c}>
            {c}
          </th>
        ))}
        {actions ? (
          <th scope="col">
            <span className="sr-only">Actions</span>
          </th>
        ) : null}
      </tr>
    </thead>
  );
}
