// Tests start their own nats-server processes (never the shared one on port 4222): the
// implementation lives in bus/natsServerProcess.ts because `cairn up` and the benchmark use it too.
export * from '../../bus/natsServerProcess';
