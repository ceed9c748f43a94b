import { useEffect, useState, type ChangeEvent } from 'react';
import {
  checkBackend,
  compileDsl,
  getProfile,
  importUrl,
  listProfiles,
  setupActivate,
  setupReview,
  type Profile,
  type Review,
} from '../api';
import { useAuth } from '../components/auth';
import { Link, navigate } from '../components/router';
import { Alert, DiagnosticsList, Notice, Section } from '../components/ui';

type SourceKind = 'yaml' | 'dsl';

/** A routing source looks like DSL when it has top-level DSL blocks and no YAML `routing:` key. */
function guessKind(text: string): SourceKind {
  if (/^\s*(SIGNAL|ROUTE|MODEL|PROJECTION|BACKEND|GLOBAL)\b/m.test(text) && !/^routing\s*:/m.test(text)) return 'dsl';
  return 'yaml';
}

export default function SetupPage() {
  const { state, refresh } = useAuth();
  // Step 1
  const [url, setUrl] = useState('http://127.0.0.1:8000');
  const [apiKey, setApiKey] = useState('');
  const [models, setModels] = useState<string[] | null>(null);
  const [backendError, setBackendError] = useState<unknown>(null);
  const [checking, setChecking] = useState(false);
  // Step 2
  const [profiles, setProfiles] = useState<Profile[]>([]);
  const [profile, setProfile] = useState('');
  const [importAddr, setImportAddr] = useState('');
  const [kind, setKind] = useState<SourceKind>('yaml');
  const [text, setText] = useState('');
  const [sourceNote, setSourceNote] = useState('');
  const [sourceError, setSourceError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // Step 3
  const [review, setReview] = useState<Review | null>(null);
  const [reviewError, setReviewError] = useState<unknown>(null);
  const [activated, setActivated] = useState(false);

  useEffect(() => {
    listProfiles()
      .then(setProfiles)
      .catch((e) => setSourceError(e));
  }, []);

  const setSource = (t: string, k: SourceKind, note: string) => {
    setText(t);
    setKind(k);
    setSourceNote(note);
    setSourceError(null);
    setReview(null);
  };

  const check = async () => {
    setChecking(true);
    setBackendError(null);
    setModels(null);
    try {
      const r = await checkBackend(url.trim(), apiKey || undefined);
      setModels(r.models ?? []);
    } catch (e) {
      setBackendError(e);
    } finally {
      setChecking(false);
    }
  };

  const loadProfile = async (id: string) => {
    setProfile(id);
    if (!id) return;
    setBusy(true);
    try {
      const p = await getProfile(id);
      setSource(p.yaml, 'yaml', `Built-in profile “${id}”.`);
    } catch (e) {
      setSourceError(e);
    } finally {
      setBusy(false);
    }
  };

  const onFile = async (e: ChangeEvent<HTMLInputElement>) => {
    const f = e.target.files?.[0];
    if (!f) return;
    const t = await f.text();
    const k: SourceKind = /\.dsl$/i.test(f.name) ? 'dsl' : /\.ya?ml$/i.test(f.name) ? 'yaml' : guessKind(t);
    setSource(t, k, `File ${f.name}.`);
  };

  const doImport = async () => {
    setBusy(true);
    setSourceError(null);
    try {
      const r = await importUrl(importAddr.trim());
      setSource(r.yaml, 'yaml', `Imported from ${importAddr.trim()}.`);
    } catch (e) {
      setSourceError(e);
    } finally {
      setBusy(false);
    }
  };

  const doReview = async () => {
    setBusy(true);
    setReviewError(null);
    setReview(null);
    try {
      setReview(await setupReview(kind === 'dsl' ? { dsl: text } : { yaml: text }, url.trim(), apiKey || undefined));
    } catch (e) {
      setReviewError(e);
    } finally {
      setBusy(false);
    }
  };

  const activate = async () => {
    setBusy(true);
    setReviewError(null);
    try {
      let yaml = kind === 'yaml' ? text : review?.yaml;
      if (!yaml) {
        const c = await compileDsl(text);
        if (!c.valid || !c.yaml) throw new Error('The DSL does not compile; see the diagnostics.');
        yaml = c.yaml;
      }
      await setupActivate(yaml, url.trim(), apiKey || undefined);
      setActivated(true);
      setApiKey('');
      await refresh().catch(() => undefined);
      navigate('/playground');
    } catch (e) {
      setReviewError(e);
    } finally {
      setBusy(false);
    }
  };

  if (!state.setup_mode && !activated) {
    return (
      <div className="page">
        <h1>Setup</h1>
        <Notice>
          The router is configured. Change the routing in the <Link to="/builder">Builder</Link>.
        </Notice>
      </div>
    );
  }

  return (
    <div className="page">
      <h1>Setup</h1>
      <p className="muted">Three steps: where the models are, how to route, and a review before the router starts.</p>

      <Section title="1. Backend" id="setup-1">
        <div className="grid2">
          <label>
            Backend URL (OpenAI-compatible)
            <input
              type="url"
              value={url}
              onChange={(e) => setUrl(e.target.value)}
              data-testid="setup-backend-url"
              placeholder="http://127.0.0.1:8000"
            />
          </label>
          <label>
            API key (optional, never shown again)
            <input
              type="password"
              autoComplete="off"
              value={apiKey}
              onChange={(e) => setApiKey(e.target.value)}
              data-testid="setup-api-key"
            />
          </label>
        </div>
        <div className="row">
          <button onClick={check} disabled={checking || !url.trim()} data-testid="setup-check">
            {checking ? 'Checking…' : 'Check connection'}
          </button>
        </div>
        <Alert error={backendError} testId="setup-backend-error" />
        {models ? (
          <div data-testid="setup-models">
            <p>
              Connected: {models.length} model{models.length === 1 ? '' : 's'}.
            </p>
            <ul className="chips">
              {models.map((m) => (
                <li key={m} className="chip">
                  {m}
                </li>
              ))}
            </ul>
          </div>
        ) : null}
      </Section>

      <Section title="2. Routing" id="setup-2">
        <div className="grid2">
          <label>
            Built-in profile
            <select value={profile} onChange={(e) => void loadProfile(e.target.value)} data-testid="setup-profile">
              <option value="">— choose —</option>
              {profiles.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.title ? `${p.title} (${p.id})` : p.id}
                </option>
              ))}
            </select>
          </label>
          <label>
            Upload a file (YAML or DSL)
            <input type="file" accept=".yaml,.yml,.dsl,.txt" onChange={onFile} data-testid="setup-file" />
          </label>
        </div>
        <div className="row align-end">
          <label className="grow">
            Import from URL
            <input
              type="url"
              value={importAddr}
              onChange={(e) => setImportAddr(e.target.value)}
              placeholder="https://example.com/config.yaml"
              data-testid="setup-import-url"
            />
          </label>
          <button onClick={doImport} disabled={busy || !importAddr.trim()} data-testid="setup-import-submit">
            Import
          </button>
        </div>
        <Alert error={sourceError} testId="setup-error" />
        <fieldset className="row">
          <legend>The text below is</legend>
          <label className="inline">
            <input type="radio" name="kind" checked={kind === 'yaml'} onChange={() => setKind('yaml')} /> YAML config
          </label>
          <label className="inline">
            <input type="radio" name="kind" checked={kind === 'dsl'} onChange={() => setKind('dsl')} /> routing DSL
          </label>
        </fieldset>
        <label>
          Config (paste YAML or DSL here, or edit what was loaded)
          <textarea
            className="code"
            rows={16}
            value={text}
            onChange={(e) => {
              setText(e.target.value);
              setReview(null);
              if (!sourceNote) setKind(guessKind(e.target.value));
            }}
            data-testid="setup-source"
            spellCheck={false}
          />
        </label>
        {sourceNote ? <p className="muted small">{sourceNote}</p> : null}
      </Section>

      <Section title="3. Review and activate" id="setup-3">
        <div className="row">
          <button onClick={doReview} disabled={busy || !text.trim() || !url.trim()} data-testid="setup-review">
            Review
          </button>
          <button
            onClick={activate}
            disabled={busy || !review || !review.can_activate}
            data-testid="setup-activate"
          >
            Activate
          </button>
        </div>
        <Alert error={reviewError} testId="setup-review-error" />
        {review ? (
          <div data-testid="setup-review-result" className="stack">
            <p>
              {review.valid ? 'The config is valid.' : 'The config has errors.'}{' '}
              {review.can_activate ? 'Ready to activate.' : 'Fix the findings below before activating.'}
            </p>
            <h3>Diagnostics</h3>
            <DiagnosticsList items={review.diagnostics ?? []} testId="setup-diagnostics" />
            <h3>Aliases</h3>
            <p>{(review.aliases ?? []).join(', ') || '–'}</p>
            {review.backend_error ? (
              <div className="alert" role="alert" data-testid="setup-review-backend-error">
                Could not list the backend’s models: {review.backend_error}
              </div>
            ) : null}
            <h3>Missing aliases</h3>
            {review.missing_aliases?.length ? (
              <ul data-testid="setup-missing-aliases">
                {review.missing_aliases.map((a) => (
                  <li key={a}>{a} — not served by the backend</li>
                ))}
              </ul>
            ) : (
              <p data-testid="setup-missing-aliases">None: the backend serves every alias.</p>
            )}
          </div>
        ) : null}
      </Section>
    </div>
  );
}
