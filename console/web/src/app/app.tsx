import type { Role, SessionUser as User } from '@codevector/console-api/auth/auth-contract';
import { useCallback, useEffect, useState } from 'react';
import { ApiKeysPage } from '../features/api-keys/components/api-keys-page.tsx';
import { ConnectPage } from '../features/api-keys/components/connect-page.tsx';
import { AuditLogPage } from '../features/audit/components/audit-log-page.tsx';
import { signOut as endSession, getSession } from '../features/auth/api/auth-api.ts';
import { SignInPage } from '../features/auth/components/sign-in-page.tsx';
import { DashboardPage } from '../features/dashboard/components/dashboard-page.tsx';
import { GroupsPage } from '../features/groups/components/groups-page.tsx';
import { ResourcesPage } from '../features/resources/components/resources-page.tsx';
import { UsersPage } from '../features/users/components/users-page.tsx';
import { setCsrfToken } from '../lib/api-client.ts';
import { Link, navigate, useLocation } from '../lib/router.tsx';

type Page = { path: string; label: string; roles: Role[]; render: (user: User) => React.ReactNode };

const pages: Page[] = [
  { path: '/dashboard', label: 'Dashboard', roles: ['admin', 'auditor'], render: () => <DashboardPage /> },
  { path: '/admin/audit-log', label: 'Audit log', roles: ['admin', 'auditor'], render: () => <AuditLogPage /> },
  { path: '/admin/users', label: 'Users', roles: ['admin', 'auditor'], render: (u) => <UsersPage me={u} /> },
  { path: '/admin/groups', label: 'Groups', roles: ['admin', 'auditor'], render: (u) => <GroupsPage me={u} /> },
  { path: '/keys', label: 'API keys', roles: ['admin', 'auditor', 'member'], render: (u) => <ApiKeysPage me={u} /> },
  { path: '/admin/resources', label: 'Declared resources', roles: ['admin', 'auditor'], render: () => <ResourcesPage /> },
  { path: '/connect', label: 'Connect', roles: ['admin', 'auditor', 'member'], render: () => <ConnectPage /> },
];

/** The shell: session, navigation by role, and the page for the current path. */
export function App() {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const location = useLocation();

  const loadSession = useCallback(async () => {
    try {
      const session = await getSession();
      setCsrfToken(session.csrfToken);
      setUser(session.user);
    } catch {
      setUser(null);
    }
  }, []);

  useEffect(() => {
    void loadSession();
    const signedOut = () => setUser(null);
    window.addEventListener('codevector:signed-out', signedOut);
    return () => window.removeEventListener('codevector:signed-out', signedOut);
  }, [loadSession]);

  const visible = user ? pages.filter((p) => p.roles.includes(user.role)) : [];
  const page = visible.find((p) => p.path === location.path);

  useEffect(() => {
    if (user && !page) navigate(visible[0]!.path + (location.path === '/sign-in' ? '' : ''), { replace: true });
  }, [user, page, visible, location.path]);

  useEffect(() => {
    document.title = page ? `${page.label} · CodeVector` : 'Sign in · CodeVector';
  }, [page]);

  if (user === undefined) return <p className="loading">Loading…</p>;
  if (user === null)
    return (
      <SignInPage
        onSignedIn={(u, token) => {
          setCsrfToken(token);
          setUser(u);
        }}
      />
    );

  async function signOut() {
    await endSession().catch(() => {});
    setUser(null);
    navigate('/sign-in', { replace: true });
  }

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">
          <span className="brand-mark" aria-hidden="true">
            ◆
          </span>{' '}
          CodeVector
        </span>
        <span className="topbar-user">
          <span>
            {user.email} <span className={`badge role-${user.role}`}>{user.role}</span>
          </span>
          <button type="button" className="button secondary" onClick={() => void signOut()}>
            Sign out
          </button>
        </span>
      </header>
      <nav className="sidebar" aria-label="Console">
        <ul>
          {visible.map((p) => (
            <li key={p.path}>
              <Link to={p.path} current={p.path === page?.path} className="nav-link">
                {p.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" className="content" tabIndex={-1}>
        {page?.render(user)}
      </main>
    </div>
  );
}
