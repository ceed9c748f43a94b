import { useState, type FormEvent } from 'react';
import { bootstrap, login } from '../api';
import { useAuth } from '../components/auth';
import { navigate } from '../components/router';
import { Alert } from '../components/ui';

export default function LoginPage() {
  const { state, refresh } = useAuth();
  const creating = state.setup_mode && !state.has_users;
  const [username, setUsername] = useState(creating ? 'admin' : '');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (creating && password.length < 8) {
      setError('The password needs at least 8 characters.');
      return;
    }
    setBusy(true);
    try {
      if (creating) await bootstrap(username, password);
      else await login(username, password);
      const s = await refresh();
      navigate(s.setup_mode ? '/setup' : '/playground', true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="center-box card" id="main">
      <h1>vllm-sr dashboard</h1>
      <h2>{creating ? 'Create the first admin' : 'Sign in'}</h2>
      {creating ? (
        <p className="muted">No user exists yet. The account you create here is an administrator.</p>
      ) : null}
      <form onSubmit={submit} className="stack">
        <label>
          Username
          <input
            name="username"
            autoComplete="username"
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            data-testid="login-username"
            autoFocus
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={creating ? 'new-password' : 'current-password'}
            required
            minLength={creating ? 8 : undefined}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            data-testid="login-password"
          />
        </label>
        <Alert error={error} testId="login-error" />
        <button type="submit" disabled={busy} data-testid={creating ? 'bootstrap-submit' : 'login-submit'}>
          {creating ? 'Create admin' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
