import { useEffect, useState } from 'react';
import { CopyButton } from '../../../components/copy-button.tsx';
import { getConnectInfo } from '../api/api-keys-api.ts';
import { CreateKeyForm } from './create-key-form.tsx';

type Client = { id: string; label: string; intro: string; snippet: (url: string, key: string) => string };

const clients: Client[] = [
  {
    id: 'claude-code',
    label: 'Claude Code',
    intro:
      'Set these before running claude. Non-essential traffic (telemetry, update checks) stays off so every request goes through the gateway.',
    snippet: (url, key) => `export ANTHROPIC_BASE_URL="${url}"
export ANTHROPIC_API_KEY="${key}"
export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1
claude`,
  },
  {
    id: 'cursor',
    label: 'Cursor',
    intro: 'Settings → Models → API Keys: paste the key as the OpenAI API key, enable "Override OpenAI Base URL" and enter:',
    snippet: (url, key) => `OpenAI API Key:            ${key}
Override OpenAI Base URL:  ${url}/v1`,
  },
  {
    id: 'codex',
    label: 'Codex CLI',
    intro: 'Add a provider to ~/.codex/config.toml and export the key:',
    snippet: (url, key) => `# ~/.codex/config.toml
model_provider = "codevector"

[model_providers.codevector]
name = "CodeVector"
base_url = "${url}/v1"
env_key = "CODEVECTOR_API_KEY"
wire_api = "responses"

# shell
export CODEVECTOR_API_KEY="${key}"`,
  },
  {
    id: 'anthropic-sdk',
    label: 'Anthropic SDK',
    intro: 'TypeScript (Python: anthropic.Anthropic(base_url=..., api_key=...)):',
    snippet: (url, key) => `import Anthropic from '@anthropic-ai/sdk';

const client = new Anthropic({ baseURL: '${url}', apiKey: '${key}' });`,
  },
  {
    id: 'openai-sdk',
    label: 'OpenAI SDK',
    intro: 'TypeScript (Python: openai.OpenAI(base_url=..., api_key=...)):',
    snippet: (url, key) => `import OpenAI from 'openai';

const client = new OpenAI({ baseURL: '${url}/v1', apiKey: '${key}' });`,
  },
  {
    id: 'curl',
    label: 'curl',
    intro: 'Check the key and list the models you may use:',
    snippet: (url, key) => `curl -s ${url}/v1/models -H "Authorization: Bearer ${key}"`,
  },
];

/** Step by step: create a key, then copy a ready setup for the chosen agent or SDK. */
export function ConnectPage() {
  const [gatewayUrl, setGatewayUrl] = useState('');
  const [key, setKey] = useState<string | null>(null);
  const [active, setActive] = useState(clients[0]!.id);
  useEffect(() => {
    void getConnectInfo().then((r) => setGatewayUrl(r.gatewayUrl));
  }, []);
  const client = clients.find((c) => c.id === active)!;
  const keyText = key ?? '<your CodeVector key>';

  return (
    <section aria-labelledby="connect-title">
      <div className="page-head">
        <div>
          <h1 id="connect-title">Connect an agent</h1>
          <p className="muted">
            Gateway URL: <code data-testid="gateway-url">{gatewayUrl}</code>
          </p>
        </div>
      </div>
      <CreateKeyForm
        label="Create a key for this setup"
        title="1. Create a key"
        defaultName={`${client.label} key`}
        onCreated={(created) => {
          setKey(created.key);
          return 'Key created and filled into the snippets below.';
        }}
      />
      <div className="card">
        <h2>2. Configure your client</h2>
        <div className="tabs" role="tablist" aria-label="Client">
          {clients.map((c) => (
            <button
              key={c.id}
              type="button"
              role="tab"
              id={`client-${c.id}`}
              aria-selected={c.id === active}
              aria-controls="client-panel"
              className="tab"
              onClick={() => setActive(c.id)}
            >
              {c.label}
            </button>
          ))}
        </div>
        <div id="client-panel" role="tabpanel" aria-labelledby={`client-${client.id}`}>
          <p>{client.intro}</p>
          <div className="snippet">
            <pre data-testid="snippet">{client.snippet(gatewayUrl, keyText)}</pre>
            <CopyButton text={client.snippet(gatewayUrl, keyText)} label={`Copy ${client.label} setup`} />
          </div>
        </div>
      </div>
    </section>
  );
}
