import { useEffect, useState } from 'react';
import { CopyButton } from '../../../components/copy-button.tsx';
import { agentSetups } from '../agent-setups.ts';
import { getConnectInfo } from '../api/api-keys-api.ts';
import { CreateKeyForm } from './create-key-form.tsx';

const clients = agentSetups;

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
