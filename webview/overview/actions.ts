import type { OverviewHostSpec } from '../../extension/protocol/webviewProtocol';

type Requests = OverviewHostSpec['requests'];

/** The views' only way to the host: a request by name; errors are shown by `main.ts`. */
export interface HostActions {
  call<M extends keyof Requests & string>(method: M, params: Requests[M]['params']): Promise<void>;
}
