/** `worker/ping`: the worker's pid, methods and ORT state (health checks, tests). */
import { registerHandler, registeredMethods } from '../registry';
import { getIntraOpThreads, loadedOrtVersion } from '../ort/runtime';

registerHandler('worker/ping', () => ({ pid: process.pid, methods: registeredMethods(), ortVersion: loadedOrtVersion(), threads: getIntraOpThreads() }));
