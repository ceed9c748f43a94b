// The builder's draft (full YAML) and probe snippets, shared between pages via localStorage.
const DRAFT_KEY = 'vsr.builder.draft';
const PROBES_KEY = 'vsr.probes.snippets';

function get(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}
function set(key: string, v: string | null): void {
  try {
    if (v === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, v);
  } catch {
    /* storage unavailable: the draft just is not shared */
  }
}

export const loadDraft = () => get(DRAFT_KEY);
export const saveDraft = (yaml: string | null) => set(DRAFT_KEY, yaml);
export const loadProbeSnippets = () => get(PROBES_KEY) ?? '';
export function appendProbeSnippet(snippet: string): void {
  const cur = loadProbeSnippets();
  set(PROBES_KEY, cur ? `${cur.trimEnd()}\n${snippet}` : snippet);
}
export const saveProbeSnippets = (text: string) => set(PROBES_KEY, text || null);

/** Quotes a string for YAML (double-quoted, JSON escapes are valid YAML). */
export const yamlStr = (s: string) => JSON.stringify(s);
