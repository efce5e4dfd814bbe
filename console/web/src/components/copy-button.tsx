import { useState } from 'react';

export function CopyButton(props: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="button small secondary"
      onClick={() => {
        void navigator.clipboard?.writeText(props.text).then(() => {
          setCopied(true);
          setTimeout(() => setCopied(false), 1500);
        });
      }}
    >
      {copied ? 'Copied' : props.label}
      <span className="visually-hidden" aria-live="polite">
        {copied ? ' copied to clipboard' : ''}
      </span>
    </button>
  );
}
