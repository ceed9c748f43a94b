import { useState } from 'react';
import { getLogs, getStatus, type LogLine } from '../api';
import { fmtNum, fmtTime, str } from '../components/format';
import { Alert, Loading, Section, useAsync, useInterval } from '../components/ui';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

export default function StatusPage() {
  const [level, setLevel] = useState('info');
  const [auto, setAuto] = useState(true);
  const status = useAsync(getStatus, []);
  const logs = useAsync<LogLine[]>(() => getLogs(level, 200), [level]);
  useInterval(
    () => {
      void status.reload();
      void logs.reload();
    },
    auto ? 5000 : null,
  );
  const s = status.data;
  return (
    <div className="page">
      <div className="page-head">
        <h1>Status</h1>
        <label className="inline">
          <input type="checkbox" checked={auto} onChange={(e) => setAuto(e.target.checked)} data-testid="status-autorefresh" />
          Auto-refresh (5 s)
        </label>
      </div>
      <Alert error={status.error} />
      {!s ? (
        status.loading ? <Loading /> : null
      ) : (
        <>
          <div className="grid2">
            <Section title="Router" id="router">
              <dl className="kv">
                <dt>Mode</dt>
                <dd>{s.setup_mode ? 'setup (data plane stopped)' : 'serving'}</dd>
                <dt>Generation</dt>
                <dd data-testid="status-generation">{str(s.generation)}</dd>
                <dt>Config file</dt>
                <dd className="mono">{str(s.config_path)}</dd>
                <dt>Data plane</dt>
                <dd className="mono">{str(s.data_plane)}</dd>
              </dl>
            </Section>
            <Section title="Encoder and replay" id="encoder">
              <dl className="kv">
                <dt>Encoder model</dt>
                <dd className="mono">{str(s.encoder?.model)}</dd>
                <dt>Encoder</dt>
                <dd data-testid="status-encoder">
                  {s.encoder?.loaded === undefined ? '–' : s.encoder.loaded ? 'loaded' : 'not loaded'}
                  {s.encoder?.queue !== undefined ? ` · queue ${fmtNum(s.encoder.queue)}` : ''}
                </dd>
                {s.encoder?.load_error ? (
                  <>
                    <dt>Encoder error</dt>
                    <dd className="text-error">{s.encoder.load_error}</dd>
                  </>
                ) : null}
                <dt>Replay store</dt>
                <dd>{str(s.replay?.backend)}</dd>
                <dt>Records</dt>
                <dd>{fmtNum(s.replay?.records)}</dd>
              </dl>
            </Section>
          </div>
          <Section title="Backends" id="backends">
            <div className="table-wrap">
              <table data-testid="status-backends">
                <thead>
                  <tr>
                    <th scope="col">Alias</th>
                    <th scope="col">Name</th>
                    <th scope="col">Endpoint</th>
                    <th scope="col">Health</th>
                  </tr>
                </thead>
                <tbody>
                  {(s.backends ?? []).length === 0 ? (
                    <tr>
                      <td colSpan={4} className="muted">
                        No backends.
                      </td>
                    </tr>
                  ) : (
                    s.backends.map((b, i) => (
                      <tr key={`${b.alias}-${i}`}>
                        <td className="mono">{b.alias}</td>
                        <td className="mono">{str(b.name)}</td>
                        <td className="mono">{b.endpoint}</td>
                        <td>
                          {b.healthy === null || b.healthy === undefined ? (
                            <span className="badge">unknown</span>
                          ) : b.ejected ? (
                            <span className="badge badge-err">ejected</span>
                          ) : b.healthy ? (
                            <span className="badge badge-ok">healthy</span>
                          ) : (
                            <span className="badge badge-err">down</span>
                          )}
                        </td>
                      </tr>
                    ))
                  )}
                </tbody>
              </table>
            </div>
          </Section>
        </>
      )}
      <Section
        title="Logs"
        id="logs"
        actions={
          <label className="inline">
            Level
            <select value={level} onChange={(e) => setLevel(e.target.value)} data-testid="logs-level">
              {LEVELS.map((l) => (
                <option key={l} value={l}>
                  {l}
                </option>
              ))}
            </select>
          </label>
        }
      >
        <Alert error={logs.error} />
        <div className="logs" data-testid="logs-lines" tabIndex={0} aria-label="Log lines, newest last">
          {(logs.data ?? []).length === 0 ? (
            <p className="muted small">No log lines at this level.</p>
          ) : (
            (logs.data ?? []).map((l, i) => (
              <div key={i} className={`log log-${l.level.toLowerCase()}`}>
                <span className="muted">{fmtTime(l.at)}</span> <span className="log-level">{l.level.toUpperCase()}</span>{' '}
                {l.target ? <span className="muted">{l.target}</span> : null} {l.message}
              </div>
            ))
          )}
        </div>
      </Section>
    </div>
  );
}
