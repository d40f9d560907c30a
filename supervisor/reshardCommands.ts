// `cairn partitions create | delete P`: asks the controller to reshard (docs/resharding.md) and follows
// it phase by phase until the new key ring is in use and the moved keys are gone from where they were.

import type { NatsConnection } from 'nats';
import type { ControllerView } from '../actors/controller/controllerRequests';
import { FOLLOW_TIMEOUT_MS, POLL_MS, Reply, controllerRequest, controllerView, refuse } from './adminCommands';
import type { AdminAction, AdminCommand } from './args';

const PHASES: Record<string, string> = {
  fence: 'fence: the partitions giving keys away refuse them from now on',
  copy: 'copy: the moving keys are copied to their new partition',
  adopt: 'adopt: the receiving partitions serve them',
  purge: 'switch: routers and clients use the new key ring; the givers delete what they gave',
};

export async function reshard(nc: NatsConnection, command: AdminCommand, action: Extract<AdminAction, { kind: 'create' | 'delete' }>): Promise<Reply> {
  const body = action.kind === 'create' ? { op: 'create', ...(action.replicas === undefined ? {} : { replicas: action.replicas }) } : { op: 'delete', partition: action.partition };
  const recorded = await controllerRequest(nc, command, body);
  if (!recorded.ok) return recorded;
  const partition = recorded.partition ?? (action.kind === 'delete' ? action.partition : undefined);
  if (partition === undefined) return refuse('INTERNAL', 'the controller did not say which partition it created');
  const say = (line: string) => command.client.json || process.stderr.write(`  ${line}\n`);
  say(recorded.message);
  const finished = (view: ControllerView) => view.reshard?.partitionId !== partition && view.ring.partitions.includes(partition) === (action.kind === 'create');
  const deadline = Date.now() + FOLLOW_TIMEOUT_MS;
  let phase = '';
  while (Date.now() < deadline) {
    const view = await controllerView(nc, command);
    if (view?.reshard?.partitionId === partition && view.reshard.phase !== phase) {
      phase = view.reshard.phase;
      say(PHASES[phase] ?? phase);
    }
    if (view && finished(view)) {
      const done = action.kind === 'create' ? `partition ${partition} created: it serves its share of the keys` : `partition ${partition} deleted: its keys are served by the others`;
      return { ok: true, message: `${done} (key ring epoch ${view.ring.epoch}, ${view.ring.partitions.length} partitions)` };
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return refuse('TIMEOUT', `gave up following partition ${partition} after ${FOLLOW_TIMEOUT_MS / 1000} s; the controller keeps working on it (cairn status)`);
}
