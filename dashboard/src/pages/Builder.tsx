import { useCallback, useEffect, useRef, useState } from 'react';
import {
  ApiError,
  compileDsl,
  decompileYaml,
  deployConfig,
  diffVersions,
  errorMessage,
  formatDsl,
  getConfig,
  importUrl,
  listVersions,
  previewConfig,
  rollbackConfig,
  runProbes,
  validateYaml,
  type ConfigState,
  type ConfigVersion,
  type Diagnostic,
  type Preview,
  type ProbeRun,
} from '../api';
import CodeEditor from '../components/CodeEditor';
import { canWriteConfig, hasRole, useAuth } from '../components/auth';
import { saveDraft } from '../components/draft';
import { fmtMoney, fmtShare, fmtTime, str } from '../components/format';
import { Alert, DiagnosticsList, DiffView, Loading, Notice, Section, Tabs, HeadRow } from '../components/ui';

type Tab = 'dsl' | 'yaml';
const DEBOUNCE_MS = 400;

function ProbeScore({ run, busy }: { run: ProbeRun | null; busy: boolean }) {
  return (
    <span className="badge" data-testid="builder-probe-score" aria-live="polite">
      {run ? `Probes: ${run.passed}/${run.total}` : busy ? 'Probes: …' : 'Probes: –'}
    </span>
  );
}

function ImpactView({ p }: { p: Preview }) {
  const i = p.impact;
  return (
    <div data-testid="builder-impact" className="stack">
      {i ? (
        <>
          <div className="stats">
            <div className="stat card">
              <div className="stat-label">Changed</div>
              <div className="stat-value">{fmtShare(i.changed_share)}</div>
              <div className="muted small">
                {i.changed} of {i.covered} re-routed records
              </div>
            </div>
            <div className="stat card">
              <div className="stat-label">Covered</div>
              <div className="stat-value">{fmtShare(i.covered_share)}</div>
              <div className="muted small">
                {i.covered} of {i.records} records had a captured prompt
              </div>
            </div>
            <div className="stat card">
              <div className="stat-label">Cost before</div>
              <div className="stat-value">{fmtMoney(i.cost_before, i.currency)}</div>
            </div>
            <div className="stat card">
              <div className="stat-label">Cost after</div>
              <div className="stat-value">{fmtMoney(i.cost_after, i.currency)}</div>
            </div>
          </div>
          {i.rows?.length ? (
            <div className="table-wrap">
              <table>
                <caption>Per-record before / after</caption>
                <thead>
                  <tr>
                    <th scope="col">Record</th>
                    <th scope="col">Decision before</th>
                    <th scope="col">Decision after</th>
                    <th scope="col">Model before</th>
                    <th scope="col">Model after</th>
                    <th scope="col">Cost before</th>
                    <th scope="col">Cost after</th>
                  </tr>
                </thead>
                <tbody>
                  {i.rows.map((r) => {
                    const changed = r.before?.decision !== r.after?.decision || r.before?.model !== r.after?.model;
                    return (
                      <tr key={r.id} className={changed ? 'row-changed' : undefined}>
                        <td className="mono">
                          <a href={`/insights/${encodeURIComponent(r.id)}`}>{r.id.slice(0, 12)}</a>
                        </td>
                        <td>{str(r.before?.decision)}</td>
                        <td>{str(r.after?.decision)}</td>
                        <td>{str(r.before?.model)}</td>
                        <td>{str(r.after?.model)}</td>
                        <td>{fmtMoney(r.cost_before, i.currency)}</td>
                        <td>{fmtMoney(r.cost_after, i.currency)}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          ) : (
            <p className="muted">No records to re-route.</p>
          )}
        </>
      ) : (
        <p className="muted">No impact estimate (no captured records).</p>
      )}
      {i?.note ? <p className="muted small">{i.note}</p> : null}
      {p.probes ? (
        <p>
          Probes on the draft: <strong>{p.probes.passed}/{p.probes.total}</strong>
        </p>
      ) : null}
    </div>
  );
}

export default function BuilderPage() {
  const { state } = useAuth();
  const canWrite = canWriteConfig(state);
  const canValidate = hasRole(state, 'write');
  const [config, setConfig] = useState<ConfigState | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [tab, setTab] = useState<Tab>('dsl');
  const [dsl, setDsl] = useState('');
  const [yaml, setYaml] = useState('');
  const [dslDiags, setDslDiags] = useState<Diagnostic[]>([]);
  const [yamlDiags, setYamlDiags] = useState<Diagnostic[]>([]);
  const [dslStale, setDslStale] = useState(false);
  const [checking, setChecking] = useState(false);
  const [valid, setValid] = useState<boolean | null>(null);
  const [probe, setProbe] = useState<ProbeRun | null>(null);
  const [probeBusy, setProbeBusy] = useState(false);
  const [opError, setOpError] = useState<unknown>(null);
  const [opNote, setOpNote] = useState<string | null>(null);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [previewBusy, setPreviewBusy] = useState(false);
  const [message, setMessage] = useState('');
  const [versions, setVersions] = useState<ConfigVersion[]>([]);
  const [diffFrom, setDiffFrom] = useState('');
  const [diffTo, setDiffTo] = useState('');
  const [versionDiff, setVersionDiff] = useState<string | null>(null);
  const [importAddr, setImportAddr] = useState('');
  const [pasted, setPasted] = useState('');
  const [showImport, setShowImport] = useState(false);

  const timer = useRef<number | undefined>(undefined);
  const inflight = useRef<AbortController | null>(null);
  // The debounced check not started yet, and the newest check started: Preview and Deploy
  // flush both so they act on what is in the editor, not on the previous check's result.
  const pendingCheck = useRef<(() => Promise<string | null>) | null>(null);
  const lastCheck = useRef<Promise<string | null> | null>(null);
  const probeCtl = useRef(0);

  const loadVersions = useCallback(() => {
    listVersions()
      .then(setVersions)
      .catch(() => setVersions([]));
  }, []);

  const load = useCallback(async () => {
    try {
      const c = await getConfig();
      window.clearTimeout(timer.current);
      inflight.current?.abort();
      pendingCheck.current = null;
      lastCheck.current = null;
      setChecking(false);
      setConfig(c);
      setDsl(c.dsl ?? '');
      setYaml(c.yaml ?? '');
      setDslDiags([]);
      setYamlDiags([]);
      setDslStale(false);
      setValid(null);
      setLoadError(null);
    } catch (e) {
      setLoadError(e);
    }
  }, []);

  useEffect(() => {
    void load();
    loadVersions();
    return () => {
      window.clearTimeout(timer.current);
      inflight.current?.abort();
    };
  }, [load, loadVersions]);

  const refreshProbes = useCallback(async (draft: string) => {
    const mine = ++probeCtl.current;
    setProbeBusy(true);
    try {
      const r = await runProbes({ yaml: draft });
      if (mine === probeCtl.current) setProbe(r);
    } catch {
      if (mine === probeCtl.current) setProbe(null);
    } finally {
      if (mine === probeCtl.current) setProbeBusy(false);
    }
  }, []);

  const draftChanged = (draft: string) => {
    if (config && draft !== config.yaml) saveDraft(draft);
    else saveDraft(null);
  };

  /**
   * Runs one server check, cancelling the one before: `work` gets the abort signal and returns
   * the valid YAML or null; errors other than the cancellation are shown.
   */
  const runCheck = useCallback((work: (signal: AbortSignal) => Promise<string | null>): Promise<string | null> => {
    inflight.current?.abort();
    const ctl = new AbortController();
    inflight.current = ctl;
    setChecking(true);
    const p = (async () => {
      try {
        return await work(ctl.signal);
      } catch (e) {
        if (!ctl.signal.aborted) setOpError(e);
        return null;
      } finally {
        if (inflight.current === ctl) setChecking(false);
      }
    })();
    lastCheck.current = p;
    return p;
  }, []);

  /** Compile the DSL over the current YAML (debounced by the caller); the compiled YAML or null. */
  const checkDsl = useCallback(
    (text: string, base: string): Promise<string | null> =>
      runCheck(async (signal) => {
        const r = await compileDsl(text, base || undefined, signal);
        setDslDiags(r.diagnostics ?? []);
        setValid(r.valid);
        if (r.valid && r.yaml) {
          setYaml(r.yaml);
          setYamlDiags([]);
          draftChanged(r.yaml);
          void refreshProbes(r.yaml);
          return r.yaml;
        }
        return null;
      }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [config, refreshProbes, runCheck],
  );

  /** Validate the YAML; the text when valid, else null. */
  const checkYaml = useCallback(
    (text: string): Promise<string | null> =>
      runCheck(async (signal) => {
        const r = await validateYaml(text, signal);
        setYamlDiags(r.diagnostics ?? []);
        setValid(r.valid);
        draftChanged(text);
        if (r.valid) void refreshProbes(text);
        return r.valid ? text : null;
      }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [config, refreshProbes, runCheck],
  );

  /** Runs `check` after the debounce delay; until then the status says Checking…. */
  const schedule = (check: () => Promise<string | null>) => {
    window.clearTimeout(timer.current);
    pendingCheck.current = check;
    setChecking(true);
    timer.current = window.setTimeout(() => {
      pendingCheck.current = null;
      void check();
    }, DEBOUNCE_MS);
  };

  /** The draft YAML as of the editor's current text: runs a pending check now, awaits the newest. */
  const flushDraft = async (): Promise<string> => {
    const pending = pendingCheck.current;
    if (pending) {
      window.clearTimeout(timer.current);
      pendingCheck.current = null;
      void pending();
    }
    if (!lastCheck.current) return yaml;
    const r = await lastCheck.current;
    if (r === null) throw new Error('the draft has errors or could not be checked; see the diagnostics');
    return r;
  };

  const onDslChange = (v: string) => {
    setDsl(v);
    setPreview(null);
    if (!canValidate) return;
    schedule(() => checkDsl(v, yaml));
  };

  const onYamlChange = (v: string) => {
    setYaml(v);
    setDslStale(true);
    setPreview(null);
    if (!canValidate) return;
    schedule(() => checkYaml(v));
  };

  const run = async (what: string, fn: () => Promise<void>) => {
    setOpError(null);
    setOpNote(null);
    try {
      await fn();
    } catch (e) {
      setOpError(`${what}: ${errorMessage(e)}`);
      // A 422 carries the findings: show them where they belong.
      if (e instanceof ApiError && e.diagnostics.length) {
        if (what === 'Format') setDslDiags(e.diagnostics);
        else setYamlDiags(e.diagnostics);
      }
    }
  };

  const format = () =>
    run('Format', async () => {
      const r = await formatDsl(dsl);
      if (r.dsl !== undefined) {
        setDsl(r.dsl);
        setDslDiags([]);
        setOpNote('Formatted.');
      } else {
        setDslDiags(r.diagnostics ?? []);
        setOpNote('The DSL has syntax errors; see the diagnostics.');
      }
    });

  const decompile = () =>
    run('Decompile', async () => {
      const r = await decompileYaml(yaml);
      setDsl(r.dsl);
      setDslStale(false);
      setDslDiags([]);
      setTab('dsl');
      setOpNote('The DSL was regenerated from the YAML.');
    });

  const takeYaml = (text: string, note: string) => {
    setYaml(text);
    setDslStale(true);
    setTab('yaml');
    setOpNote(note);
    setPreview(null);
    if (canValidate) void checkYaml(text);
  };

  const doImportUrl = () =>
    run('Import', async () => {
      const r = await importUrl(importAddr.trim());
      takeYaml(r.yaml, `Imported from ${importAddr.trim()} (not deployed yet).`);
    });

  const doImportPaste = () => {
    const isDsl = /^\s*(SIGNAL|ROUTE|MODEL|PROJECTION)\b/m.test(pasted) && !/^routing\s*:/m.test(pasted);
    if (isDsl) {
      setDsl(pasted);
      setTab('dsl');
      setOpNote('Pasted DSL loaded.');
      if (canValidate) void checkDsl(pasted, yaml);
    } else {
      takeYaml(pasted, 'Pasted YAML loaded.');
    }
  };

  const doPreview = () =>
    run('Preview', async () => {
      setPreviewBusy(true);
      try {
        const p = await previewConfig(await flushDraft());
        setPreview(p);
        if (p.probes) setProbe(p.probes);
      } finally {
        setPreviewBusy(false);
      }
    });

  const deploy = () =>
    run('Deploy', async () => {
      const r = await deployConfig(await flushDraft(), message.trim() || 'Deployed from the builder');
      saveDraft(null);
      setMessage('');
      setPreview(null);
      await load();
      loadVersions();
      setOpNote(`Deployed version ${r.version} (generation ${r.generation}).`);
    });

  const rollback = (id: string | number) =>
    run('Roll back', async () => {
      if (!window.confirm(`Roll back to version ${id}? This deploys it as a new version.`)) return;
      const r = await rollbackConfig(id);
      saveDraft(null);
      await load();
      loadVersions();
      setOpNote(`Rolled back: now version ${r.version} (generation ${r.generation}).`);
    });

  const showDiff = () =>
    run('Diff', async () => {
      const r = await diffVersions(diffFrom, diffTo);
      setVersionDiff(r.diff ?? '');
    });

  if (loadError) return <Alert error={loadError} />;
  if (!config) return <Loading what="Loading the config" />;

  const diags = tab === 'dsl' ? dslDiags : yamlDiags;
  const errorCount = diags.filter((d) => d.severity === 'error').length;
  const dirty = yaml !== config.yaml;
  const deployReason = !hasRole(state, 'write')
    ? 'Your role may not deploy.'
    : state.readonly
      ? 'The dashboard runs read-only.'
      : valid === false
        ? 'Fix the errors first.'
        : '';

  return (
    <div className="page">
      <div className="page-head">
        <h1>Config builder</h1>
        <div className="row">
          <span className="muted small">
            Live version {str(config.version)} · generation {config.generation}
          </span>
          <ProbeScore run={probe} busy={probeBusy} />
          <span className="badge" aria-live="polite" data-testid="builder-status">
            {checking ? 'Checking…' : valid === null ? (dirty ? 'Draft' : 'Live') : valid ? 'Valid' : `${errorCount} error(s)`}
          </span>
        </div>
      </div>
      {!canValidate ? <Notice>Your role can view the config but not change it.</Notice> : null}
      {config.dsl_error ? <Notice>The live config cannot be shown as DSL: {config.dsl_error}</Notice> : null}

      <div className="row toolbar" role="toolbar" aria-label="Builder actions">
        <button className="secondary" onClick={format} disabled={!canValidate || tab !== 'dsl'} data-testid="builder-format">
          Format DSL
        </button>
        <button className="secondary" onClick={decompile} disabled={!canValidate} data-testid="builder-decompile">
          Decompile YAML → DSL
        </button>
        <button
          className="secondary"
          onClick={() => setShowImport((v) => !v)}
          aria-expanded={showImport}
          disabled={!canValidate}
          data-testid="builder-import-toggle"
        >
          Import…
        </button>
        <button onClick={doPreview} disabled={!canValidate || previewBusy} data-testid="builder-preview">
          {previewBusy ? 'Previewing…' : 'Preview'}
        </button>
        <button className="secondary" onClick={() => void load()} data-testid="builder-reset">
          Discard draft
        </button>
      </div>

      {showImport ? (
        <div className="card stack" data-testid="builder-import">
          <div className="row align-end">
            <label className="grow">
              Import from URL
              <input
                type="url"
                value={importAddr}
                onChange={(e) => setImportAddr(e.target.value)}
                data-testid="builder-import-url"
              />
            </label>
            <button onClick={doImportUrl} disabled={!importAddr.trim()} data-testid="builder-import-submit">
              Import URL
            </button>
          </div>
          <label>
            Or paste YAML or DSL
            <textarea
              className="code"
              rows={6}
              value={pasted}
              onChange={(e) => setPasted(e.target.value)}
              data-testid="builder-import-paste"
              spellCheck={false}
            />
          </label>
          <div>
            <button onClick={doImportPaste} disabled={!pasted.trim()} data-testid="builder-import-paste-submit">
              Use pasted text
            </button>
          </div>
        </div>
      ) : null}

      <Alert error={opError} testId="builder-error" />
      {opNote ? <Notice>{opNote}</Notice> : null}

      <Tabs<Tab>
        label="Editor"
        tabs={[
          { key: 'dsl', label: 'DSL (routing)' },
          { key: 'yaml', label: 'YAML (whole file)' },
        ]}
        active={tab}
        onChange={setTab}
      />
      <div className="editor-split">
        <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className="editor-pane">
          {tab === 'dsl' ? (
            <>
              {dslStale ? (
                <Notice>
                  The YAML was edited; the DSL may be out of date. Use “Decompile YAML → DSL” to regenerate it.
                </Notice>
              ) : null}
              <CodeEditor
                key="dsl"
                language="dsl"
                value={dsl}
                onChange={onDslChange}
                diagnostics={dslDiags}
                readOnly={!canValidate}
                label="Routing DSL"
                testId="builder-dsl-editor"
              />
            </>
          ) : (
            <CodeEditor
              key="yaml"
              language="yaml"
              value={yaml}
              onChange={onYamlChange}
              diagnostics={yamlDiags}
              readOnly={!canValidate}
              label="Config YAML"
              testId="builder-yaml-editor"
            />
          )}
        </div>
        <aside className="card diag-pane" aria-label="Diagnostics">
          <h2>Diagnostics ({tab.toUpperCase()})</h2>
          <DiagnosticsList items={diags} testId="builder-diagnostics" />
        </aside>
      </div>

      {preview ? (
        <Section title="Preview" id="preview">
          <h3>Diff against the live config</h3>
          <DiffView diff={preview.diff ?? ''} testId="builder-diff" />
          <h3>Impact on recent traffic</h3>
          <ImpactView p={preview} />
        </Section>
      ) : null}

      <Section title="Deploy" id="deploy">
        <div className="row align-end">
          <label className="grow">
            Message
            <input
              value={message}
              onChange={(e) => setMessage(e.target.value)}
              placeholder="What changed and why"
              data-testid="builder-deploy-message"
              disabled={!canWrite}
            />
          </label>
          <button onClick={deploy} disabled={!canWrite || valid === false} data-testid="builder-deploy" title={deployReason || undefined}>
            Deploy
          </button>
        </div>
        {deployReason ? <p className="muted small">{deployReason}</p> : !dirty ? <p className="muted small">No changes to deploy.</p> : null}
      </Section>

      <Section title="Versions" id="versions">
        <div className="row align-end">
          <label>
            From
            <select value={diffFrom} onChange={(e) => setDiffFrom(e.target.value)} data-testid="versions-from">
              <option value="">—</option>
              {versions.map((v) => (
                <option key={String(v.id)} value={String(v.id)}>
                  {String(v.id)}
                </option>
              ))}
            </select>
          </label>
          <label>
            To
            <select value={diffTo} onChange={(e) => setDiffTo(e.target.value)} data-testid="versions-to">
              <option value="">—</option>
              {versions.map((v) => (
                <option key={String(v.id)} value={String(v.id)}>
                  {String(v.id)}
                </option>
              ))}
            </select>
          </label>
          <button className="secondary" onClick={showDiff} disabled={!diffFrom || !diffTo} data-testid="versions-diff">
            Diff
          </button>
        </div>
        {versionDiff !== null ? <DiffView diff={versionDiff} testId="versions-diff-output" /> : null}
        <div className="table-wrap">
          <table data-testid="builder-versions">
            <HeadRow columns={["Version", "When", "Author", "Message"]} actions />
            <tbody>
              {versions.length === 0 ? (
                <tr>
                  <td colSpan={5} className="muted">
                    No versions yet.
                  </td>
                </tr>
              ) : (
                versions.map((v) => {
                  const live = String(v.id) === String(config.version);
                  return (
                    <tr key={String(v.id)}>
                      <td className="mono">
                        {String(v.id)} {live ? <span className="badge">live</span> : null}
                      </td>
                      <td>{fmtTime(v.created_at)}</td>
                      <td>{str(v.author)}</td>
                      <td>{str(v.message)}</td>
                      <td>
                        <button
                          className="secondary small"
                          onClick={() => rollback(v.id)}
                          disabled={!canWrite || live}
                          data-testid={`version-rollback-${v.id}`}
                          aria-label={`Roll back to version ${v.id}`}
                        >
                          Roll back
                        </button>
                      </td>
                    </tr>
                  );
                })
              )}
            </tbody>
          </table>
        </div>
      </Section>
    </div>
  );
}
