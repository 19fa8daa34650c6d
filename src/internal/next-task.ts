/**
 * Resolves in a new macrotask, so the host gets a turn: Node runs its timers
 * and I/O, a browser can paint. A resolved promise (a microtask) gives
 * neither, so a streaming page would show nothing until the loop ends.
 * `setImmediate` (Node) and `MessageChannel` (browsers) avoid the ≥ 4 ms
 * clamp that nested `setTimeout(0)` gets in browsers.
 */
export function nextTask(): Promise<void> {
  const host = globalThis as {
    setImmediate?: (callback: () => void) => unknown;
    MessageChannel?: typeof MessageChannel;
  };
  if (typeof host.setImmediate === 'function') {
    return new Promise((resolve) => host.setImmediate!(resolve));
  }
  if (typeof host.MessageChannel === 'function') {
    return new Promise((resolve) => {
      const channel = new host.MessageChannel!();
      channel.port1.onmessage = () => {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}
