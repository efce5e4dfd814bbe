import { useState } from 'react';

/**
 * Runs a form submission or a button's action with busy state and one status line that screen
 * readers announce (success as status, failure as alert).
 */
export function useFormAction<B = undefined>(action: (form: FormData, body: B) => Promise<string>) {
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  async function go(form: FormData, body: B, reset?: () => void) {
    setBusy(true);
    setMessage(null);
    try {
      setMessage({ ok: true, text: await action(form, body) });
      reset?.();
    } catch (e) {
      setMessage({ ok: false, text: (e as Error).message });
    } finally {
      setBusy(false);
    }
  }
  return {
    busy,
    onSubmit(event: React.FormEvent<HTMLFormElement>) {
      event.preventDefault();
      const formElement = event.currentTarget;
      void go(new FormData(formElement), undefined as B, () => formElement.reset());
    },
    run(body: B) {
      void go(new FormData(), body);
    },
    Status() {
      if (!message) return null;
      return message.ok ? (
        <p className="notice ok" role="status">
          {message.text}
        </p>
      ) : (
        <p className="error" role="alert">
          {message.text}
        </p>
      );
    },
  };
}
