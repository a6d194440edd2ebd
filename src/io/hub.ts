/**
 * Resolving a model source to a local folder.
 *
 * 1. A path that exists on disk is used as is.
 * 2. Otherwise the source must be a Hub id "owner/name" (optionally
 *    "owner/name@revision"). The local Hugging Face cache is searched with the
 *    same layout huggingface_hub uses:
 *      <cache>/models--owner--name/refs/<revision>        (a commit hash)
 *      <cache>/models--owner--name/snapshots/<commit>/...  (links to blobs/)
 *    A snapshot is usable when it holds config.json and safetensors weights
 *    (model.safetensors, or model.safetensors.index.json with every shard), or,
 *    when `files` is given, every file named there.
 * 3. Otherwise, unless offline, the needed files are downloaded with
 *    @huggingface/hub's cache-aware downloadFileToCacheDir, which writes blobs/
 *    and snapshots/<commit>/ links; refs/<revision> is written at the end, so a
 *    later call resolves from the cache without the network.
 *
 * Every failure is a HubError naming the repo, the file and the fix.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { downloadFileToCacheDir, modelInfo, pathsInfo, HubApiError } from '@huggingface/hub';
import { CandorError } from '../tensor/errors.js';

export class HubError extends CandorError {
  override name = 'HubError';
}

export interface HubProgress {
  file: string;
  loaded: number;
  total: number | null;
}

export interface ResolveOptions {
  /** branch, tag or 40-hex commit; default 'main' (or the "@revision" part of the source) */
  revision?: string;
  /** cache root (the folder holding models--owner--name); default HF_HUB_CACHE or $HF_HOME/hub */
  cacheDir?: string;
  /** Hub base URL; default HF_ENDPOINT or https://huggingface.co */
  endpoint?: string;
  /** default HF_TOKEN, then the token file written by `hf auth login` */
  accessToken?: string;
  /** never touch the network; default HF_HUB_OFFLINE */
  offline?: boolean;
  /** the exact files the model needs (llama2.c-style repos); replaces config.json + safetensors */
  files?: string[];
  onProgress?: (e: HubProgress) => void;
}

export interface ResolvedSource {
  dir: string;
  kind: 'local' | 'cache' | 'download';
  repo?: string;
  revision?: string;
  commit?: string;
}

const COMMIT_RE = /^[0-9a-f]{40}$/;
const DEFAULT_ENDPOINT = 'https://huggingface.co';
/** Downloaded when present; config.json and the weights are required. */
const OPTIONAL_FILES = ['generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
const SINGLE_WEIGHTS = 'model.safetensors';
const INDEX_WEIGHTS = 'model.safetensors.index.json';

// ---------------------------------------------------------------- environment

function truthy(v: string | undefined): boolean {
  return v !== undefined && ['1', 'on', 'yes', 'true'].includes(v.trim().toLowerCase());
}

function envNonEmpty(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** $HF_HOME, default $XDG_CACHE_HOME/huggingface, default ~/.cache/huggingface (as huggingface_hub). */
export function hfHome(): string {
  return envNonEmpty('HF_HOME') ?? join(envNonEmpty('XDG_CACHE_HOME') ?? join(homedir(), '.cache'), 'huggingface');
}

/** The hub cache root: HF_HUB_CACHE, then the legacy HUGGINGFACE_HUB_CACHE, then $HF_HOME/hub. */
export function hubCacheDir(cacheDir?: string): string {
  return resolve(cacheDir ?? envNonEmpty('HF_HUB_CACHE') ?? envNonEmpty('HUGGINGFACE_HUB_CACHE') ?? join(hfHome(), 'hub'));
}

function resolveToken(explicit: string | undefined): { token: string | undefined; from: string } {
  if (explicit) return { token: explicit, from: 'opts.accessToken' };
  const env = envNonEmpty('HF_TOKEN');
  if (env) return { token: env.trim(), from: 'HF_TOKEN' };
  const file = envNonEmpty('HF_TOKEN_PATH') ?? join(hfHome(), 'token');
  try {
    const t = readFileSync(file, 'utf8').trim();
    if (t) return { token: t, from: file };
  } catch {
    // no token file: anonymous access
  }
  return { token: undefined, from: 'none' };
}

// ---------------------------------------------------------------- ids

export interface HubId {
  repo: string;
  owner: string;
  name: string;
  revision?: string;
}

const PART_RE = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;

function validPart(p: string): boolean {
  return PART_RE.test(p) && !p.includes('--') && !p.includes('..');
}

/** Parse "owner/name" or "owner/name@revision"; null when the string is not a Hub id. */
export function parseHubId(source: string): HubId | null {
  const at = source.indexOf('@');
  const repo = at < 0 ? source : source.slice(0, at);
  const revision = at < 0 ? undefined : source.slice(at + 1);
  const parts = repo.split('/');
  if (parts.length !== 2 || repo.length > 96) return null;
  const [owner, name] = parts as [string, string];
  if (!validPart(owner) || !validPart(name) || name.endsWith('.git')) return null;
  if (revision !== undefined && !validRevision(revision)) return null;
  return { repo, owner, name, revision };
}

function validRevision(rev: string): boolean {
  if (rev === '' || isAbsolute(rev) || rev.includes('\\') || rev.includes('\0')) return false;
  return rev.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

function safeRelative(file: string): boolean {
  return validRevision(file);
}

// ---------------------------------------------------------------- cache

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile(); // follows the snapshot symlink: a dangling link is missing
  } catch {
    return false;
  }
}

/** Shard file names from a model.safetensors.index.json, or an error string. */
function readIndexShards(path: string): string[] | string {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    return `${INDEX_WEIGHTS} is not valid JSON (${(e as Error).message})`;
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (!map || typeof map !== 'object') return `${INDEX_WEIGHTS} has no "weight_map" object`;
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  if (shards.length === 0) return `${INDEX_WEIGHTS} has an empty "weight_map"`;
  for (const s of shards) {
    if (typeof s !== 'string' || !safeRelative(s)) return `${INDEX_WEIGHTS} names an invalid shard file ${JSON.stringify(s)}`;
  }
  return shards as string[];
}

/** The files a snapshot lacks for the model to load (empty: usable). */
function missingInSnapshot(dir: string, files: string[] | undefined): string[] {
  if (files) return files.filter((f) => !isFile(join(dir, f)));
  const missing: string[] = [];
  if (!isFile(join(dir, 'config.json'))) missing.push('config.json');
  if (isFile(join(dir, SINGLE_WEIGHTS))) return missing;
  const index = join(dir, INDEX_WEIGHTS);
  if (!isFile(index)) {
    missing.push(`${SINGLE_WEIGHTS} (or ${INDEX_WEIGHTS} with its shards)`);
    return missing;
  }
  const shards = readIndexShards(index);
  if (typeof shards === 'string') missing.push(shards);
  else missing.push(...shards.filter((s) => !isFile(join(dir, s))));
  return missing;
}

interface CacheLookup {
  storage: string;
  commit?: string;
  dir?: string;
  /** why the cache does not serve this request */
  reason?: string;
}

function lookupCache(cacheRoot: string, id: HubId, revision: string, files: string[] | undefined): CacheLookup {
  const storage = join(cacheRoot, `models--${id.owner}--${id.name}`);
  let commit: string | undefined;
  if (COMMIT_RE.test(revision)) {
    commit = revision;
  } else {
    const ref = join(storage, 'refs', revision);
    try {
      commit = readFileSync(ref, 'utf8').trim();
    } catch {
      return { storage, reason: existsSync(storage) ? `${ref} does not exist` : `${storage} does not exist` };
    }
    if (!COMMIT_RE.test(commit)) return { storage, reason: `${ref} does not hold a commit hash` };
  }
  const dir = join(storage, 'snapshots', commit);
  if (!existsSync(dir)) return { storage, commit, reason: `${dir} does not exist` };
  const missing = missingInSnapshot(dir, files);
  if (missing.length > 0) return { storage, commit, reason: `snapshot ${dir} lacks ${missing.join(', ')}` };
  return { storage, commit, dir };
}

// ---------------------------------------------------------------- errors

interface Ctx {
  repo: string;
  revision: string;
  endpoint: string;
  cacheRoot: string;
  tokenFrom: string;
}

function placeFix(ctx: Ctx): string {
  return `or place the files in the cache (${ctx.cacheRoot}/models--${ctx.repo.replace('/', '--')}/snapshots/<commit>/ with refs/${ctx.revision}) or pass a local folder instead`;
}

function hubFailure(e: unknown, ctx: Ctx, file: string): HubError {
  if (e instanceof HubError) return e;
  const what = `${ctx.repo}@${ctx.revision}: ${file}`;
  if (e instanceof HubApiError) {
    const s = e.statusCode;
    const tokenNote = ctx.tokenFrom === 'none' ? 'no token was sent' : `the token from ${ctx.tokenFrom} was sent`;
    if (s === 401 || s === 403) {
      return new HubError(
        `${what}: the Hub at ${ctx.endpoint} answered ${s} (${e.message}); ${tokenNote}. ` +
          `The repo may not exist, or be private or gated. Fix: check the id "${ctx.repo}"; if it is gated, accept its terms at ${ctx.endpoint}/${ctx.repo}; ` +
          `set HF_TOKEN to a token with read access to it; ${placeFix(ctx)}.`,
      );
    }
    if (s === 404) {
      return new HubError(
        `${what}: not found on the Hub at ${ctx.endpoint} (404: ${e.message}). ` +
          `Fix: check the id "${ctx.repo}" and the revision "${ctx.revision}" (if the repo is private, set HF_TOKEN to a token with access); ${placeFix(ctx)}.`,
      );
    }
    return new HubError(`${what}: the Hub at ${ctx.endpoint} answered ${s} (${e.message}). Fix: retry later; ${placeFix(ctx)}.`);
  }
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const detail = err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
  return new HubError(
    `${what}: could not download from ${ctx.endpoint} (${err.message ?? String(e)}${detail && detail !== err.message ? `: ${detail}` : ''}). ` +
      `Fix: check the network and HF_ENDPOINT; ${placeFix(ctx)}; set HF_HUB_OFFLINE=1 to use only the cache.`,
  );
}

// ---------------------------------------------------------------- download

/**
 * downloadFileToCacheDir prints "Downloading <file> to <blob>.incomplete" with
 * console.debug (stdout in Node). Drop exactly that line while our downloads
 * run, so a CLI's stdout stays clean; everything else passes through.
 */
let muteDepth = 0;
let savedDebug: typeof console.debug | undefined;
function muteDownloadLog(): () => void {
  if (muteDepth++ === 0) {
    const orig = console.debug;
    savedDebug = orig;
    console.debug = (...args: unknown[]) => {
      if (args.length === 1 && typeof args[0] === 'string' && /^Downloading .* to .*\.incomplete$/s.test(args[0])) return;
      orig.apply(console, args);
    };
  }
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--muteDepth === 0 && savedDebug) {
      console.debug = savedDebug;
      savedDebug = undefined;
    }
  };
}

interface FileMeta {
  size: number | null;
  etag: string | undefined;
}

async function fileMetas(base: BaseParams, commit: string, paths: string[]): Promise<Map<string, FileMeta>> {
  const out = new Map<string, FileMeta>();
  if (paths.length === 0) return out;
  const infos = await pathsInfo({ ...base, paths, revision: commit, expand: false });
  for (const i of infos) {
    out.set(i.path, { size: i.lfs?.size ?? i.size ?? null, etag: i.lfs?.oid ?? i.xetHash ?? i.oid });
  }
  return out;
}

interface BaseParams {
  repo: { type: 'model'; name: string };
  hubUrl?: string;
  accessToken?: string;
}

async function fetchOne(
  base: BaseParams,
  ctx: Ctx,
  cacheRoot: string,
  storage: string,
  commit: string,
  file: string,
  meta: FileMeta | undefined,
  onProgress: ResolveOptions['onProgress'],
): Promise<string> {
  const total = meta?.size ?? null;
  const pointer = join(storage, 'snapshots', commit, file);
  if (isFile(pointer)) {
    onProgress?.({ file, loaded: total ?? statSync(pointer).size, total: total ?? statSync(pointer).size });
    return pointer;
  }
  onProgress?.({ file, loaded: 0, total });
  // The library streams into blobs/<etag>.incomplete: follow its size for progress.
  let timer: NodeJS.Timeout | undefined;
  let cbError: unknown;
  if (onProgress && meta?.etag) {
    const partial = join(storage, 'blobs', `${meta.etag}.incomplete`);
    let last = 0;
    timer = setInterval(() => {
      stat(partial).then(
        (s) => {
          if (s.size !== last && cbError === undefined && timer) {
            last = s.size;
            try {
              onProgress({ file, loaded: s.size, total });
            } catch (e) {
              cbError = e;
            }
          }
        },
        () => undefined,
      );
    }, 200);
    timer.unref();
  }
  let path: string;
  try {
    path = await downloadFileToCacheDir({ ...base, path: file, revision: commit, cacheDir: cacheRoot });
  } catch (e) {
    throw hubFailure(e, ctx, file);
  } finally {
    if (timer) clearInterval(timer);
    timer = undefined;
  }
  if (cbError !== undefined) throw cbError;
  const size = statSync(path).size;
  onProgress?.({ file, loaded: size, total: total ?? size });
  return path;
}

async function download(id: HubId, revision: string, cacheRoot: string, ctx: Ctx, token: string | undefined, opts: ResolveOptions): Promise<ResolvedSource> {
  const endpoint = opts.endpoint ?? envNonEmpty('HF_ENDPOINT');
  const base: BaseParams = {
    repo: { type: 'model', name: id.repo },
    ...(endpoint ? { hubUrl: endpoint.replace(/\/+$/, '') } : {}),
    ...(token ? { accessToken: token } : {}),
  };

  let commit: string;
  let available: Set<string>;
  try {
    const info = await modelInfo({ name: id.repo, revision, additionalFields: ['sha', 'filePaths'], ...(base.hubUrl ? { hubUrl: base.hubUrl } : {}), ...(token ? { accessToken: token } : {}) });
    commit = String(info.sha ?? '');
    available = new Set(info.filePaths ?? []);
  } catch (e) {
    throw hubFailure(e, ctx, 'repo info');
  }
  if (!COMMIT_RE.test(commit)) {
    throw new HubError(`${id.repo}@${revision}: the Hub at ${ctx.endpoint} answered without a commit hash for the revision (got ${JSON.stringify(commit)}). Fix: check HF_ENDPOINT points to a Hugging Face Hub; ${placeFix(ctx)}.`);
  }
  const storage = join(cacheRoot, `models--${id.owner}--${id.name}`);
  const listing = () => [...available].sort().slice(0, 30).join(', ') + (available.size > 30 ? ', ...' : '');

  const release = muteDownloadLog();
  try {
    if (opts.files) {
      const absent = opts.files.filter((f) => !available.has(f));
      if (absent.length > 0) {
        throw new HubError(`${id.repo}@${revision}: the repo has no ${absent.join(', ')} (it has: ${listing()}). Fix: check the file names passed in files, or the revision.`);
      }
      const metas = await fileMetas(base, commit, opts.files).catch((e) => { throw hubFailure(e, ctx, opts.files!.join(', ')); });
      for (const f of opts.files) await fetchOne(base, ctx, cacheRoot, storage, commit, f, metas.get(f), opts.onProgress);
    } else {
      if (!available.has('config.json')) {
        throw new HubError(`${id.repo}@${revision}: the repo has no config.json (it has: ${listing()}). Fix: check the id; for llama2.c-style checkpoints pass the needed files in files; or pass a local folder.`);
      }
      const weights = available.has(SINGLE_WEIGHTS) ? SINGLE_WEIGHTS : available.has(INDEX_WEIGHTS) ? INDEX_WEIGHTS : undefined;
      if (!weights) {
        throw new HubError(
          `${id.repo}@${revision}: the repo has no safetensors weights (${SINGLE_WEIGHTS} or ${INDEX_WEIGHTS}); it has: ${listing()}. ` +
            `Only safetensors are loaded, never pickled *.bin files. Fix: pick a revision that has safetensors (conversion PRs are often at refs/pr/N), or convert the weights locally and pass that folder.`,
        );
      }
      const first = ['config.json', ...OPTIONAL_FILES.filter((f) => available.has(f)), weights];
      const metas = await fileMetas(base, commit, first).catch((e) => { throw hubFailure(e, ctx, first.join(', ')); });
      const fetched = new Map<string, string>();
      for (const f of first) fetched.set(f, await fetchOne(base, ctx, cacheRoot, storage, commit, f, metas.get(f), opts.onProgress));
      if (weights === INDEX_WEIGHTS) {
        const shards = readIndexShards(fetched.get(INDEX_WEIGHTS)!);
        if (typeof shards === 'string') {
          throw new HubError(`${id.repo}@${revision}: ${shards} (at ${fetched.get(INDEX_WEIGHTS)}). Fix: delete that file from the cache and retry; or pass a local folder.`);
        }
        const absent = shards.filter((s) => !available.has(s));
        if (absent.length > 0) {
          throw new HubError(`${id.repo}@${revision}: ${INDEX_WEIGHTS} names shards the repo does not have: ${absent.join(', ')}. Fix: use another revision of the repo, or pass a local folder.`);
        }
        const shardMetas = await fileMetas(base, commit, shards).catch((e) => { throw hubFailure(e, ctx, shards.join(', ')); });
        for (const s of shards) await fetchOne(base, ctx, cacheRoot, storage, commit, s, shardMetas.get(s), opts.onProgress);
      }
    }
  } finally {
    release();
  }

  // refs last: a ref never points at a snapshot this call left incomplete.
  if (revision !== commit) {
    const ref = join(storage, 'refs', revision);
    await mkdir(dirname(ref), { recursive: true });
    await writeFile(ref, commit);
  }
  const dir = join(storage, 'snapshots', commit);
  const missing = missingInSnapshot(dir, opts.files);
  if (missing.length > 0) {
    throw new HubError(`${id.repo}@${revision}: after the download, snapshot ${dir} still lacks ${missing.join(', ')}. Fix: delete ${storage} and retry; or pass a local folder.`);
  }
  return { dir, kind: 'download', repo: id.repo, revision, commit };
}

// ---------------------------------------------------------------- entry point

/**
 * Resolve a model source (a local path or a Hub id) to a local folder holding
 * the model's files. See the module comment for the order.
 */
export async function resolveModelSource(source: string, opts: ResolveOptions = {}): Promise<ResolvedSource> {
  if (source !== '' && existsSync(source)) return { dir: source, kind: 'local' };

  const id = parseHubId(source);
  if (!id) {
    throw new HubError(
      `${JSON.stringify(source)}: the path does not exist and it is not a Hub id ("owner/name" or "owner/name@revision"). ` +
        `Fix: check the path (relative paths resolve from ${process.cwd()}), or give a Hub id such as "openai-community/gpt2".`,
    );
  }
  if (id.revision !== undefined && opts.revision !== undefined && id.revision !== opts.revision) {
    throw new HubError(`${source}: the revision "${id.revision}" in the id differs from opts.revision "${opts.revision}". Fix: give the revision once.`);
  }
  const revision = id.revision ?? opts.revision ?? 'main';
  if (!validRevision(revision)) {
    throw new HubError(`${id.repo}: invalid revision ${JSON.stringify(revision)}. Fix: use a branch, tag or 40-hex commit hash.`);
  }
  if (opts.files) {
    const bad = opts.files.filter((f) => !safeRelative(f));
    if (bad.length > 0 || opts.files.length === 0) {
      throw new HubError(`${id.repo}: files must be a non-empty list of relative paths inside the repo (got ${JSON.stringify(opts.files)}). Fix: pass names such as "model.bin".`);
    }
  }

  const cacheRoot = hubCacheDir(opts.cacheDir);
  const found = lookupCache(cacheRoot, id, revision, opts.files);
  if (found.dir && found.commit) return { dir: found.dir, kind: 'cache', repo: id.repo, revision, commit: found.commit };

  const endpoint = (opts.endpoint ?? envNonEmpty('HF_ENDPOINT') ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const offline = opts.offline ?? truthy(process.env['HF_HUB_OFFLINE']);
  if (offline) {
    const why = opts.offline ? 'offline was requested' : 'HF_HUB_OFFLINE is set';
    throw new HubError(
      `${id.repo}@${revision}: not in the local cache (${found.reason}) and ${why}, so it was not downloaded. ` +
        `Fix: run once with network access${opts.offline ? '' : ' and HF_HUB_OFFLINE unset'} (same HF_HOME / HF_HUB_CACHE), ` +
        `or fetch it with \`hf download ${id.repo}${revision === 'main' ? '' : ` --revision ${revision}`} --cache-dir ${cacheRoot}\`, or pass a local folder holding the files.`,
    );
  }

  const { token, from } = resolveToken(opts.accessToken);
  if (token !== undefined && !token.startsWith('hf_')) {
    throw new HubError(`${id.repo}: the access token from ${from} does not start with "hf_", so it is not a Hugging Face token. Fix: set HF_TOKEN to a token from ${endpoint}/settings/tokens, or unset it for public repos.`);
  }
  const ctx: Ctx = { repo: id.repo, revision, endpoint, cacheRoot, tokenFrom: from };
  return download(id, revision, cacheRoot, ctx, token, opts);
}
