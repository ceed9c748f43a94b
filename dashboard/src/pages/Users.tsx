import { useState, type FormEvent } from 'react';
import {
  createToken,
  createUser,
  deleteToken,
  deleteUser,
  errorMessage,
  listAudit,
  listTokens,
  listUsers,
  updateUser,
  type Role,
} from '../api';
import { hasRole, useAuth } from '../components/auth';
import { fmtTime, str } from '../components/format';
import { Alert, Notice, Section, useAsync, HeadRow } from '../components/ui';

const ROLES: Role[] = ['read', 'write', 'admin'];

export default function UsersPage() {
  const { state } = useAuth();
  const isAdmin = hasRole(state, 'admin');
  const users = useAsync(() => (isAdmin ? listUsers() : Promise.resolve([])), [isAdmin]);
  const tokens = useAsync(listTokens, []);
  const audit = useAsync(() => (isAdmin ? listAudit(100) : Promise.resolve([])), [isAdmin]);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState<string | null>(null);
  const [nu, setNu] = useState({ username: '', password: '', role: 'read' as Role });
  const [tokenName, setTokenName] = useState('');
  const [newToken, setNewToken] = useState<string | null>(null);

  const act = async (fn: () => Promise<unknown>, ok: string) => {
    setError(null);
    setNote(null);
    try {
      await fn();
      setNote(ok);
    } catch (e) {
      setError(errorMessage(e));
    }
  };

  const create = (e: FormEvent) => {
    e.preventDefault();
    void act(async () => {
      await createUser(nu.username.trim(), nu.password, nu.role);
      setNu({ username: '', password: '', role: 'read' });
      await users.reload();
      void audit.reload();
    }, `User ${nu.username} created.`);
  };

  const makeToken = (e: FormEvent) => {
    e.preventDefault();
    void act(async () => {
      const t = await createToken(tokenName.trim());
      setNewToken(t.token);
      setTokenName('');
      await tokens.reload();
    }, 'Token created. Copy it now: it is not shown again.');
  };

  if (!isAdmin) {
    return (
      <div className="page">
        <h1>Users</h1>
        <Notice>Only administrators manage users.</Notice>
      </div>
    );
  }

  return (
    <div className="page">
      <h1>Users and access</h1>
      <Alert error={error} testId="users-error" />
      {note ? <Notice>{note}</Notice> : null}
      <Section title="Users" id="users">
        <Alert error={users.error} />
        <div className="table-wrap">
          <table data-testid="users-table">
            <HeadRow columns={["User", "Role", "Created"]} actions />
            <tbody>
              {(users.data ?? []).map((u) => {
                const self = u.username === state.user?.username;
                return (
                  <tr key={u.username} data-testid={`user-row-${u.username}`}>
                    <td>
                      {u.username} {self ? <span className="badge">you</span> : null}
                    </td>
                    <td>
                      <select
                        aria-label={`Role of ${u.username}`}
                        value={u.role}
                        disabled={self}
                        onChange={(e) =>
                          void act(async () => {
                            await updateUser(u.username, { role: e.target.value as Role });
                            await users.reload();
                            void audit.reload();
                          }, `${u.username} is now ${e.target.value}.`)
                        }
                        data-testid={`user-role-${u.username}`}
                      >
                        {ROLES.map((r) => (
                          <option key={r} value={r}>
                            {r}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td>{fmtTime(u.created_at)}</td>
                    <td>
                      <button
                        className="danger small"
                        disabled={self}
                        aria-label={`Delete ${u.username}`}
                        onClick={() => {
                          if (!window.confirm(`Delete user ${u.username}?`)) return;
                          void act(async () => {
                            await deleteUser(u.username);
                            await users.reload();
                            void audit.reload();
                          }, `${u.username} deleted.`);
                        }}
                        data-testid={`user-delete-${u.username}`}
                      >
                        Delete
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        <form onSubmit={create} className="row align-end" aria-label="Create a user">
          <label>
            Username
            <input required value={nu.username} onChange={(e) => setNu({ ...nu, username: e.target.value })} data-testid="user-new-name" />
          </label>
          <label>
            Password (8+ characters)
            <input
              type="password"
              required
              minLength={8}
              autoComplete="new-password"
              value={nu.password}
              onChange={(e) => setNu({ ...nu, password: e.target.value })}
              data-testid="user-new-password"
            />
          </label>
          <label>
            Role
            <select value={nu.role} onChange={(e) => setNu({ ...nu, role: e.target.value as Role })} data-testid="user-new-role">
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" data-testid="user-create">
            Create user
          </button>
        </form>
      </Section>

      <Section title="API tokens" id="tokens">
        <p className="muted small">Use as <code>Authorization: Bearer &lt;token&gt;</code>. A token acts with your role.</p>
        {newToken ? (
          <div className="notice" role="status">
            <label>
              New token (shown once)
              <input readOnly value={newToken} onFocus={(e) => e.target.select()} className="mono" data-testid="token-value" />
            </label>
          </div>
        ) : null}
        <div className="table-wrap">
          <table data-testid="tokens-table">
            <HeadRow columns={["Name", "Id", "Created"]} actions />
            <tbody>
              {(tokens.data ?? []).map((t) => (
                <tr key={t.id}>
                  <td>{t.name}</td>
                  <td className="mono">{t.id}</td>
                  <td>{fmtTime(t.created_at)}</td>
                  <td>
                    <button
                      className="danger small"
                      aria-label={`Revoke token ${t.name}`}
                      onClick={() =>
                        void act(async () => {
                          await deleteToken(t.id);
                          await tokens.reload();
                        }, `Token ${t.name} revoked.`)
                      }
                      data-testid={`token-delete-${t.id}`}
                    >
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <form onSubmit={makeToken} className="row align-end" aria-label="Create a token">
          <label>
            Token name
            <input required value={tokenName} onChange={(e) => setTokenName(e.target.value)} data-testid="token-name" />
          </label>
          <button type="submit" data-testid="token-create">
            Create token
          </button>
        </form>
      </Section>

      <Section title="Audit log" id="audit">
        <Alert error={audit.error} />
        <div className="table-wrap">
          <table data-testid="audit-table">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">User</th>
                <th scope="col">Action</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {(audit.data ?? []).map((a, i) => (
                <tr key={i}>
                  <td>{fmtTime(a.at)}</td>
                  <td>{a.user}</td>
                  <td className="mono">{a.action}</td>
                  <td className="small">{typeof a.detail === 'string' ? a.detail : a.detail == null ? '–' : JSON.stringify(a.detail)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <p className="muted small">{str((audit.data ?? []).length)} entries (newest first).</p>
      </Section>
    </div>
  );
}
