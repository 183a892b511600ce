/**
 * Prometheus metrics, all named `outpost_…`, on one registry per process (no global default
 * registry, so tests and several systems in one process never mix their numbers). Modules do not
 * import this: the composition root hands them small hooks (`onExec`, `onResult`) and registers
 * gauges that read the current state when scraped.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  httpRequest(method: string, route: string, status: number, seconds: number): void;
  error(code: string): void;
  exec(seconds: number): void;
  graded(seconds: number, status: string): void;
  /** A gauge whose values are read when scraped. */
  gauge(name: string, help: string, labelNames: string[], read: () => Promise<{ labels: Record<string, string>; value: number }[]> | { labels: Record<string, string>; value: number }[]): void;
  text(): Promise<string>;
  contentType: string;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'outpost_' });
  const http = new Histogram({ name: 'outpost_http_request_duration_seconds', help: 'HTTP requests by method, route pattern and status class', labelNames: ['method', 'route', 'status'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers: [registry] });
  const errors = new Counter({ name: 'outpost_errors_total', help: 'Errors answered, by stable error code', labelNames: ['code'], registers: [registry] });
  const exec = new Histogram({ name: 'outpost_exec_duration_seconds', help: 'Commands run in workspaces through the agent, start to exit', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 120], registers: [registry] });
  const grading = new Histogram({ name: 'outpost_grading_duration_seconds', help: 'Grading runs, by result status', labelNames: ['status'], buckets: [0.5, 1, 2, 5, 10, 20, 60, 300], registers: [registry] });
  return {
    registry,
    httpRequest(method, route, status, seconds) {
      http.observe({ method, route, status: `${Math.floor(status / 100)}xx` }, seconds);
    },
    error(code) {
      errors.inc({ code });
    },
    exec(seconds) {
      exec.observe(seconds);
    },
    graded(seconds, status) {
      grading.observe({ status }, seconds);
    },
    gauge(name, help, labelNames, read) {
      new Gauge({
        name, help, labelNames, registers: [registry],
        async collect() {
          this.reset();
          for (const { labels, value } of await read()) this.set(labels, value);
        },
      });
    },
    text: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
