// Formatting helpers; every one shows "–" for a missing value instead of failing.
export const DASH = '–';

export function fmtNum(v: number | null | undefined, digits = 0): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return DASH;
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function fmtMoney(v: number | null | undefined, currency?: string | null): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return DASH;
  const abs = Math.abs(v);
  const digits = abs === 0 ? 2 : abs < 0.01 ? 6 : abs < 1 ? 4 : 2;
  const s = v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: digits });
  const c = currency || 'USD';
  return c === 'USD' ? `$${s}` : `${s} ${c}`;
}

export function fmtPct(v: number | null | undefined, digits = 1): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return DASH;
  return `${v.toFixed(digits)}%`;
}

/** A 0..1 share as a percentage. */
export function fmtShare(v: number | null | undefined): string {
  return v === null || v === undefined ? DASH : fmtPct(v * 100);
}

export function fmtConf(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return DASH;
  return v.toFixed(2);
}

export function fmtTime(v: string | number | null | undefined): string {
  if (v === null || v === undefined || v === '') return DASH;
  let d: Date;
  if (typeof v === 'number') d = new Date(v > 1e12 ? v : v * 1000);
  else if (/^\d+(\.\d+)?$/.test(v)) d = new Date(Number(v) > 1e12 ? Number(v) : Number(v) * 1000);
  else d = new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  return d.toLocaleString('en-GB', { hour12: false });
}

export function fmtMs(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return DASH;
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`;
}

export function str(v: unknown): string {
  if (v === null || v === undefined || v === '') return DASH;
  return String(v);
}
