import { CopyButton } from '../../../components/copy-button.tsx';

/** The one moment the full key is visible: the API returns it once and stores only a hash. */
export function NewKey(props: { keyText: string; name: string }) {
  return (
    <section className="card new-key" aria-label="New API key">
      <p>
        <strong>Copy your new key “{props.name}” now.</strong> It will not be shown again.
      </p>
      <div className="copy-row">
        <code className="key" data-testid="new-key">
          {props.keyText}
        </code>
        <CopyButton text={props.keyText} label="Copy key" />
      </div>
    </section>
  );
}
