/** The public entry of the kernel: what plugins and adapters import. */
export * from './errors.js';
export * from './di.js';
export * from './log.js';
export * from './plugin/define.js';
export { PluginHost, PluginHostToken, type PluginStatus, type PluginState, type Mount, type BootProblem, type KernelService } from './plugin/host.js';
export * from './config/validate.js';
export * from './ports/storage.js';
export * from './ports/timeseries.js';
export * from './ports/scheduler.js';
export * from './domain/quantities.js';
export * from './datadir-lock.js';
export { PROBLEM_CONTENT_TYPE, problemType, toProblem, type ProblemDetails } from './http/problem.js';
export { MetricsRegistryToken } from './http/metrics.js';
export { access, type AccessRule } from './http/access.js';
export { invalidParam, oneParam, validBody, type Query } from './http/query.js';
export * from './ports/devices.js';
export { default as Router } from '@koa/router';
export * from './ports/ledger.js';
