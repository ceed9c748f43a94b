import { getCalibration } from '../api';
import { Histogram } from '../components/charts';
import { fmtConf, fmtTime, str } from '../components/format';
import { Link } from '../components/router';
import { Alert, Loading, Section, useAsync } from '../components/ui';

function cell(key: string, v: unknown) {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number') return /time|at$/i.test(key) ? fmtTime(v) : Number.isInteger(v) ? String(v) : fmtConf(v);
  if (typeof v === 'string') return /timestamp|^at$|time/i.test(key) ? fmtTime(v) : v;
  return JSON.stringify(v);
}

export default function CalibrationPage() {
  const { data, error, loading, reload } = useAsync(getCalibration, []);
  if (error) return <Alert error={error} />;
  if (loading && !data) return <Loading what="Loading calibration data" />;
  if (!data) return null;
  const nm = data.near_misses;
  const cols = nm.length ? Object.keys(nm[0]).filter((k) => k !== 'request_body' && k !== 'response_body').slice(0, 7) : [];
  const idKey = cols.find((k) => k === 'id' || k === 'record_id' || k === 'record');
  return (
    <div className="page">
      <div className="page-head">
        <h1>Calibration</h1>
        <div className="row">
          <Link to="/insights">← Insights</Link>
          <button className="secondary" onClick={() => void reload()}>
            Refresh
          </button>
        </div>
      </div>
      <p className="muted">
        How recent traffic scores against each signal threshold and projection band. Mass piled up right at a line
        means small threshold changes move many requests.
      </p>
      <Section title="Signal confidences" id="cal-signals">
        {data.signals.length === 0 ? (
          <p className="muted">No signal histograms yet.</p>
        ) : (
          <div className="charts" data-testid="calibration-signals">
            {data.signals.map((s) => (
              <Histogram key={s.name} title={s.name} bins={s.bins} threshold={s.threshold} bands={s.bands} />
            ))}
          </div>
        )}
      </Section>
      <Section title="Projection scores" id="cal-scores">
        {data.scores.length === 0 ? (
          <p className="muted">No projection scores yet.</p>
        ) : (
          <div className="charts" data-testid="calibration-scores">
            {data.scores.map((s) => (
              <Histogram key={s.name} title={s.name} bins={s.bins} threshold={s.threshold} bands={s.bands} />
            ))}
          </div>
        )}
      </Section>
      <Section title="Near misses" id="cal-near">
        {nm.length === 0 ? (
          <p className="muted">No near misses.</p>
        ) : (
          <div className="table-wrap">
            <table data-testid="calibration-near-misses">
              <thead>
                <tr>
                  {cols.map((c) => (
                    <th key={c} scope="col">
                      {c}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {nm.map((row, i) => (
                  <tr key={i}>
                    {cols.map((c) => (
                      <td key={c}>
                        {c === idKey && row[c] ? (
                          <Link to={`/insights/${encodeURIComponent(str(row[c]))}`}>{str(row[c]).slice(0, 12)}</Link>
                        ) : (
                          cell(c, row[c])
                        )}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </div>
  );
}
