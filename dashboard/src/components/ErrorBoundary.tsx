import { Component, type ErrorInfo, type ReactNode } from 'react';

/** Keeps a crashing page from blanking the whole app; resets when the path changes. */
export class ErrorBoundary extends Component<{ children: ReactNode; resetKey: string }, { error: Error | null; key: string }> {
  state = { error: null as Error | null, key: this.props.resetKey };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  static getDerivedStateFromProps(props: { resetKey: string }, state: { error: Error | null; key: string }) {
    return props.resetKey !== state.key ? { error: null, key: props.resetKey } : null;
  }

  componentDidCatch(_error: Error, _info: ErrorInfo) {
    /* shown below; React already reports it */
  }

  render() {
    if (this.state.error) {
      return (
        <div className="alert" role="alert" data-testid="page-error">
          This page failed to render: {this.state.error.message}
        </div>
      );
    }
    return this.props.children;
  }
}
