// bench/repair.ts: the per-partition account of a repair and the printed report (JSON, then tables).

import type { ControllerView } from '../../actors/controller/controllerRequests';
import { printTable } from '../kv/report';
import { RepairTraffic } from '../kv/repairTraffic';
import { LoadResult, VerifyResult } from './load';
import { PartitionRepair, RepairMeasurement } from './view';

export function partitionReport(before: ControllerView, after: ControllerView | undefined, victim: string, keyCounts: Map<number, number>, traffic: RepairTraffic, repairedAt: Map<number, number>, downAt: number | undefined): PartitionRepair[] {
  const rows: PartitionRepair[] = [];
  for (const partition of before.partitions) {
    const lost = partition.replicas.filter((replica) => replica.node === victim);
    if (lost.length === 0) continue;
    const final = after?.partitions.find((candidate) => candidate.id === partition.id);
    const known = new Set(partition.replicas.map((replica) => replica.replica));
    const added = (final?.replicas ?? []).filter((replica) => !known.has(replica.replica));
    const moved = added.map((replica) => traffic.replica(partition.id, replica.replica));
    const sum = (pick: (row: ReturnType<RepairTraffic['replica']>) => number): number => moved.reduce((total, row) => total + pick(row), 0);
    const at = repairedAt.get(partition.id);
    rows.push({
      partition: partition.id,
      keys: keyCounts.get(partition.id) ?? null,
      lost: lost.map((replica) => `${replica.node}:${replica.replica}`).join(' '),
      added: added.map((replica) => `${replica.node}:${replica.replica}${replica.role === 'voter' ? '' : `(${replica.role})`}`).join(' ') || '(none)',
      repairedAfterDownMs: at === undefined || downAt === undefined ? null : Math.round(at - downAt),
      appendEntries: sum((row) => row.appendEntries),
      distinctEntries: sum((row) => row.distinctEntries),
      raftMiB: mib(sum((row) => row.raftBytes)),
      snapshotMiB: mib(sum((row) => row.snapshotBytes)),
      snapshotPairs: sum((row) => row.snapshotPairs),
    });
  }
  return rows;
}

export function mib(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 100) / 100;
}


export function printRepairReport(document: Record<string, unknown>, measurement: RepairMeasurement | undefined): void {
  console.log(JSON.stringify(document, null, 2));
  const loaded = document.load as LoadResult | undefined;
  const verified = document.verify as (VerifyResult & { all: boolean }) | undefined;
  const seconds = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '-' : (ms / 1000).toFixed(1));
  printTable(String(document.title), [
    {
      keys: loaded?.keys ?? '-',
      'load s': loaded?.seconds ?? '-',
      'load keys/s': loaded?.keysPerSecond ?? '-',
      killed: measurement === undefined ? '-' : `${measurement.victim} (${measurement.victimReplicas} replicas)`,
      controller: measurement?.controller ?? '-',
      't_down s': seconds(measurement?.downAfterKillMs),
      't_repair s': seconds(measurement?.repairAfterDownMs),
      'first whole s': seconds(measurement?.firstWholeAfterDownMs),
      flaps: measurement?.flaps ?? '-',
      'kill->repaired s': seconds(measurement?.repairedAfterKillMs),
      'balanced s': seconds(measurement?.balancedAfterDownMs),
      'read back': verified === undefined ? '-' : `${verified.ok}/${verified.checked}${verified.all ? '' : ' (sample)'}`,
    },
  ]);
  if (measurement !== undefined && measurement.partitions.length > 0) {
    printTable('partitions that lost a replica (traffic = what went to the new replica)', measurement.partitions.map((row) => ({
      partition: row.partition,
      keys: row.keys ?? '-',
      lost: row.lost,
      'new replica': row.added,
      'whole after down s': seconds(row.repairedAfterDownMs),
      'entries sent': row.appendEntries,
      distinct: row.distinctEntries,
      'raft MiB': row.raftMiB.toFixed(2),
      'snapshot MiB': row.snapshotMiB.toFixed(2),
      'snapshot pairs': row.snapshotPairs,
    })));
  }
  if (document.error !== undefined) console.log(`\nFAILED: ${String(document.error).split('\n')[0]}`);
  if (verified !== undefined && verified.ok !== verified.checked) console.log(`\nread-back problems: ${verified.samples.join(' | ')}`);
}

