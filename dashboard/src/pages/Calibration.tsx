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

/** One section of histograms with their thresholds and bands, or a note when there are none. */
function HistogramSection(props: {
  title: string;
  id: string;
  items: { name: string; bins: Parameters<typeof Histogram>[0]['bins']; threshold?: Parameters<typeof Histogram>[0]['threshold']; bands?: Parameters<typeof Histogram>[0]['bands'] }[];
  empty: string;
  testId: string;
}) {
  return (
    <Section title={props.title} id={props.id}>
      {props.items.length === 0 ? (
        <p className="muted">{props.empty}</p>
      ) : (
        <div className="charts" data-testid={props.testId}>
          {props.items.map((s) => (
            <Histogram key={s.name} title={s.name} bins={s.bins} threshold={s.threshold} bands={s.bands} />
          ))}
        </div>
      )}
    </Section>
  );
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
      <HistogramSection title="Signal confidences" id="cal-signals" items={data.signals} empty="No signal histograms yet." testId="calibration-signals" />
      <HistogramSection title="Projection scores" id="cal-scores" items={data.scores} empty="No projection scores yet." testId="calibration-scores" />
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
