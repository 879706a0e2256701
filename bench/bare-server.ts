/**
 * The baseline: a bare Fastify route that parses the same JSON body and answers 202, without
 * validating or storing. The receiver's ingest figures are ratios against this, measured in the same run.
 */
import Fastify, { type FastifyReply } from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
app.post('/webhook', async (_request, reply) => reply.code(202).send({ accepted: true }));
app.get('/healthz', async () => ({ status: 'ok' }));

// Long-poll baseline: requests held in an array and all answered by one POST, nothing else.
const held: FastifyReply[] = [];
app.get('/hosts/:host/wait', (_request, reply) => {
  held.push(reply);
  return reply;
});
app.post('/release', async () => {
  for (const reply of held.splice(0)) void reply.send({ finished: true });
  return { released: true };
});
app.get('/metrics', async () => `webhook_waiters ${held.length}\n`);
// The receiver's backlog, so the fleet figure compares the same accept queue.
const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0), backlog: 4096 });
process.stdout.write(`${JSON.stringify({ msg: 'webhook receiver ready', address })}\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
