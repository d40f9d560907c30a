// The `cairn` command. bin/cairn.js calls run(); `node dist/supervisor/cli.js ...` runs it directly
// (that is how `cairn up` starts its supervisors). Parsing is pure (args.ts); this file does the I/O:
// prints, installs signal handlers, exits.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT_ERROR, EXIT_OK, EXIT_USAGE, parseCommandLine, usageOf } from './args';
import type { Environment } from './args';
import { runClientCommand } from './clientCommands';
import { runAdminCommand } from './adminCommands';
import type { Output } from './clientCommands';
import type { SupervisorOptions } from './options';
import type { SupervisorHandle } from './supervisor';
import { runUp } from './up';

/** Runs one command line to completion and returns its exit code. */
export async function main(argv: readonly string[], env: Environment, output: Output): Promise<number> {
  const parsed = parseCommandLine(argv, env);
  if (!parsed.ok) {
    // The message, then where to find the usage (the whole usage would bury the message).
    const known = argv[0] !== undefined && usageOf(argv[0]) !== usageOf(undefined);
    output.stderr(`cairn: ${parsed.message}\nRun "cairn ${known ? `${argv[0]} ` : ''}--help" for usage.\n`);
    return EXIT_USAGE;
  }
  const command = parsed.command;
  switch (command.name) {
    case 'help':
      output.stdout(command.text + '\n');
      return EXIT_OK;
    case 'version':
      output.stdout(`cairn ${packageVersion()}\n`);
      return EXIT_OK;
    case 'supervisor':
      return runSupervisor(command.options, output);
    case 'up':
      return runUp(command.options, output);
    case 'admin':
      return runAdminCommand(command, output);
    default:
      return runClientCommand(command, output);
  }
}

/** Starts the supervisor, then waits for SIGTERM/SIGINT and stops it; a second signal exits at once. */
async function runSupervisor(options: SupervisorOptions, output: Output): Promise<number> {
  let signalled: (signal: NodeJS.Signals) => void = () => undefined;
  const signal = new Promise<NodeJS.Signals>((resolve) => (signalled = resolve));
  let received = 0;
  const onSignal = (name: NodeJS.Signals): void => {
    received++;
    if (received === 1) signalled(name);
    else {
      output.stderr(`cairn supervisor ${options.nodeId}: second ${name}, exiting without a clean stop\n`);
      process.exit(EXIT_ERROR);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let handle: SupervisorHandle;
  try {
    // Loaded only here: the client commands need none of the actor code (lmdb, workers), and start faster.
    const { startSupervisor } = await import('./supervisor');
    handle = await startSupervisor(options);
  } catch (error) {
    output.stderr(`cairn supervisor ${options.nodeId}: cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_ERROR;
  }
  const name = await signal;
  output.stderr(`cairn supervisor ${options.nodeId}: ${name}, stopping\n`);
  try {
    await handle.stop();
  } catch (error) {
    output.stderr(`cairn supervisor ${options.nodeId}: stop failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_ERROR;
  }
  return EXIT_OK;
}

function packageVersion(): string {
  try {
    // dist/supervisor/cli.js -> the package root is two levels up.
    const text = readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8');
    const version = (JSON.parse(text) as { version?: unknown }).version;
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

const processOutput: Output = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

/** Entry point: runs process.argv, flushes output, exits with the command's code. */
export function run(): void {
  main(process.argv.slice(2), process.env, processOutput).then(
    (code) => exitAfterFlush(code),
    (error: unknown) => {
      process.stderr.write(`cairn: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      exitAfterFlush(EXIT_ERROR);
    },
  );
}

/**
 * Exits once stdout and stderr have taken everything written (a pipe to a slow reader may still hold
 * a large value). Exiting explicitly matters for the long-running commands: worker threads or a
 * draining connection must not keep a stopped supervisor alive.
 */
function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = (): void => {
    pending--;
    if (pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

if (require.main === module) run();
