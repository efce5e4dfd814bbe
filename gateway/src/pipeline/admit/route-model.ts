import { clip } from '../../clip.ts';
import type { Principal } from '../../principal.ts';
import type { CompiledSnapshot, RoutedModel } from '../../snapshot-store.ts';
import type { Endpoint } from '../endpoint.ts';
import { type Refusal, refusal } from '../refuse.ts';

const everyProviderType = ['anthropic', 'openai', 'openai-compatible'] as const;

/**
 * Admit step 2: the Model the client named, on any Provider (a request for another API's
 * Provider is translated by the forward step, ADR 0124). Routes
 * within what this key may reach (ADR 0122): its tenants' Models and the open namespaces'; a
 * name nothing matches goes to the key's default Model for this surface, if one is declared.
 */
export function routeModel(snapshot: CompiledSnapshot, endpoint: Endpoint, principal: Principal, modelName: string): RoutedModel | Refusal {
  const view = snapshot.viewFor(principal);
  const found = view.router.route(modelName)?.target ?? view.defaults.find((d) => endpoint.providerTypes.includes(d.providerType))?.target;
  if (!found) {
    // What the client sent, clipped before it goes into the message and the audit row.
    modelName = clip(modelName);
    // Only what would have worked for this key: other tenants' names stay private. Every API's
    // Models serve every surface through translation (ADR 0124).
    const names = view.namesServing(everyProviderType);
    const shown = names.length > 20 ? `${names.slice(0, 20).join(', ')} and ${names.length - 20} more` : names.join(', ');
    return refusal(
      'GW_MODEL_NOT_FOUND',
      `The model "${modelName}" is not configured on this gateway. ${names.length > 0 ? `Models you can use here: ${shown}.` : 'No models are configured for this key here yet.'}`,
      {
        action: 'gateway.model_not_found',
        targetType: 'model',
        targetName: modelName,
        detail: { model: modelName, endpoint: endpoint.name, apiKeyId: principal.keyId, available: names.slice(0, 50) },
      },
    );
  }
  return found;
}
