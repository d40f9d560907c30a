// From a validated public request to the command a Raft entry carries.

import { KvRequest } from '../../bus/protocol';
import { KvCommand } from '../../storage';

export type WriteRequest = Extract<KvRequest, { op: 'put' | 'del' | 'cas' }>;

export function isWrite(request: KvRequest): request is WriteRequest {
  return request.op === 'put' || request.op === 'del' || request.op === 'cas';
}

export function commandOf(request: WriteRequest): KvCommand {
  switch (request.op) {
    case 'put':
      return { op: 'put', key: request.key, value: request.value };
    case 'del':
      return { op: 'del', key: request.key };
    case 'cas':
      return 'revision' in request.expected
        ? { op: 'cas', key: request.key, value: request.value, expectedRevision: request.expected.revision }
        : { op: 'cas', key: request.key, value: request.value, expectedValue: request.expected.value };
  }
}
