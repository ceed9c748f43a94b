// uPlot wrappers. Only pages with plots import this module (they are lazy-loaded), so uPlot
// stays out of the entry bundle.
import { useEffect, useRef, type ReactNode } from 'react';
import uPlot, { type AlignedData, type Options } from 'uplot';
import 'uplot/dist/uPlot.min.css';

export const PALETTE = ['#4f7cff', '#2bb673', '#f29d38', '#d9534f', '#9b6bff', '#20b5c9', '#c9a320', '#e0629a'];

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

function axisStyle(): Partial<uPlot.Axis> {
  const ink = cssVar('--muted', '#8a93a6');
  const grid = cssVar('--border', '#2a3142');
  return { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
}

/** Mounts a uPlot, sized to its container; re-created when data or options change. */
function UPlot({ make, data, height }: { make: (width: number) => Options; data: AlignedData; height: number }) {
  const host = useRef<HTMLDivElement>(null);
  const makeRef = useRef(make);
  makeRef.current = make;
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const width = Math.max(240, el.clientWidth);
    const plot = new uPlot({ ...makeRef.current(width), height }, data, el);
    const ro = new ResizeObserver(() => {
      const w = Math.max(240, el.clientWidth);
      if (Math.abs(w - plot.width) > 4) plot.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [data, height]);
  return <div ref={host} className="uplot-host" />;
}

function Figure(props: { title: string; testId?: string; empty: boolean; summary: string; children: ReactNode }) {
  return (
    <figure className="chart card" data-testid={props.testId} aria-label={props.title}>
      <figcaption>{props.title}</figcaption>
      {props.empty ? <p className="muted small">No data yet.</p> : props.children}
      <p className="sr-only">{props.summary}</p>
    </figure>
  );
}

export interface LineSeries {
  label: string;
  values: number[];
  money?: boolean;
}

/** Axis labels with as many decimals as the tick spacing needs (uPlot's default shows at most
 * three, so small amounts of money all read "0"). */
function tickLabels(_u: uPlot, splits: number[]): string[] {
  const step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : Math.abs(splits[0] ?? 0);
  const decimals = step > 0 && step < 1 ? Math.min(10, Math.ceil(-Math.log10(step) - 1e-9)) : 0;
  return splits.map((v) => (v == null ? '' : v.toFixed(decimals)));
}

/** Time series (x = unix seconds). `bucket` (seconds) pads the time range around a lone point. */
export function TimeChart(props: {
  title: string;
  t: number[];
  series: LineSeries[];
  testId?: string;
  height?: number;
  bucket?: number;
}) {
  const pad = props.bucket ?? 3600;
  const lo = Math.min(...props.t);
  const hi = Math.max(...props.t);
  const data: AlignedData = [props.t, ...props.series.map((s) => s.values)];
  const summary = props.series
    .map((s) => `${s.label}: total ${s.values.reduce((a, b) => a + b, 0).toFixed(4)}`)
    .join('; ');
  return (
    <Figure title={props.title} testId={props.testId} empty={props.t.length === 0} summary={summary}>
      <UPlot
        data={data}
        height={props.height ?? 220}
        make={(width) => ({
          width,
          height: 0,
          series: [
            {},
            ...props.series.map((s, i) => ({
              label: s.label,
              stroke: PALETTE[i % PALETTE.length],
              width: 2,
              fill: i === 0 ? PALETTE[0] + '22' : undefined,
              points: { show: props.t.length < 40 },
              value: (_u: uPlot, v: number | null) => (v == null ? '–' : s.money ? v.toFixed(4) : String(v)),
            })),
          ],
          // uPlot widens a lone point by a share of its magnitude (years, for unix seconds).
          scales: { x: { time: true, range: () => (lo === hi ? [lo - pad, hi + pad] : [lo, hi]) } },
          axes: [axisStyle(), { ...axisStyle(), size: 70, values: tickLabels }],
          legend: { show: true },
          cursor: { drag: { x: true, y: false } },
        })}
      />
    </Figure>
  );
}

export interface BarSeries {
  label: string;
  values: number[];
}

/** Categorical bars (one group per name, one bar per series). */
export function BarChart(props: { title: string; names: string[]; series: BarSeries[]; testId?: string; height?: number }) {
  const n = props.names.length;
  const xs = props.names.map((_, i) => i);
  const data: AlignedData = [xs, ...props.series.map((s) => s.values)];
  const k = props.series.length;
  const width = k > 2 ? 0.8 / k : 0.6;
  const summary = props.names
    .map((name, i) => `${name}: ${props.series.map((s) => `${s.label} ${s.values[i]}`).join(', ')}`)
    .join('; ');
  const rotate = n > 5 || props.names.some((s) => s.length > 12);
  return (
    <Figure title={props.title} testId={props.testId} empty={n === 0} summary={summary}>
      <UPlot
        data={data}
        height={props.height ?? (rotate ? 260 : 220)}
        make={(w) => ({
          width: w,
          height: 0,
          scales: { x: { time: false, range: () => [-0.5, n - 0.5] }, y: { range: (_u, _min, max) => [0, max * 1.1 || 1] } },
          series: [
            { label: 'name', value: (_u: uPlot, v: number | null) => (v == null ? '–' : props.names[v] ?? '') },
            ...props.series.map((s, i) => {
              // One series: centred; two: one each side of the tick.
              const align: -1 | 0 | 1 = k === 2 ? (i === 0 ? -1 : 1) : 0;
              return {
                label: s.label,
                stroke: PALETTE[i % PALETTE.length],
                fill: PALETTE[i % PALETTE.length] + 'cc',
                width: 0,
                points: { show: false },
                paths: uPlot.paths.bars!({ size: [k === 2 ? 0.4 : width, 80], align }),
              };
            }),
          ],
          axes: [
            {
              ...axisStyle(),
              splits: () => xs,
              values: (_u, splits) => splits.map((i) => {
                const s = props.names[i] ?? '';
                return s.length > 18 ? s.slice(0, 17) + '…' : s;
              }),
              rotate: rotate ? -35 : 0,
              size: rotate ? 90 : 40,
              grid: { show: false },
            },
            { ...axisStyle(), size: 60 },
          ],
          legend: { show: k > 1 },
        })}
      />
    </Figure>
  );
}

export interface HistBin {
  lo: number;
  hi: number;
  count: number;
}
export interface HistBand {
  name: string;
  min: number | null;
  max: number | null;
}

/** A histogram with a threshold line and shaded bands. */
export function Histogram(props: {
  title: string;
  bins: HistBin[];
  threshold?: number | null;
  bands?: HistBand[];
  testId?: string;
}) {
  const bins = props.bins;
  const xs = bins.map((b) => (b.lo + b.hi) / 2);
  const data: AlignedData = [xs, bins.map((b) => b.count)];
  const lo = bins.length ? Math.min(...bins.map((b) => b.lo)) : 0;
  const hi = bins.length ? Math.max(...bins.map((b) => b.hi)) : 1;
  const threshold = props.threshold ?? null;
  const bands = props.bands ?? [];
  const summary =
    `${bins.reduce((a, b) => a + b.count, 0)} values` +
    (threshold !== null ? `; threshold ${threshold}` : '') +
    (bands.length ? `; bands ${bands.map((b) => `${b.name} ${b.min ?? '−∞'}..${b.max ?? '∞'}`).join(', ')}` : '');
  const accent = '#d9534f';
  return (
    <Figure title={props.title} testId={props.testId} empty={bins.length === 0} summary={summary}>
      <UPlot
        data={data}
        height={180}
        make={(w) => ({
          width: w,
          height: 0,
          scales: { x: { time: false, range: () => [lo, hi] }, y: { range: (_u, _min, max) => [0, max * 1.15 || 1] } },
          series: [
            { label: 'value' },
            {
              label: 'count',
              stroke: PALETTE[0],
              fill: PALETTE[0] + 'aa',
              width: 0,
              points: { show: false },
              paths: uPlot.paths.bars!({ size: [0.95, 200], align: 0 }),
            },
          ],
          axes: [axisStyle(), { ...axisStyle(), size: 44 }],
          legend: { show: false },
          hooks: {
            draw: [
              (u: uPlot) => {
                const ctx = u.ctx;
                const top = u.bbox.top;
                const h = u.bbox.height;
                ctx.save();
                bands.forEach((b, i) => {
                  const x0 = u.valToPos(Math.max(lo, b.min ?? lo), 'x', true);
                  const x1 = u.valToPos(Math.min(hi, b.max ?? hi), 'x', true);
                  ctx.fillStyle = PALETTE[(i + 1) % PALETTE.length] + '26';
                  ctx.fillRect(x0, top, x1 - x0, h);
                  ctx.fillStyle = PALETTE[(i + 1) % PALETTE.length];
                  ctx.font = `${11 * devicePixelRatio}px sans-serif`;
                  ctx.fillText(b.name, x0 + 4 * devicePixelRatio, top + 12 * devicePixelRatio);
                  ctx.strokeStyle = PALETTE[(i + 1) % PALETTE.length];
                  ctx.setLineDash([4, 4]);
                  ctx.beginPath();
                  ctx.moveTo(x1, top);
                  ctx.lineTo(x1, top + h);
                  ctx.stroke();
                });
                if (threshold !== null) {
                  const x = u.valToPos(threshold, 'x', true);
                  ctx.setLineDash([]);
                  ctx.strokeStyle = accent;
                  ctx.lineWidth = 2 * devicePixelRatio;
                  ctx.beginPath();
                  ctx.moveTo(x, top);
                  ctx.lineTo(x, top + h);
                  ctx.stroke();
                  ctx.fillStyle = accent;
                  ctx.font = `${11 * devicePixelRatio}px sans-serif`;
                  ctx.fillText(`threshold ${threshold}`, x + 4 * devicePixelRatio, top + 24 * devicePixelRatio);
                }
                ctx.restore();
              },
            ],
          },
        })}
      />
    </Figure>
  );
}
