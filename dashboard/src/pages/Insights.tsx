import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { getInsights, listRecords, type Insights, type RecordFilter, type RecordPage } from '../api';
import { BarChart, TimeChart } from '../components/charts';
import { fmtMoney, fmtMs, fmtNum, fmtPct, fmtTime, str } from '../components/format';
import { Link, navigate } from '../components/router';
import { Alert, Section, Stat, useInterval } from '../components/ui';

/** datetime-local value → RFC 3339 (UTC), or undefined. */
function toIso(v: string): string | undefined {
  if (!v) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

interface Filters {
  decision: string;
  model: string;
  status: string;
  since: string;
  until: string;
  search: string;
}
const EMPTY: Filters = { decision: '', model: '', status: '', since: '', until: '', search: '' };

function Charts({ data, bucket }: { data: Insights; bucket: number }) {
  const s = data.series;
  const t = s.map((p) => p.t);
  return (
    <div className="charts">
      <TimeChart
        title="Spend and savings over time"
        testId="chart-spend"
        bucket={bucket}
        t={t}
        series={[
          { label: 'Actual spend', values: s.map((p) => p.actual_cost), money: true },
          { label: 'Baseline spend', values: s.map((p) => p.baseline_cost), money: true },
          { label: 'Savings', values: s.map((p) => p.savings), money: true },
        ]}
      />
      <TimeChart title="Requests over time" testId="chart-requests" bucket={bucket} t={t} series={[{ label: 'Requests', values: s.map((p) => p.requests) }]} />
      <BarChart
        title="Requests by model"
        testId="chart-models"
        names={data.model_selection.map((x) => x.name)}
        series={[{ label: 'Requests', values: data.model_selection.map((x) => x.value) }]}
      />
      <BarChart
        title="Requests by decision"
        testId="chart-decisions"
        names={data.decision_distribution.map((x) => x.name)}
        series={[{ label: 'Requests', values: data.decision_distribution.map((x) => x.value) }]}
      />
      <BarChart
        title="Signal families"
        testId="chart-signals"
        names={data.signal_distribution.map((x) => x.name)}
        series={[{ label: 'Matches', values: data.signal_distribution.map((x) => x.value) }]}
      />
      <BarChart
        title="Tokens by decision"
        testId="chart-tokens-decision"
        names={data.tokens_by_decision.map((x) => x.name)}
        series={[
          { label: 'Prompt', values: data.tokens_by_decision.map((x) => x.prompt_tokens) },
          { label: 'Completion', values: data.tokens_by_decision.map((x) => x.completion_tokens) },
        ]}
      />
      <BarChart
        title="Tokens by model"
        testId="chart-tokens-model"
        names={data.tokens_by_model.map((x) => x.name)}
        series={[
          { label: 'Prompt', values: data.tokens_by_model.map((x) => x.prompt_tokens) },
          { label: 'Completion', values: data.tokens_by_model.map((x) => x.completion_tokens) },
        ]}
      />
    </div>
  );
}

export default function InsightsPage() {
  const [bucket, setBucket] = useState<'hour' | 'day'>('hour');
  const [auto, setAuto] = useState(true);
  const [insights, setInsights] = useState<Insights | null>(null);
  const [insightsError, setInsightsError] = useState<unknown>(null);
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  // Keyset paging: the cursors of the pages before the current one.
  const [cursors, setCursors] = useState<string[]>([]);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [page, setPage] = useState<RecordPage | null>(null);
  const [recordsError, setRecordsError] = useState<unknown>(null);
  const [updated, setUpdated] = useState<Date | null>(null);

  const loadInsights = useCallback(async () => {
    try {
      setInsights(await getInsights({ bucket, since: toIso(filters.since), until: toIso(filters.until) }));
      setInsightsError(null);
    } catch (e) {
      setInsightsError(e);
    }
  }, [bucket, filters.since, filters.until]);

  const loadRecords = useCallback(async () => {
    const f: RecordFilter = {
      limit: 25,
      cursor,
      decision: filters.decision || undefined,
      model: filters.model || undefined,
      status: filters.status || undefined,
      since: toIso(filters.since),
      until: toIso(filters.until),
      search: filters.search || undefined,
    };
    try {
      setPage(await listRecords(f));
      setRecordsError(null);
      setUpdated(new Date());
    } catch (e) {
      setRecordsError(e);
    }
  }, [cursor, filters]);

  useEffect(() => {
    void loadInsights();
  }, [loadInsights]);
  useEffect(() => {
    void loadRecords();
  }, [loadRecords]);

  useInterval(
    () => {
      void loadInsights();
      // Only the first page refreshes by itself; older pages stay put.
      if (!cursor) void loadRecords();
    },
    auto ? 5000 : null,
  );

  const apply = (e?: FormEvent) => {
    e?.preventDefault();
    setFilters(draft);
    setCursors([]);
    setCursor(undefined);
  };
  const next = () => {
    if (!page?.next_cursor) return;
    setCursors((c) => [...c, cursor ?? '']);
    setCursor(page.next_cursor);
  };
  const prev = () => {
    if (cursors.length === 0) return;
    const p = cursors[cursors.length - 1];
    setCursors(cursors.slice(0, -1));
    setCursor(p ? p : undefined);
  };

  const c = insights?.cost;
  const uniq = (a: string[]) => Array.from(new Set(a));
  const decisions = uniq([...(insights?.available_decisions ?? []), ...(insights?.decision_distribution.map((d) => d.name) ?? [])]);
  const models = uniq([...(insights?.available_models ?? []), ...(insights?.model_selection.map((d) => d.name) ?? [])]);

  return (
    <div className="page">
      <div className="page-head">
        <h1>Insights</h1>
        <div className="row">
          <label className="inline">
            Bucket
            <select value={bucket} onChange={(e) => setBucket(e.target.value as 'hour' | 'day')} data-testid="insights-bucket">
              <option value="hour">hour</option>
              <option value="day">day</option>
            </select>
          </label>
          <label className="inline">
            <input type="checkbox" checked={auto} onChange={(e) => setAuto(e.target.checked)} data-testid="insights-autorefresh" />
            Auto-refresh (5 s)
          </label>
          <Link to="/calibration">Calibration →</Link>
        </div>
      </div>
      <Alert error={insightsError} testId="insights-error" />
      <div className="stats">
        <Stat label="Total saved" value={fmtMoney(c?.total_saved, c?.currency)} testId="insights-total-saved" />
        <Stat label="Saved %" value={fmtPct(c?.saved_percent)} testId="insights-saved-percent" />
        <Stat label="Baseline spend" value={fmtMoney(c?.baseline_spend, c?.currency)} testId="insights-baseline-spend" />
        <Stat label="Actual spend" value={fmtMoney(c?.actual_spend, c?.currency)} testId="insights-actual-spend" />
        <Stat label="Requests" value={fmtNum(insights?.total_requests ?? page?.total ?? null)} testId="insights-requests" />
        <Stat label="Tokens" value={fmtNum(insights?.token_volume[0]?.total_tokens ?? null)} testId="insights-tokens" />
      </div>
      {insights ? <Charts data={insights} bucket={bucket === 'day' ? 86400 : 3600} /> : null}

      <Section title="Records" id="records">
        <form className="filters" onSubmit={apply} aria-label="Record filters">
          <label>
            Decision
            <input list="decisions-list" value={draft.decision} onChange={(e) => setDraft({ ...draft, decision: e.target.value })} data-testid="filter-decision" />
            <datalist id="decisions-list">
              {decisions.map((d) => (
                <option key={d} value={d} />
              ))}
            </datalist>
          </label>
          <label>
            Model
            <input list="models-list" value={draft.model} onChange={(e) => setDraft({ ...draft, model: e.target.value })} data-testid="filter-model" />
            <datalist id="models-list">
              {models.map((d) => (
                <option key={d} value={d} />
              ))}
            </datalist>
          </label>
          <label>
            Status
            <select value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.target.value })} data-testid="filter-status">
              <option value="">all</option>
              <option value="2xx">success (2xx)</option>
              <option value="error">error (4xx/5xx)</option>
            </select>
          </label>
          <label>
            Since
            <input type="datetime-local" value={draft.since} onChange={(e) => setDraft({ ...draft, since: e.target.value })} data-testid="filter-since" />
          </label>
          <label>
            Until
            <input type="datetime-local" value={draft.until} onChange={(e) => setDraft({ ...draft, until: e.target.value })} data-testid="filter-until" />
          </label>
          <label>
            Search
            <input type="search" value={draft.search} onChange={(e) => setDraft({ ...draft, search: e.target.value })} data-testid="filter-search" />
          </label>
          <div className="row align-end">
            <button type="submit" data-testid="filter-apply">
              Apply
            </button>
            <button
              type="button"
              className="secondary"
              onClick={() => {
                setDraft(EMPTY);
                setFilters(EMPTY);
                setCursors([]);
                setCursor(undefined);
              }}
            >
              Clear
            </button>
          </div>
        </form>
        <Alert error={recordsError} testId="records-error" />
        <div className="table-wrap">
          <table data-testid="insights-records">
            <caption className="sr-only">Replay records, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Decision</th>
                <th scope="col">Model</th>
                <th scope="col">Status</th>
                <th scope="col">Duration</th>
                <th scope="col">Tokens</th>
                <th scope="col">Cost</th>
                <th scope="col">Saved</th>
                <th scope="col">Feedback</th>
              </tr>
            </thead>
            <tbody>
              {page && page.items.length === 0 ? (
                <tr>
                  <td colSpan={9} className="muted">
                    No records match.
                  </td>
                </tr>
              ) : null}
              {page?.items.map((r) => {
                const href = `/insights/${encodeURIComponent(r.id)}`;
                const ok = r.response_status == null || (r.response_status >= 200 && r.response_status < 400);
                return (
                  <tr
                    key={r.id}
                    data-testid={`record-row-${r.id}`}
                    className="clickable"
                    onClick={(e) => {
                      if ((e.target as HTMLElement).closest('a')) return;
                      navigate(href);
                    }}
                  >
                    <td>
                      <Link to={href}>{fmtTime(r.timestamp)}</Link>
                    </td>
                    <td>{str(r.decision)}</td>
                    <td>{str(r.selected_model)}</td>
                    <td className={ok ? '' : 'text-error'}>{str(r.response_status)}</td>
                    <td>{fmtMs(r.duration_ms)}</td>
                    <td>{fmtNum(r.total_tokens)}</td>
                    <td>{fmtMoney(r.actual_cost, r.currency)}</td>
                    <td>{fmtMoney(r.cost_savings, r.currency)}</td>
                    <td>{r.feedback ? (r.feedback.rating === 'up' ? 'good' : 'bad') : '–'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        <div className="row">
          <button className="secondary" onClick={prev} disabled={cursors.length === 0} data-testid="records-prev">
            Previous
          </button>
          <button className="secondary" onClick={next} disabled={!page?.next_cursor} data-testid="records-next">
            Next
          </button>
          <span className="muted small" aria-live="polite">
            Page {cursors.length + 1}
            {page?.total != null ? ` · ${fmtNum(page.total)} records` : ''}
            {updated ? ` · updated ${updated.toLocaleTimeString('en-GB', { hour12: false })}` : ''}
          </span>
        </div>
      </Section>
    </div>
  );
}
