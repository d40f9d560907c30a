// Parsing of the operator subcommands (`cairn nodes|partitions|leader ...`), kept apart from args.ts,
// which holds the shared rules and the data-path commands. Pure, like args.ts.

import { UsageError, exactPositionals, integerOf, nodeIdOf, requiredString } from './argValues';
import type { Environment } from './argValues';
import type { ClientFlags, OptionSpec, Subcommand } from './args';

export interface SharedClientParsing {
  clientOptions: Record<string, OptionSpec>;
  clientHelp: string;
  clientFlags(values: Record<string, string | boolean | undefined>, env: Environment): ClientFlags;
  partitionsMax: number;
}

export function adminSubcommands(shared: SharedClientParsing): Record<string, Subcommand> {
  return {
    nodes: {
      summary: 'list nodes, drain / undrain / remove one: cairn nodes list | drain NODE [--wait] | undrain NODE | remove NODE',
      usage: `Usage: cairn nodes list | drain NODE [--wait] | undrain NODE | remove NODE [options]

    list           every node: state (active, draining, removed) and health (alive, suspect, down) as the
                   controller judges them, pid, uptime, replicas, leaders, restarts, stopped and failed replicas
    drain NODE     the controller moves NODE's leaderships away at once and then its replicas, one
                   membership change at a time; lasts until "undrain", also across restarts of NODE.
                   With --wait, returns once NODE holds no replica.
    undrain NODE   NODE may lead and hold replicas again (the controller rebalances onto it)
    remove NODE    NODE leaves the cluster for good (its id is never reused); the controller re-creates
                   its replicas elsewhere. Drain it first so that it is empty, then stop its process.\n${shared.clientHelp}`,
      options: { ...shared.clientOptions, wait: { type: 'boolean' } },
      build: (values, positionals, env) => {
        const [verb, ...rest] = positionals;
        const client = shared.clientFlags(values, env);
        if (verb === 'list') {
          exactPositionals(rest, []);
          return { name: 'admin', action: { kind: 'nodes-list' }, client };
        }
        if (verb === 'drain' || verb === 'undrain' || verb === 'remove') {
          const [node] = exactPositionals(rest, ['NODE']);
          if (values.wait === true && verb !== 'drain') throw new UsageError('--wait goes with "drain"');
          return { name: 'admin', action: { kind: verb, node: nodeIdOf(node!, 'NODE'), ...(values.wait === true ? { wait: true } : {}) }, client };
        }
        throw new UsageError('expected "list", "drain NODE", "undrain NODE" or "remove NODE"');
      },
    },
    partitions: {
      summary: 'list, create, delete partitions; stop / start / move replicas: cairn partitions list | create | delete P | stop|start P --node N | move P --from A --to B | rebalance',
      usage: `Usage: cairn partitions list | create [--replicas R] | delete P | stop P --node NODE | start P --node NODE | move P --from A --to B | rebalance [options]

    list                 every partition: leader, replicas with role, term, commit, applied and lag
    create [--replicas R]
                         a new partition (R replicas, default as many as the others have) that takes its
                         share of the keys from the others (consistent hashing: about 1/(n+1) of them);
                         prints each phase and returns when it serves (docs/resharding.md). While keys
                         move, requests for them wait in the routers and clients; none fails
    delete P             partition P's keys move to the other partitions, then P and its data are deleted
                         (its id is never reused); returns when done
    stop P --node NODE   stop NODE's replica of partition P for maintenance (leadership handed over first,
                         writes flushed); the partition keeps serving on its other replicas
    start P --node NODE  start it again; it catches up from the leader (by snapshot if it fell far behind)
    move P --from A --to B
                         the controller moves A's replica of P to B, one membership change at a time
                         (learner on B, catch up, promote, hand leadership over if A leads, remove A's
                         replica and its data); prints each step as it happens; no request fails meanwhile
    rebalance            waits until the controller has every replica where weighted consistent hashing
                         places it (it rebalances on its own after a join, a drain or a lost node) and
                         prints the changes it saw\n${shared.clientHelp}`,
      options: { ...shared.clientOptions, node: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, replicas: { type: 'string' } },
      build: (values, positionals, env) => {
        const [verb, ...rest] = positionals;
        const client = shared.clientFlags(values, env);
        if (verb === 'list') {
          exactPositionals(rest, []);
          return { name: 'admin', action: { kind: 'partitions-list' }, client };
        }
        if (verb === 'stop' || verb === 'start') {
          const [partition] = exactPositionals(rest, ['P']);
          const node = nodeIdOf(requiredString(values, 'node'), '--node');
          return { name: 'admin', action: { kind: verb, partition: integerOf(partition!, 'P', 0, shared.partitionsMax - 1), node }, client };
        }
        if (verb === 'rebalance') {
          exactPositionals(rest, []);
          return { name: 'admin', action: { kind: 'rebalance' }, client };
        }
        if (verb === 'create') {
          exactPositionals(rest, []);
          const replicas = values.replicas === undefined ? undefined : integerOf(String(values.replicas), '--replicas', 1, 7);
          return { name: 'admin', action: { kind: 'create', ...(replicas === undefined ? {} : { replicas }) }, client };
        }
        if (verb === 'delete') {
          const [partition] = exactPositionals(rest, ['P']);
          return { name: 'admin', action: { kind: 'delete', partition: integerOf(partition!, 'P', 0, shared.partitionsMax - 1) }, client };
        }
        if (verb === 'move') {
          const [partition] = exactPositionals(rest, ['P']);
          const from = nodeIdOf(requiredString(values, 'from'), '--from');
          const to = nodeIdOf(requiredString(values, 'to'), '--to');
          if (from === to) throw new UsageError('--from and --to name the same node');
          return { name: 'admin', action: { kind: 'move', partition: integerOf(partition!, 'P', 0, shared.partitionsMax - 1), from, to }, client };
        }
        throw new UsageError('expected "list", "create", "delete P", "stop P --node NODE", "start P --node NODE", "move P --from A --to B" or "rebalance"');
      },
    },
    leader: {
      summary: "move leaderships: cairn leader transfer P --to NODE | cairn leader balance",
      usage: `Usage: cairn leader transfer P --to NODE | cairn leader balance [options]

    transfer P --to NODE  hands partition P's leadership to its replica on NODE (Raft leader transfer: the
                          leader brings NODE's replica up to date, then tells it to campaign at once). Fails
                          if NODE holds no replica of P or its replica does not take over in time.
    balance               moves leaderships until every node that is up and not drained leads its share
                          (within one), one transfer at a time; e.g. after a node came back from a failure\n${shared.clientHelp}`,
      options: { ...shared.clientOptions, to: { type: 'string' } },
      build: (values, positionals, env) => {
        if (positionals[0] === 'balance') {
          exactPositionals(positionals.slice(1), []);
          return { name: 'admin', action: { kind: 'balance-leaders' }, client: shared.clientFlags(values, env) };
        }
        const [verb, partition] = exactPositionals(positionals, ['transfer', 'P']);
        if (verb !== 'transfer') throw new UsageError('expected "transfer P --to NODE" or "balance"');
        const node = nodeIdOf(requiredString(values, 'to'), '--to');
        return { name: 'admin', action: { kind: 'transfer', partition: integerOf(partition!, 'P', 0, shared.partitionsMax - 1), node }, client: shared.clientFlags(values, env) };
      },
    },
  };
}
