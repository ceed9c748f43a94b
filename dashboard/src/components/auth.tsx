import { createContext, useContext } from 'react';
import type { AuthState, Role } from '../api';

export interface AuthCtx {
  state: AuthState;
  refresh: () => Promise<AuthState>;
}

export const AuthContext = createContext<AuthCtx | null>(null);

export function useAuth(): AuthCtx {
  const c = useContext(AuthContext);
  if (!c) throw new Error('useAuth outside AuthContext');
  return c;
}

const rank: Record<Role, number> = { read: 0, write: 1, admin: 2 };

export function hasRole(state: AuthState, role: Role): boolean {
  const r = state.user?.role;
  return !!r && (rank[r] ?? -1) >= rank[role];
}

/** May change the config: write role and not --readonly. */
export function canWriteConfig(state: AuthState): boolean {
  return hasRole(state, 'write') && !state.readonly;
}
