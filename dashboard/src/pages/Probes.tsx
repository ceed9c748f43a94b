import { useState } from 'react';
import { runProbes, type ProbeRun } from '../api';
import { loadDraft, loadProbeSnippets, saveProbeSnippets } from '../components/draft';
import { str } from '../components/format';
import { Alert, Notice } from '../components/ui';

/** Playground snippets are `decisions:` entries; wrap them into a manifest. */
function initialManifest(): string {
  const snippets = loadProbeSnippets();
  return snippets ? `name: playground\ndecisions:\n${snippets}` : '';
}

export default function ProbesPage() {
  const [manifest, setManifest] = useState(initialManifest);
  const draft = loadDraft();
  const [target, setTarget] = useState<'live' | 'draft'>(draft ? 'draft' : 'live');
  const [run, setRun] = useState<ProbeRun | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [onlyFailed, setOnlyFailed] = useState(false);

  const go = async () => {
    setBusy(true);
    setError(null);
    try {
      const body: { manifest?: string; yaml?: string } = {};
      if (manifest.trim()) body.manifest = manifest;
      if (target === 'draft' && draft) body.yaml = draft;
      setRun(await runProbes(body));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const results = run ? (onlyFailed ? run.results.filter((r) => !r.passed) : run.results) : [];

  return (
    <div className="page">
      <h1>Probes</h1>
      <p className="muted">
        Runs labelled prompts through the router (no backend call) and compares the decision and alias with what is
        expected. Leave the manifest empty to use the profile’s own.
      </p>
      <label>
        Probe manifest (YAML)
        <textarea
          className="code"
          rows={12}
          value={manifest}
          onChange={(e) => setManifest(e.target.value)}
          placeholder="Empty: the profile's own manifest"
          spellCheck={false}
          data-testid="probes-manifest"
        />
      </label>
      <div className="row">
        <fieldset className="row">
          <legend>Run against</legend>
          <label className="inline">
            <input type="radio" name="target" checked={target === 'live'} onChange={() => setTarget('live')} data-testid="probes-target-live" />
            live config
          </label>
          <label className="inline">
            <input
              type="radio"
              name="target"
              checked={target === 'draft'}
              disabled={!draft}
              onChange={() => setTarget('draft')}
              data-testid="probes-target-draft"
            />
            builder draft{draft ? '' : ' (none stored)'}
          </label>
        </fieldset>
        <button onClick={go} disabled={busy} data-testid="probes-run">
          {busy ? 'Running…' : 'Run probes'}
        </button>
        <button
          className="secondary"
          onClick={() => {
            saveProbeSnippets('');
            setManifest('');
          }}
          disabled={!manifest}
        >
          Clear manifest
        </button>
      </div>
      <Alert error={error} testId="probes-error" />
      {run ? (
        <div data-testid="probes-results" className="stack">
          <Notice>
            <strong data-testid="probes-score">
              {run.passed}/{run.total}
            </strong>{' '}
            passed{run.total ? ` (${((run.passed / run.total) * 100).toFixed(1)}%)` : ''}.
          </Notice>
          <label className="inline">
            <input type="checkbox" checked={onlyFailed} onChange={(e) => setOnlyFailed(e.target.checked)} />
            Only failures
          </label>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Result</th>
                  <th scope="col">Probe</th>
                  <th scope="col">Prompt</th>
                  <th scope="col">Expected decision</th>
                  <th scope="col">Actual decision</th>
                  <th scope="col">Expected model</th>
                  <th scope="col">Actual model</th>
                </tr>
              </thead>
              <tbody>
                {results.map((r, i) => (
                  <tr key={`${r.name}-${i}`} className={r.passed ? 'pass' : 'fail'} data-testid={`probe-row-${r.name}`}>
                    <td>{r.passed ? '✓ pass' : '✗ fail'}</td>
                    <td className="mono">{r.name}</td>
                    <td className="prompt-cell">
                      {r.prompt}
                      {r.error ? <div className="text-error small">{r.error}</div> : null}
                    </td>
                    <td>{str(r.expected?.decision)}</td>
                    <td className={r.expected?.decision && r.expected.decision !== r.actual?.decision ? 'text-error' : ''}>
                      {str(r.actual?.decision)}
                    </td>
                    <td>{str(r.expected?.model)}</td>
                    <td className={r.expected?.model && r.expected.model !== r.actual?.model ? 'text-error' : ''}>
                      {str(r.actual?.model)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      ) : null}
    </div>
  );
}
