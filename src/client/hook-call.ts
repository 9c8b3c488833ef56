/** Calls a hook safely: a hook that throws is logged, never propagated. */
import type { ClientHooks } from './hooks.js';
import type { ResolvedOptions } from './options.js';

/** Calls `hooks[name](event)` if set; exceptions are logged at warn and swallowed. */
export function callHook<K extends keyof ClientHooks>(options: ResolvedOptions, name: K, event: Parameters<NonNullable<ClientHooks[K]>>[0]): void {
  const hook = options.hooks[name] as ((e: typeof event) => void) | undefined;
  if (hook === undefined) return;
  try {
    hook.call(options.hooks, event);
  } catch (e) {
    options.logger.warn({ hook: name, err: String(e) }, 'raftkv client: a hook threw; ignored');
  }
}
