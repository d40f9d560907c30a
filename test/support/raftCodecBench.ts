// Throughput of the Raft codec against msgpackr (Packr with records), on the message that dominates
// replication traffic: an Append carrying 64 entries of 100 bytes.
// Run: npx tsc -p . && node dist/test/support/raftCodecBench.js

import { Packr } from 'msgpackr';
import { EntryType, MessageType } from '../../actors/raft/types';
import type { Message } from '../../actors/raft/types';
import { decodeMessage, encodeMessage } from '../../bus/raftCodec';

export function appendWithEntries(entryCount: number, entryBytes: number): Message {
  const entries = [];
  for (let i = 0; i < entryCount; i++) {
    const data = new Uint8Array(entryBytes);
    for (let j = 0; j < entryBytes; j++) data[j] = (i * 31 + j) & 0xff;
    entries.push({ term: 7, index: 1000 + i, type: EntryType.Normal, data });
  }
  return { type: MessageType.Append, from: 1, to: 2, term: 7, logTerm: 7, index: 999, commit: 990, entries };
}

export interface Throughput {
  name: string;
  messagesPerSecond: number;
  frameBytes: number;
}

/** Runs encode+decode round trips for about `durationMs` and reports the rate. */
export function measure(name: string, roundTrip: () => number, durationMs: number): Throughput {
  for (let i = 0; i < 2000; i++) roundTrip(); // warm up the JIT before timing
  let count = 0;
  let frameBytes = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(durationMs) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 500; i++) frameBytes = roundTrip();
    count += 500;
    elapsed = process.hrtime.bigint() - start;
  }
  return { name, messagesPerSecond: Math.round((count * 1e9) / Number(elapsed)), frameBytes };
}

export function runCodecBench(durationMs = 1000): Throughput[] {
  const message = appendWithEntries(64, 100);
  const packr = new Packr({ useRecords: true, copyBuffers: true });
  return [
    measure('cairn raftCodec (hand-laid)', () => {
      const bytes = encodeMessage(message);
      decodeMessage(bytes);
      return bytes.byteLength;
    }, durationMs),
    measure('msgpackr Packr useRecords', () => {
      const bytes = packr.pack(message);
      packr.unpack(bytes);
      return bytes.byteLength;
    }, durationMs),
  ];
}

if (require.main === module) {
  for (const result of runCodecBench()) {
    console.log(`${result.name}: ${result.messagesPerSecond} msg/s encode+decode, frame ${result.frameBytes} bytes`);
  }
}
