// Type declarations of pg-duroxide (index.js).  Keep in step with lib/*.js.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** How to connect: a connection string, or node-postgres options. */
export interface ConnectionOptions {
  connectionString?: string;
  /** node-postgres ClientConfig (host, port, user, database, password, ssl, ...). */
  connection?: { [option: string]: unknown };
}

export interface ClientOptions extends ConnectionOptions {
  /** Use this pool instead of making one (close() then leaves it open). */
  pool?: { query(text: string, params?: unknown[]): Promise<{ rows: any[] }>; options?: object };
  /** Connections of the pool the Client makes (default 10). */
  poolSize?: number;
}

export type OrchestrationStatusName = 'Running' | 'Completed' | 'Failed' | 'Cancelled' | 'Suspended' | 'NotFound';

export interface OrchestrationStatus {
  instanceId: string;
  orchestrationName: string | null;
  orchestrationVersion: string | null;
  status: OrchestrationStatusName;
  output: Json | null;
  error: string | null;
  customStatus: Json | null;
  executionId: number | null;
  createdAt: Date | null;
  updatedAt: Date | null;
  parentInstanceId: string | null;
}

export interface HistoryEvent {
  eventId: number | string;
  eventType: string;
  sourceEventId: number | string | null;
  createdAt: Date;
  data: Json | null;
}

export interface SystemMetrics {
  totalInstances: number;
  runningInstances: number;
  completedInstances: number;
  failedInstances: number;
  cancelledInstances: number;
  [key: string]: Json;
}

export interface QueueDepths {
  orchestratorQueue: number;
  workerQueue: number;
  timerQueue: number;
}

export class Client {
  constructor(options?: ClientOptions);
  startOrchestration(instanceId: string, name: string, input?: Json, version?: string | null): Promise<string>;
  startOrchestrationVersioned(instanceId: string, name: string, input: Json | undefined, version: string): Promise<string>;
  waitForOrchestration(instanceId: string, timeoutMs?: number): Promise<OrchestrationStatus>;
  getOrchestrationStatus(instanceId: string): Promise<OrchestrationStatus>;
  getStatus(instanceId: string): Promise<OrchestrationStatus>;
  raiseEvent(instanceId: string, eventName: string, data?: Json): Promise<void>;
  cancelOrchestration(instanceId: string, reason?: string | null): Promise<void>;
  deleteInstance(instanceId: string, options?: { force?: boolean } | boolean): Promise<void>;
  getHistory(instanceId: string, executionId?: number): Promise<HistoryEvent[]>;
  getSystemMetrics(): Promise<SystemMetrics>;
  getQueueDepths(): Promise<QueueDepths>;
  close(): Promise<void>;
}

export type TraceLevel = 'debug' | 'info' | 'warn' | 'error';

/** Receives ctx.traceInfo/... lines; the default writes them to the console with the task's prefix. */
export type TraceSink = (level: TraceLevel, message: string, ctx: ActivityContext) => void;

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface WorkerOptions extends ConnectionOptions {
  /** Task queue to register the activities on and claim from (default 'default'). */
  taskQueue?: string;
  /** Handlers running at once (default 8). */
  concurrency?: number;
  /** Lease length in ms (default 30000); extended every heartbeatIntervalMs while a handler runs. */
  leaseMs?: number;
  /** Heartbeat period in ms (default leaseMs / 3). */
  heartbeatIntervalMs?: number;
  /** How long one claim waits in the database for a task (long poll, default 5000). */
  pollWaitMs?: number;
  /** Default bound of shutdown()'s wait for running handlers (default 30000). */
  shutdownTimeoutMs?: number;
  /** Worker id recorded with each lease (default host:pid:random). */
  workerId?: string;
  /** start() registers each activity as external on taskQueue (default true). */
  register?: boolean;
  /** Connections of the reporting pool (default min(4, concurrency) + 1); claiming has its own. */
  poolSize?: number;
  /** Reporting statements in flight at once (default 2); outcomes arriving meanwhile go together in the next one. */
  reportConcurrency?: number;
  /** Reconnect backoff (defaults 100 ms doubling up to 5000 ms, with jitter). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number; factor?: number };
  /** Where ctx.traceX lines go (default: console). */
  traceSink?: TraceSink;
  /** Lowest trace level passed to the sink (default 'info': traceDebug is dropped). */
  logLevel?: TraceLevel;
  /** The worker's own messages (reconnects, lost leases); default console. */
  logger?: Logger;
  /** Opt-in: call shutdown() on these signals (true: SIGTERM and SIGINT). Default: none. */
  handleSignals?: boolean | string[];
}

export class ActivityContext {
  readonly instanceId: string;
  readonly executionId: number;
  readonly orchestrationName: string;
  readonly orchestrationVersion: string;
  readonly activityName: string;
  readonly activityId: number;
  readonly attempt: number;
  readonly workerId: string;
  readonly taskId: number;
  readonly taskQueue: string;
  /** Aborted when the task is cancelled, withdrawn, timed out, its lease lost, or at shutdown. */
  readonly signal: AbortSignal;
  readonly leaseExpiresAt: Date;
  traceInfo(message: string): void;
  traceWarn(message: string): void;
  traceError(message: string): void;
  traceDebug(message: string): void;
  /** Extend the lease now; false (and signal aborted) when the task is no longer this worker's. */
  heartbeat(): Promise<boolean>;
  isCancelled(): boolean;
}

export type ActivityHandler = (ctx: ActivityContext, input: any) => unknown | Promise<unknown>;

export interface WorkerStats {
  running: number;
  claimed: number;
  completed: number;
  failed: number;
  released: number;
  lost: number;
  reconnects: number;
  /** claim_tasks calls made */
  claimCalls: number;
  /** statements that reported outcomes (each one or more complete_task / fail_task calls in one transaction) */
  reportCalls: number;
}

export class Worker {
  constructor(options?: WorkerOptions);
  readonly workerId: string;
  readonly taskQueue: string;
  readonly stats: WorkerStats;
  registerActivity(name: string, handler: ActivityHandler): this;
  start(): Promise<void>;
  shutdown(options?: { timeoutMs?: number }): Promise<void>;
}

export class TaskAbortedError extends Error {
  readonly reason: 'lost' | 'shutdown';
}

export type DuroxideErrorKind = 'connection' | 'missing_extension' | 'permission' | 'database';

export class DuroxideError extends Error {
  /** SQLSTATE when the database raised it. */
  readonly code?: string;
  readonly kind: DuroxideErrorKind;
  readonly hint?: string;
  readonly detail?: string;
}

export function isConnectionError(err: unknown): boolean;
