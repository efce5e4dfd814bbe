import type { SessionUser } from '@codevector/console-api/auth/auth-contract';
import { useState } from 'react';
import { ApiError } from '../../../lib/api-client.ts';
import { signIn } from '../api/auth-api.ts';

/** Email and password; on success hands the session to the shell. */
export function SignInPage(props: { onSignedIn: (user: SessionUser, csrfToken: string) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const session = await signIn({ email: String(form.get('email')), password: String(form.get('password')) });
      props.onSignedIn(session.user, session.csrfToken);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : 'Sign-in failed.');
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="sign-in">
      <form className="card sign-in-card" onSubmit={(e) => void submit(e)} aria-labelledby="sign-in-title">
        <p className="brand">
          <span className="brand-mark" aria-hidden="true">
            ◆
          </span>{' '}
          CodeVector
        </p>
        <h1 id="sign-in-title">Sign in to the console</h1>
        <label className="field">
          <span>Email</span>
          {/* biome-ignore lint/a11y/noAutofocus: the sign-in page has one job; focus starts where typing starts */}
          <input name="email" type="email" autoComplete="username" required autoFocus />
        </label>
        <label className="field">
          <span>Password</span>
          <input name="password" type="password" autoComplete="current-password" required />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button className="button primary" type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
