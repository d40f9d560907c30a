// The simulator's state machine commands and snapshots: a key-value register per key.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeWrite(key: string, value: string): Uint8Array {
  return encoder.encode(`${key}\u0000${value}`);
}

export function decodeWrite(data: Uint8Array): { key: string; value: string } {
  const text = decoder.decode(data);
  const separator = text.indexOf('\u0000');
  if (separator < 0) throw new Error('malformed simulated write');
  return { key: text.slice(0, separator), value: text.slice(separator + 1) };
}

export function encodeSnapshot(kv: Map<string, string>): Uint8Array {
  return encoder.encode(JSON.stringify([...kv]));
}

export function decodeSnapshot(data: Uint8Array): Map<string, string> {
  return new Map(JSON.parse(decoder.decode(data)) as [string, string][]);
}
