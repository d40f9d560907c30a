// Supervisor side of one actor: a worker thread controlled over comlink, restarted one-for-one with
// exponential backoff when it dies. A comlink call to a dead worker never settles, so every call races
// the worker's exit and a deadline.

import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/umd/node-adapter';
import { Worker } from 'node:worker_threads';

export interface ActorHostOptions {
  /** Name for logs, e.g. "p3/r2". */
  name: string;
  /** Compiled worker entry file. */
  entry: string;
  workerData: unknown;
  log: (line: string) => void;
  /** Errors whose name is listed here stop restarts: restarting cannot fix them (e.g. a corrupt log). */
  permanentErrors?: string[];
  /**
   * Liveness: call the worker's `ready` every `intervalMs`; a worker that leaves it unanswered for
   * `timeoutMs` is wedged (a blocked event loop, a native call that never returns) and is terminated
   * and restarted. If even termination does not end it within `timeoutMs`, `onWedged` runs (the
   * supervisor exits, so that its own supervisor, e.g. docker's restart policy, starts it afresh).
   */
  watchdog?: { intervalMs: number; timeoutMs: number; onWedged: (name: string) => void };
}

const BACKOFF_MS_MIN = 100;
const BACKOFF_MS_MAX = 10_000;
/** A worker that stayed up this long gets its backoff reset. */
const STABLE_MS = 30_000;
const CALL_TIMEOUT_MS = 10_000;

export type ActorState = 'starting' | 'running' | 'restarting' | 'stopped' | 'failed';

export class ActorHost {
  state: ActorState = 'starting';
  restarts = 0;
  lastError: string | undefined;
  private worker: Worker | undefined;
  private proxy: Comlink.Remote<Record<string, (...args: unknown[]) => Promise<unknown>>> | undefined;
  private exited: Promise<void> = Promise.resolve();
  private backoffMs = BACKOFF_MS_MIN;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private probing = false;
  /** The current worker answered a probe once: it finished starting (opening and verifying storage can take long). */
  private started = false;

  constructor(private readonly options: ActorHostOptions) {}

  start(): void {
    this.stopping = false;
    this.spawn();
    const watchdog = this.options.watchdog;
    if (watchdog && !this.watchdogTimer) {
      this.watchdogTimer = setInterval(() => void this.probe(watchdog.timeoutMs, watchdog.onWedged), watchdog.intervalMs);
      this.watchdogTimer.unref();
    }
  }

  private async probe(timeoutMs: number, onWedged: (name: string) => void): Promise<void> {
    const worker = this.worker;
    if (this.probing || !worker || this.stopping) return;
    this.probing = true;
    try {
      const answered = await this.callWithin(timeoutMs, 'ready');
      if (answered !== undefined) this.started = true;
      if (answered !== undefined || !this.started || this.worker !== worker || this.stopping) return;
      this.lastError = `no answer to a liveness probe within ${timeoutMs} ms`;
      this.options.log(`${this.options.name} is wedged (${this.lastError}); terminating it`);
      const ended = await Promise.race([worker.terminate().then(() => true), delay(timeoutMs).then(() => false)]);
      if (!ended) onWedged(this.options.name);
    } finally {
      this.probing = false;
    }
  }

  private spawn(): void {
    const worker = new Worker(this.options.entry, { workerData: this.options.workerData });
    this.worker = worker;
    this.started = false;
    this.startedAt = Date.now();
    this.state = 'running';
    this.proxy = Comlink.wrap(nodeEndpoint(worker as unknown as Parameters<typeof nodeEndpoint>[0]));
    let exitError: Error | undefined;
    worker.on('error', (error) => {
      exitError = error;
      this.lastError = `${error.name}: ${error.message}`;
      this.options.log(`${this.options.name} crashed: ${this.lastError}`);
      // A thread that holds native resources (LMDB environments, sockets) can linger after an uncaught
      // error without ever emitting 'exit'; end it so the restart below happens.
      void worker.terminate();
    });
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.once('exit', (code) => this.onExit(worker, code, exitError));
  }

  private onExit(worker: Worker, code: number, error: Error | undefined): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.proxy = undefined;
    if (this.stopping) {
      this.state = 'stopped';
      return;
    }
    if (error && this.options.permanentErrors?.includes(error.name)) {
      this.state = 'failed';
      this.options.log(`${this.options.name} will not be restarted (${error.name}); repair or rebuild it`);
      return;
    }
    if (Date.now() - this.startedAt > STABLE_MS) this.backoffMs = BACKOFF_MS_MIN;
    this.state = 'restarting';
    this.restarts++;
    this.options.log(`${this.options.name} exited (code ${code}); restarting in ${this.backoffMs} ms`);
    this.restartTimer = setTimeout(() => this.spawn(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MS_MAX);
  }

  /** Calls a control method; resolves undefined when the actor is down or does not answer in time. */
  async call<T>(method: string, ...args: unknown[]): Promise<T | undefined> {
    return this.callWithin<T>(CALL_TIMEOUT_MS, method, ...args);
  }

  private async callWithin<T>(timeoutMs: number, method: string, ...args: unknown[]): Promise<T | undefined> {
    const proxy = this.proxy;
    if (!proxy) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
    try {
      return (await Promise.race([proxy[method](...args), this.exited.then(() => undefined), deadline])) as T | undefined;
    } catch (error) {
      this.options.log(`${this.options.name}.${method} failed: ${String(error)}`);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Asks the actor to stop cleanly, then ends the thread. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = undefined;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (!worker) {
      this.state = 'stopped';
      return;
    }
    await this.call('stop');
    await worker.terminate();
    this.state = 'stopped';
  }

  /** For tests and fault drills: end the thread abruptly, as a crash would. */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
