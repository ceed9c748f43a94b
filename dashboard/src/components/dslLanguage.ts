// The routing DSL (docs/dsl.md) as a CodeMirror StreamLanguage: upper-case keywords, strings with
// Go escapes, numbers, `#` comments, identifiers that may hold dots, dashes and slashes.
import { StreamLanguage, type StreamParser } from '@codemirror/language';

const KEYWORDS = new Set([
  'SIGNAL', 'ROUTE', 'PRIORITY', 'TIER', 'WHEN', 'MODEL', 'AND', 'OR', 'NOT', 'PROJECTION',
  'BACKEND', 'GLOBAL', 'PLUGIN', 'TEST', 'ALGORITHM', 'IF', 'ELSE', 'DECISION_TREE', 'NAME',
]);
const ATOMS = new Set(['true', 'false', 'null']);

interface State {
  inString: boolean;
}

const parser: StreamParser<State> = {
  name: 'vsr-dsl',
  startState: () => ({ inString: false }),
  token(stream, state) {
    if (state.inString) {
      while (!stream.eol()) {
        const ch = stream.next();
        if (ch === '\\') stream.next();
        else if (ch === '"') {
          state.inString = false;
          break;
        }
      }
      return 'string';
    }
    if (stream.eatSpace()) return null;
    const ch = stream.peek();
    if (ch === '#') {
      stream.skipToEnd();
      return 'comment';
    }
    if (ch === '"') {
      stream.next();
      state.inString = true;
      return parser.token(stream, state);
    }
    if (stream.match(/^-?\d+(\.\d+)?(?![\w.\-/])/)) return 'number';
    if (stream.match(/^[A-Za-z_][\w.\-/]*/)) {
      const w = stream.current();
      if (KEYWORDS.has(w)) return 'keyword';
      if (ATOMS.has(w)) return 'atom';
      if (stream.match(/^\s*\(/, false)) return 'variableName.function';
      if (stream.match(/^\s*:/, false)) return 'propertyName';
      return 'variableName';
    }
    if (stream.match('->')) return 'operator';
    if (/[{}[\]()]/.test(ch ?? '')) {
      stream.next();
      return 'bracket';
    }
    if (/[:,=]/.test(ch ?? '')) {
      stream.next();
      return 'punctuation';
    }
    stream.next();
    return null;
  },
  languageData: { commentTokens: { line: '#' } },
};

export const dslLanguage = StreamLanguage.define(parser);
