import type { Principal } from '../../principal.ts';
import type { CompiledSnapshot, RoutedModel } from '../../snapshot-store.ts';
import type { Endpoint } from '../endpoint.ts';
import { type Refusal, refusal } from '../refuse.ts';

/** Admit step 2: the Model the client named, served by a provider this surface can call. */
export function routeModel(snapshot: CompiledSnapshot, endpoint: Endpoint, principal: Principal, modelName: string): RoutedModel | Refusal {
  const routed = snapshot.models.get(modelName);
  if (!routed) {
    return refusal('GW_MODEL_NOT_FOUND', `The model "${modelName}" is not configured on this gateway.`, {
      action: 'gateway.model_not_found',
      targetType: 'model',
      targetName: modelName,
      detail: { model: modelName, endpoint: endpoint.name, apiKeyId: principal.keyId },
    });
  }
  const type = routed.provider.provider.type;
  if (!endpoint.providerTypes.includes(type)) {
    return refusal(
      'GW_WRONG_SURFACE',
      `The model "${modelName}" is served by an ${type} provider; call it through ${
        type === 'anthropic' ? '/v1/messages' : '/v1/chat/completions or /v1/responses'
      }.`,
    );
  }
  return routed;
}
