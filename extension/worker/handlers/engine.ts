/**
 * `engine`: the untyped envelope { kind, params } → the handler registered
 * under `kind`. For callers that have no typed `WorkerMethods` entry (see
 * registry.ts for adding a typed one).
 */
import { ModelFuseError } from '../../engine/errors';
import { WorkerRequestError } from '../../protocol/workerProtocol';
import { getHandler, registerHandler, registeredMethods } from '../registry';

registerHandler('engine', async (params, ctx) => {
  const kind = params?.kind;
  if (typeof kind !== 'string' || kind === 'engine') throw new ModelFuseError(`engine request needs a 'kind' naming a worker method`);
  const handler = getHandler(kind);
  if (!handler) throw new WorkerRequestError(`the worker has no '${kind}' handler (it has: ${registeredMethods().join(', ')})`, 'unknown-method');
  return handler(params.params, ctx);
});
