import type { CreatedApiKey } from '@codevector/console-api/people/people-contract';
import { useState } from 'react';
import { useFormAction } from '../../../hooks/use-form-action.tsx';
import { createApiKey } from '../api/api-keys-api.ts';
import { NewKey } from './new-key.tsx';

/** Matches the API's limit (createApiKeyInputSchema): checked here first so a typo costs no round trip. */
const maxNameLength = 100;

/**
 * Creates a gateway key for the signed-in user and shows it once, below the form. The API keys
 * and Connect pages both use it; `onCreated` is what each does next (reload its list, fill the
 * snippets) and returns the status line to announce.
 */
export function CreateKeyForm(props: {
  label: string;
  title: string;
  defaultName?: string;
  placeholder?: string;
  onCreated: (created: CreatedApiKey) => Promise<string> | string;
}) {
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const create = useFormAction(async (form) => {
    const name = String(form.get('name') ?? '').trim();
    if (!name) throw new Error('Give the key a name.');
    if (name.length > maxNameLength) throw new Error(`A key name has at most ${maxNameLength} characters.`);
    // A new attempt hides the previous key: only the latest one is ever on screen.
    setCreated(null);
    const result = await createApiKey({ name });
    setCreated(result);
    return props.onCreated(result);
  });
  return (
    <>
      <form className="card inline-form" aria-label={props.label} onSubmit={create.onSubmit}>
        <h2>{props.title}</h2>
        <label className="field grow">
          <span>Key name</span>
          <input name="name" required maxLength={maxNameLength} defaultValue={props.defaultName} placeholder={props.placeholder} />
        </label>
        <button className="button primary" type="submit" disabled={create.busy}>
          Create key
        </button>
        <create.Status />
      </form>
      {created && <NewKey keyText={created.key} name={created.apiKey.name} />}
    </>
  );
}
