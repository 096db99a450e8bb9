import client from 'prom-client';
import { createToken, type Token } from '../di.js';

/** The server's Prometheus registry: plugins add their own metrics to it (absent in CLI commands). */
export const MetricsRegistryToken: Token<client.Registry> = createToken<client.Registry>('kernel.metrics');

/** Prometheus metrics for one server: its own registry, so tests can run several. */
export class Metrics {
  readonly registry = new client.Registry();
  readonly requests: client.Counter<'method' | 'route' | 'status'>;
  readonly latency: client.Histogram<'method' | 'route'>;
  readonly pluginState: client.Gauge<'plugin' | 'state'>;

  constructor() {
    this.requests = new client.Counter({
      name: 'gridflex_http_requests_total',
      help: 'HTTP requests by method, matched route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.latency = new client.Histogram({
      name: 'gridflex_http_request_duration_seconds',
      help: 'HTTP request latency by method and matched route',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.pluginState = new client.Gauge({
      name: 'gridflex_plugin_state',
      help: 'Plugin state: 1 for the state the plugin is in, 0 otherwise',
      labelNames: ['plugin', 'state'],
      registers: [this.registry],
    });
    client.collectDefaultMetrics({ register: this.registry, prefix: 'gridflex_' });
  }
}
