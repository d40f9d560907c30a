// A background load for cluster tests: loops that put keys through the routers, remember every
// acknowledged value, and record every failure (operator actions must not make a request fail).

import type { CairnCluster } from './cairnCluster';
import type { KvClient } from '../../bus/kvClient';

export interface Writer {
  /** Key -> last acknowledged value. */
  readonly acknowledged: Map<string, string>;
  readonly errors: string[];
  readonly count: number;
  stop(): Promise<void>;
}

/** `kv`: the client to write with (default the cluster's, through the routers). */
export function startWriter(cluster: CairnCluster, prefix: string, options: { loops?: number; keysPerLoop?: number; kv?: KvClient } = {}): Writer {
  const kv = options.kv ?? cluster.kv;
  const acknowledged = new Map<string, string>();
  const errors: string[] = [];
  let running = true;
  let count = 0;
  const keysPerLoop = options.keysPerLoop ?? 25;
  const loops = Array.from({ length: options.loops ?? 4 }, async (_, loop) => {
    for (let i = 0; running; i++) {
      const key = `${prefix}-${loop}-${i % keysPerLoop}`;
      try {
        await kv.put(key, `${i}`);
        acknowledged.set(key, `${i}`);
        count++;
      } catch (error) {
        errors.push(String(error));
        // A failed call must not turn the loop into a busy spin.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  });
  return {
    acknowledged,
    errors,
    get count() {
      return count;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
