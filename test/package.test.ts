// The npm package as a user gets it: `npm pack` (which runs the `prepack` build) in a copy of the
// repository, the tarball installed into a fresh project (its dependencies pinned by a lockfile
// built from this repository's, taken from the npm cache where it has them: the lockfile records
// no download addresses, so npm may still need the registry's metadata for a package), then the client
// imported from ESM, from CommonJS and from TypeScript, `npx raftkv --version`, and a put and a
// get against a node started from the installed package (stopped by its pid).
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts, repoRoot, sleep } from '../cluster/local-cluster.js';

interface LockEntry {
  readonly dev?: boolean;
  readonly devOptional?: boolean;
  readonly [field: string]: unknown;
}

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string; license: string; dependencies: Record<string, string>; bin: Record<string, string>; engines: Record<string, string> };
const dir = mkdtempSync(join(tmpdir(), 'raftkv-package-'));
let node: ChildProcess | null = null;

afterAll(async () => {
  if (node?.pid !== undefined && node.exitCode === null && node.signalCode === null) {
    const exited = new Promise((ok) => node?.once('exit', ok));
    process.kill(node.pid, 'SIGKILL');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a command to completion; fails the test with its output if it exits non-zero. */
function run(command: string, args: readonly string[], cwd: string, env: Record<string, string> = {}): string {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false', ...env }, timeout: 240_000 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A lockfile for a project that depends only on the tarball: the tarball, plus this repository's pinned production dependencies. */
function appLockfile(tarball: string): object {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const integrity = `sha512-${createHash('sha512').update(readFileSync(join(dir, 'app', tarball))).digest('base64')}`;
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { raftkv: `file:${tarball}` } },
    'node_modules/raftkv': { version: pkg.version, resolved: `file:${tarball}`, integrity, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && entry.dev !== true && entry.devOptional !== true) packages[path] = entry;
  return { name: 'app', lockfileVersion: 3, requires: true, packages };
}

describe('the npm package', () => {
  it('packs, installs into another project, imports from ESM, CJS and TypeScript, and runs a node', async () => {
    // 1. Pack a copy of the repository, so the prepack build does not rewrite the dist/ other test files run.
    const copy = join(dir, 'repo');
    mkdirSync(copy);
    for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'LICENSE', 'README.md', 'bin', 'proto', 'src', 'cluster', 'docs', 'jepsen-lite']) {
      cpSync(join(repoRoot, entry), join(copy, entry), { recursive: true, filter: (src) => !src.includes(`${join('jepsen-lite', 'runs')}`) });
    }
    symlinkSync(join(repoRoot, 'node_modules'), join(copy, 'node_modules'), 'dir');
    mkdirSync(join(dir, 'app'));
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', join(dir, 'app')], copy)) as { filename: string; files: { path: string }[] }[];
    const tarball = packed[0]?.filename ?? '';
    const files = (packed[0]?.files ?? []).map((f) => f.path);
    for (const needed of ['dist/src/client/index.js', 'dist/src/client/index.d.ts', 'dist/src/cli/main.js', 'dist/cluster/local-cluster.js', 'bin/raftkv.js', 'proto/kv.proto', 'proto/raft.proto', 'LICENSE', 'README.md', 'package.json']) {
      expect(files, needed).toContain(needed);
    }
    expect(files.filter((f) => /^(test|jepsen-lite|src)\/|\.test\.|^dist\/jepsen-lite\//.test(f))).toEqual([]);
    expect(readFileSync(join(repoRoot, 'LICENSE'), 'utf8')).toMatch(/Apache License\s+Version 2\.0, January 2004[\s\S]*END OF TERMS AND CONDITIONS/);

    // 2. Install it into a fresh project, from the cache where it can.
    const app = join(dir, 'app');
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { raftkv: `file:${tarball}` } }, null, 2));
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(appLockfile(tarball), null, 2));
    run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], app);

    // 3. The version, from the installed command.
    expect(run('npx', ['--offline', 'raftkv', '--version'], app).trim()).toBe(pkg.version);

    // 4. A node started from the installed package.
    const [client, peer, http] = await freePorts(3);
    const endpoint = `127.0.0.1:${client}`;
    node = spawn(process.execPath, [join(app, 'node_modules', '.bin', 'raftkv'), 'serve', '--id', 'n1', '--data-dir', join(dir, 'n1'), '--listen-client', endpoint, '--listen-peer', `127.0.0.1:${peer}`, '--listen-http', `127.0.0.1:${http}`], {
      cwd: app,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    node.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    for (let i = 0; i < 400; i++) {
      if (node.exitCode !== null) throw new Error(`the installed node exited: ${stderr}`);
      const ready = await fetch(`http://127.0.0.1:${http}/readyz`).then((r) => r.ok, () => false);
      if (ready) break;
      await sleep(50);
    }
    const status = (await (await fetch(`http://127.0.0.1:${http}/status`)).json()) as { version?: string };
    expect(status.version).toBe(pkg.version);

    // 5. A put by the installed CLI; gets from ESM and CommonJS.
    expect(run('npx', ['--offline', 'raftkv', 'put', 'pkg/greeting', 'hello from the tarball', '--endpoints', endpoint], app)).toBe('OK\n');
    writeFileSync(join(app, 'esm.mjs'), `import { connect } from 'raftkv';\nconst kv = await connect({ endpoints: process.argv[2] });\nconst r = await kv.get('pkg/greeting');\nconsole.log(JSON.stringify({ found: r.found, text: r.text }));\nkv.close();\n`);
    writeFileSync(join(app, 'cjs.cjs'), `const { createClient } = require('raftkv');\nconst kv = createClient({ endpoints: process.argv[2] });\nkv.get('pkg/greeting').then((r) => { console.log(JSON.stringify({ found: r.found, text: r.text })); kv.close(); });\n`);
    const expected = { found: true, text: 'hello from the tarball' };
    expect(JSON.parse(run(process.execPath, ['esm.mjs', endpoint], app))).toEqual(expected);
    expect(JSON.parse(run(process.execPath, ['cjs.cjs', endpoint], app))).toEqual(expected);

    // 6. TypeScript finds the types through the exports map.
    writeFileSync(join(app, 'typed.mts'), `import { connect, type GetResult } from 'raftkv';\nconst kv = await connect({ endpoints: '127.0.0.1:1' });\nconst r: GetResult = await kv.get('k');\nconst n: number = r.revision;\nexport { n };\n`);
    const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const types = existsSync(join(app, 'node_modules', '@types', 'node')) ? ['--types', 'node'] : ['--types', ''];
    run(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', ...types, 'typed.mts'], app);

    // 7. Stop the node by its pid.
    const exited = new Promise<number | null>((ok) => node?.once('exit', (code) => ok(code)));
    process.kill(node.pid as number, 'SIGTERM');
    expect(await exited).toBe(0);
  }, 300_000);
});
