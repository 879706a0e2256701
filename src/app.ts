/**
 * buildApp wires stores, metrics, waiters and routes into a Fastify app that does not listen.
 * src/server.ts owns config, the database file, signals and listen; tests call buildApp directly.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, {
  LogController,
  type FastifyInstance,
  type RawServerDefault,
  type onResponseHookHandler,
  type RouteOptions,
} from 'fastify';
import sensible from '@fastify/sensible';
import swagger from '@fastify/swagger';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Config } from './config.js';
import type { AppContext } from './context.js';
import type { Checkpointer } from './db/checkpointer.js';
import type { Db } from './db/database.js';
import { createWalSync } from './db/wal-sync.js';
import { createCommitEffects, type Changes } from './ingest/commit-effects.js';
import { createGroupCommitter } from './ingest/group-commit.js';
import { createWaiters } from './ingest/waiters.js';
import { createLogger, lazyChildLogger, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { createPacer } from './ingest/pacing.js';
import { errorsPlugin } from './plugins/errors.js';
import { securityHeaders } from './plugins/security-headers.js';
import { createRetention, type Retention } from './retention.js';
import { cloudInitRoutes } from './routes/cloud-init.js';
import { healthRoutes } from './routes/health.js';
import { hostRoutes } from './routes/hosts.js';
import { fleetRoutes } from './routes/fleet.js';
import { metricsRoutes } from './routes/metrics.js';
import { openapiRoutes } from './routes/openapi.js';
import { pageRoutes } from './routes/pages.js';
import { runRoutes } from './routes/runs.js';
import { historyRoutes } from './routes/history.js';
import { webhookRoutes } from './routes/webhook.js';
import { createGaugeStore } from './store/gauge-store.js';
import { createHealthStore } from './store/health-store.js';
import { createIngestStore } from './store/ingest-store.js';
import { createQueryStore } from './store/query-store.js';
import { createHistoryStore } from './store/history-store.js';
import { createRetentionStore } from './store/retention-store.js';
import { createFleetStore } from './store/fleet-store.js';
import { statusParams } from './store/status-sql.js';
import { createFleetView } from './fleet/fleet-view.js';
import { createProxmoxDiscovery } from './fleet/proxmox-discovery.js';

export interface AppDeps {
  /** An open, migrated database (see src/db). The app does not close it. */
  db: Db;
  /** The database's checkpoint thread, if one runs (src/server.ts starts it); its work is metered. */
  checkpointer?: Checkpointer;
  logger?: Logger;
  clock?: () => number;
  /** Group commit on (default); the benchmark turns it off to measure the naive baseline. */
  groupCommit?: boolean;
  /** Sees every route as it is registered (tests check the OpenAPI description covers them all). */
  onRoute?: (route: RouteOptions) => void;
}

declare module 'fastify' {
  interface FastifyInstance {
    ctx: AppContext;
    retention: Retention;
  }
}

/** A hop count trusts that many proxies nearest to us (Fastify's types take it as a function). */
function trustProxyOption(v: Config['trustProxy']): boolean | string[] | ((addr: string, hop: number) => boolean) {
  return typeof v === 'number' ? (_addr, hop) => hop < v : v;
}

export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;

const REQUEST_ID = /^[\w.:-]{1,64}$/;

/** Request ids unique per process: a random boot prefix and a counter, cheaper than a UUID each. */
const bootId = randomUUID().slice(0, 8);
let requestCounter = 0;
const nextRequestId = () => `${bootId}-${(requestCounter++).toString(36)}`;

export async function buildApp(config: Config, deps: AppDeps): Promise<App> {
  const clock = deps.clock ?? Date.now;
  const logger = deps.logger ?? createLogger(config.logLevel);
  const app = Fastify<RawServerDefault, IncomingMessage, ServerResponse, Logger>({
    loggerInstance: logger,
    // Access lines for every ingest at fleet rates would drown the journal; failures are logged
    // by the error handler, and completed requests at debug below.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: trustProxyOption(config.trustProxy),
    bodyLimit: config.bodyLimit,
    // 72 s (Fastify's default) outlasts the longest pacing linger (60 s), so a paced VM keeps its
    // connection between deliveries and the receiver needs no accept per request, which is what
    // holds it up past capacity. That costs a descriptor per VM (the unit allows 65,536); shorter
    // frees them between deliveries, but at 2x capacity the accepts it needs overflowed the listen
    // queue (README, Performance).
    keepAliveTimeout: config.keepAliveMs,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : nextRequestId();
    },
    // Fastify hands back the pino logger it was given; its type here is the narrower base interface.
    childLoggerFactory: (parent, bindings, options) => lazyChildLogger(parent as Logger, bindings, options),
    // Paths carry identities of up to 253 characters (a hostname); the default of 100 answered 414.
    // 1024 leaves room for one percent-encoded in full.
    routerOptions: { maxParamLength: 1024 },
    // Long-polls may hold a connection for up to WEBHOOK_MAX_WAIT_SECONDS.
    requestTimeout: (config.maxWaitSeconds + 30) * 1000,
  });

  const db = deps.db;
  const walSync = config.durability === 'full' && config.dbPath !== ':memory:' ? createWalSync(config.dbPath) : undefined;
  const waiters = createWaiters();
  const fleet = createFleetStore(db);
  // The clock and thresholds every status query binds; `since` only for waits.
  const params = (since = 0) =>
    statusParams({
      now: clock(),
      since,
      staleAfterMs: config.staleAfterMs,
      expectGraceMs: config.expectGraceMs,
      outOfSyncGraceMs: config.outOfSyncGraceMs,
    });
  const gauges = createGaugeStore(db, () => params());
  const pacer = createPacer({ rate: config.pacingRate, maxMs: config.pacingMaxMs, clock });
  const metrics = createMetrics({ gauges, dbPath: config.dbPath, waiting: () => waiters.size, pacer });
  deps.checkpointer?.observe(metrics.walCheckpoints);
  const ingest = createIngestStore(db);
  const query = createQueryStore(db, () => params());
  const changes: Changes = new EventEmitter();
  const effects = createCommitEffects({ metrics, waiters, changes });
  const ctx: AppContext = {
    config,
    ingest,
    health: createHealthStore(db),
    query,
    history: createHistoryStore(db),
    fleet,
    fleetView: createFleetView(config, fleet, query, params),
    waiters,
    metrics,
    clock,
    pacer,
    closing: { value: false },
    changes,
    effects,
    committer: createGroupCommitter(ingest, {
      grouping: deps.groupCommit ?? true,
      // Node accepts one connection per turn of its event loop (libuv 1.45+), so a turn that also
      // commits caps how fast new connections are taken; a commit at most every 5 ms leaves most
      // turns to accepting and parsing. See README, Performance.
      minGapMs: 5,
      ...(walSync ? { sync: walSync.sync } : {}),
      onCommit: effects.eventsCommitted,
    }),
  };
  app.decorate('ctx', ctx);
  app.server.on('connection', () => metrics.connections.inc());
  // Route schemas are the zod schemas of src/protocol: they validate requests and serialize answers.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  if (deps.onRoute) app.addHook('onRoute', deps.onRoute);
  app.addHook('onRoute', (route) => {
    const count = metrics.requests.forRoute(route.url);
    const counted: onResponseHookHandler = (request, reply, done) => {
      count(request.method, reply.statusCode);
      done();
    };
    route.onResponse = [...[route.onResponse ?? []].flat(), counted];
  });
  // Its reply.cacheControl and staticCache set every Cache-Control header the service sends.
  await app.register(sensible);
  await app.register(errorsPlugin);
  await app.register(securityHeaders);

  // Building the debug line's fields costs even when pino drops it, so decide once.
  const debug = logger.isLevelEnabled('debug');
  // Every route counts its own answers (webhook_http_requests_total), so the hot path asks no
  // label set of prom-client and builds no route options object; unmatched requests are counted
  // by the one hook every request passes through.
  const unmatched = metrics.requests.forRoute('unmatched');
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) unmatched(request.method, reply.statusCode);
    if (debug)
      request.log.debug({ route: request.routeOptions.url, statusCode: reply.statusCode, ms: reply.elapsedTime }, 'request completed');
    done();
  });

  const retention = createRetention({
    store: createRetentionStore(db),
    retentionDays: config.retentionDays,
    retentionUnchangedDays: config.retentionUnchangedDays,
    intervalMs: config.pruneIntervalMs,
    clock,
    logger,
  });
  app.decorate('retention', retention);
  app.addHook('onReady', async () => retention.start());
  // Shutdown: refuse new work, answer every waiting long-poll now, write what is queued.
  app.addHook('preClose', async () => {
    ctx.closing.value = true;
    retention.stop();
    waiters.wakeAll();
    ctx.committer.flushNow();
  });

  app.addHook('onClose', async () => walSync?.close());

  // Proxmox discovery keeps the discovered part of the expected fleet current.
  const discovery =
    config.proxmox &&
    createProxmoxDiscovery({
      config: config.proxmox,
      logger,
      registry: metrics.registry,
      clock,
      onInventory: (vms) => {
        fleet.discover(vms, clock());
        effects.fleetChanged();
      },
    });
  if (discovery) {
    app.addHook('onReady', async () => discovery.start());
    app.addHook('preClose', async () => discovery.stop());
  }

  // Before the routes, so that it sees each one's schema as it is added.
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'webhook-receiver', description: 'Status receiver for ansible-pull runs on a Proxmox fleet', version: '1' },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(healthRoutes, { ctx });
  await app.register(webhookRoutes, { ctx });
  await app.register(cloudInitRoutes, { ctx });
  await app.register(runRoutes, { ctx });
  await app.register(historyRoutes, { ctx });
  await app.register(hostRoutes, { ctx });
  await app.register(fleetRoutes, { ctx });
  await app.register(metricsRoutes, { ctx });
  await app.register(pageRoutes, { ctx });
  await app.register(openapiRoutes, { ctx });
  return app;
}
