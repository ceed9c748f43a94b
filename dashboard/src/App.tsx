import { lazy, Suspense, useCallback, useEffect, useState, type ReactNode } from 'react';
import { getAuthState, logout, setUnauthorizedHandler, errorMessage, type AuthState } from './api';
import { AuthContext, hasRole } from './components/auth';
import { Link, matchPath, navigate, usePath } from './components/router';
import { Loading } from './components/ui';
import { ErrorBoundary } from './components/ErrorBoundary';
import LoginPage from './pages/Login';

// Every page but login is its own chunk; the editor and plotting libraries come with the pages
// that use them.
const SetupPage = lazy(() => import('./pages/Setup'));
const BuilderPage = lazy(() => import('./pages/Builder'));
const PlaygroundPage = lazy(() => import('./pages/Playground'));
const InsightsPage = lazy(() => import('./pages/Insights'));
const RecordPage = lazy(() => import('./pages/Record'));
const CalibrationPage = lazy(() => import('./pages/Calibration'));
const TopologyPage = lazy(() => import('./pages/Topology'));
const ProbesPage = lazy(() => import('./pages/Probes'));
const StatusPage = lazy(() => import('./pages/Status'));
const UsersPage = lazy(() => import('./pages/Users'));

interface NavItem {
  key: string;
  path: string;
  label: string;
  show: (s: AuthState) => boolean;
}

const NAV: NavItem[] = [
  { key: 'setup', path: '/setup', label: 'Setup', show: (s) => s.setup_mode },
  { key: 'playground', path: '/playground', label: 'Playground', show: () => true },
  { key: 'builder', path: '/builder', label: 'Builder', show: () => true },
  { key: 'insights', path: '/insights', label: 'Insights', show: () => true },
  { key: 'calibration', path: '/calibration', label: 'Calibration', show: () => true },
  { key: 'topology', path: '/topology', label: 'Topology', show: () => true },
  { key: 'probes', path: '/probes', label: 'Probes', show: (s) => hasRole(s, 'write') },
  { key: 'status', path: '/status', label: 'Status', show: () => true },
  { key: 'users', path: '/users', label: 'Users', show: (s) => hasRole(s, 'admin') },
];

function route(path: string): ReactNode {
  if (path === '/setup') return <SetupPage />;
  if (path === '/builder') return <BuilderPage />;
  if (path === '/playground') return <PlaygroundPage />;
  if (path === '/insights') return <InsightsPage />;
  const rec = matchPath('/insights/:id', path);
  if (rec) return <RecordPage id={rec.id} />;
  if (path === '/calibration') return <CalibrationPage />;
  if (path === '/topology') return <TopologyPage />;
  if (path === '/probes') return <ProbesPage />;
  if (path === '/status') return <StatusPage />;
  if (path === '/users') return <UsersPage />;
  return (
    <div className="page">
      <h1>Not found</h1>
      <p>
        No page at <code>{path}</code>. <Link to="/playground">Go to the playground</Link>.
      </p>
    </div>
  );
}

export function App() {
  const path = usePath();
  const [state, setState] = useState<AuthState | null>(null);
  const [bootError, setBootError] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    const s = await getAuthState();
    setState(s);
    return s;
  }, []);

  useEffect(() => {
    refresh().catch((e) => setBootError(errorMessage(e)));
    setUnauthorizedHandler(() => {
      void refresh().catch(() => undefined);
      if (window.location.pathname !== '/login') navigate('/login');
    });
    return () => setUnauthorizedHandler(null);
  }, [refresh]);

  // Redirects that depend on the auth state.
  useEffect(() => {
    if (!state) return;
    if (!state.user) {
      if (path !== '/login') navigate('/login', true);
    } else if (path === '/login' || path === '/') {
      navigate(state.setup_mode ? '/setup' : '/playground', true);
    }
  }, [state, path]);

  if (bootError) {
    return (
      <div className="center-box card" role="alert">
        <h1>vllm-sr dashboard</h1>
        <p>Could not reach the dashboard API: {bootError}</p>
        <button onClick={() => window.location.reload()}>Retry</button>
      </div>
    );
  }
  if (!state) return <Loading what="Starting" />;

  const ctx = { state, refresh };
  if (!state.user || path === '/login') {
    return (
      <AuthContext.Provider value={ctx}>
        <LoginPage />
      </AuthContext.Provider>
    );
  }

  const onLogout = async () => {
    try {
      await logout();
    } finally {
      await refresh().catch(() => undefined);
      navigate('/login');
    }
  };

  return (
    <AuthContext.Provider value={ctx}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <div className="layout">
        <header className="topbar">
          <div className="brand">vllm-sr</div>
          <div className="row">
            {state.readonly ? (
              <span className="badge badge-warn" data-testid="readonly-badge">
                read-only
              </span>
            ) : null}
            {state.setup_mode ? <span className="badge">setup mode</span> : null}
            <span data-testid="current-user">
              {state.user.username} <span className="badge" data-testid="current-role">{state.user.role}</span>
            </span>
            <button className="secondary" onClick={onLogout} data-testid="logout">
              Logout
            </button>
          </div>
        </header>
        <nav className="sidenav" aria-label="Main">
          <ul>
            {NAV.filter((n) => n.show(state)).map((n) => {
              const active = path === n.path || path.startsWith(n.path + '/');
              return (
                <li key={n.key}>
                  <Link
                    to={n.path}
                    data-testid={`nav-${n.key}`}
                    className={active ? 'active' : undefined}
                    aria-current={active ? 'page' : undefined}
                  >
                    {n.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <main id="main" className="content" tabIndex={-1}>
          <ErrorBoundary resetKey={path}>
            <Suspense fallback={<Loading />}>{route(path)}</Suspense>
          </ErrorBoundary>
        </main>
      </div>
    </AuthContext.Provider>
  );
}
