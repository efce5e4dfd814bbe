import type { SessionUser, SignInOptions } from '@codevector/console-api/auth/auth-contract';
import { useEffect, useState } from 'react';
import { ApiError } from '../../../lib/api-client.ts';
import { getSignInOptions, signIn } from '../api/auth-api.ts';

/**
 * Single sign-on when it is on, and email and password unless turned off; on success hands the
 * session to the shell. An SSO attempt the console refused comes back with ?signInError=.
 */
export function SignInPage(props: { onSignedIn: (user: SessionUser, csrfToken: string) => void }) {
  const [error, setError] = useState<string | null>(() => new URLSearchParams(window.location.search).get('signInError'));
  const [busy, setBusy] = useState(false);
  const [options, setOptions] = useState<SignInOptions>({ password: true, sso: null });
  useEffect(() => {
    getSignInOptions().then(setOptions, () => {});
  }, []);
  const returnTo = `${window.location.pathname}${window.location.search.replace(/[?&]signInError=[^&]*/, '')}`;

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
        {options.sso && (
          <a className="button primary sso" href={`${options.sso.start}?returnTo=${encodeURIComponent(returnTo)}`}>
            Sign in with {options.sso.name}
          </a>
        )}
        {options.password && (
          <>
            <label className="field">
              <span>Email</span>
              {/* biome-ignore lint/a11y/noAutofocus: the sign-in page has one job; focus starts where typing starts */}
              <input name="email" type="email" autoComplete="username" required autoFocus={!options.sso} />
            </label>
            <label className="field">
              <span>Password</span>
              <input name="password" type="password" autoComplete="current-password" required />
            </label>
          </>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {options.password && (
          <button className={options.sso ? 'button' : 'button primary'} type="submit" disabled={busy}>
            {busy ? 'Signing in…' : options.sso ? 'Sign in with password' : 'Sign in'}
          </button>
        )}
      </form>
    </main>
  );
}
