// Turns one routed prompt into a probe: the expected decision and alias start as what the
// router chose and can be corrected (a misrouted request becomes a probe of the right route).
import { useState } from 'react';
import { appendProbeSnippet, yamlStr } from './draft';

export function probeSnippet(id: string, prompt: string, decision: string, alias: string): string {
  const lines = [`  - id: ${yamlStr(id)}`, `    expected_decision: ${yamlStr(decision)}`];
  if (alias.trim()) lines.push(`    expected_alias: ${yamlStr(alias.trim())}`);
  lines.push('    variants:', `      - id: ${yamlStr(`${id}_1`)}`, `        query: ${yamlStr(prompt)}`, '');
  return lines.join('\n');
}

export function ProbeMaker({
  id,
  prompt,
  decision,
  alias,
}: {
  id: string;
  prompt: string;
  decision: string;
  alias: string;
}) {
  const [expected, setExpected] = useState(decision);
  const [expectedAlias, setExpectedAlias] = useState(alias);
  const [saved, setSaved] = useState(false);
  const snippet = probeSnippet(id, prompt, expected.trim() || decision, expectedAlias);
  return (
    <div className="stack" data-testid="probe-maker">
      <div className="row">
        <label>
          Expected decision
          <input
            value={expected}
            onChange={(e) => {
              setExpected(e.target.value);
              setSaved(false);
            }}
            data-testid="probe-expected-decision"
          />
        </label>
        <label>
          Expected alias (optional)
          <input
            value={expectedAlias}
            onChange={(e) => {
              setExpectedAlias(e.target.value);
              setSaved(false);
            }}
            data-testid="probe-expected-alias"
          />
        </label>
      </div>
      <label>
        Probe snippet (a decisions entry of a probe manifest)
        <textarea className="code" rows={7} readOnly value={snippet} data-testid="probe-snippet" />
      </label>
      <button
        className="secondary small"
        onClick={() => {
          appendProbeSnippet(snippet);
          setSaved(true);
        }}
        data-testid="probe-save"
      >
        Add to the Probes page
      </button>
      {saved ? (
        <p className="small muted" role="status">
          Added to the Probes page.
        </p>
      ) : null}
    </div>
  );
}
