import { expect } from 'chai';
import { addStudents, startTestServer, type TestServer } from '../test/support.ts';

describe('/metrics (Prometheus)', function () {
  this.timeout(120_000);
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
    await addStudents(s.system, ['mia']);
  });
  after(async () => { s?.close(); await s?.cleanup(); });

  it('counts requests by route pattern, errors by code, workspace execs, and reports the queue and workspaces', async () => {
    await fetch(`${s.base}/login`);
    await fetch(`${s.base}/no/such/page`, { headers: { accept: 'application/json' } });
    await s.system.sandbox.workspaces.exec('mia', { argv: ['true'] });
    const res = await fetch(`${s.base}/metrics`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/plain/);
    const text = await res.text();
    expect(text).to.match(/^outpost_http_request_duration_seconds_count\{method="GET",route="\/login",status="2xx"\} [1-9]/m);
    expect(text).to.match(/^outpost_errors_total\{code="NOT_FOUND"\} [1-9]/m);
    expect(text).to.match(/^outpost_exec_duration_seconds_count [1-9]/m);
    expect(text).to.match(/^outpost_grading_queue_depth\{state="queued"\} 0/m);
    expect(text).to.match(/^outpost_workspaces\{state="running"\} 1/m);
    expect(text).to.match(/^outpost_process_resident_memory_bytes [1-9]/m);
    // Never a raw path as a label: one series per route, not per URL.
    expect(text).to.not.include('/no/such/page');
  });
});
