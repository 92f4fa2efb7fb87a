// Waiting on real state, never on fixed sleeps: every wait polls a condition until it holds
// or a deadline passes, and a timeout names what was awaited and what was last seen.

/**
 * Polls `probe` until it returns a truthy value, and returns that value.
 * `probe` may throw while the state is not there yet; the last error is reported on timeout.
 */
export async function waitFor(what, probe, { timeoutMs = 30_000, intervalMs = 250 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastSeen = 'nothing';
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      lastSeen = JSON.stringify(value);
    } catch (error) {
      lastSeen = error instanceof Error ? error.message.split('\n')[0] : String(error);
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what} (last seen: ${lastSeen})`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Throws with a readable message when `condition` is false. */
export function check(condition, message) {
  if (!condition) throw new Error(message);
}
