import { clip } from '../../clip.ts';
import type { Principal } from '../../principal.ts';
import type { CompiledSnapshot, RoutedModel } from '../../snapshot-store.ts';
import type { Endpoint } from '../endpoint.ts';
import { type Refusal, refusal } from '../refuse.ts';

/**
 * Admit step 2: the Model the client named, served by a provider this surface can call. Routes
 * within what this key may reach (ADR 0122): its tenants' Models and the open namespaces'; a
 * name nothing matches goes to the key's default Model for this surface, if one is declared.
 */
export function routeModel(snapshot: CompiledSnapshot, endpoint: Endpoint, principal: Principal, modelName: string): RoutedModel | Refusal {
  const view = snapshot.viewFor(principal);
  const found = view.router.route(modelName)?.target ?? view.defaults.find((d) => endpoint.providerTypes.includes(d.providerType))?.target;
  if (!found) {
    // What the client sent, clipped before it goes into the message and the audit row.
    modelName = clip(modelName);
    // Only what would have worked for this key on this surface: other tenants' names stay private.
    const names = view.namesServing(endpoint.providerTypes);
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
  const type = found.provider.provider.type;
  if (!endpoint.providerTypes.includes(type)) {
    modelName = clip(modelName);
    return refusal(
      'GW_WRONG_SURFACE',
      `The model "${modelName}" is served by an ${type} provider; call it through ${
        type === 'anthropic' ? '/v1/messages' : '/v1/chat/completions or /v1/responses'
      }.`,
    );
  }
  return found;
}
