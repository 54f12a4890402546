// Child of crosscheck_official_clients.py: list with the official JS client.
//
//   node scripts/crosscheck_js.mjs JS_DIR < spec.json
//
// JS_DIR is a folder where `npm install @northflank/js-client` was run. The spec (JSON on
// stdin) gives the base URL, token, ids, and the listings and gets to do; the answer is one
// JSON object on stdout: {"client", "version", "results": {name: items or item}}, each item
// being the client's `response.data` as it came (the raw wire JSON). Any failure is a
// message on stderr and exit status 1.
//
// Listings use the client's own pagination helpers: `.all()` (walk "all"), or
// `response.pagination.getNextPage()` while `hasNextPage` (walk "pages").

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const MAX_PAGES = 100; // a walk that goes on longer has lost its way
const jsDir = resolve(process.argv[2] ?? '.');
const require = createRequire(join(jsDir, 'crosscheck.cjs'));
const { ApiClient, ApiClientInMemoryContextProvider } = require('@northflank/js-client');
const version = JSON.parse(
  readFileSync(join(jsDir, 'node_modules', '@northflank', 'js-client', 'package.json'), 'utf8'),
).version;

const KEYS = { notifications: 'notificationIntegrations' }; // a list's key, when not its resource

function parameters(spec, team, extra = {}, project = true) {
  const ids = project ? { projectId: spec.project, ...extra } : { ...extra };
  if (team) ids.teamId = spec.team;
  return ids;
}

function paged(api, resource) {
  // Names read from the client's api-client.d.ts: `list.jobs`, `get.job.runs`, `get.job.builds`.
  if (resource === 'jobs') return api.list.jobs;
  if (resource === 'runs') return api.get.job.runs;
  if (resource === 'builds') return api.get.job.builds;
  if (resource === 'notifications') return api.list.notifications;
  throw new Error(`unknown resource ${resource}`);
}

function unwrap(data, key) {
  if (data === null || typeof data !== 'object' || !Array.isArray(data[key])) {
    throw new Error(`expected data.${key} to be a list, got ${JSON.stringify(data).slice(0, 200)}`);
  }
  return data[key];
}

async function listing(api, spec, item) {
  const owned = item.resource !== 'jobs' && item.resource !== 'notifications';
  const extra = owned ? { jobId: spec.job } : {};
  const request = { parameters: parameters(spec, item.team, extra, item.resource !== 'notifications') };
  const key = KEYS[item.resource] ?? item.resource;
  if (item.per_page !== null) request.options = { per_page: item.per_page };
  const call = paged(api, item.resource);
  if (item.walk === 'all') {
    const response = await call.all(request);
    if (response.error) throw new Error(`HTTP ${response.error.status}: ${response.error.message}`);
    return unwrap(response.data, key);
  }
  let response = await call(request);
  const items = [...unwrap(response.data, key)];
  for (let pages = 1; response.pagination?.hasNextPage; pages += 1) {
    if (pages >= MAX_PAGES) throw new Error(`${item.name}: still a next page after ${MAX_PAGES} pages`);
    response = await response.pagination.getNextPage();
    items.push(...unwrap(response.data, key));
  }
  return items;
}

async function get(api, spec, item) {
  if (item.resource === 'notification') {
    const ids = parameters(spec, item.team, { notificationId: item.id }, false);
    return (await api.get.notification({ parameters: ids })).data;
  }
  if (item.resource === 'job') {
    return (await api.get.job({ parameters: parameters(spec, item.team, { jobId: spec.job }) })).data;
  }
  if (item.resource === 'run') {
    const ids = parameters(spec, item.team, { jobId: spec.job, runId: item.id });
    return (await api.get.job.run({ parameters: ids })).data;
  }
  if (item.resource === 'build') {
    const ids = parameters(spec, item.team, { jobId: spec.job, buildId: item.id });
    return (await api.get.job.build({ parameters: ids })).data;
  }
  throw new Error(`unknown resource ${item.resource}`);
}

function wireLine(line) {
  return { containerId: line.containerId, log: line.log, ts: line.ts.toISOString() };
}

// One build's log: a range with `get.job.buildLogs` (one request: the client does not continue
// a truncated answer) and a live tail with `get.job.buildLogTail`, read until it has as many
// lines as the fake holds, then stopped.
async function logs(api, spec) {
  const wanted = spec.logs;
  const parameters = { projectId: wanted.project, jobId: spec.job };
  const range = await api.get.job.buildLogs({
    parameters,
    options: { buildId: wanted.build_id, startTime: new Date(wanted.start), lineLimit: wanted.line_limit },
  });
  if (range.error) throw new Error(`buildLogs: HTTP ${range.error.status}: ${range.error.message}`);
  const tail = await api.get.job.buildLogTail({
    parameters,
    options: { buildId: wanted.build_id, lineLimit: wanted.line_limit },
  });
  const lines = [];
  let timer;
  const enough = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`buildLogTail: ${lines.length} lines after 10 s`)), 10000);
    tail.on('logs-received', (batch) => {
      lines.push(...batch.map(wireLine));
      if (lines.length >= wanted.lines) resolve();
    });
    tail.on('error', (error) => reject(new Error(`buildLogTail: ${error?.message ?? error}`)));
  });
  const session = tail.start();
  try {
    await enough;
  } finally {
    clearTimeout(timer);
    await tail.stop().catch(() => {});
    await session.catch(() => {});
  }
  return { range: range.data.map(wireLine), tail: lines };
}

async function main() {
  const spec = JSON.parse(readFileSync(0, 'utf8'));
  const provider = new ApiClientInMemoryContextProvider();
  provider.addContext({ name: 'crosscheck', token: spec.token, host: spec.base_url });
  const api = new ApiClient(provider, { throwErrorOnHttpErrorCode: true });
  const results = {};
  for (const item of spec.listings) results[item.name] = await listing(api, spec, item);
  for (const item of spec.gets) results[item.name] = await get(api, spec, item);
  if (spec.logs) {
    const read = await logs(api, spec);
    results['logs range'] = read.range;
    results['logs tail'] = read.tail;
  }
  process.stdout.write(JSON.stringify({ client: 'js-client', version, results }));
}

main().catch((error) => {
  process.stderr.write(`the official JS client failed: ${error?.message ?? error}\n`);
  process.exit(1);
});
