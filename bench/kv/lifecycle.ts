// Everything the benchmark starts, it stops: on success, on error and on SIGINT/SIGTERM. Each resource
// registers an async cleanup; cleanups run newest first (a client closes before its server stops).
// Child processes additionally die with this process through their own exit hooks (see
// bus/natsServerProcess.ts and targets/cairn.ts), so even a second Ctrl-C leaves nothing behind.

type Cleanup = () => Promise<void>;

const cleanups: { name: string; run: Cleanup }[] = [];
let signalHandlersInstalled = false;
let interrupted = false;

/** Registers a cleanup; returns a function that runs it now (once) and unregisters it. */
export function onCleanup(name: string, run: Cleanup): () => Promise<void> {
  const entry = { name, run };
  cleanups.push(entry);
  let done: Promise<void> | undefined;
  return () => {
    if (done === undefined) {
      const index = cleanups.indexOf(entry);
      if (index >= 0) cleanups.splice(index, 1);
      done = run();
    }
    return done;
  };
}

/** Runs every registered cleanup, newest first; reports but survives failures. */
export async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) {
    const entry = cleanups.pop()!;
    try {
      await entry.run();
    } catch (error) {
      process.stderr.write(`cleanup of ${entry.name} failed: ${String(error)}\n`);
    }
  }
}

export function isInterrupted(): boolean {
  return interrupted;
}

/** On the first SIGINT/SIGTERM: clean up and exit 130/143. On a second one: exit at once. */
export function installSignalHandlers(): void {
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      const status = signal === 'SIGINT' ? 130 : 143;
      if (interrupted) process.exit(status);
      interrupted = true;
      process.stderr.write(`\n${signal}: stopping the servers the benchmark started...\n`);
      void cleanupAll().finally(() => process.exit(status));
    });
  }
}
