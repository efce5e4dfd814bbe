import { clip } from '../../clip.ts';
import type { Principal } from '../../principal.ts';
import type { CompiledSnapshot, RoutedModel } from '../../snapshot-store.ts';
import type { Endpoint } from '../endpoint.ts';
import { type Refusal, refusal } from '../refuse.ts';

/** Admit step 2: the Model the client named, served by a provider this surface can call. */
export function routeModel(snapshot: CompiledSnapshot, endpoint: Endpoint, principal: Principal, modelName: string): RoutedModel | Refusal {
  const found = snapshot.router.route(modelName);
  if (!found) {
    // What the client sent, clipped before it goes into the message and the audit row.
    modelName = clip(modelName);
    const names = snapshot.router.names();
    const shown = names.length > 20 ? `${names.slice(0, 20).join(', ')} and ${names.length - 20} more` : names.join(', ');
    return refusal(
      'GW_MODEL_NOT_FOUND',
      `The model "${modelName}" is not configured on this gateway. ${names.length > 0 ? `Models served here: ${shown}.` : 'No models are configured yet.'}`,
      {
        action: 'gateway.model_not_found',
        targetType: 'model',
        targetName: modelName,
        detail: { model: modelName, endpoint: endpoint.name, apiKeyId: principal.keyId, available: names.slice(0, 50) },
      },
    );
  }
  const routed = found.target;
  const type = routed.provider.provider.type;
  if (!endpoint.providerTypes.includes(type)) {
    modelName = clip(modelName);
    return refusal(
      'GW_WRONG_SURFACE',
      `The model "${modelName}" is served by an ${type} provider; call it through ${
        type === 'anthropic' ? '/v1/messages' : '/v1/chat/completions or /v1/responses'
      }.`,
    );
  }
  return routed;
}
