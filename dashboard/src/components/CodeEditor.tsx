// CodeMirror 6 editor, loaded lazily (only pages with editors pull it in).
import { useEffect, useRef } from 'react';
import { Annotation, EditorState, Compartment } from '@codemirror/state';
import {
  EditorView,
  keymap,
  lineNumbers,
  highlightActiveLine,
  highlightActiveLineGutter,
  drawSelection,
} from '@codemirror/view';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { syntaxHighlighting, defaultHighlightStyle, bracketMatching, indentOnInput } from '@codemirror/language';
import { yaml } from '@codemirror/lang-yaml';
import { lintGutter, setDiagnostics, type Diagnostic as CmDiagnostic } from '@codemirror/lint';
import type { Diagnostic } from '../api';
import { dslLanguage } from './dslLanguage';

export interface CodeEditorProps {
  value: string;
  onChange?: (v: string) => void;
  language: 'yaml' | 'dsl';
  diagnostics?: Diagnostic[];
  readOnly?: boolean;
  label: string;
  testId?: string;
  minHeight?: string;
}

/** 1-based line/column → document offset, clamped to the document. */
function toPos(state: EditorState, line: number, column: number): number {
  const ln = Math.min(Math.max(1, Math.floor(line) || 1), state.doc.lines);
  const l = state.doc.line(ln);
  const col = Math.max(1, Math.floor(column) || 1);
  return Math.min(l.from + col - 1, l.to);
}

function toCm(state: EditorState, d: Diagnostic): CmDiagnostic {
  const from = toPos(state, d.line, d.column);
  let to = d.end_line ? toPos(state, d.end_line, d.end_column ?? d.column + 1) : from;
  if (to <= from) {
    // Without an end, mark the word at the position (or one character).
    const line = state.doc.lineAt(from);
    const rest = line.text.slice(from - line.from);
    const m = /^[\w.\-/"]+/.exec(rest);
    to = Math.min(line.to, from + (m ? m[0].length : 1));
  }
  return {
    from,
    to: Math.max(to, from),
    severity: d.severity === 'error' ? 'error' : d.severity === 'info' ? 'info' : 'warning',
    message: d.message,
  };
}

/** Marks the transactions that load `props.value` into the editor: they are not user edits. */
const fromProps = Annotation.define<boolean>();

const theme = EditorView.theme({
  '&': { fontSize: '13px', border: '1px solid var(--border)', borderRadius: '6px', background: 'var(--bg-input)' },
  '&.cm-focused': { outline: '2px solid var(--focus)', outlineOffset: '1px' },
  '.cm-content': { fontFamily: 'var(--mono)' },
  '.cm-gutters': { background: 'var(--bg-soft)', borderRight: '1px solid var(--border)' },
  '.cm-scroller': { overflow: 'auto' },
});

export default function CodeEditor(props: CodeEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChange = useRef(props.onChange);
  onChange.current = props.onChange;
  const readOnlyComp = useRef(new Compartment());

  useEffect(() => {
    if (!host.current) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: props.value,
        extensions: [
          lineNumbers(),
          highlightActiveLineGutter(),
          highlightActiveLine(),
          drawSelection(),
          history(),
          indentOnInput(),
          bracketMatching(),
          syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
          props.language === 'yaml' ? yaml() : dslLanguage,
          lintGutter(),
          keymap.of([...defaultKeymap, ...historyKeymap]),
          readOnlyComp.current.of(EditorState.readOnly.of(!!props.readOnly)),
          EditorView.contentAttributes.of({ 'aria-label': props.label }),
          theme,
          EditorView.updateListener.of((u) => {
            if (u.docChanged && !u.transactions.some((t) => t.annotation(fromProps))) {
              onChange.current?.(u.state.doc.toString());
            }
          }),
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
    // The editor is created once per language; value and diagnostics are synced below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.language]);

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== props.value) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: props.value }, annotations: fromProps.of(true) });
    }
  }, [props.value]);

  useEffect(() => {
    view.current?.dispatch({ effects: readOnlyComp.current.reconfigure(EditorState.readOnly.of(!!props.readOnly)) });
  }, [props.readOnly]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const ds = (props.diagnostics ?? []).map((d) => toCm(v.state, d));
    v.dispatch(setDiagnostics(v.state, ds));
  }, [props.diagnostics]);

  return (
    <div
      ref={host}
      className="code-editor"
      data-testid={props.testId}
      style={{ minHeight: props.minHeight ?? '420px' }}
    />
  );
}
