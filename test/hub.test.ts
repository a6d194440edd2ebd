/**
 * Model source resolution: local paths, the Hugging Face cache layout, and
 * downloads with @huggingface/hub against a mock Hub on 127.0.0.1 (never the
 * network). The mock implements only the endpoints the library calls for
 * resolveModelSource and fails the test on any other request:
 *   GET  /api/models/{owner}/{name}/revision/{rev}?expand=...   (modelInfo)
 *   POST /api/models/{owner}/{name}/paths-info/{rev}            (pathsInfo)
 *   GET  /{owner}/{name}/resolve/{rev}/{path}                   (fileDownloadInfo probe with Range: bytes=0-0, then the body)
 *   GET  /cdn/{sha256}                                          (where LFS files redirect, as the real Hub does)
 */
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, dirname } from 'node:path';
import type { AddressInfo } from 'node:net';
import { resolveModelSource, HubError, parseHubId, type HubProgress } from '../src/io/hub.js';
import { CandorError } from '../src/tensor/errors.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { tensor } from '../src/tensor/tensor.js';

// ------------------------------------------------------------------ environment

const ENV_KEYS = ['HF_HOME', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'XDG_CACHE_HOME', 'HF_HUB_OFFLINE', 'HF_TOKEN', 'HF_TOKEN_PATH', 'HF_ENDPOINT'];
const savedEnv = new Map(ENV_KEYS.map((k) => [k, process.env[k]]));
const root = mkdtempSync(join(tmpdir(), 'candor-hub-'));
// Isolate from the machine: no real cache, no real token, never the real Hub.
for (const k of ENV_KEYS) delete process.env[k];
process.env['HF_HOME'] = join(root, 'default-home');
process.env['HF_ENDPOINT'] = 'http://127.0.0.1:9'; // discard port: a stray request fails fast
after(() => {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(root, { recursive: true, force: true });
});

let seq = 0;
function freshDir(name: string): string {
  const d = join(root, `${name}-${++seq}`);
  mkdirSync(d, { recursive: true });
  return d;
}

function withEnv(t: TestContext, vars: Record<string, string | undefined>): void {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  t.after(() => {
    for (const [k, v] of Object.entries(old)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

async function rejectsHub(p: Promise<unknown>, ...needles: (string | RegExp)[]): Promise<HubError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HubError, `expected HubError, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    assert.ok(e instanceof CandorError);
    assert.equal(e.name, 'HubError');
    for (const n of needles) {
      if (typeof n === 'string') assert.ok(e.message.includes(n), `message lacks ${JSON.stringify(n)}: ${e.message}`);
      else assert.match(e.message, n);
    }
    return e;
  }
  assert.fail('expected a HubError');
}

// ------------------------------------------------------------------ fake repos

function safetensorsBytes(values: number[], shape: number[], name = 'w'): Buffer {
  const p = join(root, `st-${++seq}.safetensors`);
  writeSafetensors(p, { [name]: tensor(new Float32Array(values), shape) }, {});
  return readFileSync(p);
}

const sha40 = (s: string) => createHash('sha1').update(s).digest('hex');
const gitOid = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface FakeRepo {
  sha: string;
  files: Map<string, Buffer>;
  /** stored with Git LFS (weights): paths-info gives lfs.oid, resolve redirects to /cdn */
  lfs: Set<string>;
  /** when set, requests need "Authorization: Bearer <token>" (a gated repo) */
  token?: string;
  /** files whose body the mock sends in 4 chunks, 300 ms apart (to see progress) */
  slow?: Set<string>;
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v, null, 2));
const CONFIG = json({ model_type: 'llama', hidden_size: 4, num_hidden_layers: 1, vocab_size: 8 });
const TOKENIZER = json({ version: '1.0', model: { type: 'BPE', vocab: { a: 0, b: 1 }, merges: [] } });
const TOK_CONFIG = json({ bos_token: '<s>', eos_token: '</s>' });

function makeRepos(): Map<string, FakeRepo> {
  const repos = new Map<string, FakeRepo>();
  repos.set('acme/tiny', {
    sha: sha40('tiny-1'),
    files: new Map([
      ['config.json', CONFIG],
      ['generation_config.json', json({ max_new_tokens: 8 })],
      ['tokenizer.json', TOKENIZER],
      ['tokenizer_config.json', TOK_CONFIG],
      ['model.safetensors', safetensorsBytes([1, 2, 3, 4, 5, 6], [2, 3])],
      ['pytorch_model.bin', Buffer.from('pickled weights that must never be downloaded')],
      ['README.md', Buffer.from('# tiny\n')],
    ]),
    lfs: new Set(['model.safetensors', 'pytorch_model.bin']),
  });
  const shard1 = safetensorsBytes([1, 2], [2], 'a');
  const shard2 = safetensorsBytes([3, 4, 5], [3], 'b');
  repos.set('acme/sharded', {
    sha: sha40('sharded-1'),
    files: new Map([
      ['config.json', CONFIG],
      ['tokenizer.json', TOKENIZER],
      ['tokenizer_config.json', TOK_CONFIG],
      ['special_tokens_map.json', json({ eos_token: '</s>' })],
      [
        'model.safetensors.index.json',
        json({ metadata: { total_size: 20 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }),
      ],
      ['model-00001-of-00002.safetensors', shard1],
      ['model-00002-of-00002.safetensors', shard2],
      ['model.onnx', Buffer.from('other format, not downloaded')],
    ]),
    lfs: new Set(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.onnx']),
  });
  repos.set('acme/gated', {
    sha: sha40('gated-1'),
    files: new Map([
      ['config.json', CONFIG],
      ['model.safetensors', safetensorsBytes([7], [1])],
    ]),
    lfs: new Set(['model.safetensors']),
    token: 'hf_secret',
  });
  repos.set('acme/stories', {
    sha: sha40('stories-1'),
    files: new Map([
      ['stories260K.bin', Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])],
      ['tok512.bin', Buffer.from([9, 9, 9])],
      ['config.json', CONFIG],
    ]),
    lfs: new Set(['stories260K.bin']),
  });
  const big = new Float32Array(16384).map((_, i) => i % 97);
  repos.set('acme/slow', {
    sha: sha40('slow-1'),
    files: new Map([
      ['config.json', CONFIG],
      ['model.safetensors', safetensorsBytes([...big], [128, 128])],
    ]),
    lfs: new Set(['model.safetensors']),
    slow: new Set(['model.safetensors']),
  });
  repos.set('acme/pickled', {
    sha: sha40('pickled-1'),
    files: new Map([
      ['config.json', CONFIG],
      ['pytorch_model.bin', Buffer.from('pickle')],
    ]),
    lfs: new Set(['pytorch_model.bin']),
  });
  return repos;
}

// ------------------------------------------------------------------ mock Hub

interface MockHub {
  url: string;
  repos: Map<string, FakeRepo>;
  /** "METHOD path" of every request */
  log: string[];
  unexpected: string[];
  /** repo file paths whose full content was served */
  served: string[];
}

async function startHub(t: TestContext): Promise<MockHub> {
  const repos = makeRepos();
  const hub: MockHub = { url: '', repos, log: [], unexpected: [], served: [] };
  const byLfsOid = new Map<string, { repo: FakeRepo; path: string }>();
  for (const repo of repos.values()) for (const p of repo.lfs) byLfsOid.set(sha256(repo.files.get(p)!), { repo, path: p });

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      hub.unexpected.push(`${req.method} ${req.url}: handler threw ${(e as Error).message}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.requestTimeout = 5000;
  server.headersTimeout = 5000;
  server.keepAliveTimeout = 1000;

  const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const b = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': b.length, ...headers });
    res.end(b);
  };
  const readBody = (req: IncomingMessage) =>
    new Promise<string>((ok, bad) => {
      const chunks: Buffer[] = [];
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
        if (n > 1 << 20) bad(new Error('request body over 1 MiB'));
        else chunks.push(c);
      });
      req.on('end', () => ok(Buffer.concat(chunks).toString('utf8')));
      req.on('error', bad);
    });
  const unexpected = (req: IncomingMessage, res: ServerResponse, why: string) => {
    hub.unexpected.push(`${req.method} ${req.url} (${why})`);
    sendJson(res, 500, { error: `mock hub: unexpected request (${why})` });
  };
  /** the repo, or an error response (404 unknown, 401 gated without the token); null when answered */
  const repoFor = (req: IncomingMessage, res: ServerResponse, name: string): FakeRepo | null => {
    const repo = repos.get(name);
    if (!repo) {
      sendJson(res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
      return null;
    }
    if (repo.token && req.headers['authorization'] !== `Bearer ${repo.token}`) {
      sendJson(res, 401, { error: `Access to model ${name} is restricted. You must have access to it and be authenticated to access it. Please log in.` }, { 'X-Error-Code': 'GatedRepo' });
      return null;
    }
    return repo;
  };
  const revOk = (repo: FakeRepo, rev: string) => rev === 'main' || rev === repo.sha;
  const sendFile = (req: IncomingMessage, res: ServerResponse, data: Buffer, etag: string, path: string, extra: Record<string, string>, slow = false) => {
    const range = req.headers['range'];
    if (range !== undefined) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(range);
      if (!m) return unexpected(req, res, `range ${range}`);
      const a = Number(m[1]);
      const b = Math.min(Number(m[2]), data.length - 1);
      res.writeHead(206, { 'Content-Range': `bytes ${a}-${b}/${data.length}`, 'Content-Length': b - a + 1, ETag: `"${etag}"`, 'Accept-Ranges': 'bytes', ...extra });
      res.end(data.subarray(a, b + 1));
      return;
    }
    hub.served.push(path);
    res.writeHead(200, { 'Content-Length': data.length, ETag: `"${etag}"`, 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', ...extra });
    if (!slow) return void res.end(data);
    res.on('error', () => undefined); // the client may go away mid-body when a test fails
    const step = Math.ceil(data.length / 4);
    let at = 0;
    const next = () => {
      if (res.destroyed) return;
      const end = Math.min(at + step, data.length);
      res.write(data.subarray(at, end));
      at = end;
      if (at >= data.length) res.end();
      else setTimeout(next, 300);
    };
    next();
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://mock');
    const path = decodeURIComponent(url.pathname);
    hub.log.push(`${req.method} ${path}`);
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && (m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(path))) {
      const repo = repoFor(req, res, m[1]!);
      if (!repo) return;
      const expand = url.searchParams.getAll('expand');
      if (!expand.includes('sha') || !expand.includes('siblings')) return unexpected(req, res, `expand=${expand.join(',')}`);
      if (!revOk(repo, m[2]!)) return sendJson(res, 404, { error: `Invalid rev id: ${m[2]}` }, { 'X-Error-Code': 'RevisionNotFound' });
      return sendJson(res, 200, {
        _id: sha40(m[1]!).slice(0, 24),
        id: m[1],
        sha: repo.sha,
        private: false,
        gated: repo.token ? 'manual' : false,
        downloads: 0,
        likes: 0,
        lastModified: '2024-01-01T00:00:00.000Z',
        siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
      });
    }
    if (req.method === 'POST' && (m = /^\/api\/models\/([^/]+\/[^/]+)\/paths-info\/(.+)$/.exec(path))) {
      const body = JSON.parse(await readBody(req)) as { paths?: unknown; expand?: unknown };
      const repo = repoFor(req, res, m[1]!);
      if (!repo) return;
      if (m[2] !== repo.sha) return unexpected(req, res, 'paths-info should be asked at the commit');
      if (!Array.isArray(body.paths)) return unexpected(req, res, 'paths-info without paths');
      const out = [];
      for (const p of body.paths as string[]) {
        const data = repo.files.get(p);
        if (!data) continue; // the Hub leaves missing paths out
        const lfs = repo.lfs.has(p) ? { oid: sha256(data), size: data.length, pointerSize: 134 } : undefined;
        out.push({
          type: 'file',
          path: p,
          oid: lfs ? sha40(`pointer ${p}`) : gitOid(data),
          size: data.length,
          ...(lfs ? { lfs } : {}),
          ...(body.expand ? { lastCommit: { id: repo.sha, title: 'upload', date: '2024-01-01T00:00:00.000Z' }, securityFileStatus: { status: 'safe' } } : {}),
        });
      }
      return sendJson(res, 200, out);
    }
    if (req.method === 'GET' && (m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path))) {
      if (m[1]!.startsWith('api/')) return unexpected(req, res, 'api path');
      const repo = repoFor(req, res, m[1]!);
      if (!repo) return;
      if (!revOk(repo, m[2]!)) return sendJson(res, 404, { error: 'Invalid rev id' }, { 'X-Error-Code': 'RevisionNotFound' });
      const data = repo.files.get(m[3]!);
      if (!data) return sendJson(res, 404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
      const common = { 'X-Repo-Commit': repo.sha };
      if (repo.lfs.has(m[3]!)) {
        const oid = sha256(data);
        res.writeHead(302, { Location: `/cdn/${oid}`, 'X-Linked-ETag': `"${oid}"`, 'X-Linked-Size': String(data.length), ...common });
        res.end();
        return;
      }
      return sendFile(req, res, data, gitOid(data), `${m[1]}/${m[3]}`, common);
    }
    if (req.method === 'GET' && (m = /^\/cdn\/([0-9a-f]{64})$/.exec(path))) {
      const hit = byLfsOid.get(m[1]!);
      if (!hit) return sendJson(res, 404, { error: 'no such object' });
      const name = [...repos].find(([, r]) => r === hit.repo)![0];
      return sendFile(req, res, hit.repo.files.get(hit.path)!, m[1]!, `${name}/${hit.path}`, {}, hit.repo.slow?.has(hit.path) ?? false);
    }
    unexpected(req, res, 'no such endpoint in the mock');
  }

  await new Promise<void>((ok, bad) => {
    server.once('error', bad);
    server.listen(0, '127.0.0.1', () => ok());
  });
  hub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.after(
    () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  );
  return hub;
}

function noUnexpected(hub: MockHub): void {
  assert.deepEqual(hub.unexpected, [], `unexpected requests to the mock Hub:\n${hub.unexpected.join('\n')}`);
}

// ------------------------------------------------------------------ cache built by hand

/** A huggingface_hub-style cache entry: blobs/<oid> + snapshots/<commit>/<file> relative links + refs. */
function buildCache(cacheRoot: string, repo: string, commit: string, files: Record<string, Buffer | string>, refs: Record<string, string> = {}): string {
  const storage = join(cacheRoot, `models--${repo.replace('/', '--')}`);
  const snap = join(storage, 'snapshots', commit);
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content);
    const blob = join(storage, 'blobs', sha256(data));
    mkdirSync(dirname(blob), { recursive: true });
    writeFileSync(blob, data);
    const link = join(snap, name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), blob), link);
  }
  mkdirSync(snap, { recursive: true });
  for (const [ref, c] of Object.entries(refs)) {
    mkdirSync(dirname(join(storage, 'refs', ref)), { recursive: true });
    writeFileSync(join(storage, 'refs', ref), c);
  }
  return snap;
}

// ------------------------------------------------------------------ tests

test('an existing local folder or file is returned as is', async () => {
  const dir = freshDir('local');
  writeFileSync(join(dir, 'config.json'), '{}');
  assert.deepEqual(await resolveModelSource(dir), { dir, kind: 'local' });
  const file = join(dir, 'config.json');
  assert.deepEqual(await resolveModelSource(file), { dir: file, kind: 'local' });
  // a local folder that happens to look like a Hub id wins over the Hub
  const nested = join(freshDir('idlike'), 'acme', 'tiny');
  mkdirSync(nested, { recursive: true });
  const cwd = process.cwd();
  process.chdir(dirname(dirname(nested)));
  try {
    assert.deepEqual(await resolveModelSource('acme/tiny', { offline: true }), { dir: 'acme/tiny', kind: 'local' });
  } finally {
    process.chdir(cwd);
  }
});

test('a string that is neither an existing path nor a Hub id is a HubError with the fix', async () => {
  for (const s of ['./no/such/folder', '/definitely/not/here', 'just-a-name', 'a/b/c', 'acme/--bad', 'acme/tiny@', 'acme/tiny@../../etc', '']) {
    await rejectsHub(resolveModelSource(s), 'does not exist', 'not a Hub id', 'Fix');
  }
  assert.deepEqual(parseHubId('Qwen/Qwen2.5-0.5B@v1.0'), { repo: 'Qwen/Qwen2.5-0.5B', owner: 'Qwen', name: 'Qwen2.5-0.5B', revision: 'v1.0' });
  assert.equal(parseHubId('owner/name.git'), null);
});

test('cache hit through refs/main under HF_HOME, and through a commit revision', async (t) => {
  const home = freshDir('home');
  withEnv(t, { HF_HOME: home, HF_HUB_OFFLINE: '1' });
  const cacheRoot = join(home, 'hub');
  const c1 = sha40('c1');
  const c2 = sha40('c2');
  const weights = safetensorsBytes([1, 2], [2]);
  const snap1 = buildCache(cacheRoot, 'acme/tiny', c1, { 'config.json': CONFIG, 'tokenizer.json': TOKENIZER, 'model.safetensors': weights }, { main: `${c1}\n` });
  const snap2 = buildCache(cacheRoot, 'acme/tiny', c2, { 'config.json': CONFIG, 'model.safetensors': weights }, { 'refs/pr/1': c2 });

  const r = await resolveModelSource('acme/tiny');
  assert.deepEqual(r, { dir: snap1, kind: 'cache', repo: 'acme/tiny', revision: 'main', commit: c1 });
  assert.equal(readFileSync(join(r.dir, 'model.safetensors')).compare(weights), 0);

  const byCommit = await resolveModelSource(`acme/tiny@${c2}`);
  assert.deepEqual(byCommit, { dir: snap2, kind: 'cache', repo: 'acme/tiny', revision: c2, commit: c2 });
  assert.equal((await resolveModelSource('acme/tiny', { revision: c2 })).dir, snap2);
  assert.equal((await resolveModelSource('acme/tiny@refs/pr/1')).commit, c2, 'refs with slashes, as huggingface_hub stores PR refs');
  await rejectsHub(resolveModelSource(`acme/tiny@${c1}`, { revision: c2 }), 'differs');

  // HF_HUB_CACHE wins over HF_HOME, and opts.cacheDir over both
  const other = freshDir('hubcache');
  const c3 = sha40('c3');
  const snap3 = buildCache(other, 'acme/tiny', c3, { 'config.json': CONFIG, 'model.safetensors': weights }, { main: c3 });
  withEnv(t, { HF_HUB_CACHE: other });
  assert.equal((await resolveModelSource('acme/tiny')).dir, snap3);
  assert.equal((await resolveModelSource('acme/tiny', { cacheDir: cacheRoot })).dir, snap1);
});

test('incomplete snapshots are not used: missing weights, missing shard, dangling link', async (t) => {
  withEnv(t, { HF_HUB_OFFLINE: '1' });
  const cacheRoot = freshDir('partial');
  const c = sha40('partial');
  const index = json({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } });
  const snap = buildCache(cacheRoot, 'acme/sharded', c, { 'config.json': CONFIG, 'model.safetensors.index.json': index, 'model-00001-of-00002.safetensors': safetensorsBytes([1], [1]) }, { main: c });
  await rejectsHub(resolveModelSource('acme/sharded', { cacheDir: cacheRoot }), 'model-00002-of-00002.safetensors', 'HF_HUB_OFFLINE');
  // the last shard arrives: usable
  buildCache(cacheRoot, 'acme/sharded', c, { 'model-00002-of-00002.safetensors': safetensorsBytes([2], [1]) });
  assert.equal((await resolveModelSource('acme/sharded', { cacheDir: cacheRoot })).dir, snap);
  // a dangling link (blob deleted) counts as missing
  rmSync(join(cacheRoot, 'models--acme--sharded', 'blobs', sha256(safetensorsBytes([2], [1]))));
  await rejectsHub(resolveModelSource('acme/sharded', { cacheDir: cacheRoot }), 'model-00002-of-00002.safetensors');
  // config.json but no weights at all
  const c2 = sha40('noweights');
  buildCache(cacheRoot, 'acme/noweights', c2, { 'config.json': CONFIG }, { main: c2 });
  await rejectsHub(resolveModelSource('acme/noweights', { cacheDir: cacheRoot }), 'model.safetensors');
  // llama2.c-style: only what files asks for
  const c3 = sha40('stories');
  const snap3 = buildCache(cacheRoot, 'acme/stories', c3, { 'stories260K.bin': Buffer.from([1]), 'tok512.bin': Buffer.from([2]) }, { main: c3 });
  assert.equal((await resolveModelSource('acme/stories', { cacheDir: cacheRoot, files: ['stories260K.bin', 'tok512.bin'] })).dir, snap3);
  await rejectsHub(resolveModelSource('acme/stories', { cacheDir: cacheRoot }), 'config.json');
});

test('offline miss is a HubError explaining the cache and the fix', async (t) => {
  const cacheRoot = freshDir('empty');
  const e1 = await rejectsHub(resolveModelSource('acme/tiny', { cacheDir: cacheRoot, offline: true }), 'acme/tiny', 'not in the local cache', 'offline', 'Fix', 'hf download acme/tiny', 'local folder');
  assert.ok(e1.message.includes(cacheRoot));
  withEnv(t, { HF_HUB_OFFLINE: 'true' });
  await rejectsHub(resolveModelSource('acme/tiny@v2', { cacheDir: cacheRoot }), 'HF_HUB_OFFLINE', '--revision v2');
});

test('download into an empty cache with the huggingface_hub layout, then resolve offline', { timeout: 30_000 }, async (t) => {
  const hub = await startHub(t);
  const cacheRoot = freshDir('dl');
  const events: HubProgress[] = [];
  const debugBefore = console.debug;
  const r = await resolveModelSource('acme/tiny', { cacheDir: cacheRoot, endpoint: hub.url, onProgress: (e) => events.push(e) });
  assert.equal(console.debug, debugBefore, 'console.debug restored');
  noUnexpected(hub);
  const repo = hub.repos.get('acme/tiny')!;
  const storage = join(cacheRoot, 'models--acme--tiny');
  assert.deepEqual(r, { dir: join(storage, 'snapshots', repo.sha), kind: 'download', repo: 'acme/tiny', revision: 'main', commit: repo.sha });
  assert.equal(readFileSync(join(storage, 'refs', 'main'), 'utf8'), repo.sha);

  const wanted = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'];
  for (const f of wanted) {
    const link = join(r.dir, f);
    assert.ok(lstatSync(link).isSymbolicLink(), `${f} is a link into blobs/`);
    const target = join(dirname(link), readlinkSync(link));
    assert.equal(dirname(target), join(storage, 'blobs'));
    assert.equal(readFileSync(link).compare(repo.files.get(f)!), 0, `${f} content`);
  }
  // blobs are named like huggingface_hub names them: sha256 for LFS files, the git oid otherwise
  assert.ok(existsSync(join(storage, 'blobs', sha256(repo.files.get('model.safetensors')!))));
  assert.ok(existsSync(join(storage, 'blobs', gitOid(CONFIG))));
  assert.ok(!existsSync(join(r.dir, 'pytorch_model.bin')) && !existsSync(join(r.dir, 'README.md')));
  assert.deepEqual([...hub.served].sort(), wanted.map((f) => `acme/tiny/${f}`).sort(), 'only the needed files were downloaded');

  const last = new Map(events.map((e) => [e.file, e]));
  assert.deepEqual([...last.keys()].sort(), [...wanted].sort());
  const st = last.get('model.safetensors')!;
  assert.equal(st.loaded, repo.files.get('model.safetensors')!.length);
  assert.equal(st.total, st.loaded);
  assert.ok(events.some((e) => e.file === 'config.json' && e.loaded === 0), 'a start event per file');

  // later: offline, no request at all
  const before = hub.log.length;
  const again = await resolveModelSource('acme/tiny', { cacheDir: cacheRoot, offline: true });
  assert.deepEqual(again, { ...r, kind: 'cache' });
  assert.equal(hub.log.length, before);
  // and online it is a cache hit too (no request)
  assert.equal((await resolveModelSource('acme/tiny', { cacheDir: cacheRoot, endpoint: hub.url })).kind, 'cache');
  assert.equal(hub.log.length, before);
});

test('sharded download: index first, then every shard it names; HF_ENDPOINT and HF_HOME from the environment', { timeout: 30_000 }, async (t) => {
  const hub = await startHub(t);
  const home = freshDir('shardhome');
  withEnv(t, { HF_HOME: home, HF_ENDPOINT: `${hub.url}/` });
  const repo = hub.repos.get('acme/sharded')!;
  const r = await resolveModelSource(`acme/sharded@${repo.sha}`);
  noUnexpected(hub);
  assert.equal(r.kind, 'download');
  assert.equal(r.dir, join(home, 'hub', 'models--acme--sharded', 'snapshots', repo.sha));
  assert.ok(!existsSync(join(home, 'hub', 'models--acme--sharded', 'refs', repo.sha)), 'no ref file for a commit revision');
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) {
    assert.equal(readFileSync(join(r.dir, f)).compare(repo.files.get(f)!), 0, f);
  }
  assert.ok(!hub.served.includes('acme/sharded/model.onnx'));
  assert.ok(hub.served.indexOf('acme/sharded/model.safetensors.index.json') < hub.served.indexOf('acme/sharded/model-00001-of-00002.safetensors'));
  withEnv(t, { HF_HUB_OFFLINE: '1' });
  assert.deepEqual(await resolveModelSource(`acme/sharded@${repo.sha}`), { ...r, kind: 'cache' });
});

test('progress is reported while a file streams in, ending at its full size', { timeout: 30_000 }, async (t) => {
  const hub = await startHub(t);
  const events: HubProgress[] = [];
  const r = await resolveModelSource('acme/slow', { cacheDir: freshDir('slow'), endpoint: hub.url, onProgress: (e) => events.push(e) });
  noUnexpected(hub);
  const size = hub.repos.get('acme/slow')!.files.get('model.safetensors')!.length;
  const st = events.filter((e) => e.file === 'model.safetensors');
  assert.ok(st.every((e) => e.total === size), 'total known from paths-info');
  assert.deepEqual(st[0], { file: 'model.safetensors', loaded: 0, total: size });
  assert.deepEqual(st.at(-1), { file: 'model.safetensors', loaded: size, total: size });
  assert.ok(st.some((e) => e.loaded > 0 && e.loaded < size), `an intermediate event (got ${st.map((e) => e.loaded).join(', ')})`);
  for (let i = 1; i < st.length; i++) assert.ok(st[i]!.loaded >= st[i - 1]!.loaded, 'loaded never goes back');
  assert.equal(readFileSync(join(r.dir, 'model.safetensors')).length, size);
});

test('llama2.c-style repo: files names exactly what to download', { timeout: 30_000 }, async (t) => {
  const hub = await startHub(t);
  const cacheRoot = freshDir('stories');
  const files = ['stories260K.bin', 'tok512.bin'];
  const r = await resolveModelSource('acme/stories', { cacheDir: cacheRoot, endpoint: hub.url, files });
  noUnexpected(hub);
  assert.equal(r.kind, 'download');
  assert.deepEqual([...hub.served].sort(), files.map((f) => `acme/stories/${f}`));
  assert.equal((await resolveModelSource('acme/stories', { cacheDir: cacheRoot, offline: true, files })).kind, 'cache');
  await rejectsHub(resolveModelSource('acme/stories', { cacheDir: cacheRoot, endpoint: hub.url, files: ['nope.bin'] }), 'acme/stories', 'nope.bin', 'stories260K.bin');
});

test('404 repo, unknown revision and pickle-only repos are HubErrors naming the repo', { timeout: 30_000 }, async (t) => {
  const hub = await startHub(t);
  const cacheRoot = freshDir('missing');
  const e = await rejectsHub(resolveModelSource('acme/missing', { cacheDir: cacheRoot, endpoint: hub.url }), 'acme/missing', '404', 'check the id', 'HF_TOKEN', 'local folder');
  assert.ok(!e.message.includes('undefined'));
  await rejectsHub(resolveModelSource('acme/tiny@nope', { cacheDir: cacheRoot, endpoint: hub.url }), 'acme/tiny@nope', '404', 'revision');
  await rejectsHub(resolveModelSource('acme/pickled', { cacheDir: cacheRoot, endpoint: hub.url }), 'acme/pickled', 'no safetensors', 'pytorch_model.bin');
  noUnexpected(hub);
  assert.ok(!existsSync(join(cacheRoot, 'models--acme--missing', 'refs')));
  assert.ok(!hub.served.includes('acme/pickled/pytorch_model.bin'));
});

test('gated repo: 401 without a token, downloads with HF_TOKEN; a malformed token is refused', { timeout: 30_000 }, async (t) => {
  const hub = await startHub(t);
  const cacheRoot = freshDir('gated');
  await rejectsHub(resolveModelSource('acme/gated', { cacheDir: cacheRoot, endpoint: hub.url }), 'acme/gated', '401', 'HF_TOKEN', 'no token was sent');
  await rejectsHub(resolveModelSource('acme/gated', { cacheDir: cacheRoot, endpoint: hub.url, accessToken: 'hf_wrong' }), 'acme/gated', '401', 'opts.accessToken');
  await rejectsHub(resolveModelSource('acme/gated', { cacheDir: cacheRoot, endpoint: hub.url, accessToken: 'not-a-token' }), 'hf_');
  withEnv(t, { HF_TOKEN: 'hf_secret' });
  const r = await resolveModelSource('acme/gated', { cacheDir: cacheRoot, endpoint: hub.url });
  assert.equal(r.kind, 'download');
  assert.equal(readFileSync(join(r.dir, 'model.safetensors')).compare(hub.repos.get('acme/gated')!.files.get('model.safetensors')!), 0);
  noUnexpected(hub);
});

test('network down is a HubError naming the repo, the file and the fix', { timeout: 30_000 }, async () => {
  // a port that was just free: connection refused, immediately
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', () => ok()));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((ok) => probe.close(() => ok()));
  await rejectsHub(
    resolveModelSource('acme/tiny', { cacheDir: freshDir('down'), endpoint: `http://127.0.0.1:${port}` }),
    'acme/tiny',
    'repo info',
    `127.0.0.1:${port}`,
    'HF_HUB_OFFLINE',
    'local folder',
  );
});
